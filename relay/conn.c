/*
 * conn.c: a client connection in a relay.
 *
 * States of a connection:
 *   HEAD      reading a request head (header_timeout once it started,
 *             the keep-alive timeout while nothing came)
 *   ROUTING   the head's fields went to the supervisor
 *             (IPC_RELAY_ROUTE); nothing more is read meanwhile
 *   BODY      the request (head, then its body as its framing says:
 *             Content-Length or chunked) is being written down the
 *             stream of its token; the response may already come back
 *   RESPONSE  the request is all sent; the response is copied back
 *             until its framing says it is whole (Content-Length,
 *             chunked, or the stream's end; an SSE stream is a long
 *             response), then back to HEAD for the next request
 *   CLOSING   an answer is written, then the write side is shut and
 *             what the client still sends is dropped for a moment
 *
 * A stream is one end of a socketpair whose other end the supervisor gave
 * the tenant's worker as a client connection (IPC_CONN, auth context of
 * that token): it only ever carries requests that bear that token, for
 * that tenant's paths, so the worker never sees another tenant's bytes
 * and never has a reason to hand a connection back. Streams are kept per
 * client connection (RELAY_STREAMS_MAX, oldest idle one closed first)
 * and reused for the next request with the same token while it has not
 * expired; any other request goes to the supervisor.
 *
 * Each direction holds at most RELAY_BUF_MAX bytes before it stops
 * reading the other side. Requests are served one at a time, in order:
 * bytes of a pipelined next request wait in the client's input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include "relay.h"

#define RELAY_LINGER_S 2

enum rc_state {
	RC_HEAD = 0,
	RC_ROUTING,
	RC_BODY,
	RC_RESPONSE,
	RC_CLOSING,
};

struct rstream {
	struct rstream *rs_next;
	struct rconn *rs_conn;
	struct bufferevent *rs_bev;
	char rs_hash[65];
	char rs_tenant[128];
	int64_t rs_exp;
	int64_t rs_used_ms;
	int rs_dead;			/* the worker closed its end */
};

struct rconn {
	struct rconn *rc_next, *rc_prev;
	struct relay *rc_relay;
	struct bufferevent *rc_bev;
	struct event *rc_timer;
	struct event *rc_ev_resume;	/* the next request, from the loop */
	enum rc_state rc_state;
	int rc_head_timed;		/* header_timeout runs for this head */
	int rc_lingering;
	char rc_addr[72];
	int rc_port;
	struct rstream *rc_streams;	/* routed streams of this client */
	unsigned rc_nstreams;
	struct rstream *rc_cur;		/* the request in flight's stream */
	struct rstream *rc_new;		/* made for the route in flight */
	struct route_wait *rc_wait;	/* the route in flight */
	http_parser rc_reqp;		/* the request being sent */
	http_parser rc_resp;		/* its response */
	int rc_req_done, rc_resp_done;
	int rc_head_req;		/* a HEAD request: no response body */
	int rc_req_close, rc_resp_close;
	char rc_hash[65];		/* of the request being routed */
	char rc_tenant[128];
};

struct route_wait {
	struct route_wait *rw_next;
	uint32_t rw_id;
	struct rconn *rw_conn;		/* NULL: the client went meanwhile */
};

static http_parser_settings req_settings, resp_settings;

static void rconn_process(struct rconn *c);
static void rconn_free(struct rconn *c);

static void
stream_free(struct rstream **sp)
{
	struct rstream *s = *sp;

	if (s == NULL)
		return;
	if (s->rs_bev != NULL)
		bufferevent_free(s->rs_bev);	/* closes our end */
	free(s);
	*sp = NULL;
}

/* Takes s out of c's list (it must be there) and frees it. */
static void
stream_drop(struct rconn *c, struct rstream *s)
{
	struct rstream **pp;

	for (pp = &c->rc_streams; *pp != NULL; pp = &(*pp)->rs_next)
		if (*pp == s) {
			*pp = s->rs_next;
			c->rc_nstreams--;
			break;
		}
	if (c->rc_cur == s)
		c->rc_cur = NULL;
	stream_free(&s);
}

