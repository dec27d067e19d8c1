/*
 * mcp.c: the MCP Streamable HTTP endpoint, /api/v1/users/{id}/mcp.
 *
 * Stateful revisions 2025-03-26, 2025-06-18 and 2025-11-25: initialize
 * creates a session (Mcp-Session-Id, 32 random bytes in hex) that every
 * later request must name. One POST carries one JSON-RPC message, or a
 * batch when the session speaks 2025-03-26. The answer is JSON or one SSE
 * body, as the Accept header asks; there is no standalone GET stream yet.
 *
 * The tenant's servers are aggregated: tools/list merges every enabled
 * server's tools as "{server}__{tool}", tools/call splits the name at the
 * first "__" and forwards to that server.
 *
 * A POST whose requests need upstreams is an exchange (struct mcp_xchg)
 * waiting for its operations; if the client goes away first, the pending
 * upstream calls are cancelled and the exchange freed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "worker.h"
#include "aggregate.h"

#define MCP_MAX_SESSIONS	1000
#define MCP_LATEST_VERSION	"2025-11-25"
#define MCP_DEFAULT_VERSION	"2025-03-26"	/* no header, no session */
#define MCP_SESSION_HDR_LEN	(sizeof("Mcp-Session-Id: \r\n") + 64)

/* JSON-RPC error codes. */
#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603
#define RPC_SERVER_ERROR	-32000
#define RPC_NO_SESSION		-32001

static const char *const mcp_versions[] = {
	"2025-03-26",
	"2025-06-18",
	"2025-11-25",
};

struct mcp_session {
	struct mcp_session *ms_next, *ms_prev;
	char ms_id[65];
	char ms_version[16];
	int64_t ms_created_ms;
	int64_t ms_last_ms;
};

struct mcp_xchg;

/* One request of a POST. */
struct mcp_op {
	struct mcp_xchg *op_x;
	json_t *op_id;			/* the client's id */
	json_t *op_response;		/* complete response, once known */
	struct upstream_call *op_call;	/* tools/call in flight */
	struct agg_tools *op_agg;	/* tools/list in flight */
	char op_server[65];
	char *op_tool;
	int64_t op_start_ms;
	json_t *op_args;		/* for the audit row */
};

struct mcp_xchg {
	struct wrk *x_wrk;
	struct http_req *x_req;
	int x_sse;			/* answer as text/event-stream */
	int x_batch;			/* answer as an array */
	char x_headers[MCP_SESSION_HDR_LEN];
	char x_request_id[REQUEST_ID_MAX + 1];	/* outlives x_req */
	struct mcp_op *x_ops;
	size_t x_nops;
	size_t x_waiting;		/* ops still in flight */
};

/* ------------------------------------------------------------ helpers */

static int
mcp_version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(mcp_versions) / sizeof(mcp_versions[0]); i++)
		if (strcmp(v, mcp_versions[i]) == 0)
			return 1;
	return 0;
}

static json_t *
mcp_error_obj(int code, const char *msg)
{
	return json_pack("{s:i,s:s}", "code", code, "message", msg);
}

/* {"jsonrpc":"2.0","id":id,"error":error} (error stolen, id borrowed). */
static json_t *
mcp_error_response(const json_t *id, json_t *error)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
	    id != NULL ? id : json_null(), "error", error);
}

static json_t *
mcp_result_response(const json_t *id, json_t *result)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id,
	    "result", result);
}

/* An HTTP-level failure with a JSON-RPC error body (id null). */
static void
mcp_reply_rpc_error(struct http_req *r, int status, const char *extra,
    int code, const char *msg)
{
	http_reply_json(r, status, extra, mcp_error_response(NULL,
	    mcp_error_obj(code, msg)));
}

/* An Origin is allowed when its host is loopback or in allowed_hosts
 * (the supervisor applies the same rules: common/hostcheck.c). */
static int
mcp_origin_allowed(struct wrk *w, const char *origin)
{
	return host_allowed(w->w_set.ws_allowed_hosts, origin, HOST_ORIGIN);
}

/* ----------------------------------------------------------- sessions */

