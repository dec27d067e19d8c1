/*
 * supervisor.h: dataagentd, the only privileged process.
 *
 *   main.c     start-up: config, store, listeners, signals, event loop
 *   front.c    accept, peek the request head, health, auth, handoff
 *   workers.c  the worker table: spawn (fork+exec), spares, assign,
 *              IPC from workers, crash throttle, idle retire
 *   control.c  the control socket (dataagentctl) and its commands
 *   auth.c     token keys, revocations, Host/Origin checks, OAuth
 *              protected-resource metadata
 *   metrics.c  GET /metrics (Prometheus text format) and the tool-call
 *              counts workers report
 *   store.c    the store on SQLite or MySQL/MariaDB (store.h, db.h)
 *   cluster.c  hosts sharing one MySQL store: polls it for changes
 *   ratelimit.c per-tenant request rates, per-address connection rates
 *              and authentication back-off (ratelimit.h)
 *   tls.c      the TLS listener: handshake, head, relay to the worker
 *   spawn.c    fork+exec of the worker and relay programs
 *   relays.c   the relays (dataagent-relay): handoff = relay, routes
 *              each request of a shared connection (IPC_RELAY_ROUTE)
 *   secrets.c  tenant secrets under the master key (secrets.h)
 *   audit.c    tool-call audit rows from workers (batched), retention
 *   handback.c which connections a worker may hand back (IPC_HANDBACK)
 *   workerlog.c each worker's stdout and stderr, passed on with fields
 *              it cannot forge, rate-limited
 *   quota.c    per-tenant bounds on what workers write to the store
 */
#ifndef DATAAGENT_SUPERVISOR_H
#define DATAAGENT_SUPERVISOR_H

#include <sys/types.h>
#include <stdint.h>

#include <jansson.h>

#include "common.h"
#include "proto.h"
#include "store.h"

struct event_base;
struct event;
struct evconnlistener;
struct worker;
struct front_conn;
struct control;
struct metrics;
struct audit;
struct evbuffer;
struct auth;
struct jwt_keyset;
struct httphead;
struct ratelimit;
struct tls;
struct wlog;
struct quota;
struct relays;
struct relay_req;
struct sockaddr_storage;

#define MAX_FLAGS 16

/* How a worker ended (workers.c counts them). */
enum death_cause {
	DEATH_CLEAN = 0,
	DEATH_EXIT,
	DEATH_SIGNAL,
	DEATH_SECCOMP,
	DEATH_OOM,
	DEATH_KILLED,
	DEATH_NCAUSES,
};

/* How a handback went (handback.c counts the refusals). */
enum hb_reason {
	HB_OK = 0,
	HB_UNKNOWN,		/* not given to that worker: a violation */
	HB_FORGOTTEN,		/* given too long ago to be remembered */
	HB_BUSY,		/* HANDBACK_FRONT_MAX of its in the front */
	HB_RATE,		/* the address's connection rate */
	HB_NREASONS,
};

/* Why a retiring worker was killed (workers.c counts them). */
enum retire_kill {
	RETIRE_KILL_TIMEOUT = 0,	/* still there KILL_GRACE_S after */
	RETIRE_KILL_REPLACED,		/* another worker of its tenant retired */
	RETIRE_KILL_TENANT,		/* its tenant was stopped */
	RETIRE_KILL_N,
};

/* A command-line setting, kept to re-apply on reload. */
struct flag_set {
	const char *fs_key;
	const char *fs_value;
};

/* cluster.c: polling a shared (MySQL) store. */
struct cluster {
	struct event *cl_ev;		/* the poll timer, or NULL */
	int64_t cl_gen;			/* store generation last seen */
	int cl_store_down;		/* the last poll failed (log once) */
};

