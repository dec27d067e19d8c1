/*
 * db.c: SQLite and MySQL/MariaDB behind the one statement interface of
 * db.h. Only the supervisor links it; only the store calls it.
 *
 * MySQL notes. Values travel only as bound parameters of server-side
 * prepared statements; fixed SQL from our own sources (schema, BEGIN)
 * goes through mysql_real_query, one statement at a time
 * (CLIENT_MULTI_STATEMENTS stays off). The library's automatic
 * reconnect stays off too: it would silently drop a transaction. When
 * the server goes away the failing call reports DB_ERR_GONE and the
 * next call reconnects, so an admin command in flight fails whole and
 * the next one works. Results are buffered client-side
 * (mysql_stmt_store_result): the store's queries return few rows, and a
 * buffered result never leaves the connection "out of sync".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <sqlite3.h>

#include "db.h"

struct db_param {
	enum enum_field_types dp_type;
	void *dp_buf;			/* owned copy (text, blob) */
	unsigned long dp_len;
	long long dp_int;
	my_bool dp_null;
};

struct db {
	enum db_backend db_kind;
	char db_desc[CONFIG_STRLEN + 512];
	enum db_error db_err;
	char db_msg[256];		/* the last error's text */
	sqlite3 *db_sq;
	MYSQL *db_my;
	int db_my_broken;
	int64_t db_my_retry_ms;		/* no reconnect before this */
	struct dburl db_url;		/* mysql: to reconnect */
	void (*db_timer)(void *, int64_t);
	void *db_timer_arg;
};

struct db_stmt {
	struct db *st_db;
	sqlite3_stmt *st_sq;
	int64_t st_changes;
	int64_t st_run_ns;		/* time spent in its steps */
	int st_stepped;
	/* mysql */
	MYSQL_STMT *st_my;
	int st_executed;
	int st_nparams;
	struct db_param *st_params;
	MYSQL_BIND *st_pbind;
	int st_ncols;
	MYSQL_BIND *st_rbind;
	unsigned long *st_rlen;
	my_bool *st_rnull;
	char **st_rbuf;
	size_t *st_rcap;
};

/* Columns start with this much room; longer values are fetched again. */
#define DB_COL_INITIAL 256

static int64_t
db_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
db_set_timer(struct db *db, void (*fn)(void *, int64_t), void *arg)
{
	db->db_timer = fn;
	db->db_timer_arg = arg;
}

enum db_backend
db_backend(const struct db *db)
{
	return db->db_kind;
}

const char *
db_describe(const struct db *db)
{
	return db->db_desc;
}

enum db_error
db_last_error(const struct db *db)
{
	return db->db_err;
}

const char *
db_errmsg(const struct db *db)
{
	return db->db_msg[0] != '\0' ? db->db_msg : "unknown error";
}

/* ------------------------------------------------------------ sqlite */

static void
sq_seterr(struct db *db, char *err, size_t errlen, const char *what)
{
	int code = db->db_sq != NULL ? sqlite3_errcode(db->db_sq) : SQLITE_NOMEM;

	db->db_err = code == SQLITE_CONSTRAINT ? DB_ERR_CONSTRAINT :
	    DB_ERR_OTHER;
	snprintf(db->db_msg, sizeof(db->db_msg), "%s", db->db_sq != NULL ?
	    sqlite3_errmsg(db->db_sq) : "out of memory");
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, db->db_msg);
}

/*
 * Creates the file 0600 ourselves so that SQLite (which would use 0644
 * under the usual umask) never makes it readable to tenants; the -wal and
 * -shm files inherit the database file's mode.
 */
static int
sq_file_create(const char *path, char *err, size_t errlen)
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

