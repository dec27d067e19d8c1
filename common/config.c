/*
 * config.c: dataagent's settings, one table for every source.
 *
 * The file, the environment and the command-line flags all go through
 * config_set(), so a key has one name, one parser and one range wherever
 * it is given. Precedence is the caller's order: defaults < file <
 * environment < flags.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

enum cfg_type {
	CFG_STR,
	CFG_INT,
	CFG_LEVEL,
	CFG_SIZE,	/* int64_t: a number with K, M, G or T, or "max" (-1) */
	CFG_CHOICE,	/* a string out of ck_choices */
};

struct cfg_key {
	const char *ck_name;
	enum cfg_type ck_type;
	size_t ck_off;
	long ck_min, ck_max;	/* CFG_INT range */
	const char *ck_choices;	/* CFG_CHOICE: "a|b|c" */
};

#define STR(name, field) \
	{ name, CFG_STR, offsetof(struct config, field), 0, 0, NULL }
#define INT(name, field, lo, hi) \
	{ name, CFG_INT, offsetof(struct config, field), lo, hi, NULL }
#define SIZE(name, field) \
	{ name, CFG_SIZE, offsetof(struct config, field), 0, 0, NULL }
#define CHOICE(name, field, choices) \
	{ name, CFG_CHOICE, offsetof(struct config, field), 0, 0, choices }

