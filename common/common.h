/*
 * common.h: what the supervisor, the worker and the CLI share.
 *
 * Modules (one file each, functions share the prefix):
 *   log_*     JSON log lines on stderr
 *   config_*  defaults < file < environment < flags
 *   dburl_*   DATABASE_URL parsing
 *   ipc_*     framed messages between supervisor and worker (imsg-like)
 *   jwt_*     bearer tokens: HS256, RS256, ES256; key sets from PEM and
 *             JWKS (OpenSSL EVP, jansson)
 *   httphead_* the request head the supervisor peeks at (http-parser)
 *   chunked_*  the strict framing check of a chunked request body
 *   host_*    Host and Origin against allowed_hosts (DNS rebinding)
 *   fd_*, rand_*, hex_*, now_*: small Linux helpers
 *
 * No process-specific logic lives here.
 */
#ifndef DATAAGENT_COMMON_H
#define DATAAGENT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#define DATAAGENT_VERSION "0.1.0"

/* ---------------------------------------------------------------- log */

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Sets the process name written as "proc" and the minimum level. */
void log_init(const char *proc, enum log_level level);
void log_set_level(enum log_level level);
/* Returns 0 and sets *level_r, or -1 for an unknown name
 * ("error", "warn"/"warning", "info", "debug", case-insensitive). */
int log_level_parse(const char *name, enum log_level *level_r);
const char *log_level_name(enum log_level level);
int log_enabled(enum log_level level);
/*
 * The form of each line: 0 one JSON object (the default; journald and
 * log shippers read it), 1 one line for a person at a terminal:
 * "2026-12-05 21:03:04.123 info  dataagentd[812] msg key=value ...".
 */
void log_set_text(int text);
/* "json" 0, "text" 1, "auto" (or NULL) 1 when stderr is a terminal. */
int log_format_is_text(const char *format);
/* Formats one log object (the fields of log_write) as the text form
 * into a malloc'd, NUL-terminated line without its newline; NULL when
 * memory runs out. */
char *log_text_line(const json_t *line);
/*
 * Writes one JSON object line to stderr with one write(2): "ts" (RFC 3339
 * UTC with milliseconds), "level", "proc", "pid", "msg", then the fields
 * built by json_pack-style `fmt` (an object format such as "{s:s,s:i}"),
 * or none when fmt is NULL. A bad format still logs msg.
 */
void log_write(enum log_level level, const char *msg, const char *fmt, ...);
void log_vwrite(enum log_level level, const char *msg, const char *fmt,
    va_list ap);
/* One line written for another process (the supervisor passing on a
 * worker's line): proc and pid as given, then msg, then fields (not
 * stolen; keys ts, level, proc, pid and msg in it are ignored). */
void log_emit(enum log_level level, const char *proc, long long pid,
    const char *msg, json_t *fields);
#define log_error(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LVL_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------- config */

#define CONFIG_DEFAULT_PATH "/etc/dataagent/dataagent.conf"
#define CONFIG_STRLEN 512

