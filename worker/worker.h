/*
 * worker.h: dataagent-worker, one per active tenant, running as the
 * tenant's UID.
 *
 *   main.c      start-up, IPC with the supervisor, assignment, config,
 *               idle retire
 *   http.c      HTTP/1.1 keep-alive server on handed-off sockets
 *               (bufferevents + http-parser), per-request credential check
 *   mcp.c       the MCP Streamable HTTP endpoint: sessions, version
 *               negotiation, JSON-RPC dispatch, aggregation of the
 *               tenant's servers ({server}__{tool})
 *   rest.c      the REST API (/mcp-servers, /tools)
 *   aggregate.c the tenant's tools across all its servers
 *   toolstats.c tool-call counts sent to the supervisor for /metrics
 *   counters.c  the worker's other counts for /metrics
 *   launcher.c  the process that starts the tenant's MCP servers (and
 *               dials remote ones) under the MCP-server policy
 *   upstream.c  MCP servers: the state machine of each (start,
 *               handshake, timeouts, restart with back-off), id
 *               rewriting, tool cache, the upstream_* API below; what
 *               it shares with the next four is in upstream_int.h
 *   upstream_stdio.c  the stdio transport (struct up_transport):
 *               servers started through the launcher
 *   upstream_http.c   the remote transport: Streamable HTTP, HTTP+SSE,
 *               the stateless 2026-07-28 revision
 *   upstream_conf.c   a server's spec, checks, secrets (${secret:NAME}),
 *               tool lists, read-only accessors
 *   upstream_slot.c   connection slots asked of the supervisor
 *   httpc.c     the HTTP/1.1 client of remote servers (keep-alive pool,
 *               TLS), dialled through the launcher
 */
#ifndef DATAAGENT_WORKER_H
#define DATAAGENT_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common.h"
#include "proto.h"

struct event_base;
struct event;
struct ipc_chan;
struct http_conn;
struct upstream;
struct mcp_session;
struct mcp_state;
struct store_call;
struct scprog;
struct launcher;
struct toolstats;
struct counters;

/* Settings pushed by the supervisor in IPC_CONFIG. */
struct wrk_settings {
	int ws_max_upstreams;		/* max_connections_per_user */
	int ws_call_timeout_ms;		/* connection_timeout */
	int ws_idle_timeout_s;		/* idle_timeout */
	int ws_tool_cache_ttl_s;	/* tool_cache_ttl */
	size_t ws_max_body;		/* max_body_size */
	char ws_allowed_hosts[CONFIG_STRLEN];
	int ws_drain_timeout_s;		/* drain_timeout */
	int ws_audit_arguments;		/* audit_arguments = on */
	int ws_rate_limit;		/* the tenant's requests/minute, 0 off */
	int ws_max_retries;		/* max_retries */
	int ws_retry_delay_ms;		/* retry_delay */
	int ws_reconnect_ms;		/* reconnect_interval */
};

/* The one struct of process state. */
struct wrk {
	struct event_base *w_base;
	struct ipc_chan *w_ipc;
	struct event *w_ev_sigchld;
	struct event *w_ev_sigterm;
	struct event *w_ev_idle;	/* periodic idle check */

	int w_assigned;
	char w_tenant[65];
	uid_t w_uid;
	gid_t w_gid;
	char w_home[CONFIG_STRLEN];
	char w_node[NODE_NAME_MAX + 1];	/* this host's node name: starts
					 * the session ids it hands out */
	struct wrk_settings w_set;
	struct scprog *w_upstream_filter;	/* installed before each exec */
	struct launcher *w_launcher;		/* starts the MCP servers */
	int w_oom_fd;		/* the tenant cgroup's OOM counter, or -1 */

