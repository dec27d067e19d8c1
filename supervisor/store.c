/*
 * store.c: the supervisor's store (store.h), on SQLite or MySQL/MariaDB
 * through db.h.
 *
 * Only dataagentd opens the database, from its single event-loop thread.
 * Every statement that carries a value is prepared and bound; the only
 * SQL text run unprepared is the fixed text in this file (transactions,
 * migrations). The two dialects differ in DDL and upserts only: each
 * migration is written twice, and store_sql() picks an upsert.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "db.h"
#include "store.h"

struct store {
	struct db *st_db;
	struct store_timing st_timing;	/* every statement's run time */
};

/*
 * Forward migrations: entry i takes the schema from version i to i + 1.
 * Each runs in its own transaction together with the version bump.
 * Never edit a released entry; append a new one.
 */
static const char *const store_migrations[] = {
	/* 1: tenants, their servers, the audit trail */
	"CREATE TABLE tenants ("
	"  id TEXT PRIMARY KEY,"
	"  uid INTEGER UNIQUE NOT NULL,"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE servers ("
	"  tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  transport TEXT NOT NULL,"
	"  command TEXT NOT NULL,"
	"  args TEXT NOT NULL,"
	"  env TEXT NOT NULL,"
	"  enabled INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant, name)"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER,"
	"  actor TEXT,"
	"  action TEXT,"
	"  tenant TEXT,"
	"  detail TEXT"
	");"
	"CREATE INDEX audit_tenant ON audit (tenant, id);"
	/* The highest tenant uid ever handed out: a removed tenant's uid is
	 * never reused, so a new tenant cannot inherit files or processes
	 * the old one left behind. */
	"CREATE TABLE uid_high (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  value INTEGER NOT NULL);",
	/* 2: per-tenant overrides of the configured limits (NULL: the
	 * default; -1: no limit) */
	"CREATE TABLE tenant_limits ("
	"  tenant TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,"
	"  memory_max INTEGER,"
	"  swap_max INTEGER,"
	"  pids_max INTEGER,"
	"  cpu_weight INTEGER"
	");",
	/* 3: tenant secrets, AES-256-GCM under the master key (secrets.c):
	 * ciphertext is the sealed value followed by its 16-byte tag */
	"CREATE TABLE secrets ("
	"  tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  nonce BLOB NOT NULL,"
	"  ciphertext BLOB NOT NULL,"
	"  created INTEGER,"
	"  updated INTEGER,"
	"  PRIMARY KEY (tenant, name)"
	");",
	/* 4: revoked tokens (by jti, kept until they would have expired),
	 * a per-tenant request rate, remote servers (url, headers,
	 * options such as tls_verify and ca_file) and the fields of a
	 * tool-call audit row */
	"CREATE TABLE revoked_tokens ("
	"  jti TEXT PRIMARY KEY,"
	"  tenant TEXT,"
	"  expires INTEGER NOT NULL,"
	"  revoked INTEGER NOT NULL"
	");"
	"ALTER TABLE tenant_limits ADD COLUMN rate_per_minute INTEGER;"
	"ALTER TABLE servers ADD COLUMN url TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE servers ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';"
	"ALTER TABLE servers ADD COLUMN options TEXT NOT NULL DEFAULT '{}';"
	"ALTER TABLE audit ADD COLUMN server TEXT;"
	"ALTER TABLE audit ADD COLUMN tool TEXT;"
	"ALTER TABLE audit ADD COLUMN status TEXT;"
	"ALTER TABLE audit ADD COLUMN duration_ms INTEGER;"
	"ALTER TABLE audit ADD COLUMN arg_bytes INTEGER;"
	"ALTER TABLE audit ADD COLUMN request_id TEXT;"
	"CREATE INDEX audit_ts ON audit (ts);"
	/* a counter every change to tenants, servers, limits, secrets or
	 * revocations bumps: hosts sharing one database poll it */
	"CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  value INTEGER NOT NULL);"
	"INSERT INTO generation (id, value) VALUES (1, 0);",
	/* 5: tool allow/deny lists of a server and of a tenant (toolacl.c),
	 * comma-separated patterns, '' for none */
	"ALTER TABLE servers ADD COLUMN allow_tools TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE servers ADD COLUMN deny_tools TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tenants ADD COLUMN allow_tools TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tenants ADD COLUMN deny_tools TEXT NOT NULL DEFAULT '';",
	/* 6: a tenant's own egress allowlist (tenant set-egress), entries
	 * joined by commas, '' to follow tenant_egress_allow */
	"ALTER TABLE tenants ADD COLUMN egress_allow TEXT NOT NULL DEFAULT '';",
};
#define STORE_SCHEMA_LATEST \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

/*
 * The same migrations for MySQL/MariaDB (InnoDB, utf8mb4 with binary
 * collation so ids compare as bytes, as in SQLite). Keys are VARCHARs
 * sized to what the names allow: tenant ids 64, server and secret names
 * 128. TEXT defaults need MariaDB 10.2 or MySQL 8.0.13.
 */
#define MY_TABLE " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
static const char *const store_migrations_mysql[] = {
	"CREATE TABLE tenants ("
	"  id VARCHAR(64) NOT NULL PRIMARY KEY,"
	"  uid INT NOT NULL UNIQUE,"
	"  enabled TINYINT NOT NULL DEFAULT 1,"
	"  created BIGINT NOT NULL"
	")" MY_TABLE ";"
	"CREATE TABLE servers ("
	"  tenant VARCHAR(64) NOT NULL,"
	"  name VARCHAR(128) NOT NULL,"
	"  transport VARCHAR(16) NOT NULL,"
	"  command TEXT NOT NULL,"
	"  args MEDIUMTEXT NOT NULL,"
	"  env MEDIUMTEXT NOT NULL,"
	"  enabled TINYINT NOT NULL,"
	"  PRIMARY KEY (tenant, name),"
	"  FOREIGN KEY (tenant) REFERENCES tenants(id) ON DELETE CASCADE"
	")" MY_TABLE ";"
	"CREATE TABLE audit ("
	"  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
	"  ts BIGINT,"
	"  actor VARCHAR(255),"
	"  action VARCHAR(128),"
	"  tenant VARCHAR(64),"
	"  detail TEXT,"
	"  INDEX audit_tenant (tenant, id)"
	")" MY_TABLE ";"
	"CREATE TABLE uid_high ("
	"  id INT NOT NULL PRIMARY KEY CHECK (id = 1),"
	"  value INT NOT NULL"
	")" MY_TABLE,

	"CREATE TABLE tenant_limits ("
	"  tenant VARCHAR(64) NOT NULL PRIMARY KEY,"
	"  memory_max BIGINT,"
	"  swap_max BIGINT,"
	"  pids_max BIGINT,"
	"  cpu_weight BIGINT,"
	"  FOREIGN KEY (tenant) REFERENCES tenants(id) ON DELETE CASCADE"
	")" MY_TABLE,

	"CREATE TABLE secrets ("
	"  tenant VARCHAR(64) NOT NULL,"
	"  name VARCHAR(128) NOT NULL,"
	"  nonce VARBINARY(64) NOT NULL,"
	"  ciphertext MEDIUMBLOB NOT NULL,"
	"  created BIGINT,"
	"  updated BIGINT,"
	"  PRIMARY KEY (tenant, name),"
	"  FOREIGN KEY (tenant) REFERENCES tenants(id) ON DELETE CASCADE"
	")" MY_TABLE,

	"CREATE TABLE revoked_tokens ("
	"  jti VARCHAR(255) NOT NULL PRIMARY KEY,"
	"  tenant VARCHAR(64),"
	"  expires BIGINT NOT NULL,"
	"  revoked BIGINT NOT NULL"
	")" MY_TABLE ";"
	"ALTER TABLE tenant_limits ADD COLUMN rate_per_minute BIGINT;"
	"ALTER TABLE servers ADD COLUMN url VARCHAR(2048) NOT NULL DEFAULT '',"
	"  ADD COLUMN headers TEXT NOT NULL DEFAULT ('{}'),"
	"  ADD COLUMN options TEXT NOT NULL DEFAULT ('{}');"
	"ALTER TABLE audit ADD COLUMN server VARCHAR(128),"
	"  ADD COLUMN tool VARCHAR(255),"
	"  ADD COLUMN status VARCHAR(32),"
	"  ADD COLUMN duration_ms BIGINT,"
	"  ADD COLUMN arg_bytes BIGINT,"
	"  ADD COLUMN request_id VARCHAR(128);"
	"CREATE INDEX audit_ts ON audit (ts);"
	"CREATE TABLE generation ("
	"  id INT NOT NULL PRIMARY KEY CHECK (id = 1),"
	"  value BIGINT NOT NULL"
	")" MY_TABLE ";"
	"INSERT INTO generation (id, value) VALUES (1, 0)",

	"ALTER TABLE servers ADD COLUMN allow_tools TEXT NOT NULL DEFAULT (''),"
	"  ADD COLUMN deny_tools TEXT NOT NULL DEFAULT ('');"
	"ALTER TABLE tenants ADD COLUMN allow_tools TEXT NOT NULL DEFAULT (''),"
	"  ADD COLUMN deny_tools TEXT NOT NULL DEFAULT ('')",

	"ALTER TABLE tenants ADD COLUMN egress_allow TEXT NOT NULL DEFAULT ('')",
};
_Static_assert(sizeof(store_migrations_mysql) == sizeof(store_migrations),
    "every migration is written for both dialects");

static void
store_seterr(char *err, size_t errlen, const char *what, struct store *st)
{
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s: %s", what, db_errmsg(st->st_db));
}

static int
store_prepare(struct store *st, const char *sql, struct db_stmt **stmt_r,
    char *err, size_t errlen)
{
	return db_prepare(st->st_db, sql, stmt_r, err, errlen);
}

/* Binds a C string (NULL binds SQL NULL). */
static int
store_bind_text(struct db_stmt *stmt, int idx, const char *s)
{
	return db_bind_text(stmt, idx, s);
}

/* Runs fixed SQL text (no values) from this file. */
static int
store_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
	return db_exec(st->st_db, sql, err, errlen);
}

