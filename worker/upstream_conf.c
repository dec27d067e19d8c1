/*
 * upstream_conf.c: what a server is, as configured: its spec (normalized,
 * checked, compared on a reload), the values of the secrets it refers to
 * and their ${secret:NAME} expansion, its tool lists, and the read-only
 * accessors worker.h declares. Nothing here starts, stops or talks to a
 * server; that is upstream.c and its transports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker.h"
#include "remote.h"
#include "upstream_int.h"

/* -------------------------------------------------------------- secrets */

void
up_secrets_free(struct upstream *u)
{
	if (u->u_sec_buf == NULL)
		return;
	explicit_bzero(u->u_sec_buf, u->u_sec_map);
	munmap(u->u_sec_buf, u->u_sec_map);
	u->u_sec_buf = NULL;
	u->u_sec_len = u->u_sec_map = 0;
}

/* Copies the spec's "secrets" object {NAME: value} into u's mapping.
 * Returns 0 or -1. */
int
up_secrets_load(struct upstream *u, const json_t *secrets)
{
	const char *k;
	const json_t *v;
	size_t len = 0, off = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	json_object_foreach((json_t *)secrets, k, v) {
		if (!json_is_string(v) || !secret_name_valid(k))
			return -1;
		len += strlen(k) + 1 + strlen(json_string_value(v)) + 1;
	}
	if (len == 0)
		return 0;
	u->u_sec_map = (len + page - 1) / page * page;
	p = mmap(NULL, u->u_sec_map, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		u->u_sec_map = 0;
		return -1;
	}
	/* Workers are not dumpable anyway; this keeps the values out of a
	 * core even if that ever changes. */
	(void)madvise(p, u->u_sec_map, MADV_DONTDUMP);
	u->u_sec_buf = p;
	json_object_foreach((json_t *)secrets, k, v) {
		memcpy(u->u_sec_buf + off, k, strlen(k) + 1);
		off += strlen(k) + 1;
		memcpy(u->u_sec_buf + off, json_string_value(v),
		    strlen(json_string_value(v)) + 1);
		off += strlen(json_string_value(v)) + 1;
	}
	u->u_sec_len = off;
	return 0;
}

/* secretref_lookup_fn over u's secrets. */
static const char *
up_secret_lookup(const char *name, void *arg)
{
	const struct upstream *u = arg;
	const char *p = u->u_sec_buf, *end = u->u_sec_buf + u->u_sec_len, *val;

	while (p != NULL && p < end) {
		val = p + strlen(p) + 1;
		if (strcmp(p, name) == 0)
			return val;
		p = val + strlen(val) + 1;
	}
	return NULL;
}

/* 1 when secrets {NAME: value} is exactly what u holds. */
static int
up_secrets_equal(const struct upstream *u, const json_t *secrets)
{
	const char *k, *p = u->u_sec_buf, *end = u->u_sec_buf + u->u_sec_len;
	const char *mine;
	const json_t *v;
	size_t n = 0;

	while (p != NULL && p < end) {
		n++;
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	if (n != json_object_size(secrets))
		return 0;
	json_object_foreach((json_t *)secrets, k, v) {
		if (!json_is_string(v) ||
		    (mine = up_secret_lookup(k, (void *)u)) == NULL ||
		    strcmp(mine, json_string_value(v)) != 0)
			return 0;
	}
	return 1;
}

/*
 * Why the spec's secret references cannot be resolved, into err ("" when
 * they can): a name the supervisor could not decrypt, or one not set.
 */
void
up_secrets_check(struct upstream *u, const json_t *unusable, char *err,
    size_t errlen)
{
	json_t *names = json_object(), *v;
	const char *k;
	size_t i;

	err[0] = '\0';
	if (names == NULL || secretref_server_names(u->u_spec, names) == -1) {
		snprintf(err, errlen, "out of memory");
		json_decref(names);
		return;
	}
	json_object_foreach(names, k, v) {
		json_array_foreach(unusable, i, v) {
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), k) == 0) {
				snprintf(err, errlen, "secret %s does not "
				    "decrypt (moved or tampered)", k);
				goto out;
			}
		}
		if (up_secret_lookup(k, u) == NULL) {
			snprintf(err, errlen, "secret %s is not set", k);
			goto out;
		}
	}
out:
	json_decref(names);
}

/* s with its ${secret:NAME} references replaced (malloc'd), or NULL. */
char *
up_expand(const struct upstream *u, const char *s)
{
	char missing[SECRET_NAME_MAX + 1], *out;

	if (secretref_expand(s, up_secret_lookup, (void *)u, &out, missing,
	    sizeof(missing)) == -1)
		return NULL;
	return out;
}

