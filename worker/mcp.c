/*
 * mcp.c: the MCP Streamable HTTP endpoints, /api/v1/users/{id}/mcp (every
 * server of the tenant aggregated) and /api/v1/users/{id}/mcp/{server}
 * (one server passed through unchanged).
 *
 * Two eras on the same endpoint, chosen per request:
 *
 *  - Stateful revisions 2025-03-26, 2025-06-18 and 2025-11-25: initialize
 *    creates a session (Mcp-Session-Id, 32 random bytes in hex) that every
 *    later request must name. One POST carries one JSON-RPC message, or a
 *    batch when the session speaks 2025-03-26. The answer is JSON or an SSE
 *    body, as the Accept header asks; with SSE, progress notifications and
 *    requests the upstream makes of the client (sampling, elicitation) go
 *    out on it before the answer. GET opens the session's standalone SSE
 *    stream: list changes, log messages and relayed server requests.
 *
 *  - 2026-07-28, stateless: no handshake and no session; each request
 *    carries its version, client info and capabilities in params._meta
 *    ("io.modelcontextprotocol/..."), mirrored by the MCP-Protocol-Version,
 *    Mcp-Method and Mcp-Name headers, which must agree with the body (400
 *    and -32020 otherwise). server/discover says what we serve, and
 *    subscriptions/listen opens a stream of the changes asked for. A request
 *    is of this era when its MCP-Protocol-Version header says so, or when
 *    it has no session header and its _meta names a protocol version.
 *
 * Aggregation names every server's tools and prompts "{server}__{name}":
 * the server part is a server name (which never holds "__", see
 * name_valid), so the first "__" splits a name back into server and the
 * server's own name, and two servers' items can never share a name.
 * Resource URIs and URI templates become "dataagent:{server}:{uri}"
 * (agg_uri_wrap): still a URI (a "{server}__" prefix would put "_" in
 * the scheme), split back at the first ':' after ours, whatever the URI
 * holds. A template stays a template: the prefix is literal text in front
 * of it, so what a client expands from it maps back the same way. The
 * earlier "{server}__{uri}" is still read (agg_uri_split).
 * Resource lists and prompts are paged across the servers behind an
 * opaque, authenticated cursor (aggregate.c).
 *
 * Progress tokens are rewritten both ways: the upstream sees a token we
 * made (unique in the worker), the client gets its own back, so two
 * clients' tokens never meet. Client cancellations reach the upstream
 * with the upstream's request id (upstream_call_cancel).
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
#define MCP_MODERN_VERSION	"2026-07-28"
#define MCP_HDR_LEN		(sizeof("Mcp-Session-Id: \r\n") + 64)
#define MCP_META_PREFIX		"io.modelcontextprotocol/"
#define MCP_META_VERSION	MCP_META_PREFIX "protocolVersion"
#define MCP_META_CAPS		MCP_META_PREFIX "clientCapabilities"
#define MCP_META_SERVERINFO	MCP_META_PREFIX "serverInfo"
#define MCP_LIST_TTL_MS		0	/* lists may change at any time */
#define MCP_MAX_RELAYS		256	/* server requests awaiting clients */

/* JSON-RPC error codes. */
#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603
#define RPC_SERVER_ERROR	-32000
#define RPC_NO_SESSION		-32001
#define RPC_HEADER_MISMATCH	-32020
#define RPC_MISSING_CAPABILITY	-32021
#define RPC_UNSUPPORTED_VERSION	-32022

static const char *const mcp_versions[] = {
	"2025-03-26",
	"2025-06-18",
	"2025-11-25",
};

/* Per-worker state (w->w_mcp). */
struct mcp_state {
	struct mcp_xchg *st_xchgs;	/* exchanges in flight */
	struct mcp_relay *st_relays;	/* server requests relayed */
	struct mcp_listener *st_listeners;	/* subscriptions/listen */
	unsigned st_nrelays;
	uint64_t st_next;		/* progress tokens, relay ids */
	unsigned char st_cursor_key[AGG_CURSOR_KEY_LEN];
};

struct mcp_session {
	struct mcp_session *ms_next, *ms_prev;
	char ms_id[65];
	char ms_version[16];
	char ms_server[65];		/* passthrough server, "" aggregated */
	json_t *ms_caps;		/* the client's capabilities */
	struct http_req *ms_stream;	/* open GET stream, or NULL */
	int64_t ms_created_ms;
	int64_t ms_last_ms;
};

/* A request an upstream made of a client, waiting for its answer. */
struct mcp_relay {
	struct mcp_relay *rl_next;
	char rl_id[48];			/* the id the client sees */
	char rl_session[65];
	char rl_server[65];
	json_t *rl_up_id;		/* the upstream's own id */
	int64_t rl_start_ms;
};

/* A 2026-07-28 subscriptions/listen stream. */
struct mcp_listener {
	struct mcp_listener *li_next;
	struct wrk *li_wrk;
	struct http_req *li_req;
	json_t *li_id;			/* the listen request's id */
	char li_server[65];		/* passthrough server, "" aggregated */
	int li_tools, li_prompts, li_resources;
	json_t *li_uris;		/* resourceSubscriptions, as given */
};

struct mcp_xchg;

/* How an answer from an upstream is rewritten for the client. */
enum mcp_rewrite {
	RW_NONE = 0,
	RW_READ,		/* resources/read: contents[].uri */
	RW_TOOLS,		/* tools/list: only tools the lists allow */
};

/* One request of a POST. */
struct mcp_op {
	struct mcp_xchg *op_x;
	json_t *op_id;			/* the client's id */
	json_t *op_response;		/* complete response, once known */
	struct upstream_call *op_call;	/* upstream request in flight */
	struct agg_tools *op_agg;	/* tools/list in flight */
	struct agg_page *op_page;	/* paged list in flight */
	int op_is_tool;			/* tools/call: counted and audited */
	enum mcp_rewrite op_rewrite;
	char op_server[65];
	char *op_tool;
	char op_token[48];		/* progress token upstream, or "" */
	json_t *op_client_token;	/* the client's progress token */
	int64_t op_start_ms;
	json_t *op_args;		/* for the audit row */
};

struct mcp_xchg {
	struct mcp_xchg *x_next, *x_prev;	/* in st_xchgs */
	struct wrk *x_wrk;
	struct http_req *x_req;
	int x_sse;			/* may answer as text/event-stream */
	int x_json;			/* may answer as application/json */
	int x_streaming;		/* SSE head sent already */
	int x_batch;			/* answer as an array */
	int x_modern;			/* 2026-07-28 */
	int x_status;			/* HTTP status of a JSON answer */
	char x_method[40];		/* 2026-07-28: the one request's */
	char x_session[65];		/* "" when stateless */
	char x_server[65];		/* passthrough server, "" aggregated */
	char x_headers[MCP_HDR_LEN];
	char x_request_id[REQUEST_ID_MAX + 1];	/* outlives x_req */
	json_t *x_caps;			/* 2026-07-28: the client's
					 * _meta clientCapabilities */
	struct mcp_op *x_ops;
	size_t x_nops;
	size_t x_waiting;		/* ops still in flight */
};

/* ------------------------------------------------------------ helpers */

static struct mcp_state *
mcp_state(struct wrk *w)
{
	if (w->w_mcp == NULL) {
		w->w_mcp = calloc(1, sizeof(*w->w_mcp));
		if (w->w_mcp == NULL)
			return NULL;
		if (rand_bytes(w->w_mcp->st_cursor_key,
		    sizeof(w->w_mcp->st_cursor_key)) == -1) {
			free(w->w_mcp);
			w->w_mcp = NULL;
		}
	}
	return w->w_mcp;
}

static int
mcp_version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(mcp_versions) / sizeof(mcp_versions[0]); i++)
		if (strcmp(v, mcp_versions[i]) == 0)
			return 1;
	return 0;
}