static const struct cfg_key cfg_keys[] = {
	STR("host", cf_host),
	INT("port", cf_port, 0, 65535),
	INT("workers", cf_workers, 0, 1024),
	{ "log_level", CFG_LEVEL, offsetof(struct config, cf_log_level), 0, 0,
	    NULL },
	CHOICE("log_format", cf_log_format, "auto|json|text"),
	STR("database_url", cf_database_url),
	INT("store_poll_interval", cf_store_poll_interval, 0, 3600),
	STR("node_name", cf_node_name),
	STR("secret_key", cf_secret_key),
	STR("master_key", cf_master_key),
	STR("allowed_hosts", cf_allowed_hosts),
	INT("max_connections_per_user", cf_max_connections_per_user, 1, 10000),
	INT("max_total_connections", cf_max_total_connections, 1, 1000000),
	INT("connection_timeout", cf_connection_timeout, 1, 86400),
	INT("idle_timeout", cf_idle_timeout, 1, 86400 * 7),
	INT("tool_cache_ttl", cf_tool_cache_ttl, 0, 86400 * 7),
	INT("max_retries", cf_max_retries, 0, 100),
	INT("retry_delay", cf_retry_delay, 1, 3600),
	INT("reconnect_interval", cf_reconnect_interval, 1, 86400 * 7),
	INT("tenant_uid_base", cf_tenant_uid_base, 1000, 2000000000),
	INT("tenant_uid_count", cf_tenant_uid_count, 1, 100000000),
	STR("state_dir", cf_state_dir),
	STR("control_socket", cf_control_socket),
	STR("worker_path", cf_worker_path),
	STR("policy_dir", cf_policy_dir),
	CHOICE("cgroups", cf_cgroups, "auto|v2|v1|off"),
	STR("cgroup_name", cf_cgroup_name),
	CHOICE("tenant_network", cf_tenant_network, "host|none|egress"),
	STR("tenant_egress_range", cf_tenant_egress_range),
	STR("tenant_egress_allow", cf_tenant_egress_allow),
	STR("tenant_egress_deny", cf_tenant_egress_deny),
	SIZE("tenant_memory_max", cf_tenant_memory_max),
	SIZE("tenant_tmp_size", cf_tenant_tmp_size),
	SIZE("tenant_swap_max", cf_tenant_swap_max),
	SIZE("tenant_pids_max", cf_tenant_pids_max),
	INT("tenant_cpu_weight", cf_tenant_cpu_weight, 1, 10000),
	INT("tenant_nofile", cf_tenant_nofile, 64, 1048576),
	INT("tenant_nproc", cf_tenant_nproc, 16, 4194304),
	INT("max_header_size", cf_max_header_size, 1024, 1024 * 1024),
	INT("header_timeout", cf_header_timeout, 1, 3600),
	INT("max_body_size", cf_max_body_size, 1024, 64 * 1024 * 1024),
	INT("max_token_ttl", cf_max_token_ttl, 60, 366 * 86400),
	INT("drain_timeout", cf_drain_timeout, 0, 3600),
	SIZE("worker_ipc_queue_max", cf_worker_ipc_queue_max),
	INT("worker_ipc_queue_fds", cf_worker_ipc_queue_fds, 16, 65536),
	STR("jwt_public_keys", cf_jwt_public_keys),
	STR("jwt_jwks_file", cf_jwt_jwks_file),
	STR("jwt_issuer", cf_jwt_issuer),
	STR("jwt_audience", cf_jwt_audience),
	STR("oauth_resource", cf_oauth_resource),
	STR("oauth_authorization_servers", cf_oauth_authorization_servers),
	STR("metrics_listen", cf_metrics_listen),
	STR("metrics_token", cf_metrics_token),
	CHOICE("audit_arguments", cf_audit_arguments, "off|on"),
	INT("audit_retention", cf_audit_retention, 0, 36500),
	INT("rate_limit", cf_rate_limit, 0, 1000000),
	INT("rate_limit_burst", cf_rate_limit_burst, 0, 1000000),
	INT("ip_connection_rate", cf_ip_connection_rate, 0, 1000000),
	INT("ip_connection_burst", cf_ip_connection_burst, 0, 1000000),
	INT("auth_fail_limit", cf_auth_fail_limit, 0, 1000000),
	INT("auth_fail_block", cf_auth_fail_block, 1, 86400),
	STR("rate_limit_exempt", cf_rate_limit_exempt),
	INT("worker_log_rate", cf_worker_log_rate, 0, 1000000),
	INT("worker_log_burst", cf_worker_log_burst, 1, 1000000),
	INT("tenant_store_rate", cf_tenant_store_rate, 0, 100000),
	INT("tenant_store_burst", cf_tenant_store_burst, 1, 100000),
	INT("tenant_max_servers", cf_tenant_max_servers, 1, 100000),
	INT("tenant_max_secrets", cf_tenant_max_secrets, 1, 100000),
	INT("secret_max_size", cf_secret_max_size, 1, 8192),
	INT("tenant_audit_rate", cf_tenant_audit_rate, 0, 1000000),
	INT("tenant_audit_queue", cf_tenant_audit_queue, 1, 65536),
	INT("audit_queue", cf_audit_queue, 1, 65536),
	INT("tls_port", cf_tls_port, 0, 65535),
	STR("tls_host", cf_tls_host),
	STR("tls_cert_file", cf_tls_cert_file),
	STR("tls_key_file", cf_tls_key_file),
	INT("tls_max_conns_per_tenant", cf_tls_max_conns_per_tenant, 1, 2048),
	STR("trusted_proxies", cf_trusted_proxies),
	INT("relays", cf_relays, -1, 256),
	INT("relay_uid", cf_relay_uid, 0, 2000000000),
	CHOICE("handoff", cf_handoff, "direct|relay"),
	STR("direct_peers", cf_direct_peers),
};

/* The environment names of the deployment guide, and the key each sets. */
static const struct {
	const char *ce_env;
	const char *ce_key;
} cfg_env[] = {
	{ "DATABASE_URL", "database_url" },
	{ "LOG_LEVEL", "log_level" },
	{ "LOG_FORMAT", "log_format" },
	{ "MCP_MAX_CONNECTIONS_PER_USER", "max_connections_per_user" },
	{ "MCP_MAX_TOTAL_CONNECTIONS", "max_total_connections" },
	{ "SECRET_KEY", "secret_key" },
	{ "ALLOWED_HOSTS", "allowed_hosts" },
};

int
config_int_in_range(const char *key, long long v)
{
	size_t i;

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (cfg_keys[i].ck_type == CFG_INT &&
		    strcmp(cfg_keys[i].ck_name, key) == 0)
			return v >= cfg_keys[i].ck_min && v <= cfg_keys[i].ck_max;
	return 0;
}

