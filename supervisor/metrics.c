/*
 * metrics.c: GET /metrics, the Prometheus text exposition format 0.0.4.
 *
 * Tool-call counts come from the workers (IPC_TOOL_STATS, deltas) and are
 * kept here per tenant, so they outlive the worker that counted them. A
 * worker reports for its own tenant only: the message names no tenant.
 * Each tenant has at most METRICS_SERIES_MAX (server, tool) series; calls
 * beyond that count into tool_name="other" (and, past METRICS_SERIES_HARD,
 * into server_name="other" too), so a tenant cannot mint label values.
 *
 * IPC_COUNTERS (proto.h) adds the workers' other counts, all per tenant:
 * HTTP answers by route class and code (at most METRICS_TENANT_HTTP_MAX
 * pairs, then route="other"), tool-list cache results and, per upstream
 * server (at most METRICS_SERVERS_MAX, then server_name="other"),
 * restarts, connection attempts and connection lifetimes. A count a
 * worker reports is never added into a host-wide series: a compromised
 * worker may say anything of its own tenant, and nothing of the
 * gateway's health. The supervisor's own counts (worker starts,
 * authentication failures, its own HTTP answers, store statement times)
 * are the host-wide ones; what it refused or dropped of a worker's
 * (log lines, audit rows, store requests) is counted per tenant too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "cgroup.h"
#include "supervisor.h"
#include "ratelimit.h"
#include "tls.h"

#define METRICS_SERIES_MAX 200
#define METRICS_SERIES_HARD 256
#define METRICS_COUNT_MAX 1000000
#define METRICS_SUM_MS_MAX ((json_int_t)1 << 40)
#define METRICS_LABEL_MAX (2 * (PROM_TOOL_NAME_MAX + 1))

struct metrics_series {
	char ms_server[65];
	char ms_tool[PROM_TOOL_NAME_MAX + 1];
	uint64_t ms_ok, ms_err;
	uint64_t ms_sum_ms;
	uint64_t ms_buckets[PROM_NBUCKETS];	/* not cumulative */
};

#define METRICS_SERVERS_MAX 64
#define METRICS_TENANT_HTTP_MAX 64	/* (route, code) pairs per tenant */
#define METRICS_HTTP_CODES 500		/* 100..599 */

/* A tenant's HTTP answers of one route class and code. */
struct metrics_http {
	int mh_route, mh_code;
	uint64_t mh_n;
};

/* One upstream server of a tenant (IPC_COUNTERS "servers"). */
struct metrics_upstream {
	char mu_server[65];
	uint64_t mu_restarts, mu_ok, mu_failed;
	uint64_t mu_closed_sum_ms;
	uint64_t mu_closed[PROM_CONN_NBUCKETS];	/* not cumulative */
};

struct metrics_tenant {
	struct metrics_tenant *mt_next;
	char mt_tenant[65];
	struct metrics_series *mt_series;
	unsigned mt_n, mt_cap;
	struct metrics_upstream mt_ups[METRICS_SERVERS_MAX];
	unsigned mt_nups;
	struct metrics_http *mt_http;	/* IPC_COUNTERS "http" */
	unsigned mt_nhttp, mt_caphttp;
	uint64_t mt_cache_hit, mt_cache_miss;
	uint64_t mt_counts[MTC_NCOUNTS];	/* metrics_tenant_count */
};

static const char *const metrics_auth_reasons[] = {
	"missing_token", "malformed", "alg", "signature", "expired",
	"not_yet_valid", "claims", "no_jti", "ttl", "revoked", "wrong_tenant",
	"unknown_tenant", "other",
};
#define METRICS_NAUTH \
	(sizeof(metrics_auth_reasons) / sizeof(metrics_auth_reasons[0]))

struct metrics {
	struct metrics_tenant *mx_tenants;
	uint64_t mx_http[HTTP_NROUTES][METRICS_HTTP_CODES];	/* our own */
	uint64_t mx_worker_starts;
	uint64_t mx_auth[METRICS_NAUTH];
};

/* One validated entry of an IPC_TOOL_STATS message. */
struct metrics_delta {
	const char *md_server, *md_tool;
	int md_ok;
	uint64_t md_count, md_sum_ms;
	uint64_t md_buckets[PROM_NBUCKETS];
};

static struct metrics *
metrics_get(struct sup *sp)
{
	if (sp->sp_metrics == NULL)
		sp->sp_metrics = calloc(1, sizeof(*sp->sp_metrics));
	return sp->sp_metrics;
}

static struct metrics_tenant *
metrics_tenant_get(struct sup *sp, const char *tenant, int create)
{
	struct metrics_tenant *mt;

	if (sp->sp_metrics == NULL) {
		if (!create || metrics_get(sp) == NULL)
			return NULL;
	}
	for (mt = sp->sp_metrics->mx_tenants; mt != NULL; mt = mt->mt_next)
		if (strcmp(mt->mt_tenant, tenant) == 0)
			return mt;
	if (!create || (mt = calloc(1, sizeof(*mt))) == NULL)
		return NULL;
	snprintf(mt->mt_tenant, sizeof(mt->mt_tenant), "%s", tenant);
	mt->mt_next = sp->sp_metrics->mx_tenants;
	sp->sp_metrics->mx_tenants = mt;
	return mt;
}