	struct upstream *w_upstreams;	/* list, one per configured server */
	json_t *w_tool_lists;		/* the tenant's {"allow_tools",
					 * "deny_tools"} (IPC_CONFIG "tools"),
					 * or NULL */
	struct http_conn *w_conns;	/* list of client connections */
	unsigned w_nconns;
	int w_nofile;			/* RLIMIT_NOFILE (the filter forbids
					 * asking: prlimit64) */
	uint64_t w_shed;		/* idle connections closed at the fd
					 * limit, not logged yet */
	int64_t w_shed_logged_ms;	/* when that was last logged */
	uint64_t w_received;		/* connections received so far */
	struct mcp_session *w_sessions;
	unsigned w_nsessions;
	struct store_call *w_store_calls;
	uint32_t w_next_store_id;
	int64_t w_last_activity_ms;	/* last request or upstream traffic */
	int w_retiring;
	int w_draining;			/* SIGTERM: finishing in-flight work */
	int64_t w_drain_deadline_ms;
	unsigned w_stats_sent_conns, w_stats_sent_ups;
	struct toolstats *w_toolstats;	/* calls not yet reported */
	struct counters *w_counters;	/* other counts not yet reported */
	struct http_conn *w_rate_wait;	/* requests waiting for a token */
	int w_rate_asked;		/* tokens asked for, not yet answered */
	struct mcp_state *w_mcp;	/* mcp.c: exchanges, streams, relays */
	const struct up_events *w_up_events;	/* upstream_set_events */
	uint32_t w_next_slot_id;	/* IPC_SLOT_REQ ids */
	int64_t w_slot_refused_ms;	/* last IPC_SLOT_GRANT refusal, or 0 */
	json_t *w_slot_refusal;		/* its payload, or NULL */
};

/* main.c */
/* Notes activity (resets the idle clock). */
void wrk_touch(struct wrk *w);
/* Sends counts to the supervisor when they changed. */
void wrk_stats(struct wrk *w);
typedef void (*store_cb)(json_t *res, void *arg);
/*
 * Asks the supervisor to write to the store (op object stolen). cb gets
 * the IPC_STORE_RES payload ({"ok":true,...} or {"ok":false,"error"}),
 * or {"ok":false,"error":"supervisor gone"}; cb is always called once,
 * later, from the event loop.
 */
void wrk_store_request(struct wrk *w, json_t *op, store_cb cb, void *arg);
/* A draining worker exits once nothing is in flight (or time is up). */
void wrk_drain_check(struct wrk *w);
/* OOM kills so far in the tenant's cgroup, -1 when unknown. */
int64_t wrk_oom_kills(struct wrk *w);
/* An audit event for the supervisor to write (detail stolen, may be NULL). */
void wrk_audit(struct wrk *w, const char *action, json_t *detail);
/* Gives a client socket back to the supervisor with the bytes already
 * read from it (IPC_HANDBACK). The caller then frees its connection.
 * Returns 0, or -1 when it could not be sent. */
int wrk_handback(struct wrk *w, int fd, const uint8_t *pre, size_t prelen);

/* ------------------------------------------------------------ launcher */

/* Where starting a server failed (launch_result lr_stage). */
#define LAUNCH_STAGE_DUP	1
#define LAUNCH_STAGE_CHDIR	2
#define LAUNCH_STAGE_EXEC	3
#define LAUNCH_STAGE_SECCOMP	4
#define LAUNCH_STAGE_FORK	5
#define LAUNCH_STAGE_REQUEST	6	/* the launcher is gone or refused */

struct launch_result {
	pid_t lr_pid;		/* also its process group */
	int lr_in, lr_out, lr_err;	/* our ends of its stdin, out, err */
	int lr_stage;		/* 0, or LAUNCH_STAGE_* on failure */
	int lr_errno;
};

/*
 * Forks the launcher (launcher.c). Called confined, after the tenant's
 * uid and before the worker's own seccomp filter: servers must not
 * inherit that filter. Returns 0 or -1 with err.
 */
int launcher_start(struct wrk *w, char *err, size_t errlen);
/* Starts argv (envp, in cwd) under the upstream filter; waits for the
 * launcher's answer. Returns 0 with pid and fds, or -1 with stage and
 * errno in *lr. */
