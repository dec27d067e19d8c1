/*
 * http.c: the worker's HTTP/1.1 server on handed-off client sockets.
 *
 * One bufferevent and one http-parser per connection. Requests are handled
 * one at a time: when a request is complete the parser is paused until its
 * answer is queued, then parsing resumes on whatever the client sent next
 * (pipelining works, in order). Every request must carry the credential the
 * supervisor checked at handoff, unexpired; otherwise 401 and close.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include "worker.h"

#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_MAX_HEADERS 100
#define HTTP_KEEPALIVE_MAX_S 75
#define HTTP_FD_RESERVE_MIN 16	/* fds kept for upstreams, pipes, files */
#define HTTP_SHED_LOG_S 10

struct http_conn {
	struct http_conn *hc_next, *hc_prev;
	struct wrk *hc_wrk;
	struct bufferevent *hc_bev;
	struct event *hc_ev_resume;	/* parse what is buffered, later */
	struct event *hc_ev_idle;	/* keep-alive / slow request timer */
	http_parser hc_parser;
	char hc_token_hash[65];
	int64_t hc_exp;

	struct http_req *hc_req;	/* being parsed */
	struct http_req *hc_active;	/* handed to a handler */
	char *hc_field;			/* header name being read */
	size_t hc_field_len;
	char *hc_value;
	size_t hc_value_len;
	int hc_in_value;
	size_t hc_header_bytes;
	int hc_nheaders;
	size_t hc_url_len;
	char hc_url[2048];
	int hc_error;			/* status to answer, set by callbacks */
	int hc_close;			/* close once the output drained */
	int hc_keepalive;		/* this request allows keep-alive */
	int hc_handback;		/* hand back once output drained */
	int hc_prepaid;			/* the supervisor charged the first
					 * request (handoff) */
	struct http_conn *hc_rate_next;	/* in w_rate_wait */
	int hc_rate_waiting;
	int hc_streaming;		/* an answer is being streamed */
	int hc_head_paused;		/* paused at the end of a head */
	size_t hc_skip;			/* the head's last byte, consumed
					 * next: not the body's */
	int hc_chunked_on;		/* a chunked body is being checked */
	struct chunked hc_chunked;
};

static http_parser_settings parser_settings;

static void conn_free(struct http_conn *c);
static void conn_process(struct http_conn *c);
static int conn_keepalive_s(const struct http_conn *c);
static void conn_idle_arm(struct http_conn *c);
static void http_request_done(struct wrk *w, const char *path, int status,
    int64_t start_ms, const char *request_id);

static void
req_free(struct http_req **rp)
{
	struct http_req *r = *rp;

	if (r == NULL)
		return;
	json_decref(r->hr_headers);
	free(r->hr_query);
	free(r->hr_body);
	free(r);
	*rp = NULL;
}

const char *
http_header(const struct http_req *r, const char *lname)
{
	return json_string_value(json_object_get(r->hr_headers, lname));
}