/* The one struct of process state: reachable from every callback. */
struct sup {
	struct config sp_cf;
	int sp_uidlock_fd;		/* our claim on the tenant UIDs */
	char sp_uidlock_name[96];
	char sp_config_path[CONFIG_STRLEN];
	int sp_config_explicit;
	struct flag_set sp_flags[MAX_FLAGS];
	int sp_nflags;
	struct event_base *sp_base;
	struct store *sp_store;
	char sp_key_path[CONFIG_STRLEN];	/* the master key file */
	uint8_t sp_master_key[32];	/* valid when sp_have_key */
	int sp_have_key;
	char sp_db_path[CONFIG_STRLEN];
	char sp_worker_path[CONFIG_STRLEN];
	char *sp_upstream_policy;	/* text of <policy_dir>/upstream.policy */
	char *sp_worker_policy;		/* text of <policy_dir>/worker.policy */
	struct cgroups *sp_cg;		/* per-tenant cgroups (policy/cgroup.h) */
	struct egress *sp_egress;	/* egress.c; NULL unless egress */
	uint64_t sp_worker_deaths[DEATH_NCAUSES];

	int sp_listen_fd;
	struct event *sp_ev_accept;
	struct front_conn *sp_conns;	/* connections still in the front */
	unsigned sp_nconns;

	struct worker *sp_workers;	/* every live worker */
	unsigned sp_nspare_target;	/* --workers */
	struct event *sp_ev_refill;	/* refills spares after a delay */
	int64_t sp_spawn_backoff_ms;	/* throttle for early deaths */
	int64_t sp_next_spawn_ms;

	struct control *sp_control;

	struct event *sp_ev_sigchld;
	struct event *sp_ev_sigterm;
	struct event *sp_ev_sigint;
	struct event *sp_ev_sighup;
	int sp_stopping;
	int64_t sp_started;
	char sp_node[NODE_NAME_MAX + 1];	/* node_name, or from the host name */
	uint64_t sp_handoffs;
	uint64_t sp_slots_refused_host;	/* IPC_SLOT_REQ refused: host full */
	uint64_t sp_slots_refused_tenant;	/* ... tenant at its limit */
	uint64_t sp_slots_refused_retiring;	/* ... the worker is retiring */
	uint64_t sp_retire_kills[RETIRE_KILL_N];
	uint64_t sp_ipc_queue_kills[2];	/* queue to a worker past its bytes,
					 * its fds bound */
	struct metrics *sp_metrics;	/* tool-call counts per tenant */
	struct auth *sp_auth;		/* keys, revocations (auth.c) */
	struct audit *sp_audit;		/* tool-call rows not written yet */
	int sp_metrics_fd;		/* metrics_listen socket, or -1 */
	struct event *sp_ev_metrics_accept;
	struct ratelimit *sp_ratelimit;	/* buckets (ratelimit.c) */
	struct tls *sp_tls;		/* the TLS listener, or NULL (tls.c) */
	struct cluster sp_cluster;	/* cluster.c */
	uint64_t sp_handbacks;		/* handed back, taken (handback.c) */
	uint64_t sp_handbacks_refused[HB_NREASONS];
	struct quota *sp_quota;		/* per-tenant write buckets (quota.c) */
	struct relays *sp_relays;	/* relays.c; NULL: handoff = direct */
};

/* front.c */
int front_listen(struct sup *sp, char *err, size_t errlen);
void front_close_all(struct sup *sp);
/* Takes back a client socket from a worker (IPC_HANDBACK, checked by
 * handback.c): pre (owned, may be NULL) holds bytes the worker already
 * read from it, peer the address recorded when it was accepted, from
 * the pid of the worker that handed it back. */
void front_adopt(struct sup *sp, int fd, uint8_t *pre, size_t prelen,
    const struct sockaddr_storage *peer, pid_t from);
/* Connections handed back by worker pid that are still in the front. */
unsigned front_handbacks_from(struct sup *sp, pid_t pid);
/* Answers status with {"error": msg} (without blocking, whatever the
 * socket's flags) and closes *fd. */
void front_refuse(int *fd, int status, const char *msg);
/* Routes a relay's request head (relays.c) as a connection's first
 * head is routed: the answer goes to relays_answer() or relays_routed()
 * before this returns. ss is the client's address; body (may be NULL)
 * the first body bytes the relay had, for a 429's JSON-RPC id. */
void front_relay_route(struct sup *sp, struct relay_req *rq,
    const struct httphead *hh, const struct sockaddr_storage *ss,
    const char *body, size_t bodylen);
/* JSON for /health/detailed and `dataagentctl status`. */
json_t *sup_status_json(struct sup *sp);

