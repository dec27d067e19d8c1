/*
 * toolacl.c: which of a server's tools a tenant may list and call.
 *
 * A tenant and each of its servers may carry two lists of fnmatch(3)
 * patterns, allow_tools and deny_tools. They are matched against the
 * upstream's own tool name (the "echo" of "everything__echo"), never
 * against the aggregated {server}__{tool} name: a server's lists are
 * already about that server, and a pattern such as "get*" must not
 * start matching every tool of a server called "getter". A tool is
 * allowed when it matches no deny pattern, the tenant's or the server's,
 * and matches every allow list that is set (the tenant's and the
 * server's); an empty list is not set. Deny wins over allow.
 *
 * Every path that takes a list from outside (dataagentctl, the control
 * socket, the tenant's REST API through the supervisor) goes through
 * toolacl_list_parse(), so the rules for a pattern live here only.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Letters, digits and what MCP tool names use, and the glob characters;
 * no comma (the separator), no backslash (no escapes). */
static const char toolacl_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    "_-./:*?[]!^";

int
toolacl_pattern_valid(const char *p)
{
	size_t n = strlen(p), i;
	const char *close;

	if (n == 0 || n > TOOLACL_PATTERN_MAX ||
	    strspn(p, toolacl_alphabet) != n)
		return 0;
	/* Every '[' opens a class that a ']' closes ("[]" and "[!]" do
	 * not: fnmatch would read their ']' as a member), and no ']' is
	 * left over: a stray bracket is a typo, not a literal. */
	for (i = 0; i < n; i++) {
		if (p[i] == ']')
			return 0;
		if (p[i] != '[')
			continue;
		i++;
		if (p[i] == '!' || p[i] == '^')
			i++;
		if (p[i] == ']')
			i++;	/* a leading ']' is a member */
		if ((close = strchr(p + i, ']')) == NULL ||
		    memchr(p + i, '[', (size_t)(close - (p + i))) != NULL)
			return 0;
		i = (size_t)(close - p);
	}
	return 1;
}

/* Appends pattern [s, s+len) to list unless it is there already.
 * Returns 0, or -1 with err. */
