/*
 * store.h: the supervisor's store (SQLite, WAL). Only dataagentd opens it.
 *
 * Every function returns 0 on success, or -1 with err filled; lookups
 * return 1 when found, 0 when not found, -1 on error.
 */
#ifndef DATAAGENT_STORE_H
#define DATAAGENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common.h"

#define STORE_ERRLEN 256

struct store;

struct store_tenant {
	char st_id[65];
	int st_uid;
	int st_enabled;
	int64_t st_created;
};

/*
 * Opens the store the url names (common.h dburl_parse): SQLite (the file
 * created 0600 if missing, WAL, a busy timeout, foreign keys) or
 * MySQL/MariaDB (db.h), then runs forward migrations up to the latest
 * schema version. store_open is the SQLite form with a file path; its
 * parent directory must exist.
 */
int store_open_url(struct store **st_r, const struct dburl *u, char *err,
    size_t errlen);
int store_open(struct store **st_r, const char *path, char *err,
    size_t errlen);
/*
 * A counter every change to tenants, servers, limits, secrets or
 * revocations raises: a host sharing the database polls it to pick up
 * what another host changed. -1 with err on error.
 */
int64_t store_generation(struct store *st, char *err, size_t errlen);
/* "sqlite PATH" or "mysql USER@HOST:PORT/DB", never a password. */
const char *store_describe(const struct store *st);
void store_close(struct store **st);
int store_schema_version(struct store *st);

/* Adds a tenant with the next free uid >= uid_base + 1, at most
 * uid_base + uid_count (uid_count 0: no bound). Fails when the id exists
 * or the range is used up. Fills *t_r when not NULL. */
int store_tenant_add(struct store *st, const char *id, int uid_base,
    int uid_count, struct store_tenant *t_r, char *err, size_t errlen);
int store_tenant_get(struct store *st, const char *id, struct store_tenant *t,
    char *err, size_t errlen);
/*
 * Per-tenant overrides of the configured limits (tenant_memory_max,
 * tenant_swap_max, tenant_pids_max, tenant_cpu_weight, rate_limit):
 * STORE_LIMIT_DEFAULT means "the configured value", -1 "no limit".
 */
#define STORE_LIMIT_DEFAULT INT64_MIN
struct store_limits {
	int64_t sl_memory_max;
	int64_t sl_swap_max;
	int64_t sl_pids_max;
	int64_t sl_cpu_weight;
	int64_t sl_rate_per_minute;	/* requests/minute, 0 = no limit */
};
/* Fills *l (all default when the tenant has no overrides). Returns 1
 * with overrides, 0 without, -1 on error. */
int store_tenant_limits_get(struct store *st, const char *id,
    struct store_limits *l, char *err, size_t errlen);
/* Replaces the tenant's overrides. Returns 1, 0 when no such tenant,
 * -1 on error. */
int store_tenant_limits_set(struct store *st, const char *id,
    const struct store_limits *l, char *err, size_t errlen);

/*
 * The tenant's tool lists (toolacl.c): *lists_r is a new object
 * {"allow_tools":[..],"deny_tools":[..]}. Returns 1, 0 when no such
 * tenant, -1 on error.
 */
int store_tenant_tools_get(struct store *st, const char *id, json_t **lists_r,
    char *err, size_t errlen);
/* Replaces them with the arrays of lists (checked with
 * toolacl_list_parse; a missing one is empty). Returns 1, 0 when no such
 * tenant, -1 on error. */
int store_tenant_tools_set(struct store *st, const char *id,
    const json_t *lists, char *err, size_t errlen);

/* The tenant's own egress allowlist (tenant set-egress), a new string,
 * "" when it follows tenant_egress_allow. Returns 1, 0 when no such
 * tenant, -1 on error. */
int store_tenant_egress_get(struct store *st, const char *id, char **list_r,
    char *err, size_t errlen);
/* Replaces it (checked by egress_allow_normalize). Returns 1, 0 when no
 * such tenant, -1 on error. */
int store_tenant_egress_set(struct store *st, const char *id,
    const char *list, char *err, size_t errlen);

/* JSON array of {"id","uid","enabled","created","servers": n}. */
json_t *store_tenant_list(struct store *st, char *err, size_t errlen);
/* Returns 1 when changed, 0 when no such tenant. */
int store_tenant_set_enabled(struct store *st, const char *id, int enabled,
    char *err, size_t errlen);
/* Removes the tenant and its servers. Returns 1 when removed, 0 if absent. */
int store_tenant_remove(struct store *st, const char *id, char *err,
    size_t errlen);

/*
 * Servers: a JSON object {"name","transport":"stdio","command",
 * "args":[str],"env":{str:str},"enabled":bool,"allow_tools":[str],
 * "deny_tools":[str]} (a remote one also "url","headers","options").
 * store_server_put inserts or replaces by (tenant,name); the caller
 * validated the shape with server_spec_check() in control.c. A list
 * always carries both tool lists, empty when none.
 */
int store_server_put(struct store *st, const char *tenant, const json_t *srv,
    char *err, size_t errlen);
/* Returns 1 when removed, 0 when absent. */
int store_server_remove(struct store *st, const char *tenant, const char *name,
    char *err, size_t errlen);
