/*
 * rest.c: the REST API under /api/v1/users/{id}.
 *
 *   GET    /mcp-servers            servers with state, tools count, error
 *   POST   /mcp-servers            add a server (body has "name")
 *   GET    /mcp-servers/{name}     one server
 *   PUT    /mcp-servers/{name}     replace a server
 *   DELETE /mcp-servers/{name}     remove a server
 *   GET    /tools                  every enabled server's tools
 *   POST   /tools/{server}/{tool}  call a tool, JSON arguments in
 *   GET    /secrets                the tenant's secrets: names and dates
 *   PUT    /secrets/{NAME}         set one (body {"value": "..."})
 *   DELETE /secrets/{NAME}         remove one
 * No answer ever carries a secret's value.
 *
 * Changes go to the supervisor (the store is not ours); it answers and
 * then pushes the new config, which restarts what changed. Whatever waits
 * for an answer holds a small context whose request pointer is cleared
 * when the client goes away first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "worker.h"
#include "aggregate.h"

#define REST_MAX_SEGS	4
#define REST_SEG_LEN	512

struct rest_store {
	struct http_req *rs_req;	/* NULL once the client is gone */
	int rs_status;			/* on success */
	int rs_delete;
	json_t *rs_server;		/* what we asked to store */
};

struct rest_call {
	struct wrk *rc_wrk;
	struct http_req *rc_req;
	struct upstream_call *rc_call;
	char rc_server[65];
	char *rc_tool;
	int64_t rc_start_ms;
	json_t *rc_args;		/* for the audit row */
	json_t *rc_params;		/* the tools/call, until it is sent */
	int rc_tools_fresh;		/* the list was asked for anew */
	char rc_request_id[REQUEST_ID_MAX + 1];
};

struct rest_tools {
	struct http_req *rt_req;
	struct agg_tools *rt_agg;
};

/* ------------------------------------------------------------ helpers */

/* Splits "/a/b/c" (a trailing '/' ignored). Returns the number of
 * segments, or -1 when malformed or too many. */
static int
rest_split(const char *path, char segs[REST_MAX_SEGS][REST_SEG_LEN])
{
	const char *p = path, *q;
	int n = 0;

	while (*p == '/') {
		p++;
		if (*p == '\0')
			break;
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		if (q == p)
			return -1;	/* "//" */
		if (n == REST_MAX_SEGS ||
		    pct_decode(p, (size_t)(q - p), segs[n], REST_SEG_LEN)
		    == -1)
			return -1;
		n++;
		p = q;
	}
	if (*p != '\0')
		return -1;
	return n;
}

static void
rest_method_not_allowed(struct http_req *r, const char *allow)
{
	char hdr[128];

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	http_reply_json(r, 405, hdr, json_pack("{s:s}", "error",
	    "method not allowed"));
}

/* The request body as a JSON object, or NULL after answering 400. An
 * empty body is {} when empty_ok. */
static json_t *
rest_body_object(struct http_req *r, int empty_ok)
{
	json_error_t jerr;
	json_t *v;
	char msg[256];

	if (r->hr_body_len == 0 && empty_ok)
		return json_object();
	v = json_loadb(r->hr_body, r->hr_body_len, 0, &jerr);
	if (v == NULL) {
		snprintf(msg, sizeof(msg), "invalid JSON: %s",
		    http_json_error(&jerr));
		http_reply_error(r, 400, msg);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_reply_error(r, 400, "the body must be a JSON object");
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------ servers */

static json_t *
rest_server_json(const struct upstream *u)
{
	const json_t *spec = upstream_spec(u);
	const char *err = upstream_last_error(u);
	pid_t pid = upstream_pid(u);
	int ntools = upstream_tools_count(u);

	json_t *o, *names, *v;
	const char *k;

	o = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:s,s:o,s:o,s:o}",
	    "name", json_object_get(spec, "name"),
	    "transport", json_object_get(spec, "transport"),
	    "command", json_object_get(spec, "command"),
	    "args", json_object_get(spec, "args"),
	    "env", json_object_get(spec, "env"),
	    "enabled", json_object_get(spec, "enabled"),
	    "state", upstream_state_name(upstream_state(u)),
	    "last_error", err != NULL ? json_string(err) : json_null(),
	    "pid", pid > 0 ? json_integer(pid) : json_null(),
	    "tools", ntools >= 0 ? json_integer(ntools) : json_null());
	if (o != NULL) {
		upstream_status_json(u, o);
		/* The server's tool lists (the tenant's own are the
		 * operator's: dataagentctl tenant show). */
		json_object_update(o, (json_t *)upstream_tool_lists(u));
	}
	/* A remote server: its url and the names of its headers, never
	 * their values. */
	if (o != NULL && json_string_length(json_object_get(spec, "url")) > 0) {
		names = json_array();
		json_object_foreach(json_object_get(spec, "headers"), k, v)
			json_array_append_new(names, json_string(k));
		json_object_set(o, "url", json_object_get(spec, "url"));
		json_object_set_new(o, "header_names", names);
		json_object_set(o, "options", json_object_get(spec,
		    "options"));
	}
	return o;
}