static struct mcp_session *
mcp_session_find(struct wrk *w, const char *id)
{
	struct mcp_session *s;

	if (strlen(id) != 64)
		return NULL;
	for (s = w->w_sessions; s != NULL; s = s->ms_next)
		if (ct_equal(s->ms_id, id, 64))
			return s;
	return NULL;
}

static void
mcp_session_free(struct wrk *w, struct mcp_session **sp)
{
	struct mcp_session *s = *sp;

	if (s == NULL)
		return;
	if (s->ms_prev != NULL)
		s->ms_prev->ms_next = s->ms_next;
	else
		w->w_sessions = s->ms_next;
	if (s->ms_next != NULL)
		s->ms_next->ms_prev = s->ms_prev;
	w->w_nsessions--;
	free(s);
	*sp = NULL;
}

/* A new session; the least recently used one goes when at the cap. */
static struct mcp_session *
mcp_session_new(struct wrk *w, const char *version)
{
	struct mcp_session *s, *old;
	unsigned char raw[32];

	while (w->w_nsessions >= MCP_MAX_SESSIONS && w->w_sessions != NULL) {
		old = w->w_sessions;
		for (s = w->w_sessions; s != NULL; s = s->ms_next)
			if (s->ms_last_ms < old->ms_last_ms)
				old = s;
		log_info("mcp session evicted", "{s:s}", "tenant",
		    w->w_tenant);
		mcp_session_free(w, &old);
	}
	if (rand_bytes(raw, sizeof(raw)) == -1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	hex_encode(raw, sizeof(raw), s->ms_id);
	snprintf(s->ms_version, sizeof(s->ms_version), "%s", version);
	s->ms_created_ms = s->ms_last_ms = now_mono_ms();
	s->ms_next = w->w_sessions;
	if (w->w_sessions != NULL)
		w->w_sessions->ms_prev = s;
	w->w_sessions = s;
	w->w_nsessions++;
	return s;
}

void
mcp_sessions_free(struct wrk *w)
{
	while (w->w_sessions != NULL) {
		struct mcp_session *s = w->w_sessions;

		mcp_session_free(w, &s);
	}
}

void
mcp_tools_changed(struct wrk *w, struct upstream *u)
{
	/* No standalone GET stream yet: clients see it on their next
	 * tools/list (the cache is already gone). */
	log_debug("tools changed", "{s:s,s:s}", "tenant", w->w_tenant,
	    "server", u != NULL ? upstream_name(u) : "*");
}

/* ---------------------------------------------------------- exchanges */

static void
mcp_op_audit(struct mcp_op *op, int ok, int cancelled)
{
	struct wrk *w = op->op_x->x_wrk;

	toolstats_call_done(w, op->op_server, op->op_tool != NULL ?
	    op->op_tool : "", cancelled ? "cancelled" : ok ? "success" :
	    "error", now_mono_ms() - op->op_start_ms, op->op_args,
	    op->op_x->x_request_id);
}

static void
mcp_xchg_free(struct mcp_xchg **xp)
{
	struct mcp_xchg *x = *xp;
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->x_nops; i++) {
		struct mcp_op *op = &x->x_ops[i];

		if (op->op_call != NULL) {
			upstream_call_cancel(&op->op_call);
			mcp_op_audit(op, 0, 1);
		}
		agg_tools_cancel(&op->op_agg);
		json_decref(op->op_id);
		json_decref(op->op_response);
		json_decref(op->op_args);
		free(op->op_tool);
	}
	free(x->x_ops);
	free(x);
	*xp = NULL;
}

static void
mcp_on_abort(struct http_req *r, void *arg)
{
	struct mcp_xchg *x = arg;

	log_debug("mcp client went away before its answer", "{s:s}",
	    "tenant", x->x_wrk->w_tenant);
	x->x_req = NULL;
	mcp_xchg_free(&x);
}

