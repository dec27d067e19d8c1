/*
 * dburl.c: DATABASE_URL in the deployment guide's forms.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

int
dburl_parse(const char *url, const char *state_dir, struct dburl *db,
    char *err, size_t errlen)
{
	const char *rest;
	char cwd[PATH_MAX];
	int n;

	memset(db, 0, sizeof(*db));
	if (url == NULL || url[0] == '\0') {
		db->db_kind = DBURL_SQLITE;
		n = snprintf(db->db_path, sizeof(db->db_path),
		    "%s/dataagent.db", state_dir);
		goto check_len;
	}
	if (has_prefix(url, "mysql://") || has_prefix(url, "mysql+aiomysql://")
	    || has_prefix(url, "mariadb://") ||
	    has_prefix(url, "mysql+pymysql://")) {
		snprintf(err, errlen, "MySQL/MariaDB stores are not supported "
		    "by this build yet; use sqlite:///PATH");
		return -1;
	}
	if (has_prefix(url, "sqlite+aiosqlite://"))
		rest = url + strlen("sqlite+aiosqlite://");
	else if (has_prefix(url, "sqlite://"))
		rest = url + strlen("sqlite://");
	else {
		snprintf(err, errlen, "unsupported scheme (expected "
		    "sqlite:///relative or sqlite:////absolute)");
		return -1;
	}
	/* SQLAlchemy form: sqlite:/// + path; a fourth slash makes it
	 * absolute. No host part is allowed. */
	if (rest[0] != '/') {
		snprintf(err, errlen, "expected sqlite:///PATH (three slashes)");
		return -1;
	}
	rest++;
	if (rest[0] == '\0' || strchr(rest, '?') != NULL) {
		snprintf(err, errlen, "missing file path or unsupported "
		    "query string");
		return -1;
	}
	db->db_kind = DBURL_SQLITE;
	if (rest[0] == '/')
		n = snprintf(db->db_path, sizeof(db->db_path), "%s", rest);
	else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			snprintf(err, errlen, "getcwd failed");
			return -1;
		}
		n = snprintf(db->db_path, sizeof(db->db_path), "%s/%s", cwd,
		    rest);
	}
check_len:
	if (n < 0 || (size_t)n >= sizeof(db->db_path)) {
		snprintf(err, errlen, "database path too long");
		return -1;
	}
	return 0;
}

void
dburl_redact(const char *url, char *out, size_t outlen)
{
	const char *scheme, *at, *colon;

	scheme = strstr(url, "://");
	if (scheme == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	scheme += 3;
	at = strchr(scheme, '@');
	colon = strchr(scheme, ':');
	if (at == NULL || colon == NULL || colon > at) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}