/* ----------------------------------------------------------------- spec */

/* The spec as we keep and compare it; NULL when it is not an object with
 * a name. u_config_error-worthy problems are found by up_spec_check. */
json_t *
up_spec_normalize(const json_t *spec)
{
	const json_t *name, *transport, *command, *args, *env, *enabled;
	const json_t *url, *headers, *options;
	json_t *n;

	if (!json_is_object(spec))
		return NULL;
	name = json_object_get(spec, "name");
	if (!json_is_string(name))
		return NULL;
	transport = json_object_get(spec, "transport");
	command = json_object_get(spec, "command");
	args = json_object_get(spec, "args");
	env = json_object_get(spec, "env");
	enabled = json_object_get(spec, "enabled");
	url = json_object_get(spec, "url");
	headers = json_object_get(spec, "headers");
	options = json_object_get(spec, "options");
	if ((n = json_object()) == NULL)
		return NULL;
	/* Remote servers' fields (empty for stdio ones). */
	if (json_object_set_new(n, "url", json_is_string(url) ?
	    json_deep_copy(url) : json_string("")) == -1 ||
	    json_object_set_new(n, "headers", json_is_object(headers) ?
	    json_deep_copy(headers) : json_object()) == -1 ||
	    json_object_set_new(n, "options", json_is_object(options) ?
	    json_deep_copy(options) : json_object()) == -1) {
		json_decref(n);
		return NULL;
	}
	if (json_object_set(n, "name", (json_t *)name) == -1 ||
	    json_object_set_new(n, "transport", json_is_string(transport) ?
	    json_deep_copy(transport) : json_string("stdio")) == -1 ||
	    json_object_set_new(n, "command", command != NULL ?
	    json_deep_copy(command) : json_null()) == -1 ||
	    json_object_set_new(n, "args", args != NULL && !json_is_null(args) ?
	    json_deep_copy(args) : json_array()) == -1 ||
	    json_object_set_new(n, "env", env != NULL && !json_is_null(env) ?
	    json_deep_copy(env) : json_object()) == -1 ||
	    json_object_set_new(n, "enabled", json_boolean(enabled == NULL ||
	    json_is_null(enabled) || json_is_true(enabled))) == -1) {
		json_decref(n);
		return NULL;
	}
	return n;
}

/* Why a normalized spec cannot be started, into err ("" when it can). */
void
up_spec_check(const json_t *spec, char *err, size_t errlen)
{
	const char *transport, *key;
	const json_t *cmd, *args, *env, *v;
	size_t i;

	err[0] = '\0';
	transport = json_string_value(json_object_get(spec, "transport"));
	cmd = json_object_get(spec, "command");
	args = json_object_get(spec, "args");
	env = json_object_get(spec, "env");
	if (transport != NULL && (strcmp(transport, "http") == 0 ||
	    strcmp(transport, "sse") == 0)) {
		struct url url;
		const json_t *opt = json_object_get(spec, "options");

		if (url_parse(json_string_value(json_object_get(spec, "url")),
		    &url, err, errlen) == -1)
			return;
		json_object_foreach(json_object_get(spec, "headers"), key, v) {
			if (!http_header_name_valid(key) || !json_is_string(v) ||
			    !http_header_value_valid(json_string_value(v))) {
				snprintf(err, errlen, "headers must map names "
				    "to values without line breaks");
				return;
			}
		}
		v = json_object_get(opt, "timeout");
		if (v != NULL && (!json_is_integer(v) ||
		    json_integer_value(v) < 1 ||
		    json_integer_value(v) > 3600)) {
			snprintf(err, errlen, "options.timeout must be 1 to "
			    "3600 seconds");
			return;
		}
		v = json_object_get(opt, "protocol");
		if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(
		    v), UP_STATELESS_VERSION) != 0 ||
		    strcmp(transport, "http") != 0)) {
			snprintf(err, errlen, "options.protocol must be "
			    UP_STATELESS_VERSION " (transport http)");
			return;
		}
		return;
	}
	if (transport == NULL || strcmp(transport, "stdio") != 0) {
		snprintf(err, errlen, "transport %s is not supported yet",
		    transport != NULL ? transport : "?");
		return;
	}
	if (!json_is_string(cmd) || json_string_length(cmd) == 0) {
		snprintf(err, errlen, "no command configured");
		return;
	}
	if (!json_is_array(args)) {
		snprintf(err, errlen, "args must be an array of strings");
		return;
	}
	json_array_foreach(args, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "args must be an array of "
			    "strings");
			return;
		}
	}
	/* Stored before such references were refused: never started with
	 * a secret in argv (/proc/PID/cmdline). */
	{
		char sname[SECRET_NAME_MAX + 1];

		if (secretref_args_find(args, &i, sname)) {
			snprintf(err, errlen, "args[%zu] refers to secret %s, "
			    "and secrets are not put in argv (every host user "
			    "reads /proc/PID/cmdline): add the server again "
			    "with it in env (dataagentctl server add ... "
			    "--env VAR=${secret:%s} -- ...)", i, sname, sname);
			return;
		}
	}
	if (!json_is_object(env)) {
		snprintf(err, errlen, "env must be an object of strings");
		return;
	}
	json_object_foreach((json_t *)env, key, v) {
		if (!json_is_string(v) || key[0] == '\0' ||
		    strchr(key, '=') != NULL) {
			snprintf(err, errlen, "env must map names to "
			    "strings");
			return;
		}
	}
}