static void
rconn_arm(struct rconn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	event_add(c->rc_timer, &tv);
}

/* Writes what is queued, then shuts the write side and lingers. */
static void
rconn_close_after_write(struct rconn *c)
{
	c->rc_state = RC_CLOSING;
	event_del(c->rc_timer);
	rconn_arm(c, c->rc_relay->r_idle_timeout_s);
	/* Stop reading a stream: nothing more goes to this client. */
	if (c->rc_cur != NULL)
		bufferevent_disable(c->rc_cur->rs_bev, EV_READ);
	bufferevent_enable(c->rc_bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->rc_bev)) == 0) {
		shutdown(bufferevent_getfd(c->rc_bev), SHUT_WR);
		c->rc_lingering = 1;
		rconn_arm(c, RELAY_LINGER_S);
	}
}

/* An answer of the relay's own (a head it cannot read). */
static void
rconn_error(struct rconn *c, int status, const char *msg)
{
	struct evbuffer *out = bufferevent_get_output(c->rc_bev);

	log_info("request refused by the relay", "{s:s,s:i,s:i,s:s}",
	    "remote", c->rc_addr, "port", c->rc_port, "status", status,
	    "error", msg);
	relay_refused(c->rc_relay, status);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nCache-Control: "
	    "no-store\r\nConnection: close\r\n\r\n{\"error\":\"%s\"}", status,
	    http_status_text(status), strlen(msg) + 12, msg);
	rconn_close_after_write(c);
}

/* ------------------------------------------------------- http framing */

static int
req_on_complete(http_parser *p)
{
	struct rconn *c = p->data;

	c->rc_req_done = 1;
	c->rc_req_close = !http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static int
resp_on_headers(http_parser *p)
{
	struct rconn *c = p->data;

	/* A HEAD request's response has no body whatever it says. */
	return c->rc_head_req ? 1 : 0;
}

static int
resp_on_complete(http_parser *p)
{
	struct rconn *c = p->data;

	/* 1xx (but 101) are interim: the final response follows. */
	if (p->status_code >= 100 && p->status_code < 200 &&
	    p->status_code != 101)
		return 0;
	c->rc_resp_done = 1;
	c->rc_resp_close = !http_should_keep_alive(p) ||
	    p->status_code == 101;
	http_parser_pause(p, 1);
	return 0;
}

static void
framing_init(void)
{
	if (req_settings.on_message_complete != NULL)
		return;
	req_settings.on_message_complete = req_on_complete;
	resp_settings.on_headers_complete = resp_on_headers;
	resp_settings.on_message_complete = resp_on_complete;
}

/* ------------------------------------------------------------ streams */

static void stream_on_read(struct bufferevent *bev, void *arg);
static void stream_on_write(struct bufferevent *bev, void *arg);
static void stream_on_event(struct bufferevent *bev, short what, void *arg);

/* Both the request and its response are whole: the next request. */
static void
rconn_request_done(struct rconn *c)
{
	if (c->rc_cur != NULL && (c->rc_resp_close || c->rc_cur->rs_dead))
		stream_drop(c, c->rc_cur);
	if (c->rc_req_close || c->rc_resp_close) {
		rconn_close_after_write(c);
		return;
	}
	if (c->rc_cur != NULL)
		c->rc_cur->rs_used_ms = now_mono_ms();
	c->rc_cur = NULL;
	c->rc_state = RC_HEAD;
	bufferevent_enable(c->rc_bev, EV_READ);
	/* From the loop: the caller may still be using c. */
	event_active(c->rc_ev_resume, EV_TIMEOUT, 0);
}

/* Response bytes from the stream in flight go to the client, as far as
 * the response's framing goes. */
static void
stream_pump(struct rconn *c)
{
	struct rstream *s = c->rc_cur;
	struct evbuffer *in, *out = bufferevent_get_output(c->rc_bev);
	struct evbuffer_iovec v;
	size_t n;
	enum http_errno e;

	if (s == NULL)
		return;
	in = bufferevent_get_input(s->rs_bev);
	while (!c->rc_resp_done && evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(out) >= RELAY_BUF_MAX) {
			bufferevent_disable(s->rs_bev, EV_READ);
			return;		/* the client's write callback resumes */
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&c->rc_resp, &resp_settings,
		    v.iov_base, v.iov_len);
		e = HTTP_PARSER_ERRNO(&c->rc_resp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			log_warn("a worker's response is malformed", "{s:s,s:s}",
			    "tenant", s->rs_tenant, "error",
			    http_errno_name(e));
			stream_drop(c, s);
			rconn_close_after_write(c);
			return;
		}
		evbuffer_remove_buffer(in, out, n);
		if (n == 0 && e == HPE_OK)
			break;
	}
	if (c->rc_resp_done) {
		/* Anything after the response is not an answer to anything. */
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->rc_req_done)
			rconn_request_done(c);
	}
}

