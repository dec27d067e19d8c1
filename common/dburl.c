/*
 * dburl.c: DATABASE_URL in the deployment guide's forms.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common.h"

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Copies [s, s+len) into out, NUL-terminated; -1 when it does not fit. */
static int
copy_span(const char *s, size_t len, char *out, size_t outlen)
{
	if (len >= outlen)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static int
ssl_mode_parse(const char *v, enum dburl_ssl *m)
{
	static const struct {
		const char *name;
		enum dburl_ssl mode;
	} modes[] = {
		{ "true", DBURL_SSL_REQUIRED }, { "1", DBURL_SSL_REQUIRED },
		{ "required", DBURL_SSL_REQUIRED },
		{ "false", DBURL_SSL_DISABLED }, { "0", DBURL_SSL_DISABLED },
		{ "disabled", DBURL_SSL_DISABLED },
		{ "verify_ca", DBURL_SSL_VERIFY_CA },
		{ "verify-ca", DBURL_SSL_VERIFY_CA },
		{ "verify_identity", DBURL_SSL_VERIFY_IDENTITY },
		{ "verify-full", DBURL_SSL_VERIFY_IDENTITY },
	};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcasecmp(v, modes[i].name) == 0) {
			*m = modes[i].mode;
			return 0;
		}
	return -1;
}

/* One k=v of the query string. */
static int
mysql_option(struct dburl *db, const char *k, size_t klen, const char *v,
    size_t vlen, char *err, size_t errlen)
{
	char val[CONFIG_STRLEN];
	char *dst = NULL;
	size_t dstlen = 0;

	if (pct_decode(v, vlen, val, sizeof(val)) == -1) {
		snprintf(err, errlen, "bad value for %.*s", (int)klen, k);
		return -1;
	}
#define KEY(name) (klen == strlen(name) && strncmp(k, name, klen) == 0)
	if (KEY("ssl") || KEY("ssl_mode")) {
		if (ssl_mode_parse(val, &db->db_ssl) == -1) {
			snprintf(err, errlen, "%.*s: expected true, false, "
			    "required, verify_ca or verify_identity",
			    (int)klen, k);
			return -1;
		}
		return 0;
	}
	if (KEY("charset")) {
		if (strcmp(val, "utf8mb4") != 0) {
			snprintf(err, errlen, "charset: only utf8mb4");
			return -1;
		}
		return 0;
	}
	if (KEY("ssl_ca")) {
		dst = db->db_ssl_ca;
		dstlen = sizeof(db->db_ssl_ca);
	} else if (KEY("ssl_cert")) {
		dst = db->db_ssl_cert;
		dstlen = sizeof(db->db_ssl_cert);
	} else if (KEY("ssl_key")) {
		dst = db->db_ssl_key;
		dstlen = sizeof(db->db_ssl_key);
	} else if (KEY("unix_socket")) {
		dst = db->db_socket;
		dstlen = sizeof(db->db_socket);
	}
#undef KEY
	if (dst == NULL) {
		snprintf(err, errlen, "unknown option \"%.*s\"",
		    (int)(klen > 32 ? 32 : klen), k);
		return -1;
	}
	if (val[0] != '/') {
		snprintf(err, errlen, "%.*s must be an absolute path",
		    (int)klen, k);
		return -1;
	}
	snprintf(dst, dstlen, "%s", val);
	return 0;
}

/*
 * mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?k=v&...], rest just
 * after "://".
 */