int
upstream_spec_equal(const struct upstream *u, const json_t *spec)
{
	json_t *norm;
	int eq;

	if ((norm = up_spec_normalize(spec)) == NULL)
		return 0;
	/* The unresolved spec, and the values of the secrets it uses: a
	 * secret that changed restarts only the servers that use it. */
	eq = json_equal(norm, u->u_spec) &&
	    up_secrets_equal(u, json_object_get(spec, "secrets")) &&
	    json_equal(json_object_get(spec, "secrets_unusable") != NULL ?
	    json_object_get(spec, "secrets_unusable") : json_null(),
	    u->u_sec_unusable != NULL ? u->u_sec_unusable : json_null());
	json_decref(norm);
	return eq;
}

const json_t *
upstream_spec(const struct upstream *u)
{
	return u->u_spec;
}

int
upstream_set_tool_lists(struct upstream *u, const json_t *spec)
{
	json_t *l = json_pack("{s:O?,s:O?}", "allow_tools",
	    json_object_get(spec, "allow_tools"), "deny_tools",
	    json_object_get(spec, "deny_tools"));

	if (l == NULL)
		return -1;
	json_decref(u->u_tool_lists);
	u->u_tool_lists = l;
	return 0;
}

const json_t *
upstream_tool_lists(const struct upstream *u)
{
	return u->u_tool_lists;
}

int
upstream_tool_allowed(const struct upstream *u, const char *tool,
    const char **why_r)
{
	return toolacl_allows(u->u_wrk->w_tool_lists, u->u_tool_lists, tool,
	    why_r);
}

json_t *
upstream_tools_allowed(const struct upstream *u, const json_t *tools)
{
	json_t *out = json_array(), *t;
	const char *name;
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(tools, i, t) {
		name = json_string_value(json_object_get(t, "name"));
		if (name != NULL && upstream_tool_allowed(u, name, NULL))
			json_array_append(out, t);
	}
	return out;
}

/* ------------------------------------------------------------ accessors */

struct upstream *
upstream_find(struct wrk *w, const char *name)
{
	struct upstream *u;

	for (u = w->w_upstreams; u != NULL; u = u->u_next)
		if (strcmp(u->u_name, name) == 0)
			return u;
	return NULL;
}

struct upstream *
upstream_next(const struct upstream *u)
{
	return u->u_next;
}

const char *
upstream_name(const struct upstream *u)
{
	return u->u_name;
}

int
upstream_enabled(const struct upstream *u)
{
	return u->u_enabled;
}

enum upstream_state
upstream_state(const struct upstream *u)
{
	return u->u_state;
}

const char *
upstream_state_name(enum upstream_state st)
{
	switch (st) {
	case UP_STOPPED:
		return "stopped";
	case UP_STARTING:
		return "starting";
	case UP_READY:
		return "ready";
	case UP_BACKOFF:
		return "backoff";
	case UP_FAILED:
		return "failed";
	}
	return "unknown";
}

const char *
upstream_last_error(const struct upstream *u)
{
	return u->u_last_error[0] != '\0' ? u->u_last_error : NULL;
}

pid_t
upstream_pid(const struct upstream *u)
{
	return u->u_pid;
}

unsigned
upstream_running_count(struct wrk *w)
{
	struct upstream *u;
	unsigned n = 0;

	for (u = w->w_upstreams; u != NULL; u = u->u_next)
		if (u->u_state == UP_READY || u->u_state == UP_STARTING)
			n++;
	return n;
}

json_t *
upstream_server_info(const struct upstream *u)
{
	return u->u_server_info;
}

int
upstream_stateless(const struct upstream *u)
{
	return u->u_stateless;
}