/* handback.c */
struct given;
struct sockaddr_storage;
/* Remembers that fd's connection (its socket's identity), accepted from
 * peer, is being given to a worker; *gp is made on first use. Returns 0
 * or -1 (out of memory, or fd is not a file: do not send it). */
int given_add(struct given **gp, int fd, const struct sockaddr_storage *peer);
void given_free(struct given **gp);
/*
 * IPC_HANDBACK of *fd with pre (owned, taken) from worker pid of tenant,
 * whose given connections g records. Returns 0 when handled (*fd taken
 * and set to -1: adopted by the front or the TLS relay, or refused and
 * counted), or -1 with *why_r for a protocol violation: fd is not a
 * connection that worker was given, or it was handed back already (*fd
 * left to the caller).
 */
int handback_take(struct sup *sp, struct given *g, pid_t pid,
    const char *tenant, int *fd, uint8_t *pre, size_t prelen,
    const char **why_r);
/* dataagent_handbacks_total and _refused_total for /metrics. */
void handback_metrics(struct sup *sp, struct evbuffer *out);

/* relays.c */
/* With handoff = relay: checks the relay binary, relay.policy and
 * direct_peers, and starts the relays. 0 (nothing with handoff =
 * direct), or -1 with err. */
int relays_start(struct sup *sp, char *err, size_t errlen);
/* The same checks without starting anything: for -t. */
int relays_check(const struct config *cf, char *err, size_t errlen);
/* A connection just accepted (*fd): 1 when the relays took it (*fd is
 * theirs, set to -1, or answered and closed), 0 when it is handed off
 * directly (handoff = direct, or a peer in direct_peers). */
int relays_take(struct sup *sp, int *fd, const struct sockaddr_storage *ss);
/* The front's answer to a relay's request: out (borrowed, may be NULL)
 * is the whole response, written to the client, which is then closed. */
void relays_answer(struct relay_req *rq, struct evbuffer *out);
/* The request was routed to tenant t: the stream that came with it goes
 * to t's worker with the auth context (hash, exp). */
void relays_routed(struct relay_req *rq, const struct store_tenant *t,
    const char *hash, int64_t exp, const char *remote);
/* Called for each child reaped: 1 when pid was a relay (restarted). */
int relays_reaped(struct sup *sp, pid_t pid, int status);
/* A token was revoked: the relays close its streams. */
void relays_revoke(struct sup *sp, const char *hash);
/* Ends the relays (after the workers: nothing is left to relay), reaps
 * them and frees everything. */
void relays_free(struct sup *sp);

/* spawn.c */
/*
 * Forks and execs path (argv[0] argv0) as a fresh image: chan_fd becomes
 * child_fd, 0 is /dev/null, 1 and 2 are out_fd, nothing else of ours is
 * open; its environment is LOG_LEVEL, LOG_FORMAT=log_format and, in a
 * sanitizer build, ASAN_OPTIONS. Returns the pid, or -1 (logged); the
 * caller's fds stay the caller's.
 */
pid_t spawn_child(struct sup *sp, const char *path, const char *argv0,
    int chan_fd, int child_fd, int out_fd, const char *log_format);

/* cluster.c */
/* Starts polling a shared (MySQL) store for changes other hosts made;
 * nothing for SQLite or store_poll_interval = 0. */
int cluster_start(struct sup *sp, char *err, size_t errlen);
void cluster_stop(struct sup *sp);
/* home.c */
/* Makes state_dir/tenants/TENANT, owned by uid, into out; a home there
 * of another uid is set aside (logged). Returns 0 or -1 with errno. */
int home_prepare(struct sup *sp, const char *tenant, uid_t uid, char *out,
    size_t outlen);
/* Removes a removed tenant's home, when it is still uid's, in a child
 * (asynchronous); call once nothing runs as uid. */
void home_remove(struct sup *sp, const char *tenant, uid_t uid);

/* uidlock.c */
/* Claims tenant_uid_base + 1 .. + tenant_uid_count on this host for as
 * long as the process lives. Returns 0, or -1 with err naming the
 * daemon whose range overlaps (or why the claim could not be made). */
int uidlock_take(struct sup *sp, char *err, size_t errlen);
void uidlock_release(struct sup *sp);

