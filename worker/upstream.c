/*
 * upstream.c: the tenant's MCP servers: one state machine per server,
 * the JSON-RPC ids, and the API worker.h declares.
 *
 * One struct upstream per configured server. It is started on first use
 * through its transport (upstream_int.h's struct up_transport: a process
 * run through the launcher, upstream_stdio.c, or a remote session over
 * HTTP, upstream_http.c), initialized with the MCP handshake, and every
 * message the server sends comes back to up_on_line here, whichever the
 * transport. Ids the upstream sees are our own counter, mapped back to
 * the caller's struct upstream_call. What the rest of the worker must
 * hear of (notifications, requests from the server, tool list changes)
 * goes to the struct up_events registered with upstream_set_events.
 * What a server is, as configured (spec, secrets, tool lists), is
 * upstream_conf.c's.
 *
 * Every caller callback runs from the event loop on a fresh stack: a call
 * that finishes (answer, error, process death, removal) is only marked
 * done and its event made active; the event delivers it. So nothing a
 * callback does (reply to a client, start another call, stop an upstream)
 * can pull a buffer or a list out from under the code that found the
 * answer, and upstream_free never calls back into the caller synchronously.
 *
 * A process that dies is restarted on next use: at once when it had been
 * up more than UP_STABLE_MS, else after a back-off (see below); calls
 * that come meanwhile wait for it.
 *
 * Slots and retries. Starting a server (a process, or a remote session)
 * takes one of the host's upstream connection slots, asked of the
 * supervisor (upstream_slot.c, IPC_SLOT_REQ) while the calls that want the
 * server wait; a refusal fails them with the limit's message
 * (UP_ERR_LIMIT). Whatever ends a running server gives its slot back.
 * A start that fails because the server could not be run or reached is
 * tried again while calls wait, max_retries times, after retry_delay
 * doubling each time; then, or at once for a failure another attempt
 * would not mend (command not found, a bad answer, a TLS failure), the
 * server is FAILED: its calls fail, and so do later ones at once until
 * the next attempt, which comes by itself after the same back-off,
 * growing up to reconnect_interval. A call already sent is never
 * retried.
 *
 * A remote server (transport "http" or "sse") has no process: the same
 * calls, ids and handshake travel over HTTP instead of pipes. One that
 * cannot be reached is FAILED (calls fail at once) and is tried again by
 * itself when the back-off is over.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "worker.h"
#include "remote.h"
#include "upstream_int.h"

#define UP_STABLE_MS		10000
#define UP_TOOLS_MAX_PAGES	100

static void call_on_event(evutil_socket_t fd, short ev, void *arg);

/* ------------------------------------------------------------- helpers */

void
up_event_free(struct event **evp)
{
	if (*evp != NULL)
		event_free(*evp);
	*evp = NULL;
}

json_t *
up_error(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:i,s:s}", "code", code, "message", msg);
}

int
up_timeout_ms(const struct upstream *u, int timeout_ms)
{
	if (timeout_ms > 0)
		return timeout_ms;
	if (u->u_timeout_ms > 0)
		return u->u_timeout_ms;
	if (u->u_wrk->w_set.ws_call_timeout_ms > 0)
		return u->u_wrk->w_set.ws_call_timeout_ms;
	return 30000;
}

/* Writes one JSON-RPC message (not stolen) through u's transport. */
static int
up_write(struct upstream *u, const json_t *msg)
{
	return u->u_tp->ut_send(u, msg);
}

static void
up_send_cancelled(struct upstream *u, int64_t id, const char *reason)
{
	json_t *m;

	m = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method",
	    "notifications/cancelled", "params", "requestId", (json_int_t)id,
	    "reason", reason);
	if (m != NULL)
		(void)up_write(u, m);
	json_decref(m);
}

static unsigned
up_pending(const struct upstream *u)
{
	return u->u_ncalls + (TAILQ_EMPTY(&u->u_fetches) ? 0 : 1);
}

/* ---------------------------------------------------------------- calls */

