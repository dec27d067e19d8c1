/*
 * counters.c: the worker's other counts for the supervisor's /metrics:
 * HTTP requests it answered (route class, status code), tool-list cache
 * hits and misses, and per upstream server its restarts, connection
 * attempts by outcome and how long its connections lasted.
 *
 * Counts accumulate here and the 1 s tick sends them as deltas in one
 * IPC_COUNTERS message (proto.h), then the tables are emptied: at most
 * one message a second, of bounded size. A key that does not fit a full
 * table (more than COUNTERS_HTTP_MAX distinct (route, code) pairs or
 * COUNTERS_SERVERS_MAX servers within one second) is not counted.
 *
 * The same tick logs, at info, one "requests" line for the second just
 * gone when it saw any: how many requests and tool calls, how many
 * failed, the mean and the longest duration. Each request's own line is
 * at debug (http.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

struct counters_http {
	int ch_route;		/* index into HTTP_ROUTE_NAMES */
	int ch_code;
	uint64_t ch_n;
};

struct counters_server {
	char cs_name[65];
	uint64_t cs_restarts;
	uint64_t cs_connects, cs_connect_failures;
	uint64_t cs_closed_sum_ms;
	uint64_t cs_closed[PROM_CONN_NBUCKETS];	/* not cumulative */
};

struct counters_summary {
	uint64_t su_requests, su_client_errors, su_server_errors;
	uint64_t su_calls, su_call_errors;
	uint64_t su_sum_ms, su_max_ms;
};

struct counters {
	struct counters_summary cn_sum;
	struct counters_http cn_http[COUNTERS_HTTP_MAX];
	unsigned cn_nhttp;
	uint64_t cn_cache_hit, cn_cache_miss;
	struct counters_server cn_srv[COUNTERS_SERVERS_MAX];
	unsigned cn_nsrv;
	int cn_dirty;
};

static struct counters *
counters_get(struct wrk *w)
{
	if (w->w_counters == NULL)
		w->w_counters = calloc(1, sizeof(*w->w_counters));
	return w->w_counters;
}

void
counters_http(struct wrk *w, const char *route, int code)
{
	struct counters *cn = counters_get(w);
	int ri = http_route_index(route);
	unsigned i;

	if (cn == NULL || code < 100 || code > 599)
		return;
	if (ri == -1)
		ri = http_route_index("other");
	for (i = 0; i < cn->cn_nhttp; i++)
		if (cn->cn_http[i].ch_route == ri &&
		    cn->cn_http[i].ch_code == code)
			break;
	if (i == cn->cn_nhttp) {
		if (cn->cn_nhttp == COUNTERS_HTTP_MAX)
			return;
		cn->cn_http[i].ch_route = ri;
		cn->cn_http[i].ch_code = code;
		cn->cn_http[i].ch_n = 0;
		cn->cn_nhttp++;
	}
	cn->cn_http[i].ch_n++;
	cn->cn_dirty = 1;
}

void
counters_request(struct wrk *w, int status, int64_t ms)
{
	struct counters *cn = counters_get(w);

	if (cn == NULL)
		return;
	if (ms < 0)
		ms = 0;
	cn->cn_sum.su_requests++;
	cn->cn_sum.su_client_errors += status >= 400 && status < 500;
	cn->cn_sum.su_server_errors += status >= 500;
	cn->cn_sum.su_sum_ms += (uint64_t)ms;
	if ((uint64_t)ms > cn->cn_sum.su_max_ms)
		cn->cn_sum.su_max_ms = (uint64_t)ms;
	cn->cn_dirty = 1;
}

void
counters_tool_call(struct wrk *w, int ok)
{
	struct counters *cn = counters_get(w);

	if (cn == NULL)
		return;
	cn->cn_sum.su_calls++;
	cn->cn_sum.su_call_errors += !ok;
	cn->cn_dirty = 1;
}

/* The "requests" line for the second gone, when it saw anything. */
static void
counters_summary_log(struct wrk *w, const struct counters_summary *su)
{
	if (su->su_requests == 0 && su->su_calls == 0)
		return;
	log_info("requests", "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tenant",
	    w->w_tenant, "requests", (json_int_t)su->su_requests,
	    "client_errors", (json_int_t)su->su_client_errors,
	    "server_errors", (json_int_t)su->su_server_errors,
	    "tool_calls", (json_int_t)su->su_calls,
	    "tool_call_errors", (json_int_t)su->su_call_errors,
	    "duration_ms_mean", (json_int_t)(su->su_requests > 0 ?
	    su->su_sum_ms / su->su_requests : 0),
	    "duration_ms_max", (json_int_t)su->su_max_ms);
}