static void
store_rollback(struct store *st)
{
	db_rollback(st->st_db);
}

/* The SQL of the store's backend: the two dialects differ in upserts
 * and DDL only. */
static const char *
store_sql(const struct store *st, const char *sqlite, const char *mysql)
{
	return db_backend(st->st_db) == DB_MYSQL ? mysql : sqlite;
}

/*
 * Marks a change other hosts must pick up (store_generation). A failure
 * is logged, not returned: the change itself is made; other hosts then
 * see it at the next change, or at their next start.
 */
static void
store_bump(struct store *st)
{
	char err[STORE_ERRLEN];

	if (store_exec(st, "UPDATE generation SET value = value + 1 WHERE "
	    "id = 1", err, sizeof(err)) == -1)
		log_warn("store: cannot mark the change for other hosts",
		    "{s:s}", "error", err);
}

int64_t
store_generation(struct store *st, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int64_t v = -1;

	if (store_prepare(st, "SELECT value FROM generation WHERE id = 1",
	    &stmt, err, errlen) == -1)
		return -1;
	if (db_step(stmt, err, errlen) == DB_ROW)
		v = db_col_int(stmt, 0);
	else if (err != NULL && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "generation: no row");
	db_finalize(&stmt);
	return v;
}

/* Returns the schema version (0 for a fresh file) or -1 with err. */
static int
store_version_read(struct store *st, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int v = -1;

	if (store_prepare(st, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_version", &stmt, err, errlen) == -1)
		return -1;
	if (db_step(stmt, NULL, 0) == DB_ROW) {
		int64_t n = db_col_int(stmt, 0);

		v = n < 0 || n > INT_MAX ? -1 : (int)n;
		if (v == -1 && err != NULL)
			snprintf(err, errlen, "bad schema version %lld",
			    (long long)n);
	} else
		store_seterr(err, errlen, "schema version", st);
	db_finalize(&stmt);
	return v;
}

/*
 * MySQL: several hosts may start at once against one database, and DDL
 * there commits by itself, so migrations run under a named server lock
 * and the version is read again once it is held. A migration that fails
 * half-way on MySQL leaves its first statements applied: the error says
 * which version, and the operator finishes it by hand.
 */
static int
store_schema_lock(struct store *st, int take, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int rc, ok = 0;

	if (store_prepare(st, take ? "SELECT GET_LOCK('dataagent_schema', 60)" :
	    "SELECT RELEASE_LOCK('dataagent_schema')", &stmt, err,
	    errlen) == -1)
		return -1;
	rc = db_step(stmt, err, errlen);
	if (rc == DB_ROW)
		ok = db_col_int(stmt, 0) == 1;
	db_finalize(&stmt);
	if (rc == -1)
		return -1;
	if (!ok && take) {
		snprintf(err, errlen, "schema lock: another dataagentd has "
		    "held it for 60 s");
		return -1;
	}
	return 0;
}

static int
store_migrate_run(struct store *st, char *err, size_t errlen)
{
	const char *const *list = db_backend(st->st_db) == DB_MYSQL ?
	    store_migrations_mysql : store_migrations;
	struct db_stmt *stmt;
	char e[STORE_ERRLEN];
	int v, rc;

	if ((v = store_version_read(st, err, errlen)) == -1)
		return -1;
	if (v > STORE_SCHEMA_LATEST) {
		snprintf(err, errlen, "database schema version %d is newer "
		    "than this dataagentd knows (%d)", v, STORE_SCHEMA_LATEST);
		return -1;
	}
	for (; v < STORE_SCHEMA_LATEST; v++) {
		if (db_begin(st->st_db, err, errlen) == -1)
			return -1;
		if (store_exec(st, list[v], e, sizeof(e)) == -1) {
			store_rollback(st);
			snprintf(err, errlen, "migration to version %d: %s",
			    v + 1, e);
			return -1;
		}
		if (store_prepare(st, "INSERT INTO schema_version (version) "
		    "VALUES (?)", &stmt, err, errlen) == -1) {
			store_rollback(st);
			return -1;
		}
		db_bind_int(stmt, 1, v + 1);
		rc = db_step(stmt, NULL, 0);
		db_finalize(&stmt);
		if (rc != DB_DONE) {
			store_seterr(err, errlen, "schema version", st);
			store_rollback(st);
			return -1;
		}
		if (store_exec(st, "COMMIT", err, errlen) == -1) {
			store_rollback(st);
			return -1;
		}
	}
	return 0;
}

static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	int mysql = db_backend(st->st_db) == DB_MYSQL, rc;
	char e[STORE_ERRLEN];

	if (store_exec(st, mysql ? "CREATE TABLE IF NOT EXISTS schema_version "
	    "(version INT NOT NULL)" MY_TABLE : "CREATE TABLE IF NOT EXISTS "
	    "schema_version (version INTEGER NOT NULL)", err, errlen) == -1)
		return -1;
	if (mysql && store_schema_lock(st, 1, err, errlen) == -1)
		return -1;
	rc = store_migrate_run(st, err, errlen);
	if (mysql && store_schema_lock(st, 0, e, sizeof(e)) == -1 && rc == 0) {
		snprintf(err, errlen, "%s", e);
		rc = -1;
	}
	return rc;
}

/* Each statement's run time (db.c measures it with the monotonic clock)
 * into the dataagent_store_duration_seconds buckets. */
static void
store_on_time(void *arg, int64_t ns)
{
	static const int64_t bound_ns[STORE_NBUCKETS - 1] = STORE_BUCKET_NS;
	struct store_timing *tm = &((struct store *)arg)->st_timing;
	int i;

	if (ns < 0)
		ns = 0;
	for (i = 0; i < STORE_NBUCKETS - 1; i++)
		if (ns <= bound_ns[i])
			break;
	tm->stt_buckets[i]++;
	tm->stt_sum_ns += (uint64_t)ns;
}

void
store_timing_get(const struct store *st, struct store_timing *tm)
{
	*tm = st->st_timing;
}

int
store_open_url(struct store **st_r, const struct dburl *u, char *err,
    size_t errlen)
{
	struct store *st;

	*st_r = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (db_open(&st->st_db, u, err, errlen) == -1) {
		store_close(&st);
		return -1;
	}
	db_set_timer(st->st_db, store_on_time, st);
	if (store_migrate(st, err, errlen) == -1) {
		store_close(&st);
		return -1;
	}
	*st_r = st;
	return 0;
}

int
store_open(struct store **st_r, const char *path, char *err, size_t errlen)
{
	struct dburl u;

	memset(&u, 0, sizeof(u));
	u.db_kind = DBURL_SQLITE;
	if (snprintf(u.db_path, sizeof(u.db_path), "%s", path) >=
	    (int)sizeof(u.db_path)) {
		snprintf(err, errlen, "database path too long");
		return -1;
	}
	return store_open_url(st_r, &u, err, errlen);
}

void
store_close(struct store **st)
{
	if (*st == NULL)
		return;
	db_close(&(*st)->st_db);
	free(*st);
	*st = NULL;
}

const char *
store_describe(const struct store *st)
{
	return db_describe(st->st_db);
}

/* Returns the schema version, or -1 when it cannot be read. */
int
store_schema_version(struct store *st)
{
	return store_version_read(st, NULL, 0);
}

/* ------------------------------------------------------------ tenants */

static void
store_tenant_row(struct db_stmt *stmt, struct store_tenant *t)
{
	const char *id = db_col_text(stmt, 0);

	memset(t, 0, sizeof(*t));
	snprintf(t->st_id, sizeof(t->st_id), "%s", id != NULL ? id : "");
	t->st_uid = db_col_int(stmt, 1);
	t->st_enabled = db_col_int(stmt, 2) != 0;
	t->st_created = db_col_int(stmt, 3);
}

int
store_tenant_get(struct store *st, const char *id, struct store_tenant *t,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int rc, r;

	if (store_prepare(st, "SELECT id, uid, enabled, created FROM tenants "
	    "WHERE id = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_ROW) {
		store_tenant_row(stmt, t);
		r = 1;
	} else if (rc == DB_DONE)
		r = 0;
	else {
		store_seterr(err, errlen, "tenant get", st);
		r = -1;
	}
	db_finalize(&stmt);
	return r;
}

/*
 * The uid is max(uid_base + 1, highest uid ever handed out + 1), chosen
 * and inserted inside one write transaction so two adds cannot collide
 * and a removed tenant's uid is never given to another.
 */
int
store_tenant_add(struct store *st, const char *id, int uid_base,
    int uid_count, struct store_tenant *t_r, char *err, size_t errlen)
{
	struct store_tenant t;
	struct db_stmt *stmt = NULL;
	int64_t maxuid, uid;
	int rc;

	if (db_begin(st->st_db, err, errlen) == -1)
		return -1;
	rc = store_tenant_get(st, id, &t, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			snprintf(err, errlen, "tenant %s already exists", id);
		goto fail;
	}
	if (store_prepare(st, "SELECT COALESCE((SELECT MAX(uid) FROM "
	    "tenants), 0), COALESCE((SELECT value FROM uid_high), 0)",
	    &stmt, err, errlen) == -1)
		goto fail;
	if (db_step(stmt, NULL, 0) != DB_ROW) {
		store_seterr(err, errlen, "tenant uid", st);
		goto fail;
	}
	maxuid = db_col_int(stmt, 0);
	if (db_col_int(stmt, 1) > maxuid)
		maxuid = db_col_int(stmt, 1);
	db_finalize(&stmt);
	stmt = NULL;
	uid = (int64_t)uid_base + 1;
	if (maxuid + 1 > uid)
		uid = maxuid + 1;
	if (uid_base < 0 || uid > INT_MAX - 1) {
		snprintf(err, errlen, "no free tenant uid");
		goto fail;
	}
	if (uid_count > 0 && uid > (int64_t)uid_base + uid_count) {
		snprintf(err, errlen, "no free tenant uid: the %d of "
		    "tenant_uid_count above tenant_uid_base %d are used "
		    "(a removed tenant's uid is never given again)", uid_count,
		    uid_base);
		goto fail;
	}

	memset(&t, 0, sizeof(t));
	snprintf(t.st_id, sizeof(t.st_id), "%s", id);
	t.st_uid = (int)uid;
	t.st_enabled = 1;
	t.st_created = now_wall();
	if (store_prepare(st, "INSERT INTO tenants (id, uid, enabled, created) "
	    "VALUES (?, ?, 1, ?)", &stmt, err, errlen) == -1)
		goto fail;
	store_bind_text(stmt, 1, id);
	db_bind_int(stmt, 2, t.st_uid);
	db_bind_int(stmt, 3, t.st_created);
	if (db_step(stmt, NULL, 0) != DB_DONE) {
		store_seterr(err, errlen, "tenant add", st);
		goto fail;
	}
	db_finalize(&stmt);
	stmt = NULL;
	if (store_prepare(st, "REPLACE INTO uid_high (id, value) "
	    "VALUES (1, ?)", &stmt, err, errlen) == -1)
		goto fail;
	db_bind_int(stmt, 1, t.st_uid);
	if (db_step(stmt, NULL, 0) != DB_DONE) {
		store_seterr(err, errlen, "tenant uid", st);
		goto fail;
	}
	db_finalize(&stmt);
	stmt = NULL;
	store_bump(st);
	if (store_exec(st, "COMMIT", err, errlen) == -1)
		goto fail;
	if (t_r != NULL)
		*t_r = t;
	return 0;
fail:
	db_finalize(&stmt);
	store_rollback(st);
	return -1;
}

static void
store_limit_bind(struct db_stmt *stmt, int col, int64_t v)
{
	if (v == STORE_LIMIT_DEFAULT)
		db_bind_null(stmt, col);
	else
		db_bind_int(stmt, col, v);
}

static int64_t
store_limit_col(struct db_stmt *stmt, int col)
{
	if (db_col_is_null(stmt, col))
		return STORE_LIMIT_DEFAULT;
	return db_col_int(stmt, col);
}

int
store_tenant_limits_get(struct store *st, const char *id,
    struct store_limits *l, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int rc, r = 0;

	l->sl_memory_max = l->sl_swap_max = l->sl_pids_max =
	    l->sl_cpu_weight = l->sl_rate_per_minute = STORE_LIMIT_DEFAULT;
	if (store_prepare(st, "SELECT memory_max, swap_max, pids_max, "
	    "cpu_weight, rate_per_minute FROM tenant_limits WHERE tenant = ?",
	    &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_ROW) {
		l->sl_memory_max = store_limit_col(stmt, 0);
		l->sl_swap_max = store_limit_col(stmt, 1);
		l->sl_pids_max = store_limit_col(stmt, 2);
		l->sl_cpu_weight = store_limit_col(stmt, 3);
		l->sl_rate_per_minute = store_limit_col(stmt, 4);
		r = 1;
	} else if (rc != DB_DONE) {
		store_seterr(err, errlen, "tenant limits", st);
		r = -1;
	}
	db_finalize(&stmt);
	return r;
}

int
store_tenant_limits_set(struct store *st, const char *id,
    const struct store_limits *l, char *err, size_t errlen)
{
	struct store_tenant t;
	struct db_stmt *stmt;
	int r;

	if ((r = store_tenant_get(st, id, &t, err, errlen)) != 1)
		return r;
	if (store_prepare(st, "REPLACE INTO tenant_limits (tenant, "
	    "memory_max, swap_max, pids_max, cpu_weight, rate_per_minute) "
	    "VALUES (?, ?, ?, ?, ?, ?)", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	store_limit_bind(stmt, 2, l->sl_memory_max);
	store_limit_bind(stmt, 3, l->sl_swap_max);
	store_limit_bind(stmt, 4, l->sl_pids_max);
	store_limit_bind(stmt, 5, l->sl_cpu_weight);
	store_limit_bind(stmt, 6, l->sl_rate_per_minute);
	r = db_step(stmt, NULL, 0) == DB_DONE ? 1 : -1;
	if (r == -1)
		store_seterr(err, errlen, "tenant limits", st);
	db_finalize(&stmt);
	if (r == 1)
		store_bump(st);
	return r;
}

/*
 * Steps a prepared statement (finalized here in every case) and collects
 * one JSON object per row from row(), which returns NULL with err set
 * for a row it cannot read. Returns the array, or NULL with err.
 */
typedef json_t *(*store_row_fn)(struct db_stmt *stmt, const void *arg,
    char *err, size_t errlen);

static json_t *
store_rows_json(struct store *st, struct db_stmt *stmt, store_row_fn row,
    const void *arg, const char *what, char *err, size_t errlen)
{
	json_t *list, *o;
	int rc;

	if ((list = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		db_finalize(&stmt);
		return NULL;
	}
	while ((rc = db_step(stmt, NULL, 0)) == DB_ROW) {
		if ((o = row(stmt, arg, err, errlen)) == NULL)
			goto fail;
		if (json_array_append_new(list, o) == -1) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (rc != DB_DONE) {
		store_seterr(err, errlen, what, st);
		goto fail;
	}
	db_finalize(&stmt);
	return list;
fail:
	db_finalize(&stmt);
	json_decref(list);
	return NULL;
}

static json_t *
store_tenant_json_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	struct store_tenant t;
	json_t *o;

	store_tenant_row(stmt, &t);
	o = json_pack("{s:s,s:i,s:b,s:I,s:I}", "id", t.st_id, "uid",
	    t.st_uid, "enabled", t.st_enabled, "created",
	    (json_int_t)t.st_created, "servers",
	    (json_int_t)db_col_int(stmt, 4));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_tenant_list(struct store *st, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "SELECT t.id, t.uid, t.enabled, t.created, "
	    "(SELECT COUNT(*) FROM servers s WHERE s.tenant = t.id) "
	    "FROM tenants t ORDER BY t.id", &stmt, err, errlen) == -1)
		return NULL;
	return store_rows_json(st, stmt, store_tenant_json_row, NULL,
	    "tenant list", err, errlen);
}

/* Runs a bound one-statement change; returns the rows it changed or -1. */
static int
store_change(struct store *st, struct db_stmt *stmt, const char *what,
    char *err, size_t errlen)
{
	int n;

	if (db_step(stmt, NULL, 0) != DB_DONE) {
		store_seterr(err, errlen, what, st);
		db_finalize(&stmt);
		return -1;
	}
	/* Counts only the rows the statement itself changed, not the
	 * foreign-key cascades. */
	n = (int)db_changes(stmt);
	db_finalize(&stmt);
	return n;
}

int
store_tenant_set_enabled(struct store *st, const char *id, int enabled,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int n;

	if (store_prepare(st, "UPDATE tenants SET enabled = ? WHERE id = ?",
	    &stmt, err, errlen) == -1)
		return -1;
	db_bind_int(stmt, 1, enabled ? 1 : 0);
	store_bind_text(stmt, 2, id);
	if ((n = store_change(st, stmt, "tenant enable", err, errlen)) == -1)
		return -1;
	if (n > 0)
		store_bump(st);
	return n > 0;
}

int
store_tenant_remove(struct store *st, const char *id, char *err,
    size_t errlen)
{
	struct db_stmt *stmt;
	int n;

	/* ON DELETE CASCADE (foreign_keys is on) removes the servers. */
	if (store_prepare(st, "DELETE FROM tenants WHERE id = ?", &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	if ((n = store_change(st, stmt, "tenant remove", err, errlen)) == -1)
		return -1;
	if (n > 0)
		store_bump(st);
	return n > 0;
}

static const char *
store_col_text(struct db_stmt *stmt, int col)
{
	const char *s = db_col_text(stmt, col);

	return s != NULL ? s : "";
}

/*
 * Columns col and col + 1 (allow_tools, deny_tools: comma-separated
 * patterns) into o as arrays "allow_tools" and "deny_tools". Returns 0,
 * or -1 with err when the text is not a valid list.
 */
static int
store_tool_lists(struct db_stmt *stmt, int col, json_t *o, char *err,
    size_t errlen)
{
	json_t *in = json_pack("{s:s,s:s}", "allow_tools",
	    store_col_text(stmt, col), "deny_tools", store_col_text(stmt,
	    col + 1));
	char e[STORE_ERRLEN - 32];
	int r;

	if (in == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((r = toolacl_lists_parse(in, o, 0, e, sizeof(e))) == -1)
		snprintf(err, errlen, "corrupt tool lists in the store: %s", e);
	json_decref(in);
	return r == -1 ? -1 : 0;
}

int
store_tenant_tools_get(struct store *st, const char *id, json_t **lists_r,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	json_t *o;
	int rc, r = 0;

	*lists_r = NULL;
	if (store_prepare(st, "SELECT allow_tools, deny_tools FROM tenants "
	    "WHERE id = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_ROW) {
		if ((o = json_object()) == NULL) {
			snprintf(err, errlen, "out of memory");
			r = -1;
		} else if (store_tool_lists(stmt, 0, o, err, errlen) == -1) {
			json_decref(o);
			r = -1;
		} else {
			*lists_r = o;
			r = 1;
		}
	} else if (rc != DB_DONE) {
		store_seterr(err, errlen, "tenant tools", st);
		r = -1;
	}
	db_finalize(&stmt);
	return r;
}

int
store_tenant_tools_set(struct store *st, const char *id, const json_t *lists,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	char *allow, *deny;
	int n = -1;

	allow = toolacl_list_join(json_object_get(lists, "allow_tools"));
	deny = toolacl_list_join(json_object_get(lists, "deny_tools"));
	if (allow == NULL || deny == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (store_prepare(st, "UPDATE tenants SET allow_tools = ?, "
	    "deny_tools = ? WHERE id = ?", &stmt, err, errlen) == -1)
		goto out;
	store_bind_text(stmt, 1, allow);
	store_bind_text(stmt, 2, deny);
	store_bind_text(stmt, 3, id);
	if ((n = store_change(st, stmt, "tenant tools", err, errlen)) > 0)
		store_bump(st);
out:
	free(allow);
	free(deny);
	return n == -1 ? -1 : n > 0;
}

int
store_tenant_egress_get(struct store *st, const char *id, char **list_r,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	const char *v;
	int rc, r = 0;

	*list_r = NULL;
	if (store_prepare(st, "SELECT egress_allow FROM tenants WHERE id = ?",
	    &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_ROW) {
		v = db_col_text(stmt, 0);
		if ((*list_r = strdup(v != NULL ? v : "")) == NULL) {
			snprintf(err, errlen, "out of memory");
			r = -1;
		} else
			r = 1;
	} else if (rc != DB_DONE) {
		store_seterr(err, errlen, "tenant egress", st);
		r = -1;
	}
	db_finalize(&stmt);
	return r;
}

int
store_tenant_egress_set(struct store *st, const char *id, const char *list,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int n;

	if (store_prepare(st, "UPDATE tenants SET egress_allow = ? WHERE "
	    "id = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, list);
	store_bind_text(stmt, 2, id);
	if ((n = store_change(st, stmt, "tenant egress", err, errlen)) > 0)
		store_bump(st);
	return n == -1 ? -1 : n > 0;
}

/* ------------------------------------------------------------ servers */

int
store_server_put(struct store *st, const char *tenant, const json_t *srv,
    char *err, size_t errlen)
{
	const char *name, *transport, *command;
	const json_t *args, *env, *en, *hdrs, *opts;
	char *args_s = NULL, *env_s = NULL, *hdrs_s = NULL, *opts_s = NULL;
	char *allow_s = NULL, *deny_s = NULL;
	const char *url;
	struct db_stmt *stmt;
	int rc, r = -1;

	name = json_string_value(json_object_get(srv, "name"));
	command = json_string_value(json_object_get(srv, "command"));
	transport = json_string_value(json_object_get(srv, "transport"));
	args = json_object_get(srv, "args");
	env = json_object_get(srv, "env");
	en = json_object_get(srv, "enabled");
	if (transport == NULL)
		transport = "stdio";
	if (name == NULL || command == NULL ||
	    (args != NULL && !json_is_array(args)) ||
	    (env != NULL && !json_is_object(env)) ||
	    (en != NULL && !json_is_boolean(en))) {
		snprintf(err, errlen, "malformed server object");
		return -1;
	}
	args_s = args != NULL ? json_dumps(args, JSON_COMPACT) : strdup("[]");
	env_s = env != NULL ? json_dumps(env, JSON_COMPACT) : strdup("{}");
	/* Remote servers (migration 4): url, headers, options. */
	url = json_string_value(json_object_get(srv, "url"));
	hdrs = json_object_get(srv, "headers");
	opts = json_object_get(srv, "options");
	hdrs_s = json_is_object(hdrs) ? json_dumps(hdrs, JSON_COMPACT) :
	    strdup("{}");
	opts_s = json_is_object(opts) ? json_dumps(opts, JSON_COMPACT) :
	    strdup("{}");
	/* Tool lists (migration 5): checked patterns, joined by commas. */
	allow_s = toolacl_list_join(json_object_get(srv, "allow_tools"));
	deny_s = toolacl_list_join(json_object_get(srv, "deny_tools"));
	if (args_s == NULL || env_s == NULL || hdrs_s == NULL ||
	    opts_s == NULL || allow_s == NULL || deny_s == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (store_prepare(st, store_sql(st,
	    "INSERT INTO servers (tenant, name, transport, "
	    "command, args, env, enabled, url, headers, options, "
	    "allow_tools, deny_tools) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON CONFLICT (tenant, name) DO UPDATE SET "
	    "transport = excluded.transport, command = excluded.command, "
	    "args = excluded.args, env = excluded.env, "
	    "enabled = excluded.enabled, url = excluded.url, "
	    "headers = excluded.headers, options = excluded.options, "
	    "allow_tools = excluded.allow_tools, "
	    "deny_tools = excluded.deny_tools",
	    "INSERT INTO servers (tenant, name, transport, "
	    "command, args, env, enabled, url, headers, options, "
	    "allow_tools, deny_tools) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON DUPLICATE KEY UPDATE "
	    "transport = VALUES(transport), command = VALUES(command), "
	    "args = VALUES(args), env = VALUES(env), "
	    "enabled = VALUES(enabled), url = VALUES(url), "
	    "headers = VALUES(headers), options = VALUES(options), "
	    "allow_tools = VALUES(allow_tools), "
	    "deny_tools = VALUES(deny_tools)"),
	    &stmt, err, errlen) == -1)
		goto out;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	store_bind_text(stmt, 3, transport);
	store_bind_text(stmt, 4, command);
	store_bind_text(stmt, 5, args_s);
	store_bind_text(stmt, 6, env_s);
	db_bind_int(stmt, 7, en == NULL || json_is_true(en));
	store_bind_text(stmt, 8, url != NULL ? url : "");
	store_bind_text(stmt, 9, hdrs_s);
	store_bind_text(stmt, 10, opts_s);
	store_bind_text(stmt, 11, allow_s);
	store_bind_text(stmt, 12, deny_s);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_DONE) {
		r = 0;
		store_bump(st);
	} else if (db_last_error(st->st_db) == DB_ERR_CONSTRAINT)
		snprintf(err, errlen, "no such tenant: %s", tenant);
	else
		store_seterr(err, errlen, "server put", st);
	db_finalize(&stmt);
out:
	free(args_s);
	free(env_s);
	free(hdrs_s);
	free(opts_s);
	free(allow_s);
	free(deny_s);
	return r;
}

/*
 * Deletes a tenant's row by name (sql: a DELETE with the two
 * placeholders tenant, name) and marks the change for other hosts.
 * Returns 1 when removed, 0 when absent, -1.
 */
static int
store_remove_named(struct store *st, const char *sql, const char *tenant,
    const char *name, const char *what, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int n;

	if (store_prepare(st, sql, &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	if ((n = store_change(st, stmt, what, err, errlen)) == -1)
		return -1;
	if (n > 0)
		store_bump(st);
	return n > 0;
}

int
store_server_remove(struct store *st, const char *tenant, const char *name,
    char *err, size_t errlen)
{
	return store_remove_named(st, "DELETE FROM servers WHERE tenant = ? "
	    "AND name = ?", tenant, name, "server remove", err, errlen);
}

static json_t *
store_server_json_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	const char *tenant = arg, *name = store_col_text(stmt, 0);
	json_t *args, *env, *o;

	args = json_loads(store_col_text(stmt, 3), 0, NULL);
	env = json_loads(store_col_text(stmt, 4), 0, NULL);
	if (!json_is_array(args) || !json_is_object(env)) {
		snprintf(err, errlen, "server %s/%s: corrupt args or env in the "
		    "store", tenant, name);
		json_decref(args);
		json_decref(env);
		return NULL;
	}
	o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:b}", "name", name,
	    "transport", store_col_text(stmt, 1), "command",
	    store_col_text(stmt, 2), "args", args, "env", env,
	    "enabled", db_col_int(stmt, 5) != 0);
	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* A remote server carries its url, headers and options. */
	if (strcmp(store_col_text(stmt, 1), "stdio") != 0) {
		json_t *h = json_loads(store_col_text(stmt, 7), 0, NULL);
		json_t *op = json_loads(store_col_text(stmt, 8), 0, NULL);

		if (!json_is_object(h) || !json_is_object(op)) {
			snprintf(err, errlen, "server %s/%s: corrupt headers "
			    "or options in the store", tenant, name);
			json_decref(h);
			json_decref(op);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, "url", json_string(store_col_text(stmt,
		    6)));
		json_object_set_new(o, "headers", h);
		json_object_set_new(o, "options", op);
	}
	if (store_tool_lists(stmt, 9, o, err, errlen) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
store_server_list(struct store *st, const char *tenant, char *err,
    size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "SELECT name, transport, command, args, env, "
	    "enabled, url, headers, options, allow_tools, deny_tools "
	    "FROM servers WHERE tenant = ? ORDER BY name", &stmt, err,
	    errlen) == -1)
		return NULL;
	store_bind_text(stmt, 1, tenant);
	return store_rows_json(st, stmt, store_server_json_row, tenant,
	    "server list", err, errlen);
}

/* -------------------------------------------------------------- audit */

int
store_audit(struct store *st, const char *actor, const char *action,
    const char *tenant, const char *detail)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "INSERT INTO audit (ts, actor, action, tenant, "
	    "detail) VALUES (?, ?, ?, ?, ?)", &stmt, NULL, 0) == -1)
		return -1;
	db_bind_int(stmt, 1, now_wall());
	store_bind_text(stmt, 2, actor);
	store_bind_text(stmt, 3, action);
	store_bind_text(stmt, 4, tenant);
	store_bind_text(stmt, 5, detail);
	return store_change(st, stmt, "audit", NULL, 0) == -1 ? -1 : 0;
}

int
store_audit_call(struct store *st, const char *tenant,
    const struct store_audit_row *row, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "INSERT INTO audit (ts, actor, action, tenant, "
	    "detail, server, tool, status, duration_ms, arg_bytes, "
	    "request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt, err,
	    errlen) == -1)
		return -1;
	db_bind_int(stmt, 1, row->sar_ts);
	store_bind_text(stmt, 2, row->sar_actor);
	store_bind_text(stmt, 3, row->sar_action);
	store_bind_text(stmt, 4, tenant);
	store_bind_text(stmt, 5, row->sar_detail);
	store_bind_text(stmt, 6, row->sar_server);
	store_bind_text(stmt, 7, row->sar_tool);
	store_bind_text(stmt, 8, row->sar_status);
	db_bind_int(stmt, 9, row->sar_duration_ms);
	db_bind_int(stmt, 10, row->sar_arg_bytes);
	store_bind_text(stmt, 11, row->sar_request_id);
	return store_change(st, stmt, "audit", err, errlen) == -1 ? -1 : 0;
}

int
store_audit_prune(struct store *st, int64_t before, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "DELETE FROM audit WHERE ts < ?", &stmt, err,
	    errlen) == -1)
		return -1;
	db_bind_int(stmt, 1, before);
	return store_change(st, stmt, "audit prune", err, errlen);
}

static json_t *
store_col_json_string(struct db_stmt *stmt, int col)
{
	if (db_col_is_null(stmt, col))
		return json_null();
	return json_string(store_col_text(stmt, col));
}

/* limit <= 0 means every row. */
static json_t *
store_audit_json_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:I,s:o,s:o,s:o,s:o}", "ts",
	    (json_int_t)db_col_int(stmt, 0),
	    "actor", store_col_json_string(stmt, 1),
	    "action", store_col_json_string(stmt, 2),
	    "tenant", store_col_json_string(stmt, 3),
	    "detail", store_col_json_string(stmt, 4));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_audit_list(struct store *st, const char *tenant, int limit, char *err,
    size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, tenant != NULL ?
	    "SELECT ts, actor, action, tenant, detail FROM audit "
	    "WHERE tenant = ? ORDER BY id DESC LIMIT ?" :
	    "SELECT ts, actor, action, tenant, detail FROM audit "
	    "ORDER BY id DESC LIMIT ?", &stmt, err, errlen) == -1)
		return NULL;
	if (tenant != NULL)
		store_bind_text(stmt, 1, tenant);
	db_bind_int(stmt, tenant != NULL ? 2 : 1, limit > 0 ? limit :
	    INT64_MAX);
	return store_rows_json(st, stmt, store_audit_json_row, NULL,
	    "audit list", err, errlen);
}

static json_t *
store_col_json_int(struct db_stmt *stmt, int col)
{
	if (db_col_is_null(stmt, col))
		return json_null();
	return json_integer((json_int_t)db_col_int(stmt, col));
}

static json_t *
store_audit_query_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "id", (json_int_t)db_col_int(stmt, 0),
	    "ts", (json_int_t)db_col_int(stmt, 1),
	    "actor", store_col_json_string(stmt, 2),
	    "action", store_col_json_string(stmt, 3),
	    "tenant", store_col_json_string(stmt, 4),
	    "detail", store_col_json_string(stmt, 5),
	    "server", store_col_json_string(stmt, 6),
	    "tool", store_col_json_string(stmt, 7),
	    "status", store_col_json_string(stmt, 8),
	    "duration_ms", store_col_json_int(stmt, 9),
	    "arg_bytes", store_col_json_int(stmt, 10),
	    "request_id", store_col_json_string(stmt, 11));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_audit_query(struct store *st, const char *tenant, int64_t since,
    int limit, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, tenant != NULL ?
	    "SELECT id, ts, actor, action, tenant, detail, "
	    "server, tool, status, duration_ms, arg_bytes, request_id "
	    "FROM audit WHERE tenant = ? AND ts >= ? "
	    "ORDER BY id DESC LIMIT ?" :
	    "SELECT id, ts, actor, action, tenant, detail, "
	    "server, tool, status, duration_ms, arg_bytes, request_id "
	    "FROM audit WHERE ts >= ? "
	    "ORDER BY id DESC LIMIT ?", &stmt, err, errlen) == -1)
		return NULL;
	if (tenant != NULL)
		store_bind_text(stmt, 1, tenant);
	db_bind_int(stmt, tenant != NULL ? 2 : 1, since);
	db_bind_int(stmt, tenant != NULL ? 3 : 2, limit > 0 ? limit :
	    INT64_MAX);
	return store_rows_json(st, stmt, store_audit_query_row, NULL,
	    "audit query", err, errlen);
}