/* Dates compare as strings: 2026-07-28 and later are the stateless era. */
static int
mcp_version_modern(const char *v)
{
	return v != NULL && strlen(v) == 10 && strcmp(v, MCP_MODERN_VERSION)
	    >= 0;
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

/* An HTTP-level failure with a JSON-RPC error body. */
static void
mcp_reply_rpc_error_id(struct http_req *r, int status, const char *extra,
    const json_t *id, int code, const char *msg)
{
	http_reply_json(r, status, extra, mcp_error_response(id,
	    mcp_error_obj(code, msg)));
}

static void
mcp_reply_rpc_error(struct http_req *r, int status, const char *extra,
    int code, const char *msg)
{
	mcp_reply_rpc_error_id(r, status, extra, NULL, code, msg);
}

/* params._meta without our era's keys (the upstreams speak 2025). */
static void
mcp_meta_strip(json_t *params)
{
	json_t *meta = json_object_get(params, "_meta");
	const char *k;
	json_t *v;
	void *tmp;

	if (!json_is_object(meta))
		return;
	json_object_foreach_safe(meta, tmp, k, v)
		if (strncmp(k, MCP_META_PREFIX, strlen(MCP_META_PREFIX)) == 0)
			json_object_del(meta, k);
	if (json_object_size(meta) == 0)
		json_object_del(params, "_meta");
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

static void mcp_relay_drop_session(struct wrk *w, const char *session);

static void
mcp_session_free(struct wrk *w, struct mcp_session **sp)
{
	struct mcp_session *s = *sp;
	struct mcp_xchg *x;

	if (s == NULL)
		return;
	if (s->ms_prev != NULL)
		s->ms_prev->ms_next = s->ms_next;
	else
		w->w_sessions = s->ms_next;
	if (s->ms_next != NULL)
		s->ms_next->ms_prev = s->ms_prev;
	w->w_nsessions--;
	if (s->ms_stream != NULL) {
		struct http_req *r = s->ms_stream;

		s->ms_stream = NULL;
		r->hr_on_abort = NULL;
		http_stream_end(r);
	}
	if (w->w_mcp != NULL) {
		for (x = w->w_mcp->st_xchgs; x != NULL; x = x->x_next)
			if (strcmp(x->x_session, s->ms_id) == 0)
				x->x_session[0] = '\0';
		mcp_relay_drop_session(w, s->ms_id);
	}
	json_decref(s->ms_caps);
	free(s);
	*sp = NULL;
}

/* A new session; the least recently used one goes when at the cap. */
static struct mcp_session *
mcp_session_new(struct wrk *w, const char *version, const char *server,
    const json_t *caps)
{
	struct mcp_session *s, *old;
	unsigned char raw[32];
	char hex[65];

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
	hex_encode(raw, sizeof(raw), hex);
	/* "node.<hex>", 64 characters in all: a balancer or another host
	 * sharing the store can tell where the session lives. */
	if (w->w_node[0] != '\0')
		snprintf(s->ms_id, sizeof(s->ms_id), "%s.%.*s", w->w_node,
		    (int)(sizeof(s->ms_id) - 2 - strlen(w->w_node)), hex);
	else
		snprintf(s->ms_id, sizeof(s->ms_id), "%s", hex);
	snprintf(s->ms_version, sizeof(s->ms_version), "%s", version);
	snprintf(s->ms_server, sizeof(s->ms_server), "%s", server);
	s->ms_caps = json_is_object(caps) ? json_deep_copy(caps) :
	    json_object();
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
	if (w->w_mcp != NULL) {
		while (w->w_mcp->st_relays != NULL) {
			struct mcp_relay *rl = w->w_mcp->st_relays;

			w->w_mcp->st_relays = rl->rl_next;
			w->w_mcp->st_nrelays--;
			json_decref(rl->rl_up_id);
			free(rl);
		}
		/* Exchanges and listeners belong to their connections (freed
		 * with them). */
		if (w->w_mcp->st_xchgs == NULL &&
		    w->w_mcp->st_listeners == NULL) {
			free(w->w_mcp);
			w->w_mcp = NULL;
		}
	}
}

/* Writes one JSON-RPC message as an SSE event on a started stream. */
static void
mcp_stream_event(struct http_req *r, const json_t *msg)
{
	char *s, *ev;
	int n;

	if ((s = json_dumps(msg, JSON_COMPACT)) == NULL)
		return;
	n = asprintf(&ev, "event: message\ndata: %s\n\n", s);
	free(s);
	if (n == -1)
		return;
	http_stream_write(r, ev, (size_t)n);
	free(ev);
}

/* Does session s hear about what upstream u says (server "" = all)? */
static int
mcp_session_hears(const struct mcp_session *s, const char *server)
{
	return s->ms_server[0] == '\0' || strcmp(s->ms_server, server) == 0;
}

/*
 * Sends msg to the GET stream of every session that hears upstream u
 * (u NULL: every session). Aggregated sessions get agg_msg instead when
 * it is not NULL (a rewritten copy).
 */
static void
mcp_broadcast(struct wrk *w, struct upstream *u, const json_t *msg,
    const json_t *agg_msg)
{
	struct mcp_session *s;

	for (s = w->w_sessions; s != NULL; s = s->ms_next) {
		if (s->ms_stream == NULL || (u != NULL &&
		    !mcp_session_hears(s, upstream_name(u))))
			continue;
		mcp_stream_event(s->ms_stream, s->ms_server[0] == '\0' &&
		    agg_msg != NULL ? agg_msg : msg);
	}
}

/* Whether s, a URI listener li subscribed to, is uri (as li names it),
 * the resource own_uri of upstream u: an aggregated listener may have
 * named it in the earlier "{server}__{uri}" form. */
static int
mcp_listener_uri_is(const struct mcp_listener *li, struct upstream *u,
    const char *s, const char *uri, const char *own_uri)
{
	char srv[65];
	const char *own;

	if (s == NULL)
		return 0;
	if (strcmp(s, uri) == 0)
		return 1;
	return li->li_server[0] == '\0' && u != NULL && own_uri != NULL &&
	    agg_uri_split(s, srv, sizeof(srv), &own) == 0 &&
	    strcmp(srv, upstream_name(u)) == 0 && strcmp(own, own_uri) == 0;
}

/*
 * Sends a change notification (method; uri for resources/updated, as the
 * listener names it) to every listen stream that asked for it and hears
 * upstream u (NULL: the gateway's own change, heard by all).
 */
static void
mcp_listeners_notify(struct wrk *w, struct upstream *u, const char *method,
    const char *agg_uri, const char *own_uri)
{
	struct mcp_listener *li;
	json_t *m, *v;
	const char *uri;
	size_t i;
	int want;

	if (w->w_mcp == NULL)
		return;
	for (li = w->w_mcp->st_listeners; li != NULL; li = li->li_next) {
		if (u != NULL && li->li_server[0] != '\0' &&
		    strcmp(li->li_server, upstream_name(u)) != 0)
			continue;
		uri = li->li_server[0] == '\0' ? agg_uri : own_uri;
		want = 0;
		if (strcmp(method, "notifications/tools/list_changed") == 0)
			want = li->li_tools;
		else if (strcmp(method, "notifications/prompts/list_changed")
		    == 0)
			want = li->li_prompts;
		else if (strcmp(method,
		    "notifications/resources/list_changed") == 0)
			want = li->li_resources;
		else if (uri != NULL)
			json_array_foreach(li->li_uris, i, v)
				if (mcp_listener_uri_is(li, u,
				    json_string_value(v), uri, own_uri)) {
					/* Told as the client asked. */
					uri = json_string_value(v);
					want = 1;
					break;
				}
		if (!want)
			continue;
		m = json_pack("{s:s,s:s,s:{s:{s:O}}}", "jsonrpc", "2.0",
		    "method", method, "params", "_meta",
		    MCP_META_PREFIX "subscriptionId", li->li_id);
		if (m != NULL && uri != NULL && strcmp(method,
		    "notifications/resources/updated") == 0)
			json_object_set_new(json_object_get(m, "params"), "uri",
			    json_string(uri));
		if (m != NULL)
			mcp_stream_event(li->li_req, m);
		json_decref(m);
	}
}

void
mcp_tools_changed(struct wrk *w, struct upstream *u)
{
	json_t *m;

	log_debug("tools changed", "{s:s,s:s}", "tenant", w->w_tenant,
	    "server", u != NULL ? upstream_name(u) : "*");
	if (u != NULL)
		return;	/* forwarded by mcp_upstream_notification */
	/* A configuration change: every aggregated list may differ. */
	m = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method",
	    "notifications/tools/list_changed");
	if (m != NULL)
		mcp_broadcast(w, NULL, m, NULL);
	json_decref(m);
	mcp_listeners_notify(w, NULL, "notifications/tools/list_changed",
	    NULL, NULL);
}

/* ---------------------------------------------------------- exchanges */

static void
mcp_op_audit(struct mcp_op *op, int ok, int cancelled)
{
	struct wrk *w = op->op_x->x_wrk;

	if (!op->op_is_tool)
		return;
	toolstats_call_done(w, op->op_server, op->op_tool != NULL ?
	    op->op_tool : "", cancelled ? "cancelled" : ok ? "success" :
	    "error", now_mono_ms() - op->op_start_ms, op->op_args,
	    op->op_x->x_request_id);
}

static void
mcp_xchg_link(struct wrk *w, struct mcp_xchg *x)
{
	struct mcp_state *st = mcp_state(w);

	if (st == NULL)
		return;
	x->x_next = st->st_xchgs;
	if (st->st_xchgs != NULL)
		st->st_xchgs->x_prev = x;
	st->st_xchgs = x;
}

static void
mcp_xchg_free(struct mcp_xchg **xp)
{
	struct mcp_xchg *x = *xp;
	struct mcp_state *st;
	size_t i;

	if (x == NULL)
		return;
	st = x->x_wrk->w_mcp;
	if (st != NULL && (x->x_prev != NULL || st->st_xchgs == x)) {
		if (x->x_prev != NULL)
			x->x_prev->x_next = x->x_next;
		else
			st->st_xchgs = x->x_next;
		if (x->x_next != NULL)
			x->x_next->x_prev = x->x_prev;
	}
	for (i = 0; i < x->x_nops; i++) {
		struct mcp_op *op = &x->x_ops[i];

		if (op->op_call != NULL) {
			upstream_call_cancel(&op->op_call);
			mcp_op_audit(op, 0, 1);
		}
		agg_tools_cancel(&op->op_agg);
		agg_page_cancel(&op->op_page);
		json_decref(op->op_id);
		json_decref(op->op_response);
		json_decref(op->op_args);
		json_decref(op->op_client_token);
		free(op->op_tool);
	}
	free(x->x_ops);
	json_decref(x->x_caps);
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

/* Sends a message on the exchange's own SSE answer, starting it. */
static int
mcp_xchg_event(struct mcp_xchg *x, const json_t *msg)
{
	if (!x->x_sse || x->x_req == NULL)
		return -1;
	if (!x->x_streaming) {
		http_stream_begin(x->x_req, 200, x->x_headers[0] != '\0' ?
		    x->x_headers : NULL, "text/event-stream");
		x->x_streaming = 1;
	}
	mcp_stream_event(x->x_req, msg);
	return 0;
}

/* The result of a 2026-07-28 request: resultType (a 2026-07-28
 * upstream's own, e.g. "input_required", stays; a result without one is
 * "complete"), who answered, and the caching hints for lists and reads. */
static void
mcp_modern_result(json_t *resp, const char *method)
{
	json_t *result = json_object_get(resp, "result"), *meta;

	if (!json_is_object(result))
		return;
	if (!json_is_string(json_object_get(result, "resultType")))
		json_object_set_new(result, "resultType",
		    json_string("complete"));
	meta = json_object_get(result, "_meta");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(result, "_meta", meta);
	}
	json_object_set_new(meta, MCP_META_SERVERINFO, json_pack("{s:s,s:s}",
	    "name", "dataagent", "version", DATAAGENT_VERSION));
	if (method != NULL && (strcmp(method, "tools/list") == 0 ||
	    strcmp(method, "prompts/list") == 0 ||
	    strcmp(method, "resources/list") == 0 ||
	    strcmp(method, "resources/read") == 0 ||
	    strcmp(method, "resources/templates/list") == 0 ||
	    strcmp(method, "server/discover") == 0)) {
		if (json_object_get(result, "ttlMs") == NULL)
			json_object_set_new(result, "ttlMs",
			    json_integer(MCP_LIST_TTL_MS));
		/* Tenant data: never shared across credentials. */
		json_object_set_new(result, "cacheScope", json_string(
		    "private"));
	}
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
	const char *hdr = x->x_headers[0] != '\0' ? x->x_headers : NULL;

	if (r == NULL) {
		mcp_xchg_free(&x);
		return;
	}
	if (x->x_modern)
		for (i = 0; i < x->x_nops; i++)
			mcp_modern_result(x->x_ops[i].op_response,
			    x->x_method);
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	if (x->x_streaming) {
		for (i = 0; i < x->x_nops; i++)
			if (x->x_ops[i].op_response != NULL)
				mcp_stream_event(r, x->x_ops[i].op_response);
		x->x_req = NULL;
		http_stream_end(r);
		mcp_xchg_free(&x);
		return;
	}
	x->x_req = NULL;
	if (x->x_json) {
		if (x->x_batch) {
			arr = json_array();
			for (i = 0; i < x->x_nops; i++)
				if (x->x_ops[i].op_response != NULL)
					json_array_append(arr,
					    x->x_ops[i].op_response);
			http_reply_json(r, 200, hdr, arr);
		} else {
			http_reply_json(r, x->x_status != 0 ? x->x_status :
			    200, hdr, json_incref(x->x_ops[0].op_response));
		}
		mcp_xchg_free(&x);
		return;
	}
	if ((f = open_memstream(&body, &len)) == NULL) {
		http_reply_json(r, 500, hdr, NULL);
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
	http_reply(r, 200, hdr, "text/event-stream", body, len);
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
mcp_on_page(json_t *result, json_t *error, void *arg)
{
	struct mcp_op *op = arg;

	op->op_page = NULL;
	op->op_response = error != NULL ? mcp_error_response(op->op_id,
	    json_incref(error)) : mcp_result_response(op->op_id,
	    json_incref(result));
	mcp_op_done(op);
}

/* Every contents[].uri of a read result as the aggregated URI. */
static void
mcp_rewrite_read(json_t *result, const char *server)
{
	json_t *c;
	size_t i;
	char *full;

	json_array_foreach(json_object_get(result, "contents"), i, c) {
		const char *uri = json_string_value(json_object_get(c, "uri"));

		if (uri == NULL || (full = agg_uri_wrap(server, uri)) == NULL)
			continue;
		json_object_set_new(c, "uri", json_string(full));
		free(full);
	}
}

/* A passthrough tools/list page: the tools the lists refuse are taken
 * out (a server gone meanwhile leaves none). */
static void
mcp_rewrite_tools(struct wrk *w, json_t *result, const char *server)
{
	struct upstream *u = upstream_find(w, server);
	json_t *tools = json_object_get(result, "tools");

	if (!json_is_array(tools))
		return;
	json_object_set_new(result, "tools", u != NULL ?
	    upstream_tools_allowed(u, tools) : json_array());
}

static void
mcp_on_forward(json_t *result, json_t *error, void *arg)
{
	struct mcp_op *op = arg;
	json_t *copy;

	op->op_call = NULL;
	if (error != NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    json_incref(error));
		/* 2026-07-28 over HTTP: a method the server lacks is a 404,
		 * a capability the client lacks a 400 (a 2026-07-28 server
		 * said so). */
		if (op->op_x->x_modern && json_integer_value(json_object_get(
		    error, "code")) == RPC_METHOD_NOT_FOUND)
			op->op_x->x_status = 404;
		if (op->op_x->x_modern && json_integer_value(json_object_get(
		    error, "code")) == RPC_MISSING_CAPABILITY)
			op->op_x->x_status = 400;
	} else {
		copy = json_deep_copy(result);
		if (copy != NULL && op->op_rewrite == RW_READ)
			mcp_rewrite_read(copy, op->op_server);
		if (copy != NULL && op->op_rewrite == RW_TOOLS)
			mcp_rewrite_tools(op->op_x->x_wrk, copy,
			    op->op_server);
		op->op_response = mcp_result_response(op->op_id,
		    copy != NULL ? copy : json_object());
	}
	mcp_op_audit(op, error == NULL &&
	    !json_is_true(json_object_get(result, "isError")), 0);
	mcp_op_done(op);
}

/*
 * Sends method with params (stolen) to upstream u for op. A progress
 * token of the client's is swapped for one of ours. Returns 1 (waits)
 * or 0 (answered: out of memory).
 */
static int
mcp_forward(struct mcp_xchg *x, struct mcp_op *op, struct upstream *u,
    const char *method, json_t *params)
{
	struct mcp_state *st = mcp_state(x->x_wrk);
	json_t *meta, *tok, *caps;

	if (params == NULL || !json_is_object(params)) {
		json_decref(params);
		params = json_object();
	}
	/* A 2026-07-28 client of one stateless server speaks to it through
	 * us: the server hears what the client can do (its input_required
	 * answers reach the client intact); anyone else's request reaches
	 * a server as ours, which can do none of it. */
	caps = x->x_modern && x->x_server[0] != '\0' && upstream_stateless(u) ?
	    json_incref(json_object_get(json_object_get(params, "_meta"),
	    MCP_META_CAPS)) : NULL;
	mcp_meta_strip(params);
	if (json_is_object(caps)) {
		if (!json_is_object(json_object_get(params, "_meta")))
			json_object_set_new(params, "_meta", json_object());
		json_object_set(json_object_get(params, "_meta"),
		    MCP_META_CAPS, caps);
	}
	json_decref(caps);
	meta = json_object_get(params, "_meta");
	tok = json_object_get(meta, "progressToken");
	if (st != NULL && (json_is_string(tok) || json_is_integer(tok))) {
		op->op_client_token = json_incref(tok);
		snprintf(op->op_token, sizeof(op->op_token),
		    "dataagent-%llu", (unsigned long long)++st->st_next);
		json_object_set_new(meta, "progressToken",
		    json_string(op->op_token));
	}
	snprintf(op->op_server, sizeof(op->op_server), "%s", upstream_name(u));
	op->op_start_ms = now_mono_ms();
	op->op_call = upstream_request(u, method, params, 0, mcp_on_forward,
	    op);
	if (op->op_call == NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
		return 0;
	}
	return 1;
}

/* A tools/call: counted, and audited with its arguments' size (and the
 * arguments themselves when audit_arguments is on). */
static void
mcp_op_tool(struct mcp_op *op, const json_t *params, const char *tool)
{
	json_t *args = json_object_get(params, "arguments");

	op->op_is_tool = 1;
	op->op_tool = strdup(tool != NULL ? tool : "");
	if (json_is_object(args))
		op->op_args = json_incref(args);
}

/*
 * Whether tools/call of tool (u's own name; shown is the name the client
 * used) may go to u. When the tool lists refuse it, op is answered with
 * an invalid-params error, as MCP answers a tool a server does not have,
 * saying so, and the refusal is audited. Returns 1 (go on) or 0.
 */
static int
mcp_tool_check(struct mcp_xchg *x, struct mcp_op *op, struct upstream *u,
    const json_t *params, const char *tool, const char *shown)
{
	const char *why = NULL;
	json_t *err, *args = json_object_get(params, "arguments");
	char msg[512];

	if (tool == NULL || upstream_tool_allowed(u, tool, &why))
		return 1;
	snprintf(msg, sizeof(msg), "tool %.400s is not allowed for this "
	    "tenant", shown);
	err = mcp_error_obj(RPC_INVALID_PARAMS, msg);
	json_object_set_new(err, "data", json_pack("{s:s,s:s,s:s}", "server",
	    upstream_name(u), "tool", tool, "policy", why));
	op->op_response = mcp_error_response(op->op_id, err);
	toolstats_call_refused(x->x_wrk, upstream_name(u), tool, why,
	    json_is_object(args) ? args : NULL, x->x_request_id);
	return 0;
}

/* Answers op with an invalid-params error naming what is unknown. */
static int
mcp_unknown(struct mcp_op *op, const char *what, const char *name)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "Unknown %s: %.400s", what,
	    name != NULL ? name : "(none)");
	op->op_response = mcp_error_response(op->op_id,
	    mcp_error_obj(RPC_INVALID_PARAMS, msg));
	return 0;
}