static struct metrics_series *
metrics_series_find(struct metrics_tenant *mt, const char *server,
    const char *tool)
{
	unsigned i;

	for (i = 0; i < mt->mt_n; i++)
		if (strcmp(mt->mt_series[i].ms_server, server) == 0 &&
		    strcmp(mt->mt_series[i].ms_tool, tool) == 0)
			return &mt->mt_series[i];
	return NULL;
}

static struct metrics_series *
metrics_series_add(struct metrics_tenant *mt, const char *server,
    const char *tool)
{
	struct metrics_series *s;

	if (mt->mt_n == mt->mt_cap) {
		unsigned cap = mt->mt_cap == 0 ? 8 : mt->mt_cap * 2;

		if (cap > METRICS_SERIES_HARD)
			cap = METRICS_SERIES_HARD;
		s = reallocarray(mt->mt_series, cap, sizeof(*s));
		if (s == NULL)
			return NULL;
		mt->mt_series = s;
		mt->mt_cap = cap;
	}
	s = &mt->mt_series[mt->mt_n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->ms_server, sizeof(s->ms_server), "%s", server);
	snprintf(s->ms_tool, sizeof(s->ms_tool), "%s", tool);
	return s;
}

/* The series a (server, tool) counts into, folding into "other" past the
 * cap; NULL only when out of memory. */
static struct metrics_series *
metrics_series_get(struct metrics_tenant *mt, const char *server,
    const char *tool)
{
	struct metrics_series *s;

	if ((s = metrics_series_find(mt, server, tool)) != NULL)
		return s;
	if (mt->mt_n < METRICS_SERIES_MAX)
		return metrics_series_add(mt, server, tool);
	if ((s = metrics_series_find(mt, server, "other")) != NULL)
		return s;
	if (mt->mt_n < METRICS_SERIES_HARD - 1)
		return metrics_series_add(mt, server, "other");
	if ((s = metrics_series_find(mt, "other", "other")) != NULL)
		return s;
	return metrics_series_add(mt, "other", "other");
}

static int
metrics_uint(json_t *n, json_int_t max, uint64_t *out)
{
	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > max)
		return -1;
	*out = (uint64_t)json_integer_value(n);
	return 0;
}

/* Checks one entry; tool names that may not be label values become
 * "other". Returns 0 or -1. */
static int
metrics_delta_check(json_t *e, struct metrics_delta *d)
{
	const char *status;
	json_t *b;
	uint64_t total = 0;
	size_t i;

	if (!json_is_object(e) || json_object_size(e) != 6)
		return -1;
	d->md_server = json_string_value(json_object_get(e, "server"));
	d->md_tool = json_string_value(json_object_get(e, "tool"));
	status = json_string_value(json_object_get(e, "status"));
	b = json_object_get(e, "buckets");
	if (d->md_server == NULL || !name_valid(d->md_server) ||
	    d->md_tool == NULL || status == NULL ||
	    metrics_uint(json_object_get(e, "count"), METRICS_COUNT_MAX,
	    &d->md_count) == -1 || d->md_count == 0 ||
	    metrics_uint(json_object_get(e, "sum_ms"), METRICS_SUM_MS_MAX,
	    &d->md_sum_ms) == -1 ||
	    !json_is_array(b) || json_array_size(b) != PROM_NBUCKETS)
		return -1;
	if (strcmp(status, "success") == 0)
		d->md_ok = 1;
	else if (strcmp(status, "error") == 0)
		d->md_ok = 0;
	else
		return -1;
	for (i = 0; i < PROM_NBUCKETS; i++) {
		if (metrics_uint(json_array_get(b, i), METRICS_COUNT_MAX,
		    &d->md_buckets[i]) == -1)
			return -1;
		total += d->md_buckets[i];
	}
	if (total != d->md_count)
		return -1;
	if (json_string_length(json_object_get(e, "tool")) !=
	    strlen(d->md_tool) || !prom_tool_name_valid(d->md_tool))
		d->md_tool = "other";
	return 0;
}

int
metrics_tool_stats(struct sup *sp, const char *tenant, json_t *v)
{
	struct metrics_delta d[IPC_TOOL_STATS_MAX];
	struct metrics_tenant *mt;
	struct metrics_series *s;
	json_t *arr = json_object_get(v, "tools");
	size_t i, n;
	int j;

	if (!json_is_array(arr) || json_object_size(v) != 1 ||
	    (n = json_array_size(arr)) > IPC_TOOL_STATS_MAX)
		return -1;
	/* All or nothing: check every entry before counting any. */
	for (i = 0; i < n; i++)
		if (metrics_delta_check(json_array_get(arr, i), &d[i]) == -1)
			return -1;
	if (n == 0)
		return 0;
	if ((mt = metrics_tenant_get(sp, tenant, 1)) == NULL)
		return 0;	/* out of memory: the counts are lost, not the worker */
	for (i = 0; i < n; i++) {
		if ((s = metrics_series_get(mt, d[i].md_server,
		    d[i].md_tool)) == NULL)
			continue;
		if (d[i].md_ok)
			s->ms_ok += d[i].md_count;
		else
			s->ms_err += d[i].md_count;
		s->ms_sum_ms += d[i].md_sum_ms;
		for (j = 0; j < PROM_NBUCKETS; j++)
			s->ms_buckets[j] += d[i].md_buckets[j];
	}
	return 0;
}

/* ------------------------------------------------------ IPC_COUNTERS */