/* Queues the status line, headers and body. */
static void
conn_write(struct http_conn *c, int status, const char *extra,
    const char *ctype, const void *body, size_t len, const char *request_id)
{
	struct evbuffer *out = bufferevent_get_output(c->hc_bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    http_status_text(status));
	evbuffer_add_printf(out, "X-Request-Id: %s\r\n", request_id);
	if (ctype != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (status != 204)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	evbuffer_add_printf(out, "Cache-Control: no-store\r\n");
	evbuffer_add_printf(out, "Connection: %s\r\n",
	    c->hc_close ? "close" : "keep-alive");
	/* Tell pooling clients how long an idle connection stays, a second
	 * short of our timer, so they never send into one we are closing. */
	if (!c->hc_close)
		evbuffer_add_printf(out, "Keep-Alive: timeout=%d\r\n",
		    conn_keepalive_s(c) > 1 ? conn_keepalive_s(c) - 1 : 1);
	if (extra != NULL)
		evbuffer_add(out, extra, strlen(extra));
	evbuffer_add(out, "\r\n", 2);
	if (len > 0 && status != 204)
		evbuffer_add(out, body, len);
}

/* r's answer is written: free it and read the next request (or stop
 * reading, when the connection closes once the answer is out). */
static void
http_req_finish(struct http_conn *c, struct http_req *r)
{
	if (c->hc_active == r)
		c->hc_active = NULL;
	req_free(&r);
	wrk_touch(c->hc_wrk);
	if (c->hc_close) {
		/* Stop reading; free once the answer is out (write cb). */
		bufferevent_disable(c->hc_bev, EV_READ);
		return;
	}
	http_parser_pause(&c->hc_parser, 0);
	event_active(c->hc_ev_resume, EV_TIMEOUT, 0);
}

void
http_reply(struct http_req *r, int status, const char *extra_headers,
    const char *ctype, const void *body, size_t len)
{
	struct http_conn *c = r->hr_conn;

	if (!c->hc_keepalive || c->hc_wrk->w_draining)
		c->hc_close = 1;
	if (r->hr_request_id[0] == '\0')
		request_id_pick(NULL, r->hr_request_id);
	conn_write(c, status, extra_headers, ctype, body, len,
	    r->hr_request_id);
	http_request_done(c->hc_wrk, r->hr_path, status, r->hr_start_ms,
	    r->hr_request_id);
	http_req_finish(c, r);
}

/*
 * Streamed answers (Server-Sent Events): the head goes out at once with
 * chunked transfer encoding, each http_stream_write is one chunk, and
 * http_stream_end sends the last chunk and frees r like http_reply.
 */
void
http_stream_begin(struct http_req *r, int status, const char *extra_headers,
    const char *ctype)
{
	struct http_conn *c = r->hr_conn;
	struct evbuffer *out = bufferevent_get_output(c->hc_bev);

	if (!c->hc_keepalive || c->hc_wrk->w_draining)
		c->hc_close = 1;
	c->hc_streaming = 1;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    http_status_text(status));
	evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	evbuffer_add_printf(out, "Cache-Control: no-store\r\n");
	evbuffer_add_printf(out, "X-Accel-Buffering: no\r\n");
	evbuffer_add_printf(out, "Connection: %s\r\n",
	    c->hc_close ? "close" : "keep-alive");
	if (extra_headers != NULL)
		evbuffer_add(out, extra_headers, strlen(extra_headers));
	evbuffer_add(out, "\r\n", 2);
	wrk_touch(c->hc_wrk);
}

void
http_stream_write(struct http_req *r, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(r->hr_conn->hc_bev);

	if (len == 0)
		return;
	evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	evbuffer_add(out, "\r\n", 2);
}

void
http_stream_end(struct http_req *r)
{
	struct http_conn *c = r->hr_conn;

	c->hc_streaming = 0;
	evbuffer_add(bufferevent_get_output(c->hc_bev), "0\r\n\r\n", 5);
	http_req_finish(c, r);
}

void
http_reply_json(struct http_req *r, int status, const char *extra_headers,
    json_t *body)
{
	char *s = NULL;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL) {
		static const char oom[] = "{\"error\":\"internal error\"}";

		http_reply(r, 500, NULL, "application/json", oom,
		    sizeof(oom) - 1);
		return;
	}
	http_reply(r, status, extra_headers, "application/json", s, strlen(s));
	free(s);
}

void
http_reply_error(struct http_req *r, int status, const char *msg)
{
	http_reply_json(r, status, NULL, json_pack("{s:s}", "error", msg));
}

/*
 * U+0000 in a JSON string is refused rather than taken with
 * JSON_ALLOW_NUL: tool, server, prompt and secret names, URIs and ids
 * are C strings from here to the upstream and the store, a tool's reply
 * is parsed without it, and the audit rows go to the supervisor, which
 * refuses NUL; a NUL accepted in the arguments alone would make calls
 * whose echo or audit fails instead of a plain answer.
 */
const char *
http_json_error(const json_error_t *jerr)
{
	if (json_error_code(jerr) == json_error_null_character)
		return "strings containing U+0000 (NUL) are not accepted";
	return jerr->text;
}

/* An answer for a request that never reached a handler; then close. */
static void
conn_fail(struct http_conn *c, int status, const char *extra,
    const char *msg)
{
	char *s;
	json_t *body;

	char rid[REQUEST_ID_MAX + 1];

	c->hc_close = 1;
	body = json_pack("{s:s}", "error", msg);
	s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	request_id_pick(c->hc_req != NULL ? http_header(c->hc_req,
	    "x-request-id") : NULL, rid);
	conn_write(c, status, extra, "application/json", s != NULL ? s : "",
	    s != NULL ? strlen(s) : 0, rid);
	http_request_done(c->hc_wrk, c->hc_req != NULL ? c->hc_req->hr_path :
	    "", status, now_mono_ms(), rid);
	free(s);
	req_free(&c->hc_req);
	bufferevent_disable(c->hc_bev, EV_READ);
}

/* Counts an answer for /metrics and the per-second summary; one log
 * line per request at debug only (at info a busy tenant would write
 * more log than it answers). */