/*
 * A request that names one server's item by a namespaced name: field
 * (within params, or within params.ref for completion) is split, the
 * server's own name put back, and the request forwarded.
 */
static int
mcp_routed(struct mcp_xchg *x, struct mcp_op *op, const char *method,
    json_t *params, json_t *holder, const char *field, const char *what)
{
	const char *full, *own;
	struct upstream *u;
	json_t *fwd, *h;

	full = json_string_value(json_object_get(holder, field));
	if (!json_is_object(params) || full == NULL) {
		char msg[128];

		snprintf(msg, sizeof(msg), "params: %s must be a string",
		    field);
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_PARAMS, msg));
		return 0;
	}
	if ((strcmp(field, "uri") == 0 ? agg_uri_split(full, op->op_server,
	    sizeof(op->op_server), &own) : agg_split_name(full,
	    op->op_server, sizeof(op->op_server), &own)) == -1 ||
	    (u = upstream_find(x->x_wrk, op->op_server))
	    == NULL || !upstream_enabled(u))
		return mcp_unknown(op, what, full);
	if ((fwd = json_deep_copy(params)) == NULL) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
		return 0;
	}
	if (strcmp(method, "tools/call") == 0 &&
	    !mcp_tool_check(x, op, u, params, own, full)) {
		json_decref(fwd);
		return 0;
	}
	h = holder == params ? fwd : json_object_get(fwd, "ref");
	json_object_set_new(h, field, json_string(own));
	if (strcmp(method, "tools/call") == 0)
		mcp_op_tool(op, params, own);
	return mcp_forward(x, op, u, method, fwd);
}