static void
stream_on_read(struct bufferevent *bev, void *arg)
{
	struct rstream *s = arg;
	struct rconn *c = s->rs_conn;

	if (c->rc_cur != s) {
		/* An idle stream speaks: nobody asked; dropped. */
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	stream_pump(c);
}

static void
stream_on_write(struct bufferevent *bev, void *arg)
{
	struct rstream *s = arg;
	struct rconn *c = s->rs_conn;

	/* Room again down the stream: more of the request body. */
	if (c->rc_cur == s && c->rc_state == RC_BODY)
		rconn_process(c);
}

static void
stream_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rstream *s = arg;
	struct rconn *c = s->rs_conn;

	if (c->rc_cur != s) {
		/* The worker closed an idle stream (its keep-alive ran out,
		 * or the token was revoked): kept, dead, so that a
		 * revocation still finds this client by the hash. */
		s->rs_dead = 1;
		bufferevent_free(s->rs_bev);
		s->rs_bev = NULL;
		return;
	}
	s->rs_dead = 1;
	bufferevent_disable(s->rs_bev, EV_READ | EV_WRITE);
	/* A worker that answers early (413) and closes makes our write
	 * fail before its answer was read: what it sent is still in the
	 * socket. Then what came before the end goes to the client;
	 * request_done drops s once whole. */
	{
		struct evbuffer *in = bufferevent_get_input(bev);

		/* A bufferevent keeps the end of its input frozen: only it
		 * appends, and it has stopped. */
		evbuffer_unfreeze(in, 0);
		while (evbuffer_get_length(in) < RELAY_BUF_MAX &&
		    evbuffer_read(in, bufferevent_getfd(bev), 65536) > 0)
			;
		evbuffer_freeze(in, 0);
	}
	stream_pump(c);
	if (c->rc_cur != s)
		return;
	/* The response may be "until close": its end is now. */
	if (!c->rc_resp_done)
		(void)http_parser_execute(&c->rc_resp, &resp_settings, NULL, 0);
	if (c->rc_resp_done && c->rc_req_done) {
		c->rc_resp_close = 1;
		rconn_request_done(c);
		return;
	}
	if (!c->rc_resp_done)
		log_info("a worker's stream ended before its response",
		    "{s:s,s:s}", "tenant", s->rs_tenant, "remote", c->rc_addr);
	stream_drop(c, s);
	rconn_close_after_write(c);
}

/* c sends its request down s from now on. */
static void
rconn_start(struct rconn *c, struct rstream *s, int head_req)
{
	c->rc_cur = s;
	s->rs_conn = c;
	c->rc_state = RC_BODY;
	c->rc_req_done = c->rc_resp_done = 0;
	c->rc_req_close = c->rc_resp_close = 0;
	c->rc_head_req = head_req;
	http_parser_init(&c->rc_reqp, HTTP_REQUEST);
	c->rc_reqp.data = c;
	http_parser_init(&c->rc_resp, HTTP_RESPONSE);
	c->rc_resp.data = c;
	bufferevent_setcb(s->rs_bev, stream_on_read, stream_on_write,
	    stream_on_event, s);
	bufferevent_enable(s->rs_bev, EV_READ | EV_WRITE);
	rconn_process(c);
}