static void
rest_servers_list(struct wrk *w, struct http_req *r)
{
	struct upstream *u;
	json_t *arr = json_array(), *s;

	for (u = w->w_upstreams; u != NULL; u = upstream_next(u))
		if ((s = rest_server_json(u)) != NULL)
			json_array_append_new(arr, s);
	http_reply_json(r, 200, NULL, json_pack("{s:o}", "servers", arr));
}

/*
 * The server object to store, from a request body: name, command, args,
 * env, enabled (defaults filled in). Returns NULL with err filled.
 */
static json_t *
rest_server_from_body(const json_t *body, const char *name, char *err,
    size_t errlen)
{
	const json_t *cmd, *args, *env, *enabled, *transport, *v;
	const char *key;
	size_t i;

	transport = json_object_get(body, "transport");
	cmd = json_object_get(body, "command");
	args = json_object_get(body, "args");
	env = json_object_get(body, "env");
	enabled = json_object_get(body, "enabled");
	if (!name_valid(name)) {
		snprintf(err, errlen, "name must be 1-64 of [A-Za-z0-9_.-], "
		    "starting with a letter or digit, without \"__\"");
		return NULL;
	}
	if (json_is_string(transport) &&
	    strcmp(json_string_value(transport), "stdio") != 0) {
		/* A remote server: the supervisor checks url, headers and
		 * options (server_spec_check) before it stores anything. */
		enabled = json_object_get(body, "enabled");
		return json_pack("{s:s,s:O,s:O?,s:O?,s:O?,s:b,s:O?,s:O?}",
		    "name", name, "transport", transport, "url",
		    json_object_get(body, "url"), "headers",
		    json_object_get(body, "headers"), "options",
		    json_object_get(body, "options"), "enabled",
		    enabled == NULL || json_is_true(enabled), "allow_tools",
		    json_object_get(body, "allow_tools"), "deny_tools",
		    json_object_get(body, "deny_tools"));
	}
	if (transport != NULL && !json_is_string(transport)) {
		snprintf(err, errlen, "transport must be stdio, http or sse");
		return NULL;
	}
	if (!json_is_string(cmd) || json_string_length(cmd) == 0) {
		snprintf(err, errlen, "command must be a non-empty string");
		return NULL;
	}
	if (args != NULL && !json_is_null(args)) {
		if (!json_is_array(args)) {
			snprintf(err, errlen, "args must be an array of "
			    "strings");
			return NULL;
		}
		json_array_foreach(args, i, v) {
			if (!json_is_string(v)) {
				snprintf(err, errlen, "args must be an array "
				    "of strings");
				return NULL;
			}
		}
	}
	if (env != NULL && !json_is_null(env)) {
		if (!json_is_object(env)) {
			snprintf(err, errlen, "env must be an object of "
			    "strings");
			return NULL;
		}
		json_object_foreach((json_t *)env, key, v) {
			if (!json_is_string(v) || key[0] == '\0' ||
			    strchr(key, '=') != NULL) {
				snprintf(err, errlen, "env must map names "
				    "(without '=') to strings");
				return NULL;
			}
		}
	}
	if (enabled != NULL && !json_is_boolean(enabled)) {
		snprintf(err, errlen, "enabled must be true or false");
		return NULL;
	}
	/* Tool lists as given: the supervisor checks the patterns
	 * (toolacl_list_parse) as it does for dataagentctl. */
	return json_pack("{s:s,s:O,s:o,s:o,s:b,s:O?,s:O?}", "name", name,
	    "command", cmd,
	    "args", args != NULL && !json_is_null(args) ? json_deep_copy(args)
	    : json_array(),
	    "env", env != NULL && !json_is_null(env) ? json_deep_copy(env) :
	    json_object(),
	    "enabled", enabled == NULL || json_is_true(enabled),
	    "allow_tools", json_object_get(body, "allow_tools"),
	    "deny_tools", json_object_get(body, "deny_tools"));
}

