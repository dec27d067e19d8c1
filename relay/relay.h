/*
 * relay.h: dataagent-relay, the trusted reader of client connections
 * that may carry several tenants (DESIGN.md §1-2).
 *
 *   main.c   start-up, the channel to the supervisor, confinement
 *   conn.c   client connections: each request head read here, routed
 *            by the supervisor (IPC_RELAY_ROUTE), then sent down a
 *            stream of that token's own to the tenant's worker, and the
 *            response copied back with its framing parsed, so the next
 *            request is read only when this one is answered
 *
 * A relay runs under its own uid (relay_uid), with no capability, no
 * file to open and relay.policy's system calls. It holds no key and no
 * tenant secret: the supervisor verifies every token it routes.
 */
#ifndef DATAAGENT_RELAY_H
#define DATAAGENT_RELAY_H

#include <stdint.h>

#include "common.h"
#include "proto.h"

struct event_base;
struct event;
struct rconn;
struct route_wait;

/* The most a direction holds before it stops reading the other side. */
#define RELAY_BUF_MAX (256 * 1024)
/* Streams (tokens) one client connection may keep open at once. */
#define RELAY_STREAMS_MAX 16
/* Client connections one relay takes. */
#define RELAY_CONNS_MAX 16384
/* Routes waiting for the supervisor's answer, per relay. */
#define RELAY_ROUTES_MAX 4096

struct relay {
	struct event_base *r_base;
	struct ipc_chan *r_ipc;
	int r_ready;			/* confined, taking clients */
	int r_max_header;		/* max_header_size */
	int r_header_timeout_s;
	int r_idle_timeout_s;
	struct rconn *r_conns;
	unsigned r_nconns;
	unsigned r_nconns_sent;		/* the count last reported */
	struct event *r_ev_stats;
	uint32_t r_next_route;
	struct route_wait *r_routes, **r_routes_tail;
	unsigned r_nroutes;
	unsigned r_refused[RELAY_NREFUSED];	/* since the last report */
};

/* conn.c */
/* A client socket from the supervisor (fd owned); addr/port its peer. */
void rconn_new(struct relay *r, int fd, const char *addr, int port);
/* IPC_RELAY_ROUTED for request id. Returns 0, or -1 when it answers no
 * request we asked (a protocol violation). */
int rconn_routed(struct relay *r, uint32_t id, json_t *v);
/* IPC_RELAY_REVOKE: the streams of that token close. */
void rconn_revoke(struct relay *r, const char *hash);
/* Counts a refusal of the relay's own (status one of
 * RELAY_REFUSED_CODES) for the next report. */
void relay_refused(struct relay *r, int status);
/* Reports the connection count to the supervisor soon. */
void relay_stats_soon(struct relay *r);

#endif
