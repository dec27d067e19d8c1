/*
 * httpc.c: HTTP/1.1 client connections to one remote MCP server (see
 * httpc.h).
 *
 * Connections are dialled through the launcher (launcher_connect) and
 * kept alive between requests up to h_max of them; a request waits in
 * h_queue until one is idle. User callbacks run only from libevent
 * callbacks, never from inside httpc_request or httpc_req_cancel.
 * Connection structs are freed only from the pool's reap event: a
 * callback may cancel its own request or free the whole pool, and the
 * code that called it still finds the connection, marked dead. The pool
 * itself is freed once no callback of its own is on the stack (h_depth).
 *
 * A request that fails on a reused keep-alive connection before a byte
 * of the response came is sent once more on a fresh one: the server
 * closed an idle connection just as we wrote to it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "worker.h"
#include "httpc.h"

#define HTTPC_IDLE_MS		30000	/* an idle connection is closed */
#define HTTPC_READ_CHUNK	16384
#define HTTPC_FILE_MAX		(4 * 1024 * 1024)

enum conn_state {
	HC_DIALING,	/* waiting for the launcher's socket */
	HC_CONNECTING,	/* non-blocking connect in progress */
	HC_HANDSHAKE,	/* TLS handshake */
	HC_IDLE,
	HC_BUSY,
	HC_DEAD,	/* waiting for the reap event */
};

struct httpc_req {
	TAILQ_ENTRY(httpc_req) r_link;	/* in h_queue while queued */
	struct httpc *r_h;
	struct httpc_conn *r_conn;	/* while in flight */
	char *r_out;			/* the serialized request */
	size_t r_outlen;
	const struct httpc_req_cbs *r_cbs;
	void *r_arg;
	int r_retried;
};

struct httpc_conn {
	TAILQ_ENTRY(httpc_conn) c_link;	/* in h_conns or h_dead */
	struct httpc *c_h;
	enum conn_state c_state;
	struct launcher_conn *c_dial;
	unsigned c_index;		/* which address of the name */
	int c_more;			/* addresses after that one */
	int c_fd;			/* while connecting */
	int64_t c_deadline_ms;		/* of the connect and handshake */
	struct event *c_ev_io;		/* connect completion */
	struct event *c_ev_timer;	/* connect, handshake, idle */
	struct bufferevent *c_bev;
	struct httpresp *c_resp;
	struct httpc_req *c_req;
	unsigned c_nreqs;		/* requests answered on it */
	int c_resp_done, c_keep_alive;
};

TAILQ_HEAD(conn_list, httpc_conn);

struct httpc {
	struct wrk *h_wrk;
	char h_name[65];
	struct url h_origin;
	char h_hostport[URL_HOST_MAX + 16];
	char h_port[8];
	SSL_CTX *h_tls;
	int h_max, h_connect_ms;
	struct conn_list h_conns;
	unsigned h_nconns;
	struct conn_list h_dead;
	TAILQ_HEAD(, httpc_req) h_queue;
	struct event *h_ev_kick;	/* reap, then dispatch the queue */
	int h_depth;			/* our callbacks on the stack */
	int h_dying;			/* httpc_free was called inside one */
};

static void conn_kill(struct httpc_conn *c);
static void conn_fail(struct httpc_conn *c, const char *error);
static void conn_dial(struct httpc_conn *c);
static void httpc_destroy(struct httpc *h);

static void
httpc_kick(struct httpc *h)
{
	event_active(h->h_ev_kick, EV_TIMEOUT, 0);
}

static void
httpc_enter(struct httpc *h)
{
	h->h_depth++;
}