/* ----------------------------------------------------- revoked tokens */

int
store_revoked_put(struct store *st, const char *jti, const char *tenant,
    int64_t expires, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	/* A second revocation of one jti keeps the later expiry. */
	if (store_prepare(st, store_sql(st,
	    "INSERT INTO revoked_tokens (jti, tenant, expires, revoked) "
	    "VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO UPDATE SET "
	    "tenant = excluded.tenant, "
	    "expires = MAX(expires, excluded.expires)",
	    "INSERT INTO revoked_tokens (jti, tenant, expires, revoked) "
	    "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
	    "tenant = VALUES(tenant), "
	    "expires = GREATEST(expires, VALUES(expires))"), &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, jti);
	store_bind_text(stmt, 2, tenant);
	db_bind_int(stmt, 3, expires);
	db_bind_int(stmt, 4, now_wall());
	if (store_change(st, stmt, "revoke", err, errlen) == -1)
		return -1;
	store_bump(st);
	return 0;
}

static json_t *
store_revoked_json_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:s,s:o,s:I,s:I}", "jti", store_col_text(stmt, 0),
	    "tenant", store_col_json_string(stmt, 1),
	    "expires", (json_int_t)db_col_int(stmt, 2),
	    "revoked", (json_int_t)db_col_int(stmt, 3));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_revoked_list(struct store *st, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "SELECT jti, tenant, expires, revoked FROM "
	    "revoked_tokens ORDER BY revoked, jti", &stmt, err, errlen) == -1)
		return NULL;
	return store_rows_json(st, stmt, store_revoked_json_row, NULL,
	    "revoked list", err, errlen);
}

