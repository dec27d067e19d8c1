/*
 * relays.c: the relays (dataagent-relay, relay/), the trusted readers of
 * client connections that may carry several tenants.
 *
 * With handoff = relay, a connection accepted on the main port goes to
 * the least loaded relay (IPC_RELAY_CLIENT) before anything is read from
 * it, unless its peer is in direct_peers (a peer declared single-tenant:
 * its connections are handed to a worker directly, front.c). The relay
 * reads each request head and asks here (IPC_RELAY_ROUTE); the head is
 * routed by front.c's front_route, the same code as a direct connection's
 * first head, and the answer goes back as a whole response or as "routed
 * to this tenant": then the socketpair end that came with the question
 * is handed to the tenant's worker as a client connection (IPC_CONN),
 * and the relay writes the request into its own end. So a worker only
 * ever reads requests the supervisor routed to its tenant.
 *
 * A relay is fork+exec'd as root with its channel on fd 3, says HELLO,
 * gets SETUP (its uid: relay_uid, or tenant_uid_base, which no tenant
 * gets; relay.policy), confines itself and says READY; only then does it
 * get clients. Relays are restarted when they die; one that dies before
 * it was ready slows the next start down (doubling, as workers).
 * Everything a relay sends is checked as a worker's messages are: a type
 * it may not send in its state, a malformed payload or an fd where none
 * belongs kills it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "scpolicy.h"
#include "supervisor.h"

#define RELAYS_MAX 256
#define RELAY_QUEUE_MAX 1024
#define RELAY_DIRECT_MAX 64
#define RELAY_BACKOFF_MIN_MS 1000
#define RELAY_BACKOFF_MAX_MS 60000
#define RELAY_NOFILE 65536
#define RELAY_PENDING_MAX (1024 * 1024)	/* bytes queued to one relay */

enum rly_state {
	RLY_STARTING = 0,
	RLY_SETUP,
	RLY_READY,
	RLY_DEAD,
};

struct rly {
	struct rly *rl_next;
	struct relays *rl_all;
	pid_t rl_pid;
	struct ipc_chan *rl_ipc;
	enum rly_state rl_state;
	unsigned rl_conns;		/* its last report, plus what we sent */
	const char *rl_killed_why;
};

struct rly_queued {
	int rq_fd;
	struct sockaddr_storage rq_ss;
	int64_t rq_ms;
};

/* A request a relay asked about, while front.c routes it. */
struct relay_req {
	struct rly *rr_relay;
	uint32_t rr_id;
	int rr_fd;		/* the worker's end of the stream, or -1 */
	int rr_answered;
	struct sockaddr_storage rr_addr;	/* the client's */
};

struct relays {
	struct sup *rs_sup;
	struct rly *rs_list;
	unsigned rs_target;
	char rs_path[PATH_MAX];
	char *rs_policy;
	uid_t rs_uid;
	struct cidr rs_direct[RELAY_DIRECT_MAX];
	int rs_ndirect;
	struct rly_queued rs_queue[RELAY_QUEUE_MAX];
	unsigned rs_nqueue;
	struct event *rs_ev_spawn;
	struct event *rs_ev_queue;	/* refuses what waited too long */
	int64_t rs_backoff_ms, rs_next_spawn_ms;
};

static void relays_refill(struct relays *rs);

static void
rly_kill(struct rly *rl, const char *why)
{
	ipc_chan_free(&rl->rl_ipc);
	rl->rl_state = RLY_DEAD;
	if (rl->rl_pid > 0 && rl->rl_killed_why == NULL) {
		rl->rl_killed_why = why;
		kill(rl->rl_pid, SIGKILL);
	}
}

static void
rly_violation(struct rly *rl, uint32_t type, const char *why)
{
	log_warn("protocol violation by a relay", "{s:i,s:i,s:s}",
	    "relay_pid", (int)rl->rl_pid, "type", (int)type, "why", why);
}

/* A connection that cannot be served: 503 and close. */
static void
client_refuse(int *fd, const char *msg)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"%s\"}",
	    strlen(msg) + 12, msg);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    send(*fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		log_debug("cannot answer a refused connection", NULL);
	shutdown(*fd, SHUT_RDWR);
	fd_close(fd);
}