/* The request's head and then its body, down the stream, as far as the
 * request's framing goes. */
static void
rconn_send_body(struct rconn *c)
{
	struct rstream *s = c->rc_cur;
	struct evbuffer *in = bufferevent_get_input(c->rc_bev);
	struct evbuffer *out = bufferevent_get_output(s->rs_bev);
	struct evbuffer_iovec v;
	enum http_errno e;
	size_t n;

	while (!c->rc_req_done && evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(out) >= RELAY_BUF_MAX)
			return;		/* the stream's write callback resumes */
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = http_parser_execute(&c->rc_reqp, &req_settings, v.iov_base,
		    v.iov_len);
		e = HTTP_PARSER_ERRNO(&c->rc_reqp);
		if (e != HPE_OK && e != HPE_PAUSED) {
			struct evbuffer_ptr eol;
			size_t more;

			/* The framing is lost. The worker answers what is
			 * wrong (400, 413): it gets the rest of the offending
			 * line and nothing after it, and the connection ends
			 * with its answer. */
			log_info("request body malformed", "{s:s,s:s}",
			    "remote", c->rc_addr, "error", http_errno_name(e));
			evbuffer_remove_buffer(in, out, n);
			eol = evbuffer_search(in, "\n", 1, NULL);
			more = eol.pos != -1 && eol.pos < 1024 ?
			    (size_t)eol.pos + 1 : evbuffer_get_length(in) < 1024 ?
			    evbuffer_get_length(in) : 1024;
			evbuffer_remove_buffer(in, out, more);
			c->rc_req_done = c->rc_req_close = 1;
			break;
		}
		evbuffer_remove_buffer(in, out, n);
		if (n == 0 && e == HPE_OK)
			break;
	}
	if (c->rc_req_done) {
		c->rc_state = RC_RESPONSE;
		if (c->rc_resp_done)
			rconn_request_done(c);
	}
}

/* ------------------------------------------------------------- routes */

static struct rstream *
stream_find(struct rconn *c, const char *hash, const char *tenant)
{
	struct rstream *s;
	int64_t now = now_wall();

	for (s = c->rc_streams; s != NULL; s = s->rs_next)
		if (!s->rs_dead && strcmp(s->rs_hash, hash) == 0 &&
		    strcmp(s->rs_tenant, tenant) == 0 &&
		    now < s->rs_exp + JWT_LEEWAY)
			return s;
	return NULL;
}

/* Room for one more stream: the least recently used idle one goes. */
static void
stream_make_room(struct rconn *c)
{
	struct rstream *s, *old = NULL;

	if (c->rc_nstreams < RELAY_STREAMS_MAX)
		return;
	for (s = c->rc_streams; s != NULL; s = s->rs_next)
		if (s != c->rc_cur && (old == NULL || (s->rs_dead &&
		    !old->rs_dead) || (s->rs_dead == old->rs_dead &&
		    s->rs_used_ms < old->rs_used_ms)))
			old = s;
	if (old != NULL)
		stream_drop(c, old);
}

static void
route_wait_free(struct relay *r, struct route_wait *rw)
{
	struct route_wait **pp;

	for (pp = &r->r_routes; *pp != NULL; pp = &(*pp)->rw_next)
		if (*pp == rw) {
			*pp = rw->rw_next;
			if (r->r_routes_tail == &rw->rw_next)
				r->r_routes_tail = pp;
			r->r_nroutes--;
			break;
		}
	free(rw);
}

static int
json_set_str(json_t *o, const char *k, const char *v)
{
	json_t *s = json_string_lossy(v, strlen(v));

	return s == NULL ? -1 : json_object_set_new(o, k, s);
}

/*
 * Asks the supervisor about the head in hh (the first hh_head_len bytes
 * of the client's input). With a tenant path and a bearer token, a new
 * socketpair goes along: its far end is what the worker will get.
 */