static void
http_request_done(struct wrk *w, const char *path, int status,
    int64_t start_ms, const char *request_id)
{
	const char *route = http_route_class(path);
	int64_t ms = start_ms > 0 ? now_mono_ms() - start_ms : 0;

	counters_http(w, route, status);
	counters_request(w, status, ms);
	if (log_enabled(LOG_LVL_DEBUG))
		log_debug("request", "{s:s,s:s,s:i,s:I,s:s}", "tenant",
		    w->w_tenant, "route", route, "status", status,
		    "duration_ms", (json_int_t)ms, "request_id", request_id);
}

/* ---------------------------------------------------------- parser cbs */

static int
hp_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	req_free(&c->hc_req);
	c->hc_req = calloc(1, sizeof(*c->hc_req));
	if (c->hc_req == NULL)
		return -1;
	c->hc_req->hr_headers = json_object();
	if (c->hc_req->hr_headers == NULL)
		return -1;
	c->hc_req->hr_conn = c;
	c->hc_req->hr_wrk = c->hc_wrk;
	c->hc_url_len = 0;
	c->hc_header_bytes = 0;
	c->hc_nheaders = 0;
	c->hc_in_value = 0;
	c->hc_field_len = c->hc_value_len = 0;
	c->hc_head_paused = 0;
	c->hc_skip = 0;
	c->hc_chunked_on = 0;
	return 0;
}

static int
hp_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->hc_url_len + len >= sizeof(c->hc_url)) {
		c->hc_error = 414;
		return -1;
	}
	memcpy(c->hc_url + c->hc_url_len, at, len);
	c->hc_url_len += len;
	c->hc_url[c->hc_url_len] = '\0';
	return 0;
}

static int
append(char **buf, size_t *blen, const char *at, size_t len)
{
	char *n;

	n = realloc(*buf, *blen + len + 1);
	if (n == NULL)
		return -1;
	memcpy(n + *blen, at, len);
	*blen += len;
	n[*blen] = '\0';
	*buf = n;
	return 0;
}

/* Stores the header just read; repeated headers are joined with ", ". */
static int
header_finish(struct http_conn *c)
{
	json_t *old;
	size_t i;
	char *v;

	if (c->hc_field_len == 0)
		return 0;
	for (i = 0; i < c->hc_field_len; i++)
		if (c->hc_field[i] >= 'A' && c->hc_field[i] <= 'Z')
			c->hc_field[i] += 'a' - 'A';
	old = json_object_get(c->hc_req->hr_headers, c->hc_field);
	if (old != NULL) {
		if (asprintf(&v, "%s, %s", json_string_value(old),
		    c->hc_value != NULL ? c->hc_value : "") == -1)
			return -1;
	} else {
		v = strdup(c->hc_value != NULL ? c->hc_value : "");
		if (v == NULL)
			return -1;
	}
	/* Header bytes may be any octets: keep only valid UTF-8 values. */
	json_t *s = json_string(v);
	free(v);
	if (s != NULL)
		json_object_set_new(c->hc_req->hr_headers, c->hc_field, s);
	c->hc_field_len = c->hc_value_len = 0;
	if (c->hc_field != NULL)
		c->hc_field[0] = '\0';
	if (c->hc_value != NULL)
		c->hc_value[0] = '\0';
	return 0;
}

static int
hp_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->hc_header_bytes += len;
	if (c->hc_header_bytes > HTTP_MAX_HEADER_BYTES) {
		c->hc_error = 431;
		return -1;
	}
	if (c->hc_in_value) {
		if (header_finish(c) == -1)
			return -1;
		c->hc_in_value = 0;
		if (++c->hc_nheaders > HTTP_MAX_HEADERS) {
			c->hc_error = 431;
			return -1;
		}
	}
	return append(&c->hc_field, &c->hc_field_len, at, len);
}

static int
hp_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->hc_header_bytes += len;
	if (c->hc_header_bytes > HTTP_MAX_HEADER_BYTES) {
		c->hc_error = 431;
		return -1;
	}
	c->hc_in_value = 1;
	return append(&c->hc_value, &c->hc_value_len, at, len);
}

