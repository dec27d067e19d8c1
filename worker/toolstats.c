/*
 * toolstats.c: tool-call counts for the supervisor's /metrics.
 *
 * Each finished tools/call (MCP or REST) is added to a small table keyed
 * by (server, tool, status); the 1 s tick sends the table as deltas in
 * one IPC_TOOL_STATS message and empties it. The table holds at most
 * TOOLSTATS_MAX keys, the most one message may carry: a call with a new
 * key when it is full sends the table early (more than 64 distinct tools
 * called within one second), so nothing is lost and nothing grows.
 *
 * Each call's audit row waits here too, at most TOOLSTATS_AUDIT_MS or
 * until IPC_AUDIT_ROWS_MAX rows are queued, then the rows go in one
 * IPC_AUDIT message {"rows": [...]}: under load the supervisor wakes for
 * a batch, never for each call. Rows still queued when the worker exits
 * are sent first (toolstats_flush); a worker that crashes loses at most
 * that window's rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "worker.h"

#define TOOLSTATS_AUDIT_MS 100

struct toolstats_entry {
	char te_server[65];
	char te_tool[PROM_TOOL_NAME_MAX + 1];
	int te_ok;
	uint64_t te_count;
	uint64_t te_sum_ms;
	uint64_t te_buckets[PROM_NBUCKETS];
};

struct toolstats {
	struct toolstats_entry ts_e[TOOLSTATS_MAX];
	unsigned ts_n;
	json_t *ts_audit;		/* rows not yet sent, or NULL */
	struct event *ts_ev_audit;	/* sends them TOOLSTATS_AUDIT_MS on */
};

static struct toolstats *
toolstats_get(struct wrk *w)
{
	if (w->w_toolstats == NULL)
		w->w_toolstats = calloc(1, sizeof(*w->w_toolstats));
	return w->w_toolstats;
}

/* Sends the audit rows queued, in one message. */
static void
toolstats_audit_flush(struct wrk *w)
{
	struct toolstats *ts = w->w_toolstats;
	json_t *v;

	if (ts == NULL || ts->ts_audit == NULL)
		return;
	if (ts->ts_ev_audit != NULL)
		evtimer_del(ts->ts_ev_audit);
	v = json_pack("{s:o}", "rows", ts->ts_audit);
	ts->ts_audit = NULL;
	if (v != NULL && w->w_ipc != NULL)
		ipc_send_json(w->w_ipc, IPC_AUDIT, 0, -1, v);
	json_decref(v);
}

static void
toolstats_on_audit(evutil_socket_t fd, short ev, void *arg)
{
	toolstats_audit_flush(arg);
}

/* Queues one audit row (taking the reference), sending the batch when
 * it is full; the first row of a batch starts its timer. */
static void
toolstats_audit_put(struct wrk *w, json_t *row)
{
	struct toolstats *ts = toolstats_get(w);
	struct timeval tv = { 0, TOOLSTATS_AUDIT_MS * 1000 };

	if (ts == NULL || w->w_ipc == NULL) {
		json_decref(row);
		return;
	}
	if (ts->ts_audit == NULL && (ts->ts_audit = json_array()) == NULL) {
		json_decref(row);
		return;
	}
	json_array_append_new(ts->ts_audit, row);
	if (json_array_size(ts->ts_audit) >= IPC_AUDIT_ROWS_MAX) {
		toolstats_audit_flush(w);
		return;
	}
	if (ts->ts_ev_audit == NULL)
		ts->ts_ev_audit = evtimer_new(w->w_base, toolstats_on_audit, w);
	if (ts->ts_ev_audit == NULL)
		toolstats_audit_flush(w);	/* no timer: at once */
	else if (!evtimer_pending(ts->ts_ev_audit, NULL))
		evtimer_add(ts->ts_ev_audit, &tv);
}

void
toolstats_flush(struct wrk *w)
{
	struct toolstats *ts = w->w_toolstats;
	json_t *arr, *b, *v;
	unsigned i;
	int j;

	toolstats_audit_flush(w);
	if (ts == NULL || ts->ts_n == 0 || w->w_ipc == NULL)
		return;
	if ((arr = json_array()) == NULL)
		return;
	for (i = 0; i < ts->ts_n; i++) {
		struct toolstats_entry *e = &ts->ts_e[i];

		b = json_array();
		for (j = 0; j < PROM_NBUCKETS; j++)
			json_array_append_new(b,
			    json_integer((json_int_t)e->te_buckets[j]));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}",
		    "server", e->te_server, "tool", e->te_tool, "status",
		    e->te_ok ? "success" : "error", "count",
		    (json_int_t)e->te_count, "sum_ms", (json_int_t)e->te_sum_ms,
		    "buckets", b));
	}
	ts->ts_n = 0;
	v = json_pack("{s:o}", "tools", arr);
	if (v != NULL)
		ipc_send_json(w->w_ipc, IPC_TOOL_STATS, 0, -1, v);
	json_decref(v);
}

