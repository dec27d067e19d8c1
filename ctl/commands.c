/*
 * commands.c: dataagentctl's command table (ctl_commands[]) and the
 * request each command builds from its operands and options. A new
 * command is one entry here (its words, operands, options, help lines),
 * a ctl_args_* that builds its request's args and, when its answer
 * wants more than JSON, a ctl_print_* in print.c.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ctl.h"

#define CTL_SECRET_MAX 8192

static int ctl_args_none(struct ctl *, json_t **);
static int ctl_args_id(struct ctl *, json_t **);
static int ctl_args_tenant(struct ctl *, json_t **);
static int ctl_args_tenant_name(struct ctl *, json_t **);
static int ctl_args_set_egress(struct ctl *, json_t **);
static int ctl_args_set_limits(struct ctl *, json_t **);
static int ctl_args_server_add(struct ctl *, json_t **);
static int ctl_args_server_import(struct ctl *, json_t **);
static int ctl_args_token_issue(struct ctl *, json_t **);
static int ctl_args_token_revoke(struct ctl *, json_t **);
static int ctl_args_secret_set(struct ctl *, json_t **);
static int ctl_args_audit(struct ctl *, json_t **);
static int ctl_key_generate(struct ctl *);

/*
 * The options that belong to some commands, in the order a command line
 * is checked: the first misplaced group is the usage error; a command
 * that needs a group (ce_needs) is checked right after that group.
 */
const struct ctl_optgroup ctl_optgroups[] = {
	{ CTL_O_SERVER_ADD, "--env, --disabled and -- belong to server add",
	    0, NULL },
	{ CTL_O_TOOLS, "--allow-tools and --deny-tools belong to server add, "
	    "server set and tenant set", 0, "give --allow-tools, --deny-tools "
	    "or both (an empty value clears a list)" },
	{ CTL_O_EGRESS, "--allow and --default belong to tenant set-egress",
	    1, "tenant set-egress takes --allow ENTRY (once or more) or "
	    "--default" },
	{ CTL_O_TTL, "--ttl belongs to token issue", 0, NULL },
	{ CTL_O_TENANT, "--tenant belongs to token revoke and audit", 0, NULL },
	{ CTL_O_AUDIT, "--since and --limit belong to audit", 0, NULL },
	{ 0, NULL, 0, NULL }
};

/*
 * Every command, in the order of the usage text. Operands: TENANT and
 * SERVER name existing ones (completion asks the daemon), FILE and PATH
 * are files, [X] is optional, X... is one or more; the others are words
 * the operator makes up.
 */