static struct upstream_call *
call_new(struct wrk *w, enum call_kind kind, upstream_cb cb, void *arg)
{
	struct upstream_call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->c_wrk = w;
	c->c_kind = kind;
	c->c_cb = cb;
	c->c_arg = arg;
	c->c_start_ms = now_mono_ms();
	c->c_ev = evtimer_new(w->w_base, call_on_event, c);
	if (c->c_ev == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void
call_free(struct upstream_call **cp)
{
	struct upstream_call *c = *cp;

	if (c == NULL)
		return;
	if (c->c_ev != NULL)
		event_free(c->c_ev);
	free(c->c_method);
	json_decref(c->c_params);
	json_decref(c->c_result);
	json_decref(c->c_error);
	json_decref(c->c_acc);
	free(c);
	*cp = NULL;
}

/* Takes c out of its upstream's lists (it stays allocated). */
static void
call_unlink(struct upstream_call *c)
{
	struct upstream *u = c->c_up;

	if (u == NULL)
		return;
	if (c->c_kind == CALL_TOOLS) {
		TAILQ_REMOVE(&u->u_fetches, c, c_link);
	} else {
		TAILQ_REMOVE(&u->u_calls, c, c_link);
		u->u_ncalls--;
		if (u->u_init == c)
			u->u_init = NULL;
	}
	c->c_up = NULL;
}

/*
 * Marks c done with result or error (new references, one non-NULL) and
 * schedules its delivery from the event loop.
 */
static void
call_finish(struct upstream_call *c, json_t *result, json_t *error)
{
	call_unlink(c);
	if (result == NULL && error == NULL)
		error = up_error(-32603, "internal error");
	c->c_done = 1;
	c->c_result = result;
	c->c_error = error;
	event_del(c->c_ev);
	event_active(c->c_ev, EV_TIMEOUT, 0);
}

/* A call that fails before it was ever linked to an upstream. */
static struct upstream_call *
call_fail_soon(struct upstream_call *c, json_t *error)
{
	call_finish(c, NULL, error);
	return c;
}

static void
call_deliver(struct upstream_call *c)
{
	json_t *result = c->c_result, *error = c->c_error;

	if (result == NULL && error == NULL)
		error = c->c_error = up_error(-32603, "internal error");
	c->c_cb(error == NULL ? result : NULL, error, c->c_arg);
	call_free(&c);
}

static void
call_on_event(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream_call *c = arg;
	struct upstream *u = c->c_up;

	if (c->c_done) {
		call_deliver(c);
		return;
	}
	/* The timeout fired. Only CALL_RPC calls are armed. */
	if (u != NULL && c->c_id != 0)
		up_send_cancelled(u, c->c_id, "timeout");
	if (u != NULL)
		log_info("upstream call timed out", "{s:s,s:s,s:s,s:i}",
		    "tenant", u->u_wrk->w_tenant, "server", u->u_name,
		    "method", c->c_method != NULL ? c->c_method : "",
		    "timeout_ms", c->c_timeout_ms);
	call_unlink(c);
	c->c_done = 1;
	/* Never sent: the server did not come up in time; say why. */
	if (u != NULL && c->c_id == 0 && u->u_last_error[0] != '\0')
		c->c_error = up_error(UP_ERR_TIMEOUT, "upstream %s not ready "
		    "after %d ms (%s)", u->u_name, c->c_timeout_ms,
		    u->u_last_error);
	else if (u != NULL && c->c_id == 0 && u->u_slot == UP_SLOT_ASKED)
		c->c_error = up_error(UP_ERR_TIMEOUT, "upstream %s: no "
		    "connection slot after %d ms", u->u_name,
		    c->c_timeout_ms);
	else
		c->c_error = up_error(UP_ERR_TIMEOUT, "upstream timed out "
		    "after %d ms", c->c_timeout_ms);
	call_deliver(c);
}

/* Fails every caller's call on u with a copy of error (not stolen);
 * our own initialize is cancelled silently. */
void
up_fail_calls(struct upstream *u, const json_t *error)
{
	struct upstream_call *c;

	while ((c = TAILQ_FIRST(&u->u_calls)) != NULL) {
		if (c->c_internal) {
			call_unlink(c);
			call_free(&c);
			continue;
		}
		call_finish(c, NULL, json_deep_copy(error));
	}
}

/* ------------------------------------------------------ start and stop */

/* Closes the transport (the pipes and the process group, or the
 * session); the calls stay queued. */
void
up_proc_close(struct upstream *u)
{
	struct upstream_call *c, *next;

	/* A ready connection ends here, whatever ends it (/metrics). */
	if (u->u_state == UP_READY && u->u_started_ms > 0)
		counters_upstream(u->u_wrk, u->u_name, CN_CLOSED,
		    now_mono_ms() - u->u_started_ms);
	else if (u->u_state == UP_STARTING)
		counters_upstream(u->u_wrk, u->u_name, CN_CONNECT_FAILED, 0);
	u->u_tp->ut_close(u);
	/* Our initialize belongs to this process only. */
	for (c = TAILQ_FIRST(&u->u_calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_link);
		if (c->c_internal) {
			call_unlink(c);
			call_free(&c);
		}
	}
	json_decref(u->u_server_info);
	u->u_server_info = NULL;
}

/* The back-off before attempt number u_attempts + 1: retry_delay,
 * doubling with each failure, at most reconnect_interval once the
 * retries are spent. */
static int64_t
up_backoff_ms(const struct upstream *u)
{
	const struct wrk_settings *ws = &u->u_wrk->w_set;
	int64_t ms = ws->ws_retry_delay_ms > 0 ? ws->ws_retry_delay_ms : 1000;
	int k = u->u_attempts > 0 ? u->u_attempts - 1 : 0;

	ms <<= k > 20 ? 20 : k;
	if (u->u_attempts > ws->ws_max_retries || ms > ws->ws_reconnect_ms)
		ms = ws->ws_reconnect_ms > 0 ? ws->ws_reconnect_ms : 300000;
	return ms;
}

/* Calls of callers (not our initialize) waiting on u. */
int
up_has_callers(const struct upstream *u)
{
	const struct upstream_call *c;

	if (!TAILQ_EMPTY(&u->u_fetches))
		return 1;
	TAILQ_FOREACH(c, &u->u_calls, c_link)
		if (!c->c_internal)
			return 1;
	return 0;
}

/*
 * A start failed (was_ready 0) or a ready server ended (1); its process
 * or session is closed. Gives the slot back and schedules the next
 * attempt (see the top). err (stolen) is what failed calls get.
 * Returns 0 when the calls still wait for another attempt, -1 when they
 * were failed.
 */
int
up_retry_schedule(struct upstream *u, int was_ready, int retryable,
    json_t *err)
{
	struct wrk *w = u->u_wrk;
	int64_t now = now_mono_ms(), delay;
	int hold;

	up_slot_release(u);
	u->u_start_bg = 0;
	if (was_ready && u->u_started_ms > 0 &&
	    now - u->u_started_ms > UP_STABLE_MS) {
		/* It served a while: come back at once. */
		u->u_attempts = 0;
		delay = 0;
	} else {
		u->u_attempts++;
		delay = up_backoff_ms(u);
	}
	u->u_retry_at_ms = now + delay;
	hold = !was_ready && retryable && up_has_callers(u) &&
	    u->u_attempts <= w->w_set.ws_max_retries;
	if (hold) {
		u->u_state = UP_BACKOFF;
		log_info("upstream start failed, retrying", "{s:s,s:s,s:i,"
		    "s:I,s:s}", "tenant", w->w_tenant, "server", u->u_name,
		    "attempt", u->u_attempts, "delay_ms", (json_int_t)delay,
		    "error", u->u_last_error);
		up_arm_retry(u);
		json_decref(err);
		return 0;
	}
	/* A stdio server that ran restarts on next use, unless it keeps
	 * crashing; anything else is failed and tried again by itself. */
	if (was_ready && u->u_tp->ut_relaunch &&
	    u->u_attempts <= w->w_set.ws_max_retries)
		u->u_state = UP_BACKOFF;
	else {
		u->u_state = UP_FAILED;
		up_arm_retry(u);
	}
	up_fail_calls(u, err);
	json_decref(err);
	return -1;
}

/* The process is gone (or must go): fail what was sent to it, back off. */
void
up_died(struct upstream *u, const char *why)
{
	int64_t now = now_mono_ms();
	int was_ready = u->u_state == UP_READY;

	log_warn("upstream exited", "{s:s,s:s,s:s,s:I}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "why", why,
	    "uptime_ms", (json_int_t)(now - u->u_started_ms));
	snprintf(u->u_last_error, sizeof(u->u_last_error), "exited (%s)", why);
	up_proc_close(u);
	/* Before initialize was answered nothing of the callers' was sent:
	 * that is a start that failed, and may be tried again. */
	(void)up_retry_schedule(u, was_ready, 1, up_error(UP_ERR_GONE,
	    "upstream %s exited (%s)", u->u_name, why));
}

/* Stops a healthy process on purpose (idle, room for another). */
static void
up_stop(struct upstream *u, const char *why)
{
	json_t *err;

	log_info("upstream stopped", "{s:s,s:s,s:s}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "why", why);
	up_proc_close(u);
	up_slot_release(u);
	u->u_state = UP_STOPPED;
	u->u_attempts = 0;
	err = up_error(UP_ERR_GONE, "upstream %s was stopped (%s)", u->u_name,
	    why);
	up_fail_calls(u, err);
	json_decref(err);
}

/* ------------------------------------------------------------- messages */

void
up_on_response(struct upstream *u, json_t *msg)
{
	json_t *idv, *result, *error;
	struct upstream_call *c;
	json_int_t id;

	idv = json_object_get(msg, "id");
	if (!json_is_integer(idv)) {
		log_debug("upstream response with a foreign id", "{s:s}",
		    "server", u->u_name);
		return;
	}
	id = json_integer_value(idv);
	TAILQ_FOREACH(c, &u->u_calls, c_link)
		if (c->c_id == id)
			break;
	if (c == NULL) {
		log_debug("upstream response for an unknown id", "{s:s,s:I}",
		    "server", u->u_name, "id", id);
		return;
	}
	result = json_object_get(msg, "result");
	error = json_object_get(msg, "error");
	if (c->c_internal) {
		/* Our own call (initialize): its callback is ours too, safe to
		 * run here, and must not outlive u as a deferred delivery. */
		json_t *e = NULL;

		if (error != NULL || result == NULL)
			e = json_is_object(error) ? json_incref(error) :
			    up_error(-32603, "malformed response");
		call_unlink(c);
		c->c_cb(e == NULL ? result : NULL, e, c->c_arg);
		json_decref(e);
		call_free(&c);
		return;
	}
	if (error != NULL) {
		json_t *code = json_object_get(error, "code");
		json_t *m = json_object_get(error, "message");

		if (json_is_object(error) && json_is_integer(code) &&
		    json_is_string(m))
			call_finish(c, NULL, json_incref(error));
		else
			call_finish(c, NULL, up_error(-32603, "upstream %s "
			    "sent a malformed error", u->u_name));
	} else if (result != NULL) {
		call_finish(c, json_incref(result), NULL);
	} else {
		call_finish(c, NULL, up_error(-32603, "upstream %s sent a "
		    "response without result or error", u->u_name));
	}
}

/* A request from the server to us: we answer ping, refuse the rest. */
static void
up_on_server_request(struct upstream *u, json_t *msg, const char *method)
{
	const struct up_events *ev = u->u_wrk->w_up_events;
	json_t *reply, *id = json_object_get(msg, "id");

	if (strcmp(method, "ping") == 0)
		reply = json_pack("{s:s,s:O,s:{}}", "jsonrpc", "2.0", "id", id,
		    "result");
	else if (ev != NULL && ev->ue_request != NULL &&
	    ev->ue_request(u->u_wrk, u, msg))
		return;		/* relayed to a client, answered later */
	else
		reply = json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0",
		    "id", id, "error", "code", -32601, "message",
		    "Method not found");
	if (reply != NULL)
		(void)up_write(u, reply);
	json_decref(reply);
}

static void
up_on_notification(struct upstream *u, const char *method, json_t *msg)
{
	const struct up_events *ev = u->u_wrk->w_up_events;

	if (strcmp(method, "notifications/tools/list_changed") == 0) {
		log_debug("upstream tools changed", "{s:s}", "server",
		    u->u_name);
		upstream_tools_invalidate(u);
		if (ev != NULL && ev->ue_tools_changed != NULL)
			ev->ue_tools_changed(u->u_wrk, u);
	}
	/* Progress, logging, list changes: to the clients they concern. */
	if (ev != NULL && ev->ue_notification != NULL)
		ev->ue_notification(u->u_wrk, u, msg);
}

/* One JSON-RPC message, in whatever order the server sends them
 * (server-everything sends notifications before its initialize result). */
static void
up_on_message(struct upstream *u, json_t *msg)
{
	json_t *mv, *idv;
	const char *method;

	if (!json_is_object(msg))
		return;
	mv = json_object_get(msg, "method");
	idv = json_object_get(msg, "id");
	if (json_is_string(mv)) {
		method = json_string_value(mv);
		if (idv != NULL && !json_is_null(idv))
			up_on_server_request(u, msg, method);
		else
			up_on_notification(u, method, msg);
		return;
	}
	if (idv != NULL)
		up_on_response(u, msg);
}

void
up_on_line(struct upstream *u, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *v, *elem;
	size_t i;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	v = json_loadb(line, len, 0, &jerr);
	if (v == NULL) {
		json_t *t = json_string_lossy(line, len > 200 ? 200 : len);

		log_debug("upstream wrote a non-JSON line", "{s:s,s:o}",
		    "server", u->u_name, "line", t != NULL ? t : json_null());
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, elem)
			up_on_message(u, elem);
	} else {
		up_on_message(u, v);
	}
	json_decref(v);
}

/* ------------------------------------------------------------ handshake */

static void up_init_cb(json_t *result, json_t *error, void *arg);

/* Sends a queued call (assigns its id). */
int
up_send_call(struct upstream *u, struct upstream_call *c)
{
	json_t *m;
	int rc;

	c->c_id = ++u->u_next_id;
	m = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id",
	    (json_int_t)c->c_id, "method", c->c_method);
	if (m == NULL)
		return -1;
	if (c->c_params != NULL)
		json_object_set(m, "params", c->c_params);
	rc = up_write(u, m);
	json_decref(m);
	/* A remote call may be sent again in a new session (404). */
	if (!u->u_tp->ut_resend) {
		json_decref(c->c_params);
		c->c_params = NULL;
	}
	return rc;
}