static void
rconn_route(struct rconn *c, const struct httphead *hh, int with_stream)
{
	struct relay *r = c->rc_relay;
	struct evbuffer *in = bufferevent_get_input(c->rc_bev);
	struct route_wait *rw;
	struct rstream *s = NULL;
	size_t have = evbuffer_get_length(in) - hh->hh_head_len, blen;
	json_t *v;
	int sv[2] = { -1, -1 }, rc;

	if (r->r_nroutes >= RELAY_ROUTES_MAX) {
		rconn_error(c, 503, "relay busy");
		return;
	}
	v = json_pack("{s:i,s:s,s:i}", "method", hh->hh_method, "addr",
	    c->rc_addr, "port", c->rc_port);
	if (v == NULL || json_set_str(v, "path", hh->hh_path) == -1 ||
	    (hh->hh_has_host && json_set_str(v, "host", hh->hh_host) == -1) ||
	    (hh->hh_has_origin && json_set_str(v, "origin",
	    hh->hh_origin) == -1) ||
	    (hh->hh_has_authorization && json_set_str(v, "authorization",
	    hh->hh_authorization) == -1) ||
	    (hh->hh_request_id[0] != '\0' && json_set_str(v, "request_id",
	    hh->hh_request_id) == -1) ||
	    (hh->hh_has_forwarded_for && json_set_str(v, "forwarded_for",
	    hh->hh_forwarded_for) == -1))
		goto fail;
	/* A body at hand lets a 429 name the JSON-RPC id it refuses. */
	if ((blen = have < RELAY_ROUTE_BODY_MAX ? have :
	    RELAY_ROUTE_BODY_MAX) > 0) {
		unsigned char *b = evbuffer_pullup(in,
		    (ev_ssize_t)(hh->hh_head_len + blen));
		char *b64 = b != NULL ? b64_encode(b + hh->hh_head_len, blen) :
		    NULL;

		if (b64 == NULL || json_object_set_new(v, "body",
		    json_string(b64)) == -1) {
			free(b64);
			goto fail;
		}
		free(b64);
	}
	if (with_stream) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0, sv) == -1 ||
		    (s = calloc(1, sizeof(*s))) == NULL ||
		    (s->rs_bev = bufferevent_socket_new(r->r_base, sv[0],
		    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
			fd_close(&sv[0]);
			fd_close(&sv[1]);
			free(s);
			goto fail;
		}
		s->rs_conn = c;
		snprintf(s->rs_hash, sizeof(s->rs_hash), "%s", c->rc_hash);
	}
	if ((rw = calloc(1, sizeof(*rw))) == NULL) {
		fd_close(&sv[1]);
		stream_free(&s);
		goto fail;
	}
	rw->rw_id = ++r->r_next_route;
	rw->rw_conn = c;
	rc = ipc_send_json(r->r_ipc, IPC_RELAY_ROUTE, rw->rw_id, sv[1], v);
	fd_close(&sv[1]);
	json_decref(v);
	if (rc == -1) {
		free(rw);
		stream_free(&s);
		rconn_error(c, 503, "relay cannot reach the supervisor");
		return;
	}
	*r->r_routes_tail = rw;
	r->r_routes_tail = &rw->rw_next;
	r->r_nroutes++;
	c->rc_wait = rw;
	c->rc_new = s;
	c->rc_head_req = hh->hh_method == HTTP_HEAD;
	c->rc_state = RC_ROUTING;
	return;
fail:
	json_decref(v);
	rconn_error(c, 503, "out of memory");
}