static int
hp_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->hc_req;
	struct http_parser_url u;
	size_t max = c->hc_wrk->w_set.ws_max_body;

	if (c->hc_in_value && header_finish(c) == -1)
		return -1;
	c->hc_in_value = 0;
	if (p->upgrade || p->method == HTTP_CONNECT) {
		c->hc_error = 400;
		return -1;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->hc_url, c->hc_url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)) ||
	    u.field_data[UF_PATH].len >= sizeof(r->hr_path)) {
		c->hc_error = 400;
		return -1;
	}
	memcpy(r->hr_path, c->hc_url + u.field_data[UF_PATH].off,
	    u.field_data[UF_PATH].len);
	r->hr_path[u.field_data[UF_PATH].len] = '\0';
	if (u.field_set & (1 << UF_QUERY)) {
		r->hr_query = strndup(c->hc_url + u.field_data[UF_QUERY].off,
		    u.field_data[UF_QUERY].len);
		if (r->hr_query == NULL)
			return -1;
	}
	r->hr_method = p->method;
	/* A declared body that is too large is refused before it arrives. */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length != ULLONG_MAX &&
	    p->content_length > max) {
		c->hc_error = 413;
		return -1;
	}
	/* Paused on the head's last byte, so that conn_process sees where
	 * the body starts (conn_body_check). */
	c->hc_chunked_on = (p->flags & F_CHUNKED) != 0;
	if (c->hc_chunked_on)
		chunked_init(&c->hc_chunked, max);
	c->hc_head_paused = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
hp_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_req *r = c->hc_req;

	if (r->hr_body_len + len > c->hc_wrk->w_set.ws_max_body) {
		c->hc_error = 413;
		return -1;
	}
	return append(&r->hr_body, &r->hr_body_len, at, len);
}

static int
hp_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	c->hc_keepalive = http_should_keep_alive(p);
	c->hc_active = c->hc_req;
	c->hc_req = NULL;
	http_parser_pause(p, 1);
	return 0;
}

/* ------------------------------------------------------------ dispatch */

static int
credential_ok(struct http_conn *c, struct http_req *r)
{
	const char *auth, *tok;
	size_t toklen;
	char hash[65];

	auth = http_header(r, "authorization");
	if (auth == NULL || (tok = httphead_bearer(auth, &toklen)) == NULL)
		return 0;
	jwt_token_hash(tok, toklen, hash);
	if (!ct_equal(hash, c->hc_token_hash, 64))
		return 0;
	return now_wall() < c->hc_exp + JWT_LEEWAY;
}

static void
dispatch(struct http_conn *c, struct http_req *r)
{
	struct wrk *w = c->hc_wrk;
	char id[128];
	const char *rest;
	size_t plen;
	int m;

	r->hr_start_ms = now_mono_ms();
	request_id_pick(http_header(r, "x-request-id"), r->hr_request_id);
	if (r->hr_body == NULL) {
		r->hr_body = strdup("");
		if (r->hr_body == NULL) {
			c->hc_close = 1;
			http_reply_error(r, 500, "out of memory");
			return;
		}
	}
	if (strcmp(r->hr_path, "/health") == 0) {
		http_reply_json(r, 200, NULL, json_pack("{s:s}", "status",
		    "healthy"));
		return;
	}
	/* The supervisor checked the first request's Host and Origin; the
	 * ones after it on this connection come here directly. */
	if ((http_header(r, "host") != NULL && !host_allowed(
	    w->w_set.ws_allowed_hosts, http_header(r, "host"), HOST_HEADER)) ||
	    (http_header(r, "origin") != NULL && !host_allowed(
	    w->w_set.ws_allowed_hosts, http_header(r, "origin"),
	    HOST_ORIGIN))) {
		c->hc_close = 1;
		http_reply_error(r, 403, "host or origin not allowed");
		return;
	}
	if (!credential_ok(c, r)) {
		c->hc_close = 1;
		http_reply_json(r, 401,
		    "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n",
		    json_pack("{s:s,s:s}", "error", "invalid_token",
		    "error_description", "the credential of this connection "
		    "is missing, changed or expired"));
		return;
	}
	m = httphead_path_tenant(r->hr_path, id, sizeof(id));
	if (m != 1) {
		http_reply_error(r, 404, "not found");
		return;
	}
	if (strcmp(id, w->w_tenant) != 0) {
		http_reply_error(r, 403, "this token does not grant access to "
		    "that tenant");
		return;
	}
	/* What follows /api/v1/users/{id} in the raw path. */
	plen = strlen("/api/v1/users/");
	rest = strchr(r->hr_path + plen, '/');
	if (rest == NULL)
		rest = "";
	if (strcmp(rest, "/mcp") == 0 || strcmp(rest, "/mcp/") == 0)
		mcp_handle(w, r);
	else if (strncmp(rest, "/mcp/", 5) == 0)
		mcp_handle_server(w, r, rest + 5);
	else
		rest_handle(w, r, rest);
}

/* The most a connection may have buffered to be handed back. */
#define HANDBACK_MAX (64 * 1024)

/*
 * Before a request is parsed: is it ours? A client (or a proxy pooling
 * connections) may send the next request on this connection with another
 * tenant's token, or for a path the supervisor serves. Such a request is
 * not refused: the socket goes back to the supervisor with what was read
 * from it, to be authenticated and routed like a new connection.
 * Returns 1 to parse it here, 0 to wait for more bytes (or for our
 * answers to drain), -1 when the connection was handed back and freed.
 */
