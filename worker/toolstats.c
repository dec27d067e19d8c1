/*
 * toolstats.c: tool-call counts for the supervisor's /metrics.
 *
 * Each finished tools/call (MCP or REST) is added to a small table keyed
 * by (server, tool, status); the 1 s tick sends the table as deltas in
 * one IPC_TOOL_STATS message and empties it. The table holds at most
 * TOOLSTATS_MAX keys, the most one message may carry: a call with a new
 * key when it is full sends the table early (more than 64 distinct tools
 * called within one second), so nothing is lost and nothing grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

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
};

void
toolstats_flush(struct wrk *w)
{
	struct toolstats *ts = w->w_toolstats;
	json_t *arr, *b, *v;
	unsigned i;
	int j;

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

	if (w->w_toolstats == NULL &&
	    (w->w_toolstats = calloc(1, sizeof(*w->w_toolstats))) == NULL)
		return;
	ts = w->w_toolstats;
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
	log_info(policy != NULL ? "tool call refused by the tool lists" :
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
		ipc_send_json(w->w_ipc, IPC_AUDIT, 0, -1, v);
	json_decref(v);
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
