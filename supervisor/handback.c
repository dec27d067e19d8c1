/*
 * handback.c: what a worker may hand back (IPC_HANDBACK).
 *
 * A worker may keep a dup of every socket it was given, and a
 * compromised one can dial sockets of its own (its launcher can reach
 * 127.0.0.1), so the supervisor takes back only a connection it gave
 * that same worker and that the worker has not handed back since. Each
 * connection sent (IPC_CONN) is remembered by the identity of its socket
 * (st_dev and st_ino: every dup has the same) with the peer address the
 * supervisor knew at accept; a handback takes that record away, so each
 * handoff can come back once. The connection then keeps the recorded
 * address, never one read from the socket again.
 *
 * Bounds: GIVEN_MAX records per worker (the oldest is forgotten first:
 * the supervisor does not learn when a worker closes a connection;
 * handing back a forgotten one is refused and counted, not taken for a
 * violation), HANDBACK_FRONT_MAX of one worker's handed-back connections
 * in the front at once, and the per-address connection rate, charged as
 * for a new connection.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "supervisor.h"
#include "ratelimit.h"
#include "tls.h"

#define GIVEN_MIN 64
#define GIVEN_MAX 4096		/* 48 bytes each: 192 KiB a busy worker */
#define HANDBACK_FRONT_MAX 64

struct given_conn {
	dev_t gc_dev;
	ino_t gc_ino;		/* 0: handed back (a hole in the ring) */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} gc_peer;
};

struct given {
	struct given_conn *g_ring;
	unsigned g_cap, g_head, g_count;
	uint64_t g_forgotten;	/* records dropped for room */
};

static const char *const hb_reason_names[HB_NREASONS] = {
	[HB_UNKNOWN] = "unknown", [HB_FORGOTTEN] = "forgotten",
	[HB_BUSY] = "busy", [HB_RATE] = "rate",
};

/* Drops handed-back holes at the head of the ring. */
static void
given_trim(struct given *g)
{
	while (g->g_count > 0 && g->g_ring[g->g_head].gc_ino == 0) {
		g->g_head = (g->g_head + 1) % g->g_cap;
		g->g_count--;
	}
}

/* Room for one more record: the ring grows up to GIVEN_MAX, then the
 * oldest record is forgotten. Returns 0 or -1 (out of memory). */
static int
given_room(struct given *g)
{
	struct given_conn *n;
	unsigned i, cap;

	given_trim(g);
	if (g->g_count < g->g_cap)
		return 0;
	if (g->g_cap < GIVEN_MAX) {
		cap = g->g_cap == 0 ? GIVEN_MIN : g->g_cap * 2;
		if ((n = calloc(cap, sizeof(*n))) == NULL)
			return -1;
		for (i = 0; i < g->g_count; i++)
			n[i] = g->g_ring[(g->g_head + i) % g->g_cap];
		free(g->g_ring);
		g->g_ring = n;
		g->g_cap = cap;
		g->g_head = 0;
		return 0;
	}
	g->g_forgotten++;
	g->g_head = (g->g_head + 1) % g->g_cap;
	g->g_count--;
	given_trim(g);
	return 0;
}

