/*
 * store.c: the supervisor's SQLite store (store.h).
 *
 * Only dataagentd opens the database, from its single event-loop thread.
 * Every statement that carries a value is prepared and bound; the only
 * SQL text run with sqlite3_exec() is the fixed text in this file
 * (pragmas, transactions, migrations).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common.h"
#include "store.h"

struct store {
	sqlite3 *st_db;
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
	"CREATE INDEX audit_ts ON audit (ts);",
};
#define STORE_SCHEMA_LATEST \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

static void
store_seterr(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

static int
store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r,
    char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(st->st_db, sql, -1, stmt_r, NULL) !=
	    SQLITE_OK) {
		store_seterr(err, errlen, "prepare", st->st_db);
		*stmt_r = NULL;
		return -1;
	}
	return 0;
}

/* Binds a C string (NULL binds SQL NULL); the string must outlive the
 * statement's next step. */
static int
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

/* Runs fixed SQL text (no values) from this file. */
static int
store_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(st->st_db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s",
			    msg != NULL ? msg : sqlite3_errmsg(st->st_db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static void
store_rollback(struct store *st)
{
	(void)sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
}

/* Returns the schema version (0 for a fresh file) or -1 with err. */
static int
store_version_read(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (store_prepare(st, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_version", &stmt, err, errlen) == -1)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		sqlite3_int64 n = sqlite3_column_int64(stmt, 0);

		v = n < 0 || n > INT_MAX ? -1 : (int)n;
		if (v == -1 && err != NULL)
			snprintf(err, errlen, "bad schema version %lld",
			    (long long)n);
	} else
		store_seterr(err, errlen, "schema version", st->st_db);
	sqlite3_finalize(stmt);
	return v;
}

static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	char e[STORE_ERRLEN];
	int v, rc;

	if (store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version "
	    "(version INTEGER NOT NULL)", err, errlen) == -1)
		return -1;
	if ((v = store_version_read(st, err, errlen)) == -1)
		return -1;
	if (v > STORE_SCHEMA_LATEST) {
		snprintf(err, errlen, "database schema version %d is newer "
		    "than this dataagentd knows (%d)", v, STORE_SCHEMA_LATEST);
		return -1;
	}
	for (; v < STORE_SCHEMA_LATEST; v++) {
		if (store_exec(st, "BEGIN IMMEDIATE", err, errlen) == -1)
			return -1;
		if (store_exec(st, store_migrations[v], e, sizeof(e)) == -1) {
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
		sqlite3_bind_int(stmt, 1, v + 1);
		rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE) {
			store_seterr(err, errlen, "schema version", st->st_db);
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

/*
 * Creates the file 0600 ourselves so that SQLite (which would use 0644
 * under the usual umask) never makes it readable to tenants; the -wal and
 * -shm files inherit the database file's mode.
 */
static int
store_file_create(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	/* An existing file made by hand with a wider mode is narrowed. */
	if ((sb.st_mode & 077) != 0 && fchmod(fd, sb.st_mode & 0700) == -1) {
		snprintf(err, errlen, "%s: chmod: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
store_open(struct store **st_r, const char *path, char *err, size_t errlen)
{
	struct store *st;

	*st_r = NULL;
	if (store_file_create(path, err, errlen) == -1)
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		store_seterr(err, errlen, path, st->st_db);
		store_close(&st);
		return -1;
	}
	sqlite3_extended_result_codes(st->st_db, 1);
	if (sqlite3_busy_timeout(st->st_db, 5000) != SQLITE_OK ||
	    store_exec(st, "PRAGMA journal_mode = WAL", err, errlen) == -1 ||
	    /* WAL with NORMAL syncs at checkpoints, not on every commit: an
	     * audit row per tool call must not cost an fsync. A power loss
	     * may lose the last commits, never corrupt the file. */
	    store_exec(st, "PRAGMA synchronous = NORMAL", err, errlen) == -1 ||
	    store_exec(st, "PRAGMA foreign_keys = ON", err, errlen) == -1 ||
	    store_migrate(st, err, errlen) == -1) {
		store_close(&st);
		return -1;
	}
	*st_r = st;
	return 0;
}

void
store_close(struct store **st)
{
	if (*st == NULL)
		return;
	if ((*st)->st_db != NULL)
		sqlite3_close((*st)->st_db);
	free(*st);
	*st = NULL;
}

/* Returns the schema version, or -1 when it cannot be read. */
int
store_schema_version(struct store *st)
{
	return store_version_read(st, NULL, 0);
}

/* ------------------------------------------------------------ tenants */

static void
store_tenant_row(sqlite3_stmt *stmt, struct store_tenant *t)
{
	const unsigned char *id = sqlite3_column_text(stmt, 0);

	memset(t, 0, sizeof(*t));
	snprintf(t->st_id, sizeof(t->st_id), "%s",
	    id != NULL ? (const char *)id : "");
	t->st_uid = sqlite3_column_int(stmt, 1);
	t->st_enabled = sqlite3_column_int(stmt, 2) != 0;
	t->st_created = sqlite3_column_int64(stmt, 3);
}

int
store_tenant_get(struct store *st, const char *id, struct store_tenant *t,
    char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc, r;

	if (store_prepare(st, "SELECT id, uid, enabled, created FROM tenants "
	    "WHERE id = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_tenant_row(stmt, t);
		r = 1;
	} else if (rc == SQLITE_DONE)
		r = 0;
	else {
		store_seterr(err, errlen, "tenant get", st->st_db);
		r = -1;
	}
	sqlite3_finalize(stmt);
	return r;
}

/*
 * The uid is max(uid_base + 1, highest uid ever handed out + 1), chosen
 * and inserted inside one write transaction so two adds cannot collide
 * and a removed tenant's uid is never given to another.
 */
int
store_tenant_add(struct store *st, const char *id, int uid_base,
    struct store_tenant *t_r, char *err, size_t errlen)
{
	struct store_tenant t;
	sqlite3_stmt *stmt = NULL;
	sqlite3_int64 maxuid, uid;
	int rc;

	if (store_exec(st, "BEGIN IMMEDIATE", err, errlen) == -1)
		return -1;
	rc = store_tenant_get(st, id, &t, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			snprintf(err, errlen, "tenant %s already exists", id);
		goto fail;
	}
	if (store_prepare(st, "SELECT MAX(COALESCE((SELECT MAX(uid) "
	    "FROM tenants), 0), COALESCE((SELECT value FROM uid_high), 0))",
	    &stmt, err, errlen) == -1)
		goto fail;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_seterr(err, errlen, "tenant uid", st->st_db);
		goto fail;
	}
	maxuid = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	stmt = NULL;
	uid = (sqlite3_int64)uid_base + 1;
	if (maxuid + 1 > uid)
		uid = maxuid + 1;
	if (uid_base < 0 || uid > INT_MAX - 1) {
		snprintf(err, errlen, "no free tenant uid");
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
	sqlite3_bind_int(stmt, 2, t.st_uid);
	sqlite3_bind_int64(stmt, 3, t.st_created);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_seterr(err, errlen, "tenant add", st->st_db);
		goto fail;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (store_prepare(st, "INSERT OR REPLACE INTO uid_high (id, value) "
	    "VALUES (1, ?)", &stmt, err, errlen) == -1)
		goto fail;
	sqlite3_bind_int(stmt, 1, t.st_uid);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_seterr(err, errlen, "tenant uid", st->st_db);
		goto fail;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (store_exec(st, "COMMIT", err, errlen) == -1)
		goto fail;
	if (t_r != NULL)
		*t_r = t;
	return 0;
fail:
	sqlite3_finalize(stmt);
	store_rollback(st);
	return -1;
}

static void
store_limit_bind(sqlite3_stmt *stmt, int col, int64_t v)
{
	if (v == STORE_LIMIT_DEFAULT)
		sqlite3_bind_null(stmt, col);
	else
		sqlite3_bind_int64(stmt, col, v);
}

static int64_t
store_limit_col(sqlite3_stmt *stmt, int col)
{
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return STORE_LIMIT_DEFAULT;
	return sqlite3_column_int64(stmt, col);
}

int
store_tenant_limits_get(struct store *st, const char *id,
    struct store_limits *l, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc, r = 0;

	l->sl_memory_max = l->sl_swap_max = l->sl_pids_max =
	    l->sl_cpu_weight = STORE_LIMIT_DEFAULT;
	if (store_prepare(st, "SELECT memory_max, swap_max, pids_max, "
	    "cpu_weight FROM tenant_limits WHERE tenant = ?", &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		l->sl_memory_max = store_limit_col(stmt, 0);
		l->sl_swap_max = store_limit_col(stmt, 1);
		l->sl_pids_max = store_limit_col(stmt, 2);
		l->sl_cpu_weight = store_limit_col(stmt, 3);
		r = 1;
	} else if (rc != SQLITE_DONE) {
		store_seterr(err, errlen, "tenant limits", st->st_db);
		r = -1;
	}
	sqlite3_finalize(stmt);
	return r;
}

int
store_tenant_limits_set(struct store *st, const char *id,
    const struct store_limits *l, char *err, size_t errlen)
{
	struct store_tenant t;
	sqlite3_stmt *stmt;
	int r;

	if ((r = store_tenant_get(st, id, &t, err, errlen)) != 1)
		return r;
	if (store_prepare(st, "INSERT OR REPLACE INTO tenant_limits (tenant, "
	    "memory_max, swap_max, pids_max, cpu_weight) VALUES (?, ?, ?, ?, "
	    "?)", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	store_limit_bind(stmt, 2, l->sl_memory_max);
	store_limit_bind(stmt, 3, l->sl_swap_max);
	store_limit_bind(stmt, 4, l->sl_pids_max);
	store_limit_bind(stmt, 5, l->sl_cpu_weight);
	r = sqlite3_step(stmt) == SQLITE_DONE ? 1 : -1;
	if (r == -1)
		store_seterr(err, errlen, "tenant limits", st->st_db);
	sqlite3_finalize(stmt);
	return r;
}

/*
 * Steps a prepared statement (finalized here in every case) and collects
 * one JSON object per row from row(), which returns NULL with err set
 * for a row it cannot read. Returns the array, or NULL with err.
 */
typedef json_t *(*store_row_fn)(sqlite3_stmt *stmt, const void *arg,
    char *err, size_t errlen);

static json_t *
store_rows_json(struct store *st, sqlite3_stmt *stmt, store_row_fn row,
    const void *arg, const char *what, char *err, size_t errlen)
{
	json_t *list, *o;
	int rc;

	if ((list = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		sqlite3_finalize(stmt);
		return NULL;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((o = row(stmt, arg, err, errlen)) == NULL)
			goto fail;
		if (json_array_append_new(list, o) == -1) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		store_seterr(err, errlen, what, st->st_db);
		goto fail;
	}
	sqlite3_finalize(stmt);
	return list;
fail:
	sqlite3_finalize(stmt);
	json_decref(list);
	return NULL;
}

static json_t *
store_tenant_json_row(sqlite3_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	struct store_tenant t;
	json_t *o;

	store_tenant_row(stmt, &t);
	o = json_pack("{s:s,s:i,s:b,s:I,s:I}", "id", t.st_id, "uid",
	    t.st_uid, "enabled", t.st_enabled, "created",
	    (json_int_t)t.st_created, "servers",
	    (json_int_t)sqlite3_column_int64(stmt, 4));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_tenant_list(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT t.id, t.uid, t.enabled, t.created, "
	    "(SELECT COUNT(*) FROM servers s WHERE s.tenant = t.id) "
	    "FROM tenants t ORDER BY t.id", &stmt, err, errlen) == -1)
		return NULL;
	return store_rows_json(st, stmt, store_tenant_json_row, NULL,
	    "tenant list", err, errlen);
}

/* Runs a bound one-statement change; returns the rows it changed or -1. */
static int
store_change(struct store *st, sqlite3_stmt *stmt, const char *what,
    char *err, size_t errlen)
{
	int n;

	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_seterr(err, errlen, what, st->st_db);
		sqlite3_finalize(stmt);
		return -1;
	}
	/* Counts only the rows the statement itself changed, not the
	 * foreign-key cascades. */
	n = sqlite3_changes(st->st_db);
	sqlite3_finalize(stmt);
	return n;
}

int
store_tenant_set_enabled(struct store *st, const char *id, int enabled,
    char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(st, "UPDATE tenants SET enabled = ? WHERE id = ?",
	    &stmt, err, errlen) == -1)
		return -1;
	sqlite3_bind_int(stmt, 1, enabled ? 1 : 0);
	store_bind_text(stmt, 2, id);
	if ((n = store_change(st, stmt, "tenant enable", err, errlen)) == -1)
		return -1;
	return n > 0;
}

int
store_tenant_remove(struct store *st, const char *id, char *err,
    size_t errlen)
{
	sqlite3_stmt *stmt;
	int n;

	/* ON DELETE CASCADE (foreign_keys is on) removes the servers. */
	if (store_prepare(st, "DELETE FROM tenants WHERE id = ?", &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, id);
	if ((n = store_change(st, stmt, "tenant remove", err, errlen)) == -1)
		return -1;
	return n > 0;
}

/* ------------------------------------------------------------ servers */

int
store_server_put(struct store *st, const char *tenant, const json_t *srv,
    char *err, size_t errlen)
{
	const char *name, *transport, *command;
	const json_t *args, *env, *en, *hdrs, *opts;
	char *args_s = NULL, *env_s = NULL, *hdrs_s = NULL, *opts_s = NULL;
	const char *url;
	sqlite3_stmt *stmt;
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
	if (args_s == NULL || env_s == NULL || hdrs_s == NULL ||
	    opts_s == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (store_prepare(st, "INSERT INTO servers (tenant, name, transport, "
	    "command, args, env, enabled, url, headers, options) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "ON CONFLICT (tenant, name) DO UPDATE SET "
	    "transport = excluded.transport, command = excluded.command, "
	    "args = excluded.args, env = excluded.env, "
	    "enabled = excluded.enabled, url = excluded.url, "
	    "headers = excluded.headers, options = excluded.options",
	    &stmt, err, errlen) == -1)
		goto out;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	store_bind_text(stmt, 3, transport);
	store_bind_text(stmt, 4, command);
	store_bind_text(stmt, 5, args_s);
	store_bind_text(stmt, 6, env_s);
	sqlite3_bind_int(stmt, 7, en == NULL || json_is_true(en));
	store_bind_text(stmt, 8, url != NULL ? url : "");
	store_bind_text(stmt, 9, hdrs_s);
	store_bind_text(stmt, 10, opts_s);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		r = 0;
	else if (sqlite3_extended_errcode(st->st_db) ==
	    SQLITE_CONSTRAINT_FOREIGNKEY)
		snprintf(err, errlen, "no such tenant: %s", tenant);
	else
		store_seterr(err, errlen, "server put", st->st_db);
	sqlite3_finalize(stmt);
out:
	free(args_s);
	free(env_s);
	free(hdrs_s);
	free(opts_s);
	return r;
}

int
store_server_remove(struct store *st, const char *tenant, const char *name,
    char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(st, "DELETE FROM servers WHERE tenant = ? AND "
	    "name = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	if ((n = store_change(st, stmt, "server remove", err, errlen)) == -1)
		return -1;
	return n > 0;
}

static const char *
store_col_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);

	return s != NULL ? (const char *)s : "";
}

static json_t *
store_server_json_row(sqlite3_stmt *stmt, const void *arg, char *err,
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
	    "enabled", sqlite3_column_int(stmt, 5) != 0);
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
	return o;
}

json_t *
store_server_list(struct store *st, const char *tenant, char *err,
    size_t errlen)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT name, transport, command, args, env, "
	    "enabled, url, headers, options FROM servers WHERE tenant = ? "
	    "ORDER BY name", &stmt, err,
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
	sqlite3_stmt *stmt;

	if (store_prepare(st, "INSERT INTO audit (ts, actor, action, tenant, "
	    "detail) VALUES (?, ?, ?, ?, ?)", &stmt, NULL, 0) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, now_wall());
	store_bind_text(stmt, 2, actor);
	store_bind_text(stmt, 3, action);
	store_bind_text(stmt, 4, tenant);
	store_bind_text(stmt, 5, detail);
	return store_change(st, stmt, "audit", NULL, 0) == -1 ? -1 : 0;
}

static json_t *
store_col_json_string(sqlite3_stmt *stmt, int col)
{
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return json_null();
	return json_string(store_col_text(stmt, col));
}

/* limit <= 0 means every row. */
static json_t *
store_audit_json_row(sqlite3_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:I,s:o,s:o,s:o,s:o}", "ts",
	    (json_int_t)sqlite3_column_int64(stmt, 0),
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
	sqlite3_stmt *stmt;

	if (store_prepare(st, tenant != NULL ?
	    "SELECT ts, actor, action, tenant, detail FROM audit "
	    "WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2" :
	    "SELECT ts, actor, action, tenant, detail FROM audit "
	    "ORDER BY id DESC LIMIT ?2", &stmt, err, errlen) == -1)
		return NULL;
	if (tenant != NULL)
		store_bind_text(stmt, 1, tenant);
	sqlite3_bind_int(stmt, 2, limit > 0 ? limit : -1);
	return store_rows_json(st, stmt, store_audit_json_row, NULL,
	    "audit list", err, errlen);
}

/* ------------------------------------------------------------ secrets */

int
store_begin(struct store *st, char *err, size_t errlen)
{
	return store_exec(st, "BEGIN IMMEDIATE", err, errlen);
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
	sqlite3_stmt *stmt;
	int64_t now = now_wall();
	int rc, r = -1;

	if (store_prepare(st, "INSERT INTO secrets (tenant, name, nonce, "
	    "ciphertext, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
	    "ON CONFLICT (tenant, name) DO UPDATE SET nonce = excluded.nonce, "
	    "ciphertext = excluded.ciphertext, updated = excluded.updated",
	    &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	sqlite3_bind_blob(stmt, 3, nonce, (int)noncelen, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 4, ct, (int)ctlen, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		r = 0;
	else if (sqlite3_extended_errcode(st->st_db) ==
	    SQLITE_CONSTRAINT_FOREIGNKEY)
		snprintf(err, errlen, "no such tenant: %s", tenant);
	else
		store_seterr(err, errlen, "secret put", st->st_db);
	sqlite3_finalize(stmt);
	return r;
}

/* Copies a blob column into a malloc'd buffer. */
static int
store_col_blob(sqlite3_stmt *stmt, int col, uint8_t **out_r, size_t *len_r)
{
	const void *b = sqlite3_column_blob(stmt, col);
	int n = sqlite3_column_bytes(stmt, col);

	*out_r = malloc(n > 0 ? (size_t)n : 1);
	if (*out_r == NULL)
		return -1;
	if (n > 0)
		memcpy(*out_r, b, (size_t)n);
	*len_r = n > 0 ? (size_t)n : 0;
	return 0;
}

int
store_secret_get(struct store *st, const char *tenant, const char *name,
    struct store_secret *s, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc, r;

	memset(s, 0, sizeof(*s));
	if (store_prepare(st, "SELECT nonce, ciphertext, created, updated "
	    "FROM secrets WHERE tenant = ? AND name = ?", &stmt, err,
	    errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		snprintf(s->ss_tenant, sizeof(s->ss_tenant), "%s", tenant);
		snprintf(s->ss_name, sizeof(s->ss_name), "%s", name);
		s->ss_created = sqlite3_column_int64(stmt, 2);
		s->ss_updated = sqlite3_column_int64(stmt, 3);
		r = 1;
		if (store_col_blob(stmt, 0, &s->ss_nonce, &s->ss_noncelen) ==
		    -1 || store_col_blob(stmt, 1, &s->ss_ct, &s->ss_ctlen) ==
		    -1) {
			store_secret_clear(s);
			snprintf(err, errlen, "out of memory");
			r = -1;
		}
	} else if (rc == SQLITE_DONE)
		r = 0;
	else {
		store_seterr(err, errlen, "secret get", st->st_db);
		r = -1;
	}
	sqlite3_finalize(stmt);
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
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(st, "DELETE FROM secrets WHERE tenant = ? AND "
	    "name = ?", &stmt, err, errlen) == -1)
		return -1;
	store_bind_text(stmt, 1, tenant);
	store_bind_text(stmt, 2, name);
	if ((n = store_change(st, stmt, "secret remove", err, errlen)) == -1)
		return -1;
	return n > 0;
}

static json_t *
store_secret_json_row(sqlite3_stmt *stmt, const void *arg, char *err,
    size_t errlen)
{
	json_t *o;

	o = json_pack("{s:s,s:I,s:I}", "name", store_col_text(stmt, 0),
	    "created", (json_int_t)sqlite3_column_int64(stmt, 1),
	    "updated", (json_int_t)sqlite3_column_int64(stmt, 2));
	if (o == NULL)
		snprintf(err, errlen, "out of memory");
	return o;
}

json_t *
store_secret_list(struct store *st, const char *tenant, char *err,
    size_t errlen)
{
	sqlite3_stmt *stmt;

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
	sqlite3_stmt *stmt;
	struct store_secret *rows = NULL, *tmp, *s;
	size_t n = 0, cap = 0;
	int rc;

	*rows_r = NULL;
	*n_r = 0;
	if (store_prepare(st, "SELECT tenant, name, nonce, ciphertext, "
	    "created, updated FROM secrets ORDER BY tenant, name", &stmt, err,
	    errlen) == -1)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
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
		s->ss_created = sqlite3_column_int64(stmt, 4);
		s->ss_updated = sqlite3_column_int64(stmt, 5);
		if (store_col_blob(stmt, 2, &s->ss_nonce, &s->ss_noncelen) ==
		    -1 || store_col_blob(stmt, 3, &s->ss_ct, &s->ss_ctlen) == -1)
			goto oom;
	}
	if (rc != SQLITE_DONE) {
		store_seterr(err, errlen, "secret list", st->st_db);
		sqlite3_finalize(stmt);
		store_secret_free_all(&rows, n);
		return -1;
	}
	sqlite3_finalize(stmt);
	*rows_r = rows;
	*n_r = n;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	sqlite3_finalize(stmt);
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
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(st, "UPDATE secrets SET nonce = ?, ciphertext = ? "
	    "WHERE tenant = ? AND name = ?", &stmt, err, errlen) == -1)
		return -1;
	sqlite3_bind_blob(stmt, 1, nonce, (int)noncelen, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 2, ct, (int)ctlen, SQLITE_STATIC);
	store_bind_text(stmt, 3, tenant);
	store_bind_text(stmt, 4, name);
	if ((n = store_change(st, stmt, "secret update", err, errlen)) == -1)
		return -1;
	return n > 0;
}

int
store_secret_count(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int n = -1;

	if (store_prepare(st, "SELECT COUNT(*) FROM secrets", &stmt, err,
	    errlen) == -1)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	else
		store_seterr(err, errlen, "secret count", st->st_db);
	sqlite3_finalize(stmt);
	return n;
}