/* Passes fd (owned) to rl. Returns 0, or -1 (fd still ours). */
static int
rly_pass(struct rly *rl, int fd, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "unknown";
	int port = 0, rc;
	json_t *v;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	}
	v = json_pack("{s:s,s:i}", "addr", host, "port", port);
	rc = v != NULL ? ipc_send_json(rl->rl_ipc, IPC_RELAY_CLIENT, 0, fd, v) :
	    -1;
	json_decref(v);
	if (rc == -1)
		return -1;
	rl->rl_conns++;
	return 0;
}

static struct rly *
rly_least_loaded(struct relays *rs)
{
	struct rly *rl, *best = NULL;

	/* One that does not read what we send (stuck) gets nothing more:
	 * every queued client is a socket held here. */
	for (rl = rs->rs_list; rl != NULL; rl = rl->rl_next)
		if (rl->rl_state == RLY_READY &&
		    ipc_pending(rl->rl_ipc) < RELAY_PENDING_MAX &&
		    (best == NULL || rl->rl_conns < best->rl_conns))
			best = rl;
	return best;
}

/* Connections that waited for a relay to be ready: to the relays now,
 * or refused when they waited longer than header_timeout. */
static void
relays_queue_flush(struct relays *rs)
{
	struct sup *sp = rs->rs_sup;
	int64_t now = now_mono_ms();
	unsigned i, keep = 0;
	struct rly *rl;

	for (i = 0; i < rs->rs_nqueue; i++) {
		struct rly_queued *q = &rs->rs_queue[i];

		if ((rl = rly_least_loaded(rs)) != NULL &&
		    rly_pass(rl, q->rq_fd, &q->rq_ss) == 0) {
			fd_close(&q->rq_fd);
			continue;
		}
		if (now - q->rq_ms > (int64_t)sp->sp_cf.cf_header_timeout *
		    1000) {
			client_refuse(&q->rq_fd, "no relay available");
			continue;
		}
		rs->rs_queue[keep++] = *q;
	}
	rs->rs_nqueue = keep;
	if (keep > 0 && rs->rs_ev_queue != NULL &&
	    !evtimer_pending(rs->rs_ev_queue, NULL)) {
		struct timeval tv = { 1, 0 };

		evtimer_add(rs->rs_ev_queue, &tv);
	}
}

static void
relays_on_queue(evutil_socket_t fd, short ev, void *arg)
{
	relays_queue_flush(arg);
}

/* ------------------------------------------------------------ routes */

static void
rly_answer_bytes(struct relay_req *rq, const void *buf, size_t len)
{
	char *b64 = b64_encode(len > 0 ? buf : "", len);
	json_t *v;

	rq->rr_answered = 1;
	fd_close(&rq->rr_fd);
	if (rq->rr_relay->rl_ipc == NULL)
		goto out;
	v = json_pack("{s:s}", "response", b64 != NULL ? b64 : "");
	if (v == NULL || ipc_send_json(rq->rr_relay->rl_ipc, IPC_RELAY_ROUTED,
	    rq->rr_id, -1, v) == -1)
		log_warn("cannot answer a relay", NULL);
	json_decref(v);
out:
	free(b64);
}

void
relays_answer(struct relay_req *rq, struct evbuffer *out)
{
	size_t len = out != NULL ? evbuffer_get_length(out) : 0;
	unsigned char *p = len > 0 ? evbuffer_pullup(out, -1) : NULL;

	rly_answer_bytes(rq, p, p != NULL ? len : 0);
}

void
relays_routed(struct relay_req *rq, const struct store_tenant *t,
    const char *hash, int64_t exp, const char *remote)
{
	struct sup *sp = rq->rr_relay->rl_all->rs_sup;
	static const char nostream[] = "HTTP/1.1 502 Bad Gateway\r\n"
	    "Content-Type: application/json\r\nContent-Length: 27\r\n"
	    "Connection: close\r\n\r\n{\"error\":\"relay protocol\"}";
	json_t *v;

	if (rq->rr_fd == -1 || rq->rr_relay->rl_ipc == NULL) {
		/* A relay that asks about a tenant's request sends the
		 * stream along; this one did not. */
		rly_answer_bytes(rq, nostream, sizeof(nostream) - 1);
		return;
	}
	rq->rr_answered = 1;
	v = json_pack("{s:s,s:s,s:I}", "tenant", t->st_id, "token_hash", hash,
	    "exp", (json_int_t)exp);
	if (v == NULL || ipc_send_json(rq->rr_relay->rl_ipc, IPC_RELAY_ROUTED,
	    rq->rr_id, -1, v) == -1)
		log_warn("cannot answer a relay", NULL);
	json_decref(v);
	/* The worker gets the stream only now: the relay writes the
	 * request into its end once it has read this answer. */
	workers_handoff(sp, t, rq->rr_fd, hash, exp, remote, &rq->rr_addr,
	    NULL, 0);
	rq->rr_fd = -1;
}