static int
sq_open(struct db *db, const char *path, char *err, size_t errlen)
{
	snprintf(db->db_desc, sizeof(db->db_desc), "sqlite %s", path);
	if (sq_file_create(path, err, errlen) == -1)
		return -1;
	if (sqlite3_open_v2(path, &db->db_sq, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sq_seterr(db, err, errlen, path);
		return -1;
	}
	sqlite3_extended_result_codes(db->db_sq, 0);
	if (sqlite3_busy_timeout(db->db_sq, 5000) != SQLITE_OK ||
	    db_exec(db, "PRAGMA journal_mode = WAL", err, errlen) == -1 ||
	    /* WAL with NORMAL syncs at checkpoints, not on every commit: an
	     * audit row per tool call must not cost an fsync. A power loss
	     * may lose the last commits, never corrupt the file. */
	    db_exec(db, "PRAGMA synchronous = NORMAL", err, errlen) == -1 ||
	    db_exec(db, "PRAGMA foreign_keys = ON", err, errlen) == -1)
		return -1;
	return 0;
}

/* ------------------------------------------------------------- mysql */

static int
my_gone(unsigned int code)
{
	return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
	    code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR ||
	    code == ER_CONNECTION_KILLED || code == ER_SERVER_SHUTDOWN ||
	    code == CR_SERVER_LOST_EXTENDED;
}

static void
my_classify(struct db *db, unsigned int code)
{
	if (my_gone(code)) {
		db->db_err = DB_ERR_GONE;
		db->db_my_broken = 1;
	} else if (code == ER_DUP_ENTRY || code == ER_DUP_KEY ||
	    code == ER_NO_REFERENCED_ROW_2 || code == ER_ROW_IS_REFERENCED_2 ||
	    code == ER_NO_REFERENCED_ROW || code == ER_ROW_IS_REFERENCED)
		db->db_err = DB_ERR_CONSTRAINT;
	else
		db->db_err = DB_ERR_OTHER;
}

static void
my_seterr(struct db *db, char *err, size_t errlen, const char *what)
{
	my_classify(db, mysql_errno(db->db_my));
	snprintf(db->db_msg, sizeof(db->db_msg), "%s (%u)",
	    mysql_error(db->db_my), mysql_errno(db->db_my));
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, db->db_msg);
}

static void
my_stmt_seterr(struct db_stmt *st, char *err, size_t errlen,
    const char *what)
{
	my_classify(st->st_db, mysql_stmt_errno(st->st_my));
	snprintf(st->st_db->db_msg, sizeof(st->st_db->db_msg), "%s (%u)",
	    mysql_stmt_error(st->st_my), mysql_stmt_errno(st->st_my));
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, st->st_db->db_msg);
}

static int
my_query(struct db *db, const char *sql, size_t len, char *err,
    size_t errlen)
{
	MYSQL_RES *res;

	if (mysql_real_query(db->db_my, sql, len) != 0) {
		my_seterr(db, err, errlen, "query");
		return -1;
	}
	/* A statement that returns rows (none of ours should) is drained. */
	if ((res = mysql_store_result(db->db_my)) != NULL)
		mysql_free_result(res);
	return 0;
}

