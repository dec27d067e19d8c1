/*
 * quota.c: per-tenant bounds on what a tenant's workers make the
 * supervisor write.
 *
 * A worker's store requests (IPC_STORE_REQ) take a token of its
 * tenant's bucket (tenant_store_rate a second, bursts of
 * tenant_store_burst), its tool-call audit rows one of another
 * (tenant_audit_rate a second, bursts of twice that); the count of audit
 * rows waiting for the next flush is bounded per tenant
 * (tenant_audit_queue). The buckets are the tenant's, not the worker's,
 * so a tenant that cycles workers starts none afresh.
 *
 * Every refusal is counted per tenant in /metrics (metrics_tenant_count)
 * and logged, at most one line per tenant and reason every
 * QUOTA_LOG_MS with the refusals since the last one.
 */
#include <stdlib.h>
#include <string.h>

#include "supervisor.h"

#define QUOTA_BUCKETS 256
#define QUOTA_LOG_MS 10000

struct quota_tenant {
	struct quota_tenant *qt_next;
	char qt_tenant[65];
	double qt_store_tokens;
	int64_t qt_store_ms;
	double qt_audit_tokens;
	int64_t qt_audit_ms;
	unsigned qt_audit_queued;	/* rows waiting for audit_flush */
	uint64_t qt_unlogged[MTC_NCOUNTS];
	int64_t qt_logged_ms[MTC_NCOUNTS];
};

struct quota {
	struct quota_tenant *q_tab[QUOTA_BUCKETS];
};

static const char *const quota_reasons[MTC_NCOUNTS] = {
	[MTC_LOG_DROPPED] = "log",
	[MTC_AUDIT_RATE] = "rate",
	[MTC_AUDIT_QUEUE] = "queue",
	[MTC_STORE_RATE] = "rate",
	[MTC_STORE_SERVERS] = "servers",
	[MTC_STORE_SECRETS] = "secrets",
	[MTC_STORE_SECRET_SIZE] = "secret_size",
};

static unsigned
quota_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % QUOTA_BUCKETS;
}

/* The tenant's entry, made on first use with full buckets; NULL only
 * when out of memory. */
static struct quota_tenant *
quota_tenant_get(struct sup *sp, const char *tenant)
{
	struct quota_tenant *qt;
	unsigned h = quota_hash(tenant);

	if (sp->sp_quota == NULL &&
	    (sp->sp_quota = calloc(1, sizeof(*sp->sp_quota))) == NULL)
		return NULL;
	for (qt = sp->sp_quota->q_tab[h]; qt != NULL; qt = qt->qt_next)
		if (strcmp(qt->qt_tenant, tenant) == 0)
			return qt;
	if ((qt = calloc(1, sizeof(*qt))) == NULL)
		return NULL;
	snprintf(qt->qt_tenant, sizeof(qt->qt_tenant), "%s", tenant);
	qt->qt_store_tokens = sp->sp_cf.cf_tenant_store_burst;
	qt->qt_audit_tokens = 2.0 * sp->sp_cf.cf_tenant_audit_rate;
	qt->qt_store_ms = qt->qt_audit_ms = now_mono_ms();
	qt->qt_next = sp->sp_quota->q_tab[h];
	sp->sp_quota->q_tab[h] = qt;
	return qt;
}

/* Takes one token of a bucket of rate a second and burst; 1 or 0. */
static int
quota_take(double *tokens, int64_t *last_ms, int rate, double burst)
{
	int64_t now = now_mono_ms();

	if (rate == 0)
		return 1;
	*tokens += (double)(now - *last_ms) * rate / 1000.0;
	if (*tokens > burst)
		*tokens = burst;
	*last_ms = now;
	if (*tokens >= 1.0) {
		*tokens -= 1.0;
		return 1;
	}
	return 0;
}

void
quota_refused(struct sup *sp, const char *tenant,
    enum metrics_tenant_count what, int limit)
{
	struct quota_tenant *qt = quota_tenant_get(sp, tenant);
	int64_t now = now_mono_ms();
	int audit = what == MTC_AUDIT_RATE || what == MTC_AUDIT_QUEUE;

	metrics_tenant_count(sp, tenant, what, 1);
	if (qt == NULL)
		return;
	qt->qt_unlogged[what]++;
	if (qt->qt_logged_ms[what] != 0 &&
	    now - qt->qt_logged_ms[what] < QUOTA_LOG_MS)
		return;
	log_warn(audit ? "audit rows dropped" : "store requests refused",
	    "{s:s,s:s,s:I,s:i,s:i}", "tenant", tenant, "reason",
	    quota_reasons[what], audit ? "dropped" : "refused",
	    (json_int_t)qt->qt_unlogged[what], "limit", limit,
	    "log_interval_s", QUOTA_LOG_MS / 1000);
	qt->qt_unlogged[what] = 0;
	qt->qt_logged_ms[what] = now;
}

int
quota_store_take(struct sup *sp, const char *tenant)
{
	struct quota_tenant *qt = quota_tenant_get(sp, tenant);

	if (qt == NULL)
		return 0;
	if (quota_take(&qt->qt_store_tokens, &qt->qt_store_ms,
	    sp->sp_cf.cf_tenant_store_rate, sp->sp_cf.cf_tenant_store_burst))
		return 1;
	quota_refused(sp, tenant, MTC_STORE_RATE,
	    sp->sp_cf.cf_tenant_store_rate);
	return 0;
}

int
quota_audit_take(struct sup *sp, const char *tenant, int queued)
{
	struct quota_tenant *qt = quota_tenant_get(sp, tenant);

	if (qt == NULL)
		return 0;
	if (!quota_take(&qt->qt_audit_tokens, &qt->qt_audit_ms,
	    sp->sp_cf.cf_tenant_audit_rate,
	    2.0 * sp->sp_cf.cf_tenant_audit_rate)) {
		quota_refused(sp, tenant, MTC_AUDIT_RATE,
		    sp->sp_cf.cf_tenant_audit_rate);
		return 0;
	}
	if (qt->qt_audit_queued >= (unsigned)sp->sp_cf.cf_tenant_audit_queue) {
		quota_refused(sp, tenant, MTC_AUDIT_QUEUE,
		    sp->sp_cf.cf_tenant_audit_queue);
		return 0;
	}
	if (queued)
		qt->qt_audit_queued++;
	return 1;
}

void
quota_audit_flushed(struct sup *sp)
{
	struct quota_tenant *qt;
	unsigned i;

	if (sp->sp_quota == NULL)
		return;
	for (i = 0; i < QUOTA_BUCKETS; i++)
		for (qt = sp->sp_quota->q_tab[i]; qt != NULL; qt = qt->qt_next)
			qt->qt_audit_queued = 0;
}

void
quota_tenant_forget(struct sup *sp, const char *tenant)
{
	struct quota_tenant **pp, *qt;

	if (sp->sp_quota == NULL)
		return;
	for (pp = &sp->sp_quota->q_tab[quota_hash(tenant)]; (qt = *pp) != NULL;
	    pp = &qt->qt_next)
		if (strcmp(qt->qt_tenant, tenant) == 0) {
			*pp = qt->qt_next;
			free(qt);
			return;
		}
}

void
quota_free(struct sup *sp)
{
	struct quota_tenant *qt;
	unsigned i;

	if (sp->sp_quota == NULL)
		return;
	for (i = 0; i < QUOTA_BUCKETS; i++)
		while ((qt = sp->sp_quota->q_tab[i]) != NULL) {
			sp->sp_quota->q_tab[i] = qt->qt_next;
			free(qt);
		}
	free(sp->sp_quota);
	sp->sp_quota = NULL;
}
