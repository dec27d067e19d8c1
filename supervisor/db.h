/*
 * db.h: the one SQL interface the store is written against, with two
 * backends: SQLite (the default, a file under the state directory) and
 * MySQL/MariaDB through libmariadb, prepared statements only.
 *
 * The shape follows SQLite's: prepare, bind by 1-based index, step until
 * DB_DONE, read columns by 0-based index, finalize. Every call that can
 * fail returns -1 and fills err; no error text ever holds a bound value.
 * Text and blob columns stay valid until the next db_step or
 * db_finalize of their statement.
 */
#ifndef DATAAGENT_DB_H
#define DATAAGENT_DB_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct db;
struct db_stmt;

enum db_backend {
	DB_SQLITE = 1,
	DB_MYSQL,
};

/* db_step results */
#define DB_DONE 0
#define DB_ROW 1

/* What went wrong with the last failing call, for callers that treat a
 * duplicate key or a lost server differently from other errors. */
enum db_error {
	DB_ERR_NONE = 0,
	DB_ERR_CONSTRAINT,	/* unique or foreign key violation */
	DB_ERR_GONE,		/* the server went away: the call failed, the
				 * next one reconnects */
	DB_ERR_OTHER,
};

/*
 * Opens the database the url names. SQLite: creates the file 0600 if
 * missing, sets WAL, synchronous=NORMAL, a busy timeout and foreign
 * keys. MySQL: connects (TLS as the url asks), utf8mb4, strict SQL mode,
 * READ COMMITTED. A MySQL db keeps a copy of *u (password included,
 * wiped on close) to reconnect after the server went away.
 */
int db_open(struct db **db_r, const struct dburl *u, char *err,
    size_t errlen);
void db_close(struct db **db);
enum db_backend db_backend(const struct db *db);
/* "sqlite /var/lib/dataagent/dataagent.db" or "mysql user@host:port/db"
 * (never the password) */
const char *db_describe(const struct db *db);
enum db_error db_last_error(const struct db *db);
/* The last error's text (like sqlite3_errmsg), for callers that passed
 * no err buffer. */
const char *db_errmsg(const struct db *db);

/* fn(arg, ns) is told how long each statement ran: db_exec's, and a
 * prepared statement's steps together, at its finalize. */
void db_set_timer(struct db *db, void (*fn)(void *, int64_t), void *arg);

/* Runs one statement with no parameters and no rows. */
int db_exec(struct db *db, const char *sql, char *err, size_t errlen);
int db_begin(struct db *db, char *err, size_t errlen);
int db_commit(struct db *db, char *err, size_t errlen);
/* Rolls back; errors are logged, not returned (the caller is already
 * on its error path). */
void db_rollback(struct db *db);

int db_prepare(struct db *db, const char *sql, struct db_stmt **stmt_r,
    char *err, size_t errlen);
/* Binds copy their value. Text NULL binds SQL NULL. */
int db_bind_text(struct db_stmt *st, int idx, const char *s);
int db_bind_int(struct db_stmt *st, int idx, int64_t v);
int db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len);
int db_bind_null(struct db_stmt *st, int idx);
/* DB_ROW, DB_DONE or -1. The first call executes. */
int db_step(struct db_stmt *st, char *err, size_t errlen);
/* Rows changed by the executed statement. */
int64_t db_changes(const struct db_stmt *st);
int db_col_is_null(struct db_stmt *st, int col);
int64_t db_col_int(struct db_stmt *st, int col);
/* NULL for SQL NULL. */
const char *db_col_text(struct db_stmt *st, int col);
const uint8_t *db_col_blob(struct db_stmt *st, int col, size_t *len_r);
void db_finalize(struct db_stmt **st);

#endif