static int
mysql_parse(const char *rest, struct dburl *db, char *err, size_t errlen)
{
	const char *at, *slash, *host, *hostend, *q, *p, *amp, *eq, *colon;
	char portbuf[8];
	char *end;
	long port;

	db->db_kind = DBURL_MYSQL;
	db->db_port = 3306;
	slash = strchr(rest, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "expected mysql://USER:PASSWORD@HOST"
		    "[:PORT]/DATABASE");
		return -1;
	}
	/* The userinfo ends at the last '@' before the path: a password
	 * may hold a raw '@' that its writer did not encode. */
	at = NULL;
	for (p = rest; p < slash; p++)
		if (*p == '@')
			at = p;
	if (at == NULL) {
		snprintf(err, errlen, "missing USER@ before the host");
		return -1;
	}
	colon = memchr(rest, ':', (size_t)(at - rest));
	if (pct_decode(rest, (size_t)((colon != NULL ? colon : at) - rest),
	    db->db_user, sizeof(db->db_user)) == -1 || db->db_user[0] == '\0') {
		snprintf(err, errlen, "bad or empty user name");
		return -1;
	}
	if (colon != NULL && pct_decode(colon + 1, (size_t)(at - colon - 1),
	    db->db_password, sizeof(db->db_password)) == -1) {
		snprintf(err, errlen, "bad password encoding");
		return -1;
	}
	host = at + 1;
	if (*host == '[') {
		hostend = memchr(host, ']', (size_t)(slash - host));
		if (hostend == NULL) {
			snprintf(err, errlen, "unterminated [ in host");
			return -1;
		}
		if (copy_span(host + 1, (size_t)(hostend - host - 1),
		    db->db_host, sizeof(db->db_host)) == -1) {
			snprintf(err, errlen, "host too long");
			return -1;
		}
		hostend++;
	} else {
		hostend = memchr(host, ':', (size_t)(slash - host));
		if (hostend == NULL)
			hostend = slash;
		if (copy_span(host, (size_t)(hostend - host), db->db_host,
		    sizeof(db->db_host)) == -1) {
			snprintf(err, errlen, "host too long");
			return -1;
		}
	}
	if (hostend < slash) {
		if (*hostend != ':' || copy_span(hostend + 1,
		    (size_t)(slash - hostend - 1), portbuf,
		    sizeof(portbuf)) == -1) {
			snprintf(err, errlen, "bad port");
			return -1;
		}
		port = strtol(portbuf, &end, 10);
		if (portbuf[0] == '\0' || *end != '\0' || port < 1 ||
		    port > 65535) {
			snprintf(err, errlen, "bad port");
			return -1;
		}
		db->db_port = (int)port;
	}
	q = strchr(slash + 1, '?');
	if (copy_span(slash + 1, q != NULL ? (size_t)(q - slash - 1) :
	    strlen(slash + 1), db->db_name, sizeof(db->db_name)) == -1 ||
	    db->db_name[0] == '\0' ||
	    strspn(db->db_name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") != strlen(db->db_name)) {
		snprintf(err, errlen, "missing or bad database name");
		return -1;
	}
	for (p = q != NULL ? q + 1 : NULL; p != NULL && *p != '\0';
	    p = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp != NULL ? (size_t)(amp - p) :
		    strlen(p));
		if (eq == NULL) {
			snprintf(err, errlen, "query options are k=v");
			return -1;
		}
		if (mysql_option(db, p, (size_t)(eq - p), eq + 1,
		    amp != NULL ? (size_t)(amp - eq - 1) : strlen(eq + 1),
		    err, errlen) == -1)
			return -1;
	}
	if (db->db_host[0] == '\0' && db->db_socket[0] == '\0') {
		snprintf(err, errlen, "missing host (or ?unix_socket=)");
		return -1;
	}
	if ((db->db_ssl_cert[0] != '\0') != (db->db_ssl_key[0] != '\0')) {
		snprintf(err, errlen, "ssl_cert and ssl_key go together");
		return -1;
	}
	if (db->db_ssl_ca[0] != '\0' && db->db_ssl == DBURL_SSL_DEFAULT)
		db->db_ssl = DBURL_SSL_VERIFY_CA;
	return 0;
}

int
dburl_parse(const char *url, const char *state_dir, struct dburl *db,
    char *err, size_t errlen)
{
	static const char *const mysql_schemes[] = { "mysql://",
	    "mysql+aiomysql://", "mysql+pymysql://", "mariadb://" };
	const char *rest;
	char cwd[PATH_MAX];
	size_t i;
	int n;

	memset(db, 0, sizeof(*db));
	if (url == NULL || url[0] == '\0') {
		db->db_kind = DBURL_SQLITE;
		n = snprintf(db->db_path, sizeof(db->db_path),
		    "%s/dataagent.db", state_dir);
		goto check_len;
	}
	for (i = 0; i < sizeof(mysql_schemes) / sizeof(mysql_schemes[0]); i++)
		if (has_prefix(url, mysql_schemes[i])) {
			if (mysql_parse(url + strlen(mysql_schemes[i]), db, err,
			    errlen) == 0)
				return 0;
			explicit_bzero(db->db_password, sizeof(db->db_password));
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
	const char *scheme, *at, *colon, *p;

	scheme = strstr(url, "://");
	if (scheme == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	scheme += 3;
	/* The same rule as the parser: the userinfo ends at the last '@'
	 * before the path, so a raw '@' in a password is hidden too. */
	at = NULL;
	for (p = scheme; *p != '\0' && *p != '/'; p++)
		if (*p == '@')
			at = p;
	colon = at != NULL ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
	if (colon == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}