static int
mcp_tools_call(struct mcp_xchg *x, struct mcp_op *op, json_t *params)
{
	json_t *args = json_object_get(params, "arguments");

	if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_PARAMS, "params.arguments must "
		    "be an object"));
		return 0;
	}
	return mcp_routed(x, op, "tools/call", params, params, "name",
	    "tool");
}

static int
mcp_complete(struct mcp_xchg *x, struct mcp_op *op, json_t *params)
{
	json_t *ref = json_object_get(params, "ref");
	const char *type = json_string_value(json_object_get(ref, "type"));

	if (type != NULL && strcmp(type, "ref/prompt") == 0)
		return mcp_routed(x, op, "completion/complete", params, ref,
		    "name", "prompt");
	if (type != NULL && strcmp(type, "ref/resource") == 0)
		return mcp_routed(x, op, "completion/complete", params, ref,
		    "uri", "resource");
	op->op_response = mcp_error_response(op->op_id, mcp_error_obj(
	    RPC_INVALID_PARAMS, "params.ref must be a ref/prompt or a "
	    "ref/resource"));
	return 0;
}

/* What we serve, in one object (initialize and server/discover). */
static json_t *
mcp_capabilities(void)
{
	return json_pack("{s:{s:b},s:{s:b,s:b},s:{s:b},s:{},s:{}}",
	    "tools", "listChanged", 1,
	    "resources", "listChanged", 1, "subscribe", 0,
	    "prompts", "listChanged", 1,
	    "completions", "logging");
}

static json_t *
mcp_initialize_result(const char *version)
{
	return json_pack("{s:s,s:o,s:{s:s,s:s}}",
	    "protocolVersion", version, "capabilities", mcp_capabilities(),
	    "serverInfo", "name", "dataagent", "version", DATAAGENT_VERSION);
}

static json_t *
mcp_discover_result(void)
{
	return json_pack("{s:[s,s,s,s],s:o}", "supportedVersions",
	    MCP_MODERN_VERSION, "2025-11-25", "2025-06-18", "2025-03-26",
	    "capabilities", mcp_capabilities());
}

static void
mcp_on_set_level(json_t *result, json_t *error, void *arg)
{
	/* Best effort: servers without logging say so, nobody waits. */
}

/* Methods of the stateful revisions that 2026-07-28 removed (initialize
 * is answered apart). */
static int
mcp_modern_removed(const char *m)
{
	return strcmp(m, "ping") == 0 || strcmp(m, "logging/setLevel") == 0 ||
	    strcmp(m, "resources/subscribe") == 0 ||
	    strcmp(m, "resources/unsubscribe") == 0;
}

/*
 * Starts one request on the aggregated endpoint. Returns 1 when it waits
 * for upstreams, 0 when op_response is already set.
 */
static int
mcp_op_start(struct mcp_xchg *x, struct mcp_op *op, const char *method,
    json_t *params)
{
	struct wrk *w = x->x_wrk;
	struct mcp_state *st = mcp_state(w);
	const char *cursor;

	if (x->x_server[0] != '\0') {
		struct upstream *u = upstream_find(w, x->x_server);

		if (u == NULL || !upstream_enabled(u)) {
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_SERVER_ERROR, "server is gone"));
			return 0;
		}
		if (!x->x_modern && strcmp(method, "ping") == 0) {
			op->op_response = mcp_result_response(op->op_id,
			    json_object());
			return 0;
		}
		if (x->x_modern && mcp_modern_removed(method)) {
			/* Whatever the server speaks, its 2026-07-28 face
			 * has no such method. */
			x->x_status = 404;
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_METHOD_NOT_FOUND, "Method not "
			    "found"));
			return 0;
		}
		if (strcmp(method, "initialize") == 0) {
			/* The server's session is ours; a client's initialize
			 * is only ever answered here, alone. */
			if (x->x_modern)
				x->x_status = 404;
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(x->x_modern ? RPC_METHOD_NOT_FOUND :
			    RPC_INVALID_REQUEST, x->x_modern ? "Method not "
			    "found" : "initialize must not be part of a batch"));
			return 0;
		}
		if (x->x_modern && strcmp(method, "server/discover") == 0) {
			json_t *res = mcp_discover_result();
			json_t *info = upstream_server_info(u);

			/* What the server itself said it can do, once known. */
			if (res != NULL && json_is_object(json_object_get(info,
			    "capabilities")))
				json_object_set_new(res, "capabilities",
				    json_deep_copy(json_object_get(info,
				    "capabilities")));
			op->op_response = mcp_result_response(op->op_id, res);
			return 0;
		}
		if (strcmp(method, "tools/call") == 0) {
			const char *tool = json_string_value(json_object_get(
			    params, "name"));

			if (!mcp_tool_check(x, op, u, params, tool, tool))
				return 0;
			mcp_op_tool(op, params, tool);
		}
		if (strcmp(method, "tools/list") == 0)
			op->op_rewrite = RW_TOOLS;
		return mcp_forward(x, op, u, method, json_deep_copy(params));
	}
	if (!x->x_modern && strcmp(method, "ping") == 0) {
		op->op_response = mcp_result_response(op->op_id, json_object());
		return 0;
	}
	if (x->x_modern && strcmp(method, "server/discover") == 0) {
		op->op_response = mcp_result_response(op->op_id,
		    mcp_discover_result());
		return 0;
	}
	if (strcmp(method, "tools/list") == 0) {
		if (json_object_get(params, "cursor") != NULL &&
		    !json_is_null(json_object_get(params, "cursor"))) {
			/* One page holds every tool: no cursor is ours. */
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_INVALID_PARAMS,
			    "Invalid cursor"));
			return 0;
		}
		op->op_agg = agg_tools_start(w, mcp_on_tools_list, op);
		if (op->op_agg == NULL) {
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
			return 0;
		}
		return 1;
	}
	if (strcmp(method, "resources/list") == 0 ||
	    strcmp(method, "resources/templates/list") == 0 ||
	    strcmp(method, "prompts/list") == 0) {
		cursor = json_string_value(json_object_get(params, "cursor"));
		if (st == NULL || (op->op_page = agg_page_start(w, method,
		    cursor, st->st_cursor_key, mcp_on_page, op)) == NULL) {
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_INTERNAL_ERROR, "out of memory"));
			return 0;
		}
		return 1;
	}
	if (strcmp(method, "tools/call") == 0)
		return mcp_tools_call(x, op, params);
	if (strcmp(method, "prompts/get") == 0)
		return mcp_routed(x, op, method, params, params, "name",
		    "prompt");
	if (strcmp(method, "resources/read") == 0) {
		op->op_rewrite = RW_READ;
		return mcp_routed(x, op, method, params, params, "uri",
		    "resource");
	}
	if (!x->x_modern && (strcmp(method, "resources/subscribe") == 0 ||
	    strcmp(method, "resources/unsubscribe") == 0))
		return mcp_routed(x, op, method, params, params, "uri",
		    "resource");
	if (strcmp(method, "completion/complete") == 0)
		return mcp_complete(x, op, params);
	if (!x->x_modern && strcmp(method, "logging/setLevel") == 0) {
		struct upstream *u;

		/* Every running server logs at that level from now on. */
		for (u = w->w_upstreams; u != NULL; u = upstream_next(u)) {
			struct upstream_call *c;

			if (upstream_state(u) != UP_READY)
				continue;
			c = upstream_request(u, method, json_deep_copy(params),
			    0, mcp_on_set_level, NULL);
			(void)c;	/* answered, never cancelled */
		}
		op->op_response = mcp_result_response(op->op_id,
		    json_object());
		return 0;
	}
	if (strcmp(method, "initialize") == 0) {
		/* Only valid alone, handled before we get here. */
		op->op_response = mcp_error_response(op->op_id,
		    mcp_error_obj(RPC_INVALID_REQUEST, "initialize must not "
		    "be part of a batch"));
		return 0;
	}
	if (x->x_modern)
		x->x_status = 404;
	op->op_response = mcp_error_response(op->op_id,
	    mcp_error_obj(RPC_METHOD_NOT_FOUND, "Method not found"));
	return 0;
}

/* ------------------------------------------------- upstream -> client */

/* The op whose upstream request carries progress token tok from u. */
static struct mcp_op *
mcp_op_by_token(struct wrk *w, struct upstream *u, const char *tok)
{
	struct mcp_xchg *x;
	size_t i;

	if (w->w_mcp == NULL || tok == NULL)
		return NULL;
	for (x = w->w_mcp->st_xchgs; x != NULL; x = x->x_next)
		for (i = 0; i < x->x_nops; i++)
			if (x->x_ops[i].op_token[0] != '\0' &&
			    strcmp(x->x_ops[i].op_token, tok) == 0 &&
			    strcmp(x->x_ops[i].op_server, upstream_name(u))
			    == 0)
				return &x->x_ops[i];
	return NULL;
}

/* ue_notification: a notification from upstream u (msg borrowed):
 * progress, logging, list changes are forwarded to the clients they
 * concern. */