struct config {
	char cf_host[CONFIG_STRLEN];		/* host, 127.0.0.1 */
	int cf_port;				/* port, 8000 */
	int cf_workers;				/* workers (spares), 2 */
	enum log_level cf_log_level;		/* log_level, info */
	char cf_log_format[CONFIG_STRLEN];	/* auto, json, text */
	char cf_database_url[CONFIG_STRLEN];	/* database_url */
	int cf_store_poll_interval;		/* seconds, 2; 0: off */
	char cf_node_name[CONFIG_STRLEN];	/* "": the host name */
	char cf_secret_key[CONFIG_STRLEN];	/* secret_key (JWT) */
	char cf_master_key[CONFIG_STRLEN];	/* /etc/dataagent/master.key */
	char cf_allowed_hosts[CONFIG_STRLEN];	/* allowed_hosts, comma list */
	int cf_max_connections_per_user;	/* 10 */
	int cf_max_total_connections;		/* 100 */
	int cf_connection_timeout;		/* seconds, 30 */
	int cf_idle_timeout;			/* seconds, 300 */
	int cf_tool_cache_ttl;			/* seconds, 300 */
	int cf_max_retries;			/* start attempts after the first, 3 */
	int cf_retry_delay;			/* seconds, 1, doubling */
	int cf_reconnect_interval;		/* seconds, 300: failed servers */
	int cf_tenant_uid_base;			/* 61000 */
	int cf_tenant_uid_count;		/* 10000: base+1 .. base+count */
	char cf_state_dir[CONFIG_STRLEN];	/* /var/lib/dataagent */
	char cf_control_socket[CONFIG_STRLEN];	/* /run/dataagent/control.sock */
	char cf_worker_path[CONFIG_STRLEN];	/* "" = beside dataagentd */
	char cf_policy_dir[CONFIG_STRLEN];	/* /etc/dataagent/policy */
	char cf_cgroups[CONFIG_STRLEN];		/* auto, v2, v1, off */
	char cf_cgroup_name[CONFIG_STRLEN];	/* v1 group dir, "dataagent" */
	char cf_tenant_network[CONFIG_STRLEN];	/* host, none, egress (netns.h) */
	int cf_tenant_network_set;		/* given by the file, environment
						 * or a flag, not the default */
	char cf_tenant_egress_range[CONFIG_STRLEN];	/* 10.213.0.0/16 */
	char cf_tenant_egress_allow[CONFIG_STRLEN];	/* "": all but the host */
	char cf_tenant_egress_deny[CONFIG_STRLEN];	/* more CIDRs to refuse */
	int64_t cf_tenant_memory_max;		/* bytes, -1 = no limit */
	int64_t cf_tenant_tmp_size;		/* each private tmpfs, bytes */
	int64_t cf_tenant_swap_max;		/* bytes, -1 = no limit */
	int64_t cf_tenant_pids_max;		/* -1 = no limit */
	int cf_tenant_cpu_weight;		/* 1..10000 */
	int cf_tenant_nofile;			/* RLIMIT_NOFILE, 4096 */
	int cf_tenant_nproc;			/* RLIMIT_NPROC, 2048 */
	int cf_max_header_size;			/* bytes, 8192 */
	int cf_header_timeout;			/* seconds, 10 */
	int cf_max_body_size;			/* bytes, 1 MiB */
	int cf_max_token_ttl;			/* seconds, 30 days */
	int cf_drain_timeout;			/* seconds, 10 */
	int64_t cf_worker_ipc_queue_max;	/* bytes queued to a worker, 8M */
	int cf_worker_ipc_queue_fds;		/* fds queued to a worker, 1024 */
	char cf_jwt_public_keys[CONFIG_STRLEN];	/* [kid[:ALG]=]PATH, ... */
	char cf_jwt_jwks_file[CONFIG_STRLEN];	/* a JWK Set file */
	char cf_jwt_issuer[CONFIG_STRLEN];	/* required iss, "" = any */
	char cf_jwt_audience[CONFIG_STRLEN];	/* required aud, "" = any */
	char cf_oauth_resource[CONFIG_STRLEN];	/* RFC 9728 resource URL */
	char cf_oauth_authorization_servers[CONFIG_STRLEN];	/* URLs */
	char cf_metrics_listen[CONFIG_STRLEN];	/* "" or host:port for /metrics */
	char cf_metrics_token[CONFIG_STRLEN];	/* "" or the bearer that opens
						 * /metrics on the main port */
	char cf_audit_arguments[CONFIG_STRLEN];	/* on, off: argument values in
						 * tool-call audit rows */
	int cf_audit_retention;			/* days, 90; 0 = forever */
	int cf_rate_limit;			/* requests/minute/tenant, 100 */
	int cf_rate_limit_burst;		/* 0 = rate_limit */
	int cf_ip_connection_rate;		/* connections/minute/IP, 6000 */
	int cf_ip_connection_burst;		/* 500 */
	int cf_auth_fail_limit;			/* failures before back-off, 30 */
	int cf_auth_fail_block;			/* first back-off, seconds, 10 */
	char cf_rate_limit_exempt[CONFIG_STRLEN]; /* addresses/CIDRs, "" */
	char cf_trusted_proxies[CONFIG_STRLEN];	/* addresses/CIDRs, "" */
	int cf_tls_max_conns_per_tenant;	/* 512 of TLS_MAX_CONNS */
	int cf_worker_log_rate;			/* lines/s a worker passes on, 10 */
	int cf_worker_log_burst;		/* 200 */
	int cf_tenant_store_rate;		/* store requests/s per tenant, 5 */
	int cf_tenant_store_burst;		/* 20 */
	int cf_tenant_max_servers;		/* 100 */
	int cf_tenant_max_secrets;		/* 100 */
	int cf_secret_max_size;			/* bytes, 8192 */
	int cf_tenant_audit_rate;		/* rows/s per tenant, 200 */
	int cf_tenant_audit_queue;		/* rows waiting per tenant, 256 */
	int cf_audit_queue;			/* rows waiting in all, 2048 */
	int cf_tls_port;			/* 0 = no TLS listener */
	char cf_tls_host[CONFIG_STRLEN];	/* "" = host */
	char cf_tls_cert_file[CONFIG_STRLEN];	/* PEM chain */
	char cf_tls_key_file[CONFIG_STRLEN];	/* PEM private key */
	int cf_relays;				/* -1: one per online CPU */
	int cf_relay_uid;			/* 0: tenant_uid_base */
	char cf_handoff[CONFIG_STRLEN];		/* direct, relay */
	char cf_direct_peers[CONFIG_STRLEN];	/* addresses/CIDRs, "" */
};

/* Fills every key with its default. */
void config_defaults(struct config *cf);
/*
 * Reads `key = value` lines ('#' comments, blank lines). Unknown keys and
 * bad values are errors reported as "path:line: reason" in err.
 * A missing file is not an error when `optional` is set.
 * Returns 0, or -1 with err filled.
 */
