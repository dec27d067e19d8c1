/*
 * upstream_int.h: what upstream.c (the per-server state machine, the
 * JSON-RPC id multiplexing, the public API of worker.h) shares with its
 * transports, upstream_stdio.c (servers run through the launcher,
 * newline-delimited JSON-RPC on their pipes) and upstream_http.c (remote
 * servers over Streamable HTTP, HTTP+SSE, or the stateless 2026-07-28
 * revision), upstream_conf.c (the spec, its secrets, the accessors) and
 * upstream_slot.c (connection slots asked of the supervisor). Nothing
 * outside these files includes it.
 */
#ifndef DATAAGENT_UPSTREAM_INT_H
#define DATAAGENT_UPSTREAM_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

#include "worker.h"
#include "remote.h"

#define UP_PROTOCOL_VERSION	"2025-06-18"
#define UP_STATELESS_VERSION	"2026-07-28"	/* options.protocol */
#define UP_MAX_LINE		(16u * 1024 * 1024)

/* JSON-RPC error codes of our own (server error range). */
#define UP_ERR_TIMEOUT		-32001
#define UP_ERR_GONE		-32002
#define UP_ERR_LIMIT		UPSTREAM_ERR_LIMIT

enum call_kind {
	CALL_RPC = 0,	/* one request to the upstream */
	CALL_TOOLS,	/* tools/list, page after page, through c_sub */
};

struct upstream_call {
	TAILQ_ENTRY(upstream_call) c_link;	/* in u_calls or u_fetches */
	struct upstream *c_up;		/* NULL once finished or detached */
	struct wrk *c_wrk;
	enum call_kind c_kind;
	int c_internal;			/* ours (initialize): never failed
					 * to a caller, cancelled instead */
	int64_t c_id;			/* upstream-side id, 0 = not sent */
	char *c_method;
	json_t *c_params;		/* until sent */
	int c_timeout_ms;
	int64_t c_start_ms;
	upstream_cb c_cb;
	void *c_arg;
	struct event *c_ev;		/* timeout, then delivery */
	int c_done;
	json_t *c_result, *c_error;	/* owned, set when done */

	/* CALL_TOOLS */
	struct upstream_call *c_sub;	/* the page request in flight */
	json_t *c_acc;			/* tools so far */
	unsigned c_gen;			/* u_tools_gen at start */
	int c_pages;
};

TAILQ_HEAD(call_list, upstream_call);

TAILQ_HEAD(post_list, up_post);

enum {
	UP_SLOT_NONE = 0,
	UP_SLOT_ASKED,			/* IPC_SLOT_REQ sent, no answer yet */
	UP_SLOT_HELD,
};

struct upstream {
	struct upstream *u_next;
	struct wrk *u_wrk;
	char u_name[65];
	json_t *u_spec;			/* normalized, see up_spec_normalize */
	json_t *u_tool_lists;		/* {"allow_tools","deny_tools"}: not
					 * in u_spec, changed without a
					 * restart (upstream_set_tool_lists) */
	int u_enabled;
	char u_config_error[256];	/* "" when the spec can be started */
	/* The values of the secrets the spec refers to, as "NAME\0VALUE\0"
	 * pairs in their own MADV_DONTDUMP mapping, wiped before unmapping;
	 * never in u_spec, never logged. */
	char *u_sec_buf;
	size_t u_sec_len, u_sec_map;
	json_t *u_sec_unusable;		/* names that did not decrypt, or NULL */

	enum upstream_state u_state;
	/* Stdio upstreams (upstream_stdio.c). */
	pid_t u_pid;			/* -1 when none or reaped */
	pid_t u_pgid;			/* its process group, -1 when none */
	struct bufferevent *u_in;	/* its stdin */
	struct bufferevent *u_out;	/* its stdout */
	struct bufferevent *u_err;	/* its stderr */
	struct event *u_ev_eof;		/* a pipe gone: wait for the exit
					 * status a moment, then give up */
	const char *u_eof_why;		/* ... saying this (static text) */
	struct event *u_ev_retry;	/* back-off over: start for held calls */
	int64_t u_started_ms;
	int64_t u_oom_base;		/* tenant OOM kills when it started */
	int64_t u_last_used_ms;
	int64_t u_retry_at_ms;
	int u_attempts;			/* failed starts since it was ready */
	int u_slot;			/* UP_SLOT_* */
	uint32_t u_slot_req;		/* the IPC_SLOT_REQ asked */
	int u_start_bg;			/* a start of its own, no call waits */
	unsigned u_restarts;
	int64_t u_last_connected;	/* wall clock, 0 = never */
	char u_last_error[512];
	json_t *u_server_info;		/* initialize result */
	int64_t u_next_id;

	struct call_list u_calls;	/* CALL_RPC, queued or in flight */
	unsigned u_ncalls;
	struct call_list u_fetches;	/* CALL_TOOLS in progress */
	struct upstream_call *u_init;	/* initialize in flight */

	json_t *u_tools;		/* cached tools array or NULL */
	int64_t u_tools_at;
	unsigned u_tools_gen;		/* bumped on invalidate */
	int u_tools_known;		/* tools in the last full list, -1 */

	int64_t u_err_window_ms;
	unsigned u_err_lines;

	/* Remote upstreams (transport "http" or "sse", upstream_http.c). */
	int u_remote;			/* 0 stdio, 1 http, 2 sse */
	struct url u_url;
	struct url u_post_url;		/* sse: the endpoint; http: u_url */
	int u_have_endpoint;
	int u_timeout_ms;		/* per-server "timeout", or 0 */
	struct httpc *u_http;
	char *u_hdrs;			/* resolved header lines */
	size_t u_hdrs_len;
	char u_session[256];		/* Mcp-Session-Id, or "" */
	char u_proto[32];		/* negotiated protocol version */
	struct post_list u_posts;
	struct up_post *u_get;		/* the event stream, or NULL */
	int u_get_refused;		/* the server answered 405 */
	struct event *u_ev_get;		/* reopen the GET stream */
	int u_stateless;		/* options.protocol 2026-07-28: no
					 * session, _meta and headers on
					 * every request */