/* auth.c */
/* The key set cf describes (secret_key, jwt_public_keys, jwt_jwks_file).
 * Returns 0 with *ks_r, or -1 with err. Used by `dataagentd -t` too. */
int auth_keys_build(const struct config *cf, struct jwt_keyset **ks_r,
    char *err, size_t errlen);
/* Keys, the revocations in the store, the prune timer. 0 or -1 with err. */
int auth_start(struct sup *sp, char *err, size_t errlen);
/* Re-reads the store's revocations (another host sharing it revoked a
 * token); connections here using a newly revoked token are closed. */
int auth_revocations_sync(struct sup *sp, char *err, size_t errlen);
/* SIGHUP: a key set that does not build keeps the running one (logged). */
void auth_reload(struct sup *sp);
void auth_free(struct sup *sp);
/*
 * Verifies a bearer token (keys, iss, aud, times) and that its jti is
 * not revoked. Returns 0 with *cl and hash (hex SHA-256 of the token)
 * filled, or -1 with *why ("revoked" or jwt_verify_keyset's reasons).
 */
int auth_verify(struct sup *sp, const char *tok, size_t toklen,
    struct jwt_claims *cl, char hash[65], const char **why);
/* Revokes jti (for tokens of tenant only, when not NULL): store, memory,
 * and the tenant's worker closes the connections that use it. Returns
 * {"jti","tenant","expires","seen"} or NULL with err. */
json_t *auth_revoke(struct sup *sp, const char *jti, const char *tenant,
    char *err, size_t errlen);
/* The unexpired revocations, as store_revoked_list. */
json_t *auth_revoked_json(struct sup *sp, char *err, size_t errlen);
/* Host and Origin of a request head against allowed_hosts; 0 with
 * *what_r ("host", "origin") when one is not allowed. */
int auth_host_ok(struct sup *sp, const struct httphead *hh,
    const char **what_r);
/* 1 for /.well-known/oauth-protected-resource[/...]. */
int auth_metadata_path(const char *path);
/* RFC 9728 metadata for that path, or NULL (not configured, or a
 * suffix that is not a tenant path: 404). */
json_t *auth_metadata(struct sup *sp, const char *path);
/* The WWW-Authenticate header line (with CRLF) of a 401 for path. */
void auth_challenge(struct sup *sp, const char *path, const char *why,
    char *out, size_t outlen);

/* workers.c */
void workers_init(struct sup *sp);
/* Another host changed the store: stop the workers of tenants now gone
 * or disabled, push a fresh config to the others. */
void workers_store_changed(struct sup *sp);
/* Keeps sp_nspare_target spares, spawning with throttle. */
void workers_refill(struct sup *sp);
/*
 * Hands fd (a client socket whose request head is still unread) to the
 * tenant's worker, assigning a spare or spawning one as needed. Takes
 * ownership of fd in every case. token_hash/exp form the auth context;
 * remote names the client (logs), peer is the address fd was accepted
 * from (what a handback of fd gets back); pre/prelen (borrowed) are
 * bytes already read from fd by a worker that handed it back.
 */
void workers_handoff(struct sup *sp, const struct store_tenant *t, int fd,
    const char *token_hash, int64_t exp, const char *remote,
    const struct sockaddr_storage *peer, const uint8_t *pre, size_t prelen);
/* The tenant's servers or state changed: push a fresh config. */
void workers_tenant_changed(struct sup *sp, const char *tenant);
/* A token was revoked: the tenant's workers close the connections
 * that use it (IPC_REVOKE), and ones still waiting for a worker are
 * answered 401. */
void workers_revoke(struct sup *sp, const char *tenant, const char *hash);
/* The tenant was disabled or removed: end its worker and processes. */
void workers_tenant_stop(struct sup *sp, const char *tenant);
/* The tenant is gone: kill what is left in its cgroup and remove it. */
void workers_tenant_forget(struct sup *sp, const char *tenant);
/* A removed tenant: its home goes (home_remove) once nothing runs as
 * uid, now or when its last worker is reaped. */
void workers_tenant_removed(struct sup *sp, const char *tenant, uid_t uid);
/* Whether sp's tenant_network can be had on this host: for anything but
 * "host", makes one network namespace and drops it; for "egress", sets
 * up the nftables table (egress_open) unless it is. 0, or -1 with err. */