int config_load_file(struct config *cf, const char *path, int optional,
    char *err, size_t errlen);
/*
 * Applies DATABASE_URL, LOG_LEVEL, MCP_MAX_CONNECTIONS_PER_USER,
 * MCP_MAX_TOTAL_CONNECTIONS, SECRET_KEY, ALLOWED_HOSTS from the
 * environment. Returns 0, or -1 with err filled (e.g. "LOG_LEVEL: ...").
 */
int config_load_env(struct config *cf, char *err, size_t errlen);
/* Sets one key by its file name ("port", "log_level", ...). Used by the
 * file, the environment and the flags alike. Returns 0 or -1 with err. */
int config_set(struct config *cf, const char *key, const char *value,
    char *err, size_t errlen);
/* Parses a size: a number with an optional K, M, G or T (powers of
 * 1024), or "max" (-1). Returns 0 or -1. */
int config_size_parse(const char *value, int64_t *v_r);
/* Returns 1 if key is an integer setting of the table and v lies within
 * its range, else 0. The worker checks what the supervisor sends with it. */
int config_int_in_range(const char *key, long long v);
/* Checks values that must hold whatever their source (SECRET_KEY rules,
 * ranges, DATABASE_URL form). Returns 0 or -1 with err. */
int config_validate(const struct config *cf, char *err, size_t errlen);

/* ------------------------------------------------------------- dburl */

enum dburl_kind {
	DBURL_SQLITE = 1,
	DBURL_MYSQL,
};

/* TLS to a MySQL server (?ssl= / ?ssl_mode=, as the MySQL clients name
 * them) */
enum dburl_ssl {
	DBURL_SSL_DEFAULT = 0,	/* the library's default (none) */
	DBURL_SSL_DISABLED,
	DBURL_SSL_REQUIRED,	/* encrypted, server not verified */
	DBURL_SSL_VERIFY_CA,	/* encrypted, chain verified */
	DBURL_SSL_VERIFY_IDENTITY, /* chain and host name verified */
};

struct dburl {
	enum dburl_kind db_kind;
	char db_path[CONFIG_STRLEN];	/* sqlite: the file path */
	/* mysql: */
	char db_user[128];
	char db_password[256];
	char db_host[256];		/* "" with a unix socket */
	int db_port;			/* 3306 unless given */
	char db_name[65];
	char db_socket[CONFIG_STRLEN];	/* ?unix_socket= */
	enum dburl_ssl db_ssl;
	char db_ssl_ca[CONFIG_STRLEN];	/* ?ssl_ca= */
	char db_ssl_cert[CONFIG_STRLEN];	/* ?ssl_cert= */
	char db_ssl_key[CONFIG_STRLEN];	/* ?ssl_key= */
};

/*
 * Parses sqlite:///relative (relative to the current directory, as
 * SQLAlchemy does), sqlite:////absolute, and
 * mysql://USER:PASSWORD@HOST[:PORT]/DATABASE[?k=v&...] (also the
 * mysql+aiomysql://, mysql+pymysql:// and mariadb:// spellings), where
 * user and password are percent-decoded, HOST may be [v6], and the query
 * takes ssl (true|false|required|verify_ca|verify_identity), ssl_mode
 * (DISABLED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY), ssl_ca, ssl_cert,
 * ssl_key, unix_socket and charset (utf8mb4 only). An empty url means
 * "<state_dir>/dataagent.db". Returns 0, or -1 with err (which never
 * holds the password).
 */
int dburl_parse(const char *url, const char *state_dir, struct dburl *db,
    char *err, size_t errlen);
/* Writes url with any password replaced by "***" (for logs). */
void dburl_redact(const char *url, char *out, size_t outlen);

/* --------------------------------------------------------------- ipc */

/*
 * Framed messages over a SOCK_STREAM Unix socket, after OpenBSD imsg:
 * a fixed 16-byte header (type, len, peer, flags; host byte order, both
 * ends are on one host), then `len` bytes of payload (JSON text for every
 * message we define). At most one fd travels with a message (IPC_F_FD).
 */
#define IPC_HDR_SIZE 16
#define IPC_MAX_PAYLOAD (4u * 1024 * 1024)
/* worker_ipc_queue_max's ceiling (config.c). */
#define WORKER_IPC_QUEUE_CAP (1024LL * 1024 * 1024)
#define IPC_F_FD 0x1u
#define IPC_F_MASK IPC_F_FD

struct ipc_hdr {
	uint32_t ih_type;
	uint32_t ih_len;	/* payload bytes */
	uint32_t ih_peer;	/* request id or connection id */
	uint32_t ih_flags;
};

/*
 * Pure decoder (fuzzed): looks at buf[0..len). Returns 1 with *hdr filled
 * when a whole message (header + payload) is there, 0 when more bytes are
 * needed, -1 when the header is invalid (len > IPC_MAX_PAYLOAD, unknown
 * flags, type 0).
 */