	const struct up_transport *u_tp;	/* never NULL */
};

/*
 * How one kind of server is reached. upstream.c decides when to start,
 * stop, retry and what to send; the transport carries the messages and
 * hands every message the server sends to up_on_line. u->u_tp is chosen
 * once, in upstream_new (a server whose config cannot be started gets
 * the stdio one and never starts).
 */
struct up_transport {
	const char *ut_name;
	/* What u needs for this transport, set up (upstream_new) and freed
	 * (upstream_free, after ut_close). ut_new returns 0, or -1 when out
	 * of memory; ut_free copes with what a failed ut_new left. */
	int (*ut_new)(struct upstream *u);
	void (*ut_free)(struct upstream *u);
	/* Starts the process or session and queues initialize
	 * (up_queue_initialize). Returns 0 (STARTING), or -1 with
	 * u_last_error set and the next attempt scheduled
	 * (up_retry_schedule). */
	int (*ut_start)(struct upstream *u);
	/* Sends one JSON-RPC message (borrowed; a message, not bytes: the
	 * stateless revision puts its method and name in headers).
	 * Returns 0, or -1 when not connected or out of memory. */
	int (*ut_send)(struct upstream *u, const json_t *msg);
	/* Drops the process or session (up_proc_close); calls stay
	 * queued. */
	void (*ut_close)(struct upstream *u);
	/* initialize was answered (result borrowed), before
	 * notifications/initialized goes out; NULL when nothing to do. */
	void (*ut_handshake)(struct upstream *u, const json_t *result);
	/* READY, and the calls that waited were sent; NULL when nothing to
	 * do. */
	void (*ut_ready)(struct upstream *u);
	/* initialize failed, u_last_error says why: close and schedule
	 * the next attempt. */
	void (*ut_init_failed)(struct upstream *u);
	int ut_resend;		/* a sent call may be sent again in a new
				 * session: its params are kept */
	int ut_relaunch;	/* a server that ran comes back on next use
				 * (BACKOFF), not FAILED */
};

extern const struct up_transport up_stdio_transport;
extern const struct up_transport up_http_transport;

/* upstream_conf.c, for upstream.c */

/* The spec as we keep and compare it, or NULL (not an object with a
 * name). */
json_t *up_spec_normalize(const json_t *spec);
/* Why a normalized spec cannot be started, into err ("" when it can). */
void up_spec_check(const json_t *spec, char *err, size_t errlen);
/* Copies {NAME: value} into u's wiped mapping. Returns 0 or -1. */
int up_secrets_load(struct upstream *u, const json_t *secrets);
/* Why the spec's secret references cannot be resolved, into err. */
void up_secrets_check(struct upstream *u, const json_t *unusable,
    char *err, size_t errlen);
void up_secrets_free(struct upstream *u);
/* s with u's ${secret:NAME} references replaced (malloc'd), or NULL. */
char *up_expand(const struct upstream *u, const char *s);

/* upstream_slot.c, for upstream.c */

/* Asks the supervisor for a slot for u (no supervisor: starts at once);
 * the calls wait for upstream_slot_grant. Returns 0, or -1 with
 * *error_r when a refusal a moment ago still stands. */
int up_slot_ask(struct upstream *u, json_t **error_r);
/* Gives u's slot back, when it holds one. */
void up_slot_release(struct upstream *u);

/* upstream.c, for the transports and upstream_slot.c */

/* Starts u now. Returns 0 (STARTING, or BACKOFF with the calls waiting
 * for another attempt), or -1 with *error_r (the calls already
 * failed). */
int up_start_now(struct upstream *u, json_t **error_r);
/* 1 when calls of callers (not our initialize) wait on u. */
int up_has_callers(const struct upstream *u);
/* The next attempt, by itself, at u_retry_at_ms. */
void up_arm_retry(struct upstream *u);

/* Frees *evp (NULL is fine) and clears it. */
void up_event_free(struct event **evp);
/* A new JSON-RPC error object {code, message}. */
json_t *up_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The timeout of a call: timeout_ms, else the server's, else the
 * worker's, else 30 s. */
int up_timeout_ms(const struct upstream *u, int timeout_ms);
/* One line (or body) the server sent: a JSON-RPC message or batch. */
void up_on_line(struct upstream *u, const char *line, size_t len);
/* A response (msg borrowed) ends the call with its id. */
void up_on_response(struct upstream *u, json_t *msg);
/* Sends a queued call, assigning its id. Returns 0 or -1. */
int up_send_call(struct upstream *u, struct upstream_call *c);
/* Queues initialize (server/discover when stateless) first in u_calls;
 * sent at once when send_now. Returns 0, or -1 when out of memory. */
int up_queue_initialize(struct upstream *u, int send_now);
/* Fails every caller's call on u with a copy of error (borrowed). */
void up_fail_calls(struct upstream *u, const json_t *error);
/* Closes the transport, drops our initialize and the server info. */
void up_proc_close(struct upstream *u);
/* The process is gone (or must go): fail what was sent, back off. */
void up_died(struct upstream *u, const char *why);
/* After a failed start (was_ready 0) or the end of a ready server (1):
 * the slot back, the next attempt scheduled, err (stolen) to the calls
 * when they are failed. Returns 0 when they still wait, -1 when
 * failed. */
int up_retry_schedule(struct upstream *u, int was_ready, int retryable,
    json_t *err);

#endif