#define INSECURE_DEFAULT_KEY "change-me-in-production"
#define SECRET_KEY_MIN 32

void
config_defaults(struct config *cf)
{
	memset(cf, 0, sizeof(*cf));
	snprintf(cf->cf_host, sizeof(cf->cf_host), "127.0.0.1");
	cf->cf_port = 8000;
	cf->cf_store_poll_interval = 2;
	cf->cf_workers = 2;
	cf->cf_log_level = LOG_LVL_INFO;
	snprintf(cf->cf_log_format, sizeof(cf->cf_log_format), "auto");
	snprintf(cf->cf_tenant_network, sizeof(cf->cf_tenant_network),
	    "egress");
	snprintf(cf->cf_tenant_egress_range,
	    sizeof(cf->cf_tenant_egress_range), "10.213.0.0/16");
	cf->cf_max_connections_per_user = 10;
	cf->cf_max_total_connections = 100;
	cf->cf_connection_timeout = 30;
	cf->cf_idle_timeout = 300;
	cf->cf_tool_cache_ttl = 300;
	cf->cf_max_retries = 3;
	cf->cf_retry_delay = 1;
	cf->cf_reconnect_interval = 300;
	cf->cf_tenant_uid_base = 61000;
	cf->cf_tenant_uid_count = 10000;
	cf->cf_tenant_tmp_size = 64LL * 1024 * 1024;
	snprintf(cf->cf_state_dir, sizeof(cf->cf_state_dir),
	    "/var/lib/dataagent");
	snprintf(cf->cf_control_socket, sizeof(cf->cf_control_socket),
	    "/run/dataagent/control.sock");
	snprintf(cf->cf_policy_dir, sizeof(cf->cf_policy_dir),
	    "/etc/dataagent/policy");
	snprintf(cf->cf_master_key, sizeof(cf->cf_master_key),
	    "/etc/dataagent/master.key");
	snprintf(cf->cf_cgroups, sizeof(cf->cf_cgroups), "auto");
	snprintf(cf->cf_cgroup_name, sizeof(cf->cf_cgroup_name), "dataagent");
	cf->cf_tenant_memory_max = 1024LL * 1024 * 1024;
	cf->cf_tenant_swap_max = 0;
	cf->cf_tenant_pids_max = 512;
	cf->cf_tenant_cpu_weight = 100;
	cf->cf_tenant_nofile = 4096;
	cf->cf_tenant_nproc = 2048;
	cf->cf_max_header_size = 8192;
	cf->cf_header_timeout = 10;
	cf->cf_max_body_size = 1024 * 1024;
	cf->cf_max_token_ttl = 30 * 86400;
	cf->cf_drain_timeout = 10;
	cf->cf_worker_ipc_queue_max = 8LL * 1024 * 1024;
	cf->cf_worker_ipc_queue_fds = 1024;
	snprintf(cf->cf_audit_arguments, sizeof(cf->cf_audit_arguments),
	    "off");
	cf->cf_audit_retention = 90;
	cf->cf_rate_limit = 100;
	cf->cf_ip_connection_rate = 6000;
	cf->cf_ip_connection_burst = 500;
	cf->cf_auth_fail_limit = 30;
	cf->cf_auth_fail_block = 10;
	cf->cf_tls_max_conns_per_tenant = 512;
	cf->cf_worker_log_rate = 10;
	cf->cf_worker_log_burst = 200;
	cf->cf_tenant_store_rate = 5;
	cf->cf_tenant_store_burst = 20;
	cf->cf_tenant_max_servers = 100;
	cf->cf_tenant_max_secrets = 100;
	cf->cf_secret_max_size = 8192;
	cf->cf_tenant_audit_rate = 200;
	cf->cf_tenant_audit_queue = 256;
	cf->cf_audit_queue = 2048;
	cf->cf_relays = -1;
	snprintf(cf->cf_handoff, sizeof(cf->cf_handoff), "relay");
}