int ipc_decode(const uint8_t *buf, size_t len, struct ipc_hdr *hdr);
void ipc_encode_hdr(uint8_t out[IPC_HDR_SIZE], const struct ipc_hdr *hdr);

struct ipc_chan;
struct event_base;

struct ipc_msg {
	struct ipc_hdr im_hdr;
	const uint8_t *im_data;	/* im_hdr.ih_len bytes, valid in callback */
	int im_fd;		/* -1, or an fd the callback now owns */
};

/*
 * Called for each message. Return 0 to go on, -1 to report a protocol
 * violation (the channel then calls on_error). The callback may free the
 * channel only by returning -1 or from on_error.
 */
typedef int (*ipc_msg_cb)(struct ipc_chan *ch, struct ipc_msg *msg, void *arg);
/* EOF, read/write error, or protocol violation (`why` says which). */
typedef void (*ipc_err_cb)(struct ipc_chan *ch, const char *why, void *arg);

/* Takes ownership of fd (made non-blocking, close-on-exec). */
struct ipc_chan *ipc_chan_new(struct event_base *base, int fd,
    ipc_msg_cb on_msg, ipc_err_cb on_error, void *arg);
/* Closes the fd, frees queued messages and any received fds. */
void ipc_chan_free(struct ipc_chan **ch);
/* Queues one message; fd (or -1) is dup'ed, the caller keeps its copy.
 * Returns 0, or -1 when the payload is too large, dup fails, the channel
 * is in error or the message would pass its bounds. */
int ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t peer, int fd,
    const void *data, size_t len);
/* Sends a JSON value as the payload (json_dumps compact). Does not steal. */
int ipc_send_json(struct ipc_chan *ch, uint32_t type, uint32_t peer, int fd,
    const json_t *v);
/* Like ipc_send without an fd, but a queued frame of the same type none
 * of which is written yet is replaced in place by this one: only the
 * newest such message waits (a configuration push). Returns 0 or -1. */
int ipc_send_latest(struct ipc_chan *ch, uint32_t type, uint32_t peer,
    const void *data, size_t len);
int ipc_send_json_latest(struct ipc_chan *ch, uint32_t type, uint32_t peer,
    const json_t *v);
/*
 * Bounds what may wait in the channel's send queue (what the socket did
 * not take): max_bytes of frames, max_fds frames that carry an fd; 0 is
 * no bound. A send that would pass one fails (-1, nothing queued) and
 * the channel reports IPC_ERR_QUEUE_BYTES or IPC_ERR_QUEUE_FDS to its
 * on_error from the loop: the peer is not reading.
 */
void ipc_chan_set_bounds(struct ipc_chan *ch, size_t max_bytes,
    unsigned max_fds);
#define IPC_ERR_QUEUE_BYTES "send queue over its byte bound"
#define IPC_ERR_QUEUE_FDS "send queue over its fd bound"
/* Bytes waiting to be written. */
size_t ipc_pending(const struct ipc_chan *ch);
/* Frames with an fd waiting to be written (their fds are open here). */
unsigned ipc_pending_fds(const struct ipc_chan *ch);
/* Blocking flush, used before exit or exec. Returns 0 or -1. */
int ipc_flush(struct ipc_chan *ch);
int ipc_chan_fd(const struct ipc_chan *ch);

/*
 * Parses a message payload as a JSON object. Returns a new reference or
 * NULL (not an object, not JSON, embedded NUL).
 */
json_t *ipc_payload_json(const struct ipc_msg *msg);

/* ---------------------------------------------------------------- jwt */

#define JWT_LEEWAY 30	/* seconds of clock skew accepted for exp/nbf */
#define JWT_KID_MAX 128
#define JWT_JTI_MAX 128

enum jwt_alg {
	JWT_HS256 = 1,
	JWT_RS256,
	JWT_ES256,
};

struct jwt_claims {
	char jc_sub[128];
	int64_t jc_exp;
	int64_t jc_nbf;	/* 0 when absent */
	int64_t jc_iat;	/* 0 when absent */
	char jc_jti[JWT_JTI_MAX];	/* "" when absent */
	enum jwt_alg jc_alg;	/* the algorithm that verified it */
};

/*
 * The keys that verify tokens. Each has exactly one algorithm pinned
 * when it is added (HMAC: HS256; RSA 2048..8192 bits: RS256; EC P-256:
 * ES256) and an optional kid, unique in the set. At most 64 keys.
 */
struct jwt_keyset;

struct jwt_keyset *jwt_keyset_new(void);
void jwt_keyset_free(struct jwt_keyset **ks);
size_t jwt_keyset_count(const struct jwt_keyset *ks);
/* [{"kid","alg"}] for logs and `dataagentd -t`. */
json_t *jwt_keyset_json(const struct jwt_keyset *ks);
const char *jwt_alg_name(enum jwt_alg alg);
/* Adds an HS256 key (kid NULL or "" for none). Returns 0 or -1 with err. */
int jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid,
    const uint8_t *key, size_t keylen, char *err, size_t errlen);