int
store_revoked_prune(struct store *st, int64_t now, char *err, size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "DELETE FROM revoked_tokens WHERE expires < ?",
	    &stmt, err, errlen) == -1)
		return -1;
	db_bind_int(stmt, 1, now);
	return store_change(st, stmt, "revoked prune", err, errlen);
}

/* ------------------------------------------------------------ secrets */

int
store_begin(struct store *st, char *err, size_t errlen)
{
	return db_begin(st->st_db, err, errlen);
}

int
store_commit(struct store *st, char *err, size_t errlen)
{
	if (store_exec(st, "COMMIT", err, errlen) == -1) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

void
store_abort(struct store *st)
{
	store_rollback(st);
}

int
store_secret_put(struct store *st, const char *tenant, const char *name,
    const uint8_t *nonce, size_t noncelen, const uint8_t *ct, size_t ctlen,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int64_t now = now_wall();
	int rc, r = -1;

	if (store_prepare(st, store_sql(st,
	    "INSERT INTO secrets (tenant, name, nonce, "
	    "ciphertext, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
	    "ON CONFLICT (tenant, name) DO UPDATE SET nonce = excluded.nonce, "
	    "ciphertext = excluded.ciphertext, updated = excluded.updated",
	    "INSERT INTO secrets (tenant, name, nonce, "
	    "ciphertext, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
	    "ON DUPLICATE KEY UPDATE nonce = VALUES(nonce), "
	    "ciphertext = VALUES(ciphertext), updated = VALUES(updated)"),
	    &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	db_bind_blob(stmt, 3, nonce, noncelen);
	db_bind_blob(stmt, 4, ct, ctlen);
	db_bind_int(stmt, 5, now);
	db_bind_int(stmt, 6, now);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_DONE) {
		r = 0;
		store_bump(st);
	} else if (db_last_error(st->st_db) == DB_ERR_CONSTRAINT)
		snprintf(err, errlen, "no such tenant: %s", tenant);
	else
		store_seterr(err, errlen, "secret put", st);
	db_finalize(&stmt);
	return r;
}

/* Copies a blob column into a malloc'd buffer. */
static int
store_col_blob(struct db_stmt *stmt, int col, uint8_t **out_r, size_t *len_r)
{
	size_t n;
	const uint8_t *b = db_col_blob(stmt, col, &n);

	*out_r = malloc(n > 0 ? n : 1);
	if (*out_r == NULL)
		return -1;
	if (n > 0)
		memcpy(*out_r, b, n);
	*len_r = n;
	return 0;
}

int
store_secret_get(struct store *st, const char *tenant, const char *name,
    struct store_secret *s, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int rc, r;

	memset(s, 0, sizeof(*s));
	if (store_prepare(st, "SELECT nonce, ciphertext, created, updated "
	    "FROM secrets WHERE tenant = ? AND name = ?", &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	rc = db_step(stmt, NULL, 0);
	if (rc == DB_ROW) {
		snprintf(s->ss_tenant, sizeof(s->ss_tenant), "%s", tenant);
		snprintf(s->ss_name, sizeof(s->ss_name), "%s", name);
		s->ss_created = db_col_int(stmt, 2);
		s->ss_updated = db_col_int(stmt, 3);
		r = 1;
		if (store_col_blob(stmt, 0, &s->ss_nonce, &s->ss_noncelen) ==
		    -1 || store_col_blob(stmt, 1, &s->ss_ct, &s->ss_ctlen) ==
		    -1) {
			store_secret_clear(s);
			snprintf(err, errlen, "out of memory");
			r = -1;
		}
	} else if (rc == DB_DONE)
		r = 0;
	else {
		store_seterr(err, errlen, "secret get", st);
		r = -1;
	}
	db_finalize(&stmt);
	return r;
}

void
store_secret_clear(struct store_secret *s)
{
	free(s->ss_nonce);
	free(s->ss_ct);
	s->ss_nonce = s->ss_ct = NULL;
	s->ss_noncelen = s->ss_ctlen = 0;
}

int
store_secret_remove(struct store *st, const char *tenant, const char *name,
    char *err, size_t errlen)
{
	return store_remove_named(st, "DELETE FROM secrets WHERE tenant = ? "
	    "AND name = ?", tenant, name, "secret remove", err, errlen);
}

static json_t *
store_secret_json_row(struct db_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:s,s:I,s:I}", "name", store_col_text(stmt, 0),
	    "created", (json_int_t)db_col_int(stmt, 1),
	    "updated", (json_int_t)db_col_int(stmt, 2));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_secret_list(struct store *st, const char *tenant, char *err,
    size_t errlen)
{
	struct db_stmt *stmt;

	if (store_prepare(st, "SELECT name, created, updated FROM secrets "
	    "WHERE tenant = ? ORDER BY name", &stmt, err, errlen) == -1)
		return NULL;
	store_bind_text(stmt, 1, tenant);
	return store_rows_json(st, stmt, store_secret_json_row, NULL,
	    "secret list", err, errlen);
}

int
store_secret_all(struct store *st, struct store_secret **rows_r, size_t *n_r,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	struct store_secret *rows = NULL, *tmp, *s;
	size_t n = 0, cap = 0;
	int rc;

	*rows_r = NULL;
	*n_r = 0;
	if (store_prepare(st, "SELECT tenant, name, nonce, ciphertext, "
	    "created, updated FROM secrets ORDER BY tenant, name", &stmt, err,
	    errlen) == -1)
		return -1;
	while ((rc = db_step(stmt, NULL, 0)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((tmp = realloc(rows, cap * sizeof(*rows))) == NULL)
				goto oom;
			rows = tmp;
		}
		s = &rows[n];
		memset(s, 0, sizeof(*s));
		n++;
		snprintf(s->ss_tenant, sizeof(s->ss_tenant), "%s",
		    store_col_text(stmt, 0));
		snprintf(s->ss_name, sizeof(s->ss_name), "%s",
		    store_col_text(stmt, 1));
		s->ss_created = db_col_int(stmt, 4);
		s->ss_updated = db_col_int(stmt, 5);
		if (store_col_blob(stmt, 2, &s->ss_nonce, &s->ss_noncelen) ==
		    -1 || store_col_blob(stmt, 3, &s->ss_ct, &s->ss_ctlen) == -1)
			goto oom;
	}
	if (rc != DB_DONE) {
		store_seterr(err, errlen, "secret list", st);
		db_finalize(&stmt);
		store_secret_free_all(&rows, n);
		return -1;
	}
	db_finalize(&stmt);
	*rows_r = rows;
	*n_r = n;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	db_finalize(&stmt);
	store_secret_free_all(&rows, n);
	return -1;
}

void
store_secret_free_all(struct store_secret **rows, size_t n)
{
	size_t i;

	if (*rows == NULL)
		return;
	for (i = 0; i < n; i++)
		store_secret_clear(&(*rows)[i]);
	free(*rows);
	*rows = NULL;
}

int
store_secret_update(struct store *st, const char *tenant, const char *name,
    const uint8_t *nonce, size_t noncelen, const uint8_t *ct, size_t ctlen,
    char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int n;

	if (store_prepare(st, "UPDATE secrets SET nonce = ?, ciphertext = ? "
	    "WHERE tenant = ? AND name = ?", &stmt, err, errlen) == -1)
		return -1;
	db_bind_blob(stmt, 1, nonce, noncelen);
	db_bind_blob(stmt, 2, ct, ctlen);
	store_bind_text(stmt, 3, tenant);
	store_bind_text(stmt, 4, name);
	if ((n = store_change(st, stmt, "secret update", err, errlen)) == -1)
		return -1;
	if (n > 0)
		store_bump(st);
	return n > 0;
}

int
store_secret_count(struct store *st, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int n = -1;

	if (store_prepare(st, "SELECT COUNT(*) FROM secrets", &stmt, err,
	    errlen) == -1)
		return -1;
	if (db_step(stmt, NULL, 0) == DB_ROW)
		n = db_col_int(stmt, 0);
	else
		store_seterr(err, errlen, "secret count", st);
	db_finalize(&stmt);
	return n;
}