/* Copies an optional string field of at most size-1 bytes. -1 when it
 * is there and not a string, or too long. */
static int
route_str(json_t *v, const char *key, char *out, size_t size, int *has)
{
	json_t *s = json_object_get(v, key);

	if (has != NULL)
		*has = 0;
	out[0] = '\0';
	if (s == NULL)
		return 0;
	if (!json_is_string(s) || json_string_length(s) >= size ||
	    strlen(json_string_value(s)) != json_string_length(s))
		return -1;
	memcpy(out, json_string_value(s), json_string_length(s) + 1);
	if (has != NULL)
		*has = 1;
	return 0;
}

/* IPC_RELAY_ROUTE. Returns 0, or -1 for a malformed one. */
static int
rly_on_route(struct rly *rl, uint32_t id, json_t *v, int *fd)
{
	struct relays *rs = rl->rl_all;
	struct httphead hh;
	struct sockaddr_storage ss;
	struct relay_req rq;
	const char *addr, *body64 = NULL;
	json_int_t method, port;
	uint8_t *body = NULL;
	size_t bodylen = 0;

	memset(&hh, 0, sizeof(hh));
	memset(&ss, 0, sizeof(ss));
	if (json_unpack(v, "{s:I,s:s,s:I,s?s}", "method", &method, "addr",
	    &addr, "port", &port, "body", &body64) != 0 || method < 0 ||
	    method > 64 || port < 0 || port > 65535 ||
	    route_str(v, "path", hh.hh_path, sizeof(hh.hh_path), NULL) ==
	    -1 || hh.hh_path[0] != '/' ||
	    route_str(v, "host", hh.hh_host, sizeof(hh.hh_host),
	    &hh.hh_has_host) == -1 ||
	    route_str(v, "origin", hh.hh_origin, sizeof(hh.hh_origin),
	    &hh.hh_has_origin) == -1 ||
	    route_str(v, "authorization", hh.hh_authorization,
	    sizeof(hh.hh_authorization), &hh.hh_has_authorization) == -1 ||
	    route_str(v, "request_id", hh.hh_request_id,
	    sizeof(hh.hh_request_id), NULL) == -1 ||
	    route_str(v, "forwarded_for", hh.hh_forwarded_for,
	    sizeof(hh.hh_forwarded_for), &hh.hh_has_forwarded_for) == -1 ||
	    (body64 != NULL && b64_decode(body64, RELAY_ROUTE_BODY_MAX, &body,
	    &bodylen) == -1))
		return -1;
	hh.hh_method = (int)method;
	hh.hh_http_major = hh.hh_http_minor = 1;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	} else {
		free(body);
		return -1;
	}
	memset(&rq, 0, sizeof(rq));
	rq.rr_relay = rl;
	rq.rr_id = id;
	rq.rr_fd = *fd;
	rq.rr_addr = ss;
	*fd = -1;
	front_relay_route(rs->rs_sup, &rq, &hh, &ss, (const char *)body,
	    bodylen);
	if (!rq.rr_answered)
		rly_answer_bytes(&rq, NULL, 0);
	fd_close(&rq.rr_fd);
	free(body);
	return 0;
}

/* ------------------------------------------------------- relay -> sup */

/* IPC_RELAY_STATS "refused" (may be absent): {"code": n} of the
 * relay's own answers (RELAY_REFUSED_CODES), counted in
 * dataagent_http_requests_total as route "other". 0, or -1. */
static int
rly_refused(struct rly *rl, json_t *refused)
{
	static const int codes[] = RELAY_REFUSED_CODES;
	struct sup *sp = rl->rl_all->rs_sup;
	const char *k;
	json_t *n;
	json_int_t i;
	int c, j;

	if (refused == NULL)
		return 0;
	if (!json_is_object(refused))
		return -1;
	json_object_foreach(refused, k, n) {
		c = atoi(k);
		for (j = 0; j < RELAY_NREFUSED && codes[j] != c; j++)
			;
		if (j == RELAY_NREFUSED || !json_is_integer(n) ||
		    json_integer_value(n) < 1 ||
		    json_integer_value(n) > 100000)
			return -1;
	}
	json_object_foreach(refused, k, n)
		for (i = 0; i < json_integer_value(n); i++)
			metrics_http_answer(sp, "other", atoi(k));
	return 0;
}