/* Returns 1 when h was destroyed (the caller must not touch it). */
static int
httpc_leave(struct httpc *h)
{
	if (--h->h_depth == 0 && h->h_dying) {
		httpc_destroy(h);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ requests */

static void
req_free(struct httpc_req *r)
{
	if (r == NULL)
		return;
	if (r->r_out != NULL) {
		/* Headers may carry a token. */
		explicit_bzero(r->r_out, r->r_outlen);
		free(r->r_out);
	}
	free(r);
}

/* Delivers the end to r's owner and frees r (r already detached). */
static void
req_done(struct httpc_req *r, const char *error)
{
	struct httpc *h = r->r_h;

	if (!h->h_dying && r->r_cbs->on_done != NULL)
		r->r_cbs->on_done(r, error, r->r_arg);
	req_free(r);
}

/* --------------------------------------------------------- responses */

/* The caller gave up on r in a callback: no on_done, and the connection
 * (half-way through its answer) goes. */
static int
conn_resp_abandon(struct httpc_conn *c, struct httpc_req *r)
{
	if (c->c_req == r) {
		c->c_req = NULL;
		req_free(r);
	}
	conn_kill(c);
	return -1;
}

static int
conn_resp_head(int status, const json_t *headers, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc_req *r = c->c_req;

	if (c->c_state != HC_BUSY || r == NULL || c->c_h->h_dying)
		return -1;
	if (r->r_cbs->on_head != NULL &&
	    r->r_cbs->on_head(r, status, headers, r->r_arg) == -1)
		return conn_resp_abandon(c, r);
	return c->c_state == HC_BUSY && c->c_req == r ? 0 : -1;
}

static int
conn_resp_body(const char *data, size_t len, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc_req *r = c->c_req;

	if (c->c_state != HC_BUSY || r == NULL || c->c_h->h_dying)
		return -1;
	if (r->r_cbs->on_body != NULL &&
	    r->r_cbs->on_body(r, data, len, r->r_arg) == -1)
		return conn_resp_abandon(c, r);
	return c->c_state == HC_BUSY && c->c_req == r ? 0 : -1;
}

static void
conn_resp_done(int keep_alive, void *arg)
{
	struct httpc_conn *c = arg;

	c->c_resp_done = 1;
	c->c_keep_alive = keep_alive;
}

static const struct httpresp_cbs conn_resp_cbs = {
	conn_resp_head, conn_resp_body, conn_resp_done,
};

/* ---------------------------------------------------------- connections */

static void
conn_free(struct httpc_conn *c)
{
	launcher_connect_cancel(&c->c_dial);
	fd_close(&c->c_fd);
	if (c->c_ev_io != NULL)
		event_free(c->c_ev_io);
	if (c->c_ev_timer != NULL)
		event_free(c->c_ev_timer);
	if (c->c_bev != NULL)
		bufferevent_free(c->c_bev);
	httpresp_free(&c->c_resp);
	free(c);
}

/* Ends c without a word to anyone (its request, if any, is the caller's
 * business); the struct stays until the reap event. */
static void
conn_kill(struct httpc_conn *c)
{
	struct httpc *h = c->c_h;

	if (c->c_state == HC_DEAD)
		return;
	c->c_state = HC_DEAD;
	launcher_connect_cancel(&c->c_dial);
	if (c->c_ev_io != NULL)
		event_del(c->c_ev_io);
	if (c->c_ev_timer != NULL)
		event_del(c->c_ev_timer);
	if (c->c_bev != NULL) {
		bufferevent_disable(c->c_bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->c_bev, NULL, NULL, NULL, NULL);
	}
	fd_close(&c->c_fd);
	TAILQ_REMOVE(&h->h_conns, c, c_link);
	h->h_nconns--;
	TAILQ_INSERT_TAIL(&h->h_dead, c, c_link);
	httpc_kick(h);
}

/*
 * c failed with error: its request fails too (or is sent again on a
 * fresh connection, see the top); when nothing else is left to carry
 * them, so do the queued requests that waited for it.
 */
static void
conn_fail(struct httpc_conn *c, const char *error)
{
	struct httpc *h = c->c_h;
	struct httpc_req *r = c->c_req, *q;
	int was_ready = c->c_state == HC_IDLE || c->c_state == HC_BUSY;

	c->c_req = NULL;
	if (r != NULL && c->c_nreqs > 0 && !r->r_retried &&
	    (c->c_resp == NULL || !httpresp_started(c->c_resp))) {
		r->r_retried = 1;
		r->r_conn = NULL;
		TAILQ_INSERT_HEAD(&h->h_queue, r, r_link);
		r = NULL;
	}
	conn_kill(c);
	if (r != NULL) {
		r->r_conn = NULL;
		req_done(r, error);
	}
	if (was_ready || h->h_nconns > 0 || h->h_dying)
		return;
	/* It never got up and nothing else is: the server is not there. */
	while ((q = TAILQ_FIRST(&h->h_queue)) != NULL) {
		TAILQ_REMOVE(&h->h_queue, q, r_link);
		req_done(q, error);
		if (h->h_dying)
			return;
	}
}

static void
conn_arm_timer(struct httpc_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_add(c->c_ev_timer, &tv);
}

/* Sends the next queued request on idle c, or leaves c idle. */
static void
conn_take(struct httpc_conn *c)
{
	struct httpc *h = c->c_h;
	struct httpc_req *r;

	if ((r = TAILQ_FIRST(&h->h_queue)) == NULL) {
		conn_arm_timer(c, HTTPC_IDLE_MS);
		return;
	}
	TAILQ_REMOVE(&h->h_queue, r, r_link);
	event_del(c->c_ev_timer);
	c->c_state = HC_BUSY;
	c->c_req = r;
	r->r_conn = c;
	c->c_resp_done = 0;
	httpresp_reset(c->c_resp);
	if (bufferevent_write(c->c_bev, r->r_out, r->r_outlen) == -1) {
		conn_fail(c, "out of memory");
		return;
	}
	bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
}

/* The response is complete: hand it over, then reuse or close c. */
static void
conn_finish(struct httpc_conn *c)
{
	struct httpc_req *r = c->c_req;
	int keep = c->c_keep_alive;

	c->c_req = NULL;
	c->c_nreqs++;
	if (r != NULL) {
		r->r_conn = NULL;
		req_done(r, NULL);
	}
	if (c->c_state != HC_BUSY)
		return;
	if (!keep) {
		conn_kill(c);
		return;
	}
	c->c_state = HC_IDLE;
	httpc_kick(c->c_h);
}

static void
conn_on_read(struct bufferevent *bev, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc *h = c->c_h;
	struct evbuffer *in = bufferevent_get_input(bev);
	char err[256];
	size_t len;
	ssize_t n;
	char *data;

	httpc_enter(h);
	while (c->c_state == HC_BUSY && (len = evbuffer_get_length(in)) > 0) {
		if (len > HTTPC_READ_CHUNK)
			len = HTTPC_READ_CHUNK;
		if ((data = (char *)evbuffer_pullup(in, (ssize_t)len)) == NULL) {
			conn_fail(c, "out of memory");
			break;
		}
		n = httpresp_feed(c->c_resp, data, len, err, sizeof(err));
		if (c->c_state != HC_BUSY)
			break;		/* a callback ended it */
		if (n < 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "malformed response: %s",
			    err);
			conn_fail(c, msg);
			break;
		}
		evbuffer_drain(in, (size_t)n);
		if (c->c_resp_done)
			conn_finish(c);
	}
	/* Bytes nobody asked for on an idle connection: a broken server. */
	if (c->c_state == HC_IDLE && evbuffer_get_length(in) > 0)
		conn_kill(c);
	(void)httpc_leave(h);
}

static void
conn_tls_error(struct httpc_conn *c, char *buf, size_t len)
{
	SSL *ssl = c->c_bev != NULL ? bufferevent_openssl_get_ssl(c->c_bev) :
	    NULL;
	unsigned long e = c->c_bev != NULL ?
	    bufferevent_get_openssl_error(c->c_bev) : 0;
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char es[200];

	if (vr != X509_V_OK) {
		snprintf(buf, len, "TLS: certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (e != 0) {
		ERR_error_string_n(e, es, sizeof(es));
		snprintf(buf, len, "TLS: %s", es);
	} else {
		snprintf(buf, len, "TLS handshake failed: %s",
		    EVUTIL_SOCKET_ERROR() != 0 ?
		    strerror(EVUTIL_SOCKET_ERROR()) : "connection closed");
	}
	ERR_clear_error();
}

static void
conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc *h = c->c_h;
	char err[300], perr[256];

	httpc_enter(h);
	if (what & BEV_EVENT_CONNECTED) {
		if (c->c_state == HC_HANDSHAKE) {
			event_del(c->c_ev_timer);
			c->c_state = HC_IDLE;
			httpc_kick(h);
		}
		goto out;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		goto out;
	if (c->c_state == HC_HANDSHAKE) {
		conn_tls_error(c, err, sizeof(err));
		conn_fail(c, err);
	} else if (c->c_state == HC_BUSY) {
		/* What is still buffered first; then, at EOF, a response
		 * read until close ends here. */
		conn_on_read(bev, c);
		if (c->c_state != HC_BUSY)
			goto out;
		if ((what & BEV_EVENT_EOF) &&
		    httpresp_eof(c->c_resp, perr, sizeof(perr)) == 0 &&
		    c->c_resp_done) {
			c->c_keep_alive = 0;
			conn_finish(c);
			goto out;
		}
		if (what & BEV_EVENT_EOF) {
			if (!httpresp_started(c->c_resp))
				snprintf(err, sizeof(err), "the server closed "
				    "the connection without an answer");
			else
				snprintf(err, sizeof(err), "%s", perr);
		} else if (h->h_tls != NULL &&
		    bufferevent_get_openssl_error(bev) != 0) {
			conn_tls_error(c, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err), "connection error: %s",
			    strerror(EVUTIL_SOCKET_ERROR()));
		}
		conn_fail(c, err);
	} else {
		conn_kill(c);	/* idle: the server closed it */
	}
out:
	(void)httpc_leave(h);
}

/* The socket is connected: plain, or a TLS handshake first. */
static void
conn_up(struct httpc_conn *c)
{
	struct httpc *h = c->c_h;
	struct event_base *base = h->h_wrk->w_base;
	const struct url *o = &h->h_origin;
	unsigned char ip[16];
	int fd = c->c_fd, is_ip;
	SSL *ssl;

	if (h->h_tls == NULL) {
		c->c_bev = bufferevent_socket_new(base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (c->c_bev == NULL) {
			conn_fail(c, "out of memory");
			return;
		}
		c->c_fd = -1;
		bufferevent_setcb(c->c_bev, conn_on_read, NULL, conn_on_event,
		    c);
		c->c_state = HC_IDLE;
		event_del(c->c_ev_timer);
		httpc_kick(h);
		return;
	}
	if ((ssl = SSL_new(h->h_tls)) == NULL) {
		conn_fail(c, "TLS: cannot create a session");
		return;
	}
	is_ip = inet_pton(AF_INET, o->u_host, ip) == 1 ||
	    inet_pton(AF_INET6, o->u_host, ip) == 1;
	/* SNI for names only (RFC 6066); the name or address must match
	 * the certificate whenever verification is on. */
	if ((!is_ip && SSL_set_tlsext_host_name(ssl, o->u_host) != 1) ||
	    (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE && (is_ip ?
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    o->u_host) != 1 : SSL_set1_host(ssl, o->u_host) != 1))) {
		SSL_free(ssl);
		conn_fail(c, "TLS: cannot set the server name");
		return;
	}
	c->c_bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->c_bev == NULL) {
		SSL_free(ssl);
		conn_fail(c, "out of memory");
		return;
	}
	c->c_fd = -1;
	/* Many servers close without close_notify; a body read until
	 * close still ends there. */
	bufferevent_openssl_set_allow_dirty_shutdown(c->c_bev, 1);
	bufferevent_setcb(c->c_bev, conn_on_read, NULL, conn_on_event, c);
	bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
	c->c_state = HC_HANDSHAKE;
}

