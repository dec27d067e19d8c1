/*
 * front.c: the front door. Accepts, peeks at the request head without
 * consuming it (MSG_PEEK, bounded in size and time), answers /health
 * and /metrics itself, authenticates the bearer token and hands the socket, head still
 * unread, to the tenant's worker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "cgroup.h"
#include "supervisor.h"
#include "ratelimit.h"
#include "tls.h"

#define FRONT_MAX_CONNS 4096
#define FRONT_LINGER_S 2
#define FRONT_WRITE_TIMEOUT_S 10

struct front_conn {
	struct front_conn *fc_next, *fc_prev;
	struct sup *fc_sup;
	int fc_fd;
	struct event *fc_ev;	/* EV_READ | EV_ET: wakes on new bytes only */
	struct event *fc_timer;	/* header timeout, then linger timeout */
	int fc_lingering;
	char fc_remote[INET6_ADDRSTRLEN + 8];
	int fc_loopback;	/* the client is on 127.0.0.0/8 or ::1 */
	struct evbuffer *fc_out;	/* a long answer still being written */
	struct event *fc_ev_write;
	uint8_t *fc_pre;	/* bytes a worker already read (handback) */
	size_t fc_prelen;
	int fc_metrics_only;	/* came in on metrics_listen */
	const char *fc_route;	/* route class, for /metrics */
	char fc_request_id[REQUEST_ID_MAX + 1];
	struct sockaddr_storage fc_addr;	/* the peer's address */
	struct sockaddr_storage fc_client;	/* the client's: fc_addr, or
					 * X-Forwarded-For's from a
					 * trusted proxy */
	const char *fc_peek;	/* the bytes being routed (front_route) */
	size_t fc_peeklen;
	struct tls_conn *fc_tls;	/* a TLS client: fc_fd is -1 */
	pid_t fc_from;		/* handed back by this worker, or 0 */
	struct relay_req *fc_relay;	/* a relay's request: fc_fd is -1 */
};

static void front_conn_free(struct front_conn **fcp, int close_fd);

/* A TLS client's answer (out owned; NULL: out of memory): written by
 * tls.c, which closes the connection after it; fc is freed. */
static void
front_tls_answer(struct front_conn *fc, struct evbuffer *out)
{
	struct tls_conn *tc = fc->fc_tls;

	if (fc->fc_relay != NULL) {
		relays_answer(fc->fc_relay, out);
		if (out != NULL)
			evbuffer_free(out);
		fc->fc_relay = NULL;
		front_conn_free(&fc, 0);
		return;
	}

	fc->fc_tls = NULL;
	if (out == NULL)
		tls_conn_free(&tc);
	else {
		tls_conn_answer(tc, out);
		evbuffer_free(out);
	}
	front_conn_free(&fc, 0);
}

static void
front_remote(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN], port[8];
	int n;

	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host,
	    sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "unknown");
		return;
	}
	n = snprintf(out, outlen, ss->ss_family == AF_INET6 ? "[%s]:%s" :
	    "%s:%s", host, port);
	if (n < 0 || (size_t)n >= outlen)
		snprintf(out, outlen, "unknown");
}

/* After an answer from the supervisor itself: stop writing, read and drop
 * what the client still sends for a moment, then close (nginx's lingering
 * close), so the client reads our answer instead of a reset. */
static void
front_linger(struct front_conn *fc)
{
	struct timeval tv = { FRONT_LINGER_S, 0 };

	shutdown(fc->fc_fd, SHUT_WR);
	fc->fc_lingering = 1;
	event_add(fc->fc_timer, &tv);
}

/* An answer of our own: counted by route class and logged (warnings and
 * errors at info, the rest at debug: probes and scrapes are frequent). */
static void
front_request_done(struct front_conn *fc, int status)
{
	if (fc->fc_request_id[0] == '\0')
		request_id_pick(NULL, fc->fc_request_id);
	if (fc->fc_route == NULL)
		fc->fc_route = "other";
	metrics_http_answer(fc->fc_sup, fc->fc_route, status);
	log_write(status >= 400 ? LOG_LVL_INFO : LOG_LVL_DEBUG, "request",
	    "{s:s,s:s,s:i,s:s}", "remote", fc->fc_remote, "route",
	    fc->fc_route, "status", status, "request_id", fc->fc_request_id);
}

