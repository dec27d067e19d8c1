/*
 * secretref.c: ${secret:NAME} references in server env values and args.
 *
 * The supervisor finds the names a server refers to (to send that
 * server's values only); the worker substitutes the values just before
 * it starts the process. A reference is exactly "${secret:" NAME "}"
 * with NAME a valid secret name; any other text, "${secret:lower}"
 * included, is copied as it is.
 *
 * Never in a stdio server's args: argv is in /proc/PID/cmdline, which
 * every user of the host reads. secretref_args_find finds such a
 * reference, so that it is refused where a server is stored and never
 * expanded where it is started; only env values and a remote server's
 * headers carry secrets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define SECRETREF_OPEN "${secret:"
#define SECRETREF_OPEN_LEN (sizeof(SECRETREF_OPEN) - 1)

int
secret_name_valid(const char *s)
{
	size_t i;

	if (s == NULL || !((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (i > SECRET_NAME_MAX - 1)
			return 0;
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* At p: a reference? Returns its total length with the name copied into
 * name[SECRET_NAME_MAX + 1], or 0. */
static size_t
secretref_at(const char *p, char name[SECRET_NAME_MAX + 1])
{
	const char *end;
	size_t n;

	if (strncmp(p, SECRETREF_OPEN, SECRETREF_OPEN_LEN) != 0)
		return 0;
	p += SECRETREF_OPEN_LEN;
	if ((end = strchr(p, '}')) == NULL)
		return 0;
	n = (size_t)(end - p);
	if (n == 0 || n > SECRET_NAME_MAX)
		return 0;
	memcpy(name, p, n);
	name[n] = '\0';
	if (!secret_name_valid(name))
		return 0;
	return SECRETREF_OPEN_LEN + n + 1;
}

int
secretref_names(const char *s, json_t *names)
{
	char name[SECRET_NAME_MAX + 1];
	size_t n;

	for (; *s != '\0'; s++) {
		if ((n = secretref_at(s, name)) == 0)
			continue;
		if (json_object_set_new(names, name, json_true()) == -1)
			return -1;
		s += n - 1;
	}
	return 0;
}

int
secretref_args_find(const json_t *args, size_t *index_r,
    char name_r[SECRET_NAME_MAX + 1])
{
	const json_t *v;
	const char *p;
	size_t i;

	json_array_foreach(args, i, v) {
		if (!json_is_string(v))
			continue;
		for (p = json_string_value(v); *p != '\0'; p++)
			if (secretref_at(p, name_r) != 0) {
				*index_r = i;
				return 1;
			}
	}
	return 0;
}

int
secretref_server_names(const json_t *srv, json_t *names)
{
	const json_t *v;
	const char *k;

	/* Not args: a reference there is refused, never sent a value. */
	json_object_foreach(json_object_get(srv, "env"), k, v)
		if (json_is_string(v) &&
		    secretref_names(json_string_value(v), names) == -1)
			return -1;
	/* A remote server's header values (Authorization: Bearer ...). */
	json_object_foreach(json_object_get(srv, "headers"), k, v)
		if (json_is_string(v) &&
		    secretref_names(json_string_value(v), names) == -1)
			return -1;
	return 0;
}

int
secretref_expand(const char *s, secretref_lookup_fn lookup, void *arg,
    char **out_r, char *missing, size_t missinglen)
{
	char name[SECRET_NAME_MAX + 1], *out, *o;
	const char *val;
	size_t n, len = 0;
	const char *p;

	*out_r = NULL;
	/* Two passes: the length, then the copy. */
	for (p = s; *p != '\0'; p++) {
		if ((n = secretref_at(p, name)) == 0) {
			len++;
			continue;
		}
		if ((val = lookup(name, arg)) == NULL) {
			snprintf(missing, missinglen, "%s", name);
			return -1;
		}
		len += strlen(val);
		p += n - 1;
	}
	if ((out = malloc(len + 1)) == NULL) {
		snprintf(missing, missinglen, "%s", "");
		return -1;
	}
	for (p = s, o = out; *p != '\0'; p++) {
		if ((n = secretref_at(p, name)) == 0) {
			*o++ = *p;
			continue;
		}
		val = lookup(name, arg);
		memcpy(o, val, strlen(val));
		o += strlen(val);
		p += n - 1;
	}
	*o = '\0';
	*out_r = out;
	return 0;
}