static void
up_init_cb(json_t *result, json_t *error, void *arg)
{
	struct upstream *u = arg;
	struct upstream_call *c, *next;
	json_t *m;
	const char *msg;

	if (u->u_state != UP_STARTING)
		return;
	if (error != NULL) {
		msg = json_string_value(json_object_get(error, "message"));
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "%s failed: %s", u->u_stateless ? "server/discover" :
		    "initialize", msg != NULL ? msg : "?");
		log_warn("upstream initialize failed", "{s:s,s:s,s:s}",
		    "tenant", u->u_wrk->w_tenant, "server", u->u_name,
		    "error", u->u_last_error);
		u->u_tp->ut_init_failed(u);
		return;
	}
	u->u_server_info = json_incref(result);
	if (u->u_tp->ut_handshake != NULL)
		u->u_tp->ut_handshake(u, result);
	u->u_attempts = 0;
	u->u_last_connected = now_wall();
	if (!u->u_stateless) {
		m = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method",
		    "notifications/initialized");
		if (m != NULL)
			(void)up_write(u, m);
		json_decref(m);
	}
	u->u_state = UP_READY;
	u->u_last_error[0] = '\0';
	counters_upstream(u->u_wrk, u->u_name, CN_CONNECTED, 0);
	log_info("upstream ready", "{s:s,s:s,s:s,s:O}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "protocol",
	    u->u_stateless ? UP_STATELESS_VERSION : u->u_proto[0] != '\0' ?
	    u->u_proto : UP_PROTOCOL_VERSION, "serverInfo",
	    json_object_get(result, "serverInfo") != NULL ?
	    json_object_get(result, "serverInfo") : json_null());
	for (c = TAILQ_FIRST(&u->u_calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_link);
		if (c->c_id == 0)
			(void)up_send_call(u, c);
	}
	if (u->u_tp->ut_ready != NULL)
		u->u_tp->ut_ready(u);
}

