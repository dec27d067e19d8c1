/*
 * test_db.c: the statement interface (supervisor/db.c) on both backends:
 * a fresh SQLite file, and a real MariaDB when DATAAGENT_TEST_MYSQL_URL
 * names one (tests/run.sh starts a private server with tests/mariadb.sh
 * and sets it; without it the MySQL cases are reported as skipped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "db.h"
#include "unit.h"

/* The harness keeps a case's name until the next case: names made at
 * run time live here. */
static const char *
case_name(const char *name)
{
	static char names[16][128];
	static int n;

	n = (n + 1) % 16;
	snprintf(names[n], sizeof(names[n]), "%s", name);
	return names[n];
}

static const char *
ddl(struct db *db)
{
	if (db_backend(db) == DB_MYSQL)
		return "DROP TABLE IF EXISTS t;"
		    "CREATE TABLE t (k VARCHAR(64) PRIMARY KEY, n BIGINT,"
		    " b LONGBLOB, s LONGTEXT) ENGINE=InnoDB";
	return "DROP TABLE IF EXISTS t;"
	    "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB, s TEXT)";
}

static int
put(struct db *db, const char *k, int64_t n, const void *b, size_t blen,
    const char *s, char *err, size_t errlen)
{
	struct db_stmt *st;
	int rc;

	if (db_prepare(db, "INSERT INTO t (k, n, b, s) VALUES (?, ?, ?, ?)",
	    &st, err, errlen) == -1)
		return -1;
	db_bind_text(st, 1, k);
	db_bind_int(st, 2, n);
	if (b != NULL)
		db_bind_blob(st, 3, b, blen);
	else
		db_bind_null(st, 3);
	db_bind_text(st, 4, s);
	rc = db_step(st, err, errlen);
	db_finalize(&st);
	return rc == DB_DONE ? 0 : -1;
}

static int64_t
count(struct db *db)
{
	struct db_stmt *st;
	char err[256];
	int64_t n = -1;

	if (db_prepare(db, "SELECT COUNT(*) FROM t", &st, err,
	    sizeof(err)) == -1)
		return -1;
	if (db_step(st, err, sizeof(err)) == DB_ROW)
		n = db_col_int(st, 0);
	db_finalize(&st);
	return n;
}