void
counters_cache(struct wrk *w, int hit)
{
	struct counters *cn = counters_get(w);

	if (cn == NULL)
		return;
	if (hit)
		cn->cn_cache_hit++;
	else
		cn->cn_cache_miss++;
	cn->cn_dirty = 1;
}

static struct counters_server *
counters_server(struct wrk *w, const char *name)
{
	struct counters *cn = counters_get(w);
	struct counters_server *s;
	unsigned i;

	if (cn == NULL || strlen(name) >= sizeof(s->cs_name))
		return NULL;
	for (i = 0; i < cn->cn_nsrv; i++)
		if (strcmp(cn->cn_srv[i].cs_name, name) == 0)
			return &cn->cn_srv[i];
	if (cn->cn_nsrv == COUNTERS_SERVERS_MAX)
		return NULL;
	s = &cn->cn_srv[cn->cn_nsrv++];
	memset(s, 0, sizeof(*s));
	snprintf(s->cs_name, sizeof(s->cs_name), "%s", name);
	return s;
}

void
counters_upstream(struct wrk *w, const char *server, enum counters_event ev,
    int64_t ms)
{
	struct counters_server *s = counters_server(w, server);

	if (s == NULL)
		return;
	switch (ev) {
	case CN_RESTART:
		s->cs_restarts++;
		break;
	case CN_CONNECTED:
		s->cs_connects++;
		break;
	case CN_CONNECT_FAILED:
		s->cs_connect_failures++;
		break;
	case CN_CLOSED:
		if (ms < 0)
			ms = 0;
		s->cs_closed_sum_ms += (uint64_t)ms;
		s->cs_closed[prom_conn_bucket(ms)]++;
		break;
	}
	w->w_counters->cn_dirty = 1;
}

void
counters_flush(struct wrk *w)
{
	struct counters *cn = w->w_counters;
	json_t *v, *http, *srv, *b;
	unsigned i;
	int j;

	if (cn == NULL || !cn->cn_dirty)
		return;
	counters_summary_log(w, &cn->cn_sum);
	if (w->w_ipc == NULL) {
		memset(cn, 0, sizeof(*cn));
		return;
	}
	http = json_array();
	srv = json_array();
	for (i = 0; i < cn->cn_nhttp; i++)
		json_array_append_new(http, json_pack("{s:s,s:i,s:I}",
		    "route", http_route_name(cn->cn_http[i].ch_route),
		    "code", cn->cn_http[i].ch_code,
		    "n", (json_int_t)cn->cn_http[i].ch_n));
	for (i = 0; i < cn->cn_nsrv; i++) {
		struct counters_server *s = &cn->cn_srv[i];
		uint64_t closed = 0;

		b = json_array();
		for (j = 0; j < PROM_CONN_NBUCKETS; j++) {
			json_array_append_new(b,
			    json_integer((json_int_t)s->cs_closed[j]));
			closed += s->cs_closed[j];
		}
		json_array_append_new(srv, json_pack("{s:s,s:I,s:I,s:I,s:I,"
		    "s:I,s:o}", "server", s->cs_name,
		    "restarts", (json_int_t)s->cs_restarts,
		    "connects", (json_int_t)s->cs_connects,
		    "connect_failures", (json_int_t)s->cs_connect_failures,
		    "closed", (json_int_t)closed,
		    "closed_sum_ms", (json_int_t)s->cs_closed_sum_ms,
		    "closed_buckets", b));
	}
	v = json_pack("{s:o,s:{s:I,s:I},s:o}", "http", http, "cache",
	    "hit", (json_int_t)cn->cn_cache_hit,
	    "miss", (json_int_t)cn->cn_cache_miss, "servers", srv);
	if (v != NULL)
		ipc_send_json(w->w_ipc, IPC_COUNTERS, 0, -1, v);
	json_decref(v);
	memset(cn, 0, sizeof(*cn));
}

void
counters_free(struct wrk *w)
{
	free(w->w_counters);
	w->w_counters = NULL;
}