int
rconn_routed(struct relay *r, uint32_t id, json_t *v)
{
	struct route_wait *rw = r->r_routes;
	struct rconn *c;
	struct rstream *s;
	const char *resp64, *tenant, *hash;
	json_int_t exp;
	uint8_t *resp;
	size_t resplen;

	/* Answers come in order: this must be the oldest route. */
	if (rw == NULL || rw->rw_id != id)
		return -1;
	c = rw->rw_conn;
	route_wait_free(r, rw);
	if (json_unpack(v, "{s:s}", "response", &resp64) == 0) {
		if (b64_decode(resp64, IPC_MAX_PAYLOAD, &resp, &resplen) == -1)
			return -1;
		if (c != NULL) {
			c->rc_wait = NULL;
			stream_free(&c->rc_new);
			evbuffer_add(bufferevent_get_output(c->rc_bev), resp,
			    resplen);
			/* The request is answered: its body, if any, is
			 * not read (the answer says Connection: close). */
			rconn_close_after_write(c);
		}
		free(resp);
		return 0;
	}
	if (json_unpack(v, "{s:s,s:s,s:I}", "tenant", &tenant, "token_hash",
	    &hash, "exp", &exp) != 0 || strlen(hash) != 64)
		return -1;
	if (c == NULL)
		return 0;	/* the stream went with its client */
	c->rc_wait = NULL;
	s = c->rc_new;
	c->rc_new = NULL;
	/* Routed means a stream went along, for the token we hashed. */
	if (s == NULL || strcmp(hash, s->rs_hash) != 0 ||
	    strcmp(tenant, c->rc_tenant) != 0) {
		stream_free(&s);
		return -1;
	}
	snprintf(s->rs_tenant, sizeof(s->rs_tenant), "%s", tenant);
	s->rs_exp = (int64_t)exp;
	stream_make_room(c);
	s->rs_next = c->rc_streams;
	c->rc_streams = s;
	c->rc_nstreams++;
	rconn_start(c, s, c->rc_head_req);
	return 0;
}

/* A whole head is at the front of the input: where does it go? */
static void
rconn_head(struct rconn *c, const struct httphead *hh)
{
	const char *tok;
	size_t toklen;
	struct rstream *s;
	int m;

	c->rc_hash[0] = c->rc_tenant[0] = '\0';
	m = httphead_path_tenant(hh->hh_path, c->rc_tenant,
	    sizeof(c->rc_tenant));
	if (m == 1 && hh->hh_has_authorization &&
	    (tok = httphead_bearer(hh->hh_authorization, &toklen)) != NULL) {
		jwt_token_hash(tok, toklen, c->rc_hash);
		if ((s = stream_find(c, c->rc_hash, c->rc_tenant)) != NULL) {
			rconn_start(c, s, hh->hh_method == HTTP_HEAD);
			return;
		}
		rconn_route(c, hh, 1);
		return;
	}
	rconn_route(c, hh, 0);
}

/* ------------------------------------------------------------- client */

static void
rconn_process(struct rconn *c)
{
	struct relay *r = c->rc_relay;
	struct evbuffer *in = bufferevent_get_input(c->rc_bev);
	struct httphead hh;
	size_t len, max = (size_t)r->r_max_header;
	unsigned char *buf;
	int st = 400, rc;

	if (c->rc_lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->rc_state == RC_BODY) {
		rconn_send_body(c);
		return;
	}
	if (c->rc_state != RC_HEAD)
		return;		/* the input waits */
	len = evbuffer_get_length(in);
	if (len == 0) {
		c->rc_head_timed = 0;
		rconn_arm(c, r->r_idle_timeout_s);
		return;
	}
	if (len > max)
		len = max;
	if ((buf = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
		rconn_free(c);
		return;
	}
	rc = httphead_parse((const char *)buf, len, &hh, &st);
	if (rc == 0 && len < max) {
		/* A head under way: it has header_timeout from its start. */
		if (!c->rc_head_timed) {
			c->rc_head_timed = 1;
			rconn_arm(c, r->r_header_timeout_s);
		}
		return;
	}
	event_del(c->rc_timer);
	c->rc_head_timed = 0;
	if (rc == 1) {
		rconn_head(c, &hh);
		return;
	}
	if (rc == 0)
		st = 431;
	rconn_error(c, st, st == 431 ? "request header fields too large" :
	    st == 414 ? "URI too long" : "malformed request");
}

static void
rconn_on_resume(evutil_socket_t fd, short ev, void *arg)
{
	rconn_process(arg);
}

static void
rconn_on_read(struct bufferevent *bev, void *arg)
{
	rconn_process(arg);
}

static void
rconn_on_write(struct bufferevent *bev, void *arg)
{
	struct rconn *c = arg;

	if (c->rc_state == RC_CLOSING) {
		if (!c->rc_lingering && evbuffer_get_length(
		    bufferevent_get_output(bev)) == 0) {
			shutdown(bufferevent_getfd(bev), SHUT_WR);
			c->rc_lingering = 1;
			rconn_arm(c, RELAY_LINGER_S);
		}
		return;
	}
	/* The client took some of the response: read more of it. */
	if (c->rc_cur != NULL && !c->rc_resp_done) {
		bufferevent_enable(c->rc_cur->rs_bev, EV_READ);
		stream_pump(c);
	}
}

static void
rconn_on_event(struct bufferevent *bev, short what, void *arg)
{
	/* EOF, reset or error: the client is gone, and its streams. */
	rconn_free(arg);
}

static void
rconn_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct rconn *c = arg;

	if (c->rc_state == RC_HEAD && !c->rc_lingering &&
	    evbuffer_get_length(bufferevent_get_input(c->rc_bev)) > 0) {
		rconn_error(c, 408, "request head not received in time");
		return;
	}
	rconn_free(c);
}

