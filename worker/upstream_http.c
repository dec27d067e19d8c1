/*
 * upstream_http.c: remote MCP servers, the transport of struct
 * upstream_int.h's up_http_transport (httpc.c carries the bytes).
 *
 * Remote upstreams speak the same JSON-RPC as stdio ones; only the
 * carrier differs. Streamable HTTP (transport "http", MCP 2025-03-26 and
 * later): every message is POSTed to the URL, the answer comes back as
 * a JSON body or as an event stream carrying it (and whatever the server
 * sends before it); Mcp-Session-Id from the initialize answer and
 * MCP-Protocol-Version go on every later request; a GET event stream
 * carries what the server starts by itself, when it offers one (405:
 * it does not); DELETE ends the session on close; a 404 for our session
 * means it is gone, and a new one is started with the calls still
 * waiting re-sent. HTTP+SSE (transport "sse", 2024-11-05): a GET event
 * stream whose first `endpoint` event says where to POST; answers come
 * on the stream. Either way each message ends in up_on_line, as a line
 * from a stdio server's stdout does.
 *
 * options.protocol "2026-07-28" (http only) is the stateless revision:
 * no initialize and no session; server/discover is the start-up
 * handshake (up_queue_initialize), every request carries the protocol
 * version, our client info and capabilities in params._meta and the
 * MCP-Protocol-Version, Mcp-Method and Mcp-Name headers
 * (up_stateless_msg), a 4xx answer's JSON-RPC error is the call's
 * error; no GET stream, no DELETE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "worker.h"
#include "httpc.h"
#include "remote.h"
#include "upstream_int.h"

#define UP_META_PREFIX		"io.modelcontextprotocol/"
#define UP_HTTP_CONNS		4	/* connections per remote upstream */
#define UP_DELETE_MS		2000	/* DELETE of a session on close */
#define UP_GET_RETRY_MS		1000	/* the GET stream ended: reopen */

/* One HTTP exchange of a remote upstream: a POSTed message, or the GET
 * event stream. Freed only when no callback of its own is running. */
struct up_post {
	TAILQ_ENTRY(up_post) p_link;
	struct upstream *p_up;		/* NULL once detached */
	struct httpc_req *p_req;
	int64_t p_id;			/* the request it carries, or 0 */
	int p_get;			/* the GET stream */
	int p_status;
	int p_mode;			/* 0 nothing, 1 JSON, 2 SSE */
	struct evbuffer *p_body;	/* JSON body */
	struct sse *p_sse;
	int p_busy, p_dead;
};

static void up_remote_failed(struct upstream *u, const char *why);
static int up_remote_start(struct upstream *u);

static void
post_free(struct up_post *p)
{
	httpc_req_cancel(&p->p_req);
	if (p->p_body != NULL)
		evbuffer_free(p->p_body);
	sse_free(&p->p_sse);
	free(p);
}

/* Takes p off its upstream; freed now, or when its callback returns. */
static void
post_detach(struct up_post *p)
{
	struct upstream *u = p->p_up;

	if (u != NULL) {
		TAILQ_REMOVE(&u->u_posts, p, p_link);
		if (u->u_get == p)
			u->u_get = NULL;
		p->p_up = NULL;
	}
	httpc_req_cancel(&p->p_req);
	if (p->p_busy > 0)
		p->p_dead = 1;
	else
		post_free(p);
}

/* Leaving a callback of p: 1 when p is gone (and freed now). */
static int
post_leave(struct up_post *p)
{
	if (--p->p_busy == 0 && (p->p_dead || p->p_up == NULL)) {
		p->p_dead = 1;
		post_free(p);
		return 1;
	}
	return p->p_dead || p->p_up == NULL;
}

/* The request p carried failed at HTTP level: its caller gets a
 * JSON-RPC error (through up_on_response, which knows our own
 * initialize from a caller's call). */