/* Connect failed on this address: the next one, or give up. */
static void
conn_next_address(struct httpc_conn *c, int more, const char *why)
{
	char msg[512];

	fd_close(&c->c_fd);
	event_del(c->c_ev_io);
	if (more && now_mono_ms() < c->c_deadline_ms) {
		c->c_index++;
		conn_dial(c);
		return;
	}
	snprintf(msg, sizeof(msg), "connect to %s: %s", c->c_h->h_hostport,
	    why);
	conn_fail(c, msg);
}

static void
conn_on_connected(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc *h = c->c_h;
	socklen_t sl = sizeof(int);
	int soerr = 0;

	httpc_enter(h);
	if (c->c_state != HC_CONNECTING)
		goto out;
	if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		soerr = errno;
	if (soerr != 0) {
		conn_next_address(c, c->c_more, strerror(soerr));
		goto out;
	}
	event_del(c->c_ev_io);
	conn_up(c);
out:
	(void)httpc_leave(h);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc *h = c->c_h;

	httpc_enter(h);
	switch (c->c_state) {
	case HC_DIALING:
	case HC_CONNECTING:
		conn_next_address(c, 0, "timed out");
		break;
	case HC_HANDSHAKE:
		conn_fail(c, "TLS handshake timed out");
		break;
	case HC_IDLE:
		conn_kill(c);
		break;
	default:
		break;
	}
	(void)httpc_leave(h);
}