static void
rconn_free(struct rconn *c)
{
	struct relay *r = c->rc_relay;

	while (c->rc_streams != NULL)
		stream_drop(c, c->rc_streams);
	stream_free(&c->rc_new);
	if (c->rc_wait != NULL)
		c->rc_wait->rw_conn = NULL;	/* its answer is dropped */
	if (c->rc_prev != NULL)
		c->rc_prev->rc_next = c->rc_next;
	else
		r->r_conns = c->rc_next;
	if (c->rc_next != NULL)
		c->rc_next->rc_prev = c->rc_prev;
	r->r_nconns--;
	if (c->rc_timer != NULL)
		event_free(c->rc_timer);
	if (c->rc_ev_resume != NULL)
		event_free(c->rc_ev_resume);
	if (c->rc_bev != NULL)
		bufferevent_free(c->rc_bev);
	free(c);
	relay_stats_soon(r);
}

void
rconn_new(struct relay *r, int fd, const char *addr, int port)
{
	struct rconn *c;

	framing_init();
	if (r->r_nconns >= RELAY_CONNS_MAX || (c = calloc(1, sizeof(*c))) ==
	    NULL) {
		fd_close(&fd);
		return;
	}
	c->rc_relay = r;
	snprintf(c->rc_addr, sizeof(c->rc_addr), "%s", addr);
	c->rc_port = port;
	c->rc_next = r->r_conns;
	if (r->r_conns != NULL)
		r->r_conns->rc_prev = c;
	r->r_conns = c;
	r->r_nconns++;
	fd_nonblock(fd);
	c->rc_timer = evtimer_new(r->r_base, rconn_on_timer, c);
	c->rc_ev_resume = event_new(r->r_base, -1, 0, rconn_on_resume, c);
	c->rc_bev = bufferevent_socket_new(r->r_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->rc_bev == NULL)
		fd_close(&fd);
	if (c->rc_bev == NULL || c->rc_timer == NULL ||
	    c->rc_ev_resume == NULL) {
		rconn_free(c);
		return;
	}
	/* Pipelined requests and bodies wait in the kernel past this. */
	bufferevent_setwatermark(c->rc_bev, EV_READ, 0, RELAY_BUF_MAX);
	bufferevent_setcb(c->rc_bev, rconn_on_read, rconn_on_write,
	    rconn_on_event, c);
	bufferevent_enable(c->rc_bev, EV_READ | EV_WRITE);
	/* The first head has header_timeout from the accept. */
	c->rc_head_timed = 1;
	rconn_arm(c, r->r_header_timeout_s);
	relay_stats_soon(r);
}

void
rconn_revoke(struct relay *r, const char *hash)
{
	struct rconn *c, *next;
	struct rstream *s;

	/* A client that used the token is closed, as a worker closes the
	 * connections handed to it with it (a request in flight is
	 * aborted); its other tokens' streams go with it. */
	for (c = r->r_conns; c != NULL; c = next) {
		next = c->rc_next;
		for (s = c->rc_streams; s != NULL; s = s->rs_next)
			if (strcmp(s->rs_hash, hash) == 0)
				break;
		if (s != NULL)
			rconn_free(c);
	}
}