static void post_fail_call(struct upstream *u, int64_t id, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
post_fail_call(struct upstream *u, int64_t id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *m;

	if (id == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m = json_pack("{s:s,s:I,s:{s:i,s:s}}", "jsonrpc", "2.0", "id",
	    (json_int_t)id, "error", "code", UP_ERR_GONE, "message", msg);
	if (m != NULL)
		up_on_response(u, m);
	json_decref(m);
}

static int
post_on_event(const char *type, const char *data, size_t len,
    const char *id, void *arg)
{
	struct up_post *p = arg;
	struct upstream *u = p->p_up;
	char err[256];

	if (u == NULL)
		return -1;
	if (u->u_remote == 2 && p->p_get && strcmp(type, "endpoint") == 0) {
		char *ref = strndup(data, len);

		if (ref == NULL)
			return -1;
		if (u->u_have_endpoint) {
			free(ref);
			return 0;
		}
		if (url_resolve_same_origin(&u->u_url, ref, &u->u_post_url,
		    err, sizeof(err)) == -1) {
			free(ref);
			up_remote_failed(u, err);
			return -1;
		}
		free(ref);
		u->u_have_endpoint = 1;
		if (u->u_init != NULL && u->u_init->c_id == 0)
			(void)up_send_call(u, u->u_init);
		return 0;
	}
	if (strcmp(type, "message") != 0)
		return 0;
	u->u_last_used_ms = now_mono_ms();
	wrk_touch(u->u_wrk);
	up_on_line(u, data, len);
	return p->p_up == NULL || p->p_dead ? -1 : 0;
}

static int
post_on_head(struct httpc_req *r, int status, const json_t *headers,
    void *arg)
{
	struct up_post *p = arg;
	struct upstream *u = p->p_up;
	const char *ct = json_string_value(json_object_get(headers,
	    "content-type"));
	const char *sid = json_string_value(json_object_get(headers,
	    "mcp-session-id"));

	if (u == NULL)
		return -1;
	p->p_status = status;
	if (status >= 200 && status < 300 && sid != NULL && sid[0] != '\0' &&
	    u->u_remote == 1 && !u->u_stateless && u->u_session[0] == '\0') {
		/* Visible ASCII only (the spec says so); we send it back. */
		if (strlen(sid) >= sizeof(u->u_session) ||
		    !http_header_value_valid(sid)) {
			p->p_req = NULL;
			up_remote_failed(u, "the server sent a malformed "
			    "Mcp-Session-Id");
			return -1;
		}
		snprintf(u->u_session, sizeof(u->u_session), "%s", sid);
	}
	if (status == 202 || status == 204)
		return 0;
	if (status < 200 || status >= 300) {
		/* A stateless server says why it refused a request (a header
		 * that does not match, a version it does not speak) in a
		 * JSON-RPC error with its 4xx: read that, not the status. */
		if (!u->u_stateless || p->p_get || status < 400 ||
		    status >= 500 || ct == NULL ||
		    strncasecmp(ct, "application/json", 16) != 0)
			return 0;
	}
	if (ct != NULL && strncasecmp(ct, "text/event-stream", 17) == 0) {
		p->p_mode = 2;
		if ((p->p_sse = sse_new(post_on_event, p)) == NULL)
			return -1;
	} else if (ct != NULL && strncasecmp(ct, "application/json",
	    16) == 0) {
		p->p_mode = 1;
		if ((p->p_body = evbuffer_new()) == NULL)
			return -1;
	}
	return 0;
}

static int
post_on_body(struct httpc_req *r, const char *data, size_t len, void *arg)
{
	struct up_post *p = arg;
	char err[256];
	int rc = 0;

	if (p->p_up == NULL)
		return -1;
	if (p->p_mode == 1) {
		if (evbuffer_get_length(p->p_body) + len > UP_MAX_LINE ||
		    evbuffer_add(p->p_body, data, len) == -1) {
			struct upstream *u = p->p_up;

			p->p_req = NULL;
			up_remote_failed(u, "protocol error: response larger "
			    "than 16 MiB");
			return -1;
		}
		return 0;
	}
	if (p->p_mode != 2)
		return 0;	/* an error page: its status says enough */
	p->p_busy++;
	if (sse_feed(p->p_sse, data, len, err, sizeof(err)) == -1 &&
	    p->p_up != NULL && !p->p_dead) {
		struct upstream *u = p->p_up;

		p->p_req = NULL;
		up_remote_failed(u, err);
		rc = -1;
	}
	if (post_leave(p))
		return -1;
	return rc;
}

static void up_on_get_timer(evutil_socket_t fd, short ev, void *arg);

static void
post_on_done(struct httpc_req *r, const char *error, void *arg)
{
	struct up_post *p = arg;
	struct upstream *u = p->p_up;
	struct upstream_call *c;
	int64_t id = p->p_id;
	char buf[300];

	p->p_req = NULL;	/* httpc frees it after we return */
	if (u == NULL) {
		post_detach(p);
		return;
	}
	p->p_busy++;
	if (error != NULL) {
		snprintf(buf, sizeof(buf), "%s", error);
		up_remote_failed(u, buf);
		goto out;
	}
	if (p->p_status == 404 && u->u_session[0] != '\0' && !p->p_get) {
		/* The session is gone: a new one, the calls re-sent. */
		log_info("upstream session expired", "{s:s,s:s}", "tenant",
		    u->u_wrk->w_tenant, "server", u->u_name);
		up_proc_close(u);
		TAILQ_FOREACH(c, &u->u_calls, c_link)
			c->c_id = 0;
		if (up_remote_start(u) == -1) {
			json_t *err = up_error(UP_ERR_GONE, "upstream %s: %s",
			    u->u_name, u->u_last_error);

			up_fail_calls(u, err);
			json_decref(err);
		}
		goto out;
	}
	if (p->p_get) {
		if (u->u_remote == 1 && (p->p_status == 405 ||
		    p->p_status == 404 || p->p_status == 400 ||
		    (p->p_status < 300 && p->p_mode != 2))) {
			/* No stream offered: fine, answers come on POSTs. */
			u->u_get_refused = 1;
		} else if (p->p_status >= 300 || u->u_remote == 2) {
			snprintf(buf, sizeof(buf), "the event stream %s (HTTP "
			    "%d)", u->u_remote == 2 ? "ended" : "failed",
			    p->p_status);
			up_remote_failed(u, buf);
		} else if (u->u_ev_get != NULL) {
			struct timeval tv = { 0, UP_GET_RETRY_MS * 1000 };

			event_add(u->u_ev_get, &tv);
		}
		goto out;
	}
	if (p->p_status < 200 || p->p_status >= 300) {
		if (p->p_mode == 1 && evbuffer_get_length(p->p_body) > 0) {
			size_t len = evbuffer_get_length(p->p_body);
			char *body = (char *)evbuffer_pullup(p->p_body,
			    (ssize_t)len);

			/* Its JSON-RPC error ends the call, if it names it. */
			if (body != NULL)
				up_on_line(u, body, len);
			if (p->p_up == NULL)
				goto out;
		}
		post_fail_call(u, id, "upstream %s answered HTTP %d",
		    u->u_name, p->p_status);
		goto out;
	}
	if (p->p_mode == 1 && evbuffer_get_length(p->p_body) > 0) {
		size_t len = evbuffer_get_length(p->p_body);
		char *body = (char *)evbuffer_pullup(p->p_body, (ssize_t)len);

		if (body != NULL)
			up_on_line(u, body, len);
	}
	if (p->p_up == NULL || id == 0)
		goto out;
	/* An HTTP answer that did not carry the JSON-RPC answer. */
	TAILQ_FOREACH(c, &u->u_calls, c_link)
		if (c->c_id == id)
			break;
	if (c != NULL && u->u_remote == 1)
		post_fail_call(u, id, "upstream %s answered without a "
		    "JSON-RPC response", u->u_name);
out:
	if (!post_leave(p))
		post_detach(p);
}

static const struct httpc_req_cbs post_cbs = {
	post_on_head, post_on_body, post_on_done,
};

/* The protocol headers, extra ("" or lines of its own), and the
 * configured ones. */
static char *
up_http_headers(struct upstream *u, int get, const char *extra)
{
	const char *proto = u->u_stateless ? UP_STATELESS_VERSION :
	    u->u_proto;
	char *h = NULL;
	int n;

	n = asprintf(&h, "%s%s%s%s%s%s%s%s%.*s",
	    get ? "Accept: text/event-stream\r\n" :
	    "Content-Type: application/json\r\n"
	    "Accept: application/json, text/event-stream\r\n",
	    u->u_session[0] != '\0' ? "Mcp-Session-Id: " : "",
	    u->u_session, u->u_session[0] != '\0' ? "\r\n" : "",
	    proto[0] != '\0' ? "MCP-Protocol-Version: " : "",
	    proto, proto[0] != '\0' ? "\r\n" : "", extra,
	    (int)u->u_hdrs_len, u->u_hdrs != NULL ? u->u_hdrs : "");
	return n < 0 ? NULL : h;
}

static void
up_headers_free(char *h)
{
	if (h != NULL) {
		explicit_bzero(h, strlen(h));
		free(h);
	}
}

static struct up_post *
up_http_exchange(struct upstream *u, const char *method,
    const struct url *to, const char *body, size_t len, int64_t id, int get,
    const char *extra)
{
	struct up_post *p;
	char *hdrs;

	if (u->u_http == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((hdrs = up_http_headers(u, get, extra)) == NULL) {
		free(p);
		return NULL;
	}
	p->p_up = u;
	p->p_id = id;
	p->p_get = get;
	p->p_req = httpc_request(u->u_http, method, to->u_target, hdrs, body,
	    len, &post_cbs, p);
	up_headers_free(hdrs);
	if (p->p_req == NULL) {
		free(p);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&u->u_posts, p, p_link);
	return p;
}

/*
 * A stateless (2026-07-28) request as it is POSTed: params._meta with
 * the protocol version, our client info and capabilities (the caller's
 * own _meta keys kept, clientCapabilities among them: mcp.c passes a
 * passthrough client's), and in *extra the Mcp-Method header and, for the
 * methods that name a tool, prompt or resource, Mcp-Name (base64 in
 * "=?base64?...?=" when the name is not plain visible ASCII). Returns a
 * new message, or NULL.
 */
static json_t *
up_stateless_msg(const json_t *msg, const char *method, char **extra)
{
	const json_t *params = json_object_get(msg, "params");
	const char *field = NULL, *name = NULL;
	json_t *m, *np, *meta;
	char *b = NULL;
	size_t i;
	int n;

	*extra = NULL;
	if (strcmp(method, "tools/call") == 0 ||
	    strcmp(method, "prompts/get") == 0)
		field = "name";
	else if (strcmp(method, "resources/read") == 0 ||
	    strcmp(method, "resources/subscribe") == 0 ||
	    strcmp(method, "resources/unsubscribe") == 0)
		field = "uri";
	if (field != NULL)
		name = json_string_value(json_object_get(params, field));
	if ((m = json_copy((json_t *)msg)) == NULL)
		return NULL;
	np = json_is_object(params) ? json_copy((json_t *)params) :
	    json_object();
	meta = json_is_object(json_object_get(np, "_meta")) ?
	    json_copy(json_object_get(np, "_meta")) : json_object();
	if (np == NULL || meta == NULL) {
		json_decref(np);
		json_decref(meta);
		json_decref(m);
		return NULL;
	}
	/* meta lives in np, np in m: freeing m frees all three. */
	if (json_object_set_new(np, "_meta", meta) == -1) {
		json_decref(np);
		json_decref(m);
		return NULL;
	}
	if (json_object_set_new(m, "params", np) == -1 ||
	    json_object_set_new(meta, UP_META_PREFIX "protocolVersion",
	    json_string(UP_STATELESS_VERSION)) == -1 ||
	    json_object_set_new(meta, UP_META_PREFIX "clientInfo",
	    json_pack("{s:s,s:s}", "name", "dataagent", "version",
	    DATAAGENT_VERSION)) == -1 ||
	    (!json_is_object(json_object_get(meta, UP_META_PREFIX
	    "clientCapabilities")) && json_object_set_new(meta,
	    UP_META_PREFIX "clientCapabilities", json_object()) == -1)) {
		json_decref(m);
		return NULL;
	}
	if (name != NULL) {
		int plain = strncmp(name, "=?base64?", 9) != 0 &&
		    name[0] != ' ' && name[0] != '\0' &&
		    name[strlen(name) - 1] != ' ';

		for (i = 0; plain && name[i] != '\0'; i++)
			if ((unsigned char)name[i] < 0x20 ||
			    (unsigned char)name[i] > 0x7e)
				plain = 0;
		if (!plain && (b = b64_encode(name, strlen(name))) == NULL) {
			json_decref(m);
			return NULL;
		}
	}
	n = asprintf(extra, "Mcp-Method: %s\r\n%s%s%s%s%s", method,
	    name != NULL ? "Mcp-Name: " : "", b != NULL ? "=?base64?" : "",
	    b != NULL ? b : name != NULL ? name : "",
	    b != NULL ? "?=" : "", name != NULL ? "\r\n" : "");
	free(b);
	if (n < 0) {
		*extra = NULL;
		json_decref(m);
		return NULL;
	}
	return m;
}

/* POSTs one message. Returns 0, or -1 when out of memory or not
 * connected. */
static int
up_http_send(struct upstream *u, const json_t *msg)
{
	json_t *idv = json_object_get(msg, "id"), *sm = NULL;
	const char *method = json_string_value(json_object_get(msg, "method"));
	int64_t id = 0;
	char *s, *extra = NULL;
	int rc;

	if (u->u_http == NULL || (u->u_remote == 2 && !u->u_have_endpoint))
		return -1;
	if (method != NULL && json_is_integer(idv))
		id = json_integer_value(idv);
	if (u->u_stateless && method != NULL &&
	    http_header_value_valid(method)) {
		if ((sm = up_stateless_msg(msg, method, &extra)) == NULL)
			return -1;
		msg = sm;
	}
	s = json_dumps(msg, JSON_COMPACT);
	json_decref(sm);
	if (s == NULL) {
		free(extra);
		return -1;
	}
	rc = up_http_exchange(u, "POST", u->u_remote == 2 ? &u->u_post_url :
	    &u->u_url, s, strlen(s), id, 0, extra != NULL ? extra : "") !=
	    NULL ? 0 : -1;
	free(s);
	free(extra);
	return rc;
}

static void
up_get_open(struct upstream *u)
{
	if (u->u_get != NULL || u->u_get_refused || u->u_http == NULL)
		return;
	u->u_get = up_http_exchange(u, "GET", &u->u_url, NULL, 0, 0, 1, "");
}

static void
up_on_get_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;

	if (u->u_state == UP_READY && u->u_remote == 1)
		up_get_open(u);
}

/* Ends the DELETE of a session, or gives up on it. */
struct up_closer {
	struct httpc *cl_http;
	struct httpc_req *cl_req;
	struct event *cl_ev;
};

static void
up_closer_free(struct up_closer *cl)
{
	httpc_req_cancel(&cl->cl_req);
	httpc_free(&cl->cl_http);
	if (cl->cl_ev != NULL)
		event_free(cl->cl_ev);
	free(cl);
}

static void
up_closer_on_done(struct httpc_req *r, const char *error, void *arg)
{
	struct up_closer *cl = arg;

	cl->cl_req = NULL;
	event_active(cl->cl_ev, EV_TIMEOUT, 0);
}

static void
up_closer_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	up_closer_free(arg);
}

static const struct httpc_req_cbs up_closer_cbs = {
	NULL, NULL, up_closer_on_done,
};

/* Closes the remote transport: DELETE for a live session (its pool lives
 * on until that is answered, UP_DELETE_MS at most), everything else
 * dropped. Calls stay queued (the caller decides their fate). */
static void
up_remote_close(struct upstream *u)
{
	struct up_post *p;
	struct up_closer *cl;
	char *hdrs;
	struct timeval tv = { UP_DELETE_MS / 1000,
	    (UP_DELETE_MS % 1000) * 1000 };

	if (!u->u_remote)
		return;
	while ((p = TAILQ_FIRST(&u->u_posts)) != NULL)
		post_detach(p);
	if (u->u_ev_get != NULL)
		event_del(u->u_ev_get);
	if (u->u_http != NULL && u->u_session[0] != '\0' &&
	    u->u_state == UP_READY && (cl = calloc(1, sizeof(*cl))) != NULL) {
		cl->cl_http = u->u_http;
		u->u_http = NULL;
		hdrs = up_http_headers(u, 0, "");
		cl->cl_ev = evtimer_new(u->u_wrk->w_base, up_closer_on_timer,
		    cl);
		if (hdrs != NULL && cl->cl_ev != NULL)
			cl->cl_req = httpc_request(cl->cl_http, "DELETE",
			    u->u_url.u_target, hdrs, NULL, 0, &up_closer_cbs,
			    cl);
		up_headers_free(hdrs);
		if (cl->cl_req == NULL || cl->cl_ev == NULL)
			up_closer_free(cl);
		else
			event_add(cl->cl_ev, &tv);
	}
	httpc_free(&u->u_http);
	u->u_session[0] = '\0';
	u->u_proto[0] = '\0';
	u->u_have_endpoint = 0;
	u->u_get_refused = 0;
	up_headers_free(u->u_hdrs);
	u->u_hdrs = NULL;
	u->u_hdrs_len = 0;
}


/* The server cannot be reached (or broke the protocol): failed, with
 * why; calls fail at once until the next attempt, which comes by
 * itself after a back-off. */
static void
up_remote_failed(struct upstream *u, const char *why)
{
	int was_ready = u->u_state == UP_READY;

	if (u->u_state != UP_READY && u->u_state != UP_STARTING)
		return;
	snprintf(u->u_last_error, sizeof(u->u_last_error), "%s", why);
	log_warn("upstream unreachable", "{s:s,s:s,s:s}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "error", why);
	up_proc_close(u);
	/* Only a connection that could not be made is worth another
	 * attempt while calls wait (httpc.c: "connect to ..."). */
	(void)up_retry_schedule(u, was_ready, strncmp(why, "connect to ",
	    11) == 0, up_error(UP_ERR_GONE, "upstream %s is unreachable: %s",
	    u->u_name, why));
}

/* The configured headers, ${secret:NAME} resolved, as header lines. */
static int
up_remote_headers(struct upstream *u)
{
	const json_t *hv = json_object_get(u->u_spec, "headers"), *v;
	struct evbuffer *b;
	const char *k;
	char *val;
	size_t len;
	int rc = -1;

	if ((b = evbuffer_new()) == NULL)
		return -1;
	json_object_foreach((json_t *)hv, k, v) {
		if ((val = up_expand(u, json_string_value(v))) == NULL)
			goto out;
		/* A secret's value must not smuggle a header in. */
		if (!http_header_value_valid(val)) {
			explicit_bzero(val, strlen(val));
			free(val);
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "header %s: its value has a line break", k);
			goto out;
		}
		evbuffer_add_printf(b, "%s: %s\r\n", k, val);
		explicit_bzero(val, strlen(val));
		free(val);
	}
	len = evbuffer_get_length(b);
	if ((u->u_hdrs = malloc(len + 1)) == NULL)
		goto out;
	evbuffer_remove(b, u->u_hdrs, len);
	u->u_hdrs[len] = '\0';
	u->u_hdrs_len = len;
	rc = 0;
out:
	/* evbuffer chains are freed without wiping: drain through a wipe. */
	{
		struct evbuffer_iovec vec[8];
		int i, n = evbuffer_peek(b, -1, NULL, vec, 8);

		for (i = 0; i < n && i < 8; i++)
			explicit_bzero(vec[i].iov_base, vec[i].iov_len);
	}
	evbuffer_free(b);
	return rc;
}


/* Opens the pool and starts the handshake. Returns 0 (STARTING), or -1
 * with u_last_error (FAILED, retried by itself). */
static int
up_remote_start(struct upstream *u)
{
	struct wrk *w = u->u_wrk;
	const json_t *opt = json_object_get(u->u_spec, "options");
	const json_t *tv = json_object_get(opt, "tls_verify");
	int verify = !json_is_false(tv);
	SSL_CTX *tls = NULL;
	char err[300];

	if (u->u_url.u_tls) {
		if (!verify)
			log_warn("upstream TLS certificate verification is "
			    "off", "{s:s,s:s,s:s}", "tenant", w->w_tenant,
			    "server", u->u_name, "url_host",
			    u->u_url.u_host);
		tls = httpc_tls_new(w, verify, json_string_value(
		    json_object_get(opt, "ca_file")), json_string_value(
		    json_object_get(opt, "client_cert")), json_string_value(
		    json_object_get(opt, "client_key")), err, sizeof(err));
		if (tls == NULL) {
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "%s", err);
			goto fail;
		}
	}
	if (up_remote_headers(u) == -1) {
		if (u->u_last_error[0] == '\0')
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "out of memory");
		goto fail;
	}
	u->u_http = httpc_new(w, u->u_name, &u->u_url, tls, UP_HTTP_CONNS,
	    up_timeout_ms(u, 0));
	if (tls != NULL)
		SSL_CTX_free(tls);
	tls = NULL;
	if (u->u_http == NULL) {
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "out of memory");
		goto fail;
	}
	u->u_post_url = u->u_url;
	u->u_state = UP_STARTING;
	u->u_started_ms = u->u_last_used_ms = now_mono_ms();
	log_info("upstream connecting", "{s:s,s:s,s:s,s:s,s:s,s:i}", "tenant",
	    w->w_tenant, "server", u->u_name, "transport", u->u_remote == 1 ?
	    "http" : "sse", "protocol", u->u_stateless ? UP_STATELESS_VERSION :
	    "stateful", "url_host", u->u_url.u_host, "port",
	    (int)u->u_url.u_port);
	/* sse: initialize waits for the endpoint event. */
	if (u->u_remote == 2 && (u->u_get = up_http_exchange(u, "GET",
	    &u->u_url, NULL, 0, 0, 1, "")) == NULL) {
		up_proc_close(u);
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "out of memory");
		goto fail;
	}
	if (up_queue_initialize(u, u->u_remote == 1) == -1) {
		up_proc_close(u);
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "out of memory");
		goto fail;
	}
	return 0;