const struct ctl_cmd ctl_commands[] = {
	{ "tenant", "add", "tenant.add", "ID", NULL, 0, 0,
	    ctl_args_id, ctl_print_tenant_add, NULL,
	    "tenant add ID\tcreate a tenant" },
	{ "tenant", "list", "tenant.list", "", NULL, 0, 0,
	    ctl_args_none, ctl_print_tenant_list, NULL,
	    "tenant list\tlist tenants" },
	{ "tenant", "show", "tenant.show", "TENANT", NULL, 0, 0,
	    ctl_args_id, ctl_print_tenant_show, NULL,
	    "tenant show ID\ta tenant, its servers, worker and audit" },
	{ "tenant", "enable", "tenant.enable", "TENANT", NULL, 0, 0,
	    ctl_args_id, ctl_print_tenant_state, NULL,
	    "tenant enable|disable ID\tenable or disable a tenant" },
	{ "tenant", "disable", "tenant.disable", "TENANT", NULL, 0, 0,
	    ctl_args_id, ctl_print_tenant_state, NULL, NULL },
	{ "tenant", "remove", "tenant.remove", "TENANT", NULL, 0, 0,
	    ctl_args_id, ctl_print_tenant_state, NULL,
	    "tenant remove ID\tremove a tenant and its servers" },
	{ "tenant", "set", "tenant.set", "TENANT", NULL,
	    CTL_O_TOOLS, CTL_O_TOOLS, ctl_args_id, ctl_print_tenant_set, NULL,
	    "tenant set ID [--allow-tools P,...] [--deny-tools P,...]"
	    "\tthe tenant's tool lists, over all its\n"
	    "\tservers ('' clears one)" },
	{ "tenant", "set-egress", "tenant.set-egress", "TENANT", NULL,
	    CTL_O_EGRESS, CTL_O_EGRESS, ctl_args_set_egress,
	    ctl_print_tenant_set_egress, NULL,
	    "tenant set-egress ID --allow ENTRY [--allow ENTRY]... | --default"
	    "\twith tenant_network = egress: where the\n"
	    "\ttenant may connect (ADDR or CIDR, :PORT\n"
	    "\toptional); --default follows\n"
	    "\ttenant_egress_allow" },
	{ "tenant", "set-limits", "tenant.set-limits", "TENANT KEY=VALUE...",
	    "tenant set-limits needs ID and at least one KEY=VALUE", 0, 0,
	    ctl_args_set_limits, ctl_print_tenant_set_limits, NULL,
	    "tenant set-limits ID KEY=VALUE ..."
	    "\tmemory_max, swap_max (sizes: 256M, max),\n"
	    "\tpids_max (a count, max), cpu_weight\n"
	    "\t(1..10000), rate (requests per minute,\n"
	    "\t0 = no limit); default resets one" },
	{ "server", "add", "server.add", "TENANT NAME", NULL,
	    CTL_O_SERVER_ADD | CTL_O_TOOLS, 0, ctl_args_server_add,
	    ctl_print_server_add, NULL,
	    "server add TENANT NAME [--env KEY=VALUE]... [--disabled] -- "
	    "COMMAND [ARG ...]"
	    "\tadd or replace a stdio MCP server\n"
	    "server add TENANT NAME --url URL [--transport http|sse] "
	    "[--header 'K: V']...\n"
	    "    [--ca-file F] [--client-cert F --client-key F] "
	    "[--tls-verify off]\n"
	    "    [--timeout S] [--protocol 2026-07-28] [--disabled]"
	    "\tadd or replace a remote MCP server\n"
	    "    (server add also takes --allow-tools and --deny-tools)" },
	{ "server", "set", "server.set", "TENANT SERVER", NULL,
	    CTL_O_TOOLS, CTL_O_TOOLS, ctl_args_tenant_name,
	    ctl_print_server_set, NULL,
	    "server set TENANT NAME [--allow-tools P,...] [--deny-tools P,...]"
	    "\ta server's tool lists: glob patterns of\n"
	    "\tits own tool names; deny wins ('' clears)" },
	{ "server", "show", "server.show", "TENANT SERVER", NULL, 0, 0,
	    ctl_args_tenant_name, ctl_print_server_show, NULL,
	    "server show TENANT NAME\tone server" },
	{ "server", "list", "server.list", "TENANT", NULL, 0, 0,
	    ctl_args_tenant, ctl_print_server_list, NULL,
	    "server list TENANT\tlist a tenant's servers" },
	{ "server", "remove", "server.remove", "TENANT SERVER", NULL, 0, 0,
	    ctl_args_tenant_name, ctl_print_server_remove, NULL,
	    "server remove TENANT NAME\tremove a server" },
	{ "server", "import", "server.import", "TENANT FILE", NULL, 0, 0,
	    ctl_args_server_import, ctl_print_server_import, NULL,
	    "server import TENANT FILE\timport the stdio servers of a Claude\n"
	    "\tDesktop or Cursor mcpServers file (- = stdin)" },
	{ "token", "issue", "token.issue", "TENANT", NULL, CTL_O_TTL, 0,
	    ctl_args_token_issue, ctl_print_token_issue, NULL,
	    "token issue TENANT [--ttl D]"
	    "\tprint a bearer token valid for D (seconds,\n"
	    "\tor N with s, m, h or d; default 1h); its\n"
	    "\tjti goes to stderr" },
	{ "token", "revoke", "token.revoke", "JTI", NULL, CTL_O_TENANT, 0,
	    ctl_args_token_revoke, ctl_print_token_revoke, NULL,
	    "token revoke JTI [--tenant T]"
	    "\trefuse the token with that jti from now on\n"
	    "\tand close connections that use it" },
	{ "token", "revoked", "token.revoked", "", NULL, 0, 0,
	    ctl_args_none, ctl_print_token_revoked, NULL,
	    "token revoked\tthe revocations in force" },
	{ "secret", "set", "secret.set", "TENANT NAME", NULL, 0, 0,
	    ctl_args_secret_set, ctl_print_secret_set, NULL,
	    "secret set TENANT NAME\tset a secret; the value is read from stdin\n"
	    "\t(prompted without echo on a terminal)" },
	{ "secret", "list", "secret.list", "TENANT", NULL, 0, 0,
	    ctl_args_tenant, ctl_print_secret_list, NULL,
	    "secret list TENANT\ta tenant's secret names and dates" },
	{ "secret", "rm", "secret.remove", "TENANT NAME", NULL, 0, 0,
	    ctl_args_tenant_name, ctl_print_secret_remove, NULL,
	    "secret rm TENANT NAME\tremove a secret" },
	/* Runs here: the daemon is not needed (nor asked), and no option
	 * but the global ones is looked at. */
	{ "key", "generate", NULL, "[PATH]",
	    "key generate takes at most one PATH", 0, 0,
	    NULL, NULL, ctl_key_generate,
	    "key generate [PATH]\twrite a new 32-byte master key file (0600;\n"
	    "\tdefault " CTL_KEY_DEFAULT "); never\n"
	    "\toverwrites" },
	{ "key", "rotate", "key.rotate", "", NULL, 0, 0,
	    ctl_args_none, ctl_print_key_rotate, NULL,
	    "key rotate\tre-encrypt every secret under a new key" },
	{ "status", NULL, "status", "", NULL, 0, 0,
	    ctl_args_none, ctl_print_status, NULL,
	    "status\tworkers, tenants and capacity" },
	{ "reload", NULL, "reload", "", NULL, 0, 0,
	    ctl_args_none, ctl_print_reload, NULL,
	    "reload\tre-read the configuration and policies, as\n"
	    "\tSIGHUP does (the outcome is in the log)" },
	{ "audit", NULL, "audit.list", "", NULL, CTL_O_TENANT | CTL_O_AUDIT, 0,
	    ctl_args_audit, ctl_print_audit, NULL,
	    "audit [--tenant T] [--since TIME] [--limit N]"
	    "\taudit rows, newest first (default 100);\n"
	    "\tTIME is a duration ago (30m, 2d), a date\n"
	    "\t(2026-11-25 or 2026-11-25T10:00:00, UTC)\n"
	    "\tor @UNIXTIME" },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL }
};