static void
front_answer(struct front_conn *fc, int status, const char *extra,
    json_t *body)
{
	char head[2048], *s;
	int n;

	s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	front_request_done(fc, status);
	if (fc->fc_tls != NULL || fc->fc_relay != NULL) {
		struct evbuffer *b = evbuffer_new();

		if (b != NULL)
			evbuffer_add_printf(b, "HTTP/1.1 %d %s\r\nContent-Type: "
			    "application/json\r\nContent-Length: %zu\r\n"
			    "Cache-Control: no-store\r\nX-Request-Id: %s\r\n"
			    "Connection: close\r\n%s\r\n%s", status,
			    http_status_text(status), s != NULL ? strlen(s) : 0,
			    fc->fc_request_id, extra != NULL ? extra : "",
			    s != NULL ? s : "");
		free(s);
		front_tls_answer(fc, b);
		return;
	}
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "X-Request-Id: %s\r\n"
	    "Connection: close\r\n%s\r\n", status, http_status_text(status),
	    s != NULL ? strlen(s) : 0, fc->fc_request_id,
	    extra != NULL ? extra : "");
	/* A fresh socket's send buffer takes a few hundred bytes: a short
	 * write here means the client is gone or hostile; drop it. */
	if (n > 0 && (size_t)n < sizeof(head)) {
		struct iovec iov[2] = {
			{ head, (size_t)n },
			{ s != NULL ? s : "", s != NULL ? strlen(s) : 0 },
		};
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		/* MSG_DONTWAIT: a worker that had this socket may have
		 * cleared O_NONBLOCK (the flag is shared). */
		if (sendmsg(fc->fc_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("cannot answer a client", "{s:s}",
			    "remote", fc->fc_remote);
	}
	free(s);
	front_linger(fc);
}

/* Writes what the socket takes of fc_out without blocking whatever the
 * socket's flags (evbuffer_write would use write(2)). Returns 0, or -1
 * when the client is gone. */
static int
front_send_out(struct front_conn *fc)
{
	size_t len = evbuffer_get_length(fc->fc_out);
	unsigned char *p;
	ssize_t n;

	if (len > 65536)
		len = 65536;
	if (len == 0 || (p = evbuffer_pullup(fc->fc_out, (ev_ssize_t)len)) ==
	    NULL)
		return 0;
	n = send(fc->fc_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n > 0)
		evbuffer_drain(fc->fc_out, (size_t)n);
	return n == -1 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

static void
front_on_write(evutil_socket_t fd, short ev, void *arg)
{
	struct front_conn *fc = arg;

	if (front_send_out(fc) == -1) {
		front_conn_free(&fc, 1);
		return;
	}
	if (evbuffer_get_length(fc->fc_out) > 0)
		return;
	event_del(fc->fc_ev_write);
	front_linger(fc);
}

/*
 * Answers with a body of any size (taken from body, which is emptied):
 * written as the socket takes it, within FRONT_WRITE_TIMEOUT_S, while
 * what the client sends meanwhile is read and dropped.
 */
static void
front_answer_long(struct front_conn *fc, int status, const char *type,
    struct evbuffer *body)
{
	struct timeval tv = { FRONT_WRITE_TIMEOUT_S, 0 };
	struct sup *sp = fc->fc_sup;

	if (fc->fc_tls != NULL || fc->fc_relay != NULL) {
		struct evbuffer *b = evbuffer_new();

		if (b != NULL && (evbuffer_add_printf(b, "HTTP/1.1 %d %s\r\n"
		    "Content-Type: %s\r\nContent-Length: %zu\r\n"
		    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		    status, http_status_text(status), type,
		    evbuffer_get_length(body)) == -1 ||
		    evbuffer_add_buffer(b, body) == -1)) {
			evbuffer_free(b);
			b = NULL;
		}
		front_tls_answer(fc, b);
		return;
	}
	if (fc->fc_out == NULL && (fc->fc_out = evbuffer_new()) == NULL)
		goto fail;
	if (fc->fc_ev_write == NULL && (fc->fc_ev_write = event_new(sp->sp_base,
	    fc->fc_fd, EV_WRITE | EV_PERSIST, front_on_write, fc)) == NULL)
		goto fail;
	front_request_done(fc, status);
	if (evbuffer_add_printf(fc->fc_out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Request-Id: %s\r\n"
	    "Connection: close\r\n\r\n", status,
	    http_status_text(status), type, evbuffer_get_length(body),
	    fc->fc_request_id) == -1 ||
	    evbuffer_add_buffer(fc->fc_out, body) == -1)
		goto fail;
	fc->fc_lingering = 1;	/* reads now drop what the client sends */
	event_add(fc->fc_timer, &tv);
	event_add(fc->fc_ev_write, NULL);
	return;
fail:
	front_conn_free(&fc, 1);
}

static void
front_error(struct front_conn *fc, int status, const char *msg)
{
	front_answer(fc, status, NULL, json_pack("{s:s}", "error", msg));
}

/* 401 with the challenge of RFC 6750 (and RFC 9728's resource_metadata
 * when oauth_resource is set); `why` is a short reason without quotes. */
static void
front_unauthorized(struct front_conn *fc, const char *path, const char *why)
{
	char challenge[1280];

	log_info("authentication failed", "{s:s,s:s}", "remote",
	    fc->fc_remote, "reason", why);
	ratelimit_auth_failed(fc->fc_sup, &fc->fc_client);
	auth_challenge(fc->fc_sup, path, why, challenge, sizeof(challenge));
	front_answer(fc, 401, challenge, json_pack("{s:s,s:s}", "error",
	    "invalid_token", "error_description", why));
}

/* GET /.well-known/oauth-protected-resource[/api/v1/users/{id}/...]. */
static void
front_resource_metadata(struct front_conn *fc, const struct httphead *hh)
{
	json_t *md;

	if ((md = auth_metadata(fc->fc_sup, hh->hh_path)) == NULL) {
		front_error(fc, 404, "not found");
		return;
	}
	if (hh->hh_method != HTTP_GET && hh->hh_method != HTTP_HEAD) {
		json_decref(md);
		front_answer(fc, 405, "Allow: GET\r\n",
		    json_pack("{s:s}", "error", "method not allowed"));
		return;
	}
	front_answer(fc, 200, NULL, md);
}

static void
front_health(struct front_conn *fc, int detailed)
{
	struct sup *sp = fc->fc_sup;
	json_t *st;
	int code = 200;

	st = sup_status_json(sp);
	if (st == NULL) {
		front_error(fc, 500, "out of memory");
		return;
	}
	if (strcmp(json_string_value(json_object_get(st, "status")),
	    "healthy") != 0)
		code = 503;
	if (!detailed) {
		json_t *s = json_pack("{s:O}", "status",
		    json_object_get(st, "status"));
		json_decref(st);
		st = s;
	}
	front_answer(fc, code, NULL, st);
}

static void
front_metrics(struct front_conn *fc)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL || metrics_render(fc->fc_sup, body) == -1) {
		if (body != NULL)
			evbuffer_free(body);
		front_error(fc, 500, "out of memory");
		return;
	}
	front_answer_long(fc, 200, "text/plain; version=0.0.4; charset=utf-8",
	    body);
	evbuffer_free(body);
}