/*
 * Adds a PEM public key (SubjectPublicKeyInfo, or the key of an X.509
 * certificate); alg NULL/"" infers it from the key, else it must be the
 * one the key can verify. A PEM holding a private key is refused.
 * Returns 0 or -1 with err.
 */
int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid,
    const char *alg, const char *pem, size_t len, char *err, size_t errlen);
/*
 * Adds the keys of a JWK Set (RFC 7517): "kty":"RSA" (n, e) and "kty":
 * "EC" with "crv":"P-256" (x, y). A key's "alg", when present, pins it
 * and must fit its type; keys with "use" other than "sig", of other
 * types, curves or algorithms are skipped (counted in *skipped_r); a key
 * with private members ("d", ...) or a malformed supported key is an
 * error, and then nothing of the document is added. Pure (fuzzed).
 */
int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *text, size_t len,
    size_t *added_r, size_t *skipped_r, char *err, size_t errlen);
int jwt_keyset_add_jwks_file(struct jwt_keyset *ks, const char *path,
    size_t *added_r, size_t *skipped_r, char *err, size_t errlen);
/*
 * Adds each PEM file of a comma-separated list of PATH, kid=PATH or
 * kid:ALG=PATH entries (PATH absolute). Returns 0 or -1 with err.
 */
int jwt_keyset_add_pem_list(struct jwt_keyset *ks, const char *list,
    char *err, size_t errlen);

/*
 * Verifies a compact JWS against ks. The header's "kid" selects the key
 * (absent: the keys without a kid are tried); its "alg" must be the
 * key's pinned algorithm (so "none" never passes); "typ" is JWT, at+jwt
 * or absent; "crit" is refused. ES256 signatures are r||s (64 bytes).
 * The payload must carry a string sub (1..127 bytes), a numeric exp and
 * a jti, a string of 1..127 bytes (a token without one could never be
 * revoked). When max_ttl > 0, exp - iat (when iat is present) and
 * exp - now must not exceed it (now with the leeway). For a token a public key
 * verified, iss must equal issuer and aud (a string or an array) must
 * contain audience when those are set (non-NULL, non-empty); an HS256
 * token is dataagent's own (token issue) and is not held to them. exp + leeway > now, nbf - leeway <= now.
 * Returns 0 with claims filled, or -1 with a short reason in *why
 * ("malformed", "alg", "kid", "signature", "claims", "issuer",
 * "audience", "no_jti", "ttl", "expired", "not_yet_valid").
 */
int jwt_verify_keyset(const char *token, size_t toklen,
    const struct jwt_keyset *ks, const char *issuer, const char *audience,
    int64_t max_ttl, int64_t now, struct jwt_claims *claims,
    const char **why);
/* jwt_verify_keyset with one HS256 key, no iss/aud check, no max_ttl. */
int jwt_verify(const char *token, size_t toklen, const uint8_t *key,
    size_t keylen, int64_t now, struct jwt_claims *claims, const char **why);
/* Signs {"sub","iat","exp","jti"} with HS256 (jti NULL: none, a token
 * jwt_verify refuses; only tests make one). Returns a malloc'd token or
 * NULL. */
char *jwt_sign_jti(const char *sub, int64_t iat, int64_t exp, const char *jti,
    const uint8_t *key, size_t keylen);
/* SHA-256 of the token, lowercase hex into out[65]. */
void jwt_token_hash(const char *token, size_t toklen, char out[65]);

/* ------------------------------------------------------------ chunked */

/* The strict framing check of a chunked request body (chunked.c). */
struct chunked {
	int ck_state;
	int ck_result;		/* once failed */
	uint64_t ck_size;	/* of the chunk being read, then its rest */
	uint64_t ck_total;	/* sizes of the chunks so far */
	uint64_t ck_max;	/* the body limit */
	unsigned ck_digits;
	size_t ck_line;		/* bytes of the current chunk-ext */
	size_t ck_trailer;	/* bytes of the trailer section */
};

#define CHUNKED_MORE 0		/* well framed so far */
#define CHUNKED_DONE 1		/* the body ended after *used_r bytes */
#define CHUNKED_BAD (-1)	/* not RFC 9112 framing: 400 */
#define CHUNKED_TOO_LARGE (-2)	/* a chunk-size over the limit: 413 */

/* Starts checking a body of at most max bytes of chunk data. */
void chunked_init(struct chunked *ck, uint64_t max);
/*
 * Checks the next len bytes of the body: CRLF exactly where the framing
 * has one, hex chunk sizes of at most 16 digits, extensions and trailer
 * fields of visible bytes. Returns CHUNKED_MORE, CHUNKED_DONE (after
 * *used_r bytes: the rest is not this body's), CHUNKED_BAD or
 * CHUNKED_TOO_LARGE; a failure sticks.
 */
