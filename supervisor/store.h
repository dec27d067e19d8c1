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

#define STORE_ERRLEN 256

struct store;

struct store_tenant {
	char st_id[65];
	int st_uid;
	int st_enabled;
	int64_t st_created;
};

/*
 * Opens (creating 0600 if missing) the database at path, sets WAL, a busy
 * timeout and foreign keys, and runs forward migrations up to the latest
 * schema version inside a transaction. The parent directory must exist.
 */
int store_open(struct store **st_r, const char *path, char *err,
    size_t errlen);
void store_close(struct store **st);
int store_schema_version(struct store *st);

/* Adds a tenant with the next free uid >= uid_base + 1. Fails when the id
 * exists. Fills *t_r when not NULL. */
int store_tenant_add(struct store *st, const char *id, int uid_base,
    struct store_tenant *t_r, char *err, size_t errlen);
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
 * "args":[str],"env":{str:str},"enabled":bool}. store_server_put inserts
 * or replaces by (tenant,name); the caller validated the shape with
 * server_spec_check() in control.c.
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

/* An explicit write transaction (BEGIN IMMEDIATE ... COMMIT); a failed
 * commit rolls back. */
int store_begin(struct store *st, char *err, size_t errlen);
int store_commit(struct store *st, char *err, size_t errlen);
void store_abort(struct store *st);

#endif