static int
rly_on_msg(struct ipc_chan *ch, struct ipc_msg *msg, void *arg)
{
	struct rly *rl = arg;
	struct relays *rs = rl->rl_all;
	struct sup *sp = rs->rs_sup;
	uint32_t type = msg->im_hdr.ih_type;
	json_t *v, *setup;
	json_int_t n;
	int rc = -1;

	if (msg->im_fd != -1 && type != IPC_RELAY_ROUTE) {
		rly_violation(rl, type, "unexpected fd");
		fd_close(&msg->im_fd);
		return -1;
	}
	if ((v = ipc_payload_json(msg)) == NULL) {
		rly_violation(rl, type, "payload is not a JSON object");
		fd_close(&msg->im_fd);
		return -1;
	}
	switch (type) {
	case IPC_RELAY_HELLO:
		if (rl->rl_state != RLY_STARTING)
			break;
		rc = 0;
		setup = json_pack("{s:i,s:i,s:s,s:i,s:i,s:i,s:i,s:s}", "uid",
		    (int)rs->rs_uid, "gid", (int)rs->rs_uid, "policy",
		    rs->rs_policy, "nofile", RELAY_NOFILE, "max_header_size",
		    sp->sp_cf.cf_max_header_size, "header_timeout",
		    sp->sp_cf.cf_header_timeout, "idle_timeout",
		    sp->sp_cf.cf_idle_timeout, "log_level",
		    log_level_name(sp->sp_cf.cf_log_level));
		if (setup == NULL || ipc_send_json(rl->rl_ipc, IPC_RELAY_SETUP,
		    0, -1, setup) == -1)
			rc = -1;
		json_decref(setup);
		rl->rl_state = RLY_SETUP;
		break;
	case IPC_RELAY_READY:
		if (rl->rl_state != RLY_SETUP)
			break;
		rc = 0;
		rl->rl_state = RLY_READY;
		rs->rs_backoff_ms = 0;
		log_info("relay ready", "{s:i,s:i}", "relay_pid",
		    (int)rl->rl_pid, "uid", (int)rs->rs_uid);
		relays_queue_flush(rs);
		break;
	case IPC_RELAY_ROUTE:
		if (rl->rl_state != RLY_READY)
			break;
		rc = rly_on_route(rl, msg->im_hdr.ih_peer, v, &msg->im_fd);
		break;
	case IPC_RELAY_STATS:
		if (rl->rl_state != RLY_READY || json_unpack(v, "{s:I}",
		    "connections", &n) != 0 || n < 0 || n > 1000000 ||
		    rly_refused(rl, json_object_get(v, "refused")) == -1)
			break;
		rc = 0;
		rl->rl_conns = (unsigned)n;
		break;
	default:
		break;
	}
	if (rc == -1)
		rly_violation(rl, type, "not a message it may send now");
	fd_close(&msg->im_fd);
	json_decref(v);
	return rc;
}

static void
rly_on_error(struct ipc_chan *ch, const char *why, void *arg)
{
	struct rly *rl = arg;

	if (!rl->rl_all->rs_sup->sp_stopping)
		log_warn("relay channel closed", "{s:i,s:s}", "relay_pid",
		    (int)rl->rl_pid, "why", why);
	rly_kill(rl, why);
}

/* ---------------------------------------------------------- lifecycle */

static struct rly *
rly_spawn(struct relays *rs)
{
	struct sup *sp = rs->rs_sup;
	struct rly *rl;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair failed", "{s:s}", "error",
		    strerror(errno));
		return NULL;
	}
	/* Its stdout and stderr are ours: a relay runs no tenant code. */
	pid = spawn_child(sp, rs->rs_path, "dataagent-relay", sv[1],
	    RELAY_IPC_FD, 2, log_format_is_text(sp->sp_cf.cf_log_format) ?
	    "text" : "json");
	if (pid == -1) {
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	close(sv[1]);
	if ((rl = calloc(1, sizeof(*rl))) == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		return NULL;
	}
	rl->rl_all = rs;
	rl->rl_pid = pid;
	rl->rl_state = RLY_STARTING;
	rl->rl_next = rs->rs_list;
	rs->rs_list = rl;
	if ((rl->rl_ipc = ipc_chan_new(sp->sp_base, sv[0], rly_on_msg,
	    rly_on_error, rl)) == NULL)
		rly_kill(rl, "out of memory");
	log_debug("relay spawned", "{s:i}", "relay_pid", (int)pid);
	return rl;
}