int workers_network_check(struct sup *sp, char *err, size_t errlen);

/* egress.c: tenant_network = egress, the host's side (see there). */
struct netns_egress;
/* Parses tenant_egress_*, makes this daemon's nftables table (replacing
 * one left by an earlier run). 0 when the mode is not egress. 0, or -1
 * with err; nothing is left behind on failure. */
int egress_open(struct sup *sp, char *err, size_t errlen);
/* The same checks of tenant_egress_* (and cgroup_name) without touching
 * nftables: for -t. 0 when the mode is not egress. */
int egress_check(const struct config *cf, char *err, size_t errlen);
/* Whether this host can give cf's tenant_network, for -t: a network
 * namespace made and dropped and, for egress, the nftables table's
 * commands checked by the kernel and not committed. Needs root. 0, or
 * -1 with err naming what failed. */
int egress_probe(const struct config *cf, char *err, size_t errlen);
/* Deletes the table and frees everything. */
void egress_close(struct sup *sp);
/* A free /30 and its rules for one worker of tenant: *ne is what
 * netns_new() needs, *slot_r what egress_release() takes. 0, or -1. */
int egress_assign(struct sup *sp, const char *tenant, struct netns_egress *ne,
    int *slot_r, char *err, size_t errlen);
/* The tenant's address of slot (eth0 in its namespace) in buf, or NULL
 * for -1. */
const char *egress_address(struct sup *sp, int slot, char *buf,
    size_t len);
/* Gives the slot back (its rules go); sets *slot to -1. */
void egress_release(struct sup *sp, int *slot);
/* The tenant's own allowlist changed (tenant set-egress): its running
 * workers' forward chains are rewritten, each in one nftables batch. */
void egress_tenant_changed(struct sup *sp, const char *tenant);
/* A tenant's allowlist from untrusted entries (strings, as
 * tenant_egress_allow takes them): a new comma-joined string, or NULL
 * with err. Works whatever tenant_network is. */
char *egress_allow_normalize(const json_t *entries, char *err,
    size_t errlen);
/* The tenant is gone: its refusal counter goes too. */
void egress_tenant_forget(struct sup *sp, const char *tenant);
/* {tenant: refused packets} for /metrics, or NULL when egress is off. */
json_t *egress_refused(struct sup *sp);
/* Called from the SIGCHLD handler. */
void workers_reap(struct sup *sp);
void workers_stop_all(struct sup *sp);
/* Counts for status: spare, assigning, active, and totals. */
json_t *workers_status_json(struct sup *sp);
/* The tenant's worker as {state,pid,connections,upstreams,sessions}, or
 * JSON null when it has none. */
json_t *workers_tenant_json(struct sup *sp, const char *tenant);
unsigned workers_upstream_total(struct sup *sp);
/* Upstream connection slots granted to live workers (IPC_SLOT_REQ);
 * max_connections_per_user applies to the sum over a tenant's workers. */
unsigned workers_slots_used(struct sup *sp);
/* The tenant's effective limits {"memory_max","swap_max","pids_max",
 * "cpu_weight","rate_per_minute"} (-1: no limit; rate 0: no limit). */
json_t *workers_limits_json(struct sup *sp, const char *tenant);
/* {"clean":n,"exit":n,"signal":n,"seccomp":n,"oom":n,"killed":n} */
json_t *workers_deaths_json(struct sup *sp);
unsigned workers_connection_total(struct sup *sp);
/* {tenant: client connections} over the active and retiring workers. */
json_t *workers_tenant_conns_json(struct sup *sp);

/* metrics.c */
/*
 * Adds an IPC_TOOL_STATS payload from the tenant's own worker to the
 * tenant's counts. Returns 0, or -1 when any part of it is malformed
 * (then nothing is counted: a protocol violation).
 */
int metrics_tool_stats(struct sup *sp, const char *tenant, json_t *v);
/* The same for an IPC_COUNTERS payload. */
int metrics_counters(struct sup *sp, const char *tenant, json_t *v);
/* The supervisor's own counts. */
void metrics_worker_started(struct sup *sp);
/* A 401 or 403 from the front door; reason is one of missing_token,
 * malformed, alg, signature, expired, not_yet_valid, claims, revoked,
 * wrong_tenant, unknown_tenant (anything else counts as "other"). */