int chunked_feed(struct chunked *ck, const char *buf, size_t len,
    size_t *used_r);

/* ----------------------------------------------------------- httphead */

#define HTTPHEAD_MAX_HEADERS 64

struct httphead {
	int hh_method;		/* enum http_method from http_parser.h */
	char hh_path[2048];	/* path without the query */
	char hh_authorization[4096];
	int hh_has_authorization;
	char hh_host[256];
	int hh_has_host;
	char hh_origin[512];
	int hh_has_origin;
	char hh_request_id[65];	/* X-Request-Id as sent ("" when longer
				 * than 64 bytes or absent); not checked */
	char hh_forwarded_for[512];	/* X-Forwarded-For, every such
				 * header joined by ","; when longer, its
				 * right-most bytes; not checked */
	int hh_has_forwarded_for;
	size_t hh_head_len;	/* bytes up to and including CRLFCRLF */
	unsigned hh_http_major, hh_http_minor;
};

/*
 * Parses a request head from buf[0..len) with http-parser, stopping at the
 * end of the headers. Returns 1 when the head is complete (*hh filled),
 * 0 when more bytes are needed, -1 on a malformed head (*status_r = 400),
 * or a too-long field (*status_r = 431 for headers, 414 for the URL).
 */
int httphead_parse(const char *buf, size_t len, struct httphead *hh,
    int *status_r);
/* Extracts the token from "Bearer <token>" (scheme case-insensitive).
 * Returns a pointer into value and its length, or NULL. */
const char *httphead_bearer(const char *value, size_t *len_r);
/*
 * Matches /api/v1/users/{id} and /api/v1/users/{id}/... . Returns 1 and
 * copies {id} (url-decoded, at most idlen-1 bytes) for such a path, 0 for
 * other paths, -1 for a malformed id.
 */
int httphead_path_tenant(const char *path, char *id, size_t idlen);

/* Percent-decodes [s, s+len) into out, NUL-terminated. Returns 0, or -1
 * for a bad escape, an encoded NUL or an out too small. */
int pct_decode(const char *s, size_t len, char *out, size_t outlen);

struct sockaddr_storage;
/* 1 for 127.0.0.0/8, ::1 and 127.0.0.0/8 mapped into IPv6. */
int addr_is_loopback(const struct sockaddr_storage *ss);
/* A non-blocking listening TCP socket on host:port (host a literal
 * address when numeric_host), with TCP_NODELAY, which the connections
 * it accepts inherit (Linux). Returns the fd with *port_r the port bound
 * (the kernel's pick for "0"), or -1 with err. */
int listen_tcp(const char *host, const char *port, int numeric_host,
    int backlog, int *port_r, char *err, size_t errlen);
/* The next connection on a non-blocking listening socket (non-blocking,
 * close-on-exec), or -1 when there is none for now (other errors are
 * logged). */
int accept_next(int lfd, struct sockaddr_storage *ss);
/* cidr.c: address lists such as "127.0.0.1, ::1, 10.0.0.0/8". */
struct cidr {
	uint8_t ci_addr[16];	/* IPv4 mapped into IPv6 */
	int ci_bits;		/* prefix length over the 16 bytes */
};
/* Parses a comma- or blank-separated list into out[0..max) (out may be
 * NULL to only check). Returns the number of entries, or -1 with err
 * naming the entry that is not an address or CIDR, or one too many. */
int cidrs_parse(const char *text, struct cidr *out, int max, char *err,
    size_t errlen);
/* 1 when the address (AF_INET or AF_INET6) lies in one of list[0..n). */
int cidrs_match(const struct cidr *list, int n,
    const struct sockaddr_storage *ss);
/* The same for an address as cidr_addr16 gives it. */
int cidrs_has(const struct cidr *list, int n, const uint8_t a[16]);
/* An AF_INET or AF_INET6 address as 16 bytes (IPv4 mapped into IPv6).
 * Returns 0, or -1 for another family. */
int cidr_addr16(const struct sockaddr_storage *ss, uint8_t out[16]);
/* Splits "host:port" or "[v6]:port" (port 0..65535, host non-empty) into
 * host and port. Returns 0 or -1. */
int addr_split_hostport(const char *s, char *host, size_t hostlen,
    char *port, size_t portlen);

/* hostcheck.c: the Host and Origin checks against allowed_hosts (the
 * matching rules are in hostcheck.c and dataagent.conf(5)). */
enum host_kind {
	HOST_HEADER = 1,	/* "name[:port]", "[v6]:port"; IP literals pass */
	HOST_ORIGIN,		/* "scheme://host[:port]"; "null" never passes */
};
/* 1 when value may be accepted, 0 when it is to be answered 403. */
int host_allowed(const char *allowed_hosts, const char *value,
    enum host_kind kind);