/* One validated "servers" entry. */
struct metrics_updelta {
	const char *mud_server;
	uint64_t mud_restarts, mud_ok, mud_failed, mud_closed_sum_ms;
	uint64_t mud_closed[PROM_CONN_NBUCKETS];
};

static int
metrics_counters_http(json_t *e, int *route, int *code, uint64_t *n)
{
	const char *r;
	uint64_t c;

	if (!json_is_object(e) || json_object_size(e) != 3 ||
	    (r = json_string_value(json_object_get(e, "route"))) == NULL ||
	    (*route = http_route_index(r)) == -1 ||
	    metrics_uint(json_object_get(e, "code"), 599, &c) == -1 ||
	    c < 100 ||
	    metrics_uint(json_object_get(e, "n"), METRICS_COUNT_MAX, n) == -1)
		return -1;
	*code = (int)c;
	return 0;
}

static int
metrics_counters_server(json_t *e, struct metrics_updelta *d)
{
	json_t *b = json_object_get(e, "closed_buckets");
	uint64_t closed, total = 0;
	size_t i;

	if (!json_is_object(e) || json_object_size(e) != 7 ||
	    (d->mud_server = json_string_value(json_object_get(e,
	    "server"))) == NULL || !name_valid(d->mud_server) ||
	    metrics_uint(json_object_get(e, "restarts"), METRICS_COUNT_MAX,
	    &d->mud_restarts) == -1 ||
	    metrics_uint(json_object_get(e, "connects"), METRICS_COUNT_MAX,
	    &d->mud_ok) == -1 ||
	    metrics_uint(json_object_get(e, "connect_failures"),
	    METRICS_COUNT_MAX, &d->mud_failed) == -1 ||
	    metrics_uint(json_object_get(e, "closed"), METRICS_COUNT_MAX,
	    &closed) == -1 ||
	    metrics_uint(json_object_get(e, "closed_sum_ms"),
	    METRICS_SUM_MS_MAX, &d->mud_closed_sum_ms) == -1 ||
	    !json_is_array(b) || json_array_size(b) != PROM_CONN_NBUCKETS)
		return -1;
	for (i = 0; i < PROM_CONN_NBUCKETS; i++) {
		if (metrics_uint(json_array_get(b, i), METRICS_COUNT_MAX,
		    &d->mud_closed[i]) == -1)
			return -1;
		total += d->mud_closed[i];
	}
	return total == closed ? 0 : -1;
}

/* The tenant's entry for server, "other" once METRICS_SERVERS_MAX - 1
 * servers have their own. */
static struct metrics_upstream *
metrics_upstream_get(struct metrics_tenant *mt, const char *server)
{
	struct metrics_upstream *mu;
	unsigned i;

	for (i = 0; i < mt->mt_nups; i++)
		if (strcmp(mt->mt_ups[i].mu_server, server) == 0)
			return &mt->mt_ups[i];
	if (mt->mt_nups >= METRICS_SERVERS_MAX - 1 &&
	    strcmp(server, "other") != 0)
		return metrics_upstream_get(mt, "other");
	mu = &mt->mt_ups[mt->mt_nups++];
	memset(mu, 0, sizeof(*mu));
	snprintf(mu->mu_server, sizeof(mu->mu_server), "%s", server);
	return mu;
}

/* Adds n to the tenant's (route, code); past METRICS_TENANT_HTTP_MAX
 * pairs a new one counts under route "other" (at most one a code). */
static void
metrics_tenant_http(struct metrics_tenant *mt, int route, int code,
    uint64_t n)
{
	struct metrics_http *h;
	unsigned i, cap;
	int other = http_route_index("other");

	for (;;) {
		for (i = 0; i < mt->mt_nhttp; i++)
			if (mt->mt_http[i].mh_route == route &&
			    mt->mt_http[i].mh_code == code) {
				mt->mt_http[i].mh_n += n;
				return;
			}
		if (mt->mt_nhttp < METRICS_TENANT_HTTP_MAX || route == other)
			break;
		route = other;
	}
	if (mt->mt_nhttp == mt->mt_caphttp) {
		cap = mt->mt_caphttp == 0 ? 8 : mt->mt_caphttp * 2;
		if ((h = reallocarray(mt->mt_http, cap, sizeof(*h))) == NULL)
			return;
		mt->mt_http = h;
		mt->mt_caphttp = cap;
	}
	h = &mt->mt_http[mt->mt_nhttp++];
	h->mh_route = route;
	h->mh_code = code;
	h->mh_n = n;
}

void
metrics_tenant_count(struct sup *sp, const char *tenant,
    enum metrics_tenant_count what, uint64_t n)
{
	struct metrics_tenant *mt;

	if (what < MTC_NCOUNTS &&
	    (mt = metrics_tenant_get(sp, tenant, 1)) != NULL)
		mt->mt_counts[what] += n;
}