static void
mcp_upstream_notification(struct wrk *w, struct upstream *u, json_t *msg)
{
	const char *method = json_string_value(json_object_get(msg,
	    "method"));
	json_t *params = json_object_get(msg, "params"), *copy, *p;
	struct mcp_op *op;
	size_t n;

	if (method == NULL)
		return;
	if (strcmp(method, "notifications/progress") == 0) {
		/* To the request it concerns, with the client's token. */
		op = mcp_op_by_token(w, u, json_string_value(json_object_get(
		    params, "progressToken")));
		if (op == NULL || op->op_client_token == NULL ||
		    (copy = json_deep_copy(msg)) == NULL)
			return;
		p = json_object_get(copy, "params");
		json_object_set(p, "progressToken", op->op_client_token);
		(void)mcp_xchg_event(op->op_x, copy);
		json_decref(copy);
		return;
	}
	if (strcmp(method, "notifications/cancelled") == 0)
		return;		/* about requests of ours: nothing to tell */
	n = strlen(method);
	if ((n > strlen("/list_changed") && strcmp(method + n -
	    strlen("/list_changed"), "/list_changed") == 0) ||
	    strcmp(method, "notifications/message") == 0) {
		/* Aggregated sessions hear every server's changes and logs. */
		mcp_broadcast(w, u, msg, NULL);
		if (strcmp(method, "notifications/message") != 0)
			mcp_listeners_notify(w, u, method, NULL, NULL);
		return;
	}
	if (strcmp(method, "notifications/resources/updated") == 0) {
		const char *uri = json_string_value(json_object_get(params,
		    "uri"));
		char *full;

		copy = NULL;
		if (uri != NULL && (full = agg_uri_wrap(upstream_name(u),
		    uri)) != NULL) {
			if ((copy = json_deep_copy(msg)) != NULL)
				json_object_set_new(json_object_get(copy,
				    "params"), "uri", json_string(full));
			free(full);
		}
		mcp_broadcast(w, u, msg, copy);
		mcp_listeners_notify(w, u, method, json_string_value(
		    json_object_get(json_object_get(copy, "params"), "uri")),
		    uri);
		json_decref(copy);
		return;
	}
	/* Anything else only to those who see this server unchanged. */
	{
		struct mcp_session *s;

		for (s = w->w_sessions; s != NULL; s = s->ms_next)
			if (s->ms_stream != NULL && strcmp(s->ms_server,
			    upstream_name(u)) == 0)
				mcp_stream_event(s->ms_stream, msg);
	}
}

/* The capability a server request needs of the client, or NULL. */
static const char *
mcp_request_capability(const char *method)
{
	if (strcmp(method, "sampling/createMessage") == 0)
		return "sampling";
	if (strcmp(method, "elicitation/create") == 0)
		return "elicitation";
	if (strcmp(method, "roots/list") == 0)
		return "roots";
	return NULL;
}

/* An SSE answer in flight on session s with a call to server. */
static struct mcp_xchg *
mcp_session_xchg(struct wrk *w, const struct mcp_session *s,
    const char *server)
{
	struct mcp_xchg *x;
	size_t i;

	if (w->w_mcp == NULL)
		return NULL;
	for (x = w->w_mcp->st_xchgs; x != NULL; x = x->x_next) {
		if (!x->x_sse || x->x_req == NULL ||
		    strcmp(x->x_session, s->ms_id) != 0)
			continue;
		for (i = 0; i < x->x_nops; i++)
			if (x->x_ops[i].op_call != NULL &&
			    strcmp(x->x_ops[i].op_server, server) == 0)
				return x;
	}
	return NULL;
}

/*
 * A request needing capability cap came from upstream u, and no stateful
 * client waits on u to be asked. A 2026-07-28 client cannot be asked on
 * its call's answer, and one that did not declare cap in its _meta must
 * hear MissingRequiredClientCapability (-32021, HTTP 400) instead of the
 * server relying on it. Which call asked is not on the wire (a stdio
 * server's request names none), so the rule is: when every 2026-07-28
 * call waiting on u lacks cap, the oldest is answered so and its upstream
 * call cancelled; when one has cap, nobody is (it may be the asker).
 * Returns 1 when a call was answered.
 */
static int
mcp_modern_missing_cap(struct wrk *w, struct upstream *u, const char *cap)
{
	struct mcp_xchg *x;
	struct mcp_op *op, *oldest = NULL;
	json_t *err;
	char msg[128];
	size_t i;

	if (w->w_mcp == NULL)
		return 0;
	for (x = w->w_mcp->st_xchgs; x != NULL; x = x->x_next) {
		if (!x->x_modern || x->x_req == NULL)
			continue;
		for (i = 0; i < x->x_nops; i++) {
			op = &x->x_ops[i];
			if (op->op_call == NULL || strcmp(op->op_server,
			    upstream_name(u)) != 0)
				continue;
			if (json_object_get(x->x_caps, cap) != NULL)
				return 0;
			if (oldest == NULL || op->op_start_ms <
			    oldest->op_start_ms)
				oldest = op;
		}
	}
	if (oldest == NULL)
		return 0;
	op = oldest;
	snprintf(msg, sizeof(msg), "Missing required client capability: %s",
	    cap);
	err = mcp_error_obj(RPC_MISSING_CAPABILITY, msg);
	json_object_set_new(err, "data", json_pack("{s:{s:{}}}",
	    "requiredCapabilities", cap));
	log_info("call refused: the client did not declare a capability the "
	    "server asked for", "{s:s,s:s,s:s}", "tenant", w->w_tenant,
	    "server", upstream_name(u), "capability", cap);
	upstream_call_cancel(&op->op_call);
	mcp_op_audit(op, 0, 0);
	op->op_x->x_status = 400;
	op->op_response = mcp_error_response(op->op_id, err);
	mcp_op_done(op);
	return 1;
}

/* ue_request: a request from upstream u (sampling, elicitation, ...;
 * msg borrowed). Returns 1 when it was relayed to a client (the answer
 * goes back later with upstream_respond), 0 when upstream.c should
 * answer it itself. */
static int
mcp_upstream_request(struct wrk *w, struct upstream *u, json_t *msg)
{
	const char *method = json_string_value(json_object_get(msg,
	    "method"));
	const char *cap = method != NULL ? mcp_request_capability(method) :
	    NULL;
	struct mcp_state *st = mcp_state(w);
	struct mcp_session *s, *best = NULL;
	struct mcp_xchg *x, *best_x = NULL;
	struct mcp_relay *rl;
	json_t *fwd;
	int score, best_score = 0;

	if (cap == NULL || st == NULL || st->st_nrelays >= MCP_MAX_RELAYS)
		return 0;
	/*
	 * Who is asked: a stateful client that declared the capability and
	 * has a way to hear us, preferring one waiting on this server
	 * (the request is most likely about its call), then one that sees
	 * this server alone (passthrough).
	 */
	for (s = w->w_sessions; s != NULL; s = s->ms_next) {
		if (!mcp_session_hears(s, upstream_name(u)) ||
		    json_object_get(s->ms_caps, cap) == NULL)
			continue;
		x = mcp_session_xchg(w, s, upstream_name(u));
		if (x == NULL && s->ms_stream == NULL)
			continue;
		score = (x != NULL ? 4 : 0) + (s->ms_server[0] != '\0' ? 2 :
		    0) + 1;
		if (score > best_score) {
			best = s;
			best_x = x;
			best_score = score;
		}
	}
	/* Refused to the server either way (upstream.c answers it). */
	if (best_x == NULL && mcp_modern_missing_cap(w, u, cap))
		return 0;
	if (best == NULL || (rl = calloc(1, sizeof(*rl))) == NULL)
		return 0;
	snprintf(rl->rl_id, sizeof(rl->rl_id), "dataagent-relay-%llu",
	    (unsigned long long)++st->st_next);
	snprintf(rl->rl_session, sizeof(rl->rl_session), "%s", best->ms_id);
	snprintf(rl->rl_server, sizeof(rl->rl_server), "%s", upstream_name(u));
	rl->rl_up_id = json_incref(json_object_get(msg, "id"));
	rl->rl_start_ms = now_mono_ms();
	fwd = json_pack("{s:s,s:s,s:s}", "jsonrpc", "2.0", "id", rl->rl_id,
	    "method", method);
	if (fwd == NULL) {
		json_decref(rl->rl_up_id);
		free(rl);
		return 0;
	}
	if (json_object_get(msg, "params") != NULL)
		json_object_set(fwd, "params", json_object_get(msg, "params"));
	if (best_x == NULL || mcp_xchg_event(best_x, fwd) == -1)
		mcp_stream_event(best->ms_stream, fwd);
	json_decref(fwd);
	rl->rl_next = st->st_relays;
	st->st_relays = rl;
	st->st_nrelays++;
	log_debug("server request relayed to a client", "{s:s,s:s,s:s}",
	    "tenant", w->w_tenant, "server", upstream_name(u), "method",
	    method);
	return 1;
}

/* The session ends: its relayed requests are refused to the servers. */
static void
mcp_relay_drop_session(struct wrk *w, const char *session)
{
	struct mcp_relay **pp = &w->w_mcp->st_relays, *rl;
	struct upstream *u;

	while ((rl = *pp) != NULL) {
		if (strcmp(rl->rl_session, session) != 0) {
			pp = &rl->rl_next;
			continue;
		}
		*pp = rl->rl_next;
		w->w_mcp->st_nrelays--;
		if ((u = upstream_find(w, rl->rl_server)) != NULL)
			(void)upstream_respond(u, rl->rl_up_id, NULL,
			    mcp_error_obj(RPC_INTERNAL_ERROR, "the client "
			    "session ended"));
		json_decref(rl->rl_up_id);
		free(rl);
	}
}

/* A response the client POSTed: the answer to a relayed request. */
static void
mcp_client_response(struct wrk *w, struct mcp_session *s, json_t *m)
{
	const char *id = json_string_value(json_object_get(m, "id"));
	struct mcp_relay **pp, *rl;
	struct upstream *u;
	json_t *error = json_object_get(m, "error");

	if (id == NULL || w->w_mcp == NULL)
		return;
	for (pp = &w->w_mcp->st_relays; (rl = *pp) != NULL;
	    pp = &rl->rl_next)
		if (strcmp(rl->rl_id, id) == 0 &&
		    strcmp(rl->rl_session, s->ms_id) == 0)
			break;
	if (rl == NULL)
		return;
	*pp = rl->rl_next;
	w->w_mcp->st_nrelays--;
	if ((u = upstream_find(w, rl->rl_server)) != NULL)
		(void)upstream_respond(u, rl->rl_up_id, error != NULL ? NULL :
		    json_incref(json_object_get(m, "result")), error != NULL ?
		    json_incref(error) : NULL);
	json_decref(rl->rl_up_id);
	free(rl);
}