static int
conn_check_head(struct http_conn *c)
{
	struct wrk *w = c->hc_wrk;
	struct evbuffer *in = bufferevent_get_input(c->hc_bev);
	struct evbuffer_ptr crlf, lf;
	struct httphead hh;
	size_t len = evbuffer_get_length(in), headlen;
	const char *tok;
	size_t toklen;
	char hash[65], id[128];
	unsigned char *buf;
	int status;

	crlf = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	lf = evbuffer_search(in, "\n\n", 2, NULL);
	if (crlf.pos == -1 && lf.pos == -1)
		return len < HANDBACK_MAX ? 0 : 1;
	if (crlf.pos != -1 && (lf.pos == -1 || crlf.pos + 2 < lf.pos))
		headlen = (size_t)crlf.pos + 4;
	else
		headlen = (size_t)lf.pos + 2;
	if ((buf = evbuffer_pullup(in, (ev_ssize_t)headlen)) == NULL ||
	    httphead_parse((const char *)buf, headlen, &hh, &status) != 1)
		return 1;	/* the full parser answers what is wrong */
	if (httphead_path_tenant(hh.hh_path, id, sizeof(id)) == 1 &&
	    strcmp(id, w->w_tenant) == 0 && hh.hh_has_authorization &&
	    (tok = httphead_bearer(hh.hh_authorization, &toklen)) != NULL) {
		jwt_token_hash(tok, toklen, hash);
		if (ct_equal(hash, c->hc_token_hash, 64) &&
		    now_wall() < c->hc_exp + JWT_LEEWAY)
			return 1;
	}
	if (len > HANDBACK_MAX)
		return 1;	/* answered 401 here instead */
	if (evbuffer_get_length(bufferevent_get_output(c->hc_bev)) > 0) {
		c->hc_handback = 1;
		return 0;
	}
	buf = evbuffer_pullup(in, -1);
	if (buf == NULL || wrk_handback(w, bufferevent_getfd(c->hc_bev), buf,
	    len) == -1)
		return 1;
	conn_free(c);
	return -1;
}

/* ---------------------------------------------------------- rate limit */

/* The request's route is the MCP endpoint (POST): its errors are
 * JSON-RPC. */
/* 429 for a request over the tenant's rate; the connection goes on. */
static void
rate_refuse(struct http_req *r, int retry_after)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
	    retry_after > 0 ? retry_after : 1);
	http_reply_json(r, 429, extra, http_rate_limited_body(
	    r->hr_method == HTTP_POST && http_path_is_mcp(r->hr_path),
	    r->hr_body, r->hr_body_len, retry_after));
}

/* Asks the supervisor for tokens for the requests waiting, when no
 * question is outstanding. */
static void
rate_ask(struct wrk *w)
{
	struct http_conn *c;
	json_t *v;
	int n = 0;

	if (w->w_rate_asked > 0 || w->w_ipc == NULL)
		return;
	for (c = w->w_rate_wait; c != NULL && n < RATE_WANT_MAX;
	    c = c->hc_rate_next)
		n++;
	if (n == 0)
		return;
	v = json_pack("{s:i}", "want", n);
	if (v != NULL && ipc_send_json(w->w_ipc, IPC_RATE_REQ, 0, -1, v) == 0)
		w->w_rate_asked = n;
	json_decref(v);
}

static void
rate_unwait(struct http_conn *c)
{
	struct http_conn **pp;

	if (!c->hc_rate_waiting)
		return;
	for (pp = &c->hc_wrk->w_rate_wait; *pp != NULL;
	    pp = &(*pp)->hc_rate_next)
		if (*pp == c) {
			*pp = c->hc_rate_next;
			break;
		}
	c->hc_rate_waiting = 0;
	c->hc_rate_next = NULL;
}

/*
 * A complete request: served at once when the supervisor already paid
 * for it (the first of a handed-off connection), when the tenant has no
 * rate, or when it will be refused anyway (no valid credential); else it
 * waits for a token (IPC_RATE_REQ).
 */
static void
conn_admit(struct http_conn *c, struct http_req *r)
{
	struct wrk *w = c->hc_wrk;
	struct http_conn **pp;

	if (c->hc_prepaid || w->w_set.ws_rate_limit == 0 ||
	    strcmp(r->hr_path, "/health") == 0 || !credential_ok(c, r)) {
		c->hc_prepaid = 0;
		dispatch(c, r);
		return;
	}
	for (pp = &w->w_rate_wait; *pp != NULL; pp = &(*pp)->hc_rate_next)
		;
	*pp = c;
	c->hc_rate_next = NULL;
	c->hc_rate_waiting = 1;
	rate_ask(w);
}