int
metrics_counters(struct sup *sp, const char *tenant, json_t *v)
{
	struct metrics_updelta ud[IPC_COUNTERS_SERVERS_MAX];
	struct {
		int route, code;
		uint64_t n;
	} hd[IPC_COUNTERS_HTTP_MAX];
	json_t *http = json_object_get(v, "http");
	json_t *srv = json_object_get(v, "servers");
	json_t *cache = json_object_get(v, "cache");
	uint64_t hit, miss;
	struct metrics_tenant *mt;
	size_t i, nh, ns;
	int j;

	if (json_object_size(v) != 3 || !json_is_array(http) ||
	    (nh = json_array_size(http)) > IPC_COUNTERS_HTTP_MAX ||
	    !json_is_array(srv) ||
	    (ns = json_array_size(srv)) > IPC_COUNTERS_SERVERS_MAX ||
	    !json_is_object(cache) || json_object_size(cache) != 2 ||
	    metrics_uint(json_object_get(cache, "hit"), METRICS_COUNT_MAX,
	    &hit) == -1 ||
	    metrics_uint(json_object_get(cache, "miss"), METRICS_COUNT_MAX,
	    &miss) == -1)
		return -1;
	/* All or nothing, as for IPC_TOOL_STATS. */
	for (i = 0; i < nh; i++)
		if (metrics_counters_http(json_array_get(http, i),
		    &hd[i].route, &hd[i].code, &hd[i].n) == -1)
			return -1;
	for (i = 0; i < ns; i++)
		if (metrics_counters_server(json_array_get(srv, i), &ud[i]) ==
		    -1)
			return -1;
	if ((nh == 0 && ns == 0 && hit == 0 && miss == 0) ||
	    (mt = metrics_tenant_get(sp, tenant, 1)) == NULL)
		return 0;	/* out of memory: counts lost, not the worker */
	for (i = 0; i < nh; i++)
		metrics_tenant_http(mt, hd[i].route, hd[i].code, hd[i].n);
	mt->mt_cache_hit += hit;
	mt->mt_cache_miss += miss;
	for (i = 0; i < ns; i++) {
		struct metrics_upstream *mu = metrics_upstream_get(mt,
		    ud[i].mud_server);

		mu->mu_restarts += ud[i].mud_restarts;
		mu->mu_ok += ud[i].mud_ok;
		mu->mu_failed += ud[i].mud_failed;
		mu->mu_closed_sum_ms += ud[i].mud_closed_sum_ms;
		for (j = 0; j < PROM_CONN_NBUCKETS; j++)
			mu->mu_closed[j] += ud[i].mud_closed[j];
	}
	return 0;
}

void
metrics_worker_started(struct sup *sp)
{
	struct metrics *mx = metrics_get(sp);

	if (mx != NULL)
		mx->mx_worker_starts++;
}

void
metrics_auth_failure(struct sup *sp, const char *reason)
{
	struct metrics *mx = metrics_get(sp);
	size_t i;

	if (mx == NULL)
		return;
	for (i = 0; i < METRICS_NAUTH - 1; i++)
		if (strcmp(metrics_auth_reasons[i], reason) == 0)
			break;
	mx->mx_auth[i]++;
}

void
metrics_http_answer(struct sup *sp, const char *route, int code)
{
	struct metrics *mx = metrics_get(sp);
	int r = http_route_index(route);

	if (mx == NULL || code < 100 || code > 599)
		return;
	if (r == -1)
		r = http_route_index("other");
	mx->mx_http[r][code - 100]++;
}

void
metrics_tenant_forget(struct sup *sp, const char *tenant)
{
	struct metrics_tenant **pp, *mt;

	if (sp->sp_metrics == NULL)
		return;
	for (pp = &sp->sp_metrics->mx_tenants; (mt = *pp) != NULL;
	    pp = &mt->mt_next)
		if (strcmp(mt->mt_tenant, tenant) == 0) {
			*pp = mt->mt_next;
			free(mt->mt_series);
			free(mt->mt_http);
			free(mt);
			return;
		}
}

void
metrics_free(struct sup *sp)
{
	struct metrics_tenant *mt;

	if (sp->sp_metrics == NULL)
		return;
	while ((mt = sp->sp_metrics->mx_tenants) != NULL) {
		sp->sp_metrics->mx_tenants = mt->mt_next;
		free(mt->mt_series);
		free(mt->mt_http);
		free(mt);
	}
	free(sp->sp_metrics);
	sp->sp_metrics = NULL;
}

/* ---------------------------------------------------------- rendering */