/* notifications/cancelled from the client: the upstream hears it with
 * its own request id, and the request ends with an error. */
static void
mcp_client_cancel(struct wrk *w, struct mcp_session *s, json_t *params)
{
	json_t *rid = json_object_get(params, "requestId");
	struct mcp_xchg *x, *next;
	size_t i;

	if (rid == NULL || w->w_mcp == NULL)
		return;
	for (x = w->w_mcp->st_xchgs; x != NULL; x = next) {
		next = x->x_next;
		if (strcmp(x->x_session, s->ms_id) != 0)
			continue;
		for (i = 0; i < x->x_nops; i++) {
			struct mcp_op *op = &x->x_ops[i];

			if (op->op_call == NULL || !json_equal(op->op_id, rid))
				continue;
			log_info("client cancelled a request", "{s:s,s:s}",
			    "tenant", w->w_tenant, "server", op->op_server);
			upstream_call_cancel(&op->op_call);
			mcp_op_audit(op, 0, 1);
			op->op_response = mcp_error_response(op->op_id,
			    mcp_error_obj(RPC_SERVER_ERROR, "Request "
			    "cancelled"));
			mcp_op_done(op);
			return;
		}
	}
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

#define ACCEPT_JSON	1
#define ACCEPT_SSE	2

/* What the Accept header lets us answer (ACCEPT_*), -1 for neither. A
 * client that takes both gets JSON unless something must go out before
 * the answer (progress, a relayed request): then the answer streams. */
static int
mcp_accept(const struct http_req *r)
{
	const char *a = http_header(r, "accept");
	int f = 0;

	if (a == NULL)
		return ACCEPT_JSON;
	if (strcasestr(a, "application/json") != NULL ||
	    strcasestr(a, "application/*") != NULL || strstr(a, "*/*") != NULL)
		f |= ACCEPT_JSON;
	if (strcasestr(a, "text/event-stream") != NULL ||
	    strcasestr(a, "text/*") != NULL || strstr(a, "*/*") != NULL)
		f |= ACCEPT_SSE;
	return f != 0 ? f : -1;
}

static struct mcp_xchg *
mcp_xchg_new(struct wrk *w, struct http_req *r, size_t nops, int sse,
    const char *server)
{
	struct mcp_xchg *x;

	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->x_ops = calloc(nops, sizeof(*x->x_ops))) == NULL) {
		free(x);
		return NULL;
	}
	x->x_wrk = w;
	x->x_req = r;
	x->x_sse = (sse & ACCEPT_SSE) != 0;
	x->x_json = (sse & ACCEPT_JSON) != 0;
	snprintf(x->x_server, sizeof(x->x_server), "%s", server);
	mcp_xchg_link(w, x);
	return x;
}

/* Answers later from the event loop, or now when nothing waits. */
static void
mcp_xchg_go(struct mcp_xchg *x, struct http_req *r)
{
	if (x->x_waiting == 0) {
		mcp_xchg_reply(x);
		return;
	}
	r->hr_on_abort = mcp_on_abort;
	r->hr_abort_arg = x;
}

