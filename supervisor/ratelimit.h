/*
 * ratelimit.h: request and connection rates the supervisor enforces.
 *
 *   per tenant   a token bucket of rate_limit requests per minute (burst
 *                rate_limit_burst, default the same number), charged for
 *                every request: by the front door for the first request
 *                of a connection, through IPC_RATE_REQ for the keep-alive
 *                requests a worker serves itself;
 *   per address  a token bucket of new connections (ip_connection_rate
 *                per minute, burst ip_connection_burst), and a back-off
 *                after auth_fail_limit failed authentications that
 *                doubles with each failure after it.
 *
 * Addresses are counted per IPv4 address and per IPv6 /64. Behind a
 * proxy listed in trusted_proxies the address is the client's, from
 * X-Forwarded-For (ratelimit_forwarded_client): the proxy's own
 * connections are not charged, each forwarded request is. The address
 * table has a fixed size: when full, the least recently seen entry of a
 * probe window is replaced.
 */
#ifndef DATAAGENT_RATELIMIT_H
#define DATAAGENT_RATELIMIT_H

#include <stdint.h>

struct sup;
struct sockaddr_storage;

enum rl_scope {
	RL_SCOPE_TENANT = 0,
	RL_SCOPE_IP,
	RL_SCOPE_AUTH,
	RL_NSCOPES,
};

/* Allocates the tables (called once at start). Returns 0 or -1. */
int ratelimit_init(struct sup *sp);
void ratelimit_free(struct sup *sp);
/*
 * Takes up to want tokens from the tenant's bucket. Returns how many
 * were taken (0..want); when fewer than want, *retry_after_r is the
 * number of seconds (>= 1) until the next token. A tenant whose rate is
 * 0 always gets want. Counts refusals as scope "tenant".
 */
int ratelimit_tenant_take(struct sup *sp, const char *tenant, int want,
    int *retry_after_r);
/* The tenant's effective rate (requests/minute, 0 = off). */
int ratelimit_tenant_rate(struct sup *sp, const char *tenant);
/* The tenant's override or the configuration changed: its bucket takes
 * the new rate (tokens kept, capped at the new burst). tenant NULL:
 * every tenant (reload). */
void ratelimit_tenant_changed(struct sup *sp, const char *tenant);
void ratelimit_tenant_forget(struct sup *sp, const char *tenant);
/* A new connection from ss: 1 when allowed, 0 when over the address's
 * connection rate (counted as scope "ip"). */
int ratelimit_ip_connect(struct sup *sp, const struct sockaddr_storage *ss);
/* 1 with *retry_after_r when ss is in an authentication back-off
 * (counted as scope "auth"), else 0. */
int ratelimit_auth_blocked(struct sup *sp, const struct sockaddr_storage *ss,
    int *retry_after_r);
/* 1 when ss is one of trusted_proxies. */
int ratelimit_trusted_proxy(const struct sup *sp,
    const struct sockaddr_storage *ss);
/*
 * The client an X-Forwarded-For value names, for a request from a
 * trusted proxy: the right-most address that is not itself a trusted
 * proxy (the left-most when all are). Returns 0 with *client_r (port
 * 0), or -1 when the right-most element is not an address.
 */
int ratelimit_forwarded_client(const struct sup *sp, const char *xff,
    struct sockaddr_storage *client_r);
/* An authentication from ss failed. */
void ratelimit_auth_failed(struct sup *sp, const struct sockaddr_storage *ss);
/* Refusals so far by scope. */
uint64_t ratelimit_refused(const struct sup *sp, enum rl_scope scope);
/* Appends dataagent_rate_limited_total to out (metrics.c). */
struct evbuffer;
void ratelimit_metrics(struct sup *sp, struct evbuffer *out);

#endif