void
http_rate_grant(struct wrk *w, int n, int retry_after)
{
	struct http_conn *c;
	int asked = w->w_rate_asked, i;

	w->w_rate_asked = 0;
	if (n > asked)
		n = asked;
	for (i = 0; i < asked && (c = w->w_rate_wait) != NULL; i++) {
		rate_unwait(c);
		if (c->hc_active == NULL)
			continue;
		if (i < n)
			dispatch(c, c->hc_active);
		else
			rate_refuse(c->hc_active, retry_after);
	}
	rate_ask(w);
}

/*
 * What http-parser (lax: built without HTTP_PARSER_STRICT) just consumed,
 * buf[0..n), checked strictly: the head ends in LF, and a chunked body is
 * framed as RFC 9112 says (common/chunked.c) and ends where http-parser
 * ended it. Returns 0, or the status to refuse the request with and its
 * message in *msg_r.
 */
static int
conn_body_check(struct http_conn *c, const char *buf, size_t n, size_t avail,
    const char **msg_r)
{
	size_t skip, used = 0;
	int r = CHUNKED_MORE;

	if (c->hc_head_paused) {
		/* http-parser stopped on the head's last byte, unconsumed;
		 * it takes any byte there for the LF. */
		c->hc_head_paused = 0;
		if (n >= avail || buf[n] != '\n') {
			*msg_r = "malformed request head: CRLF expected";
			return 400;
		}
		c->hc_skip = 1;
		return 0;
	}
	skip = c->hc_skip < n ? c->hc_skip : n;
	c->hc_skip -= skip;
	if (!c->hc_chunked_on)
		return 0;
	if (n > skip)
		r = chunked_feed(&c->hc_chunked, buf + skip, n - skip, &used);
	if (r == CHUNKED_TOO_LARGE) {
		*msg_r = "chunk size too large: the request body would exceed "
		    "max_body_size";
		return 413;
	}
	if (r == CHUNKED_BAD || (r == CHUNKED_DONE) != (c->hc_active != NULL) ||
	    (r == CHUNKED_DONE && used != n - skip)) {
		*msg_r = "malformed chunked body: CRLF expected after each "
		    "chunk-size line, chunk and trailer field";
		return 400;
	}
	if (r == CHUNKED_DONE)
		c->hc_chunked_on = 0;
	return 0;
}

/* Parses what is buffered; dispatches one complete request at a time. */
static void
conn_process(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->hc_bev);
	struct evbuffer_iovec v;
	const char *msg;
	size_t n;
	enum http_errno e;
	int st;

	while (c->hc_active == NULL && !c->hc_close &&
	    evbuffer_get_length(in) > 0) {
		if (c->hc_req == NULL) {
			int r = conn_check_head(c);

			if (r == -1)
				return;
			if (r == 0)
				break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&c->hc_parser, &parser_settings,
		    v.iov_base, v.iov_len);
		if ((st = conn_body_check(c, v.iov_base, n, v.iov_len,
		    &msg)) != 0) {
			/* The request parsed so far is the one refused. */
			if (c->hc_active != NULL) {
				req_free(&c->hc_req);
				c->hc_req = c->hc_active;
				c->hc_active = NULL;
			}
			evbuffer_drain(in, n);
			conn_fail(c, st, NULL, msg);
			return;
		}
		evbuffer_drain(in, n);
		e = HTTP_PARSER_ERRNO(&c->hc_parser);
		if (e == HPE_PAUSED) {
			if (c->hc_active != NULL) {
				struct http_req *r = c->hc_active;

				event_del(c->hc_ev_idle);
				wrk_touch(c->hc_wrk);
				conn_admit(c, r);
				/* The handler may have answered already; the
				 * resume event continues parsing then. */
				return;
			}
			http_parser_pause(&c->hc_parser, 0);
			continue;
		}
		if (e != HPE_OK) {
			st = c->hc_error != 0 ? c->hc_error : 400;

			conn_fail(c, st, NULL, st == 413 ? "request body too "
			    "large" : st == 431 ? "request header fields too "
			    "large" : st == 414 ? "URI too long" :
			    http_errno_description(e));
			return;
		}
		if (n == 0)
			break;
	}
	if (c->hc_active == NULL && !c->hc_close)
		conn_idle_arm(c);
}