void metrics_auth_failure(struct sup *sp, const char *reason);
/* An answer of the supervisor itself, by route class. */
void metrics_http_answer(struct sup *sp, const char *route, int code);
/* The tenant is gone: drop its counts. */
void metrics_tenant_forget(struct sup *sp, const char *tenant);
/* Appends the whole exposition to out. Returns 0 or -1 (out of memory). */
int metrics_render(struct sup *sp, struct evbuffer *out);
void metrics_free(struct sup *sp);
/* Per-tenant counts of what the supervisor refused or dropped of a
 * worker's (rendered with a user_id label, never in host-wide series). */
enum metrics_tenant_count {
	MTC_LOG_DROPPED = 0,		/* worker log lines over the rate */
	MTC_AUDIT_RATE,			/* audit rows over tenant_audit_rate */
	MTC_AUDIT_QUEUE,		/* ... tenant_audit_queue or audit_queue */
	MTC_STORE_RATE,			/* store requests over tenant_store_rate */
	MTC_STORE_SERVERS,		/* a server past tenant_max_servers */
	MTC_STORE_SECRETS,		/* a secret past tenant_max_secrets */
	MTC_STORE_SECRET_SIZE,		/* a value over secret_max_size */
	MTC_NCOUNTS,
};
void metrics_tenant_count(struct sup *sp, const char *tenant,
    enum metrics_tenant_count what, uint64_t n);

/* workerlog.c */
/* Starts passing on what the worker pid writes to fd (owned from now;
 * non-blocking), its lines tagged with *tenant as it is at each line
 * (the worker table's buffer, which outlives the struct). NULL when out
 * of memory (fd not taken). */
struct wlog *wlog_new(struct sup *sp, int fd, pid_t pid, const char *tenant);
/* The worker is gone: passes on what is left in the pipe (bounded) and
 * closes it. */
void wlog_drain(struct wlog *wl);
void wlog_free(struct wlog **wlp);

/* quota.c */
/* One store request of the tenant's worker: 1 when within
 * tenant_store_rate, else 0 (counted and logged). */
int quota_store_take(struct sup *sp, const char *tenant);
/* One audit row of the tenant's worker: 1 when within tenant_audit_rate
 * and tenant_audit_queue (with queued set, the row is then counted as
 * waiting), else 0 (dropped: counted and logged). */
int quota_audit_take(struct sup *sp, const char *tenant, int queued);
/* The audit queue was written: no row waits. */
void quota_audit_flushed(struct sup *sp);
/* Counts a refusal for the tenant and logs it, one line per tenant and
 * reason every 10 s with the count since the last. */
void quota_refused(struct sup *sp, const char *tenant,
    enum metrics_tenant_count what, int limit);
void quota_tenant_forget(struct sup *sp, const char *tenant);
void quota_free(struct sup *sp);

/* audit.c */
/* Starts the retention timer and prunes once. Returns 0 or -1. */
int audit_init(struct sup *sp);
/*
 * Queues the audit row of an IPC_AUDIT payload from the tenant's own
 * worker. Returns 0, or -1 when it is malformed (nothing queued: a
 * protocol violation).
 */
int audit_tool_call(struct sup *sp, const char *tenant, json_t *v);
/* Writes the queued rows now (one transaction). */
void audit_flush(struct sup *sp);
/* Deletes rows older than audit_retention days (0: none). */
void audit_prune(struct sup *sp);
/* Stopping: no more pruning (rows still queue until audit_free). */
void audit_stop(struct sup *sp);
/* Writes what is queued and frees everything. */
void audit_free(struct sup *sp);

/* control.c */
/* Opens the control socket (0600, parent dir 0755 created). */
int control_open(struct sup *sp, char *err, size_t errlen);
void control_close(struct sup *sp);
/*
 * Validates a server object from an untrusted source (control or worker):
 * name_valid(name), transport "stdio", non-empty command, args an array of
 * strings, env an object of strings (names [A-Za-z_][A-Za-z0-9_]*),
 * enabled bool (default true). Returns a new normalised object or NULL
 * with err.
 */
json_t *server_spec_check(const json_t *in, char *err, size_t errlen);

#endif