static void
mcp_initialize_reply(struct http_req *r, const char *hdr, json_t *resp,
    int sse)
{
	char *str, *body;
	int n;

	if (sse & ACCEPT_JSON) {
		http_reply_json(r, 200, hdr, resp);
		return;
	}
	str = resp != NULL ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	if (str == NULL || (n = asprintf(&body, "event: message\ndata: %s\n\n",
	    str)) == -1) {
		free(str);
		mcp_reply_rpc_error(r, 500, hdr, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	free(str);
	http_reply(r, 200, hdr, "text/event-stream", body, (size_t)n);
	free(body);
}

/* Passthrough initialize: the server's own answer, once it runs. */
struct mcp_init {
	struct wrk *in_wrk;
	struct http_req *in_req;
	struct upstream_call *in_call;
	json_t *in_id;
	int in_sse;
	char in_server[65];
	char in_session[65];
	char in_version[16];
};

static void
mcp_init_free(struct mcp_init **ip)
{
	struct mcp_init *in = *ip;

	if (in == NULL)
		return;
	upstream_call_cancel(&in->in_call);
	json_decref(in->in_id);
	free(in);
	*ip = NULL;
}

static void
mcp_init_abort(struct http_req *r, void *arg)
{
	struct mcp_init *in = arg;

	mcp_init_free(&in);
}

/*
 * A stateless server's server/discover result (borrowed) as the
 * initialize result a stateful client expects of it: its capabilities
 * and instructions, and serverInfo from the result's _meta (the server's
 * name when it gives none). Returns a new object.
 */
static json_t *
mcp_init_from_discover(const json_t *discover, const char *server)
{
	json_t *res, *info, *v;

	info = json_object_get(json_object_get(discover, "_meta"),
	    MCP_META_SERVERINFO);
	v = json_object_get(discover, "capabilities");
	res = json_pack("{s:o,s:o}", "capabilities", json_is_object(v) ?
	    json_deep_copy(v) : json_object(), "serverInfo",
	    json_is_string(json_object_get(info, "name")) &&
	    json_is_string(json_object_get(info, "version")) ?
	    json_deep_copy(info) : json_pack("{s:s,s:s}", "name", server,
	    "version", "unknown"));
	if (res != NULL && json_is_string(v = json_object_get(discover,
	    "instructions")))
		json_object_set(res, "instructions", v);
	return res;
}

static void
mcp_init_cb(json_t *result, json_t *error, void *arg)
{
	struct mcp_init *in = arg;
	struct http_req *r = in->in_req;
	struct upstream *u = upstream_find(in->in_wrk, in->in_server);
	json_t *info = u != NULL ? upstream_server_info(u) : NULL, *res;
	char hdr[MCP_HDR_LEN];
	struct mcp_session *s;

	in->in_call = NULL;
	r->hr_on_abort = NULL;
	r->hr_abort_arg = NULL;
	snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n", in->in_session);
	if (error != NULL || info == NULL) {
		if ((s = mcp_session_find(in->in_wrk, in->in_session)) != NULL)
			mcp_session_free(in->in_wrk, &s);
		mcp_initialize_reply(r, NULL, mcp_error_response(in->in_id,
		    json_deep_copy(error != NULL ? error : json_pack(
		    "{s:i,s:s}", "code", RPC_INTERNAL_ERROR, "message",
		    "server did not start"))), in->in_sse);
		mcp_init_free(&in);
		return;
	}
	res = upstream_stateless(u) ? mcp_init_from_discover(info,
	    in->in_server) : json_deep_copy(info);
	json_object_set_new(res, "protocolVersion", json_string(
	    in->in_version));
	mcp_initialize_reply(r, hdr, mcp_result_response(in->in_id, res),
	    in->in_sse);
	mcp_init_free(&in);
}

static void
mcp_initialize(struct wrk *w, struct http_req *r, json_t *msg, int sse,
    const char *server)
{
	const char *want;
	const char *version = MCP_LATEST_VERSION;
	struct mcp_session *s;
	char hdr[MCP_HDR_LEN];
	json_t *params = json_object_get(msg, "params");
	const char *client = json_string_value(json_object_get(json_object_get(
	    params, "clientInfo"), "name"));
	struct upstream *u = NULL;
	struct mcp_init *in;

	want = json_string_value(json_object_get(params, "protocolVersion"));
	if (want != NULL && mcp_version_supported(want))
		version = want;
	if (server[0] != '\0' && ((u = upstream_find(w, server)) == NULL ||
	    !upstream_enabled(u))) {
		mcp_reply_rpc_error(r, 404, NULL, RPC_SERVER_ERROR,
		    "no such server");
		return;
	}
	if ((s = mcp_session_new(w, version, server, json_object_get(params,
	    "capabilities"))) == NULL) {
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "cannot create a session");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n", s->ms_id);
	log_info("mcp session started", "{s:s,s:s,s:s,s:s}", "tenant",
	    w->w_tenant, "protocol", version, "client", client != NULL ?
	    client : "?", "server", server[0] != '\0' ? server : "*");
	if (u == NULL) {
		mcp_initialize_reply(r, hdr, mcp_result_response(
		    json_object_get(msg, "id"), mcp_initialize_result(version)),
		    sse);
		return;
	}
	/* A ping starts the server if needed; its initialize result is
	 * then known. A stateless server has no ping: server/discover. */
	if ((in = calloc(1, sizeof(*in))) == NULL) {
		mcp_session_free(w, &s);
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	in->in_wrk = w;
	in->in_req = r;
	in->in_sse = sse;
	in->in_id = json_incref(json_object_get(msg, "id"));
	snprintf(in->in_server, sizeof(in->in_server), "%s", server);
	snprintf(in->in_session, sizeof(in->in_session), "%s", s->ms_id);
	snprintf(in->in_version, sizeof(in->in_version), "%s", version);
	in->in_call = upstream_request(u, upstream_stateless(u) ?
	    "server/discover" : "ping", NULL, 0, mcp_init_cb, in);
	if (in->in_call == NULL) {
		mcp_init_free(&in);
		mcp_session_free(w, &s);
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	r->hr_on_abort = mcp_init_abort;
	r->hr_abort_arg = in;
}

/*
 * 404 for a session this worker does not have, which tells a client to
 * start a new one (initialize). When the id names another host (several
 * hosts behind a balancer; the tenant moved), the message says which.
 */
static void
mcp_session_not_found(struct wrk *w, struct http_req *r, const char *sid,
    const json_t *id)
{
	char node[NODE_NAME_MAX + 1], msg[192];
	const char *dot = strchr(sid, '.');

	if (dot != NULL && (size_t)(dot - sid) <= NODE_NAME_MAX) {
		snprintf(node, sizeof(node), "%.*s", (int)(dot - sid), sid);
		if (node_name_valid(node) && strcmp(node, w->w_node) != 0) {
			snprintf(msg, sizeof(msg), "Session not found: it "
			    "belongs to dataagent host %s, this is %s; start "
			    "a new session", node, w->w_node);
			mcp_reply_rpc_error_id(r, 404, NULL, id,
			    RPC_NO_SESSION, msg);
			return;
		}
	}
	mcp_reply_rpc_error_id(r, 404, NULL, id, RPC_NO_SESSION,
	    "Session not found");
}

/* Checks Mcp-Session-Id and MCP-Protocol-Version. Returns the session,
 * or NULL after answering (with id, the request's, or NULL). *version_r
 * is what this request speaks. */
static struct mcp_session *
mcp_session_check(struct wrk *w, struct http_req *r, const char *server,
    const json_t *id, const char **version_r)
{
	const char *sid, *pv;
	struct mcp_session *s;
	char msg[256];

	sid = http_header(r, "mcp-session-id");
	if (sid == NULL) {
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_SERVER_ERROR,
		    "Bad Request: Mcp-Session-Id header is required");
		return NULL;
	}
	if ((s = mcp_session_find(w, sid)) == NULL ||
	    strcmp(s->ms_server, server) != 0) {
		mcp_session_not_found(w, r, sid, id);
		return NULL;
	}
	pv = http_header(r, "mcp-protocol-version");
	if (pv != NULL && !mcp_version_supported(pv)) {
		snprintf(msg, sizeof(msg), "Bad Request: Unsupported protocol "
		    "version: %.64s (supported: 2025-03-26, 2025-06-18, "
		    "2025-11-25)", pv);
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_SERVER_ERROR, msg);
		return NULL;
	}
	*version_r = pv != NULL ? pv : s->ms_version[0] != '\0' ?
	    s->ms_version : MCP_DEFAULT_VERSION;
	s->ms_last_ms = now_mono_ms();
	return s;
}

/* Decodes an "=?base64?...?=" header value. Returns a malloc'd string,
 * or NULL when it is malformed. Plain values are copied. */
static char *
mcp_header_value(const char *v)
{
	size_t n = strlen(v), len;
	uint8_t *raw;
	char *b, *out;

	if (n < 11 || strncmp(v, "=?base64?", 9) != 0 ||
	    strcmp(v + n - 2, "?=") != 0)
		return strdup(v);
	if ((b = strndup(v + 9, n - 11)) == NULL)
		return NULL;
	if (b64_decode(b, 65536, &raw, &len) == -1) {
		free(b);
		return NULL;
	}
	free(b);
	if ((out = malloc(len + 1)) != NULL) {
		memcpy(out, raw, len);
		out[len] = '\0';
		if (strlen(out) != len) {
			free(out);
			out = NULL;
		}
	}
	free(raw);
	return out;
}

/* The methods of 2026-07-28 we serve. */
static int
mcp_modern_method(const char *m)
{
	static const char *const ms[] = {
		"server/discover", "tools/list", "tools/call",
		"resources/list", "resources/read", "resources/templates/list",
		"prompts/list", "prompts/get", "completion/complete",
		"subscriptions/listen",
	};
	size_t i;

	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (strcmp(m, ms[i]) == 0)
			return 1;
	return 0;
}

static void
mcp_listener_free(struct mcp_listener **lp)
{
	struct mcp_listener *li = *lp, **pp;
	struct wrk *w;

	if (li == NULL)
		return;
	w = li->li_wrk;
	if (w->w_mcp != NULL)
		for (pp = &w->w_mcp->st_listeners; *pp != NULL;
		    pp = &(*pp)->li_next)
			if (*pp == li) {
				*pp = li->li_next;
				break;
			}
	json_decref(li->li_id);
	json_decref(li->li_uris);
	free(li);
	*lp = NULL;
}

/* The stream ends: the client closed it (that is its cancellation), or
 * the worker drains, when a graceful completion goes out first. */
static void
mcp_listener_abort(struct http_req *r, void *arg)
{
	struct mcp_listener *li = arg;
	json_t *m;

	m = json_pack("{s:s,s:O,s:{s:s,s:{s:O}}}", "jsonrpc", "2.0", "id",
	    li->li_id, "result", "resultType", "complete", "_meta",
	    MCP_META_PREFIX "subscriptionId", li->li_id);
	if (m != NULL)
		mcp_stream_event(r, m);
	json_decref(m);
	mcp_listener_free(&li);
}

static void
mcp_on_subscribe(json_t *result, json_t *error, void *arg)
{
	/* Fire and forget: updates flow if the server agreed. */
}

/*
 * subscriptions/listen: the answer is a stream that stays open; its first
 * event acknowledges what we honour, later ones are the changes asked for.
 */
static void
mcp_listen(struct wrk *w, struct http_req *r, json_t *id, json_t *params,
    int sse, const char *server)
{
	struct mcp_state *st = mcp_state(w);
	json_t *filter = json_object_get(params, "notifications"), *v, *ack;
	struct mcp_listener *li;
	struct upstream *u;
	char srv[65];
	const char *own;
	size_t i;

	if (!(sse & ACCEPT_SSE)) {
		mcp_reply_rpc_error_id(r, 406, NULL, id, RPC_SERVER_ERROR,
		    "Not Acceptable: subscriptions/listen answers with "
		    "text/event-stream");
		return;
	}
	if (st == NULL || (li = calloc(1, sizeof(*li))) == NULL) {
		mcp_reply_rpc_error_id(r, 500, NULL, id, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	li->li_wrk = w;
	li->li_req = r;
	li->li_id = json_incref(id);
	snprintf(li->li_server, sizeof(li->li_server), "%s", server);
	li->li_tools = json_is_true(json_object_get(filter,
	    "toolsListChanged"));
	li->li_prompts = json_is_true(json_object_get(filter,
	    "promptsListChanged"));
	li->li_resources = json_is_true(json_object_get(filter,
	    "resourcesListChanged"));
	li->li_uris = json_array();
	json_array_foreach(json_object_get(filter, "resourceSubscriptions"),
	    i, v) {
		const char *uri = json_string_value(v);

		if (uri == NULL || json_array_size(li->li_uris) >= 256)
			continue;
		/* The server sends updates only for what it was asked. */
		if (server[0] != '\0') {
			u = upstream_find(w, server);
			own = uri;
		} else if (agg_uri_split(uri, srv, sizeof(srv), &own) == 0) {
			u = upstream_find(w, srv);
		} else {
			u = NULL;
		}
		if (u == NULL)
			continue;
		(void)upstream_request(u, "resources/subscribe", json_pack(
		    "{s:s}", "uri", own), 0, mcp_on_subscribe, NULL);
		json_array_append(li->li_uris, v);
	}
	li->li_next = st->st_listeners;
	st->st_listeners = li;
	ack = json_pack("{s:s,s:s,s:{s:{s:O},s:{}}}", "jsonrpc", "2.0",
	    "method", "notifications/subscriptions/acknowledged", "params",
	    "_meta", MCP_META_PREFIX "subscriptionId", id, "notifications");
	if (ack != NULL) {
		json_t *n = json_object_get(json_object_get(ack, "params"),
		    "notifications");

		if (li->li_tools)
			json_object_set_new(n, "toolsListChanged", json_true());
		if (li->li_prompts)
			json_object_set_new(n, "promptsListChanged",
			    json_true());
		if (li->li_resources)
			json_object_set_new(n, "resourcesListChanged",
			    json_true());
		if (json_array_size(li->li_uris) > 0)
			json_object_set(n, "resourceSubscriptions",
			    li->li_uris);
	}
	http_stream_begin(r, 200, NULL, "text/event-stream");
	if (ack != NULL)
		mcp_stream_event(r, ack);
	json_decref(ack);
	r->hr_on_abort = mcp_listener_abort;
	r->hr_abort_arg = li;
	r->hr_endless = 1;
}

/*
 * A 2026-07-28 request: one message, its headers checked against its
 * body, no session. Takes body.
 */
static void
mcp_post_modern(struct wrk *w, struct http_req *r, json_t *body, int sse,
    const char *server)
{
	const char *pv = http_header(r, "mcp-protocol-version");
	const char *hm = http_header(r, "mcp-method");
	const char *hn = http_header(r, "mcp-name");
	json_t *params, *meta, *id;
	const char *method, *mv, *field = NULL, *bodyname;
	enum mcp_kind kind = mcp_classify(body);
	struct mcp_xchg *x;
	struct mcp_op *op;
	char msg[512], *name;

	id = kind == MSG_REQUEST ? json_object_get(body, "id") : NULL;
	if (kind != MSG_REQUEST && kind != MSG_NOTIFICATION) {
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_INVALID_REQUEST,
		    "Invalid Request: one JSON-RPC request or notification "
		    "per POST");
		goto out;
	}
	method = json_string_value(json_object_get(body, "method"));
	params = json_object_get(body, "params");
	meta = json_object_get(params, "_meta");
	mv = json_string_value(json_object_get(meta, MCP_META_VERSION));
	if (kind == MSG_NOTIFICATION) {
		/* No client notification is defined over HTTP here. */
		http_reply(r, 202, NULL, NULL, "", 0);
		goto out;
	}
	if (mv == NULL) {
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_INVALID_PARAMS,
		    "Invalid params: _meta." MCP_META_VERSION " is required");
		goto out;
	}
	if (pv == NULL || strcmp(pv, mv) != 0) {
		snprintf(msg, sizeof(msg), "Header mismatch: "
		    "MCP-Protocol-Version header value '%.40s' does not match "
		    "body value '%.40s'", pv != NULL ? pv : "(missing)", mv);
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_HEADER_MISMATCH,
		    msg);
		goto out;
	}
	if (hm == NULL || strcmp(hm, method) != 0) {
		snprintf(msg, sizeof(msg), "Header mismatch: Mcp-Method header "
		    "value '%.100s' does not match body value '%.100s'",
		    hm != NULL ? hm : "(missing)", method);
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_HEADER_MISMATCH,
		    msg);
		goto out;
	}
	if (strcmp(method, "tools/call") == 0 ||
	    strcmp(method, "prompts/get") == 0)
		field = "name";
	else if (strcmp(method, "resources/read") == 0)
		field = "uri";
	if (field != NULL) {
		bodyname = json_string_value(json_object_get(params, field));
		name = hn != NULL ? mcp_header_value(hn) : NULL;
		if (bodyname == NULL || name == NULL ||
		    strcmp(name, bodyname) != 0) {
			snprintf(msg, sizeof(msg), "Header mismatch: Mcp-Name "
			    "header value '%.100s' does not match body value "
			    "'%.100s'", hn != NULL ? hn : "(missing)",
			    bodyname != NULL ? bodyname : "(missing)");
			free(name);
			mcp_reply_rpc_error_id(r, 400, NULL, id,
			    RPC_HEADER_MISMATCH, msg);
			goto out;
		}
		free(name);
	}
	/* The headers agree with the body: only now is the version itself
	 * judged (a header that differs is -32020, not -32022). */
	if (!mcp_version_modern(mv) || strcmp(mv, MCP_MODERN_VERSION) != 0) {
		http_reply_json(r, 400, NULL, mcp_error_response(id, json_pack(
		    "{s:i,s:s,s:{s:[s,s,s,s],s:s}}", "code",
		    RPC_UNSUPPORTED_VERSION, "message", "Unsupported protocol "
		    "version", "data", "supported", MCP_MODERN_VERSION,
		    "2025-11-25", "2025-06-18", "2025-03-26", "requested",
		    mv)));
		goto out;
	}
	if (!mcp_modern_method(method) && server[0] == '\0') {
		mcp_reply_rpc_error_id(r, 404, NULL, id, RPC_METHOD_NOT_FOUND,
		    "Method not found");
		goto out;
	}
	if (!json_is_object(json_object_get(meta, MCP_META_CAPS))) {
		mcp_reply_rpc_error_id(r, 400, NULL, id, RPC_INVALID_PARAMS,
		    "Invalid params: _meta." MCP_META_CAPS " is required");
		goto out;
	}
	if (strcmp(method, "subscriptions/listen") == 0) {
		mcp_listen(w, r, id, params, sse, server);
		goto out;
	}
	if ((x = mcp_xchg_new(w, r, 1, sse, server)) == NULL) {
		mcp_reply_rpc_error_id(r, 500, NULL, id, RPC_INTERNAL_ERROR,
		    "out of memory");
		goto out;
	}
	x->x_modern = 1;
	x->x_caps = json_incref(json_object_get(meta, MCP_META_CAPS));
	op = &x->x_ops[x->x_nops++];
	op->op_x = x;
	op->op_id = json_incref(id);
	snprintf(x->x_method, sizeof(x->x_method), "%s", method);
	if (mcp_op_start(x, op, method, params))
		x->x_waiting++;
	mcp_xchg_go(x, r);
out:
	json_decref(body);
}