static void
on_resume(evutil_socket_t fd, short ev, void *arg)
{
	conn_process(arg);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0 ||
	    c->hc_streaming)
		return;
	if (c->hc_close)
		conn_free(c);
	else if (c->hc_handback) {
		c->hc_handback = 0;
		conn_process(c);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	/* EOF, reset or error: the client is gone. */
	conn_free(c);
}

/* A connection with no request in flight may stay idle this long; a
 * request that started arriving must complete within it too. */
static void
on_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct http_conn *c = arg;

	if (c->hc_req != NULL) {
		conn_fail(c, 408, NULL, "request not completed in time");
		return;
	}
	conn_free(c);
}

/* How long an idle keep-alive connection is kept: idle_timeout, at most
 * HTTP_KEEPALIVE_MAX_S. */
static int
conn_keepalive_s(const struct http_conn *c)
{
	int s = c->hc_wrk->w_set.ws_idle_timeout_s;

	return s > HTTP_KEEPALIVE_MAX_S ? HTTP_KEEPALIVE_MAX_S : s;
}

static void
conn_idle_arm(struct http_conn *c)
{
	struct timeval tv;

	tv.tv_sec = conn_keepalive_s(c);
	tv.tv_usec = 0;
	event_add(c->hc_ev_idle, &tv);
}

static void
conn_free(struct http_conn *c)
{
	struct wrk *w = c->hc_wrk;

	if (c->hc_active != NULL) {
		struct http_req *r = c->hc_active;

		c->hc_active = NULL;
		if (r->hr_on_abort != NULL)
			r->hr_on_abort(r, r->hr_abort_arg);
		req_free(&r);
	}
	req_free(&c->hc_req);
	rate_unwait(c);
	if (c->hc_prev != NULL)
		c->hc_prev->hc_next = c->hc_next;
	else
		w->w_conns = c->hc_next;
	if (c->hc_next != NULL)
		c->hc_next->hc_prev = c->hc_prev;
	w->w_nconns--;
	if (c->hc_ev_resume != NULL)
		event_free(c->hc_ev_resume);
	if (c->hc_ev_idle != NULL)
		event_free(c->hc_ev_idle);
	if (c->hc_bev != NULL)
		bufferevent_free(c->hc_bev);	/* closes the fd */
	free(c->hc_field);
	free(c->hc_value);
	free(c);
	wrk_touch(w);
	wrk_stats(w);
	wrk_drain_check(w);
}

void
http_shed_log(struct wrk *w)
{
	int64_t now = now_mono_ms();

	if (w->w_shed == 0 || (w->w_shed_logged_ms != 0 &&
	    now - w->w_shed_logged_ms < HTTP_SHED_LOG_S * 1000))
		return;
	log_warn("at its fd limit: the oldest idle client connections were "
	    "closed", "{s:s,s:I,s:i,s:i}", "tenant", w->w_tenant, "closed",
	    (json_int_t)w->w_shed, "nofile", w->w_nofile,
	    "per_s", HTTP_SHED_LOG_S);
	w->w_shed = 0;
	w->w_shed_logged_ms = now;
}

/*
 * A new client fd numbered fd: the kernel hands out the lowest free
 * number, so fd or more are open. Past the high-water mark (the limit
 * less a reserve for upstreams, pipes and files, a client connection
 * could not be answered and the next handoff would be truncated), the
 * oldest idle keep-alive connections are closed: more than the excess,
 * so this does not run again at once. Counted, and logged at warning by
 * http_shed_log.
 */
static void
http_shed_idle(struct wrk *w, int fd)
{
	struct http_conn *c, *prev;
	int reserve, high;
	unsigned want, n = 0;

	reserve = w->w_nofile / 8 > HTTP_FD_RESERVE_MIN ? w->w_nofile / 8 :
	    HTTP_FD_RESERVE_MIN;
	if (w->w_nofile <= 0 || reserve >= w->w_nofile)
		return;
	high = w->w_nofile - reserve;
	if (fd < high)
		return;
	want = (unsigned)(fd - high) + 1 + (unsigned)(w->w_nofile / 32);
	/* The list is newest first: walk it from its tail. */
	for (c = w->w_conns; c != NULL && c->hc_next != NULL; c = c->hc_next)
		;
	for (; c != NULL && n < want; c = prev) {
		prev = c->hc_prev;
		if (c->hc_active != NULL || c->hc_req != NULL ||
		    c->hc_streaming || c->hc_rate_waiting || evbuffer_get_length(
		    bufferevent_get_output(c->hc_bev)) > 0)
			continue;
		conn_free(c);
		n++;
	}
	w->w_shed += n;
	if (n > 0)
		http_shed_log(w);
}