static void
relays_on_spawn(evutil_socket_t fd, short ev, void *arg)
{
	relays_refill(arg);
}

/* Keeps rs_target relays, with the throttle after early deaths. */
static void
relays_refill(struct relays *rs)
{
	struct rly *rl;
	unsigned n = 0;
	int64_t now = now_mono_ms();

	if (rs->rs_sup->sp_stopping)
		return;
	for (rl = rs->rs_list; rl != NULL; rl = rl->rl_next)
		if (rl->rl_state != RLY_DEAD)
			n++;
	while (n < rs->rs_target) {
		if (now < rs->rs_next_spawn_ms) {
			int64_t d = rs->rs_next_spawn_ms - now;
			struct timeval tv = { d / 1000, (d % 1000) * 1000 };

			event_add(rs->rs_ev_spawn, &tv);
			return;
		}
		if (rly_spawn(rs) == NULL)
			return;
		n++;
	}
}

/*
 * The relay binary (beside dataagentd, else the installed one) into
 * path, and relay.policy's text (checked) into *policy_r (may be NULL).
 * 0, or -1 with err.
 */
static int
relays_files(const struct config *cf, char *path, size_t pathlen,
    char **policy_r, char *err, size_t errlen)
{
	struct scpolicy *p = NULL;
	char self[PATH_MAX], ppath[CONFIG_STRLEN + 32];
	ssize_t n;
	int rc;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	path[0] = '\0';
	if (n > 0) {
		self[n] = '\0';
		snprintf(path, pathlen, "%s/dataagent-relay", dirname(self));
	}
	if (path[0] == '\0' || access(path, X_OK) == -1)
		snprintf(path, pathlen, "%s/dataagent-relay", LIBEXECDIR);
	if (access(path, X_OK) == -1) {
		snprintf(err, errlen, "relay binary %s: %s", path,
		    strerror(errno));
		return -1;
	}
	snprintf(ppath, sizeof(ppath), "%s/relay.policy", cf->cf_policy_dir);
	if (scpolicy_load_file(ppath, policy_r, &p, err, errlen) == -1)
		return -1;
	rc = scpolicy_check(p, err, errlen);
	scpolicy_free(&p);
	if (rc == -1 && policy_r != NULL) {
		free(*policy_r);
		*policy_r = NULL;
	}
	return rc;
}

int
relays_check(const struct config *cf, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (strcmp(cf->cf_handoff, "relay") != 0 || cf->cf_relays == 0)
		return 0;
	return relays_files(cf, path, sizeof(path), NULL, err, errlen);
}