/* Every op is answered: send them all and free the exchange. */
static void
mcp_xchg_reply(struct mcp_xchg *x)
{
	struct http_req *r = x->x_req;
	json_t *arr;
	char *s, *body = NULL;
	size_t i, len = 0;
	FILE *f;

	x->x_req = NULL;
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	if (!x->x_sse) {
		if (x->x_batch) {
			arr = json_array();
			for (i = 0; i < x->x_nops; i++)
				if (x->x_ops[i].op_response != NULL)
					json_array_append(arr,
					    x->x_ops[i].op_response);
			http_reply_json(r, 200, x->x_headers, arr);
		} else {
			http_reply_json(r, 200, x->x_headers,
			    json_incref(x->x_ops[0].op_response));
		}
		mcp_xchg_free(&x);
		return;
	}
	if ((f = open_memstream(&body, &len)) == NULL) {
		http_reply_json(r, 500, x->x_headers, NULL);
		mcp_xchg_free(&x);
		return;
	}
	for (i = 0; i < x->x_nops; i++) {
		if (x->x_ops[i].op_response == NULL)
			continue;
		s = json_dumps(x->x_ops[i].op_response, JSON_COMPACT);
		if (s != NULL)
			fprintf(f, "event: message\ndata: %s\n\n", s);
		free(s);
	}
	fclose(f);
	http_reply(r, 200, x->x_headers, "text/event-stream", body, len);
	free(body);
	mcp_xchg_free(&x);
}

static void
mcp_op_done(struct mcp_op *op)
{
	struct mcp_xchg *x = op->op_x;

	if (--x->x_waiting == 0)
		mcp_xchg_reply(x);
}

/* ------------------------------------------------------------ methods */

static void
mcp_on_tools_list(json_t *servers, void *arg)
{
	struct mcp_op *op = arg;
	json_t *tools, *entry, *tool, *copy, *name;
	const char *server;
	size_t i, j;
	char *full;

	op->op_agg = NULL;
	tools = json_array();
	json_array_foreach(servers, i, entry) {
		server = json_string_value(json_object_get(entry, "server"));
		json_array_foreach(json_object_get(entry, "tools"), j, tool) {
			name = json_object_get(tool, "name");
			if (server == NULL || !json_is_string(name) ||
			    !json_is_object(tool))
				continue;
			if (asprintf(&full, "%s" AGG_SEP "%s", server,
			    json_string_value(name)) == -1)
				continue;
			copy = json_copy(tool);
			if (copy != NULL) {
				json_object_set_new(copy, "name",
				    json_string(full));
				json_array_append_new(tools, copy);
			}
			free(full);
		}
	}
	op->op_response = mcp_result_response(op->op_id,
	    json_pack("{s:o}", "tools", tools));
	mcp_op_done(op);
}

static void
mcp_on_tool_call(json_t *result, json_t *error, void *arg)
{
	struct mcp_op *op = arg;

	op->op_call = NULL;
	if (error != NULL)
		op->op_response = mcp_error_response(op->op_id,
		    json_incref(error));
	else
		op->op_response = mcp_result_response(op->op_id,
		    json_incref(result));
	mcp_op_audit(op, error == NULL &&
	    !json_is_true(json_object_get(result, "isError")), 0);
	mcp_op_done(op);
}

/* tools/call: returns 1 when the op now waits, 0 when answered. */
static int
mcp_tools_call(struct mcp_xchg *x, struct mcp_op *op, json_t *params)
{
	const char *full, *tool;
	struct upstream *u;
	json_t *fwd, *args, *meta;
	char msg[512];

	full = json_string_value(json_object_get(params, "name"));
	if (!json_is_object(params) || full == NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_PARAMS, "params.name must be a "
		    "string"));
		return 0;
	}
	args = json_object_get(params, "arguments");
	if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_PARAMS, "params.arguments must "
		    "be an object"));
		return 0;
	}
	if (agg_split_name(full, op->op_server, sizeof(op->op_server),
	    &tool) == -1 || (u = upstream_find(x->x_wrk, op->op_server))
	    == NULL) {
		snprintf(msg, sizeof(msg), "Unknown tool: %.400s", full);
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_PARAMS, msg));
		return 0;
	}
	if ((op->op_tool = strdup(tool)) == NULL ||
	    (fwd = json_pack("{s:s}", "name", tool)) == NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
		return 0;
	}
	if (args != NULL && json_is_object(args)) {
		json_object_set(fwd, "arguments", args);
		op->op_args = json_incref(args);
	}
	if ((meta = json_object_get(params, "_meta")) != NULL)
		json_object_set(fwd, "_meta", meta);
	op->op_start_ms = now_mono_ms();
	op->op_call = upstream_request(u, "tools/call", fwd, 0,
	    mcp_on_tool_call, op);
	if (op->op_call == NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
		return 0;
	}
	return 1;
}