/* A handed-off fd must be a connected stream socket. */
static int
fd_is_stream_socket(int fd)
{
	struct stat st;
	int type;
	socklen_t len = sizeof(type);

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	return 1;
}

void
http_conn_new(struct wrk *w, int fd, const char *token_hash, int64_t exp,
    const uint8_t *pre, size_t prelen)
{
	struct http_conn *c;

	if (parser_settings.on_message_begin == NULL) {
		parser_settings.on_message_begin = hp_message_begin;
		parser_settings.on_url = hp_url;
		parser_settings.on_header_field = hp_header_field;
		parser_settings.on_header_value = hp_header_value;
		parser_settings.on_headers_complete = hp_headers_complete;
		parser_settings.on_body = hp_body;
		parser_settings.on_message_complete = hp_message_complete;
	}
	if (!fd_is_stream_socket(fd)) {
		log_warn("handed-off fd is not a stream socket", NULL);
		fd_close(&fd);
		return;
	}
	http_shed_idle(w, fd);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		fd_close(&fd);
		return;
	}
	c->hc_wrk = w;
	snprintf(c->hc_token_hash, sizeof(c->hc_token_hash), "%s", token_hash);
	c->hc_exp = exp;
	c->hc_prepaid = 1;
	http_parser_init(&c->hc_parser, HTTP_REQUEST);
	c->hc_parser.data = c;
	fd_nonblock(fd);
	c->hc_bev = bufferevent_socket_new(w->w_base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->hc_ev_resume = event_new(w->w_base, -1, 0, on_resume, c);
	c->hc_ev_idle = evtimer_new(w->w_base, on_idle, c);
	if (c->hc_bev == NULL || c->hc_ev_resume == NULL ||
	    c->hc_ev_idle == NULL) {
		if (c->hc_bev == NULL)
			fd_close(&fd);
		c->hc_next = w->w_conns;
		w->w_conns = c;
		w->w_nconns++;
		conn_free(c);
		return;
	}
	c->hc_next = w->w_conns;
	if (w->w_conns != NULL)
		w->w_conns->hc_prev = c;
	w->w_conns = c;
	w->w_nconns++;
	bufferevent_setcb(c->hc_bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->hc_bev, EV_READ | EV_WRITE);
	/* The request head is already in the socket (the supervisor only
	 * peeked at it), after any bytes a worker had read before. */
	conn_idle_arm(c);
	if (prelen > 0) {
		struct evbuffer *in = bufferevent_get_input(c->hc_bev);
		int r;

		/* A bufferevent keeps the end of its input frozen: only it
		 * appends. These bytes come before anything it will read. */
		evbuffer_unfreeze(in, 0);
		r = evbuffer_add(in, pre, prelen);
		evbuffer_freeze(in, 0);
		if (r == -1) {
			conn_free(c);
			return;
		}
		event_active(c->hc_ev_resume, EV_TIMEOUT, 0);
	}
}

void
http_revoke(struct wrk *w, const char *token_hash)
{
	struct http_conn *c, *next;
	unsigned n = 0;

	/* A request in flight is aborted too: its token no longer
	 * authorises anything. */
	for (c = w->w_conns; c != NULL; c = next) {
		next = c->hc_next;
		if (ct_equal(c->hc_token_hash, token_hash, 64)) {
			conn_free(c);
			n++;
		}
	}
	log_info("connections of a revoked token closed", "{s:s,s:i}",
	    "tenant", w->w_tenant, "connections", (int)n);
}

void
http_conn_free_all(struct wrk *w)
{
	while (w->w_conns != NULL)
		conn_free(w->w_conns);
}

unsigned
http_in_flight(struct wrk *w)
{
	struct http_conn *c;
	unsigned n = 0;

	for (c = w->w_conns; c != NULL; c = c->hc_next)
		if (c->hc_active != NULL || evbuffer_get_length(
		    bufferevent_get_output(c->hc_bev)) > 0)
			n++;
	return n;
}

void
http_drain(struct wrk *w)
{
	struct http_conn *c, *next;

	for (c = w->w_conns; c != NULL; c = next) {
		next = c->hc_next;
		if (c->hc_active != NULL && c->hc_active->hr_endless &&
		    c->hc_streaming) {
			struct http_req *r = c->hc_active;

			if (r->hr_on_abort != NULL)
				r->hr_on_abort(r, r->hr_abort_arg);
			r->hr_on_abort = NULL;
			c->hc_close = 1;
			http_stream_end(r);
			continue;
		}
		if (c->hc_active == NULL && evbuffer_get_length(
		    bufferevent_get_output(c->hc_bev)) == 0 &&
		    c->hc_req == NULL)
			conn_free(c);
		else
			c->hc_close = 1;
	}
}