/* A remote server's next attempt, by itself, at u_retry_at_ms. */
void
up_arm_retry(struct upstream *u)
{
	int64_t ms = u->u_retry_at_ms - now_mono_ms();
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(u->u_ev_retry, &tv);
}
/* The initialize call of a (re)started upstream, first in u_calls, for
 * either transport; server/discover for a stateless one. */
int
up_queue_initialize(struct upstream *u, int send_now)
{
	struct upstream_call *c;
	struct timeval tv;

	if (u->u_stateless) {
		/* No handshake: server/discover says it is there. */
		if ((c = call_new(u->u_wrk, CALL_RPC, up_init_cb, u)) == NULL ||
		    (c->c_method = strdup("server/discover")) == NULL ||
		    (c->c_params = json_object()) == NULL) {
			call_free(&c);
			return -1;
		}
	} else if ((c = call_new(u->u_wrk, CALL_RPC, up_init_cb, u)) == NULL ||
	    (c->c_method = strdup("initialize")) == NULL ||
	    (c->c_params = json_pack("{s:s,s:{s:{},s:{}},s:{s:s,s:s}}",
	    "protocolVersion", UP_PROTOCOL_VERSION, "capabilities",
	    /* Relayed to a client that has them (up_events ue_request),
	     * else answered with an error. */
	    "sampling", "elicitation",
	    "clientInfo", "name", "dataagent", "version",
	    DATAAGENT_VERSION)) == NULL) {
		call_free(&c);
		return -1;
	}
	c->c_internal = 1;
	c->c_up = u;
	c->c_timeout_ms = up_timeout_ms(u, 0);
	TAILQ_INSERT_HEAD(&u->u_calls, c, c_link);
	u->u_ncalls++;
	u->u_init = c;
	tv.tv_sec = c->c_timeout_ms / 1000;
	tv.tv_usec = (c->c_timeout_ms % 1000) * 1000;
	event_add(c->c_ev, &tv);
	if (send_now)
		(void)up_send_call(u, c);
	return 0;
}
/* ----------------------------------------------------------- lifecycle */