fail:
	if (tls != NULL)
		SSL_CTX_free(tls);
	up_remote_close(u);
	u->u_started_ms = 0;
	log_warn("upstream failed to start", "{s:s,s:s,s:s}", "tenant",
	    w->w_tenant, "server", u->u_name, "error", u->u_last_error);
	(void)up_retry_schedule(u, 0, 0, up_error(UP_ERR_GONE,
	    "upstream %s failed: %s", u->u_name, u->u_last_error));
	return -1;
}

/* ut_new: the URL (checked by up_spec_check), the revision, the timer
 * that reopens the GET stream. */
static int
up_http_new(struct upstream *u)
{
	char uerr[8];

	(void)url_parse(json_string_value(json_object_get(u->u_spec, "url")),
	    &u->u_url, uerr, sizeof(uerr));
	u->u_stateless = u->u_remote == 1 && json_is_string(
	    json_object_get(json_object_get(u->u_spec, "options"),
	    "protocol"));
	TAILQ_INIT(&u->u_posts);
	u->u_ev_get = evtimer_new(u->u_wrk->w_base, up_on_get_timer, u);
	return u->u_ev_get != NULL ? 0 : -1;
}

static void
up_http_free(struct upstream *u)
{
	up_event_free(&u->u_ev_get);
}