static json_t *
mcp_initialize_result(const char *version)
{
	return json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s}}",
	    "protocolVersion", version,
	    "capabilities", "tools", "listChanged", 1,
	    "serverInfo", "name", "dataagent", "version", DATAAGENT_VERSION);
}

/*
 * Starts one request. Returns 1 when it waits for upstreams, 0 when
 * op_response is already set.
 */
static int
mcp_op_start(struct mcp_xchg *x, struct mcp_op *op, const char *method,
    json_t *params)
{
	if (strcmp(method, "ping") == 0) {
		op->op_response = mcp_result_response(op->op_id, json_object());
		return 0;
	}
	if (strcmp(method, "tools/list") == 0) {
		op->op_agg = agg_tools_start(x->x_wrk, mcp_on_tools_list, op);
		if (op->op_agg == NULL) {
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
			return 0;
		}
		return 1;
	}
	if (strcmp(method, "tools/call") == 0)
		return mcp_tools_call(x, op, params);
	if (strcmp(method, "initialize") == 0) {
		/* Only valid alone, handled before we get here. */
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_REQUEST, "initialize must not "
		    "be part of a batch"));
		return 0;
	}
	op->op_response = mcp_error_response(op->op_id,
	    mcp_error_obj(RPC_METHOD_NOT_FOUND, "Method not found"));
	return 0;
}

/* --------------------------------------------------------------- POST */

enum mcp_kind {
	MSG_INVALID = 0,
	MSG_REQUEST,
	MSG_NOTIFICATION,
	MSG_RESPONSE,
};

static enum mcp_kind
mcp_classify(const json_t *m)
{
	const json_t *id, *method;

	if (!json_is_object(m))
		return MSG_INVALID;
	if (!json_is_string(json_object_get(m, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(m, "jsonrpc")), "2.0")
	    != 0)
		return MSG_INVALID;
	id = json_object_get(m, "id");
	method = json_object_get(m, "method");
	if (method != NULL) {
		if (!json_is_string(method))
			return MSG_INVALID;
		if (id == NULL)
			return MSG_NOTIFICATION;
		if (!json_is_string(id) && !json_is_integer(id))
			return MSG_INVALID;
		return MSG_REQUEST;
	}
	if (id != NULL && (json_object_get(m, "result") != NULL ||
	    json_object_get(m, "error") != NULL))
		return MSG_RESPONSE;
	return MSG_INVALID;
}

/* What the Accept header lets us answer: 0 JSON, 1 SSE, -1 neither. */
static int
mcp_accept(const struct http_req *r)
{
	const char *a = http_header(r, "accept");

	if (a == NULL || strcasestr(a, "application/json") != NULL ||
	    strstr(a, "*/*") != NULL || strcasestr(a, "application/*") != NULL)
		return 0;
	if (strcasestr(a, "text/event-stream") != NULL ||
	    strcasestr(a, "text/*") != NULL)
		return 1;
	return -1;
}