static int up_ensure_started(struct upstream *u, json_t **error_r);

/* The back-off is over: start again for the calls that wait, or by
 * itself when failed. */
static void
up_on_retry_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;
	json_t *err = NULL;

	if (u->u_state == UP_FAILED && u->u_enabled &&
	    u->u_config_error[0] == '\0') {
		/* The timer may fire a hair before u_retry_at_ms. */
		u->u_retry_at_ms = now_mono_ms();
		u->u_start_bg = 1;
		if (up_ensure_started(u, &err) == -1) {
			up_fail_calls(u, err);
			json_decref(err);
		}
		return;
	}
	if (u->u_state != UP_BACKOFF || up_pending(u) == 0)
		return;
	if (up_ensure_started(u, &err) == -1) {
		up_fail_calls(u, err);
		json_decref(err);
	}
}

/* Starts u now (it holds a slot, or there is no supervisor to ask).
 * Returns 0 (STARTING, or BACKOFF with the calls waiting for another
 * attempt), or -1 with *error_r (the calls already failed). */
int
up_start_now(struct upstream *u, json_t **error_r)
{
	/* A start after the server ended or failed is a restart. */
	if (u->u_state == UP_BACKOFF || u->u_state == UP_FAILED) {
		counters_upstream(u->u_wrk, u->u_name, CN_RESTART, 0);
		u->u_restarts++;
	}
	if (u->u_tp->ut_start(u) == 0 || u->u_state == UP_BACKOFF)
		return 0;
	*error_r = up_error(UP_ERR_GONE, "upstream %s failed: %s",
	    u->u_name, u->u_last_error);
	return -1;
}

/*
 * Makes sure u is running or on its way (READY, STARTING, waiting for a
 * slot, or waiting for another attempt), stopping the least recently
 * used idle one when at the tenant's limit. Returns 0, or -1 with
 * *error_r set (a new JSON-RPC error object).
 */