/* 1 when metrics_token is set and the request's bearer is it (compared
 * in constant time). */
static int
front_metrics_token_ok(const struct sup *sp, const struct httphead *hh)
{
	const char *want = sp->sp_cf.cf_metrics_token, *tok;
	uint8_t a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	size_t toklen;
	int ok;

	if (want[0] == '\0' || !hh->hh_has_authorization ||
	    (tok = httphead_bearer(hh->hh_authorization, &toklen)) == NULL)
		return 0;
	/* Digests first: equal lengths, so the comparison says nothing of
	 * the token's length either. */
	SHA256((const uint8_t *)tok, toklen, a);
	SHA256((const uint8_t *)want, strlen(want), b);
	ok = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return ok;
}

/*
 * 429 with Retry-After. On an MCP route (POST /api/v1/users/{id}/mcp...)
 * the body is a JSON-RPC error carrying the request's id when the body
 * is among the bytes at hand (else null); elsewhere a JSON error.
 */
static void
front_rate_limited(struct front_conn *fc, const struct httphead *hh,
    int retry_after, const char *why)
{
	char extra[64];
	int mcp = hh->hh_method == HTTP_POST && http_path_is_mcp(hh->hh_path);
	int with_body = fc->fc_peek != NULL && hh->hh_head_len < fc->fc_peeklen;

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", retry_after);
	log_info("rate limited", "{s:s,s:s,s:i}", "remote", fc->fc_remote,
	    "scope", why, "retry_after", retry_after);
	front_answer(fc, 429, extra, http_rate_limited_body(mcp,
	    with_body ? fc->fc_peek + hh->hh_head_len : NULL,
	    with_body ? fc->fc_peeklen - hh->hh_head_len : 0, retry_after));
}

/*
 * A TLS client is about to be handed off: the relay starts and fc_fd
 * becomes the worker's end of its socketpair, fc_pre the bytes read so
 * far. Returns 0, or -1 with fc freed.
 */
static int
front_tls_handoff(struct front_conn *fc, const char *tenant)
{
	struct tls_conn *tc = fc->fc_tls;
	uint8_t *pre;
	size_t prelen;
	int fd;

	fc->fc_tls = NULL;
	fc->fc_peek = NULL;	/* it pointed into the input just taken */
	if ((fd = tls_conn_handoff(tc, tenant, &pre, &prelen)) == -1) {
		front_conn_free(&fc, 0);
		return -1;
	}
	free(fc->fc_pre);
	fc->fc_pre = pre;
	fc->fc_prelen = prelen;
	fc->fc_fd = fd;
	return 0;
}

/* A forwarded client over its address's connection rate. */
static void
front_refuse_forwarded(struct front_conn *fc)
{
	log_info("rate limited", "{s:s,s:s,s:i}", "remote", fc->fc_remote,
	    "scope", "ip", "retry_after", 1);
	front_answer(fc, 429, "Retry-After: 1\r\n", json_pack("{s:s}",
	    "error", "too many connections from this address"));
}

/*
 * From a trusted proxy, the client is the one X-Forwarded-For names:
 * its address goes into the logs, the per-address limits and the
 * worker's "remote", and it is charged one connection (the proxy's
 * connections are not). Returns 0, or -1 when answered (429).
 */