static void
rest_on_abort_store(struct http_req *r, void *arg)
{
	struct rest_store *rs = arg;

	/* The store answer still comes; it frees rs. */
	rs->rs_req = NULL;
}

static void
rest_on_store(json_t *res, void *arg)
{
	struct rest_store *rs = arg;
	struct http_req *r = rs->rs_req;
	const char *err;
	json_int_t st;
	json_t *server;

	if (r == NULL)
		goto done;
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	if (json_is_true(json_object_get(res, "ok"))) {
		if (rs->rs_delete) {
			http_reply(r, 204, NULL, NULL, "", 0);
		} else {
			server = json_object_get(res, "server");
			http_reply_json(r, rs->rs_status, NULL, json_incref(
			    json_is_object(server) ? server : rs->rs_server));
		}
		goto done;
	}
	err = json_string_value(json_object_get(res, "error"));
	if (err == NULL)
		err = "the store refused the change";
	st = json_integer_value(json_object_get(res, "status"));
	if (strcmp(err, "supervisor gone") == 0)
		http_reply_error(r, 503, err);
	else if (st == 429 || st == 507)	/* the tenant's store quotas */
		http_reply_error(r, (int)st, err);
	else if (rs->rs_delete && strstr(err, "not found") != NULL)
		http_reply_error(r, 404, err);
	else
		http_reply_error(r, 400, err);
done:
	json_decref(rs->rs_server);
	free(rs);
}