static void
mcp_initialize(struct wrk *w, struct http_req *r, json_t *msg, int sse)
{
	const char *want;
	const char *version = MCP_LATEST_VERSION;
	struct mcp_session *s;
	char hdr[MCP_SESSION_HDR_LEN];
	json_t *resp;
	char *str;

	want = json_string_value(json_object_get(json_object_get(msg,
	    "params"), "protocolVersion"));
	if (want != NULL && mcp_version_supported(want))
		version = want;
	if ((s = mcp_session_new(w, version)) == NULL) {
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "cannot create a session");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n", s->ms_id);
	log_info("mcp session started", "{s:s,s:s,s:s}", "tenant",
	    w->w_tenant, "protocol", version, "client",
	    json_string_value(json_object_get(json_object_get(json_object_get(
	    msg, "params"), "clientInfo"), "name")) != NULL ?
	    json_string_value(json_object_get(json_object_get(json_object_get(
	    msg, "params"), "clientInfo"), "name")) : "?");
	resp = mcp_result_response(json_object_get(msg, "id"),
	    mcp_initialize_result(version));
	if (!sse) {
		http_reply_json(r, 200, hdr, resp);
		return;
	}
	str = resp != NULL ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	if (str == NULL) {
		mcp_reply_rpc_error(r, 500, hdr, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	{
		char *body;
		int n = asprintf(&body, "event: message\ndata: %s\n\n", str);

		free(str);
		if (n == -1) {
			mcp_reply_rpc_error(r, 500, hdr, RPC_INTERNAL_ERROR,
			    "out of memory");
			return;
		}
		http_reply(r, 200, hdr, "text/event-stream", body, (size_t)n);
		free(body);
	}
}

/* Checks Mcp-Session-Id and MCP-Protocol-Version. Returns the session,
 * or NULL after answering. *version_r is what this request speaks. */
static struct mcp_session *
mcp_session_check(struct wrk *w, struct http_req *r, const char **version_r)
{
	const char *sid, *pv;
	struct mcp_session *s;
	char msg[256];

	sid = http_header(r, "mcp-session-id");
	if (sid == NULL) {
		mcp_reply_rpc_error(r, 400, NULL, RPC_SERVER_ERROR,
		    "Bad Request: Mcp-Session-Id header is required");
		return NULL;
	}
	if ((s = mcp_session_find(w, sid)) == NULL) {
		mcp_reply_rpc_error(r, 404, NULL, RPC_NO_SESSION,
		    "Session not found");
		return NULL;
	}
	pv = http_header(r, "mcp-protocol-version");
	if (pv != NULL && !mcp_version_supported(pv)) {
		snprintf(msg, sizeof(msg), "Bad Request: Unsupported protocol "
		    "version: %.64s (supported: 2025-03-26, 2025-06-18, "
		    "2025-11-25)", pv);
		mcp_reply_rpc_error(r, 400, NULL, RPC_SERVER_ERROR, msg);
		return NULL;
	}
	*version_r = pv != NULL ? pv : s->ms_version[0] != '\0' ?
	    s->ms_version : MCP_DEFAULT_VERSION;
	s->ms_last_ms = now_mono_ms();
	return s;
}

static void
mcp_post(struct wrk *w, struct http_req *r)
{
	struct mcp_session *s;
	struct mcp_xchg *x;
	json_error_t jerr;
	json_t *body, *m;
	const char *version;
	enum mcp_kind kind;
	size_t i, nreq = 0;
	int sse, batch;

	if ((sse = mcp_accept(r)) == -1) {
		mcp_reply_rpc_error(r, 406, NULL, RPC_SERVER_ERROR,
		    "Not Acceptable: Accept must include application/json or "
		    "text/event-stream");
		return;
	}
	body = json_loadb(r->hr_body, r->hr_body_len, 0, &jerr);
	if (body == NULL) {
		mcp_reply_rpc_error(r, 400, NULL, RPC_PARSE_ERROR,
		    "Parse error");
		return;
	}

	/* initialize alone: no session yet. */
	if (json_is_object(body) && mcp_classify(body) == MSG_REQUEST &&
	    strcmp(json_string_value(json_object_get(body, "method")),
	    "initialize") == 0) {
		mcp_initialize(w, r, body, sse);
		json_decref(body);
		return;
	}
	if ((s = mcp_session_check(w, r, &version)) == NULL) {
		json_decref(body);
		return;
	}
	if (json_is_array(body) && (json_array_size(body) == 0 ||
	    strcmp(version, "2025-03-26") != 0)) {
		mcp_reply_rpc_error(r, 400, NULL, RPC_INVALID_REQUEST,
		    json_array_size(body) == 0 ? "Invalid Request: empty batch"
		    : "Invalid Request: batches are not supported in this "
		    "protocol version");
		json_decref(body);
		return;
	}
	if (!json_is_array(body)) {
		json_t *one = json_array();

		if (one == NULL || json_array_append_new(one, body) == -1) {
			json_decref(one);
			mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
			    "out of memory");
			return;
		}
		body = one;
		batch = 0;
	} else {
		batch = 1;
	}

	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->x_ops = calloc(json_array_size(body), sizeof(*x->x_ops)))
	    == NULL) {
		free(x);
		json_decref(body);
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	x->x_wrk = w;
	x->x_req = r;
	snprintf(x->x_request_id, sizeof(x->x_request_id), "%s",
	    r->hr_request_id);
	x->x_sse = sse;
	x->x_batch = batch;
	snprintf(x->x_headers, sizeof(x->x_headers), "Mcp-Session-Id: %s\r\n",
	    s->ms_id);

	/* Classify first: invalid single messages are an HTTP 400, and a
	 * POST of only notifications and responses is a 202. */
	json_array_foreach(body, i, m) {
		kind = mcp_classify(m);
		if (kind == MSG_INVALID && !x->x_batch) {
			json_t *id = json_object_get(m, "id");

			http_reply_json(r, 400, x->x_headers,
			    mcp_error_response(json_is_string(id) ||
			    json_is_integer(id) ? id : NULL,
			    mcp_error_obj(RPC_INVALID_REQUEST,
			    "Invalid Request")));
			mcp_xchg_free(&x);
			json_decref(body);
			return;
		}
		if (kind == MSG_REQUEST || kind == MSG_INVALID)
			nreq++;
	}
	if (nreq == 0) {
		http_reply(r, 202, x->x_headers, NULL, "", 0);
		mcp_xchg_free(&x);
		json_decref(body);
		return;
	}

	json_array_foreach(body, i, m) {
		struct mcp_op *op;

		kind = mcp_classify(m);
		if (kind != MSG_REQUEST && kind != MSG_INVALID)
			continue;
		op = &x->x_ops[x->x_nops++];
		op->op_x = x;
		if (kind == MSG_INVALID) {
			op->op_id = json_null();
			op->op_response = mcp_error_response(NULL,
			    mcp_error_obj(RPC_INVALID_REQUEST,
			    "Invalid Request"));
			continue;
		}
		op->op_id = json_incref(json_object_get(m, "id"));
		if (mcp_op_start(x, op, json_string_value(json_object_get(m,
		    "method")), json_object_get(m, "params")))
			x->x_waiting++;
	}
	json_decref(body);
	if (x->x_waiting == 0) {
		mcp_xchg_reply(x);
		return;
	}
	/* Answers come from the event loop, never before we return. */
	r->hr_on_abort = mcp_on_abort;
	r->hr_abort_arg = x;
}