static void
conn_on_dial(int fd, int more, int err, const char *gai_err, void *arg)
{
	struct httpc_conn *c = arg;
	struct httpc *h = c->c_h;
	char why[300];

	httpc_enter(h);
	c->c_dial = NULL;
	if (c->c_state != HC_DIALING) {
		fd_close(&fd);
		goto out;
	}
	if (fd < 0) {
		if (gai_err != NULL)
			snprintf(why, sizeof(why), "cannot resolve %s: %s",
			    h->h_origin.u_host, gai_err);
		else
			snprintf(why, sizeof(why), "%s", strerror(err));
		conn_next_address(c, gai_err == NULL && more, why);
		goto out;
	}
	c->c_fd = fd;
	c->c_state = HC_CONNECTING;
	c->c_more = more;
	event_assign(c->c_ev_io, h->h_wrk->w_base, fd, EV_WRITE,
	    conn_on_connected, c);
	event_add(c->c_ev_io, NULL);
out:
	(void)httpc_leave(h);
}

static void
conn_dial(struct httpc_conn *c)
{
	struct httpc *h = c->c_h;

	c->c_state = HC_DIALING;
	c->c_dial = launcher_connect(h->h_wrk, h->h_origin.u_host, h->h_port,
	    c->c_index, conn_on_dial, c);
	if (c->c_dial == NULL)
		conn_fail(c, "out of memory");
}