static int
up_ensure_started(struct upstream *u, json_t **error_r)
{
	struct wrk *w = u->u_wrk;
	struct upstream *o, *lru = NULL;
	unsigned running = 0;
	int64_t now = now_mono_ms();

	if (u->u_slot == UP_SLOT_ASKED)
		return 0;
	switch (u->u_state) {
	case UP_READY:
	case UP_STARTING:
		return 0;
	case UP_BACKOFF:
		/* Hold the call until the back-off is over (its own timeout
		 * still bounds the wait), so a client sees one failed call
		 * per crash, not a burst of them. */
		if (now < u->u_retry_at_ms) {
			up_arm_retry(u);
			return 0;
		}
		break;
	case UP_FAILED:
		if (now < u->u_retry_at_ms) {
			int64_t s = (u->u_retry_at_ms - now + 999) / 1000;

			*error_r = up_error(UP_ERR_GONE, "upstream %s "
			    "failed: %s (next attempt in %d s)",
			    u->u_name, u->u_last_error, (int)s);
			return -1;
		}
		break;
	case UP_STOPPED:
		break;
	}

	for (o = w->w_upstreams; o != NULL; o = o->u_next) {
		if (o == u || (o->u_state != UP_READY &&
		    o->u_state != UP_STARTING && o->u_slot == UP_SLOT_NONE))
			continue;
		running++;
		if (up_pending(o) == 0 && o->u_slot != UP_SLOT_ASKED &&
		    (lru == NULL || o->u_last_used_ms < lru->u_last_used_ms))
			lru = o;
	}
	/* At the tenant's limit with none idle: the supervisor refuses
	 * (and counts it) with the limit's message. */
	if (w->w_set.ws_max_upstreams > 0 &&
	    running >= (unsigned)w->w_set.ws_max_upstreams && lru != NULL)
		up_stop(lru, "making room for another server");
	return up_slot_ask(u, error_r);
}

/* ----------------------------------------------------------------- api */

void
upstream_set_events(struct wrk *w, const struct up_events *ev)
{
	w->w_up_events = ev;
}

struct upstream *
upstream_new(struct wrk *w, const json_t *spec)
{
	struct upstream *u, **pp;
	json_t *norm;
	const char *name;

	if ((norm = up_spec_normalize(spec)) == NULL)
		return NULL;
	name = json_string_value(json_object_get(norm, "name"));
	if (!name_valid(name) || strlen(name) >= sizeof(u->u_name) ||
	    upstream_find(w, name) != NULL) {
		json_decref(norm);
		return NULL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		json_decref(norm);
		return NULL;
	}
	u->u_wrk = w;
	snprintf(u->u_name, sizeof(u->u_name), "%s", name);
	u->u_spec = norm;
	if (upstream_set_tool_lists(u, spec) == -1) {
		/* Never a server without its lists: that would allow all. */
		json_decref(norm);
		free(u);
		return NULL;
	}
	u->u_enabled = json_is_true(json_object_get(norm, "enabled"));
	u->u_state = UP_STOPPED;
	u->u_tools_known = -1;
	up_spec_check(norm, u->u_config_error, sizeof(u->u_config_error));
	if (u->u_config_error[0] == '\0') {
		if (up_secrets_load(u, json_object_get(spec, "secrets")) == -1)
			snprintf(u->u_config_error,
			    sizeof(u->u_config_error), "malformed secrets");
		else
			up_secrets_check(u, json_object_get(spec,
			    "secrets_unusable"), u->u_config_error,
			    sizeof(u->u_config_error));
		if (json_is_array(json_object_get(spec, "secrets_unusable")))
			u->u_sec_unusable = json_deep_copy(json_object_get(
			    spec, "secrets_unusable"));
		/* Never started with a secret missing: failed until the
		 * secret is set (which sends a new config). */
		if (u->u_config_error[0] != '\0')
			u->u_state = UP_FAILED;
	}
	if (u->u_config_error[0] != '\0')
		snprintf(u->u_last_error, sizeof(u->u_last_error), "%s",
		    u->u_config_error);
	/* A secret in args (a row stored before they were refused): failed,
	 * as with a secret missing, until the server is stored again. */
	{
		char sname[SECRET_NAME_MAX + 1];
		size_t ai;

		if (u->u_config_error[0] != '\0' && secretref_args_find(
		    json_object_get(norm, "args"), &ai, sname))
			u->u_state = UP_FAILED;
	}
	u->u_pid = -1;
	u->u_pgid = -1;
	if (u->u_config_error[0] == '\0') {
		const char *tr = json_string_value(json_object_get(norm,
		    "transport"));
		json_t *to = json_object_get(json_object_get(norm, "options"),
		    "timeout");

		u->u_remote = strcmp(tr, "http") == 0 ? 1 :
		    strcmp(tr, "sse") == 0 ? 2 : 0;
		if (json_is_integer(to))
			u->u_timeout_ms = (int)json_integer_value(to) * 1000;
	}
	u->u_tp = u->u_remote ? &up_http_transport : &up_stdio_transport;
	if (u->u_tp->ut_new(u) == -1 || (u->u_ev_retry = evtimer_new(
	    w->w_base, up_on_retry_timer, u)) == NULL) {
		u->u_tp->ut_free(u);
		up_secrets_free(u);
		json_decref(u->u_sec_unusable);
		json_decref(norm);
		free(u);
		return NULL;
	}
	TAILQ_INIT(&u->u_calls);
	TAILQ_INIT(&u->u_fetches);
	for (pp = &w->w_upstreams; *pp != NULL; pp = &(*pp)->u_next)
		;
	*pp = u;
	return u;
}

