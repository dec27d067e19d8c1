/*
 * ratelimit.c: token buckets per tenant and per client address, and the
 * back-off after failed authentications (ratelimit.h).
 *
 * A bucket counts in 1/60000 of a token so that a rate in requests per
 * minute refills by exactly `rate` units per millisecond: no floating
 * point, no drift.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "supervisor.h"
#include "ratelimit.h"

#define RL_UNIT 60000LL			/* one token, in bucket units */
#define RL_TENANT_HASH 256
#define RL_IP_SLOTS 16384		/* a power of two */
#define RL_IP_PROBE 16
#define RL_FAIL_FORGET_MS (15 * 60 * 1000LL)
#define RL_BLOCK_MAX_S 3600
#define RL_EXEMPT_MAX 32

struct rl_bucket {
	int64_t rb_units;	/* tokens * RL_UNIT */
	int64_t rb_ms;		/* last refill, monotonic */
	int rb_rate;		/* per minute; 0 = unlimited */
	int rb_burst;
};

struct rl_tenant {
	struct rl_tenant *rt_next;
	char rt_id[65];
	struct rl_bucket rt_bucket;
};

struct rl_ip {
	uint8_t ri_key[16];	/* IPv4 mapped, or an IPv6 /64 */
	int ri_used;
	int64_t ri_seen_ms;
	struct rl_bucket ri_conn;
	uint32_t ri_fails;
	uint32_t ri_blocks;	/* back-offs so far: each doubles */
	int64_t ri_fail_ms;
	int64_t ri_block_until_ms;
};

struct ratelimit {
	struct rl_tenant *rl_tenants[RL_TENANT_HASH];
	struct rl_ip *rl_ips;		/* RL_IP_SLOTS */
	struct cidr rl_exempt[RL_EXEMPT_MAX];
	int rl_nexempt;
	char rl_exempt_text[CONFIG_STRLEN];
	struct cidr rl_trusted[RL_EXEMPT_MAX];	/* trusted_proxies */
	int rl_ntrusted;
	char rl_trusted_text[CONFIG_STRLEN];
	uint64_t rl_refused[RL_NSCOPES];
};

static void
bucket_refill(struct rl_bucket *b, int64_t now)
{
	int64_t cap = (int64_t)b->rb_burst * RL_UNIT, dt = now - b->rb_ms;

	b->rb_ms = now;
	if (dt <= 0)
		return;
	/* dt * rate cannot overflow before the cap is reached. */
	if (dt > cap / (b->rb_rate > 0 ? b->rb_rate : 1) + 1)
		b->rb_units = cap;
	else
		b->rb_units += dt * b->rb_rate;
	if (b->rb_units > cap)
		b->rb_units = cap;
}

static void
bucket_init(struct rl_bucket *b, int rate, int burst, int64_t now)
{
	b->rb_rate = rate;
	b->rb_burst = burst > 0 ? burst : rate;
	b->rb_units = (int64_t)b->rb_burst * RL_UNIT;
	b->rb_ms = now;
}

/* Seconds until one token is there again (>= 1). */
static int
bucket_wait_s(const struct rl_bucket *b)
{
	int64_t missing = RL_UNIT - b->rb_units, ms;

	if (b->rb_rate <= 0 || missing <= 0)
		return 1;
	ms = (missing + b->rb_rate - 1) / b->rb_rate;
	return (int)((ms + 999) / 1000) > 0 ? (int)((ms + 999) / 1000) : 1;
}

/* Takes up to want tokens; returns how many. */
static int
bucket_take(struct rl_bucket *b, int want, int64_t now)
{
	int n;

	if (b->rb_rate <= 0)
		return want;
	bucket_refill(b, now);
	n = (int)(b->rb_units / RL_UNIT);
	if (n > want)
		n = want;
	b->rb_units -= (int64_t)n * RL_UNIT;
	return n;
}