/* A new connection (counted in h_nconns at once). */
static void
conn_open(struct httpc *h)
{
	struct httpc_conn *c;
	struct httpc_req *q;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->c_resp = httpresp_new(&conn_resp_cbs, c)) == NULL ||
	    (c->c_ev_io = event_new(h->h_wrk->w_base, -1, 0,
	    conn_on_connected, c)) == NULL ||
	    (c->c_ev_timer = evtimer_new(h->h_wrk->w_base, conn_on_timer,
	    c)) == NULL) {
		if (c != NULL) {
			httpresp_free(&c->c_resp);
			if (c->c_ev_io != NULL)
				event_free(c->c_ev_io);
			free(c);
		}
		while (h->h_nconns == 0 &&
		    (q = TAILQ_FIRST(&h->h_queue)) != NULL) {
			TAILQ_REMOVE(&h->h_queue, q, r_link);
			req_done(q, "out of memory");
		}
		return;
	}
	c->c_h = h;
	c->c_fd = -1;
	TAILQ_INSERT_TAIL(&h->h_conns, c, c_link);
	h->h_nconns++;
	c->c_deadline_ms = now_mono_ms() + h->h_connect_ms;
	conn_arm_timer(c, h->h_connect_ms);
	conn_dial(c);
}

/* Frees dead connections, gives queued requests to idle ones, opens new
 * ones while there is room. */
static void
httpc_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *h = arg;
	struct httpc_conn *c, *next;
	unsigned pending = 0, opening = 0;

	httpc_enter(h);
	if (h->h_depth == 1)
		while ((c = TAILQ_FIRST(&h->h_dead)) != NULL) {
			TAILQ_REMOVE(&h->h_dead, c, c_link);
			conn_free(c);
		}
	for (c = TAILQ_FIRST(&h->h_conns); c != NULL && !h->h_dying;
	    c = next) {
		next = TAILQ_NEXT(c, c_link);
		if (c->c_state == HC_IDLE && c->c_req == NULL &&
		    !TAILQ_EMPTY(&h->h_queue))
			conn_take(c);
		else if (c->c_state == HC_IDLE && c->c_req == NULL &&
		    !event_pending(c->c_ev_timer, EV_TIMEOUT, NULL))
			conn_arm_timer(c, HTTPC_IDLE_MS);
	}
	if (!h->h_dying) {
		struct httpc_req *r;

		TAILQ_FOREACH(r, &h->h_queue, r_link)
			pending++;
		TAILQ_FOREACH(c, &h->h_conns, c_link)
			if (c->c_state == HC_DIALING ||
			    c->c_state == HC_CONNECTING ||
			    c->c_state == HC_HANDSHAKE)
				opening++;
		while (pending > opening && h->h_nconns < (unsigned)h->h_max &&
		    !h->h_dying) {
			conn_open(h);
			opening++;
		}
	}
	(void)httpc_leave(h);
}