/* ut_handshake: the negotiated version, sent on every later request
 * (2025-06-18 and after); a stateless server negotiates none. */
static void
up_http_handshake(struct upstream *u, const json_t *result)
{
	const char *pv;

	if (u->u_stateless)
		return;
	pv = json_string_value(json_object_get(result, "protocolVersion"));
	if (pv != NULL && strlen(pv) < sizeof(u->u_proto) &&
	    http_header_value_valid(pv))
		snprintf(u->u_proto, sizeof(u->u_proto), "%s", pv);
}

/* ut_ready: Streamable HTTP offers the server's own messages on a GET
 * stream (HTTP+SSE already has its stream; stateless has none). */
static void
up_http_ready(struct upstream *u)
{
	if (u->u_remote == 1 && !u->u_stateless)
		up_get_open(u);
}

static void
up_http_init_failed(struct upstream *u)
{
	char why[sizeof(u->u_last_error)];

	snprintf(why, sizeof(why), "%s", u->u_last_error);
	up_remote_failed(u, why);
}

const struct up_transport up_http_transport = {
	.ut_name = "http",
	.ut_new = up_http_new,
	.ut_free = up_http_free,
	.ut_start = up_remote_start,
	.ut_send = up_http_send,
	.ut_close = up_remote_close,
	.ut_handshake = up_http_handshake,
	.ut_ready = up_http_ready,
	.ut_init_failed = up_http_init_failed,
	.ut_resend = 1,		/* a 404 for the session re-sends them */
	.ut_relaunch = 0,
};