static void
metrics_family(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* The escaped label value of s, in buf (METRICS_LABEL_MAX). */
static const char *
metrics_lv(const char *s, char *buf)
{
	(void)prom_label_escape(s, buf, METRICS_LABEL_MAX);
	return buf;
}

static void
metrics_render_tools(struct sup *sp, struct evbuffer *out)
{
	static const char *const le[PROM_NBUCKETS] = PROM_BUCKET_LE;
	struct metrics_tenant *mt;
	struct metrics_series *s;
	char u[METRICS_LABEL_MAX], sv[METRICS_LABEL_MAX], tl[METRICS_LABEL_MAX];
	uint64_t cum;
	unsigned i;
	int j;

	metrics_family(out, "mcp_tool_executions_total", "counter",
	    "Tool calls by tenant, server, tool and outcome.");
	for (mt = sp->sp_metrics != NULL ? sp->sp_metrics->mx_tenants : NULL;
	    mt != NULL; mt = mt->mt_next)
		for (i = 0; i < mt->mt_n; i++) {
			s = &mt->mt_series[i];
			metrics_lv(mt->mt_tenant, u);
			metrics_lv(s->ms_server, sv);
			metrics_lv(s->ms_tool, tl);
			evbuffer_add_printf(out, "mcp_tool_executions_total"
			    "{user_id=\"%s\",server_name=\"%s\",tool_name=\"%s\","
			    "status=\"success\"} %llu\n", u, sv, tl,
			    (unsigned long long)s->ms_ok);
			evbuffer_add_printf(out, "mcp_tool_executions_total"
			    "{user_id=\"%s\",server_name=\"%s\",tool_name=\"%s\","
			    "status=\"error\"} %llu\n", u, sv, tl,
			    (unsigned long long)s->ms_err);
		}
	metrics_family(out, "mcp_tool_duration_seconds", "histogram",
	    "Tool call duration in seconds.");
	for (mt = sp->sp_metrics != NULL ? sp->sp_metrics->mx_tenants : NULL;
	    mt != NULL; mt = mt->mt_next)
		for (i = 0; i < mt->mt_n; i++) {
			s = &mt->mt_series[i];
			metrics_lv(mt->mt_tenant, u);
			metrics_lv(s->ms_server, sv);
			metrics_lv(s->ms_tool, tl);
			cum = 0;
			for (j = 0; j < PROM_NBUCKETS; j++) {
				cum += s->ms_buckets[j];
				evbuffer_add_printf(out,
				    "mcp_tool_duration_seconds_bucket{user_id="
				    "\"%s\",server_name=\"%s\",tool_name=\"%s\","
				    "le=\"%s\"} %llu\n", u, sv, tl, le[j],
				    (unsigned long long)cum);
			}
			evbuffer_add_printf(out, "mcp_tool_duration_seconds_sum"
			    "{user_id=\"%s\",server_name=\"%s\",tool_name=\"%s\"}"
			    " %llu.%03u\n", u, sv, tl,
			    (unsigned long long)(s->ms_sum_ms / 1000),
			    (unsigned)(s->ms_sum_ms % 1000));
			evbuffer_add_printf(out,
			    "mcp_tool_duration_seconds_count{user_id=\"%s\","
			    "server_name=\"%s\",tool_name=\"%s\"} %llu\n", u, sv,
			    tl, (unsigned long long)cum);
		}
}

enum metrics_up_family {
	MU_CONNECTIONS,
	MU_DURATION,
	MU_RESTARTS,
};

/* One family's samples of one (tenant, server). */
static void
metrics_render_upstream(struct evbuffer *out, enum metrics_up_family f,
    const char *u, const char *sv, const struct metrics_upstream *mu)
{
	static const char *const le[PROM_CONN_NBUCKETS] = PROM_CONN_BUCKET_LE;
	uint64_t cum = 0;
	int j;

	switch (f) {
	case MU_CONNECTIONS:
		evbuffer_add_printf(out, "mcp_connections_total{user_id=\"%s\","
		    "server_name=\"%s\",status=\"success\"} %llu\n", u, sv,
		    (unsigned long long)mu->mu_ok);
		evbuffer_add_printf(out, "mcp_connections_total{user_id=\"%s\","
		    "server_name=\"%s\",status=\"failed\"} %llu\n", u, sv,
		    (unsigned long long)mu->mu_failed);
		break;
	case MU_DURATION:
		for (j = 0; j < PROM_CONN_NBUCKETS; j++) {
			cum += mu->mu_closed[j];
			evbuffer_add_printf(out,
			    "mcp_connection_duration_seconds_bucket{user_id="
			    "\"%s\",server_name=\"%s\",le=\"%s\"} %llu\n", u, sv,
			    le[j], (unsigned long long)cum);
		}
		evbuffer_add_printf(out, "mcp_connection_duration_seconds_sum"
		    "{user_id=\"%s\",server_name=\"%s\"} %llu.%03u\n", u, sv,
		    (unsigned long long)(mu->mu_closed_sum_ms / 1000),
		    (unsigned)(mu->mu_closed_sum_ms % 1000));
		evbuffer_add_printf(out, "mcp_connection_duration_seconds_count"
		    "{user_id=\"%s\",server_name=\"%s\"} %llu\n", u, sv,
		    (unsigned long long)cum);
		break;
	case MU_RESTARTS:
		evbuffer_add_printf(out, "dataagent_upstream_restarts_total"
		    "{user_id=\"%s\",server_name=\"%s\"} %llu\n", u, sv,
		    (unsigned long long)mu->mu_restarts);
		break;
	}
}

/* The upstream families (IPC_COUNTERS "servers"), per tenant and server. */
static void
metrics_render_upstreams(struct sup *sp, struct evbuffer *out)
{
	static const struct {
		enum metrics_up_family mf_f;
		const char *mf_name, *mf_type, *mf_help;
	} fams[] = {
		{ MU_CONNECTIONS, "mcp_connections_total", "counter",
		    "Upstream MCP server connection attempts by outcome (a "
		    "start that reached initialized, or not)." },
		{ MU_DURATION, "mcp_connection_duration_seconds", "histogram",
		    "How long upstream MCP server connections lasted, observed "
		    "when they close." },
		{ MU_RESTARTS, "dataagent_upstream_restarts_total", "counter",
		    "Upstream MCP server starts after the server ended or "
		    "failed." },
	};
	struct metrics_tenant *mt;
	char u[METRICS_LABEL_MAX], sv[METRICS_LABEL_MAX];
	size_t i;
	unsigned k;

	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		metrics_family(out, fams[i].mf_name, fams[i].mf_type,
		    fams[i].mf_help);
		for (mt = sp->sp_metrics != NULL ?
		    sp->sp_metrics->mx_tenants : NULL; mt != NULL;
		    mt = mt->mt_next) {
			metrics_lv(mt->mt_tenant, u);
			for (k = 0; k < mt->mt_nups; k++)
				metrics_render_upstream(out, fams[i].mf_f, u,
				    metrics_lv(mt->mt_ups[k].mu_server, sv),
				    &mt->mt_ups[k]);
		}
	}
}