static int
toolacl_add(json_t *list, const char *s, size_t len, char *err,
    size_t errlen)
{
	char buf[TOOLACL_PATTERN_MAX + 1];
	json_t *v;
	size_t i;

	if (len == 0) {
		snprintf(err, errlen, "a tool pattern list has an empty item");
		return -1;
	}
	if (len > TOOLACL_PATTERN_MAX) {
		snprintf(err, errlen, "a tool pattern is at most %d bytes",
		    TOOLACL_PATTERN_MAX);
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!toolacl_pattern_valid(buf)) {
		snprintf(err, errlen, "tool pattern \"%.*s\" is not valid: "
		    "use letters, digits, _ - . / : and the glob characters "
		    "* ? [...] (classes closed)", (int)len, buf);
		return -1;
	}
	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), buf) == 0)
			return 0;
	if (json_array_size(list) >= TOOLACL_LIST_MAX) {
		snprintf(err, errlen, "a tool pattern list has at most %d "
		    "patterns", TOOLACL_LIST_MAX);
		return -1;
	}
	if (json_array_append_new(list, json_string(buf)) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The items of a comma-separated list into list. */
static int
toolacl_add_csv(json_t *list, const char *s, char *err, size_t errlen)
{
	const char *p = s, *end, *a, *b;

	if (s[strspn(s, " \t")] == '\0')
		return 0;	/* "" and blanks: the empty list */
	for (;;) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (a = p; a < end && (*a == ' ' || *a == '\t'); a++)
			;
		for (b = end; b > a && (b[-1] == ' ' || b[-1] == '\t'); b--)
			;
		if (toolacl_add(list, a, (size_t)(b - a), err, errlen) == -1)
			return -1;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

json_t *
toolacl_list_parse(const json_t *v, char *err, size_t errlen)
{
	json_t *list, *item;
	const char *s;
	size_t i;

	if ((list = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (v == NULL || json_is_null(v))
		return list;
	if (json_is_string(v)) {
		s = json_string_value(v);
		if (json_string_length(v) != strlen(s) ||
		    json_string_length(v) > TOOLACL_TEXT_MAX) {
			snprintf(err, errlen, "a tool pattern list is at most "
			    "%d bytes", TOOLACL_TEXT_MAX);
			goto fail;
		}
		if (toolacl_add_csv(list, s, err, errlen) == -1)
			goto fail;
		return list;
	}
	if (!json_is_array(v) || json_array_size(v) > TOOLACL_LIST_MAX) {
		snprintf(err, errlen, "a tool pattern list is a string of "
		    "comma-separated patterns or an array of at most %d "
		    "strings", TOOLACL_LIST_MAX);
		goto fail;
	}
	json_array_foreach(v, i, item) {
		s = json_string_value(item);
		if (s == NULL || json_string_length(item) != strlen(s)) {
			snprintf(err, errlen, "a tool pattern must be a "
			    "string");
			goto fail;
		}
		if (toolacl_add(list, s, strlen(s), err, errlen) == -1)
			goto fail;
	}
	return list;
fail:
	json_decref(list);
	return NULL;
}

json_t *
toolacl_list_parse_str(const char *s, char *err, size_t errlen)
{
	json_t *v = json_string(s), *list;

	if (v == NULL) {
		snprintf(err, errlen, "a tool pattern list must be UTF-8 "
		    "text");
		return NULL;
	}
	list = toolacl_list_parse(v, err, errlen);
	json_decref(v);
	return list;
}

int
toolacl_lists_parse(const json_t *in, json_t *out, int keep, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "allow_tools", "deny_tools" };
	const json_t *v;
	char e[256];
	json_t *l;
	int i, n = 0;

	for (i = 0; i < 2; i++) {
		if ((v = json_object_get(in, keys[i])) == NULL && keep)
			continue;
		if ((l = toolacl_list_parse(v, e, sizeof(e))) == NULL) {
			snprintf(err, errlen, "%s: %s", keys[i], e);
			return -1;
		}
		if (json_object_set_new(out, keys[i], l) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		n += v != NULL;
	}
	return n;
}

char *
toolacl_list_join(const json_t *list)
{
	char *out = NULL;
	size_t len = 0, i;
	json_t *v;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	json_array_foreach(list, i, v)
		if (json_is_string(v))
			fprintf(f, "%s%s", i > 0 ? "," : "",
			    json_string_value(v));
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* 1 when tool matches a pattern of list (an array of strings). */
static int
toolacl_list_match(const json_t *list, const char *tool)
{
	const char *p;
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if ((p = json_string_value(v)) != NULL &&
		    fnmatch(p, tool, FNM_NOESCAPE) == 0)
			return 1;
	return 0;
}

int
toolacl_allows(const json_t *tenant, const json_t *server, const char *tool,
    const char **why_r)
{
	const json_t *ta = json_object_get(tenant, "allow_tools");
	const json_t *td = json_object_get(tenant, "deny_tools");
	const json_t *sa = json_object_get(server, "allow_tools");
	const json_t *sd = json_object_get(server, "deny_tools");
	const char *why = NULL;

	if (toolacl_list_match(td, tool))
		why = "tenant deny";
	else if (toolacl_list_match(sd, tool))
		why = "server deny";
	else if (json_array_size(ta) > 0 && !toolacl_list_match(ta, tool))
		why = "tenant allow";
	else if (json_array_size(sa) > 0 && !toolacl_list_match(sa, tool))
		why = "server allow";
	if (why_r != NULL)
		*why_r = why;
	return why == NULL;
}

int
toolacl_policy_valid(const char *why)
{
	return strcmp(why, "tenant deny") == 0 ||
	    strcmp(why, "server deny") == 0 ||
	    strcmp(why, "tenant allow") == 0 ||
	    strcmp(why, "server allow") == 0;
}