/* ------------------------------------------------------------ exempt */

/* Parses a list of addresses and CIDRs ("127.0.0.1, ::1, 10.0.0.0/8")
 * of setting key into list (RL_EXEMPT_MAX entries); *n_r untouched on
 * error. */
static int
cidr_list_parse(const char *key, const char *text, struct cidr *list,
    int *n_r, char *err, size_t errlen)
{
	struct cidr l[RL_EXEMPT_MAX];
	char why[160];
	int n;

	if ((n = cidrs_parse(text, l, RL_EXEMPT_MAX, why, sizeof(why))) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	memcpy(list, l, sizeof(l[0]) * (size_t)n);
	*n_r = n;
	return 0;
}

/* Parses rate_limit_exempt. */
static int
exempt_parse(struct ratelimit *rl, const char *text, char *err,
    size_t errlen)
{
	if (cidr_list_parse("rate_limit_exempt", text, rl->rl_exempt,
	    &rl->rl_nexempt, err, errlen) == -1)
		return -1;
	snprintf(rl->rl_exempt_text, sizeof(rl->rl_exempt_text), "%s", text);
	return 0;
}

/* Parses trusted_proxies. */
static int
trusted_parse(struct ratelimit *rl, const char *text, char *err,
    size_t errlen)
{
	if (cidr_list_parse("trusted_proxies", text, rl->rl_trusted,
	    &rl->rl_ntrusted, err, errlen) == -1)
		return -1;
	snprintf(rl->rl_trusted_text, sizeof(rl->rl_trusted_text), "%s",
	    text);
	return 0;
}

static int
addr_exempt(const struct ratelimit *rl, const uint8_t a[16])
{
	return cidrs_has(rl->rl_exempt, rl->rl_nexempt, a);
}

int
ratelimit_trusted_proxy(const struct sup *sp, const struct sockaddr_storage *ss)
{
	const struct ratelimit *rl = sp->sp_ratelimit;
	uint8_t a[16];

	return rl != NULL && rl->rl_ntrusted > 0 && cidr_addr16(ss, a) == 0 &&
	    cidrs_has(rl->rl_trusted, rl->rl_ntrusted, a);
}

/* One element of X-Forwarded-For ([s, s+len), trimmed): an IPv4 or IPv6
 * address, bare or "[v6]" (a port is not part of it). 0 or -1. */
static int
xff_addr(const char *s, size_t len, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

int
ratelimit_forwarded_client(const struct sup *sp, const char *xff,
    struct sockaddr_storage *client_r)
{
	const char *end = xff + strlen(xff), *comma;
	struct sockaddr_storage ss;
	int found = 0;

	/* From the right: each address a trusted proxy added is skipped;
	 * the first that is not a trusted proxy is the client. */
	while (end > xff) {
		for (comma = end; comma > xff && comma[-1] != ','; comma--)
			;
		if (xff_addr(comma, (size_t)(end - comma), &ss) == -1)
			return found ? 0 : -1;
		*client_r = ss;
		found = 1;
		if (!ratelimit_trusted_proxy(sp, &ss))
			return 0;
		end = comma > xff ? comma - 1 : xff;
	}
	/* Only trusted proxies: the left-most of them. */
	return found ? 0 : -1;
}

/* ----------------------------------------------------------- tables */

int
ratelimit_init(struct sup *sp)
{
	char err[256];

	if ((sp->sp_ratelimit = calloc(1, sizeof(*sp->sp_ratelimit))) == NULL ||
	    (sp->sp_ratelimit->rl_ips = calloc(RL_IP_SLOTS,
	    sizeof(struct rl_ip))) == NULL)
		return -1;
	if (exempt_parse(sp->sp_ratelimit, sp->sp_cf.cf_rate_limit_exempt, err,
	    sizeof(err)) == -1)
		log_error("rate limits: exempting no address", "{s:s}", "error",
		    err);
	if (trusted_parse(sp->sp_ratelimit, sp->sp_cf.cf_trusted_proxies, err,
	    sizeof(err)) == -1)
		log_error("trusting no proxy's X-Forwarded-For", "{s:s}",
		    "error", err);
	return 0;
}

void
ratelimit_free(struct sup *sp)
{
	struct ratelimit *rl = sp->sp_ratelimit;
	struct rl_tenant *t;
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < RL_TENANT_HASH; i++)
		while ((t = rl->rl_tenants[i]) != NULL) {
			rl->rl_tenants[i] = t->rt_next;
			free(t);
		}
	free(rl->rl_ips);
	free(rl);
	sp->sp_ratelimit = NULL;
}

static unsigned
hash_str(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The tenant's rate and burst: its override, else the configuration. */
static void
tenant_rate(struct sup *sp, const char *tenant, int *rate_r, int *burst_r)
{
	struct store_limits l;
	char err[STORE_ERRLEN];

	*rate_r = sp->sp_cf.cf_rate_limit;
	*burst_r = sp->sp_cf.cf_rate_limit_burst;
	if (store_tenant_limits_get(sp->sp_store, tenant, &l, err,
	    sizeof(err)) == 1 && l.sl_rate_per_minute != STORE_LIMIT_DEFAULT &&
	    l.sl_rate_per_minute >= 0 && l.sl_rate_per_minute <= 1000000) {
		*rate_r = (int)l.sl_rate_per_minute;
		*burst_r = 0;
	}
}

static struct rl_tenant *
tenant_get(struct sup *sp, const char *tenant)
{
	struct ratelimit *rl = sp->sp_ratelimit;
	unsigned h = hash_str(tenant) % RL_TENANT_HASH;
	struct rl_tenant *t;
	int rate, burst;

	for (t = rl->rl_tenants[h]; t != NULL; t = t->rt_next)
		if (strcmp(t->rt_id, tenant) == 0)
			return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	snprintf(t->rt_id, sizeof(t->rt_id), "%s", tenant);
	tenant_rate(sp, tenant, &rate, &burst);
	bucket_init(&t->rt_bucket, rate, burst, now_mono_ms());
	t->rt_next = rl->rl_tenants[h];
	rl->rl_tenants[h] = t;
	return t;
}

int
ratelimit_tenant_take(struct sup *sp, const char *tenant, int want,
    int *retry_after_r)
{
	struct rl_tenant *t;
	int n;

	*retry_after_r = 1;
	if (sp->sp_ratelimit == NULL || (t = tenant_get(sp, tenant)) == NULL)
		return want;	/* out of memory: do not refuse tenants */
	n = bucket_take(&t->rt_bucket, want, now_mono_ms());
	if (n < want) {
		*retry_after_r = bucket_wait_s(&t->rt_bucket);
		sp->sp_ratelimit->rl_refused[RL_SCOPE_TENANT] +=
		    (uint64_t)(want - n);
	}
	return n;
}

int
ratelimit_tenant_rate(struct sup *sp, const char *tenant)
{
	int rate, burst;

	tenant_rate(sp, tenant, &rate, &burst);
	return rate;
}

static void
tenant_update(struct sup *sp, struct rl_tenant *t)
{
	struct rl_bucket *b = &t->rt_bucket;
	int rate, burst;
	int64_t now = now_mono_ms();

	tenant_rate(sp, t->rt_id, &rate, &burst);
	if (b->rb_rate > 0)
		bucket_refill(b, now);
	else
		b->rb_units = INT64_MAX;	/* was off: full */
	b->rb_ms = now;
	b->rb_rate = rate;
	b->rb_burst = burst > 0 ? burst : rate;
	if (b->rb_units > (int64_t)b->rb_burst * RL_UNIT)
		b->rb_units = (int64_t)b->rb_burst * RL_UNIT;
}

void
ratelimit_tenant_changed(struct sup *sp, const char *tenant)
{
	struct ratelimit *rl = sp->sp_ratelimit;
	struct rl_tenant *t;
	char err[256];
	size_t i;

	if (rl == NULL)
		return;
	if (tenant == NULL &&
	    strcmp(rl->rl_exempt_text, sp->sp_cf.cf_rate_limit_exempt) != 0 &&
	    exempt_parse(rl, sp->sp_cf.cf_rate_limit_exempt, err,
	    sizeof(err)) == -1)
		log_error("reload: keeping the running rate_limit_exempt",
		    "{s:s}", "error", err);
	if (tenant == NULL &&
	    strcmp(rl->rl_trusted_text, sp->sp_cf.cf_trusted_proxies) != 0 &&
	    trusted_parse(rl, sp->sp_cf.cf_trusted_proxies, err,
	    sizeof(err)) == -1)
		log_error("reload: keeping the running trusted_proxies",
		    "{s:s}", "error", err);
	for (i = 0; i < RL_TENANT_HASH; i++)
		for (t = rl->rl_tenants[i]; t != NULL; t = t->rt_next)
			if (tenant == NULL || strcmp(t->rt_id, tenant) == 0)
				tenant_update(sp, t);
}

void
ratelimit_tenant_forget(struct sup *sp, const char *tenant)
{
	struct ratelimit *rl = sp->sp_ratelimit;
	struct rl_tenant **pp, *t;

	if (rl == NULL)
		return;
	for (pp = &rl->rl_tenants[hash_str(tenant) % RL_TENANT_HASH];
	    (t = *pp) != NULL; pp = &t->rt_next)
		if (strcmp(t->rt_id, tenant) == 0) {
			*pp = t->rt_next;
			free(t);
			return;
		}
}

/*
 * The entry of ss's address (an IPv6 address counts as its /64), found
 * or made; NULL for an exempt address or another family. A new entry
 * takes an empty slot of the probe window, else its least recently seen.
 */
static struct rl_ip *
ip_get(struct sup *sp, const struct sockaddr_storage *ss, int64_t now)
{
	struct ratelimit *rl = sp->sp_ratelimit;
	uint8_t key[16];
	struct rl_ip *e, *victim = NULL;
	unsigned h = 2166136261u, i;

	if (rl == NULL || cidr_addr16(ss, key) == -1 || addr_exempt(rl, key))
		return NULL;
	if (!(key[10] == 0xff && key[11] == 0xff &&
	    memcmp(key, "\0\0\0\0\0\0\0\0\0\0", 10) == 0))
		memset(key + 8, 0, 8);
	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (i = 0; i < RL_IP_PROBE; i++) {
		e = &rl->rl_ips[(h + i) & (RL_IP_SLOTS - 1)];
		if (e->ri_used && memcmp(e->ri_key, key, 16) == 0) {
			e->ri_seen_ms = now;
			return e;
		}
		if (victim == NULL || !e->ri_used || (victim->ri_used &&
		    e->ri_seen_ms < victim->ri_seen_ms))
			victim = e;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->ri_key, key, 16);
	victim->ri_used = 1;
	victim->ri_seen_ms = now;
	bucket_init(&victim->ri_conn, sp->sp_cf.cf_ip_connection_rate,
	    sp->sp_cf.cf_ip_connection_burst, now);
	return victim;
}

int
ratelimit_ip_connect(struct sup *sp, const struct sockaddr_storage *ss)
{
	int64_t now = now_mono_ms();
	struct rl_ip *e;

	/* A trusted proxy's connections carry many clients: each client is
	 * charged when its request head names it (front.c). */
	if (sp->sp_cf.cf_ip_connection_rate == 0 ||
	    ratelimit_trusted_proxy(sp, ss) ||
	    (e = ip_get(sp, ss, now)) == NULL)
		return 1;
	/* A reload may have changed the rate. */
	if (e->ri_conn.rb_rate != sp->sp_cf.cf_ip_connection_rate ||
	    e->ri_conn.rb_burst != (sp->sp_cf.cf_ip_connection_burst > 0 ?
	    sp->sp_cf.cf_ip_connection_burst : sp->sp_cf.cf_ip_connection_rate)) {
		bucket_refill(&e->ri_conn, now);
		e->ri_conn.rb_rate = sp->sp_cf.cf_ip_connection_rate;
		e->ri_conn.rb_burst = sp->sp_cf.cf_ip_connection_burst > 0 ?
		    sp->sp_cf.cf_ip_connection_burst :
		    sp->sp_cf.cf_ip_connection_rate;
	}
	if (bucket_take(&e->ri_conn, 1, now) == 1)
		return 1;
	sp->sp_ratelimit->rl_refused[RL_SCOPE_IP]++;
	return 0;
}

int
ratelimit_auth_blocked(struct sup *sp, const struct sockaddr_storage *ss,
    int *retry_after_r)
{
	int64_t now = now_mono_ms();
	struct rl_ip *e;

	if (sp->sp_cf.cf_auth_fail_limit == 0 ||
	    (e = ip_get(sp, ss, now)) == NULL || e->ri_block_until_ms <= now)
		return 0;
	*retry_after_r = (int)((e->ri_block_until_ms - now + 999) / 1000);
	sp->sp_ratelimit->rl_refused[RL_SCOPE_AUTH]++;
	return 1;
}

void
ratelimit_auth_failed(struct sup *sp, const struct sockaddr_storage *ss)
{
	int64_t now = now_mono_ms(), block;
	struct rl_ip *e;
	char addr[INET6_ADDRSTRLEN] = "";

	if (sp->sp_cf.cf_auth_fail_limit == 0 ||
	    (e = ip_get(sp, ss, now)) == NULL)
		return;
	if (now - e->ri_fail_ms > RL_FAIL_FORGET_MS)
		e->ri_fails = e->ri_blocks = 0;
	e->ri_fail_ms = now;
	if (++e->ri_fails < (uint32_t)sp->sp_cf.cf_auth_fail_limit)
		return;
	/* Each failure past the limit doubles the back-off. */
	block = (int64_t)sp->sp_cf.cf_auth_fail_block << (e->ri_blocks < 12 ?
	    e->ri_blocks : 12);
	if (block > RL_BLOCK_MAX_S)
		block = RL_BLOCK_MAX_S;
	e->ri_blocks++;
	e->ri_block_until_ms = now + block * 1000;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    addr, sizeof(addr));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    addr, sizeof(addr));
	log_warn("authentication failures: address backed off", "{s:s,s:i,"
	    "s:I}", "address", addr, "failures", (int)e->ri_fails, "seconds",
	    (json_int_t)block);
}

uint64_t
ratelimit_refused(const struct sup *sp, enum rl_scope scope)
{
	if (sp->sp_ratelimit == NULL || scope >= RL_NSCOPES)
		return 0;
	return sp->sp_ratelimit->rl_refused[scope];
}

void
ratelimit_metrics(struct sup *sp, struct evbuffer *out)
{
	static const char *const scopes[RL_NSCOPES] = { "tenant", "ip",
	    "auth" };
	int i;

	evbuffer_add_printf(out, "# HELP dataagent_rate_limited_total "
	    "Requests and connections refused by a rate limit (tenant: its "
	    "request rate; ip: new connections from one address; auth: an "
	    "address backed off after failed authentications).\n"
	    "# TYPE dataagent_rate_limited_total counter\n");
	for (i = 0; i < RL_NSCOPES; i++)
		evbuffer_add_printf(out, "dataagent_rate_limited_total{scope="
		    "\"%s\"} %llu\n", scopes[i], (unsigned long long)
		    ratelimit_refused(sp, (enum rl_scope)i));
}