/*
 * The command the words name: a one-word command by its first word
 * (status, reload, audit), else the first two words. NULL: none.
 */
const struct ctl_cmd *
ctl_cmd_find(const struct ctl *c)
{
	const struct ctl_cmd *ce;

	if (c->c_npos == 0)
		return NULL;
	for (ce = ctl_commands; ce->ce_word != NULL; ce++)
		if (ce->ce_sub == NULL && strcmp(ce->ce_word, c->c_pos[0]) == 0)
			return ce;
	if (c->c_npos < 2)
		return NULL;
	for (ce = ctl_commands; ce->ce_word != NULL; ce++)
		if (ce->ce_sub != NULL &&
		    strcmp(ce->ce_word, c->c_pos[0]) == 0 &&
		    strcmp(ce->ce_sub, c->c_pos[1]) == 0)
			return ce;
	return NULL;
}

/* ------------------------------------------------------------ values */

/*
 * Parses a duration: seconds, or a number followed by s, m, h or d.
 * Returns 0 with *secs_r (>= 1), or -1.
 */
static int
ctl_duration(const char *s, long long *secs_r)
{
	long long n = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (1LL << 40))
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (*p != '\0') {
		switch (*p) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -1;
		}
		if (p[1] != '\0')
			return -1;
	}
	if (n < 1)
		return -1;
	*secs_r = n * mult;
	return 0;
}