void
toolstats_record(struct wrk *w, const char *server, const char *tool,
    int ok, int64_t ms)
{
	struct toolstats *ts;
	struct toolstats_entry *e = NULL;
	unsigned i;

	if ((ts = toolstats_get(w)) == NULL)
		return;
	/* Names the supervisor would refuse are its to fold into "other";
	 * here they only need to fit. */
	if (strlen(tool) > PROM_TOOL_NAME_MAX)
		tool = "other";
	if (ms < 0)
		ms = 0;
	ok = ok != 0;
	for (i = 0; i < ts->ts_n; i++)
		if (ts->ts_e[i].te_ok == ok &&
		    strcmp(ts->ts_e[i].te_server, server) == 0 &&
		    strcmp(ts->ts_e[i].te_tool, tool) == 0) {
			e = &ts->ts_e[i];
			break;
		}
	if (e == NULL) {
		if (ts->ts_n == TOOLSTATS_MAX)
			toolstats_flush(w);
		if (ts->ts_n == TOOLSTATS_MAX)
			return;		/* no channel: nobody to tell */
		e = &ts->ts_e[ts->ts_n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->te_server, sizeof(e->te_server), "%s", server);
		snprintf(e->te_tool, sizeof(e->te_tool), "%s", tool);
		e->te_ok = ok;
	}
	e->te_count++;
	e->te_sum_ms += (uint64_t)ms;
	e->te_buckets[prom_duration_bucket(ms)]++;
}

void
toolstats_free(struct wrk *w)
{
	if (w->w_toolstats != NULL) {
		json_decref(w->w_toolstats->ts_audit);
		if (w->w_toolstats->ts_ev_audit != NULL)
			event_free(w->w_toolstats->ts_ev_audit);
	}
	free(w->w_toolstats);
	w->w_toolstats = NULL;
}

/* One finished or refused call: counted, logged, audited; policy is the
 * refusing tool list (status "refused") or NULL. */
static void
toolstats_call_row(struct wrk *w, const char *server, const char *tool,
    const char *status, const char *policy, int64_t ms, const json_t *args,
    const char *request_id)
{
	json_t *v;
	char *a = NULL;
	size_t arg_bytes = 0;
	char rid[REQUEST_ID_MAX + 1];

	if (ms < 0)
		ms = 0;
	toolstats_record(w, server, tool, strcmp(status, "success") == 0, ms);
	if (args != NULL && (a = json_dumps(args, JSON_COMPACT |
	    JSON_ENCODE_ANY)) != NULL)
		arg_bytes = strlen(a);
	free(a);
	/* The supervisor refuses what it would not store: bound it here. */
	if (strlen(tool) > PROM_TOOL_NAME_MAX)
		tool = "other";
	request_id_pick(request_id, rid);
	counters_tool_call(w, strcmp(status, "success") == 0);
	/* Refusals stay at info; each call is in the summary at info and
	 * on its own line at debug. */
	log_write(policy != NULL ? LOG_LVL_INFO : LOG_LVL_DEBUG,
	    policy != NULL ? "tool call refused by the tool lists" :
	    "tool call", "{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s?}", "tenant",
	    w->w_tenant, "server", server, "tool", tool, "status", status,
	    "duration_ms", (json_int_t)ms, "arg_bytes", (json_int_t)arg_bytes,
	    "request_id", rid, "policy", policy);
	if (w->w_ipc == NULL)
		return;
	v = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "action", "tool.call",
	    "server", server, "tool", tool, "status", status,
	    "duration_ms", (json_int_t)ms, "arg_bytes", (json_int_t)arg_bytes,
	    "request_id", rid);
	if (v != NULL && policy != NULL)
		json_object_set_new(v, "policy", json_string(policy));
	if (v != NULL && w->w_set.ws_audit_arguments && args != NULL &&
	    arg_bytes <= TOOLSTATS_AUDIT_ARGS_MAX)
		json_object_set(v, "arguments", (json_t *)args);
	if (v != NULL)
		toolstats_audit_put(w, v);
}

void
toolstats_call_done(struct wrk *w, const char *server, const char *tool,
    const char *status, int64_t ms, const json_t *args,
    const char *request_id)
{
	toolstats_call_row(w, server, tool, status, NULL, ms, args,
	    request_id);
}

void
toolstats_call_refused(struct wrk *w, const char *server, const char *tool,
    const char *policy, const json_t *args, const char *request_id)
{
	toolstats_call_row(w, server, tool, "refused", policy, 0, args,
	    request_id);
}
