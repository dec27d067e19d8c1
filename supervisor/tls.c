/*
 * tls.c: the TLS listener (tls.h).
 *
 * A connection goes through three states:
 *   FRONT    handshake, then the request head is read from the
 *            decrypted stream by the front door (front.c), which answers
 *            it (health, errors) or hands it off;
 *   RELAY    the worker holds one end of a socketpair; we relay between
 *            the TLS connection and the other end, each direction bounded
 *            by TLS_RELAY_MAX bytes (a full side stops reading the other:
 *            backpressure);
 *   CLOSING  an answer or the worker's last bytes are written, close
 *            notify is sent, and what the client still sends is read and
 *            dropped for a moment so that the close does not reset the
 *            answer away.
 * A worker that hands the connection back (IPC_HANDBACK) returns its end
 * of the socketpair; the connection goes back to FRONT with every byte
 * that was on its way to the worker.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "supervisor.h"
#include "ratelimit.h"
#include "tls.h"

#define TLS_MAX_CONNS 2048
#define TLS_RELAY_MAX (64 * 1024)
#define TLS_CLOSE_S 10		/* writing the last bytes */
#define TLS_LINGER_S 2

/*
 * TLS 1.2 suites: Mozilla's "intermediate" profile without DHE (forward
 * secret, AEAD only). TLS 1.3 keeps OpenSSL's defaults.
 */
#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

enum tc_state {
	TC_FRONT = 0,
	TC_RELAY,
	TC_CLOSING,
};

struct tls_conn {
	struct tls_conn *tc_next, *tc_prev;
	struct sup *tc_sup;
	enum tc_state tc_state;
	struct bufferevent *tc_bev;	/* the client, decrypted */
	struct bufferevent *tc_pair;	/* our end of the socketpair */
	ino_t tc_worker_ino;		/* the worker's end (handback) */
	char tc_tenant[65];		/* whose worker has it (RELAY) */
	struct front_conn *tc_fc;	/* while in the front */
	struct event *tc_timer;		/* CLOSING: write, then linger */
	int tc_lingering;
	int tc_failed;			/* a TLS error: no close notify */
	struct sockaddr_storage tc_addr;
};

struct tls {
	SSL_CTX *tl_ctx;
	int tl_fd;
	struct event *tl_ev_accept;
	struct tls_conn *tl_conns;
	unsigned tl_nconns;
	unsigned tl_nrelays;		/* RELAY and CLOSING */
	int tl_port;
	uint64_t tl_refused_tenant;	/* tls_max_conns_per_tenant */
};

static void tc_free(struct tls_conn *tc);
static void tc_on_read(struct bufferevent *bev, void *arg);
static void tc_on_write(struct bufferevent *bev, void *arg);
static void tc_on_event(struct bufferevent *bev, short what, void *arg);

/* The last OpenSSL error as text (the queue is emptied). */
static void
tls_error(const char *what, char *err, size_t errlen)
{
	unsigned long e, last = 0;
	char buf[256];

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0) {
		snprintf(err, errlen, "%s", what);
		return;
	}
	ERR_error_string_n(last, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
}

/* ALPN: HTTP/1.1 only; a client that offers only other protocols is
 * refused (RFC 7301). */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A server context for cf's certificate and key. NULL with err. */