int launcher_spawn(struct wrk *w, char *const argv[], char *const envp[],
    const char *cwd, struct launch_result *lr);
/* 1 with *status_r (a wait status) when pid has exited; the record is
 * consumed. 0 when no exit is known yet. */
int launcher_exited(struct wrk *w, pid_t pid, int *status_r);
/* pid was killed and nobody will ask about it: drop its exit. */
void launcher_forget(struct wrk *w, pid_t pid);
void launcher_note_exit(struct launcher *la, pid_t pid, int status);
pid_t launcher_pid(const struct wrk *w);
/*
 * Remote upstreams: the launcher resolves host and starts a non-blocking
 * connect to its index-th address. cb gets, from the event loop, the
 * socket (connect in progress: wait for writable, check SO_ERROR) or
 * fd -1 with err (an errno) or gai_err (the resolver's message); more
 * is 1 when there is an address after this one. The socket is the
 * callee's. Returns NULL only when out of memory.
 */
struct launcher_conn;
typedef void (*launcher_connect_cb)(int fd, int more, int err,
    const char *gai_err, void *arg);
struct launcher_conn *launcher_connect(struct wrk *w, const char *host,
    const char *port, unsigned index, launcher_connect_cb cb, void *arg);
/* cb will not be called; a socket that still arrives is closed. */
void launcher_connect_cancel(struct launcher_conn **lc);
/* Opens an absolute path read-only as the tenant (a regular file only).
 * Returns 0 with *fd_r, or an errno. Waits for the launcher. */
int launcher_open(struct wrk *w, const char *path, int *fd_r);
/* Closes the socket, which ends every server and then the launcher;
 * waits up to ms for it (then SIGKILL). */
void launcher_stop(struct wrk *w, int ms);

/* ---------------------------------------------------------------- http */

struct http_req;
typedef void (*http_abort_cb)(struct http_req *r, void *arg);

struct http_req {
	struct http_conn *hr_conn;
	struct wrk *hr_wrk;
	int hr_method;			/* enum http_method */
	char hr_path[2048];		/* without the query string */
	char *hr_query;			/* after '?', or NULL */
	json_t *hr_headers;		/* lowercase name -> value */
	char *hr_body;			/* NUL-terminated, hr_body_len bytes */
	size_t hr_body_len;
	/* Set by a handler that answers later: called instead if the client
	 * goes away first; after it returns, r is freed and must not be
	 * touched again. */
	http_abort_cb hr_on_abort;
	void *hr_abort_arg;
	char hr_request_id[REQUEST_ID_MAX + 1];	/* X-Request-Id, ours or
						 * the client's */
	int64_t hr_start_ms;		/* the request was complete */
	/* A streamed answer with no end of its own (an MCP GET stream):
	 * a draining worker ends it (hr_on_abort first) instead of
	 * waiting for it. */
	int hr_endless;
};

/* Takes ownership of fd (a handed-off client socket); pre/prelen
 * (borrowed) are bytes already read from it, served first. */
void http_conn_new(struct wrk *w, int fd, const char *token_hash, int64_t exp,
    const uint8_t *pre, size_t prelen);
void http_conn_free_all(struct wrk *w);
/* Closes every connection whose credential has this hash (IPC_REVOKE). */
void http_revoke(struct wrk *w, const char *token_hash);
/* Requests handed to a handler and not answered yet. */
unsigned http_in_flight(struct wrk *w);
/* Draining: closes idle connections; busy ones close after their answer. */
void http_drain(struct wrk *w);
/* Logs the idle connections closed at the fd limit, at most once every
 * HTTP_SHED_LOG_S seconds (called by the 1 s tick). */
void http_shed_log(struct wrk *w);
/* IPC_RATE_GRANT: n tokens for the requests waiting, the rest of those
 * asked for get 429 with Retry-After: retry_after. */