/*
 * audit --since: a duration ago (ctl_duration), @UNIXTIME, or a UTC date
 * YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS. Returns 0 with *t_r, or -1.
 */
static int
ctl_since(const char *s, long long *t_r)
{
	struct tm tm;
	const char *end;
	long long d;
	char *e;

	if (s[0] == '@') {
		d = strtoll(s + 1, &e, 10);
		if (s[1] == '\0' || *e != '\0' || d < 0)
			return -1;
		*t_r = d;
		return 0;
	}
	if (ctl_duration(s, &d) == 0) {
		*t_r = (long long)time(NULL) - d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    *end != '\0') && (memset(&tm, 0, sizeof(tm)),
	    (end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end != '\0'))
		return -1;
	*t_r = (long long)timegm(&tm);
	return 0;
}

/* ------------------------------------------------------ local commands */

/*
 * key generate [PATH]: 32 bytes from getrandom(2) into a new file, 0600,
 * never over an existing one. Runs here, not in the daemon.
 */
static int
ctl_key_generate_at(const char *path)
{
	unsigned char key[32];
	size_t off = 0;
	ssize_t n;
	int fd;

	while (off < sizeof(key)) {
		n = getrandom(key + off, sizeof(key) - off, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "dataagentctl: getrandom: %s\n",
			    strerror(errno));
			return CTL_EXIT_REFUSED;
		}
		off += (size_t)n;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		fprintf(stderr, "dataagentctl: %s: %s%s\n", path,
		    strerror(errno), errno == EEXIST ? " (refusing to "
		    "overwrite a key: the secrets sealed under it would be "
		    "lost)" : "");
		explicit_bzero(key, sizeof(key));
		return CTL_EXIT_REFUSED;
	}
	/* The mode whatever the umask. */
	if (fchmod(fd, 0600) == -1 ||
	    write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
	    fsync(fd) == -1 || close(fd) == -1) {
		fprintf(stderr, "dataagentctl: %s: %s\n", path,
		    strerror(errno));
		explicit_bzero(key, sizeof(key));
		(void)unlink(path);
		return CTL_EXIT_REFUSED;
	}
	explicit_bzero(key, sizeof(key));
	printf("master key written to %s (back it up apart from the store)\n",
	    path);
	return CTL_EXIT_OK;
}

/*
 * Reads a secret's value from stdin: without echo after a prompt on a
 * terminal, else all of it (one trailing newline dropped). Returns a
 * malloc'd string the caller wipes, or NULL after printing why.
 */