int
given_add(struct given **gp, int fd, const struct sockaddr_storage *peer)
{
	struct given *g = *gp;
	struct given_conn *c;
	struct stat st;

	if (fstat(fd, &st) == -1 || st.st_ino == 0)
		return -1;
	if (g == NULL && (g = *gp = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (given_room(g) == -1)
		return -1;
	c = &g->g_ring[(g->g_head + g->g_count) % g->g_cap];
	memset(c, 0, sizeof(*c));
	c->gc_dev = st.st_dev;
	c->gc_ino = st.st_ino;
	if (peer != NULL && peer->ss_family == AF_INET)
		memcpy(&c->gc_peer.in, peer, sizeof(c->gc_peer.in));
	else if (peer != NULL && peer->ss_family == AF_INET6)
		memcpy(&c->gc_peer.in6, peer, sizeof(c->gc_peer.in6));
	g->g_count++;
	return 0;
}

void
given_free(struct given **gp)
{
	if (*gp == NULL)
		return;
	free((*gp)->g_ring);
	free(*gp);
	*gp = NULL;
}

/*
 * Takes the record of fd's connection out of g, its peer address into
 * *peer_r. Returns HB_OK, HB_FORGOTTEN (none, but records were dropped
 * for room: it may have been one of them) or HB_UNKNOWN.
 */
static enum hb_reason
given_take(struct given *g, int fd, struct sockaddr_storage *peer_r)
{
	struct given_conn *c;
	struct stat st;
	unsigned i;

	memset(peer_r, 0, sizeof(*peer_r));
	if (g == NULL || fstat(fd, &st) == -1)
		return HB_UNKNOWN;
	for (i = 0; i < g->g_count; i++) {
		c = &g->g_ring[(g->g_head + i) % g->g_cap];
		if (c->gc_ino != st.st_ino || c->gc_dev != st.st_dev)
			continue;
		if (c->gc_peer.sa.sa_family == AF_INET)
			memcpy(peer_r, &c->gc_peer.in, sizeof(c->gc_peer.in));
		else if (c->gc_peer.sa.sa_family == AF_INET6)
			memcpy(peer_r, &c->gc_peer.in6,
			    sizeof(c->gc_peer.in6));
		c->gc_ino = 0;
		given_trim(g);
		return HB_OK;
	}
	return g->g_forgotten > 0 ? HB_FORGOTTEN : HB_UNKNOWN;
}

static void
handback_refused(struct sup *sp, enum hb_reason r, pid_t pid,
    const char *tenant)
{
	sp->sp_handbacks_refused[r]++;
	if (r != HB_UNKNOWN)
		log_info("handback refused", "{s:i,s:s,s:s}", "worker_pid",
		    (int)pid, "tenant", tenant, "reason", hb_reason_names[r]);
}

int
handback_take(struct sup *sp, struct given *g, pid_t pid, const char *tenant,
    int *fd, uint8_t *pre, size_t prelen, const char **why_r)
{
	struct sockaddr_storage peer;
	enum hb_reason r;
	int v;
	socklen_t len = sizeof(v);

	*why_r = NULL;
	r = given_take(g, *fd, &peer);
	if (r == HB_UNKNOWN) {
		handback_refused(sp, r, pid, tenant);
		*why_r = "handback of a connection not given to this worker, "
		    "or handed back already";
		free(pre);
		return -1;
	}
	if (r == HB_FORGOTTEN) {
		handback_refused(sp, r, pid, tenant);
		free(pre);
		fd_close_nolinger(fd);
		return 0;
	}
	if (front_handbacks_from(sp, pid) >= HANDBACK_FRONT_MAX) {
		handback_refused(sp, HB_BUSY, pid, tenant);
		free(pre);
		/* On a TLS relay's socketpair end the answer reaches the
		 * client through the relay, which then sees the end close. */
		front_refuse(fd, 503, "too many connections handed back");
		return 0;
	}
	/* A TLS client's socketpair end goes back to its relay, if the
	 * client is still there. */
	if (getsockopt(*fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 &&
	    v == AF_UNIX) {
		if (tls_adopt(sp, *fd, pre, prelen, tenant, pid) == 0)
			*fd = -1;
		else {
			log_debug("TLS connection handed back after its client "
			    "left", "{s:s}", "tenant", tenant);
			free(pre);
			fd_close(fd);
		}
		sp->sp_handbacks++;
		return 0;
	}
	/* Counted like a new connection from the address. */
	if (!ratelimit_ip_connect(sp, &peer)) {
		handback_refused(sp, HB_RATE, pid, tenant);
		free(pre);
		front_refuse(fd, 429, "too many connections from this "
		    "address");
		return 0;
	}
	sp->sp_handbacks++;
	log_debug("connection handed back", "{s:s}", "tenant", tenant);
	front_adopt(sp, *fd, pre, prelen, &peer, pid);
	*fd = -1;
	return 0;
}

void
handback_metrics(struct sup *sp, struct evbuffer *out)
{
	int i;

	evbuffer_add_printf(out, "# HELP dataagent_handbacks_total Client "
	    "connections a worker handed back to the front door "
	    "(IPC_HANDBACK).\n# TYPE dataagent_handbacks_total counter\n"
	    "dataagent_handbacks_total %llu\n",
	    (unsigned long long)sp->sp_handbacks);
	evbuffer_add_printf(out, "# HELP dataagent_handbacks_refused_total "
	    "Handbacks refused: unknown (not a connection given to that "
	    "worker, or one handed back already: the worker is killed), "
	    "forgotten (given too long ago to be remembered), busy (too "
	    "many of the worker's handed-back connections in the front), "
	    "rate (the address's connection rate).\n"
	    "# TYPE dataagent_handbacks_refused_total counter\n");
	for (i = HB_UNKNOWN; i < HB_NREASONS; i++)
		evbuffer_add_printf(out, "dataagent_handbacks_refused_total"
		    "{reason=\"%s\"} %llu\n", hb_reason_names[i],
		    (unsigned long long)sp->sp_handbacks_refused[i]);
}