void http_rate_grant(struct wrk *w, int n, int retry_after);
/* Value of a header (name lowercase), or NULL. */
const char *http_header(const struct http_req *r, const char *lname);
/*
 * Sends the response and frees r (the connection goes on with the next
 * request, unless `close` was asked or the client asked for it).
 * extra_headers: "Name: value\r\n" lines or NULL.
 */
void http_reply(struct http_req *r, int status, const char *extra_headers,
    const char *ctype, const void *body, size_t len);
/* A streamed answer (chunked; for text/event-stream): begin sends the
 * head, write one chunk, end the last chunk; end frees r like
 * http_reply. hr_on_abort still applies until end. */
void http_stream_begin(struct http_req *r, int status,
    const char *extra_headers, const char *ctype);
void http_stream_write(struct http_req *r, const void *data, size_t len);
void http_stream_end(struct http_req *r);
/* JSON body (stolen), Content-Type application/json. */
void http_reply_json(struct http_req *r, int status,
    const char *extra_headers, json_t *body);
/* {"error": msg} with status. */
void http_reply_error(struct http_req *r, int status, const char *msg);
/* What is wrong with a request body json_loadb refused, said for the
 * client (jansson's own text, except for U+0000, which names a flag). */
const char *http_json_error(const json_error_t *jerr);

/* ----------------------------------------------------------------- mcp */

/* /api/v1/users/{id}/mcp (POST, GET, DELETE). */
void mcp_handle(struct wrk *w, struct http_req *r);
void mcp_sessions_free(struct wrk *w);
/* An upstream's tool list changed (cache already dropped). */
void mcp_tools_changed(struct wrk *w, struct upstream *u);
/* /api/v1/users/{id}/mcp/{server}: one upstream passed through
 * unchanged; server is what follows "/mcp/" in the path. */
void mcp_handle_server(struct wrk *w, struct http_req *r, const char *server);
/* Registers mcp.c's upstream events (upstream_set_events); called once
 * at start-up. */
void mcp_init(struct wrk *w);

/* ---------------------------------------------------------------- rest */

/* rest_path is what follows /api/v1/users/{id} ("/tools", ...). */
void rest_handle(struct wrk *w, struct http_req *r, const char *rest_path);

/* ------------------------------------------------------------ upstream */

enum upstream_state {
	UP_STOPPED = 0,	/* not running (never started, idle-stopped) */
	UP_STARTING,	/* process spawned, initialize in flight */
	UP_READY,
	UP_BACKOFF,	/* died; restarts on next use after a delay */
	UP_FAILED,	/* config error (e.g. command not found) */
};

/*
 * Exactly one of result / error is non-NULL (borrowed references, valid
 * during the call). error is a JSON-RPC error object {"code","message"}.
 */
typedef void (*upstream_cb)(json_t *result, json_t *error, void *arg);

/*
 * What upstream.c tells the rest of the worker about its servers, set
 * once (mcp_init) with upstream_set_events; a NULL member, or no events
 * at all, means nobody listens (a request is then refused). Each runs
 * from upstream.c's reading of the server's message; msg is borrowed.
 */
struct up_events {
	/* u's tool list changed (its cache already dropped). */
	void (*ue_tools_changed)(struct wrk *w, struct upstream *u);
	/* A notification from u: progress, logging, list changes. */
	void (*ue_notification)(struct wrk *w, struct upstream *u,
	    json_t *msg);
	/* A request from u (sampling, elicitation, ...). Returns 1 when it
	 * was relayed (the answer goes back later with upstream_respond),
	 * 0 when upstream.c should answer it itself. */
	int (*ue_request)(struct wrk *w, struct upstream *u, json_t *msg);
};
/* The JSON-RPC error code of a call refused by a connection limit
 * (host or tenant); its "data" holds {"scope","retry_after"}. */
#define UPSTREAM_ERR_LIMIT	(-32003)
struct upstream_call;