/* Reason phrase for an HTTP status code ("Unknown" when not ours). */
const char *http_status_text(int status);
/* A JSON string from untrusted bytes: as is when valid UTF-8, else with
 * every byte outside printable ASCII as '?' (httpresp.c). */
json_t *json_string_lossy(const char *s, size_t len);
/* vis.c: untrusted text made safe for a terminal or a log line.
 * The escaped form of s[0..len): a backslash as \\, every control
 * character (C0, DEL, C1, the bidirectional overrides and U+2028/9) and
 * every byte that is not valid UTF-8 as \xNN, the rest as is. Returns a
 * string to free, or NULL when out of memory. */
char *vis_escape(const char *s, size_t len);
/* The length vis_escape's result would have. */
size_t vis_needed(const char *s, size_t len);
/* 1 when vis_escape would return s unchanged. */
int vis_is_clean(const char *s, size_t len);
/* A copy of v with every string and key passed through vis_escape; an
 * array or object nested deeper than depth_max becomes the string
 * "(nested too deep)". Returns a new reference, or NULL when out of
 * memory. */
json_t *vis_json(const json_t *v, int depth_max);
/* 1 for /api/v1/users/{id}/mcp and /api/v1/users/{id}/mcp/{server}. */
int http_path_is_mcp(const char *path);
/* The body of a 429: on an MCP POST a JSON-RPC error with the id of the
 * request in body (when it parses), else {"error","retry_after"}. */
json_t *http_rate_limited_body(int mcp_post, const char *body, size_t len,
    int retry_after);

/* --------------------------------------------------------- secretref */

/* Secret names: [A-Z_][A-Z0-9_]{0,63}. Values: at most SECRET_VALUE_MAX
 * bytes without NUL. */
#define SECRET_NAME_MAX 64
#define SECRET_VALUE_MAX 8192

int secret_name_valid(const char *s);
/* Adds every NAME that s refers to as ${secret:NAME} to the object names
 * (as keys). Returns 0 or -1 (out of memory). */
int secretref_names(const char *s, json_t *names);
/* The same for a server object's env and header values (not args:
 * see secretref_args_find). */
int secretref_server_names(const json_t *srv, json_t *names);
/* 1 when an element of the array args holds a ${secret:NAME} reference,
 * with the first one's index in *index_r and NAME in name_r; else 0.
 * Secrets never go into argv (/proc/PID/cmdline is world-readable). */
int secretref_args_find(const json_t *args, size_t *index_r,
    char name_r[SECRET_NAME_MAX + 1]);
/* Returns the value of a secret, or NULL when it is not set. */
typedef const char *(*secretref_lookup_fn)(const char *name, void *arg);
/*
 * Replaces each ${secret:NAME} in s with lookup(NAME). Returns 0 with a
 * malloc'd *out_r (the caller wipes it before freeing), or -1 with the
 * first missing NAME in missing ("" when out of memory).
 */
int secretref_expand(const char *s, secretref_lookup_fn lookup, void *arg,
    char **out_r, char *missing, size_t missinglen);

/* -------------------------------------------------------------- misc */

/* Closes *fd when >= 0 and sets it to -1. */
void fd_close(int *fd);
/* The same for a socket another process may have had: SO_LINGER is
 * turned off first, for close(2) of a lingering socket blocks whatever
 * O_NONBLOCK says. (A process that still holds a dup can turn it on
 * again between the two calls; it cannot once it has closed its dup.) */
void fd_close_nolinger(int *fd);
int fd_nonblock(int fd);
int fd_cloexec(int fd);
/* Fills buf with cryptographically random bytes. Returns 0 or -1. */
int rand_bytes(void *buf, size_t len);
/* Lowercase hex of len bytes into out (2*len+1). */
void hex_encode(const void *buf, size_t len, char *out);
int64_t now_wall(void);		/* seconds since the epoch */
int64_t now_mono_ms(void);	/* CLOCK_MONOTONIC in ms */
/* Tenant ids and server names: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, no "__". */
int name_valid(const char *s);
/* A host's node_name (name.c): [a-z0-9-]{1,16}. */
#define NODE_NAME_MAX 16
int node_name_valid(const char *s);
void node_name_default(char *out, size_t outlen);
/* Standard base64 (OpenSSL) of len bytes: a malloc'd string or NULL. */
char *b64_encode(const void *buf, size_t len);
/* Decodes standard base64 into a malloc'd buffer (*out_r, *len_r).
 * Returns 0, or -1 on bad input or a result longer than max. */
int b64_decode(const char *s, size_t max, uint8_t **out_r, size_t *len_r);
/* Makes jansson and libevent wipe every block they free (wipe.c): call
 * first thing in main, before either library allocates. */
void mem_wipe_on_free(void);
/* No core dump of this process, whatever the host's core_pattern says:
 * RLIMIT_CORE 0 (soft and hard) and PR_SET_DUMPABLE 0, which also keeps
 * other users' processes from ptrace and from /proc/PID/mem. Call first
 * thing in main, before anything secret is read. 0, or -1 with err. */