/* JSON array of server objects, ordered by name. */
json_t *store_server_list(struct store *st, const char *tenant, char *err,
    size_t errlen);

/* Appends an audit row (ts now). detail may be NULL. */
int store_audit(struct store *st, const char *actor, const char *action,
    const char *tenant, const char *detail);
/* The newest `limit` audit rows for tenant (or all when NULL), newest first,
 * as [{"ts","actor","action","tenant","detail"}]. */
json_t *store_audit_list(struct store *st, const char *tenant, int limit,
    char *err, size_t errlen);

/* A full audit row (migration 4's columns); NULL strings are SQL NULL. */
struct store_audit_row {
	int64_t sar_ts;
	const char *sar_actor, *sar_action, *sar_detail;
	const char *sar_server, *sar_tool, *sar_status, *sar_request_id;
	int64_t sar_duration_ms, sar_arg_bytes;
};
int store_audit_call(struct store *st, const char *tenant,
    const struct store_audit_row *row, char *err, size_t errlen);
/* Deletes rows older than before (a ts). Returns how many, or -1. */
int store_audit_prune(struct store *st, int64_t before, char *err,
    size_t errlen);
/*
 * Rows of tenant (every tenant when NULL) with ts >= since, newest first,
 * at most limit (every row when <= 0), as [{"id","ts","actor","action",
 * "tenant","detail","server","tool","status","duration_ms","arg_bytes",
 * "request_id"}] (null where a column is NULL).
 */
json_t *store_audit_query(struct store *st, const char *tenant,
    int64_t since, int limit, char *err, size_t errlen);

/*
 * How long statements took (dataagent_store_duration_seconds): each run
 * of a statement, from its first step to its reset, by SQLite's profile
 * hook. Buckets are not cumulative.
 */
#define STORE_NBUCKETS 12
#define STORE_BUCKET_LE { "0.0001", "0.00025", "0.0005", "0.001", "0.0025", \
	"0.005", "0.01", "0.025", "0.05", "0.1", "1", "+Inf" }
#define STORE_BUCKET_NS { 100000, 250000, 500000, 1000000, 2500000, \
	5000000, 10000000, 25000000, 50000000, 100000000, 1000000000 }
struct store_timing {
	uint64_t stt_buckets[STORE_NBUCKETS];
	uint64_t stt_sum_ns;
};
void store_timing_get(const struct store *st, struct store_timing *tm);

/*
 * Secrets: rows of (tenant, name, nonce, ciphertext||tag, created,
 * updated). The store never sees a value: secrets.c seals and opens.
 */
struct store_secret {
	char ss_tenant[65];
	char ss_name[72];
	uint8_t *ss_nonce;
	size_t ss_noncelen;
	uint8_t *ss_ct;		/* ciphertext || tag */
	size_t ss_ctlen;
	int64_t ss_created;
	int64_t ss_updated;
};

/* Inserts or replaces (keeping created). */
int store_secret_put(struct store *st, const char *tenant, const char *name,
    const uint8_t *nonce, size_t noncelen, const uint8_t *ct, size_t ctlen,
    char *err, size_t errlen);
/* Replaces nonce and ciphertext only (key rotation). Returns 1, 0 when
 * absent, -1. */
int store_secret_update(struct store *st, const char *tenant,
    const char *name, const uint8_t *nonce, size_t noncelen,
    const uint8_t *ct, size_t ctlen, char *err, size_t errlen);
/* Returns 1 with *s filled (free with store_secret_clear), 0, -1. */
int store_secret_get(struct store *st, const char *tenant, const char *name,
    struct store_secret *s, char *err, size_t errlen);
void store_secret_clear(struct store_secret *s);
/* Returns 1 when removed, 0 when absent. */
int store_secret_remove(struct store *st, const char *tenant,
    const char *name, char *err, size_t errlen);
/* JSON array of {"name","created","updated"}: never a value. */
json_t *store_secret_list(struct store *st, const char *tenant, char *err,
    size_t errlen);
/* Every row of every tenant; free with store_secret_free_all. */
int store_secret_all(struct store *st, struct store_secret **rows_r,
    size_t *n_r, char *err, size_t errlen);
void store_secret_free_all(struct store_secret **rows, size_t n);
/* The number of secrets of all tenants, or -1. */
int store_secret_count(struct store *st, char *err, size_t errlen);

/*
 * Revoked tokens, by jti (tenant NULL: whatever the token's sub), kept
 * until `expires` (when the token would have expired anyway).
 * store_revoked_put inserts, or keeps the later expiry of a jti already
 * there; store_revoked_list gives [{"jti","tenant","expires","revoked"}],
 * oldest revocation first; store_revoked_prune deletes the rows that
 * expired before now and returns how many, or -1.
 */
int store_revoked_put(struct store *st, const char *jti, const char *tenant,
    int64_t expires, char *err, size_t errlen);
json_t *store_revoked_list(struct store *st, char *err, size_t errlen);
int store_revoked_prune(struct store *st, int64_t now, char *err,
    size_t errlen);

/* An explicit write transaction (BEGIN IMMEDIATE ... COMMIT); a failed
 * commit rolls back. */
int store_begin(struct store *st, char *err, size_t errlen);
int store_commit(struct store *st, char *err, size_t errlen);
void store_abort(struct store *st);

#endif