static char *
ctl_read_secret(void)
{
	struct termios old, quiet;
	char *buf;
	size_t len = 0;
	ssize_t n;
	int tty = isatty(STDIN_FILENO), echo_off = 0;

	if ((buf = malloc(CTL_SECRET_MAX + 2)) == NULL)
		return NULL;
	if (tty) {
		fprintf(stderr, "value (not echoed): ");
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH,
			    &quiet) == 0;
		}
	}
	while (len < CTL_SECRET_MAX + 1) {
		n = read(STDIN_FILENO, buf + len, CTL_SECRET_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (tty && memchr(buf, '\n', len) != NULL)
			break;
	}
	if (echo_off)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (tty) {
		char *nl = memchr(buf, '\n', len);

		if (nl != NULL)
			len = (size_t)(nl - buf);
	} else if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > CTL_SECRET_MAX || memchr(buf, '\0', len) != NULL) {
		fprintf(stderr, "dataagentctl: a secret value is at most %d "
		    "bytes without NUL\n", CTL_SECRET_MAX);
		explicit_bzero(buf, CTL_SECRET_MAX + 2);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* Reads the import file ('-' = stdin) as a JSON object. */
static json_t *
ctl_read_config(const char *path)
{
	json_error_t jerr;
	json_t *v;

	if (strcmp(path, "-") == 0)
		v = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	else
		v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		fprintf(stderr, "dataagentctl: %s: line %d: %s\n",
		    strcmp(path, "-") == 0 ? "<stdin>" : path, jerr.line,
		    jerr.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		fprintf(stderr, "dataagentctl: %s: not a JSON object\n", path);
		json_decref(v);
		return NULL;
	}
	return v;
}


/* key generate [PATH] */
static int
ctl_key_generate(struct ctl *c)
{
	return ctl_key_generate_at(c->c_npos == 3 ? c->c_arg[0] :
	    CTL_KEY_DEFAULT);
}

/* ----------------------------------------------------------- requests */

/* status, reload, tenant list, token revoked, key rotate */
static int
ctl_args_none(struct ctl *c, json_t **args_r)
{
	*args_r = json_object();
	return 0;
}

/* tenant add, show, enable, disable, remove, set: the tenant's id */
static int
ctl_args_id(struct ctl *c, json_t **args_r)
{
	*args_r = json_pack("{s:s}", "id", c->c_arg[0]);
	return 0;
}

/* server list, secret list */
static int
ctl_args_tenant(struct ctl *c, json_t **args_r)
{
	*args_r = json_pack("{s:s}", "tenant", c->c_arg[0]);
	return 0;
}

/* server set, show, remove; secret rm */
static int
ctl_args_tenant_name(struct ctl *c, json_t **args_r)
{
	*args_r = json_pack("{s:s,s:s}", "tenant", c->c_arg[0], "name",
	    c->c_arg[1]);
	return 0;
}

/* tenant set-egress ID --allow ENTRY... | --default */
static int
ctl_args_set_egress(struct ctl *c, json_t **args_r)
{
	/* --default sends an empty list, which args then owns ("o"). */
	if (c->c_egress_allow == NULL)
		*args_r = json_pack("{s:s,s:o}", "id", c->c_arg[0], "allow",
		    json_array());
	else
		*args_r = json_pack("{s:s,s:O}", "id", c->c_arg[0], "allow",
		    c->c_egress_allow);
	return 0;
}

/* tenant set-limits ID KEY=VALUE ...: the pairs as strings; the daemon
 * checks keys and values. */
static int
ctl_args_set_limits(struct ctl *c, json_t **args_r)
{
	json_t *args;
	const char *eq;
	char *k;
	int i;

	if ((args = json_pack("{s:s}", "id", c->c_arg[0])) == NULL) {
		*args_r = NULL;
		return 0;
	}
	for (i = 3; i < c->c_npos; i++) {
		eq = strchr(c->c_pos[i], '=');
		if (eq == NULL || eq == c->c_pos[i]) {
			fprintf(stderr, "dataagentctl: expected KEY=VALUE, "
			    "not %s\n", c->c_pos[i]);
			ctl_usage_error(NULL);
			json_decref(args);
			return -1;
		}
		k = strndup(c->c_pos[i], (size_t)(eq - c->c_pos[i]));
		if (k == NULL || json_object_set_new(args, k,
		    json_string(eq + 1)) == -1) {
			free(k);
			json_decref(args);
			return -1;
		}
		free(k);
	}
	*args_r = args;
	return 0;
}

/* server add TENANT NAME --url URL ...: a remote server */
static int
ctl_args_server_remote(struct ctl *c, json_t **args_r)
{
	if (c->c_has_tail || c->c_env != NULL) {
		ctl_usage_error("server add --url takes no -- COMMAND and no "
		    "--env");
		return -1;
	}
	*args_r = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:b}", "tenant",
	    c->c_arg[0], "name", c->c_arg[1], "transport",
	    c->c_transport != NULL ? c->c_transport : "http", "url", c->c_url,
	    "headers", c->c_headers != NULL ? json_incref(c->c_headers) :
	    json_object(), "options", c->c_options != NULL ?
	    json_incref(c->c_options) : json_object(), "enabled",
	    !c->c_disabled);
	return 0;
}