/* spec: {"name","command","args","env","enabled"}, or for a remote
 * server {"name","transport":"http"|"sse","url","headers","options",
 * "enabled"} (borrowed, copied). */
/* ev (borrowed, must outlive w's upstreams) replaces the events. */
void upstream_set_events(struct wrk *w, const struct up_events *ev);
struct upstream *upstream_new(struct wrk *w, const json_t *spec);
/* Kills the process group, fails pending calls (their cb is called with
 * an error), frees u and unlinks it from w->w_upstreams. */
void upstream_free(struct upstream **u);
void upstream_free_all(struct wrk *w);
struct upstream *upstream_find(struct wrk *w, const char *name);
/* The next upstream in w->w_upstreams, or NULL (for iteration). */
struct upstream *upstream_next(const struct upstream *u);
/* 1 when spec (same shape as upstream_new's) equals u's current one. */
int upstream_spec_equal(const struct upstream *u, const json_t *spec);
const char *upstream_name(const struct upstream *u);
/* u's configuration, normalized: {"name","transport","command","args",
 * "env","enabled"} (borrowed; valid until u is freed). */
const json_t *upstream_spec(const struct upstream *u);
/* u's tool lists from spec ("allow_tools", "deny_tools"; borrowed,
 * copied): they change without restarting the server. Returns 0, or -1
 * when out of memory (the old lists stay). */
int upstream_set_tool_lists(struct upstream *u, const json_t *spec);
/* {"allow_tools":[..],"deny_tools":[..]} of u (borrowed), or NULL. */
const json_t *upstream_tool_lists(const struct upstream *u);
/* Whether the tenant's and u's tool lists let tool (u's own name) be
 * listed and called (toolacl_allows; *why_r names the refusing list). */
int upstream_tool_allowed(const struct upstream *u, const char *tool,
    const char **why_r);
/* The tool objects of the array tools (borrowed) that u's lists allow,
 * as a new array, or NULL when out of memory. */
json_t *upstream_tools_allowed(const struct upstream *u, const json_t *tools);
int upstream_enabled(const struct upstream *u);
enum upstream_state upstream_state(const struct upstream *u);
const char *upstream_state_name(enum upstream_state st);
const char *upstream_last_error(const struct upstream *u);
pid_t upstream_pid(const struct upstream *u);
unsigned upstream_running_count(struct wrk *w);
/* The server's own initialize result (serverInfo etc.), or NULL; its
 * server/discover result when it is stateless. */
json_t *upstream_server_info(const struct upstream *u);
/* 1 when u is spoken to in the stateless 2026-07-28 revision (no
 * initialize, no ping: server/discover instead). */
int upstream_stateless(const struct upstream *u);

/*
 * Sends a JSON-RPC request (params stolen, may be NULL), starting the
 * process first when needed (at most ws_max_upstreams running: an idle
 * one is stopped to make room, else the call fails). The upstream sees
 * its own id; cb is called exactly once, always from the event loop
 * (never from inside this call), unless the call is cancelled first.
 * timeout_ms 0 means ws_call_timeout_ms.
 * Returns a handle (valid until cb runs or cancel).
 */
struct upstream_call *upstream_request(struct upstream *u, const char *method,
    json_t *params, int timeout_ms, upstream_cb cb, void *arg);
/* The client went away: cb will not be called; the upstream is sent
 * notifications/cancelled for an in-flight request. */
void upstream_call_cancel(struct upstream_call **c);

/*
 * The server's tools (array of tool objects, its own names), from the
 * cache when younger than ws_tool_cache_ttl_s, else fetched following
 * nextCursor pages. cb as for upstream_request, with result the array.
 */
struct upstream_call *upstream_tools(struct upstream *u, upstream_cb cb,
    void *arg);
/* Sends a notification (params stolen, may be NULL) to a running
 * upstream. Returns 0, or -1 when it is not running. */