static SSL_CTX *
tls_ctx_new(const struct config *cf, char *err, size_t errlen)
{
	struct stat st;
	SSL_CTX *ctx;

	ERR_clear_error();
	if (stat(cf->cf_tls_key_file, &st) == -1) {
		snprintf(err, errlen, "tls_key_file %s: %s",
		    cf->cf_tls_key_file, strerror(errno));
		return NULL;
	}
	if (st.st_mode & 0007) {
		snprintf(err, errlen, "tls_key_file %s is accessible to "
		    "others (mode %03o): chmod o-rwx it", cf->cf_tls_key_file,
		    (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error("SSL_CTX_new", err, errlen);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		tls_error("TLS settings", err, errlen);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->cf_tls_cert_file) !=
	    1) {
		char e[256];

		tls_error("cannot load", e, sizeof(e));
		snprintf(err, errlen, "tls_cert_file %s: %s",
		    cf->cf_tls_cert_file, e);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cf->cf_tls_key_file,
	    SSL_FILETYPE_PEM) != 1) {
		char e[256];

		tls_error("cannot load", e, sizeof(e));
		snprintf(err, errlen, "tls_key_file %s: %s",
		    cf->cf_tls_key_file, e);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls_key_file %s does not match "
		    "tls_cert_file %s", cf->cf_tls_key_file,
		    cf->cf_tls_cert_file);
		ERR_clear_error();
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_check(const struct config *cf, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (cf->cf_tls_port == 0)
		return 0;
	if ((ctx = tls_ctx_new(cf, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

void
tls_reload(struct sup *sp)
{
	struct tls *tl = sp->sp_tls;
	char err[512];
	SSL_CTX *ctx;

	if (tl == NULL)
		return;
	if ((ctx = tls_ctx_new(&sp->sp_cf, err, sizeof(err))) == NULL) {
		log_error("reload: keeping the running TLS certificate",
		    "{s:s}", "error", err);
		return;
	}
	/* Connections already made hold a reference to the old one. */
	SSL_CTX_free(tl->tl_ctx);
	tl->tl_ctx = ctx;
	log_info("TLS certificate loaded", "{s:s}", "cert",
	    sp->sp_cf.cf_tls_cert_file);
}

/* ------------------------------------------------------- connections */

static void
tc_relay_count(struct tls_conn *tc, int delta)
{
	tc->tc_sup->sp_tls->tl_nrelays += (unsigned)delta;
}

/* The last relay of a stopping supervisor whose workers are gone ends
 * the event loop (workers_reap does when relays are already gone). */
static void
tls_stop_check(struct sup *sp)
{
	if (sp->sp_stopping && sp->sp_workers == NULL && tls_relays(sp) == 0)
		event_base_loopexit(sp->sp_base, NULL);
}

static void
tc_free(struct tls_conn *tc)
{
	struct sup *sp = tc->tc_sup;
	struct tls *tl = sp->sp_tls;
	SSL *ssl;

	if (tc->tc_state != TC_FRONT)
		tc_relay_count(tc, -1);
	if (tc->tc_prev != NULL)
		tc->tc_prev->tc_next = tc->tc_next;
	else
		tl->tl_conns = tc->tc_next;
	if (tc->tc_next != NULL)
		tc->tc_next->tc_prev = tc->tc_prev;
	tl->tl_nconns--;
	if (tc->tc_timer != NULL)
		event_free(tc->tc_timer);
	if (tc->tc_pair != NULL)
		bufferevent_free(tc->tc_pair);
	if (tc->tc_bev != NULL) {
		ssl = bufferevent_openssl_get_ssl(tc->tc_bev);
		if (ssl != NULL && SSL_is_init_finished(ssl) &&
		    !tc->tc_failed && !tc->tc_lingering)
			(void)SSL_shutdown(ssl);	/* close notify */
		ERR_clear_error();
		bufferevent_free(tc->tc_bev);	/* closes the socket */
	}
	free(tc);
	tls_stop_check(sp);
}

void
tls_conn_free(struct tls_conn **tcp)
{
	if (*tcp == NULL)
		return;
	(*tcp)->tc_fc = NULL;
	tc_free(*tcp);
	*tcp = NULL;
}

struct evbuffer *
tls_conn_input(struct tls_conn *tc)
{
	return bufferevent_get_input(tc->tc_bev);
}

static void
tc_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	tc_free(arg);
}

/* Into CLOSING: the rest of the output is written, then close. */
static void
tc_closing(struct tls_conn *tc)
{
	struct timeval tv = { TLS_CLOSE_S, 0 };

	if (tc->tc_state == TC_FRONT)
		tc_relay_count(tc, 1);
	tc->tc_state = TC_CLOSING;
	tc->tc_fc = NULL;
	if (tc->tc_pair != NULL) {
		bufferevent_free(tc->tc_pair);
		tc->tc_pair = NULL;
	}
	bufferevent_setwatermark(tc->tc_bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(tc->tc_bev, EV_READ, 0, 0);
	bufferevent_enable(tc->tc_bev, EV_READ | EV_WRITE);
	if (tc->tc_timer == NULL &&
	    (tc->tc_timer = evtimer_new(tc->tc_sup->sp_base, tc_on_timer,
	    tc)) == NULL) {
		tc_free(tc);
		return;
	}
	event_add(tc->tc_timer, &tv);
	if (evbuffer_get_length(bufferevent_get_output(tc->tc_bev)) == 0)
		tc_on_write(tc->tc_bev, tc);
}

void
tls_conn_answer(struct tls_conn *tc, struct evbuffer *out)
{
	SSL *ssl = bufferevent_openssl_get_ssl(tc->tc_bev);

	/* No handshake yet (a timeout): nothing to say it over. */
	if (ssl == NULL || !SSL_is_init_finished(ssl) ||
	    bufferevent_write_buffer(tc->tc_bev, out) == -1) {
		tc->tc_fc = NULL;
		tc_free(tc);
		return;
	}
	tc_closing(tc);
}

static void pair_on_read(struct bufferevent *bev, void *arg);
static void pair_on_write(struct bufferevent *bev, void *arg);
static void pair_on_event(struct bufferevent *bev, short what, void *arg);

int
tls_tenant_admit(struct sup *sp, const char *tenant)
{
	struct tls *tl = sp->sp_tls;
	struct tls_conn *tc;
	int n = 0;

	if (tl == NULL)
		return 1;
	for (tc = tl->tl_conns; tc != NULL; tc = tc->tc_next)
		if (tc->tc_state != TC_FRONT &&
		    strcmp(tc->tc_tenant, tenant) == 0)
			n++;
	if (n < sp->sp_cf.cf_tls_max_conns_per_tenant)
		return 1;
	tl->tl_refused_tenant++;
	log_info("TLS connection refused: the tenant holds its share",
	    "{s:s,s:i}", "tenant", tenant, "tls_max_conns_per_tenant",
	    sp->sp_cf.cf_tls_max_conns_per_tenant);
	return 0;
}

void
tls_metrics(struct sup *sp, struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP dataagent_tls_refused_total TLS "
	    "connections refused at handoff: the tenant's relays were at "
	    "tls_max_conns_per_tenant.\n"
	    "# TYPE dataagent_tls_refused_total counter\n"
	    "dataagent_tls_refused_total{scope=\"tenant\"} %llu\n",
	    (unsigned long long)(sp->sp_tls != NULL ?
	    sp->sp_tls->tl_refused_tenant : 0));
}

int
tls_conn_handoff(struct tls_conn *tc, const char *tenant, uint8_t **pre_r,
    size_t *prelen_r)
{
	struct sup *sp = tc->tc_sup;
	struct evbuffer *in = bufferevent_get_input(tc->tc_bev);
	struct stat st;
	size_t len;
	int sv[2];

	*pre_r = NULL;
	*prelen_r = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		log_error("socketpair failed", "{s:s}", "error",
		    strerror(errno));
		tc_free(tc);
		return -1;
	}
	if (fstat(sv[1], &st) == -1 ||
	    (tc->tc_pair = bufferevent_socket_new(sp->sp_base, sv[0],
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(sv[0]);
		close(sv[1]);
		tc_free(tc);
		return -1;
	}
	tc->tc_worker_ino = st.st_ino;
	snprintf(tc->tc_tenant, sizeof(tc->tc_tenant), "%s", tenant);
	/* What was read so far travels as "pre"; beyond IPC_PRE_MAX (the
	 * head is far smaller) the rest goes through the socketpair. */
	len = evbuffer_get_length(in);
	if (len > IPC_PRE_MAX)
		len = IPC_PRE_MAX;
	if (len > 0 && ((*pre_r = malloc(len)) == NULL ||
	    evbuffer_remove(in, *pre_r, len) != (int)len)) {
		free(*pre_r);
		*pre_r = NULL;
		close(sv[1]);
		tc_free(tc);
		return -1;
	}
	*prelen_r = len;
	bufferevent_write_buffer(tc->tc_pair, in);
	tc->tc_state = TC_RELAY;
	tc->tc_fc = NULL;
	tc_relay_count(tc, 1);
	bufferevent_setcb(tc->tc_pair, pair_on_read, pair_on_write,
	    pair_on_event, tc);
	bufferevent_setwatermark(tc->tc_pair, EV_READ, 0, TLS_RELAY_MAX);
	bufferevent_setwatermark(tc->tc_pair, EV_WRITE, TLS_RELAY_MAX / 2, 0);
	bufferevent_setwatermark(tc->tc_bev, EV_READ, 0, TLS_RELAY_MAX);
	bufferevent_setwatermark(tc->tc_bev, EV_WRITE, TLS_RELAY_MAX / 2, 0);
	bufferevent_enable(tc->tc_pair, EV_READ | EV_WRITE);
	bufferevent_enable(tc->tc_bev, EV_READ | EV_WRITE);
	return sv[1];
}

/* Client -> worker. */
static void
tc_on_read(struct bufferevent *bev, void *arg)
{
	struct tls_conn *tc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (tc->tc_state) {
	case TC_FRONT:
		front_tls_input(tc->tc_fc);
		break;
	case TC_RELAY:
		bufferevent_write_buffer(tc->tc_pair, in);
		if (evbuffer_get_length(bufferevent_get_output(tc->tc_pair)) >=
		    TLS_RELAY_MAX)
			bufferevent_disable(bev, EV_READ);
		break;
	case TC_CLOSING:
		evbuffer_drain(in, evbuffer_get_length(in));
		break;
	}
}

/* The client took our output (down to the low watermark). */
static void
tc_on_write(struct bufferevent *bev, void *arg)
{
	struct tls_conn *tc = arg;
	struct timeval tv = { TLS_LINGER_S, 0 };
	SSL *ssl;

	if (tc->tc_state == TC_RELAY) {
		bufferevent_enable(tc->tc_pair, EV_READ);
		return;
	}
	if (tc->tc_state != TC_CLOSING || tc->tc_lingering ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	/* All written: close notify, no more writing, read and drop. */
	tc->tc_lingering = 1;
	ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl != NULL && SSL_is_init_finished(ssl) && !tc->tc_failed)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	event_add(tc->tc_timer, &tv);
}

static void
tc_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tls_conn *tc = arg;
	unsigned long e;
	char buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		log_debug("TLS handshake done", "{s:s,s:s}", "protocol",
		    ssl != NULL ? SSL_get_version(ssl) : "?", "cipher",
		    ssl != NULL ? SSL_get_cipher_name(ssl) : "?");
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	if (what & BEV_EVENT_ERROR)
		tc->tc_failed = 1;
	if (tc->tc_state == TC_FRONT &&
	    (e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("TLS handshake or read failed", "{s:s}", "error", buf);
	}
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	if (tc->tc_state == TC_FRONT && tc->tc_fc != NULL)
		front_tls_gone(tc->tc_fc);
	tc->tc_fc = NULL;
	/* The client is gone: so is the worker's connection (its end of
	 * the socketpair reads EOF). */
	tc_free(tc);
}

/* Worker -> client. */
static void
pair_on_read(struct bufferevent *bev, void *arg)
{
	struct tls_conn *tc = arg;

	bufferevent_write_buffer(tc->tc_bev, bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(tc->tc_bev)) >=
	    TLS_RELAY_MAX)
		bufferevent_disable(bev, EV_READ);
}

/* The worker took our output (down to the low watermark). */
static void
pair_on_write(struct bufferevent *bev, void *arg)
{
	struct tls_conn *tc = arg;

	if (tc->tc_state == TC_RELAY)
		bufferevent_enable(tc->tc_bev, EV_READ);
}

static void
pair_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tls_conn *tc = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* The worker closed: what it wrote is flushed, then we close. */
	pair_on_read(bev, tc);
	tc_closing(tc);
}

/* ----------------------------------------------------------- handback */

int
tls_adopt(struct sup *sp, int fd, uint8_t *pre, size_t prelen,
    const char *tenant, pid_t from)
{
	struct tls *tl = sp->sp_tls;
	struct tls_conn *tc;
	struct evbuffer *back, *in;
	struct stat st;
	char buf[16384];
	ssize_t n;
	int v;
	socklen_t len = sizeof(v);

	if (tl == NULL || fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == -1 ||
	    v != AF_UNIX)
		return -1;
	for (tc = tl->tl_conns; tc != NULL; tc = tc->tc_next)
		if (tc->tc_state == TC_RELAY && tc->tc_worker_ino == st.st_ino &&
		    strcmp(tc->tc_tenant, tenant) == 0)
			break;
	if (tc == NULL)
		return -1;
	if ((back = evbuffer_new()) == NULL) {
		free(pre);
		fd_close(&fd);
		tc_free(tc);
		return 0;
	}
	/* The worker's last answer first (it hands back only once its
	 * output drained into the socketpair). */
	pair_on_read(tc->tc_pair, tc);
	while ((n = recv(bufferevent_getfd(tc->tc_pair), buf, sizeof(buf),
	    MSG_DONTWAIT)) > 0)
		bufferevent_write(tc->tc_bev, buf, (size_t)n);
	/* Then what the client sent that the worker had not consumed: the
	 * bytes it read (pre), those still in its end, those still in ours,
	 * and those we have not relayed yet. */
	fd_nonblock(fd);
	if (prelen > 0)
		evbuffer_add(back, pre, prelen);
	free(pre);
	/* MSG_DONTWAIT: the worker may clear O_NONBLOCK again at any
	 * time (the flag is shared with our copy). */
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		evbuffer_add(back, buf, (size_t)n);
	fd_close(&fd);
	evbuffer_add_buffer(back, bufferevent_get_output(tc->tc_pair));
	bufferevent_free(tc->tc_pair);
	tc->tc_pair = NULL;
	in = bufferevent_get_input(tc->tc_bev);
	evbuffer_prepend_buffer(in, back);
	evbuffer_free(back);
	tc->tc_state = TC_FRONT;
	tc->tc_tenant[0] = '\0';
	tc_relay_count(tc, -1);
	bufferevent_setwatermark(tc->tc_bev, EV_READ, 0,
	    (size_t)sp->sp_cf.cf_max_header_size);
	bufferevent_setwatermark(tc->tc_bev, EV_WRITE, 0, 0);
	bufferevent_enable(tc->tc_bev, EV_READ | EV_WRITE);
	if ((tc->tc_fc = front_tls_new(sp, tc, &tc->tc_addr)) == NULL) {
		tc_free(tc);
		return 0;
	}
	front_tls_from(tc->tc_fc, from);
	log_debug("TLS connection handed back", NULL);
	front_tls_input(tc->tc_fc);
	return 0;
}

/* ------------------------------------------------------------ listener */

static void
tls_on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct sup *sp = arg;
	struct tls *tl = sp->sp_tls;
	struct sockaddr_storage ss;
	struct tls_conn *tc;
	SSL *ssl;
	int fd;

	while ((fd = accept_next(lfd, &ss)) != -1) {
		/* Over the address's rate: closed before any handshake
		 * work (the client cannot read a plain 429 anyway). */
		if (sp->sp_stopping || tl->tl_nconns >= TLS_MAX_CONNS ||
		    !ratelimit_ip_connect(sp, &ss)) {
			close(fd);
			continue;
		}
		if ((tc = calloc(1, sizeof(*tc))) == NULL ||
		    (ssl = SSL_new(tl->tl_ctx)) == NULL) {
			free(tc);
			close(fd);
			continue;
		}
		tc->tc_sup = sp;
		tc->tc_addr = ss;
		tc->tc_bev = bufferevent_openssl_socket_new(sp->sp_base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (tc->tc_bev == NULL) {
			SSL_free(ssl);
			close(fd);
			free(tc);
			continue;
		}
		tc->tc_next = tl->tl_conns;
		if (tl->tl_conns != NULL)
			tl->tl_conns->tc_prev = tc;
		tl->tl_conns = tc;
		tl->tl_nconns++;
		bufferevent_openssl_set_allow_dirty_shutdown(tc->tc_bev, 1);
		bufferevent_setcb(tc->tc_bev, tc_on_read, tc_on_write,
		    tc_on_event, tc);
		bufferevent_setwatermark(tc->tc_bev, EV_READ, 0,
		    (size_t)sp->sp_cf.cf_max_header_size);
		/* The header timeout covers the handshake too. */
		if ((tc->tc_fc = front_tls_new(sp, tc, &ss)) == NULL) {
			tc_free(tc);
			continue;
		}
		bufferevent_enable(tc->tc_bev, EV_READ | EV_WRITE);
	}
}

int
tls_open(struct sup *sp, char *err, size_t errlen)
{
	const char *host = sp->sp_cf.cf_tls_host[0] != '\0' ?
	    sp->sp_cf.cf_tls_host : sp->sp_cf.cf_host;
	char port[16], e[512];
	struct tls *tl;
	int fd;

	if (sp->sp_cf.cf_tls_port == 0)
		return 0;
	if ((tl = calloc(1, sizeof(*tl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tl->tl_fd = -1;
	sp->sp_tls = tl;
	if ((tl->tl_ctx = tls_ctx_new(&sp->sp_cf, err, errlen)) == NULL)
		return -1;
	snprintf(port, sizeof(port), "%d", sp->sp_cf.cf_tls_port);
	if ((fd = listen_tcp(host, port, 0, 1024, &tl->tl_port, e,
	    sizeof(e))) == -1) {
		snprintf(err, errlen, "tls_host %s", e);
		return -1;
	}
	tl->tl_fd = fd;
	tl->tl_ev_accept = event_new(sp->sp_base, fd, EV_READ | EV_PERSIST,
	    tls_on_accept, sp);
	if (tl->tl_ev_accept == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	event_add(tl->tl_ev_accept, NULL);
	log_info("listening (TLS)", "{s:s,s:i,s:s}", "host", host, "port",
	    tl->tl_port, "cert", sp->sp_cf.cf_tls_cert_file);
	return 0;
}

void
tls_stop_accepting(struct sup *sp)
{
	struct tls *tl = sp->sp_tls;

	if (tl == NULL)
		return;
	if (tl->tl_ev_accept != NULL) {
		event_free(tl->tl_ev_accept);
		tl->tl_ev_accept = NULL;
	}
	fd_close(&tl->tl_fd);
}

void
tls_free(struct sup *sp)
{
	struct tls *tl = sp->sp_tls;
	struct tls_conn *tc;

	if (tl == NULL)
		return;
	tls_stop_accepting(sp);
	while ((tc = tl->tl_conns) != NULL) {
		tc->tc_fc = NULL;
		tc_free(tc);
	}
	SSL_CTX_free(tl->tl_ctx);
	free(tl);
	sp->sp_tls = NULL;
}

unsigned
tls_relays(const struct sup *sp)
{
	return sp->sp_tls != NULL ? sp->sp_tls->tl_nrelays : 0;
}