static const struct cfg_key *
cfg_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strcmp(cfg_keys[i].ck_name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

int
config_size_parse(const char *value, int64_t *v_r)
{
	int64_t v, mul = 1;
	char *end;

	if (strcmp(value, "max") == 0) {
		*v_r = -1;
		return 0;
	}
	errno = 0;
	v = strtoll(value, &end, 10);
	switch (*end) {
	case 'K': case 'k': mul = 1024; end++; break;
	case 'M': case 'm': mul = 1024 * 1024; end++; break;
	case 'G': case 'g': mul = 1024 * 1024 * 1024; end++; break;
	case 'T': case 't': mul = 1024LL * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 0 || v > INT64_MAX / mul)
		return -1;
	*v_r = v * mul;
	return 0;
}

int
config_set(struct config *cf, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct cfg_key *k;
	char *base = (char *)cf, *end;
	long n;

	if ((k = cfg_key_find(key)) == NULL) {
		snprintf(err, errlen, "unknown key \"%s\"", key);
		return -1;
	}
	switch (k->ck_type) {
	case CFG_STR:
		if (strlen(value) >= CONFIG_STRLEN) {
			snprintf(err, errlen, "%s: value longer than %d bytes",
			    key, CONFIG_STRLEN - 1);
			return -1;
		}
		snprintf(base + k->ck_off, CONFIG_STRLEN, "%s", value);
		return 0;
	case CFG_INT:
		errno = 0;
		n = strtol(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not a number",
			    key, value);
			return -1;
		}
		if (n < k->ck_min || n > k->ck_max) {
			snprintf(err, errlen, "%s: %ld is out of range "
			    "%ld..%ld", key, n, k->ck_min, k->ck_max);
			return -1;
		}
		*(int *)(void *)(base + k->ck_off) = (int)n;
		return 0;
	case CFG_SIZE:
		if (config_size_parse(value, (int64_t *)(void *)(base +
		    k->ck_off)) == -1) {
			snprintf(err, errlen, "%s: \"%s\" is not a size (a number "
			    "with K, M, G or T, or max)", key, value);
			return -1;
		}
		return 0;
	case CFG_CHOICE: {
		const char *c = k->ck_choices;
		size_t vl = strlen(value);

		while (c != NULL) {
			if (vl > 0 && strncmp(c, value, vl) == 0 &&
			    (c[vl] == '|' || c[vl] == '\0')) {
				snprintf(base + k->ck_off, CONFIG_STRLEN, "%s",
				    value);
				/* The default egress stops the daemon with
				 * advice when the host cannot give it; a
				 * choice the operator made stops it plainly. */
				if (strcmp(key, "tenant_network") == 0)
					cf->cf_tenant_network_set = 1;
				return 0;
			}
			c = strchr(c, '|');
			if (c != NULL)
				c++;
		}
		snprintf(err, errlen, "%s: \"%s\" is not one of %s", key,
		    value, k->ck_choices);
		return -1;
	}
	case CFG_LEVEL:
		if (log_level_parse(value, &cf->cf_log_level) == -1) {
			snprintf(err, errlen, "%s: \"%s\" is not one of "
			    "error, warn, info, debug", key, value);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "%s: bad key type", key);
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_load_file(struct config *cf, const char *path, int optional, char *err,
    size_t errlen)
{
	FILE *f;
	char *line = NULL, *key, *value, *eq, e[256];
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;

	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && optional)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if ((size_t)n != strlen(line)) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path,
			    lineno);
			rc = -1;
			break;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(err, errlen, "%s:%u: expected \"key = value\"",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		/* A value may be quoted to keep leading/trailing blanks or
		 * a '#'; an unquoted value ends at " #". */
		if (value[0] == '"') {
			size_t vl = strlen(value);

			if (vl < 2 || value[vl - 1] != '"') {
				snprintf(err, errlen, "%s:%u: unterminated "
				    "quote", path, lineno);
				rc = -1;
				break;
			}
			value[vl - 1] = '\0';
			value++;
		} else {
			char *hash = strstr(value, " #");

			if (hash != NULL) {
				*hash = '\0';
				value = trim(value);
			}
		}
		if (config_set(cf, key, value, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, e);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

int
config_load_env(struct config *cf, char *err, size_t errlen)
{
	const char *v;
	char e[256];
	size_t i;

	for (i = 0; i < sizeof(cfg_env) / sizeof(cfg_env[0]); i++) {
		if ((v = getenv(cfg_env[i].ce_env)) == NULL)
			continue;
		if (config_set(cf, cfg_env[i].ce_key, v, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "%s: %s", cfg_env[i].ce_env, e);
			return -1;
		}
	}
	return 0;
}

/*
 * An http(s) URL that may stand inside a quoted header value: printable
 * ASCII without blanks, quotes or backslashes, no query or fragment.
 */
static int
config_url_valid(const char *s, size_t len)
{
	size_t i;

	if (!((len > 7 && strncmp(s, "http://", 7) == 0) ||
	    (len > 8 && strncmp(s, "https://", 8) == 0)))
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\' || s[i] == '?' || s[i] == '#' || s[i] == ',')
			return 0;
	return 1;
}

static int
config_validate_oauth(const struct config *cf, char *err, size_t errlen)
{
	const char *p = cf->cf_oauth_authorization_servers, *q;

	if (cf->cf_oauth_resource[0] != '\0' && !config_url_valid(
	    cf->cf_oauth_resource, strlen(cf->cf_oauth_resource))) {
		snprintf(err, errlen, "oauth_resource must be an http:// or "
		    "https:// URL without query, fragment, blanks or quotes");
		return -1;
	}
	if (*p != '\0' && cf->cf_oauth_resource[0] == '\0') {
		snprintf(err, errlen, "oauth_authorization_servers needs "
		    "oauth_resource");
		return -1;
	}
	for (; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		while (*p == ' ')
			p++;
		for (q = p; *q != '\0' && *q != ',' && *q != ' '; q++)
			;
		if (q > p && !config_url_valid(p, (size_t)(q - p))) {
			snprintf(err, errlen, "oauth_authorization_servers: "
			    "\"%.*s\" is not an http:// or https:// URL",
			    (int)(q - p), p);
			return -1;
		}
		while (*q == ' ')
			q++;
	}
	return 0;
}

/*
 * A token a public key verifies was made by another issuer, which may
 * sign tokens for other services too: without iss and aud pinned, any
 * token of that issuer (for any audience) would open this gateway.
 */
static int
config_validate_jwt(const struct config *cf, char *err, size_t errlen)
{
	const char *which = cf->cf_jwt_public_keys[0] != '\0' ?
	    "jwt_public_keys" : "jwt_jwks_file";

	if (cf->cf_jwt_public_keys[0] == '\0' &&
	    cf->cf_jwt_jwks_file[0] == '\0')
		return 0;
	if (cf->cf_jwt_issuer[0] == '\0' || cf->cf_jwt_audience[0] == '\0') {
		snprintf(err, errlen, "%s is set: jwt_issuer and jwt_audience "
		    "are required too (the iss and aud every token of that "
		    "issuer must carry for this gateway)", which);
		return -1;
	}
	return 0;
}

int
config_validate(const struct config *cf, char *err, size_t errlen)
{
	struct dburl db;
	char e[256];
	size_t klen = strlen(cf->cf_secret_key);

	if (config_validate_oauth(cf, err, errlen) == -1 ||
	    config_validate_jwt(cf, err, errlen) == -1)
		return -1;
	/* Without secret_key only tokens signed by a configured public
	 * key are accepted (and dataagentctl token issue is refused). */
	if (klen == 0 && cf->cf_jwt_public_keys[0] == '\0' &&
	    cf->cf_jwt_jwks_file[0] == '\0') {
		snprintf(err, errlen, "SECRET_KEY is not set: set it in the "
		    "environment or as secret_key in the config file (at "
		    "least %d random bytes, e.g. `openssl rand -hex 32`)",
		    SECRET_KEY_MIN);
		return -1;
	}
	if (strcmp(cf->cf_secret_key, INSECURE_DEFAULT_KEY) == 0) {
		snprintf(err, errlen, "SECRET_KEY is the placeholder \"%s\": "
		    "set a random key (e.g. `openssl rand -hex 32`)",
		    INSECURE_DEFAULT_KEY);
		return -1;
	}
	if (klen > 0 && klen < SECRET_KEY_MIN) {
		snprintf(err, errlen, "SECRET_KEY is %zu bytes, at least %d "
		    "are required", klen, SECRET_KEY_MIN);
		return -1;
	}
	if (cf->cf_host[0] == '\0') {
		snprintf(err, errlen, "host is empty");
		return -1;
	}
	if (cf->cf_state_dir[0] != '/') {
		snprintf(err, errlen, "state_dir must be an absolute path");
		return -1;
	}
	if (cf->cf_control_socket[0] != '/' ||
	    strlen(cf->cf_control_socket) >= 108) {
		snprintf(err, errlen, "control_socket must be an absolute "
		    "path shorter than 108 bytes");
		return -1;
	}
	if (cf->cf_tenant_tmp_size < 1024 * 1024 ||
	    cf->cf_tenant_tmp_size > 64LL * 1024 * 1024 * 1024) {
		snprintf(err, errlen, "tenant_tmp_size must be 1M to 64G");
		return -1;
	}
	if ((long long)cf->cf_tenant_uid_base + cf->cf_tenant_uid_count >
	    2147483646LL) {
		snprintf(err, errlen, "tenant_uid_base + tenant_uid_count is "
		    "past the largest uid");
		return -1;
	}
	if (cf->cf_max_connections_per_user > cf->cf_max_total_connections) {
		snprintf(err, errlen, "max_connections_per_user (%d) is more "
		    "than max_total_connections (%d)",
		    cf->cf_max_connections_per_user,
		    cf->cf_max_total_connections);
		return -1;
	}
	/* The largest message must fit in an empty queue. */
	if (cf->cf_worker_ipc_queue_max < IPC_HDR_SIZE + IPC_MAX_PAYLOAD ||
	    cf->cf_worker_ipc_queue_max > WORKER_IPC_QUEUE_CAP) {
		snprintf(err, errlen, "worker_ipc_queue_max must be from %u "
		    "(the largest message) to %lld bytes",
		    IPC_HDR_SIZE + IPC_MAX_PAYLOAD,
		    (long long)WORKER_IPC_QUEUE_CAP);
		return -1;
	}
	if (cf->cf_tls_port != 0 && (cf->cf_tls_cert_file[0] == '\0' ||
	    cf->cf_tls_key_file[0] == '\0')) {
		snprintf(err, errlen, "tls_port is set: tls_cert_file and "
		    "tls_key_file are required");
		return -1;
	}
	if (cf->cf_tls_port != 0 && cf->cf_tls_port == cf->cf_port &&
	    (cf->cf_tls_host[0] == '\0' ||
	    strcmp(cf->cf_tls_host, cf->cf_host) == 0)) {
		snprintf(err, errlen, "tls_port is the same as port");
		return -1;
	}
	if (strcmp(cf->cf_handoff, "relay") == 0 && cf->cf_relays == 0) {
		snprintf(err, errlen, "handoff = relay needs relays (0 "
		    "starts none)");
		return -1;
	}
	if (cidrs_parse(cf->cf_direct_peers, NULL, 0, e, sizeof(e)) ==
	    -1) {
		snprintf(err, errlen, "direct_peers: %s", e);
		return -1;
	}
	if (dburl_parse(cf->cf_database_url, cf->cf_state_dir, &db, e,
	    sizeof(e)) == -1) {
		snprintf(err, errlen, "DATABASE_URL: %s", e);
		return -1;
	}
	explicit_bzero(&db, sizeof(db));
	if (cf->cf_node_name[0] != '\0' && !node_name_valid(cf->cf_node_name)) {
		snprintf(err, errlen, "node_name: 1 to %d of a-z, 0-9 and -",
		    NODE_NAME_MAX);
		return -1;
	}
	return 0;
}