int
relays_start(struct sup *sp, char *err, size_t errlen)
{
	const struct config *cf = &sp->sp_cf;
	struct relays *rs;
	long ncpu;

	if (strcmp(cf->cf_handoff, "relay") != 0 || cf->cf_relays == 0)
		return 0;
	if ((rs = calloc(1, sizeof(*rs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sp->sp_relays = rs;
	rs->rs_sup = sp;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	rs->rs_target = cf->cf_relays > 0 ? (unsigned)cf->cf_relays :
	    ncpu > 0 ? (unsigned)(ncpu < RELAYS_MAX ? ncpu : RELAYS_MAX) : 1;
	rs->rs_uid = (uid_t)(cf->cf_relay_uid > 0 ? cf->cf_relay_uid :
	    cf->cf_tenant_uid_base);
	if ((rs->rs_ndirect = cidrs_parse(cf->cf_direct_peers,
	    rs->rs_direct, RELAY_DIRECT_MAX, err, errlen)) == -1 ||
	    relays_files(cf, rs->rs_path, sizeof(rs->rs_path),
	    &rs->rs_policy, err, errlen) == -1)
		return -1;
	if ((rs->rs_ev_spawn = evtimer_new(sp->sp_base, relays_on_spawn,
	    rs)) == NULL || (rs->rs_ev_queue = evtimer_new(sp->sp_base,
	    relays_on_queue, rs)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	log_info("relays", "{s:i,s:i,s:s,s:i}", "relays", (int)rs->rs_target,
	    "uid", (int)rs->rs_uid, "path", rs->rs_path, "direct_peers",
	    rs->rs_ndirect);
	relays_refill(rs);
	return 0;
}

int
relays_take(struct sup *sp, int *fd, const struct sockaddr_storage *ss)
{
	struct relays *rs = sp->sp_relays;
	struct rly *rl;

	if (rs == NULL || cidrs_match(rs->rs_direct, rs->rs_ndirect, ss))
		return 0;
	if ((rl = rly_least_loaded(rs)) != NULL && rly_pass(rl, *fd, ss) ==
	    0) {
		fd_close(fd);
		return 1;
	}
	/* None ready yet (starting, or restarting after a death): the
	 * connection waits here, never in the front. */
	relays_queue_flush(rs);
	if (rs->rs_nqueue == RELAY_QUEUE_MAX) {
		client_refuse(fd, "no relay available");
		return 1;
	}
	rs->rs_queue[rs->rs_nqueue].rq_fd = *fd;
	rs->rs_queue[rs->rs_nqueue].rq_ss = *ss;
	rs->rs_queue[rs->rs_nqueue].rq_ms = now_mono_ms();
	rs->rs_nqueue++;
	*fd = -1;
	relays_queue_flush(rs);		/* arms the timer */
	return 1;
}

int
relays_reaped(struct sup *sp, pid_t pid, int status)
{
	struct relays *rs = sp->sp_relays;
	struct rly *rl, **pp;
	int early;

	if (rs == NULL)
		return 0;
	for (pp = &rs->rs_list; (rl = *pp) != NULL; pp = &rl->rl_next)
		if (rl->rl_pid == pid)
			break;
	if (rl == NULL)
		return 0;
	*pp = rl->rl_next;
	early = rl->rl_state != RLY_READY && !sp->sp_stopping;
	if (!sp->sp_stopping)
		log_warn("relay died", "{s:i,s:i,s:i,s:s}", "relay_pid",
		    (int)pid, "signal", WIFSIGNALED(status) ? WTERMSIG(status) :
		    0, "status", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		    "why", (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) ||
		    (WIFEXITED(status) && WEXITSTATUS(status) ==
		    SCPOLICY_TRAP_EXIT) ? "seccomp" : rl->rl_killed_why != NULL ?
		    rl->rl_killed_why : "");
	ipc_chan_free(&rl->rl_ipc);
	free(rl);
	if (early) {
		rs->rs_backoff_ms = rs->rs_backoff_ms == 0 ?
		    RELAY_BACKOFF_MIN_MS : rs->rs_backoff_ms * 2;
		if (rs->rs_backoff_ms > RELAY_BACKOFF_MAX_MS)
			rs->rs_backoff_ms = RELAY_BACKOFF_MAX_MS;
		rs->rs_next_spawn_ms = now_mono_ms() + rs->rs_backoff_ms;
		log_warn("relay died before it was ready: throttling",
		    "{s:I}", "next_spawn_in_ms", (json_int_t)rs->rs_backoff_ms);
	}
	relays_refill(rs);
	return 1;
}

void
relays_revoke(struct sup *sp, const char *hash)
{
	struct rly *rl;
	json_t *v;

	if (sp->sp_relays == NULL)
		return;
	v = json_pack("{s:s}", "token_hash", hash);
	for (rl = sp->sp_relays->rs_list; rl != NULL && v != NULL;
	    rl = rl->rl_next)
		if (rl->rl_state == RLY_READY)
			ipc_send_json(rl->rl_ipc, IPC_RELAY_REVOKE, 0, -1, v);
	json_decref(v);
}

void
relays_free(struct sup *sp)
{
	struct relays *rs = sp->sp_relays;
	struct rly *rl;
	unsigned i;

	if (rs == NULL)
		return;
	/* The workers are gone, so is anything left to relay: the relays
	 * end now and are reaped before the supervisor exits (none of them
	 * outlives it under relay_uid). */
	while ((rl = rs->rs_list) != NULL) {
		rs->rs_list = rl->rl_next;
		ipc_chan_free(&rl->rl_ipc);
		if (rl->rl_pid > 0) {
			kill(rl->rl_pid, SIGKILL);
			while (waitpid(rl->rl_pid, NULL, 0) == -1 &&
			    errno == EINTR)
				;
		}
		free(rl);
	}
	for (i = 0; i < rs->rs_nqueue; i++)
		fd_close(&rs->rs_queue[i].rq_fd);
	if (rs->rs_ev_spawn != NULL)
		event_free(rs->rs_ev_spawn);
	if (rs->rs_ev_queue != NULL)
		event_free(rs->rs_ev_queue);
	free(rs->rs_policy);
	free(rs);
	sp->sp_relays = NULL;
}