/* What the workers reported of their tenants' traffic, and what the
 * supervisor refused or dropped of theirs, per tenant. */
static void
metrics_render_tenant_counts(struct sup *sp, struct evbuffer *out)
{
	static const struct {
		const char *mr_family, *mr_reason;
	} rows[MTC_NCOUNTS] = {
		[MTC_LOG_DROPPED] = { "dataagent_worker_log_lines_dropped_total",
		    NULL },
		[MTC_AUDIT_RATE] = { "dataagent_audit_rows_dropped_total",
		    "rate" },
		[MTC_AUDIT_QUEUE] = { "dataagent_audit_rows_dropped_total",
		    "queue" },
		[MTC_STORE_RATE] = { "dataagent_store_requests_refused_total",
		    "rate" },
		[MTC_STORE_SERVERS] = {
		    "dataagent_store_requests_refused_total", "servers" },
		[MTC_STORE_SECRETS] = {
		    "dataagent_store_requests_refused_total", "secrets" },
		[MTC_STORE_SECRET_SIZE] = {
		    "dataagent_store_requests_refused_total", "secret_size" },
	};
	static const struct {
		const char *mf_name, *mf_help;
	} fams[] = {
		{ "dataagent_worker_log_lines_dropped_total", "Lines a "
		    "worker wrote past worker_log_rate, dropped unread." },
		{ "dataagent_audit_rows_dropped_total", "Tool-call audit "
		    "rows from a worker dropped: over tenant_audit_rate "
		    "(rate) or with tenant_audit_queue or audit_queue rows "
		    "waiting (queue)." },
		{ "dataagent_store_requests_refused_total", "Store requests "
		    "from a worker refused: over tenant_store_rate (rate), or "
		    "past tenant_max_servers, tenant_max_secrets or "
		    "secret_max_size." },
	};
	struct metrics_tenant *mt;
	char u[METRICS_LABEL_MAX];
	unsigned i, k;
	size_t f;

	metrics_family(out, "dataagent_tenant_http_requests_total", "counter",
	    "HTTP answers a tenant's worker reports, by route class and "
	    "status code.");
	for (mt = sp->sp_metrics != NULL ? sp->sp_metrics->mx_tenants : NULL;
	    mt != NULL; mt = mt->mt_next)
		for (i = 0; i < mt->mt_nhttp; i++)
			evbuffer_add_printf(out,
			    "dataagent_tenant_http_requests_total{user_id="
			    "\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
			    metrics_lv(mt->mt_tenant, u),
			    http_route_name(mt->mt_http[i].mh_route),
			    mt->mt_http[i].mh_code,
			    (unsigned long long)mt->mt_http[i].mh_n);
	metrics_family(out, "dataagent_tenant_cache_requests_total", "counter",
	    "Tool-list requests a tenant's worker answered from its cache "
	    "(hit) or from the server (miss).");
	for (mt = sp->sp_metrics != NULL ? sp->sp_metrics->mx_tenants : NULL;
	    mt != NULL; mt = mt->mt_next)
		if (mt->mt_cache_hit + mt->mt_cache_miss > 0)
			evbuffer_add_printf(out,
			    "dataagent_tenant_cache_requests_total{user_id="
			    "\"%s\",result=\"hit\"} %llu\n"
			    "dataagent_tenant_cache_requests_total{user_id="
			    "\"%s\",result=\"miss\"} %llu\n",
			    metrics_lv(mt->mt_tenant, u),
			    (unsigned long long)mt->mt_cache_hit, u,
			    (unsigned long long)mt->mt_cache_miss);
	for (f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		metrics_family(out, fams[f].mf_name, "counter",
		    fams[f].mf_help);
		for (mt = sp->sp_metrics != NULL ?
		    sp->sp_metrics->mx_tenants : NULL; mt != NULL;
		    mt = mt->mt_next)
			for (k = 0; k < MTC_NCOUNTS; k++) {
				if (strcmp(rows[k].mr_family,
				    fams[f].mf_name) != 0 ||
				    mt->mt_counts[k] == 0)
					continue;
				metrics_lv(mt->mt_tenant, u);
				if (rows[k].mr_reason != NULL)
					evbuffer_add_printf(out, "%s{user_id="
					    "\"%s\",reason=\"%s\"} %llu\n",
					    fams[f].mf_name, u,
					    rows[k].mr_reason,
					    (unsigned long long)
					    mt->mt_counts[k]);
				else
					evbuffer_add_printf(out, "%s{user_id="
					    "\"%s\"} %llu\n", fams[f].mf_name,
					    u, (unsigned long long)
					    mt->mt_counts[k]);
			}
	}
}