static void
battery(struct db *db, const char *name)
{
	char err[512], casename[128];
	struct db_stmt *st;
	uint8_t blob[300];
	char *big;
	const uint8_t *bp;
	size_t blen, i;
	int rows;

	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;		/* NULs and high bytes */
	big = malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = '\0';

	snprintf(casename, sizeof(casename), "%s: schema and typed round trip",
	    name);
	UNIT_CASE(case_name(casename));
	UNIT_CHECK(db_exec(db, ddl(db), err, sizeof(err)) == 0);
	UNIT_CHECK(put(db, "a", -5, blob, sizeof(blob), "h\xc3\xa9llo ' \" ;",
	    err, sizeof(err)) == 0);
	UNIT_CHECK(put(db, "b", INT64_MAX, NULL, 0, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(put(db, "c", 0, "", 0, big, err, sizeof(err)) == 0);
	UNIT_CHECK(db_prepare(db, "SELECT k, n, b, s FROM t ORDER BY k", &st,
	    err, sizeof(err)) == 0);
	rows = 0;
	while (st != NULL && db_step(st, err, sizeof(err)) == DB_ROW) {
		const char *k = db_col_text(st, 0);

		rows++;
		if (strcmp(k, "a") == 0) {
			UNIT_CHECK(db_col_int(st, 1) == -5);
			bp = db_col_blob(st, 2, &blen);
			UNIT_CHECK(blen == sizeof(blob) && bp != NULL &&
			    memcmp(bp, blob, blen) == 0);
			UNIT_CHECK(strcmp(db_col_text(st, 3),
			    "h\xc3\xa9llo ' \" ;") == 0);
		} else if (strcmp(k, "b") == 0) {
			UNIT_CHECK(db_col_int(st, 1) == INT64_MAX);
			UNIT_CHECK(db_col_is_null(st, 2) &&
			    db_col_text(st, 3) == NULL);
		} else {
			UNIT_CHECK(db_col_text(st, 3) != NULL &&
			    strcmp(db_col_text(st, 3), big) == 0);
			UNIT_CHECK(!db_col_is_null(st, 2));
		}
	}
	UNIT_CHECK(rows == 3);
	db_finalize(&st);

	snprintf(casename, sizeof(casename), "%s: duplicate key is a "
	    "constraint error; changes are counted", name);
	UNIT_CASE(case_name(casename));
	UNIT_CHECK(put(db, "a", 1, NULL, 0, "again", err, sizeof(err)) == -1 &&
	    db_last_error(db) == DB_ERR_CONSTRAINT);
	UNIT_CHECK(strstr(err, "again") == NULL);
	UNIT_CHECK(db_prepare(db, "UPDATE t SET n = n + 1 WHERE k <> ?", &st,
	    err, sizeof(err)) == 0);
	db_bind_text(st, 1, "b");
	UNIT_CHECK(db_step(st, err, sizeof(err)) == DB_DONE &&
	    db_changes(st) == 2);
	db_finalize(&st);

	snprintf(casename, sizeof(casename), "%s: rollback leaves nothing; "
	    "commit keeps", name);
	UNIT_CASE(case_name(casename));
	UNIT_CHECK(db_begin(db, err, sizeof(err)) == 0);
	UNIT_CHECK(put(db, "d", 1, NULL, 0, NULL, err, sizeof(err)) == 0);
	db_rollback(db);
	UNIT_CHECK(count(db) == 3);
	UNIT_CHECK(db_begin(db, err, sizeof(err)) == 0);
	UNIT_CHECK(put(db, "d", 1, NULL, 0, NULL, err, sizeof(err)) == 0);
	UNIT_CHECK(db_commit(db, err, sizeof(err)) == 0);
	UNIT_CHECK(count(db) == 4);

	snprintf(casename, sizeof(casename), "%s: bad SQL fails with a "
	    "message", name);
	UNIT_CASE(case_name(casename));
	UNIT_CHECK(db_prepare(db, "SELECT nope FROM t", &st, err,
	    sizeof(err)) == -1 && st == NULL && err[0] != '\0' &&
	    db_last_error(db) == DB_ERR_OTHER);
	free(big);
}

static void
mysql_reconnect(struct db *db, const struct dburl *u)
{
	struct db *killer = NULL;
	struct db_stmt *st;
	char err[512], sql[64];
	int64_t id = -1;

	UNIT_CASE("mysql: a killed connection fails one call, then the next "
	    "reconnects");
	UNIT_CHECK(db_prepare(db, "SELECT CONNECTION_ID()", &st, err,
	    sizeof(err)) == 0);
	if (st != NULL && db_step(st, err, sizeof(err)) == DB_ROW)
		id = db_col_int(st, 0);
	db_finalize(&st);
	UNIT_CHECK(id > 0);
	UNIT_CHECK(db_open(&killer, u, err, sizeof(err)) == 0);
	snprintf(sql, sizeof(sql), "KILL CONNECTION %lld", (long long)id);
	UNIT_CHECK(killer != NULL && db_exec(killer, sql, err,
	    sizeof(err)) == 0);
	db_close(&killer);
	UNIT_CHECK(count(db) == -1 && db_last_error(db) == DB_ERR_GONE);
	UNIT_CHECK(count(db) == 4);
}

/* TLS to the server: verified with the CA that signed its certificate,
 * refused with another one. */
static void
mysql_tls(const struct dburl *plain)
{
	const char *dir = getenv("DATAAGENT_TEST_MARIADB_DIR");
	struct dburl u = *plain;
	struct db *db = NULL;
	struct db_stmt *st = NULL;
	char err[512];
	const char *cipher;

	if (dir == NULL) {
		unit_case_end();
		printf("SKIP unit/test_db: mysql: TLS: "
		    "DATAAGENT_TEST_MARIADB_DIR unset\n");
		return;
	}
	UNIT_CASE("mysql: ssl=verify_identity with the server's CA: an "
	    "encrypted session");
	u.db_ssl = DBURL_SSL_VERIFY_IDENTITY;
	snprintf(u.db_ssl_ca, sizeof(u.db_ssl_ca), "%s/tls/ca.pem", dir);
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == 0);
	if (db != NULL) {
		UNIT_CHECK(db_prepare(db, "SHOW SESSION STATUS LIKE "
		    "'Ssl_cipher'", &st, err, sizeof(err)) == 0);
		UNIT_CHECK(st != NULL && db_step(st, err, sizeof(err)) ==
		    DB_ROW);
		cipher = st != NULL ? db_col_text(st, 1) : NULL;
		UNIT_CHECK(cipher != NULL && cipher[0] != '\0');
		db_finalize(&st);
		db_close(&db);
	}
	UNIT_CASE("mysql: ssl=verify_identity with another CA is refused");
	snprintf(u.db_ssl_ca, sizeof(u.db_ssl_ca), "%s/tls/other-ca.pem", dir);
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == -1 && db == NULL);
	UNIT_CASE("mysql: ssl=required encrypts without verifying");
	u.db_ssl = DBURL_SSL_REQUIRED;
	u.db_ssl_ca[0] = '\0';
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == 0);
	db_close(&db);
	explicit_bzero(&u, sizeof(u));
}

int
main(void)
{
	char dir[] = "/tmp/dataagent-test-db.XXXXXX";
	char err[512], path[128];
	struct dburl u;
	struct db *db = NULL;
	const char *url;

	unit_suite_set(__FILE__);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	memset(&u, 0, sizeof(u));
	u.db_kind = DBURL_SQLITE;
	snprintf(u.db_path, sizeof(u.db_path), "%s", path);
	UNIT_CASE("sqlite: open");
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == 0 &&
	    db_backend(db) == DB_SQLITE);
	if (db != NULL) {
		battery(db, "sqlite");
		db_close(&db);
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-shm", dir);
	unlink(path);
	rmdir(dir);

	url = getenv("DATAAGENT_TEST_MYSQL_URL");
	if (url == NULL || url[0] == '\0') {
		unit_case_end();
		printf("SKIP unit/test_db: mysql: no server "
		    "(DATAAGENT_TEST_MYSQL_URL unset: mariadb-server missing)\n");
		return unit_done();
	}
	UNIT_CASE("mysql: open");
	UNIT_CHECK(dburl_parse(url, "/nonexistent", &u, err,
	    sizeof(err)) == 0 && u.db_kind == DBURL_MYSQL);
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == 0 &&
	    db_backend(db) == DB_MYSQL);
	if (db != NULL) {
		UNIT_CHECK(strstr(db_describe(db), u.db_password) == NULL);
		battery(db, "mysql");
		mysql_reconnect(db, &u);
		db_close(&db);
	}
	mysql_tls(&u);
	UNIT_CASE("mysql: a wrong password is refused without echoing it");
	snprintf(u.db_password, sizeof(u.db_password), "wrong-pw-xyzzy");
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == -1 && db == NULL &&
	    strstr(err, "wrong-pw-xyzzy") == NULL);
	explicit_bzero(&u, sizeof(u));
	return unit_done();
}