/* Sends op (stolen) to the store and answers r when it replies. */
static void
rest_store(struct wrk *w, struct http_req *r, json_t *op, json_t *server,
    int status, int is_delete)
{
	struct rest_store *rs;

	if (op == NULL || (rs = calloc(1, sizeof(*rs))) == NULL) {
		json_decref(op);
		json_decref(server);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	rs->rs_req = r;
	rs->rs_status = status;
	rs->rs_delete = is_delete;
	rs->rs_server = server;
	/* Before the request: its callback may run before it returns. */
	r->hr_on_abort = rest_on_abort_store;
	r->hr_abort_arg = rs;
	wrk_store_request(w, op, rest_on_store, rs);
}

static void
rest_server_put(struct wrk *w, struct http_req *r, const char *path_name)
{
	json_t *body, *server, *nv;
	const char *name;
	char err[256];

	if ((body = rest_body_object(r, 0)) == NULL)
		return;
	nv = json_object_get(body, "name");
	if (path_name == NULL) {
		if (!json_is_string(nv)) {
			json_decref(body);
			http_reply_error(r, 400, "name must be a string");
			return;
		}
		name = json_string_value(nv);
	} else {
		if (nv != NULL && (!json_is_string(nv) ||
		    strcmp(json_string_value(nv), path_name) != 0)) {
			json_decref(body);
			http_reply_error(r, 400, "the name in the body differs "
			    "from the one in the path (renaming is not "
			    "supported)");
			return;
		}
		name = path_name;
	}
	if ((server = rest_server_from_body(body, name, err, sizeof(err)))
	    == NULL) {
		json_decref(body);
		http_reply_error(r, 400, err);
		return;
	}
	json_decref(body);
	if (path_name == NULL && upstream_find(w, json_string_value(
	    json_object_get(server, "name"))) != NULL) {
		json_decref(server);
		http_reply_error(r, 409, "a server with that name exists "
		    "(PUT /mcp-servers/{name} replaces it)");
		return;
	}
	rest_store(w, r, json_pack("{s:s,s:O}", "op", "server_put", "server",
	    server), server, path_name == NULL ? 201 : 200, 0);
}

static void
rest_server_one(struct wrk *w, struct http_req *r, const char *name)
{
	struct upstream *u = upstream_find(w, name);

	switch (r->hr_method) {
	case HTTP_GET:
		if (u == NULL) {
			http_reply_error(r, 404, "no such server");
			return;
		}
		http_reply_json(r, 200, NULL, rest_server_json(u));
		return;
	case HTTP_PUT:
		rest_server_put(w, r, name);
		return;
	case HTTP_DELETE:
		if (u == NULL) {
			http_reply_error(r, 404, "no such server");
			return;
		}
		rest_store(w, r, json_pack("{s:s,s:s}", "op", "server_delete",
		    "name", name), NULL, 204, 1);
		return;
	default:
		rest_method_not_allowed(r, "GET, PUT, DELETE");
		return;
	}
}

/* -------------------------------------------------------------- tools */

static void
rest_on_abort_tools(struct http_req *r, void *arg)
{
	struct rest_tools *rt = arg;

	agg_tools_cancel(&rt->rt_agg);
	free(rt);
}

static void
rest_on_tools(json_t *servers, void *arg)
{
	struct rest_tools *rt = arg;
	struct http_req *r = rt->rt_req;
	json_t *out, *entry, *tool, *e, *desc, *schema;
	const char *server, *name;
	size_t i, j;
	char *full;

	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	out = json_array();
	json_array_foreach(servers, i, entry) {
		server = json_string_value(json_object_get(entry, "server"));
		json_array_foreach(json_object_get(entry, "tools"), j, tool) {
			name = json_string_value(json_object_get(tool, "name"));
			if (server == NULL || name == NULL)
				continue;
			if (asprintf(&full, "%s" AGG_SEP "%s", server, name)
			    == -1)
				continue;
			desc = json_object_get(tool, "description");
			schema = json_object_get(tool, "inputSchema");
			e = json_pack("{s:s,s:s,s:s,s:O,s:O}", "server", server,
			    "name", full, "tool", name, "description",
			    json_is_string(desc) ? desc : json_null(),
			    "inputSchema", schema != NULL ? schema :
			    json_null());
			free(full);
			if (e != NULL)
				json_array_append_new(out, e);
		}
	}
	free(rt);
	http_reply_json(r, 200, NULL, json_pack("{s:o}", "tools", out));
}

static void
rest_tools_list(struct wrk *w, struct http_req *r)
{
	struct rest_tools *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		http_reply_error(r, 500, "out of memory");
		return;
	}
	rt->rt_req = r;
	if ((rt->rt_agg = agg_tools_start(w, rest_on_tools, rt)) == NULL) {
		free(rt);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	r->hr_on_abort = rest_on_abort_tools;
	r->hr_abort_arg = rt;
}

static void
rest_call_free(struct rest_call **rcp)
{
	struct rest_call *rc = *rcp;

	if (rc == NULL)
		return;
	upstream_call_cancel(&rc->rc_call);
	free(rc->rc_tool);
	json_decref(rc->rc_args);
	json_decref(rc->rc_params);
	free(rc);
	*rcp = NULL;
}

static void
rest_call_audit(struct rest_call *rc, int ok, int cancelled)
{
	toolstats_call_done(rc->rc_wrk, rc->rc_server, rc->rc_tool,
	    cancelled ? "cancelled" : ok ? "success" : "error",
	    now_mono_ms() - rc->rc_start_ms, rc->rc_args, rc->rc_request_id);
}

static void
rest_on_abort_call(struct http_req *r, void *arg)
{
	struct rest_call *rc = arg;

	rest_call_audit(rc, 0, 1);
	rest_call_free(&rc);
}

static void
rest_on_call(json_t *result, json_t *error, void *arg)
{
	struct rest_call *rc = arg;
	struct http_req *r = rc->rc_req;

	rc->rc_call = NULL;
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	rest_call_audit(rc, error == NULL &&
	    !json_is_true(json_object_get(result, "isError")), 0);
	rest_call_free(&rc);
	if (error != NULL && json_integer_value(json_object_get(error,
	    "code")) == UPSTREAM_ERR_LIMIT) {
		/* A connection limit: busy, not broken; come back later. */
		const json_t *data = json_object_get(error, "data");
		json_int_t retry = json_integer_value(json_object_get(data,
		    "retry_after"));
		char hdr[64];

		snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n",
		    retry >= 1 && retry <= 3600 ? (int)retry : 1);
		http_reply_json(r, 503, hdr, json_pack("{s:O,s:O,s:O}",
		    "error", json_object_get(error, "message"), "code",
		    json_object_get(error, "code"), "scope",
		    json_object_get(data, "scope") != NULL ?
		    json_object_get(data, "scope") : json_null()));
	} else if (error != NULL)
		http_reply_json(r, 502, NULL, json_pack("{s:O,s:O}", "error",
		    json_object_get(error, "message"), "code",
		    json_object_get(error, "code")));
	else
		http_reply_json(r, 200, NULL, json_pack("{s:O}", "result",
		    result));
}