int mem_no_core(char *err, size_t errlen);
/* Constant-time comparison of two equal-length buffers. */
int ct_equal(const void *a, const void *b, size_t len);

/* ---------------------------------------------------------- promtext */

/* mcp_tool_duration_seconds buckets: 0.005 .. 30 s, then +Inf. */
#define PROM_NBUCKETS 13
#define PROM_BUCKET_LE { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", \
	"0.5", "1", "2.5", "5", "10", "30", "+Inf" }
#define PROM_TOOL_NAME_MAX 128
/*
 * Escapes a label value (backslash, double quote, newline) into out,
 * always NUL-terminated when outlen > 0. Returns the escaped length, as
 * snprintf does: a result >= outlen means out was truncated.
 */
size_t prom_label_escape(const char *s, char *out, size_t outlen);
/* 1 when a tool name may be a label value as is: 1..128 bytes of
 * printable ASCII (space included) without quote or backslash. */
int prom_tool_name_valid(const char *s);
/* The (non-cumulative) bucket index 0..PROM_NBUCKETS-1 of a duration. */
int prom_duration_bucket(int64_t ms);
/* mcp_connection_duration_seconds buckets: 1 s .. 1 day, then +Inf. */
#define PROM_CONN_NBUCKETS 9
#define PROM_CONN_BUCKET_LE { "1", "10", "60", "300", "900", "3600", \
	"14400", "86400", "+Inf" }
/* The (non-cumulative) bucket index of how long a connection lasted. */
int prom_conn_bucket(int64_t ms);

/* ------------------------------------------------------------- reqid */

/* X-Request-Id: 1..64 of [A-Za-z0-9-_.:]. */
#define REQUEST_ID_MAX 64
int request_id_valid(const char *s);
/* given when it is valid, else 32 random hex digits, into out. */
void request_id_pick(const char *given, char out[REQUEST_ID_MAX + 1]);
/* Route classes, the route label of dataagent_http_requests_total. */
#define HTTP_NROUTES 9
#define HTTP_ROUTE_NAMES { "health", "metrics", "mcp", "mcp_servers", \
	"tools", "tool_call", "secrets", "api_other", "other" }
/* The class of a request path (one of HTTP_ROUTE_NAMES, static). */
const char *http_route_class(const char *path);
/* Index of a route class name, -1 when it is not one. */
int http_route_index(const char *name);
/* The name of index i ("other" when out of range). */
const char *http_route_name(int i);

/* ------------------------------------------------------------ toolacl */

/*
 * Tool allow/deny lists (toolacl.c): fnmatch(3) patterns matched against
 * an upstream's own tool name. A pattern is 1..TOOLACL_PATTERN_MAX bytes
 * of [A-Za-z0-9_./:-] and * ? [...] (classes closed, no backslash, no
 * comma); a list holds at most TOOLACL_LIST_MAX of them.
 */
#define TOOLACL_PATTERN_MAX 128
#define TOOLACL_LIST_MAX 64
/* The longest list as comma-separated text (blanks between items). */
#define TOOLACL_TEXT_MAX (TOOLACL_LIST_MAX * (TOOLACL_PATTERN_MAX + 3))
int toolacl_pattern_valid(const char *p);
/*
 * An untrusted list: a string of comma-separated patterns (blanks around
 * each dropped; "" is the empty list), an array of pattern strings, or
 * null / NULL (empty). Returns a new array of valid patterns in order,
 * duplicates dropped, or NULL with err.
 */
json_t *toolacl_list_parse(const json_t *v, char *err, size_t errlen);
/* The same from C text (dataagentctl's --allow-tools, the store). */
json_t *toolacl_list_parse_str(const char *s, char *err, size_t errlen);
/*
 * Both lists of in, "allow_tools" and "deny_tools" (toolacl_list_parse
 * each), into out as arrays. A list in lacks is made empty in out, or,
 * with keep, left as out has it. Returns how many in had, or -1 with err
 * naming the list.
 */
int toolacl_lists_parse(const json_t *in, json_t *out, int keep, char *err,
    size_t errlen);
/* A list as comma-separated text (malloc'd; "" when empty), or NULL. */
char *toolacl_list_join(const json_t *list);
/*
 * Whether tool (an upstream's own name) may be listed and called, by
 * the lists "allow_tools" and "deny_tools" of tenant and of server
 * (objects, or NULL; a missing list is empty). Deny wins; every allow
 * list that is not empty must match. Returns 1, or 0 with *why_r (when
 * not NULL) naming the list that refused: "tenant deny", "server deny",
 * "tenant allow" or "server allow".
 */
int toolacl_allows(const json_t *tenant, const json_t *server,
    const char *tool, const char **why_r);
/* 1 when why is one of toolacl_allows' reasons. */
int toolacl_policy_valid(const char *why);

#endif