int upstream_notify(struct upstream *u, const char *method, json_t *params);
/* Answers a request the upstream sent us (id borrowed; exactly one of
 * result / error, stolen). Returns 0, or -1 when it is not running. */
int upstream_respond(struct upstream *u, const json_t *id, json_t *result,
    json_t *error);
/* Drops u's cached tools (config change or list_changed). */
void upstream_tools_invalidate(struct upstream *u);
/* Number of cached tools, else of the last full list, -1 when unknown. */
int upstream_tools_count(const struct upstream *u);

/* The launcher reported exits: updates every upstream whose process
 * exited. */
void upstream_reap(struct wrk *w);
/* Stops upstreams with no pending calls that were unused for idle_s. */
void upstream_idle_sweep(struct wrk *w, int idle_s);
/* 1 when any upstream has calls in flight. */
int upstream_busy(struct wrk *w);
/* IPC_SLOT_GRANT for request id (payload borrowed): the upstream that
 * asked starts, or its waiting calls fail with the refusal. */
void upstream_slot_grant(struct wrk *w, uint32_t id, const json_t *v);
/* What GET .../mcp-servers shows of u's health: "status" (connected,
 * connecting, failed, idle), "last_connected", "restarts", "attempts"
 * added to o. */
void upstream_status_json(const struct upstream *u, json_t *o);

/* toolstats.c */
/* Most keys in one IPC_TOOL_STATS message (the supervisor refuses more). */
#define TOOLSTATS_MAX IPC_TOOL_STATS_MAX
/* Argument values longer than this (JSON) are not audited, only sized. */
#define TOOLSTATS_AUDIT_ARGS_MAX IPC_AUDIT_ARGS_MAX
/* Counts one finished tool call (ok: 1 success, 0 error or cancelled). */
void toolstats_record(struct wrk *w, const char *server, const char *tool,
    int ok, int64_t ms);
/* Sends what was counted since the last flush as IPC_TOOL_STATS. */
void toolstats_flush(struct wrk *w);
void toolstats_free(struct wrk *w);
/*
 * A finished tools/call (MCP or REST): counts it (toolstats_record), logs
 * one line and sends its audit row (IPC_AUDIT). status is "success",
 * "error" or "cancelled"; args (borrowed, may be NULL) are the call's
 * arguments: their size is always audited, their values only with
 * audit_arguments = on.
 */
void toolstats_call_done(struct wrk *w, const char *server, const char *tool,
    const char *status, int64_t ms, const json_t *args,
    const char *request_id);
/* A tools/call the tool lists refused (policy: toolacl_allows' reason):
 * counted as an error, logged, and audited with status "refused". */
void toolstats_call_refused(struct wrk *w, const char *server,
    const char *tool, const char *policy, const json_t *args,
    const char *request_id);

/* counters.c */
/* Most entries of each table in one IPC_COUNTERS message. */
#define COUNTERS_HTTP_MAX IPC_COUNTERS_HTTP_MAX
#define COUNTERS_SERVERS_MAX IPC_COUNTERS_SERVERS_MAX
enum counters_event {
	CN_RESTART,		/* a server started again after it ended */
	CN_CONNECTED,		/* a start that reached initialized */
	CN_CONNECT_FAILED,	/* a start that did not */
	CN_CLOSED,		/* a ready connection ended after ms */
};
/* An HTTP answer by route class (http_route_class) and status. */
/* One answered request (status, milliseconds) and one finished tool
 * call for the once-a-second "requests" line at info. */
void counters_request(struct wrk *w, int status, int64_t ms);
void counters_tool_call(struct wrk *w, int ok);
void counters_http(struct wrk *w, const char *route, int code);
/* A tool-list request answered from the cache (hit) or not. */
void counters_cache(struct wrk *w, int hit);
void counters_upstream(struct wrk *w, const char *server,
    enum counters_event ev, int64_t ms);
/* Sends what was counted since the last flush as IPC_COUNTERS. */
void counters_flush(struct wrk *w);
void counters_free(struct wrk *w);

#endif
