/*
 * test_config.c: settings and their precedence (defaults < file <
 * environment < flags), SECRET_KEY rules, DATABASE_URL forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "unit.h"

#define GOOD_KEY "0123456789abcdef0123456789abcdef"

static char path[64];

static void
write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

int
main(void)
{
	struct config cf;
	struct dburl db;
	char err[512];
	int fd;

	snprintf(path, sizeof(path), "/tmp/dataagent-test-config-XXXXXX");
	fd = mkstemp(path);
	close(fd);
	unsetenv("DATABASE_URL");
	unsetenv("LOG_LEVEL");
	unsetenv("MCP_MAX_CONNECTIONS_PER_USER");
	unsetenv("MCP_MAX_TOTAL_CONNECTIONS");
	unsetenv("SECRET_KEY");
	unsetenv("ALLOWED_HOSTS");

	UNIT_CASE("defaults are the guide's");
	config_defaults(&cf);
	UNIT_CHECK(cf.cf_port == 8000 && cf.cf_workers == 2);
	UNIT_CHECK(cf.cf_max_connections_per_user == 10);
	UNIT_CHECK(cf.cf_max_total_connections == 100);
	UNIT_CHECK(cf.cf_connection_timeout == 30 && cf.cf_idle_timeout == 300);
	UNIT_CHECK(cf.cf_tool_cache_ttl == 300);
	UNIT_CHECK(cf.cf_max_retries == 3 && cf.cf_retry_delay == 1 &&
	    cf.cf_reconnect_interval == 300);
	UNIT_CHECK(cf.cf_tenant_uid_base == 61000);
	UNIT_CHECK(strcmp(cf.cf_host, "127.0.0.1") == 0);

	UNIT_CASE("file < environment < flags");
	write_file("# comment\n\nport = 9001\nworkers=3\n"
	    "max_connections_per_user = 4   # inline comment\n"
	    "log_level = debug\nsecret_key = \"" GOOD_KEY "\"\n");
	config_defaults(&cf);
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == 0);
	UNIT_CHECK(cf.cf_port == 9001 && cf.cf_workers == 3);
	UNIT_CHECK(cf.cf_max_connections_per_user == 4);
	UNIT_CHECK(cf.cf_log_level == LOG_LVL_DEBUG);
	setenv("MCP_MAX_CONNECTIONS_PER_USER", "7", 1);
	setenv("LOG_LEVEL", "warning", 1);
	UNIT_CHECK(config_load_env(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(cf.cf_max_connections_per_user == 7);
	UNIT_CHECK(cf.cf_log_level == LOG_LVL_WARN);
	UNIT_CHECK(cf.cf_port == 9001);
	UNIT_CHECK(config_set(&cf, "log_level", "error", err, sizeof(err)) ==
	    0 && cf.cf_log_level == LOG_LVL_ERROR);
	UNIT_CHECK(config_set(&cf, "port", "0", err, sizeof(err)) == 0 &&
	    cf.cf_port == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == 0);
	unsetenv("MCP_MAX_CONNECTIONS_PER_USER");
	unsetenv("LOG_LEVEL");

	UNIT_CASE("unknown keys and bad values name file and line");
	write_file("port = 1\nno_such_key = 2\n");
	config_defaults(&cf);
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, ":2:") != NULL &&
	    strstr(err, "no_such_key") != NULL);
	write_file("\n\nport = 70000\n");
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, ":3:") != NULL);
	write_file("port\n");
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == -1);
	write_file("port = 12abc\n");
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == -1);
	write_file("log_level = loud\n");
	UNIT_CHECK(config_load_file(&cf, path, 0, err, sizeof(err)) == -1);

	UNIT_CASE("a missing file is an error only when named");
	UNIT_CHECK(config_load_file(&cf, "/nonexistent/dataagent.conf", 1,
	    err, sizeof(err)) == 0);
	UNIT_CHECK(config_load_file(&cf, "/nonexistent/dataagent.conf", 0,
	    err, sizeof(err)) == -1);

	UNIT_CASE("environment errors name the variable");
	setenv("MCP_MAX_TOTAL_CONNECTIONS", "lots", 1);
	UNIT_CHECK(config_load_env(&cf, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "MCP_MAX_TOTAL_CONNECTIONS") != NULL);
	unsetenv("MCP_MAX_TOTAL_CONNECTIONS");

	UNIT_CASE("SECRET_KEY: unset, short and the placeholder are refused");
	config_defaults(&cf);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "SECRET_KEY") != NULL);
	setenv("SECRET_KEY", "short", 1);
	UNIT_CHECK(config_load_env(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1);
	setenv("SECRET_KEY", "change-me-in-production", 1);
	UNIT_CHECK(config_load_env(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1);
	setenv("SECRET_KEY", GOOD_KEY, 1);
	UNIT_CHECK(config_load_env(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == 0);
	unsetenv("SECRET_KEY");

	UNIT_CASE("public keys need jwt_issuer and jwt_audience");
	UNIT_CHECK(config_set(&cf, "jwt_jwks_file", "/etc/idp.json", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1 &&
	    strstr(err, "jwt_jwks_file is set: jwt_issuer and jwt_audience "
	    "are required") == err);
	UNIT_CHECK(config_set(&cf, "jwt_issuer", "https://idp", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "jwt_audience", "dataagent", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(config_set(&cf, "jwt_jwks_file", "", err,
	    sizeof(err)) == 0);

	UNIT_CASE("per-user limit above the total is refused");
	UNIT_CHECK(config_set(&cf, "max_total_connections", "5", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1);

	UNIT_CASE("handoff, relays and direct_peers");
	UNIT_CHECK(config_set(&cf, "max_total_connections", "100", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(strcmp(cf.cf_handoff, "relay") == 0 && cf.cf_relays == -1 &&
	    cf.cf_relay_uid == 0 && cf.cf_direct_peers[0] == '\0');
	UNIT_CHECK(config_set(&cf, "handoff", "relay", err, sizeof(err)) == 0);
	UNIT_CHECK(config_set(&cf, "handoff", "proxy", err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "relays", "0", err, sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1 &&
	    strstr(err, "handoff = relay needs relays") != NULL);
	UNIT_CHECK(config_set(&cf, "relays", "257", err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "relays", "4", err, sizeof(err)) == 0);
	UNIT_CHECK(config_set(&cf, "direct_peers", "10.0.0.0/8, bad", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == -1 &&
	    strstr(err, "direct_peers: \"bad\"") != NULL);
	UNIT_CHECK(config_set(&cf, "direct_peers", "10.0.0.0/8, ::1", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(config_validate(&cf, err, sizeof(err)) == 0);
	UNIT_CHECK(config_set(&cf, "handoff", "direct", err, sizeof(err)) == 0);

	UNIT_CASE("retry keys and their bounds");
	UNIT_CHECK(config_set(&cf, "max_retries", "0", err, sizeof(err)) == 0 &&
	    cf.cf_max_retries == 0);
	UNIT_CHECK(config_set(&cf, "retry_delay", "0", err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "reconnect_interval", "60", err,
	    sizeof(err)) == 0 && cf.cf_reconnect_interval == 60);
	UNIT_CHECK(config_set(&cf, "max_retries", "101", err,
	    sizeof(err)) == -1);

	UNIT_CASE("DATABASE_URL forms");
	UNIT_CHECK(dburl_parse("sqlite:////var/lib/x.db", "/s", &db, err,
	    sizeof(err)) == 0 && strcmp(db.db_path, "/var/lib/x.db") == 0);
	UNIT_CHECK(dburl_parse("sqlite:///rel.db", "/s", &db, err,
	    sizeof(err)) == 0 && db.db_path[0] == '/' &&
	    strstr(db.db_path, "/rel.db") != NULL);
	UNIT_CHECK(dburl_parse("", "/s", &db, err, sizeof(err)) == 0 &&
	    strcmp(db.db_path, "/s/dataagent.db") == 0);
	UNIT_CHECK(dburl_parse("sqlite+aiosqlite:////a.db", "/s", &db, err,
	    sizeof(err)) == 0 && strcmp(db.db_path, "/a.db") == 0);
	UNIT_CHECK(dburl_parse("mysql+aiomysql://u:p@h:3306/d", "/s", &db,
	    err, sizeof(err)) == 0 && db.db_kind == DBURL_MYSQL &&
	    strcmp(db.db_user, "u") == 0 && strcmp(db.db_password, "p") == 0 &&
	    strcmp(db.db_host, "h") == 0 && db.db_port == 3306 &&
	    strcmp(db.db_name, "d") == 0 && db.db_ssl == DBURL_SSL_DEFAULT);
	/* percent-encoded and raw '@' in the password; v6 host; options */
	UNIT_CHECK(dburl_parse("mariadb://app%3Aa:p%40ss@w@[::1]:3307/dataagent"
	    "?ssl=verify_identity&ssl_ca=/etc/ca.pem&charset=utf8mb4", "/s",
	    &db, err, sizeof(err)) == 0 &&
	    strcmp(db.db_user, "app:a") == 0 &&
	    strcmp(db.db_password, "p@ss@w") == 0 &&
	    strcmp(db.db_host, "::1") == 0 && db.db_port == 3307 &&
	    db.db_ssl == DBURL_SSL_VERIFY_IDENTITY &&
	    strcmp(db.db_ssl_ca, "/etc/ca.pem") == 0);
	UNIT_CHECK(dburl_parse("mysql://u@/d?unix_socket=/run/mysqld/s.sock",
	    "/s", &db, err, sizeof(err)) == 0 && db.db_host[0] == '\0' &&
	    strcmp(db.db_socket, "/run/mysqld/s.sock") == 0 &&
	    db.db_password[0] == '\0');
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?ssl_ca=/ca", "/s", &db, err,
	    sizeof(err)) == 0 && db.db_ssl == DBURL_SSL_VERIFY_CA);
	/* malformed: no user, no database, bad port, unknown option,
	 * relative file, bad ssl, cert without key, bad database name;
	 * no error names the password */
	UNIT_CHECK(dburl_parse("mysql://h/d", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:sekret@h/", "/s", &db, err,
	    sizeof(err)) == -1 && strstr(err, "sekret") == NULL &&
	    db.db_password[0] == '\0');
	UNIT_CHECK(dburl_parse("mysql://u:p@h:99999/d", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h:/d", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?foo=1", "/s", &db, err,
	    sizeof(err)) == -1 && strstr(err, "foo") != NULL);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?ssl_ca=ca.pem", "/s", &db,
	    err, sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?ssl=maybe", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?ssl_cert=/c", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d;drop", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("mysql://u:p@h/d?ssl", "/s", &db, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(dburl_parse("postgres://x", "/s", &db, err, sizeof(err)) ==
	    -1);
	UNIT_CHECK(dburl_parse("sqlite://host/x.db", "/s", &db, err,
	    sizeof(err)) == -1);

	UNIT_CASE("URL passwords are redacted");
	dburl_redact("mysql://user:secretpw@db:3306/d", err, sizeof(err));
	UNIT_CHECK(strstr(err, "secretpw") == NULL &&
	    strcmp(err, "mysql://user:***@db:3306/d") == 0);
	dburl_redact("mysql://u:p@ss@w@db/d?ssl=true", err, sizeof(err));
	UNIT_CHECK(strcmp(err, "mysql://u:***@db/d?ssl=true") == 0);
	dburl_redact("sqlite:////a.db", err, sizeof(err));
	UNIT_CHECK(strcmp(err, "sqlite:////a.db") == 0);

	UNIT_CASE("sizes take K, M, G, T and max");
	config_defaults(&cf);
	UNIT_CHECK(cf.cf_tenant_memory_max == 1024LL * 1024 * 1024);
	UNIT_CHECK(config_set(&cf, "tenant_memory_max", "256M", err,
	    sizeof(err)) == 0 && cf.cf_tenant_memory_max == 256LL << 20);
	UNIT_CHECK(config_set(&cf, "tenant_memory_max", "2g", err,
	    sizeof(err)) == 0 && cf.cf_tenant_memory_max == 2LL << 30);
	UNIT_CHECK(config_set(&cf, "tenant_pids_max", "64", err,
	    sizeof(err)) == 0 && cf.cf_tenant_pids_max == 64);
	UNIT_CHECK(config_set(&cf, "tenant_swap_max", "max", err,
	    sizeof(err)) == 0 && cf.cf_tenant_swap_max == -1);
	UNIT_CHECK(config_set(&cf, "tenant_memory_max", "12X", err,
	    sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "tenant_memory_max", "-5", err,
	    sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "tenant_memory_max", "99999999999T", err,
	    sizeof(err)) == -1);

	UNIT_CASE("choices");
	UNIT_CHECK(strcmp(cf.cf_cgroups, "auto") == 0);
	UNIT_CHECK(config_set(&cf, "cgroups", "v1", err, sizeof(err)) == 0 &&
	    strcmp(cf.cf_cgroups, "v1") == 0);
	UNIT_CHECK(config_set(&cf, "cgroups", "off", err, sizeof(err)) == 0);
	UNIT_CHECK(config_set(&cf, "cgroups", "v", err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "cgroups", "", err, sizeof(err)) == -1);
	UNIT_CHECK(config_set(&cf, "cgroups", "v3", err, sizeof(err)) == -1 &&
	    strstr(err, "auto|v2|v1|off") != NULL);

	UNIT_CASE("tenant_network: egress by default, and whether it was chosen");
	config_defaults(&cf);
	UNIT_CHECK(strcmp(cf.cf_tenant_network, "egress") == 0 &&
	    !cf.cf_tenant_network_set);
	UNIT_CHECK(config_set(&cf, "tenant_network", "hosts", err,
	    sizeof(err)) == -1 && !cf.cf_tenant_network_set);
	UNIT_CHECK(config_set(&cf, "tenant_network", "egress", err,
	    sizeof(err)) == 0 && cf.cf_tenant_network_set);
	UNIT_CHECK(config_set(&cf, "tenant_network", "host", err,
	    sizeof(err)) == 0 && strcmp(cf.cf_tenant_network, "host") == 0);
	UNIT_CHECK(cf.cf_metrics_token[0] == '\0' &&
	    config_set(&cf, "metrics_token", "t0k", err, sizeof(err)) == 0 &&
	    strcmp(cf.cf_metrics_token, "t0k") == 0);

	UNIT_CASE("names");
	UNIT_CHECK(name_valid("alice") && name_valid("a.b-c_d9"));
	UNIT_CHECK(!name_valid("") && !name_valid("-a") && !name_valid("a__b"));
	UNIT_CHECK(!name_valid("a/b") && !name_valid("a b"));
	UNIT_CHECK(!name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaa"));

	unlink(path);
	return unit_done();
}