static int
front_forwarded(struct front_conn *fc, const struct httphead *hh)
{
	struct sup *sp = fc->fc_sup;
	struct sockaddr_storage cl;

	if (!hh->hh_has_forwarded_for ||
	    !ratelimit_trusted_proxy(sp, &fc->fc_addr))
		return 0;
	if (ratelimit_forwarded_client(sp, hh->hh_forwarded_for, &cl) == -1) {
		log_debug("X-Forwarded-For from a trusted proxy names no "
		    "address: the proxy's is used", "{s:s}", "remote",
		    fc->fc_remote);
		return 0;
	}
	fc->fc_client = cl;
	/* The address alone: the client's port is the proxy's business. */
	if (getnameinfo((const struct sockaddr *)&cl, sizeof(cl), fc->fc_remote,
	    sizeof(fc->fc_remote), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(fc->fc_remote, sizeof(fc->fc_remote), "unknown");
	fc->fc_loopback = addr_is_loopback(&cl);
	if (!ratelimit_ip_connect(sp, &cl)) {
		fc->fc_route = "other";
		front_refuse_forwarded(fc);
		return -1;
	}
	return 0;
}

/* The whole head is here: decide. */
static void
front_route(struct front_conn *fc, const struct httphead *hh)
{
	struct sup *sp = fc->fc_sup;
	struct jwt_claims cl;
	struct store_tenant t;
	const char *tok, *why;
	size_t toklen;
	char id[128], hash[65], err[STORE_ERRLEN];
	int m, r, retry;

	fc->fc_route = http_route_class(hh->hh_path);
	request_id_pick(hh->hh_request_id, fc->fc_request_id);
	if (front_forwarded(fc, hh) == -1)
		return;
	if (fc->fc_metrics_only && strcmp(fc->fc_route, "health") != 0 &&
	    strcmp(fc->fc_route, "metrics") != 0) {
		front_error(fc, 404, "not found");
		return;
	}
	/* DNS rebinding: a name we do not serve under, or a page of a
	 * foreign origin, gets nothing, not even health. */
	if (!auth_host_ok(sp, hh, &why)) {
		log_info("request for a host or from an origin not allowed",
		    "{s:s,s:s,s:s}", "remote", fc->fc_remote, "header", why,
		    "value", strcmp(why, "host") == 0 ? hh->hh_host :
		    hh->hh_origin);
		front_error(fc, 403, strcmp(why, "host") == 0 ? "host not "
		    "allowed" : "origin not allowed");
		return;
	}
	if (auth_metadata_path(hh->hh_path)) {
		front_resource_metadata(fc, hh);
		return;
	}
	if (strcmp(hh->hh_path, "/health") == 0 ||
	    strcmp(hh->hh_path, "/health/detailed") == 0) {
		if (hh->hh_method != HTTP_GET && hh->hh_method != HTTP_HEAD) {
			front_answer(fc, 405, "Allow: GET\r\n",
			    json_pack("{s:s}", "error", "method not allowed"));
			return;
		}
		front_health(fc, hh->hh_path[7] == '/');
		return;
	}
	/* Not public: on the main port it takes metrics_token (a loopback
	 * peer may be a tenant's server); without, a path like any unknown
	 * one. */
	if (strcmp(hh->hh_path, "/metrics") == 0 &&
	    (fc->fc_metrics_only || front_metrics_token_ok(sp, hh))) {
		if (hh->hh_method != HTTP_GET) {
			front_answer(fc, 405, "Allow: GET\r\n",
			    json_pack("{s:s}", "error", "method not allowed"));
			return;
		}
		front_metrics(fc);
		return;
	}
	m = httphead_path_tenant(hh->hh_path, id, sizeof(id));
	if (m == 0) {
		front_error(fc, 404, "not found");
		return;
	}
	if (ratelimit_auth_blocked(sp, &fc->fc_client, &retry)) {
		front_rate_limited(fc, hh, retry, "auth");
		return;
	}
	if (!hh->hh_has_authorization ||
	    (tok = httphead_bearer(hh->hh_authorization, &toklen)) == NULL) {
		metrics_auth_failure(sp, "missing_token");
		front_unauthorized(fc, hh->hh_path, "a bearer token is "
		    "required");
		return;
	}
	if (auth_verify(sp, tok, toklen, &cl, hash, &why) == -1) {
		metrics_auth_failure(sp, why);
		front_unauthorized(fc, hh->hh_path, why);
		return;
	}
	if (m == -1 || strcmp(id, cl.jc_sub) != 0) {
		log_info("token used for another tenant's path", "{s:s,s:s}",
		    "remote", fc->fc_remote, "tenant", cl.jc_sub);
		metrics_auth_failure(sp, "wrong_tenant");
		front_error(fc, 403, "this token does not grant access to "
		    "that tenant");
		return;
	}
	r = store_tenant_get(sp->sp_store, cl.jc_sub, &t, err, sizeof(err));
	if (r == -1) {
		log_error("store lookup failed", "{s:s}", "error", err);
		front_error(fc, 503, "store unavailable");
		return;
	}
	if (r == 0 || !t.st_enabled) {
		log_info("token for an unknown or disabled tenant", "{s:s,s:s}",
		    "remote", fc->fc_remote, "tenant", cl.jc_sub);
		metrics_auth_failure(sp, "unknown_tenant");
		front_error(fc, 403, "tenant unknown or disabled");
		return;
	}
	if (ratelimit_tenant_take(sp, t.st_id, 1, &retry) == 0) {
		front_rate_limited(fc, hh, retry, "tenant");
		return;
	}
	/* A relay's request: the relay's stream goes to the worker. */
	if (fc->fc_relay != NULL) {
		sp->sp_handoffs++;
		relays_routed(fc->fc_relay, &t, hash, cl.jc_exp, fc->fc_remote);
		fc->fc_relay = NULL;
		front_conn_free(&fc, 0);
		return;
	}
	/* A TLS client: the worker gets a socketpair end instead, within
	 * the tenant's share of the relays. */
	if (fc->fc_tls != NULL && !tls_tenant_admit(sp, t.st_id)) {
		front_error(fc, 503, "too many TLS connections for this "
		    "tenant");
		return;
	}
	if (fc->fc_tls != NULL && front_tls_handoff(fc, t.st_id) == -1)
		return;
	sp->sp_handoffs++;
	workers_handoff(sp, &t, fc->fc_fd, hash, cl.jc_exp, fc->fc_remote,
	    &fc->fc_addr, fc->fc_pre, fc->fc_prelen);
	fc->fc_fd = -1;
	front_conn_free(&fc, 0);
}

static void front_peek(struct front_conn *);
static void front_peek_tls(struct front_conn *);

static void
front_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct front_conn *fc = arg;
	ssize_t n;

	if (fc->fc_lingering) {
		char junk[4096];

		for (;;) {
			n = recv(fc->fc_fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (n > 0)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			/* A client that is done sending may still be
			 * reading a long answer. */
			if (n == 0 && fc->fc_out != NULL &&
			    evbuffer_get_length(fc->fc_out) > 0) {
				event_del(fc->fc_ev);
				return;
			}
			front_conn_free(&fc, 1);
			return;
		}
	}
	front_peek(fc);
}

/* A TLS client's head is in the decrypted input (tls.c reads at most
 * about max_header_size into it while in the front). */
static void
front_peek_tls(struct front_conn *fc)
{
	struct evbuffer *in = tls_conn_input(fc->fc_tls);
	size_t max = (size_t)fc->fc_sup->sp_cf.cf_max_header_size, n;
	struct httphead hh;
	char *buf;
	int r, status = 400;

	n = evbuffer_get_length(in);
	if (n > max)
		n = max;
	if (n == 0 || (buf = (char *)evbuffer_pullup(in, (ev_ssize_t)n)) ==
	    NULL)
		return;
	r = httphead_parse(buf, n, &hh, &status);
	if (r == 1) {
		event_del(fc->fc_timer);
		fc->fc_peek = buf;
		fc->fc_peeklen = n;
		front_route(fc, &hh);	/* may free fc */
		return;
	}
	if (r == 0 && n < max)
		return;
	if (r == 0)
		status = 431;
	event_del(fc->fc_timer);
	front_error(fc, status, status == 431 ? "request header fields too "
	    "large" : status == 414 ? "URI too long" : "malformed request");
}

/* Looks at what a worker already read (fc_pre) followed by what is in
 * the socket, without consuming anything, and routes a complete head. */
static void
front_peek(struct front_conn *fc)
{
	struct sup *sp = fc->fc_sup;
	struct httphead hh;
	size_t max = (size_t)sp->sp_cf.cf_max_header_size, pre;
	char *buf;
	ssize_t n = 0;
	int r, status = 400;

	if (fc->fc_tls != NULL) {
		front_peek_tls(fc);
		return;
	}
	pre = fc->fc_prelen < max ? fc->fc_prelen : max;
	buf = malloc(max);
	if (buf == NULL)
		return;
	if (pre > 0)
		memcpy(buf, fc->fc_pre, pre);
	if (pre < max)
		n = recv(fc->fc_fd, buf + pre, max - pre,
		    MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		n = 0;
	else if (n == -1 || (n == 0 && pre < max)) {
		/* reset, or EOF before a whole head */
		free(buf);
		front_conn_free(&fc, 1);
		return;
	}
	n += (ssize_t)pre;
	if (n == 0) {
		free(buf);
		return;
	}
	r = httphead_parse(buf, (size_t)n, &hh, &status);
	if (r == 1) {
		event_del(fc->fc_timer);
		fc->fc_peek = buf;
		fc->fc_peeklen = (size_t)n;
		front_route(fc, &hh);	/* may free fc */
		free(buf);
		return;
	}
	free(buf);
	if (r == 0 && (size_t)n < max)
		return;		/* more to come; EV_ET wakes us on new bytes */
	if (r == 0)
		status = 431;
	event_del(fc->fc_timer);
	front_error(fc, status, status == 431 ? "request header fields too "
	    "large" : status == 414 ? "URI too long" : "malformed request");
}

static void
front_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct front_conn *fc = arg;

	if (fc->fc_lingering) {
		front_conn_free(&fc, 1);
		return;
	}
	log_info("request head not received in time", "{s:s}", "remote",
	    fc->fc_remote);
	front_error(fc, 408, "request head not received in time");
}

static void
front_conn_free(struct front_conn **fcp, int close_fd)
{
	struct front_conn *fc = *fcp;
	struct sup *sp;

	if (fc == NULL)
		return;
	sp = fc->fc_sup;
	if (fc->fc_prev != NULL)
		fc->fc_prev->fc_next = fc->fc_next;
	else
		sp->sp_conns = fc->fc_next;
	if (fc->fc_next != NULL)
		fc->fc_next->fc_prev = fc->fc_prev;
	sp->sp_nconns--;
	if (fc->fc_ev != NULL)
		event_free(fc->fc_ev);
	if (fc->fc_timer != NULL)
		event_free(fc->fc_timer);
	if (fc->fc_ev_write != NULL)
		event_free(fc->fc_ev_write);
	if (fc->fc_out != NULL)
		evbuffer_free(fc->fc_out);
	if (close_fd) {
		fd_close_nolinger(&fc->fc_fd);
		tls_conn_free(&fc->fc_tls);
	}
	free(fc->fc_pre);
	free(fc);
	*fcp = NULL;
}

/* A new connection in the front (fd owned), from the address accept
 * gave (peer), or NULL for getpeername to tell; NULL when refused.
 * TCP_NODELAY comes from the listening socket (listen_tcp). */
static struct front_conn *
front_conn_new(struct sup *sp, int fd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	struct front_conn *fc;
	struct timeval tv;

	if (sp->sp_stopping || sp->sp_nconns >= FRONT_MAX_CONNS) {
		fd_close_nolinger(&fd);
		return NULL;
	}
	fc = calloc(1, sizeof(*fc));
	if (fc == NULL) {
		fd_close_nolinger(&fd);
		return NULL;
	}
	fc->fc_sup = sp;
	fc->fc_fd = fd;
	memset(&ss, 0, sizeof(ss));
	if (peer != NULL)
		ss = *peer;
	if (peer != NULL ||
	    getpeername(fd, (struct sockaddr *)&ss, &slen) == 0) {
		front_remote(&ss, fc->fc_remote, sizeof(fc->fc_remote));
		fc->fc_loopback = addr_is_loopback(&ss);
		fc->fc_addr = fc->fc_client = ss;
	} else
		snprintf(fc->fc_remote, sizeof(fc->fc_remote), "unknown");
	fc->fc_ev = event_new(sp->sp_base, fd,
	    EV_READ | EV_PERSIST | EV_ET, front_on_read, fc);
	fc->fc_timer = evtimer_new(sp->sp_base, front_on_timer, fc);
	fc->fc_next = sp->sp_conns;
	if (sp->sp_conns != NULL)
		sp->sp_conns->fc_prev = fc;
	sp->sp_conns = fc;
	sp->sp_nconns++;
	if (fc->fc_ev == NULL || fc->fc_timer == NULL) {
		front_conn_free(&fc, 1);
		return NULL;
	}
	tv.tv_sec = sp->sp_cf.cf_header_timeout;
	tv.tv_usec = 0;
	event_add(fc->fc_timer, &tv);
	event_add(fc->fc_ev, NULL);
	/* Bytes may already be there (they arrived with the handshake):
	 * edge-triggered epoll reports them on add. */
	return fc;
}

void
front_adopt(struct sup *sp, int fd, uint8_t *pre, size_t prelen,
    const struct sockaddr_storage *peer, pid_t from)
{
	struct front_conn *fc;

	/* Set again, but not relied upon: the worker may keep a dup and
	 * clear it at any time, so every call on fd says MSG_DONTWAIT. */
	fd_nonblock(fd);
	/* The address recorded at accept: getpeername of a socket the
	 * worker had would believe whatever it dialled. */
	if ((fc = front_conn_new(sp, fd, peer)) == NULL) {
		free(pre);
		return;
	}
	fc->fc_from = from;
	fc->fc_pre = pre;
	fc->fc_prelen = prelen;
	/* The head may be whole in pre: no socket event would tell. */
	front_peek(fc);
}

unsigned
front_handbacks_from(struct sup *sp, pid_t pid)
{
	struct front_conn *fc;
	unsigned n = 0;

	for (fc = sp->sp_conns; fc != NULL; fc = fc->fc_next)
		if (fc->fc_from == pid)
			n++;
	return n;
}

void
front_refuse(int *fd, int status, const char *msg)
{
	char buf[512], junk[4096];
	int n, i;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "Retry-After: 1\r\n\r\n{\"error\":\"%s\"}", status,
	    http_status_text(status), strlen(msg) + 12, msg);
	for (i = 0; i < 4 && recv(*fd, junk, sizeof(junk), MSG_DONTWAIT) > 0;
	    i++)
		;
	if (n > 0 && (size_t)n < sizeof(buf) && send(*fd, buf, (size_t)n,
	    MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("cannot answer a refused connection", NULL);
	shutdown(*fd, SHUT_WR);
	fd_close_nolinger(fd);
}

/*
 * A connection over its address's rate: answered 429 at once and
 * closed, without a slot in the front. What the client already sent is
 * read first so that the close does not reset the answer away.
 */
static void
front_refuse_rate(int *fd)
{
	static const char msg[] = "HTTP/1.1 429 Too Many Requests\r\n"
	    "Content-Type: application/json\r\nContent-Length: 50\r\n"
	    "Retry-After: 1\r\nConnection: close\r\n\r\n"
	    "{\"error\":\"too many connections from this address\"}";
	char junk[4096];
	int i;

	for (i = 0; i < 4 && recv(*fd, junk, sizeof(junk), MSG_DONTWAIT) > 0;
	    i++)
		;
	if (send(*fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("cannot answer a refused connection", NULL);
	shutdown(*fd, SHUT_WR);
	fd_close(fd);
}

struct front_conn *
front_tls_new(struct sup *sp, struct tls_conn *tc,
    const struct sockaddr_storage *ss)
{
	struct front_conn *fc;
	struct timeval tv;

	if (sp->sp_stopping || sp->sp_nconns >= FRONT_MAX_CONNS ||
	    (fc = calloc(1, sizeof(*fc))) == NULL)
		return NULL;
	fc->fc_sup = sp;
	fc->fc_fd = -1;
	fc->fc_tls = tc;
	fc->fc_addr = fc->fc_client = *ss;
	front_remote(ss, fc->fc_remote, sizeof(fc->fc_remote));
	fc->fc_loopback = addr_is_loopback(ss);
	fc->fc_next = sp->sp_conns;
	if (sp->sp_conns != NULL)
		sp->sp_conns->fc_prev = fc;
	sp->sp_conns = fc;
	sp->sp_nconns++;
	if ((fc->fc_timer = evtimer_new(sp->sp_base, front_on_timer, fc)) ==
	    NULL) {
		fc->fc_tls = NULL;	/* the caller frees tc */
		front_conn_free(&fc, 0);
		return NULL;
	}
	tv.tv_sec = sp->sp_cf.cf_header_timeout;
	tv.tv_usec = 0;
	event_add(fc->fc_timer, &tv);
	return fc;
}

void
front_tls_from(struct front_conn *fc, pid_t from)
{
	fc->fc_from = from;
}

void
front_relay_route(struct sup *sp, struct relay_req *rq,
    const struct httphead *hh, const struct sockaddr_storage *ss,
    const char *body, size_t bodylen)
{
	struct front_conn *fc;

	if (sp->sp_stopping || sp->sp_nconns >= FRONT_MAX_CONNS ||
	    (fc = calloc(1, sizeof(*fc))) == NULL)
		return;		/* unanswered: the relay closes the client */
	fc->fc_sup = sp;
	fc->fc_fd = -1;
	fc->fc_relay = rq;
	fc->fc_addr = fc->fc_client = *ss;
	front_remote(ss, fc->fc_remote, sizeof(fc->fc_remote));
	fc->fc_loopback = addr_is_loopback(ss);
	fc->fc_peek = body;
	fc->fc_peeklen = body != NULL ? bodylen : 0;
	fc->fc_next = sp->sp_conns;
	if (sp->sp_conns != NULL)
		sp->sp_conns->fc_prev = fc;
	sp->sp_conns = fc;
	sp->sp_nconns++;
	front_route(fc, hh);	/* answers, and frees fc */
}

void
front_tls_input(struct front_conn *fc)
{
	if (fc != NULL && fc->fc_tls != NULL && !fc->fc_lingering)
		front_peek_tls(fc);
}

void
front_tls_gone(struct front_conn *fc)
{
	fc->fc_tls = NULL;
	front_conn_free(&fc, 0);
}

static void
front_on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct sup *sp = arg;
	struct sockaddr_storage ss;
	int fd;

	while ((fd = accept_next(lfd, &ss)) != -1) {
		if (!ratelimit_ip_connect(sp, &ss)) {
			front_refuse_rate(&fd);
			continue;
		}
		if (relays_take(sp, &fd, &ss))
			continue;
		(void)front_conn_new(sp, fd, &ss);
	}
}

/* metrics_listen: connections that may ask only for /metrics and
 * /health, from any address. */
static void
front_on_accept_metrics(evutil_socket_t lfd, short ev, void *arg)
{
	struct sup *sp = arg;
	struct sockaddr_storage ss;
	struct front_conn *fc;
	int fd;

	while ((fd = accept_next(lfd, &ss)) != -1)
		if ((fc = front_conn_new(sp, fd, &ss)) != NULL)
			fc->fc_metrics_only = 1;
}

static int
front_metrics_listen(struct sup *sp, char *err, size_t errlen)
{
	char host[CONFIG_STRLEN], port[16], e[512];
	int fd, bound;

	sp->sp_metrics_fd = -1;
	if (sp->sp_cf.cf_metrics_listen[0] == '\0')
		return 0;
	if (addr_split_hostport(sp->sp_cf.cf_metrics_listen, host,
	    sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen, "metrics_listen '%s': not address:port",
		    sp->sp_cf.cf_metrics_listen);
		return -1;
	}
	if ((fd = listen_tcp(host, port, 1, 128, &bound, e, sizeof(e))) == -1) {
		snprintf(err, errlen, "metrics_listen: %s", e);
		return -1;
	}
	sp->sp_metrics_fd = fd;
	sp->sp_ev_metrics_accept = event_new(sp->sp_base, fd,
	    EV_READ | EV_PERSIST, front_on_accept_metrics, sp);
	if (sp->sp_ev_metrics_accept == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	event_add(sp->sp_ev_metrics_accept, NULL);
	log_info("listening for metrics", "{s:s,s:i}", "host", host, "port",
	    bound);
	return 0;
}

int
front_listen(struct sup *sp, char *err, size_t errlen)
{
	char port[16], e[512];
	int fd;

	snprintf(port, sizeof(port), "%d", sp->sp_cf.cf_port);
	if ((fd = listen_tcp(sp->sp_cf.cf_host, port, 0, 1024,
	    &sp->sp_cf.cf_port, e, sizeof(e))) == -1) {
		snprintf(err, errlen, "host %s", e);
		return -1;
	}
	sp->sp_listen_fd = fd;
	sp->sp_ev_accept = event_new(sp->sp_base, fd, EV_READ | EV_PERSIST,
	    front_on_accept, sp);
	if (sp->sp_ev_accept == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	event_add(sp->sp_ev_accept, NULL);
	if (front_metrics_listen(sp, err, errlen) == -1)
		return -1;
	log_info("listening", "{s:s,s:i}", "host", sp->sp_cf.cf_host, "port",
	    sp->sp_cf.cf_port);
	return 0;
}

/* Stops accepting and drops connections still in the front. */
void
front_close_all(struct sup *sp)
{
	if (sp->sp_ev_accept != NULL) {
		event_free(sp->sp_ev_accept);
		sp->sp_ev_accept = NULL;
	}
	fd_close(&sp->sp_listen_fd);
	if (sp->sp_ev_metrics_accept != NULL) {
		event_free(sp->sp_ev_metrics_accept);
		sp->sp_ev_metrics_accept = NULL;
	}
	fd_close(&sp->sp_metrics_fd);
	tls_stop_accepting(sp);
	while (sp->sp_conns != NULL) {
		struct front_conn *fc = sp->sp_conns;

		front_conn_free(&fc, 1);
	}
}

json_t *
sup_status_json(struct sup *sp)
{
	char err[STORE_ERRLEN];
	json_t *tenants, *workers;
	/* Upstream connections are the slots granted (IPC_SLOT_REQ). */
	unsigned ups = workers_slots_used(sp);
	double usage;
	int healthy = 1;
	size_t ntenants = 0;

	tenants = store_tenant_list(sp->sp_store, err, sizeof(err));
	if (tenants == NULL)
		healthy = 0;
	else
		ntenants = json_array_size(tenants);
	json_decref(tenants);
	workers = workers_status_json(sp);
	usage = sp->sp_cf.cf_max_total_connections > 0 ?
	    (double)ups / sp->sp_cf.cf_max_total_connections : 0.0;
	/* "mcp" keeps the deployment guide's shape so existing checks work. */
	return json_pack("{s:s,s:{s:i,s:I,s:f},s:o,s:i,s:i,s:s,s:s,s:I,s:I,"
	    "s:s,s:o}",
	    "status", healthy ? "healthy" : "degraded",
	    "mcp",
	    "total_connections", (int)ups,
	    "active_users", json_integer_value(json_object_get(workers,
	    "active")),
	    "capacity_usage", usage,
	    "workers", workers,
	    "tenants", (int)ntenants,
	    "client_connections", (int)workers_connection_total(sp),
	    "store", healthy ? "ok" : "failing",
	    "version", DATAAGENT_VERSION,
	    "uptime_s", (json_int_t)(now_wall() - sp->sp_started),
	    "handoffs", (json_int_t)sp->sp_handoffs,
	    "cgroups", cg_mode_name(cg_mode(sp->sp_cg)),
	    "worker_deaths", workers_deaths_json(sp));
}