/* ----------------------------------------------------------------- api */

struct httpc *
httpc_new(struct wrk *w, const char *name, const struct url *origin,
    SSL_CTX *tls, int max_conns, int connect_timeout_ms)
{
	struct httpc *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->h_ev_kick = event_new(w->w_base, -1, 0, httpc_on_kick, h)) ==
	    NULL) {
		free(h);
		return NULL;
	}
	h->h_wrk = w;
	snprintf(h->h_name, sizeof(h->h_name), "%s", name);
	h->h_origin = *origin;
	url_hostport(origin, h->h_hostport, sizeof(h->h_hostport));
	snprintf(h->h_port, sizeof(h->h_port), "%u", (unsigned)origin->u_port);
	if (tls != NULL) {
		SSL_CTX_up_ref(tls);
		h->h_tls = tls;
	}
	h->h_max = max_conns > 0 ? max_conns : 1;
	h->h_connect_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 10000;
	TAILQ_INIT(&h->h_conns);
	TAILQ_INIT(&h->h_dead);
	TAILQ_INIT(&h->h_queue);
	return h;
}

static void
httpc_destroy(struct httpc *h)
{
	struct httpc_conn *c;
	struct httpc_req *r;

	while ((r = TAILQ_FIRST(&h->h_queue)) != NULL) {
		TAILQ_REMOVE(&h->h_queue, r, r_link);
		req_free(r);
	}
	while ((c = TAILQ_FIRST(&h->h_conns)) != NULL) {
		TAILQ_REMOVE(&h->h_conns, c, c_link);
		req_free(c->c_req);
		conn_free(c);
	}
	while ((c = TAILQ_FIRST(&h->h_dead)) != NULL) {
		TAILQ_REMOVE(&h->h_dead, c, c_link);
		conn_free(c);
	}
	event_free(h->h_ev_kick);
	if (h->h_tls != NULL)
		SSL_CTX_free(h->h_tls);
	free(h);
}

void
httpc_free(struct httpc **hp)
{
	struct httpc *h = *hp;
	struct httpc_conn *c;

	if (h == NULL)
		return;
	*hp = NULL;
	if (h->h_depth == 0) {
		httpc_destroy(h);
		return;
	}
	/* Inside one of our callbacks: stop everything now, free on the
	 * way out. */
	h->h_dying = 1;
	while ((c = TAILQ_FIRST(&h->h_conns)) != NULL) {
		req_free(c->c_req);
		c->c_req = NULL;
		conn_kill(c);
	}
}

struct httpc_req *
httpc_request(struct httpc *h, const char *method, const char *target,
    const char *headers, const char *body, size_t bodylen,
    const struct httpc_req_cbs *cbs, void *arg)
{
	struct httpc_req *r;
	char *head = NULL;
	int n;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	n = asprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: dataagent/" DATAAGENT_VERSION "\r\n"
	    "Content-Length: %zu\r\n%s\r\n", method, target, h->h_hostport,
	    body != NULL ? bodylen : 0, headers != NULL ? headers : "");
	if (n < 0) {
		free(r);
		return NULL;
	}
	r->r_outlen = (size_t)n + (body != NULL ? bodylen : 0);
	if ((r->r_out = malloc(r->r_outlen)) == NULL) {
		explicit_bzero(head, (size_t)n);
		free(head);
		free(r);
		return NULL;
	}
	memcpy(r->r_out, head, (size_t)n);
	if (body != NULL)
		memcpy(r->r_out + n, body, bodylen);
	explicit_bzero(head, (size_t)n);
	free(head);
	r->r_h = h;
	r->r_cbs = cbs;
	r->r_arg = arg;
	TAILQ_INSERT_TAIL(&h->h_queue, r, r_link);
	httpc_kick(h);
	return r;
}