/* The supervisor's own host-wide counts. */
static void
metrics_render_global(struct sup *sp, struct evbuffer *out)
{
	static const char *const sle[STORE_NBUCKETS] = STORE_BUCKET_LE;
	static struct metrics zero;
	const struct metrics *mx = sp->sp_metrics != NULL ? sp->sp_metrics :
	    &zero;
	struct store_timing tm;
	uint64_t cum = 0;
	size_t i;
	int r, c;

	metrics_family(out, "dataagent_http_requests_total", "counter",
	    "HTTP answers the supervisor itself gave, by route class and "
	    "status code (the workers' are per tenant).");
	for (r = 0; r < HTTP_NROUTES; r++)
		for (c = 0; c < METRICS_HTTP_CODES; c++)
			if (mx->mx_http[r][c] > 0)
				evbuffer_add_printf(out,
				    "dataagent_http_requests_total{route=\"%s\","
				    "code=\"%d\"} %llu\n", http_route_name(r),
				    c + 100, (unsigned long long)mx->mx_http[r][c]);
	metrics_family(out, "dataagent_auth_failures_total", "counter",
	    "Requests refused with 401 or 403 by the supervisor, by reason.");
	for (i = 0; i < METRICS_NAUTH; i++)
		evbuffer_add_printf(out, "dataagent_auth_failures_total"
		    "{reason=\"%s\"} %llu\n", metrics_auth_reasons[i],
		    (unsigned long long)mx->mx_auth[i]);
	metrics_family(out, "dataagent_worker_starts_total", "counter",
	    "Worker processes started (spares and workers for a tenant).");
	evbuffer_add_printf(out, "dataagent_worker_starts_total %llu\n",
	    (unsigned long long)mx->mx_worker_starts);
	metrics_family(out, "dataagent_store_duration_seconds", "histogram",
	    "Time each store statement took in the supervisor.");
	store_timing_get(sp->sp_store, &tm);
	for (i = 0; i < STORE_NBUCKETS; i++) {
		cum += tm.stt_buckets[i];
		evbuffer_add_printf(out, "dataagent_store_duration_seconds_bucket"
		    "{le=\"%s\"} %llu\n", sle[i], (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "dataagent_store_duration_seconds_sum "
	    "%llu.%09llu\n", (unsigned long long)(tm.stt_sum_ns / 1000000000),
	    (unsigned long long)(tm.stt_sum_ns % 1000000000));
	evbuffer_add_printf(out, "dataagent_store_duration_seconds_count %llu\n",
	    (unsigned long long)cum);
}

/* What each tenant with a worker uses of its cgroup (nothing when
 * cgroups are off). */
static void
metrics_render_cgroups(struct sup *sp, json_t *tenants,
    struct evbuffer *out)
{
	static const struct {
		const char *mc_name, *mc_type, *mc_help;
	} fams[] = {
		{ "dataagent_tenant_memory_bytes", "gauge",
		    "Memory the tenant's cgroup uses now (worker and servers)." },
		{ "dataagent_tenant_pids", "gauge",
		    "Processes and threads in the tenant's cgroup now." },
		{ "dataagent_tenant_oom_kills_total", "counter",
		    "OOM kills inside the tenant's cgroup." },
	};
	const char *k;
	char lv[METRICS_LABEL_MAX];
	int64_t v[3];
	size_t i;
	json_t *n;

	if (cg_mode(sp->sp_cg) == CG_OFF)
		return;
	for (i = 0; i < 3; i++) {
		metrics_family(out, fams[i].mc_name, fams[i].mc_type,
		    fams[i].mc_help);
		json_object_foreach(tenants, k, n) {
			if (cg_tenant_usage(sp->sp_cg, k, &v[0], &v[1]) == -1)
				v[0] = v[1] = -1;
			v[2] = cg_tenant_oom_kills(sp->sp_cg, k);
			if (v[i] >= 0)
				evbuffer_add_printf(out, "%s{user_id=\"%s\"} "
				    "%lld\n", fams[i].mc_name,
				    metrics_lv(k, lv), (long long)v[i]);
		}
	}
}

/* tenant_network = egress: what the nftables rules refused, per tenant
 * (every tenant that has had a worker since the start). */
static void
metrics_render_egress(struct sup *sp, struct evbuffer *out)
{
	char lv[METRICS_LABEL_MAX];
	const char *k;
	json_t *refused, *n;

	if ((refused = egress_refused(sp)) == NULL)
		return;
	metrics_family(out, "dataagent_tenant_egress_refused_total", "counter",
	    "Packets from the tenant's network namespace that the egress "
	    "rules refused (connections to the host, other tenants, denied "
	    "or unlisted addresses).");
	json_object_foreach(refused, k, n)
		evbuffer_add_printf(out, "dataagent_tenant_egress_refused_total"
		    "{user_id=\"%s\"} %lld\n", metrics_lv(k, lv),
		    (long long)json_integer_value(n));
	json_decref(refused);
}

/* Workers killed for what they withheld: a retiring worker that did not
 * exit, a queue to a worker that it did not read. */
static void
metrics_render_worker_kills(struct sup *sp, struct evbuffer *out)
{
	static const char *const why[RETIRE_KILL_N] = {
		[RETIRE_KILL_TIMEOUT] = "timeout",
		[RETIRE_KILL_REPLACED] = "replaced",
		[RETIRE_KILL_TENANT] = "tenant_stopped",
	};
	size_t i;

	metrics_family(out, "dataagent_worker_retire_kills_total", "counter",
	    "Retiring workers killed: still there after the grace (timeout), "
	    "another of the tenant's workers retired (replaced), the tenant "
	    "was disabled or removed (tenant_stopped).");
	for (i = 0; i < RETIRE_KILL_N; i++)
		evbuffer_add_printf(out, "dataagent_worker_retire_kills_total"
		    "{reason=\"%s\"} %llu\n", why[i],
		    (unsigned long long)sp->sp_retire_kills[i]);
	metrics_family(out, "dataagent_worker_ipc_queue_kills_total",
	    "counter", "Workers killed because what waited for them passed "
	    "worker_ipc_queue_max (bytes) or worker_ipc_queue_fds (fds).");
	evbuffer_add_printf(out, "dataagent_worker_ipc_queue_kills_total"
	    "{bound=\"bytes\"} %llu\n"
	    "dataagent_worker_ipc_queue_kills_total{bound=\"fds\"} %llu\n",
	    (unsigned long long)sp->sp_ipc_queue_kills[0],
	    (unsigned long long)sp->sp_ipc_queue_kills[1]);
}

int
metrics_render(struct sup *sp, struct evbuffer *out)
{
	static const char *const states[] = {
		"starting", "spare", "assigning", "active", "retiring",
	};
	json_t *conns, *workers, *deaths, *n;
	const char *k;
	char lv[METRICS_LABEL_MAX];
	size_t i;

	conns = workers_tenant_conns_json(sp);
	workers = workers_status_json(sp);
	deaths = workers_deaths_json(sp);
	if (conns == NULL || workers == NULL || deaths == NULL) {
		json_decref(conns);
		json_decref(workers);
		json_decref(deaths);
		return -1;
	}
	metrics_family(out, "mcp_connections_active", "gauge",
	    "Client connections open at the tenant's worker.");
	json_object_foreach(conns, k, n)
		evbuffer_add_printf(out, "mcp_connections_active{user_id=\"%s\"}"
		    " %lld\n", metrics_lv(k, lv),
		    (long long)json_integer_value(n));
	metrics_render_tools(sp, out);
	metrics_render_upstreams(sp, out);
	metrics_render_cgroups(sp, conns, out);
	metrics_render_egress(sp, out);
	metrics_render_tenant_counts(sp, out);

	metrics_family(out, "dataagent_workers", "gauge",
	    "Worker processes by state.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		evbuffer_add_printf(out, "dataagent_workers{state=\"%s\"} %lld\n",
		    states[i], (long long)json_integer_value(
		    json_object_get(workers, states[i])));
	metrics_family(out, "dataagent_worker_deaths_total", "counter",
	    "Worker process ends by cause.");
	json_object_foreach(deaths, k, n)
		evbuffer_add_printf(out,
		    "dataagent_worker_deaths_total{cause=\"%s\"} %lld\n",
		    metrics_lv(k, lv), (long long)json_integer_value(n));
	metrics_family(out, "dataagent_handoffs_total", "counter",
	    "Client connections handed to a tenant's worker.");
	evbuffer_add_printf(out, "dataagent_handoffs_total %llu\n",
	    (unsigned long long)sp->sp_handoffs);
	/* Per tenant, with the labels of mcp_connections_active, so that
	 * one can be divided by the other. */
	metrics_family(out, "dataagent_tenant_max_connections", "gauge",
	    "Upstream MCP server connections allowed per tenant "
	    "(max_connections_per_user), for each tenant with a worker.");
	json_object_foreach(conns, k, n)
		evbuffer_add_printf(out, "dataagent_tenant_max_connections"
		    "{user_id=\"%s\"} %d\n", metrics_lv(k, lv),
		    sp->sp_cf.cf_max_connections_per_user);
	metrics_family(out, "dataagent_pool_slots", "gauge",
	    "Upstream connection slots on the host: granted to workers "
	    "(used) and max_total_connections (total).");
	evbuffer_add_printf(out, "dataagent_pool_slots{state=\"used\"} %u\n"
	    "dataagent_pool_slots{state=\"total\"} %d\n",
	    workers_slots_used(sp), sp->sp_cf.cf_max_total_connections);
	metrics_family(out, "dataagent_pool_slots_refused_total", "counter",
	    "Upstream connection slots refused: the host's "
	    "max_total_connections or the tenant's max_connections_per_user "
	    "was reached.");
	evbuffer_add_printf(out, "dataagent_pool_slots_refused_total"
	    "{scope=\"host\"} %llu\n"
	    "dataagent_pool_slots_refused_total{scope=\"tenant\"} %llu\n"
	    "dataagent_pool_slots_refused_total{scope=\"retiring\"} %llu\n",
	    (unsigned long long)sp->sp_slots_refused_host,
	    (unsigned long long)sp->sp_slots_refused_tenant,
	    (unsigned long long)sp->sp_slots_refused_retiring);
	metrics_render_worker_kills(sp, out);
	metrics_render_global(sp, out);
	ratelimit_metrics(sp, out);
	handback_metrics(sp, out);
	tls_metrics(sp, out);
	metrics_family(out, "dataagent_build_info", "gauge",
	    "The running dataagentd version.");
	evbuffer_add_printf(out, "dataagent_build_info{version=\"%s\"} 1\n",
	    metrics_lv(DATAAGENT_VERSION, lv));
	json_decref(conns);
	json_decref(workers);
	json_decref(deaths);
	return 0;
}