static void
mcp_post(struct wrk *w, struct http_req *r, const char *server)
{
	struct mcp_session *s;
	struct mcp_xchg *x;
	json_error_t jerr;
	json_t *body, *m, *meta;
	const char *version, *pv;
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
		/* U+0000: http_json_error says why it is refused. */
		mcp_reply_rpc_error(r, 400, NULL, RPC_PARSE_ERROR,
		    json_error_code(&jerr) == json_error_null_character ?
		    "Parse error: strings containing U+0000 (NUL) are not "
		    "accepted" : "Parse error");
		return;
	}

	/* 2026-07-28: said by the header, or by _meta without a session
	 * (whatever the header says: a version we do not know is answered
	 * in that revision's terms). */
	pv = http_header(r, "mcp-protocol-version");
	meta = json_object_get(json_object_get(body, "params"), "_meta");
	if (mcp_version_modern(pv) || (http_header(r, "mcp-session-id") ==
	    NULL && json_object_get(meta, MCP_META_VERSION) != NULL)) {
		mcp_post_modern(w, r, body, sse, server);
		return;
	}

	/* initialize alone: no session yet. */
	if (json_is_object(body) && mcp_classify(body) == MSG_REQUEST &&
	    strcmp(json_string_value(json_object_get(body, "method")),
	    "initialize") == 0) {
		mcp_initialize(w, r, body, sse, server);
		json_decref(body);
		return;
	}
	/* A single request's errors carry its id. */
	if ((s = mcp_session_check(w, r, server, mcp_classify(body) ==
	    MSG_REQUEST ? json_object_get(body, "id") : NULL, &version)) ==
	    NULL) {
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

	if ((x = mcp_xchg_new(w, r, json_array_size(body), sse, server)) ==
	    NULL) {
		json_decref(body);
		mcp_reply_rpc_error(r, 500, NULL, RPC_INTERNAL_ERROR,
		    "out of memory");
		return;
	}
	snprintf(x->x_request_id, sizeof(x->x_request_id), "%s",
	    r->hr_request_id);
	x->x_batch = batch;
	snprintf(x->x_session, sizeof(x->x_session), "%s", s->ms_id);
	snprintf(x->x_headers, sizeof(x->x_headers), "Mcp-Session-Id: %s\r\n",
	    s->ms_id);

	/* Classify first: invalid single messages are an HTTP 400, and a
	 * POST of only notifications and responses is a 202. */
	json_array_foreach(body, i, m) {
		kind = mcp_classify(m);
		if (kind == MSG_INVALID && !x->x_batch) {
			json_t *id = json_object_get(m, "id");

			x->x_req = NULL;
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
	/* Notifications and responses act at once. */
	json_array_foreach(body, i, m) {
		const char *method = json_string_value(json_object_get(m,
		    "method"));

		kind = mcp_classify(m);
		if (kind == MSG_RESPONSE) {
			mcp_client_response(w, s, m);
		} else if (kind == MSG_NOTIFICATION &&
		    strcmp(method, "notifications/cancelled") == 0) {
			mcp_client_cancel(w, s, json_object_get(m, "params"));
		} else if (kind == MSG_NOTIFICATION && server[0] != '\0' &&
		    strcmp(method, "notifications/initialized") != 0) {
			struct upstream *u = upstream_find(w, server);

			if (u != NULL)
				(void)upstream_notify(u, method,
				    json_incref(json_object_get(m, "params")));
		}
	}
	if (nreq == 0) {
		x->x_req = NULL;
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
	/* Answers come from the event loop, never before we return. */
	mcp_xchg_go(x, r);
}

/* ---------------------------------------------------------------- GET */

static void
mcp_stream_abort(struct http_req *r, void *arg)
{
	struct wrk *w = r->hr_wrk;
	struct mcp_session *s;

	for (s = w->w_sessions; s != NULL; s = s->ms_next)
		if (s->ms_stream == r)
			s->ms_stream = NULL;
}

/* The session's standalone SSE stream: what servers say unasked. */
static void
mcp_get(struct wrk *w, struct http_req *r, const char *server)
{
	struct mcp_session *s;
	const char *version, *a = http_header(r, "accept");
	char hdr[MCP_HDR_LEN];

	if (mcp_version_modern(http_header(r, "mcp-protocol-version"))) {
		mcp_reply_rpc_error(r, 405, "Allow: POST\r\n",
		    RPC_SERVER_ERROR, "Method Not Allowed");
		return;
	}
	if (a == NULL || strcasestr(a, "text/event-stream") == NULL) {
		mcp_reply_rpc_error(r, 406, NULL, RPC_SERVER_ERROR,
		    "Not Acceptable: Accept must include text/event-stream");
		return;
	}
	if ((s = mcp_session_check(w, r, server, NULL, &version)) == NULL)
		return;
	if (s->ms_stream != NULL) {
		mcp_reply_rpc_error(r, 409, NULL, RPC_SERVER_ERROR,
		    "Conflict: this session already has a stream open");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n", s->ms_id);
	http_stream_begin(r, 200, hdr, "text/event-stream");
	http_stream_write(r, ": stream open\n\n", 16);
	s->ms_stream = r;
	r->hr_on_abort = mcp_stream_abort;
	r->hr_abort_arg = NULL;
	r->hr_endless = 1;
}

/* ------------------------------------------------------------- DELETE */

static void
mcp_delete(struct wrk *w, struct http_req *r, const char *server)
{
	struct mcp_session *s;
	const char *version;

	if ((s = mcp_session_check(w, r, server, NULL, &version)) == NULL)
		return;
	log_info("mcp session ended", "{s:s}", "tenant", w->w_tenant);
	mcp_session_free(w, &s);
	http_reply(r, 204, NULL, NULL, "", 0);
}

static void
mcp_dispatch(struct wrk *w, struct http_req *r, const char *server)
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
		mcp_post(w, r, server);
		break;
	case HTTP_GET:
		mcp_get(w, r, server);
		break;
	case HTTP_DELETE:
		mcp_delete(w, r, server);
		break;
	default:
		mcp_reply_rpc_error(r, 405, "Allow: GET, POST, DELETE\r\n",
		    RPC_SERVER_ERROR, "Method Not Allowed");
		break;
	}
}

void
mcp_handle(struct wrk *w, struct http_req *r)
{
	mcp_dispatch(w, r, "");
}

void
mcp_handle_server(struct wrk *w, struct http_req *r, const char *server)
{
	char name[65];
	size_t n = strcspn(server, "/");
	struct upstream *u;

	/* "{server}" or "{server}/". */
	if (n == 0 || n >= sizeof(name) || (server[n] == '/' &&
	    server[n + 1] != '\0')) {
		http_reply_error(r, 404, "not found");
		return;
	}
	memcpy(name, server, n);
	name[n] = '\0';
	if (!name_valid(name) || (u = upstream_find(w, name)) == NULL ||
	    !upstream_enabled(u)) {
		mcp_reply_rpc_error(r, 404, NULL, RPC_SERVER_ERROR,
		    "no such server");
		return;
	}
	mcp_dispatch(w, r, name);
}

static const struct up_events mcp_up_events = {
	.ue_tools_changed = mcp_tools_changed,
	.ue_notification = mcp_upstream_notification,
	.ue_request = mcp_upstream_request,
};

void
mcp_init(struct wrk *w)
{
	upstream_set_events(w, &mcp_up_events);
}