static int
my_connect(struct db *db, char *err, size_t errlen)
{
	const struct dburl *u = &db->db_url;
	unsigned int timeout;
	my_bool on = 1, off = 0;

	if (db->db_my != NULL) {
		mysql_close(db->db_my);
		db->db_my = NULL;
	}
	db->db_my_broken = 0;
	if ((db->db_my = mysql_init(NULL)) == NULL) {
		snprintf(err, errlen, "mysql_init: out of memory");
		return -1;
	}
	timeout = 5;
	mysql_options(db->db_my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db->db_my, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(db->db_my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	mysql_options(db->db_my, MYSQL_OPT_RECONNECT, &off);
	mysql_options(db->db_my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* No option files: what the URL says is what is used. */
	if (u->db_ssl != DBURL_SSL_DEFAULT && u->db_ssl != DBURL_SSL_DISABLED) {
		mysql_ssl_set(db->db_my,
		    u->db_ssl_key[0] != '\0' ? u->db_ssl_key : NULL,
		    u->db_ssl_cert[0] != '\0' ? u->db_ssl_cert : NULL,
		    u->db_ssl_ca[0] != '\0' ? u->db_ssl_ca : NULL, NULL, NULL);
		mysql_options(db->db_my, MYSQL_OPT_SSL_ENFORCE, &on);
		/* Connector/C checks the chain and the host name together:
		 * verify_ca is as strict as verify_identity here. */
		mysql_options(db->db_my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
		    u->db_ssl == DBURL_SSL_REQUIRED ? &off : &on);
	}
	if (mysql_real_connect(db->db_my,
	    u->db_host[0] != '\0' ? u->db_host : NULL, u->db_user,
	    u->db_password, u->db_name, (unsigned int)u->db_port,
	    u->db_socket[0] != '\0' ? u->db_socket : NULL,
	    CLIENT_FOUND_ROWS) == NULL) {
		my_seterr(db, err, errlen, "connect");
		db->db_err = DB_ERR_GONE;
		db->db_my_broken = 1;
		return -1;
	}
	if (u->db_ssl >= DBURL_SSL_REQUIRED &&
	    mysql_get_ssl_cipher(db->db_my) == NULL) {
		snprintf(err, errlen, "connect: TLS was asked for but the "
		    "connection is not encrypted");
		db->db_my_broken = 1;
		return -1;
	}
	if (my_query(db, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,"
	    "NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
	    "NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES'",
	    strlen("SET SESSION sql_mode = 'STRICT_ALL_TABLES,"
	    "NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
	    "NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES'"), err, errlen) == -1 ||
	    db_exec(db, "SET SESSION TRANSACTION ISOLATION LEVEL READ "
	    "COMMITTED", err, errlen) == -1 ||
	    db_exec(db, "SET SESSION time_zone = '+00:00'", err, errlen) == -1)
		return -1;
	return 0;
}

/* Reconnects when the last call found the server gone. */
static int
my_ready(struct db *db, char *err, size_t errlen)
{
	char e[256];

	if (!db->db_my_broken)
		return 0;
	if (now_mono_ms() < db->db_my_retry_ms) {
		db->db_err = DB_ERR_GONE;
		snprintf(db->db_msg, sizeof(db->db_msg), "the database server "
		    "is unreachable (retrying)");
		snprintf(err, errlen, "%s", db->db_msg);
		return -1;
	}
	if (my_connect(db, e, sizeof(e)) == -1) {
		db->db_my_retry_ms = now_mono_ms() + 1000;
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	log_info("store: reconnected", "{s:s}", "store", db->db_desc);
	return 0;
}

static int
my_open(struct db *db, const struct dburl *u, char *err, size_t errlen)
{
	db->db_url = *u;
	if (u->db_socket[0] != '\0')
		snprintf(db->db_desc, sizeof(db->db_desc), "mysql %s@%s/%s",
		    u->db_user, u->db_socket, u->db_name);
	else
		snprintf(db->db_desc, sizeof(db->db_desc), "mysql %s@%s:%d/%s",
		    u->db_user, u->db_host, u->db_port, u->db_name);
	return my_connect(db, err, errlen);
}

static void
my_stmt_free_results(struct db_stmt *st)
{
	int i;

	for (i = 0; i < st->st_ncols; i++)
		free(st->st_rbuf[i]);
	free(st->st_rbuf);
	free(st->st_rcap);
	free(st->st_rlen);
	free(st->st_rnull);
	free(st->st_rbind);
	st->st_rbuf = NULL;
	st->st_rcap = NULL;
	st->st_rlen = NULL;
	st->st_rnull = NULL;
	st->st_rbind = NULL;
	st->st_ncols = 0;
}

static int
my_stmt_results(struct db_stmt *st, int ncols, char *err, size_t errlen)
{
	int i;

	st->st_ncols = ncols;
	st->st_rbind = calloc((size_t)ncols, sizeof(*st->st_rbind));
	st->st_rlen = calloc((size_t)ncols, sizeof(*st->st_rlen));
	st->st_rnull = calloc((size_t)ncols, sizeof(*st->st_rnull));
	st->st_rbuf = calloc((size_t)ncols, sizeof(*st->st_rbuf));
	st->st_rcap = calloc((size_t)ncols, sizeof(*st->st_rcap));
	if (st->st_rbind == NULL || st->st_rlen == NULL ||
	    st->st_rnull == NULL || st->st_rbuf == NULL || st->st_rcap == NULL)
		goto oom;
	for (i = 0; i < ncols; i++) {
		if ((st->st_rbuf[i] = malloc(DB_COL_INITIAL)) == NULL)
			goto oom;
		st->st_rcap[i] = DB_COL_INITIAL;
		/* Everything is fetched as bytes: integers arrive as their
		 * decimal text, blobs as they are. */
		st->st_rbind[i].buffer_type = MYSQL_TYPE_STRING;
		st->st_rbind[i].buffer = st->st_rbuf[i];
		st->st_rbind[i].buffer_length = DB_COL_INITIAL - 1;
		st->st_rbind[i].length = &st->st_rlen[i];
		st->st_rbind[i].is_null = &st->st_rnull[i];
	}
	if (mysql_stmt_bind_result(st->st_my, st->st_rbind) != 0) {
		my_stmt_seterr(st, err, errlen, "bind result");
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
my_fetch(struct db_stmt *st, char *err, size_t errlen)
{
	int rc, i, rebind = 0;
	char *nb;

	rc = mysql_stmt_fetch(st->st_my);
	if (rc == MYSQL_NO_DATA)
		return DB_DONE;
	if (rc == 1) {
		my_stmt_seterr(st, err, errlen, "fetch");
		return -1;
	}
	for (i = 0; i < st->st_ncols; i++) {
		if (st->st_rnull[i]) {
			st->st_rbuf[i][0] = '\0';
			continue;
		}
		if (st->st_rlen[i] + 1 > st->st_rcap[i]) {
			if ((nb = realloc(st->st_rbuf[i], st->st_rlen[i] + 1))
			    == NULL) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			st->st_rbuf[i] = nb;
			st->st_rcap[i] = st->st_rlen[i] + 1;
			st->st_rbind[i].buffer = nb;
			st->st_rbind[i].buffer_length = st->st_rlen[i];
			if (mysql_stmt_fetch_column(st->st_my, &st->st_rbind[i],
			    (unsigned int)i, 0) != 0) {
				my_stmt_seterr(st, err, errlen, "fetch column");
				return -1;
			}
			st->st_rbind[i].buffer_length = st->st_rcap[i] - 1;
			rebind = 1;
		}
		st->st_rbuf[i][st->st_rlen[i]] = '\0';
	}
	if (rebind && mysql_stmt_bind_result(st->st_my, st->st_rbind) != 0) {
		my_stmt_seterr(st, err, errlen, "bind result");
		return -1;
	}
	return DB_ROW;
}

static int
my_execute(struct db_stmt *st, char *err, size_t errlen)
{
	MYSQL_RES *meta;
	int i, ncols;

	for (i = 0; i < st->st_nparams; i++) {
		struct db_param *p = &st->st_params[i];
		MYSQL_BIND *b = &st->st_pbind[i];

		memset(b, 0, sizeof(*b));
		b->buffer_type = p->dp_type;
		b->is_null = &p->dp_null;
		if (p->dp_type == MYSQL_TYPE_LONGLONG) {
			b->buffer = &p->dp_int;
		} else {
			b->buffer = p->dp_buf;
			b->buffer_length = p->dp_len;
			b->length = &p->dp_len;
		}
	}
	if (st->st_nparams > 0 &&
	    mysql_stmt_bind_param(st->st_my, st->st_pbind) != 0) {
		my_stmt_seterr(st, err, errlen, "bind");
		return -1;
	}
	if (mysql_stmt_execute(st->st_my) != 0) {
		my_stmt_seterr(st, err, errlen, "execute");
		return -1;
	}
	st->st_executed = 1;
	st->st_changes = (int64_t)mysql_stmt_affected_rows(st->st_my);
	if ((meta = mysql_stmt_result_metadata(st->st_my)) == NULL)
		return DB_DONE;
	ncols = (int)mysql_num_fields(meta);
	mysql_free_result(meta);
	if (my_stmt_results(st, ncols, err, errlen) == -1)
		return -1;
	if (mysql_stmt_store_result(st->st_my) != 0) {
		my_stmt_seterr(st, err, errlen, "store result");
		return -1;
	}
	return my_fetch(st, err, errlen);
}

static struct db_param *
my_param(struct db_stmt *st, int idx)
{
	if (idx < 1 || idx > st->st_nparams)
		return NULL;
	free(st->st_params[idx - 1].dp_buf);
	memset(&st->st_params[idx - 1], 0, sizeof(st->st_params[0]));
	return &st->st_params[idx - 1];
}

/* ------------------------------------------------------------ common */

int
db_open(struct db **db_r, const struct dburl *u, char *err, size_t errlen)
{
	struct db *db;
	int rc;

	*db_r = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (u->db_kind == DBURL_MYSQL) {
		db->db_kind = DB_MYSQL;
		rc = my_open(db, u, err, errlen);
	} else {
		db->db_kind = DB_SQLITE;
		rc = sq_open(db, u->db_path, err, errlen);
	}
	if (rc == -1) {
		db_close(&db);
		return -1;
	}
	*db_r = db;
	return 0;
}

void
db_close(struct db **dbp)
{
	struct db *db = *dbp;

	if (db == NULL)
		return;
	if (db->db_sq != NULL)
		sqlite3_close(db->db_sq);
	if (db->db_my != NULL)
		mysql_close(db->db_my);
	explicit_bzero(&db->db_url, sizeof(db->db_url));
	free(db);
	*dbp = NULL;
}

/*
 * Fixed SQL from our own sources. For MySQL a text holding several
 * statements is run one statement at a time, split at ';' (our schema
 * has no ';' inside literals).
 */
static int db_exec_run(struct db *, const char *, char *, size_t);

int
db_exec(struct db *db, const char *sql, char *err, size_t errlen)
{
	int64_t t0 = db_now_ns();
	int rc;

	rc = db_exec_run(db, sql, err, errlen);
	if (db->db_timer != NULL)
		db->db_timer(db->db_timer_arg, db_now_ns() - t0);
	return rc;
}

static int
db_exec_run(struct db *db, const char *sql, char *err, size_t errlen)
{
	const char *p, *end;
	char *msg = NULL;

	db->db_err = DB_ERR_NONE;
	if (db->db_kind == DB_SQLITE) {
		if (sqlite3_exec(db->db_sq, sql, NULL, NULL, &msg) !=
		    SQLITE_OK) {
			sq_seterr(db, NULL, 0, "exec");
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "%s", msg != NULL ? msg :
				    sqlite3_errmsg(db->db_sq));
			sqlite3_free(msg);
			return -1;
		}
		return 0;
	}
	if (my_ready(db, err, errlen) == -1)
		return -1;
	for (p = sql; *p != '\0'; p = *end == ';' ? end + 1 : end) {
		if ((end = strchr(p, ';')) == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
			p++;
		if (p == end)
			continue;
		if (my_query(db, p, (size_t)(end - p), err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
db_begin(struct db *db, char *err, size_t errlen)
{
	/* SQLite: take the write lock now, so a transaction that reads
	 * then writes never fails half-way on a busy database. */
	return db_exec(db, db->db_kind == DB_SQLITE ? "BEGIN IMMEDIATE" :
	    "START TRANSACTION", err, errlen);
}

int
db_commit(struct db *db, char *err, size_t errlen)
{
	return db_exec(db, "COMMIT", err, errlen);
}

void
db_rollback(struct db *db)
{
	char err[256];
	enum db_error saved = db->db_err;

	if (db->db_kind == DB_MYSQL && db->db_my_broken)
		return;		/* the server rolled it back with the session */
	if (db_exec(db, "ROLLBACK", err, sizeof(err)) == -1)
		log_warn("store: rollback failed", "{s:s}", "error", err);
	db->db_err = saved;
}

int
db_prepare(struct db *db, const char *sql, struct db_stmt **stmt_r,
    char *err, size_t errlen)
{
	struct db_stmt *st;
	unsigned long n;

	*stmt_r = NULL;
	db->db_err = DB_ERR_NONE;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->st_db = db;
	if (db->db_kind == DB_SQLITE) {
		if (sqlite3_prepare_v2(db->db_sq, sql, -1, &st->st_sq, NULL) !=
		    SQLITE_OK) {
			sq_seterr(db, err, errlen, "prepare");
			free(st);
			return -1;
		}
		*stmt_r = st;
		return 0;
	}
	if (my_ready(db, err, errlen) == -1) {
		free(st);
		return -1;
	}
	if ((st->st_my = mysql_stmt_init(db->db_my)) == NULL) {
		my_seterr(db, err, errlen, "prepare");
		free(st);
		return -1;
	}
	if (mysql_stmt_prepare(st->st_my, sql, strlen(sql)) != 0) {
		my_stmt_seterr(st, err, errlen, "prepare");
		db_finalize(&st);
		return -1;
	}
	n = mysql_stmt_param_count(st->st_my);
	st->st_nparams = (int)n;
	if (n > 0 && ((st->st_params = calloc(n, sizeof(*st->st_params))) ==
	    NULL || (st->st_pbind = calloc(n, sizeof(*st->st_pbind))) == NULL)) {
		snprintf(err, errlen, "out of memory");
		db_finalize(&st);
		return -1;
	}
	for (n = 0; n < (unsigned long)st->st_nparams; n++) {
		st->st_params[n].dp_type = MYSQL_TYPE_NULL;
		st->st_params[n].dp_null = 1;
	}
	*stmt_r = st;
	return 0;
}

int
db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	struct db_param *p;

	if (s == NULL)
		return db_bind_null(st, idx);
	if (st->st_sq != NULL)
		return sqlite3_bind_text(st->st_sq, idx, s, -1,
		    SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
	if ((p = my_param(st, idx)) == NULL ||
	    (p->dp_buf = strdup(s)) == NULL)
		return -1;
	p->dp_type = MYSQL_TYPE_STRING;
	p->dp_len = strlen(s);
	return 0;
}

int
db_bind_int(struct db_stmt *st, int idx, int64_t v)
{
	struct db_param *p;

	if (st->st_sq != NULL)
		return sqlite3_bind_int64(st->st_sq, idx, v) == SQLITE_OK ?
		    0 : -1;
	if ((p = my_param(st, idx)) == NULL)
		return -1;
	p->dp_type = MYSQL_TYPE_LONGLONG;
	p->dp_int = v;
	return 0;
}

int
db_bind_blob(struct db_stmt *st, int idx, const void *v, size_t len)
{
	struct db_param *p;

	if (st->st_sq != NULL)
		return sqlite3_bind_blob(st->st_sq, idx, len > 0 ? v : "",
		    (int)len, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
	if ((p = my_param(st, idx)) == NULL ||
	    (p->dp_buf = malloc(len > 0 ? len : 1)) == NULL)
		return -1;
	memcpy(p->dp_buf, v, len);
	p->dp_type = MYSQL_TYPE_BLOB;
	p->dp_len = (unsigned long)len;
	return 0;
}

int
db_bind_null(struct db_stmt *st, int idx)
{
	struct db_param *p;

	if (st->st_sq != NULL)
		return sqlite3_bind_null(st->st_sq, idx) == SQLITE_OK ? 0 : -1;
	if ((p = my_param(st, idx)) == NULL)
		return -1;
	p->dp_type = MYSQL_TYPE_NULL;
	p->dp_null = 1;
	return 0;
}

static int db_step_run(struct db_stmt *, char *, size_t);

int
db_step(struct db_stmt *st, char *err, size_t errlen)
{
	int64_t t0 = db_now_ns();
	int rc;

	rc = db_step_run(st, err, errlen);
	st->st_run_ns += db_now_ns() - t0;
	st->st_stepped = 1;
	return rc;
}

static int
db_step_run(struct db_stmt *st, char *err, size_t errlen)
{
	int rc;

	st->st_db->db_err = DB_ERR_NONE;
	if (st->st_sq != NULL) {
		rc = sqlite3_step(st->st_sq);
		if (rc == SQLITE_ROW)
			return DB_ROW;
		if (rc == SQLITE_DONE) {
			st->st_changes = sqlite3_changes(st->st_db->db_sq);
			return DB_DONE;
		}
		sq_seterr(st->st_db, err, errlen, "step");
		return -1;
	}
	if (!st->st_executed)
		return my_execute(st, err, errlen);
	if (st->st_ncols == 0)
		return DB_DONE;
	return my_fetch(st, err, errlen);
}

int64_t
db_changes(const struct db_stmt *st)
{
	return st->st_changes;
}

int
db_col_is_null(struct db_stmt *st, int col)
{
	if (st->st_sq != NULL)
		return sqlite3_column_type(st->st_sq, col) == SQLITE_NULL;
	return col < 0 || col >= st->st_ncols || st->st_rnull[col];
}

int64_t
db_col_int(struct db_stmt *st, int col)
{
	if (st->st_sq != NULL)
		return sqlite3_column_int64(st->st_sq, col);
	if (db_col_is_null(st, col))
		return 0;
	return strtoll(st->st_rbuf[col], NULL, 10);
}

const char *
db_col_text(struct db_stmt *st, int col)
{
	if (st->st_sq != NULL)
		return (const char *)sqlite3_column_text(st->st_sq, col);
	if (db_col_is_null(st, col))
		return NULL;
	return st->st_rbuf[col];
}

const uint8_t *
db_col_blob(struct db_stmt *st, int col, size_t *len_r)
{
	const uint8_t *p;

	if (st->st_sq != NULL) {
		p = sqlite3_column_blob(st->st_sq, col);
		*len_r = (size_t)sqlite3_column_bytes(st->st_sq, col);
		return p;
	}
	if (db_col_is_null(st, col)) {
		*len_r = 0;
		return NULL;
	}
	*len_r = st->st_rlen[col];
	return (const uint8_t *)st->st_rbuf[col];
}

void
db_finalize(struct db_stmt **stp)
{
	struct db_stmt *st = *stp;
	int i;

	if (st == NULL)
		return;
	if (st->st_stepped && st->st_db->db_timer != NULL)
		st->st_db->db_timer(st->st_db->db_timer_arg, st->st_run_ns);
	if (st->st_sq != NULL)
		sqlite3_finalize(st->st_sq);
	if (st->st_my != NULL)
		mysql_stmt_close(st->st_my);
	my_stmt_free_results(st);
	for (i = 0; i < st->st_nparams; i++) {
		if (st->st_params[i].dp_buf != NULL) {
			explicit_bzero(st->st_params[i].dp_buf,
			    st->st_params[i].dp_len);
			free(st->st_params[i].dp_buf);
		}
	}
	free(st->st_params);
	free(st->st_pbind);
	free(st);
	*stp = NULL;
}