void
upstream_free(struct upstream **up)
{
	struct upstream *u = *up, **pp;
	struct upstream_call *c;
	json_t *err;

	if (u == NULL)
		return;
	*up = NULL;
	for (pp = &u->u_wrk->w_upstreams; *pp != NULL; pp = &(*pp)->u_next) {
		if (*pp == u) {
			*pp = u->u_next;
			break;
		}
	}
	up_proc_close(u);
	up_slot_release(u);
	/* Callers learn it later, from the event loop (see the top). */
	err = up_error(UP_ERR_GONE, "upstream %s exited (removed or "
	    "reconfigured)", u->u_name);
	up_fail_calls(u, err);
	/* A tools fetch goes on to fail through its page request. */
	while ((c = TAILQ_FIRST(&u->u_fetches)) != NULL) {
		TAILQ_REMOVE(&u->u_fetches, c, c_link);
		c->c_up = NULL;
		if (c->c_sub == NULL)
			call_finish(c, NULL, json_deep_copy(err));
	}
	json_decref(err);
	json_decref(u->u_tools);
	json_decref(u->u_spec);
	json_decref(u->u_tool_lists);
	up_secrets_free(u);
	json_decref(u->u_sec_unusable);
	u->u_tp->ut_free(u);
	up_event_free(&u->u_ev_retry);
	free(u);
}

void
upstream_free_all(struct wrk *w)
{
	struct upstream *u;

	while ((u = w->w_upstreams) != NULL)
		upstream_free(&u);
}

void
upstream_status_json(const struct upstream *u, json_t *o)
{
	const char *st;
	char ts[32];
	time_t t = (time_t)u->u_last_connected;
	struct tm tm;

	switch (u->u_state) {
	case UP_READY:
		st = "connected";
		break;
	case UP_STARTING:
		st = "connecting";
		break;
	case UP_FAILED:
		st = "failed";
		break;
	case UP_BACKOFF:
		/* Calls wait for its next attempt, or it waits for one. */
		st = up_pending(u) > 0 ? "connecting" : "idle";
		break;
	default:
		st = "idle";
		break;
	}
	if (u->u_slot == UP_SLOT_ASKED)
		st = "connecting";
	json_object_set_new(o, "status", json_string(st));
	if (u->u_last_connected > 0 && gmtime_r(&t, &tm) != NULL &&
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		json_object_set_new(o, "last_connected", json_string(ts));
	else
		json_object_set_new(o, "last_connected", json_null());
	json_object_set_new(o, "restarts", json_integer(u->u_restarts));
	json_object_set_new(o, "attempts", json_integer(u->u_attempts));
}

/*
 * Returns NULL only when out of memory (cb is then never called);
 * otherwise cb runs exactly once from the event loop, unless cancelled.
 */
struct upstream_call *
upstream_request(struct upstream *u, const char *method, json_t *params,
    int timeout_ms, upstream_cb cb, void *arg)
{
	struct upstream_call *c;
	struct timeval tv;
	json_t *err = NULL;

	if ((c = call_new(u->u_wrk, CALL_RPC, cb, arg)) == NULL ||
	    (c->c_method = strdup(method)) == NULL) {
		json_decref(params);
		call_free(&c);
		return NULL;
	}
	c->c_params = params;
	c->c_timeout_ms = up_timeout_ms(u, timeout_ms);
	u->u_last_used_ms = now_mono_ms();
	if (!u->u_enabled)
		return call_fail_soon(c, up_error(UP_ERR_GONE,
		    "server %s is disabled", u->u_name));
	if (u->u_config_error[0] != '\0')
		return call_fail_soon(c, up_error(UP_ERR_GONE,
		    "server %s cannot start: %s", u->u_name,
		    u->u_config_error));

	/* Queued first: a start that fails may keep it waiting for the
	 * next attempt, or fail it with everything else that waits. */
	c->c_up = u;
	TAILQ_INSERT_TAIL(&u->u_calls, c, c_link);
	u->u_ncalls++;
	tv.tv_sec = c->c_timeout_ms / 1000;
	tv.tv_usec = (c->c_timeout_ms % 1000) * 1000;
	event_add(c->c_ev, &tv);
	if (up_ensure_started(u, &err) == -1) {
		if (c->c_done) {
			json_decref(err);
			return c;
		}
		call_finish(c, NULL, err);
		return c;
	}
	if (c->c_done)
		return c;
	if (u->u_state == UP_READY && up_send_call(u, c) == -1) {
		/* Only out of memory gets here: the pipe is buffered. */
		return call_fail_soon(c, up_error(-32603, "cannot send to "
		    "upstream %s", u->u_name));
	}
	return c;
}

void
upstream_call_cancel(struct upstream_call **cp)
{
	struct upstream_call *c = *cp;
	struct upstream *u;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->c_kind == CALL_TOOLS) {
		upstream_call_cancel(&c->c_sub);
		call_unlink(c);
		call_free(&c);
		return;
	}
	u = c->c_up;
	if (u != NULL && !c->c_done && c->c_id != 0)
		up_send_cancelled(u, c->c_id, "client disconnected");
	call_unlink(c);
	call_free(&c);
}

int
upstream_notify(struct upstream *u, const char *method, json_t *params)
{
	json_t *m;
	int rc;

	if (u->u_state != UP_READY) {
		json_decref(params);
		return -1;
	}
	m = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
	if (m != NULL && params != NULL)
		json_object_set(m, "params", params);
	json_decref(params);
	rc = m != NULL ? up_write(u, m) : -1;
	json_decref(m);
	return rc;
}