void
httpc_req_cancel(struct httpc_req **rp)
{
	struct httpc_req *r = *rp;
	struct httpc_conn *c;

	if (r == NULL)
		return;
	*rp = NULL;
	if ((c = r->r_conn) != NULL) {
		/* Half a response is on the wire: the connection cannot
		 * carry another. */
		c->c_req = NULL;
		conn_kill(c);
	} else {
		TAILQ_REMOVE(&r->r_h->h_queue, r, r_link);
	}
	req_free(r);
}

/* ------------------------------------------------------------------ tls */

/* Reads a whole file opened by the launcher into a new buffer. */
static char *
httpc_read_file(struct wrk *w, const char *path, size_t *len_r, char *err,
    size_t errlen)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, e;

	if ((e = launcher_open(w, path, &fd)) != 0) {
		snprintf(err, errlen, "cannot open %.300s: %s", path,
		    strerror(e));
		return NULL;
	}
	for (;;) {
		if (len + 65536 + 1 > cap) {
			cap = cap == 0 ? 65536 + 1 : cap * 2;
			if (cap > HTTPC_FILE_MAX + 1 ||
			    (nb = realloc(buf, cap)) == NULL) {
				snprintf(err, errlen, "%.300s is larger than "
				    "%d bytes", path, HTTPC_FILE_MAX);
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "cannot read %.300s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	fd_close(&fd);
	buf[len] = '\0';
	*len_r = len;
	return buf;
fail:
	fd_close(&fd);
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	return NULL;
}

/* Adds every certificate of a PEM file to store. */
static int
httpc_load_cas(struct wrk *w, X509_STORE *store, const char *path, char *err,
    size_t errlen)
{
	STACK_OF(X509_INFO) *infos;
	X509_INFO *xi;
	size_t len;
	char *pem;
	BIO *bio;
	int i, n = 0;

	if ((pem = httpc_read_file(w, path, &len, err, errlen)) == NULL)
		return -1;
	bio = BIO_new_mem_buf(pem, (int)len);
	infos = bio != NULL ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) :
	    NULL;
	for (i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 != NULL && X509_STORE_add_cert(store,
		    xi->x509) == 1)
			n++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(pem);
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errlen, "no certificate in %.300s", path);
		return -1;
	}
	return 0;
}

/* The client certificate (with its chain) and key. */
static int
httpc_load_client(struct wrk *w, SSL_CTX *ctx, const char *cert_file,
    const char *key_file, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *extra;
	char *pem = NULL;
	size_t len;
	BIO *bio = NULL;
	int rc = -1;

	if ((pem = httpc_read_file(w, cert_file, &len, err, errlen)) == NULL)
		return -1;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		snprintf(err, errlen, "no usable certificate in %.300s",
		    cert_file);
		goto out;
	}
	while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, extra) != 1)
			X509_free(extra);
	BIO_free(bio);
	bio = NULL;
	free(pem);
	if ((pem = httpc_read_file(w, key_file, &len, err, errlen)) == NULL)
		goto out;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "no private key matching the "
		    "certificate in %.300s", key_file);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(x);
	BIO_free(bio);
	if (pem != NULL) {
		/* The key file's bytes. */
		explicit_bzero(pem, len);
		free(pem);
	}
	ERR_clear_error();
	return rc;
}

SSL_CTX *
httpc_tls_new(struct wrk *w, int verify, const char *ca_file,
    const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	const char *bundle;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: cannot create a context");
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (ca_file != NULL && ca_file[0] != '\0') {
			if (httpc_load_cas(w, SSL_CTX_get_cert_store(ctx),
			    ca_file, err, errlen) == -1)
				goto fail;
		} else {
			/* The system bundle (Debian: ca-certificates). */
			bundle = X509_get_default_cert_file();
			if (httpc_load_cas(w, SSL_CTX_get_cert_store(ctx),
			    bundle, err, errlen) == -1 &&
			    httpc_load_cas(w, SSL_CTX_get_cert_store(ctx),
			    "/etc/ssl/certs/ca-certificates.crt", err,
			    errlen) == -1)
				goto fail;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cert_file != NULL && cert_file[0] != '\0' &&
	    httpc_load_client(w, ctx, cert_file, key_file != NULL ? key_file :
	    cert_file, err, errlen) == -1)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