/* server add TENANT NAME [--env K=V]... -- COMMAND [ARG ...], or the
 * remote form. */
static int
ctl_args_server_add(struct ctl *c, json_t **args_r)
{
	json_t *argv_j;
	int i;

	if (c->c_url != NULL)
		return ctl_args_server_remote(c, args_r);
	if (c->c_options != NULL || c->c_headers != NULL ||
	    c->c_transport != NULL) {
		ctl_usage_error("--transport, --header and the TLS options "
		    "need --url");
		return -1;
	}
	if (!c->c_has_tail || c->c_ntail < 1) {
		ctl_usage_error("server add needs -- COMMAND [ARG ...]");
		return -1;
	}
	if ((argv_j = json_array()) == NULL)
		return -1;
	for (i = 1; i < c->c_ntail; i++)
		json_array_append_new(argv_j, json_string(c->c_tail[i]));
	*args_r = json_pack("{s:s,s:s,s:s,s:o,s:o,s:b}", "tenant",
	    c->c_arg[0], "name", c->c_arg[1], "command", c->c_tail[0], "args",
	    argv_j, "env", c->c_env != NULL ? json_incref(c->c_env) :
	    json_object(), "enabled", !c->c_disabled);
	return 0;
}

/* server import TENANT FILE */
static int
ctl_args_server_import(struct ctl *c, json_t **args_r)
{
	json_t *cfg;

	if ((cfg = ctl_read_config(c->c_arg[1])) == NULL)
		return -1;
	*args_r = json_pack("{s:s,s:o}", "tenant", c->c_arg[0], "config",
	    cfg);
	return 0;
}

/* token issue TENANT [--ttl D] */
static int
ctl_args_token_issue(struct ctl *c, json_t **args_r)
{
	long long ttl = 3600;

	if (c->c_ttl != NULL && ctl_duration(c->c_ttl, &ttl) == -1) {
		fprintf(stderr, "dataagentctl: bad duration %s (use seconds, "
		    "or N with s, m, h or d)\n", c->c_ttl);
		ctl_usage_error(NULL);
		return -1;
	}
	*args_r = json_pack("{s:s,s:I}", "tenant", c->c_arg[0], "ttl",
	    (json_int_t)ttl);
	return 0;
}

/* token revoke JTI [--tenant T] */
static int
ctl_args_token_revoke(struct ctl *c, json_t **args_r)
{
	*args_r = json_pack("{s:s,s:s?}", "jti", c->c_arg[0], "tenant",
	    c->c_tenant);
	return 0;
}

/* secret set TENANT NAME: the value from stdin */
static int
ctl_args_secret_set(struct ctl *c, json_t **args_r)
{
	char *val = ctl_read_secret();

	if (val == NULL)
		return -1;
	*args_r = json_pack("{s:s,s:s,s:s}", "tenant", c->c_arg[0], "name",
	    c->c_arg[1], "value", val);
	explicit_bzero(val, strlen(val));
	free(val);
	return 0;
}

/* audit [--tenant T] [--since TIME] [--limit N] */
static int
ctl_args_audit(struct ctl *c, json_t **args_r)
{
	long long since = 0, limit = 100;
	char *e;

	if (c->c_since != NULL && ctl_since(c->c_since, &since) == -1) {
		fprintf(stderr, "dataagentctl: bad time %s\n", c->c_since);
		ctl_usage_error(NULL);
		return -1;
	}
	if (c->c_limit != NULL && ((limit = strtoll(c->c_limit, &e, 10)) < 1 ||
	    limit > 10000 || *e != '\0')) {
		ctl_usage_error("--limit must be 1 to 10000");
		return -1;
	}
	*args_r = json_pack("{s:I,s:I}", "since", (json_int_t)since, "limit",
	    (json_int_t)limit);
	if (*args_r != NULL && c->c_tenant != NULL)
		json_object_set_new(*args_r, "tenant", json_string(c->c_tenant));
	return 0;
}