/* Whether the array of tool objects has one named name. */
static int
rest_tools_has(const json_t *tools, const char *name)
{
	size_t i;
	json_t *t;

	json_array_foreach(tools, i, t) {
		const char *n = json_string_value(json_object_get(t, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

/*
 * The server's tool list (cached for tool_cache_ttl) has come: a tool it
 * does not have is 404, as an unknown server is, instead of a call the
 * server can only refuse; else the call goes out. A cached list that
 * lacks the tool is asked for once more first: a server that adds a tool
 * without notifications/tools/list_changed must not see it refused for
 * the rest of the TTL. A list that could not be had (the server is down
 * or failing) decides nothing: the call goes out and answers with the
 * server's own error.
 */
static void
rest_on_call_tools(json_t *result, json_t *error, void *arg)
{
	struct rest_call *rc = arg;
	struct http_req *r = rc->rc_req;
	struct upstream *u;
	json_t *params;

	rc->rc_call = NULL;
	if (error == NULL && json_is_array(result) &&
	    !rest_tools_has(result, rc->rc_tool) && !rc->rc_tools_fresh &&
	    (u = upstream_find(rc->rc_wrk, rc->rc_server)) != NULL) {
		rc->rc_tools_fresh = 1;
		upstream_tools_invalidate(u);
		if ((rc->rc_call = upstream_tools(u, rest_on_call_tools,
		    rc)) != NULL)
			return;
		r->hr_on_abort = NULL;
		r->hr_abort_arg = NULL;
		rest_call_free(&rc);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	if (error == NULL && json_is_array(result) &&
	    !rest_tools_has(result, rc->rc_tool)) {
		r->hr_on_abort = NULL;
		r->hr_abort_arg = NULL;
		/* Still a failed call for the audit and /metrics: someone
		 * asked this tenant's server for it. */
		rest_call_audit(rc, 0, 0);
		http_reply_json(r, 404, NULL, json_pack("{s:s+,s:s,s:s}",
		    "error", "unknown tool: ", rc->rc_tool, "server",
		    rc->rc_server, "tool", rc->rc_tool));
		rest_call_free(&rc);
		return;
	}
	if ((u = upstream_find(rc->rc_wrk, rc->rc_server)) == NULL) {
		/* Removed by a configuration change meanwhile. */
		r->hr_on_abort = NULL;
		r->hr_abort_arg = NULL;
		http_reply_error(r, 404, "no such server");
		rest_call_free(&rc);
		return;
	}
	params = rc->rc_params;
	rc->rc_params = NULL;
	rc->rc_call = upstream_request(u, "tools/call", params, 0, rest_on_call,
	    rc);
	if (rc->rc_call == NULL) {
		r->hr_on_abort = NULL;
		r->hr_abort_arg = NULL;
		rest_call_free(&rc);
		http_reply_error(r, 500, "out of memory");
	}
}

static void
rest_tool_call(struct wrk *w, struct http_req *r, const char *server,
    const char *tool)
{
	struct upstream *u;
	struct rest_call *rc = NULL;
	json_t *body, *args, *params;
	const char *why;
	char msg[256];

	if ((u = upstream_find(w, server)) == NULL) {
		snprintf(msg, sizeof(msg), "unknown server: %.128s", server);
		http_reply_error(r, 404, msg);
		return;
	}
	if ((body = rest_body_object(r, 1)) == NULL)
		return;
	/* {"arguments":{...}} alone is the wrapped form; anything else is
	 * the arguments themselves. */
	args = body;
	if (json_object_size(body) == 1 &&
	    json_is_object(json_object_get(body, "arguments")))
		args = json_object_get(body, "arguments");
	/* The tool lists first: a refused tool is 403 whether or not the
	 * server has it, and never reaches the server. */
	if (!upstream_tool_allowed(u, tool, &why)) {
		toolstats_call_refused(w, upstream_name(u), tool, why, args,
		    r->hr_request_id);
		json_decref(body);
		snprintf(msg, sizeof(msg), "tool %.128s is not allowed for "
		    "this tenant", tool);
		http_reply_json(r, 403, NULL, json_pack("{s:s,s:s,s:s,s:s}",
		    "error", msg, "server", upstream_name(u), "tool", tool,
		    "policy", why));
		return;
	}
	params = json_pack("{s:s,s:O}", "name", tool, "arguments", args);
	json_incref(args);
	json_decref(body);
	if (params == NULL || (rc = calloc(1, sizeof(*rc))) == NULL ||
	    (rc->rc_tool = strdup(tool)) == NULL) {
		free(rc);
		json_decref(args);
		json_decref(params);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	rc->rc_wrk = w;
	rc->rc_req = r;
	rc->rc_args = args;
	rc->rc_params = params;
	snprintf(rc->rc_request_id, sizeof(rc->rc_request_id), "%s",
	    r->hr_request_id);
	snprintf(rc->rc_server, sizeof(rc->rc_server), "%.64s", server);
	rc->rc_start_ms = now_mono_ms();
	/* First the server's tools (from the cache, mostly): see
	 * rest_on_call_tools. */
	rc->rc_call = upstream_tools(u, rest_on_call_tools, rc);
	if (rc->rc_call == NULL) {
		rest_call_free(&rc);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	r->hr_on_abort = rest_on_abort_call;
	r->hr_abort_arg = rc;
}

/* ------------------------------------------------------------ secrets */

struct rest_secret {
	struct http_req *rsc_req;	/* NULL once the client is gone */
	int rsc_status;			/* on success */
};

static void
rest_on_abort_secret(struct http_req *r, void *arg)
{
	struct rest_secret *rsc = arg;

	rsc->rsc_req = NULL;
}

/* The supervisor's answer: names and dates, never a value. */
static void
rest_on_secret(json_t *res, void *arg)
{
	struct rest_secret *rsc = arg;
	struct http_req *r = rsc->rsc_req;
	const char *err;
	json_int_t st;

	if (r == NULL)
		goto done;
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	if (json_is_true(json_object_get(res, "ok"))) {
		if (rsc->rsc_status == 204)
			http_reply(r, 204, NULL, NULL, "", 0);
		else if (json_object_get(res, "secrets") != NULL)
			http_reply_json(r, 200, NULL, json_pack("{s:O}",
			    "secrets", json_object_get(res, "secrets")));
		else
			http_reply_json(r, rsc->rsc_status, NULL,
			    json_pack("{s:O}", "name", json_object_get(
			    json_object_get(res, "secret"), "name")));
		goto done;
	}
	err = json_string_value(json_object_get(res, "error"));
	st = json_integer_value(json_object_get(res, "status"));
	if (err == NULL)
		err = "the store refused the change";
	if (strcmp(err, "supervisor gone") == 0 || st == 503)
		http_reply_error(r, 503, err);
	else if (st == 404 || st == 413 || st == 429 || st == 507)
		http_reply_error(r, (int)st, err);
	else if (st == 500)
		http_reply_error(r, 500, err);
	else
		http_reply_error(r, 400, err);
done:
	free(rsc);
}

static void
rest_secret_op(struct wrk *w, struct http_req *r, json_t *op, int status)
{
	struct rest_secret *rsc;

	if (op == NULL || (rsc = calloc(1, sizeof(*rsc))) == NULL) {
		json_decref(op);
		http_reply_error(r, 500, "out of memory");
		return;
	}
	rsc->rsc_req = r;
	rsc->rsc_status = status;
	r->hr_on_abort = rest_on_abort_secret;
	r->hr_abort_arg = rsc;
	wrk_store_request(w, op, rest_on_secret, rsc);
}

static void
rest_secret_one(struct wrk *w, struct http_req *r, const char *name)
{
	json_t *body, *value, *op;

	if (!secret_name_valid(name)) {
		http_reply_error(r, 400, "a secret name must match "
		    "[A-Z_][A-Z0-9_]{0,63}");
		return;
	}
	switch (r->hr_method) {
	case HTTP_PUT:
		if ((body = rest_body_object(r, 0)) == NULL)
			return;
		value = json_object_get(body, "value");
		if (!json_is_string(value)) {
			json_decref(body);
			http_reply_error(r, 400, "the body must be "
			    "{\"value\": \"...\"}");
			return;
		}
		/* The supervisor checks the value's size and content. */
		op = json_pack("{s:s,s:s,s:O}", "op", "secret_put", "name",
		    name, "value", value);
		json_decref(body);
		rest_secret_op(w, r, op, 200);
		return;
	case HTTP_DELETE:
		rest_secret_op(w, r, json_pack("{s:s,s:s}", "op",
		    "secret_delete", "name", name), 204);
		return;
	default:
		rest_method_not_allowed(r, "PUT, DELETE");
		return;
	}
}

/* -------------------------------------------------------------- route */

void
rest_handle(struct wrk *w, struct http_req *r, const char *rest_path)
{
	char segs[REST_MAX_SEGS][REST_SEG_LEN];
	int n;

	n = rest_split(rest_path, segs);
	if (n < 1) {
		http_reply_error(r, 404, "not found");
		return;
	}
	if (strcmp(segs[0], "mcp-servers") == 0) {
		if (n == 1) {
			if (r->hr_method == HTTP_GET)
				rest_servers_list(w, r);
			else if (r->hr_method == HTTP_POST)
				rest_server_put(w, r, NULL);
			else
				rest_method_not_allowed(r, "GET, POST");
			return;
		}
		if (n == 2) {
			rest_server_one(w, r, segs[1]);
			return;
		}
	} else if (strcmp(segs[0], "secrets") == 0) {
		if (n == 1) {
			if (r->hr_method == HTTP_GET)
				rest_secret_op(w, r, json_pack("{s:s}", "op",
				    "secret_list"), 200);
			else
				rest_method_not_allowed(r, "GET");
			return;
		}
		if (n == 2) {
			rest_secret_one(w, r, segs[1]);
			return;
		}
	} else if (strcmp(segs[0], "tools") == 0) {
		if (n == 1) {
			if (r->hr_method == HTTP_GET)
				rest_tools_list(w, r);
			else
				rest_method_not_allowed(r, "GET");
			return;
		}
		if (n == 3) {
			if (r->hr_method == HTTP_POST)
				rest_tool_call(w, r, segs[1], segs[2]);
			else
				rest_method_not_allowed(r, "POST");
			return;
		}
	}
	http_reply_error(r, 404, "not found");
}