int
upstream_respond(struct upstream *u, const json_t *id, json_t *result,
    json_t *error)
{
	json_t *m;
	int rc;

	if (u->u_state != UP_READY || id == NULL) {
		json_decref(result);
		json_decref(error);
		return -1;
	}
	m = json_pack("{s:s,s:O}", "jsonrpc", "2.0", "id", id);
	if (m != NULL)
		json_object_set_new(m, error != NULL ? "error" : "result",
		    error != NULL ? error : result != NULL ? result :
		    json_object());
	else {
		json_decref(result);
		json_decref(error);
	}
	if (m != NULL && error != NULL)
		json_decref(result);
	rc = m != NULL ? up_write(u, m) : -1;
	json_decref(m);
	return rc;
}

/* ---------------------------------------------------------------- tools */

static void up_tools_page_cb(json_t *result, json_t *error, void *arg);

/* Asks for the next page (cursor may be NULL). */
static void
up_tools_next(struct upstream_call *c, const char *cursor)
{
	json_t *params;

	params = cursor != NULL ? json_pack("{s:s}", "cursor", cursor) :
	    json_object();
	c->c_pages++;
	c->c_sub = upstream_request(c->c_up, "tools/list", params, 0,
	    up_tools_page_cb, c);
	if (c->c_sub == NULL)
		call_finish(c, NULL, up_error(-32603, "out of memory"));
}

static void
up_tools_page_cb(json_t *result, json_t *error, void *arg)
{
	struct upstream_call *c = arg;
	struct upstream *u = c->c_up;
	json_t *tools;
	const char *cursor;

	c->c_sub = NULL;	/* freed by our caller after we return */
	if (error != NULL) {
		call_finish(c, NULL, json_incref(error));
		return;
	}
	tools = json_object_get(result, "tools");
	if (!json_is_array(tools)) {
		call_finish(c, NULL, up_error(-32603, "upstream %s: tools/list "
		    "result has no tools array", u != NULL ? u->u_name : "?"));
		return;
	}
	json_array_extend(c->c_acc, tools);
	cursor = json_string_value(json_object_get(result, "nextCursor"));
	if (cursor != NULL && cursor[0] != '\0' &&
	    c->c_pages < UP_TOOLS_MAX_PAGES) {
		if (u == NULL) {
			call_finish(c, NULL, up_error(UP_ERR_GONE, "upstream "
			    "was removed"));
			return;
		}
		up_tools_next(c, cursor);
		return;
	}
	if (u != NULL)
		u->u_tools_known = (int)json_array_size(c->c_acc);
	if (u != NULL && u->u_tools_gen == c->c_gen) {
		json_decref(u->u_tools);
		u->u_tools = json_incref(c->c_acc);
		u->u_tools_at = now_mono_ms();
	}
	call_finish(c, json_incref(c->c_acc), NULL);
}

/*
 * Returns NULL only when out of memory (cb never called). The tools array
 * given to cb is borrowed, as for upstream_request.
 */
struct upstream_call *
upstream_tools(struct upstream *u, upstream_cb cb, void *arg)
{
	struct upstream_call *c;
	int ttl = u->u_wrk->w_set.ws_tool_cache_ttl_s;

	if ((c = call_new(u->u_wrk, CALL_TOOLS, cb, arg)) == NULL)
		return NULL;
	if ((c->c_acc = json_array()) == NULL) {
		call_free(&c);
		return NULL;
	}
	c->c_up = u;
	c->c_gen = u->u_tools_gen;
	TAILQ_INSERT_TAIL(&u->u_fetches, c, c_link);
	if (u->u_tools != NULL && ttl > 0 &&
	    now_mono_ms() - u->u_tools_at < (int64_t)ttl * 1000) {
		counters_cache(u->u_wrk, 1);
		call_finish(c, json_incref(u->u_tools), NULL);
		return c;
	}
	counters_cache(u->u_wrk, 0);
	up_tools_next(c, NULL);
	return c;
}

void
upstream_tools_invalidate(struct upstream *u)
{
	json_decref(u->u_tools);
	u->u_tools = NULL;
	u->u_tools_gen++;
}

int
upstream_tools_count(const struct upstream *u)
{
	/* The cache may be dropped (list_changed) while the count stays
	 * worth showing. */
	return u->u_tools != NULL ? (int)json_array_size(u->u_tools) :
	    u->u_tools_known;
}

/* ------------------------------------------------------------ periodic */

void
upstream_idle_sweep(struct wrk *w, int idle_s)
{
	struct upstream *u;
	int64_t now = now_mono_ms();

	if (idle_s <= 0)
		return;
	for (u = w->w_upstreams; u != NULL; u = u->u_next) {
		if (u->u_state != UP_READY || up_pending(u) != 0)
			continue;
		if (now - u->u_last_used_ms >= (int64_t)idle_s * 1000)
			up_stop(u, "idle");
	}
}

int
upstream_busy(struct wrk *w)
{
	struct upstream *u;

	for (u = w->w_upstreams; u != NULL; u = u->u_next)
		if (up_pending(u) != 0)
			return 1;
	return 0;
}