/* ------------------------------------------------------------- DELETE */

static void
mcp_delete(struct wrk *w, struct http_req *r)
{
	struct mcp_session *s;
	const char *version;

	if ((s = mcp_session_check(w, r, &version)) == NULL)
		return;
	log_info("mcp session ended", "{s:s}", "tenant", w->w_tenant);
	mcp_session_free(w, &s);
	http_reply(r, 204, NULL, NULL, "", 0);
}

void
mcp_handle(struct wrk *w, struct http_req *r)
{
	const char *origin = http_header(r, "origin");

	if (origin != NULL && !mcp_origin_allowed(w, origin)) {
		log_info("mcp request from a foreign origin refused",
		    "{s:s,s:s}", "tenant", w->w_tenant, "origin", origin);
		mcp_reply_rpc_error(r, 403, NULL, RPC_SERVER_ERROR,
		    "Forbidden: origin not allowed");
		return;
	}
	switch (r->hr_method) {
	case HTTP_POST:
		mcp_post(w, r);
		break;
	case HTTP_DELETE:
		mcp_delete(w, r);
		break;
	default:
		/* No standalone SSE stream (GET) yet. */
		mcp_reply_rpc_error(r, 405, "Allow: POST, DELETE\r\n",
		    RPC_SERVER_ERROR, "Method Not Allowed");
		break;
	}
}
