/*
 * ctl.c: dataagentctl, the command-line client of dataagentd's control
 * socket (man/dataagentctl.8). It never opens the store: it sends one
 * JSON request line, reads one response line and prints it.
 *
 * Exit status: 0 ok, 1 the daemon refused, 2 usage error, 3 the daemon
 * cannot be reached.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "proto.h"

#define CTL_DEFAULT_SOCKET "/run/dataagent/control.sock"
#define CTL_TIMEOUT 60		/* seconds to wait for the daemon */
#define CTL_MAX_POS 8		/* positional words a command takes */

#define CTL_EXIT_OK 0
#define CTL_EXIT_REFUSED 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 3

/* The parsed command line. */
struct ctl {
	const char *c_socket;
	int c_json;
	const char *c_pos[CTL_MAX_POS];	/* command words and operands */
	int c_npos;
	json_t *c_env;			/* --env K=V, NULL when none */
	int c_disabled;			/* --disabled */
	const char *c_ttl;		/* --ttl */
	const char *c_tenant;		/* --tenant (token revoke, audit) */
	const char *c_since;		/* --since (audit) */
	const char *c_limit;		/* --limit (audit) */
	/* server add of a remote server */
	const char *c_url;		/* --url */
	const char *c_transport;	/* --transport http|sse */
	json_t *c_headers;		/* --header 'K: V', NULL when none */
	json_t *c_options;		/* --ca-file, --tls-verify, ... */
	/* tool lists (server add, server set, tenant set) */
	json_t *c_allow_tools;		/* --allow-tools, NULL when not given */
	json_t *c_deny_tools;		/* --deny-tools */
	/* tenant set-egress */
	json_t *c_egress_allow;		/* --allow ENTRY..., NULL when none */
	int c_egress_default;		/* --default */
	char **c_tail;			/* after "--" */
	int c_ntail;
	int c_has_tail;
};

static const char ctl_usage_text[] =
"usage: dataagentctl [-s SOCKET] [--json] COMMAND [ARG ...]\n"
"\n"
"  tenant add ID                 create a tenant\n"
"  tenant list                   list tenants\n"
"  tenant show ID                a tenant, its servers, worker and audit\n"
"  tenant enable|disable ID      enable or disable a tenant\n"
"  tenant remove ID              remove a tenant and its servers\n"
"  tenant set ID [--allow-tools P,...] [--deny-tools P,...]\n"
"                                the tenant's tool lists, over all its\n"
"                                servers ('' clears one)\n"
"  tenant set-egress ID --allow ENTRY [--allow ENTRY]... | --default\n"
"                                with tenant_network = egress: where the\n"
"                                tenant may connect (ADDR or CIDR, :PORT\n"
"                                optional); --default follows\n"
"                                tenant_egress_allow\n"
"  tenant set-limits ID KEY=VALUE ...\n"
"                                memory_max, swap_max (sizes: 256M, max),\n"
"                                pids_max (a count, max), cpu_weight\n"
"                                (1..10000), rate (requests per minute,\n"
"                                0 = no limit); default resets one\n"
"  server add TENANT NAME [--env KEY=VALUE]... [--disabled] -- COMMAND [ARG ...]\n"
"                                add or replace a stdio MCP server\n"
"  server add TENANT NAME --url URL [--transport http|sse] [--header 'K: V']...\n"
"      [--ca-file F] [--client-cert F --client-key F] [--tls-verify off]\n"
"      [--timeout S] [--protocol 2026-07-28] [--disabled]\n"
"                                add or replace a remote MCP server\n"
"      (server add also takes --allow-tools and --deny-tools)\n"
"  server set TENANT NAME [--allow-tools P,...] [--deny-tools P,...]\n"
"                                a server's tool lists: glob patterns of\n"
"                                its own tool names; deny wins ('' clears)\n"
"  server show TENANT NAME       one server\n"
"  server list TENANT            list a tenant's servers\n"
"  server remove TENANT NAME     remove a server\n"
"  server import TENANT FILE     import the stdio servers of a Claude\n"
"                                Desktop or Cursor mcpServers file (- = stdin)\n"
"  token issue TENANT [--ttl D]  print a bearer token valid for D (seconds,\n"
"                                or N with s, m, h or d; default 1h); its\n"
"                                jti goes to stderr\n"
"  token revoke JTI [--tenant T] refuse the token with that jti from now on\n"
"                                and close connections that use it\n"
"  token revoked                 the revocations in force\n"
"  secret set TENANT NAME        set a secret; the value is read from stdin\n"
"                                (prompted without echo on a terminal)\n"
"  secret list TENANT            a tenant's secret names and dates\n"
"  secret rm TENANT NAME         remove a secret\n"
"  key generate [PATH]           write a new 32-byte master key file (0600;\n"
"                                default /etc/dataagent/master.key); never\n"
"                                overwrites\n"
"  key rotate                    re-encrypt every secret under a new key\n"
"  status                        workers, tenants and capacity\n"
"  reload                        re-read the configuration and policies, as\n"
"                                SIGHUP does (the outcome is in the log)\n"
"  audit [--tenant T] [--since TIME] [--limit N]\n"
"                                audit rows, newest first (default 100);\n"
"                                TIME is a duration ago (30m, 2d), a date\n"
"                                (2026-11-25 or 2026-11-25T10:00:00, UTC)\n"
"                                or @UNIXTIME\n"
"\n"
"  -s SOCKET   control socket (default $DATAAGENT_CONTROL_SOCKET, else the\n"
"              one below)\n"
"  --json      print the daemon's answer as JSON\n"
"  -h, --help  this text\n"
"  -V, --version\n"
"\n"
"Exit status: 0 ok, 1 refused by the daemon, 2 usage error, 3 daemon\n"
"unreachable.\n";

/*
 * The usage text; with `word` ("tenant", "server", ...), only the header
 * and that command's lines (a command's --help).
 */
static void
ctl_usage_for(FILE *f, const char *word)
{
	const char *line = ctl_usage_text, *next;
	size_t wl = word != NULL ? strlen(word) : 0;
	int keep = 1, header = 1;

	for (; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (word != NULL && !header) {
			/* A command line starts "  word "; its continuation
			 * lines start with more blanks. Options and the exit
			 * status are kept. */
			if (strncmp(line, "  ", 2) == 0 && line[2] >= 'a' &&
			    line[2] <= 'z')
				keep = strncmp(line + 2, word, wl) == 0 &&
				    line[2 + wl] == ' ';
			else if (strncmp(line, "   ", 3) != 0)
				keep = 1;
		}
		if (keep || header)
			fprintf(f, "%.*s", (int)(next - line), line);
		if (header && line[0] == '\n')
			header = 0;
	}
	fprintf(f, "\n(default socket: %s)\n", CTL_DEFAULT_SOCKET);
}

static void
ctl_usage(FILE *f)
{
	ctl_usage_for(f, NULL);
}

static int
ctl_usage_error(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dataagentctl: %s\n", why);
	ctl_usage(stderr);
	return CTL_EXIT_USAGE;
}

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

/* One option of a remote server add. Returns 0, or -1 (said why). */
static int
ctl_parse_remote(struct ctl *c, const char *a, const char *v)
{
	const char *colon;
	char *k, *end;
	long n;

	if (c->c_options == NULL && (c->c_options = json_object()) == NULL)
		return -1;
	if (strcmp(a, "--url") == 0) {
		c->c_url = v;
	} else if (strcmp(a, "--transport") == 0) {
		if (strcmp(v, "http") != 0 && strcmp(v, "sse") != 0) {
			ctl_usage_error("--transport is http or sse");
			return -1;
		}
		c->c_transport = v;
	} else if (strcmp(a, "--header") == 0) {
		if ((colon = strchr(v, ':')) == NULL || colon == v) {
			fprintf(stderr, "dataagentctl: --header wants "
			    "'Name: value'\n");
			ctl_usage_error(NULL);
			return -1;
		}
		if (c->c_headers == NULL &&
		    (c->c_headers = json_object()) == NULL)
			return -1;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		k = strndup(v, (size_t)(strchr(v, ':') - v));
		if (k == NULL || json_object_set_new(c->c_headers, k,
		    json_string(colon)) == -1) {
			free(k);
			fprintf(stderr, "dataagentctl: bad --header\n");
			return -1;
		}
		free(k);
	} else if (strcmp(a, "--tls-verify") == 0) {
		if (strcmp(v, "off") != 0 && strcmp(v, "on") != 0) {
			ctl_usage_error("--tls-verify is on or off");
			return -1;
		}
		json_object_set_new(c->c_options, "tls_verify",
		    json_boolean(strcmp(v, "on") == 0));
	} else if (strcmp(a, "--timeout") == 0) {
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > 3600) {
			ctl_usage_error("--timeout is 1 to 3600 seconds");
			return -1;
		}
		json_object_set_new(c->c_options, "timeout", json_integer(n));
	} else if (strcmp(a, "--protocol") == 0) {
		if (strcmp(v, "2026-07-28") != 0) {
			ctl_usage_error("--protocol is 2026-07-28");
			return -1;
		}
		json_object_set_new(c->c_options, "protocol", json_string(v));
	} else {
		json_object_set_new(c->c_options, strcmp(a, "--ca-file") == 0 ?
		    "ca_file" : strcmp(a, "--client-cert") == 0 ?
		    "client_cert" : "client_key", json_string(v));
	}
	return 0;
}

/*
 * --allow-tools P,... or --deny-tools P,... (also --opt=P,...): checked
 * here as the daemon will check them (toolacl_list_parse), so a bad
 * pattern is a usage error. next is the word after a (NULL at the end);
 * *i moves past it when it was the value. Returns 0, or -1 (said why).
 */
static int
ctl_parse_tools(struct ctl *c, const char *a, const char *next, int *i)
{
	const char *eq = strchr(a, '='), *v = next;
	int allow = strncmp(a, "--allow-tools", 13) == 0;
	json_t **slot = allow ? &c->c_allow_tools : &c->c_deny_tools, *l;
	char err[256];

	if (eq != NULL)
		v = eq + 1;
	else if (v == NULL) {
		ctl_usage_error("an option lacks its value");
		return -1;
	} else
		(*i)++;
	if ((l = toolacl_list_parse_str(v, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dataagentctl: %s: %s\n", allow ?
		    "--allow-tools" : "--deny-tools", err);
		ctl_usage_error(NULL);
		return -1;
	}
	json_decref(*slot);
	*slot = l;
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

/*
 * Splits argv into options and words. Global options (-s, --json, -h,
 * -V) are accepted before or among the command words; --env,
 * --disabled, --ttl and --tenant are collected here and checked per command.
 * Everything after "--" is the tail (server add's command line).
 * Returns -1 to go on, else an exit status.
 */
static int
ctl_parse(struct ctl *c, int argc, char **argv)
{
	const char *a, *v, *eq;
	int i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			c->c_has_tail = 1;
			c->c_tail = argv + i + 1;
			c->c_ntail = argc - i - 1;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			/* after a command word: that command's help */
			ctl_usage_for(stdout, c->c_npos > 0 ? c->c_pos[0] :
			    NULL);
			return CTL_EXIT_OK;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("dataagentctl %s\n", DATAAGENT_VERSION);
			return CTL_EXIT_OK;
		}
		if (strcmp(a, "--json") == 0) {
			c->c_json = 1;
			continue;
		}
		if (strcmp(a, "--disabled") == 0) {
			c->c_disabled = 1;
			continue;
		}
		if (strcmp(a, "--tenant") == 0 || strcmp(a, "--since") == 0 ||
		    strcmp(a, "--limit") == 0) {
			if (i + 1 >= argc)
				return ctl_usage_error("an option lacks its "
				    "value");
			v = argv[++i];
			if (strcmp(a, "--tenant") == 0)
				c->c_tenant = v;
			else if (strcmp(a, "--since") == 0)
				c->c_since = v;
			else
				c->c_limit = v;
			continue;
		}
		if (strcmp(a, "--allow") == 0 || strncmp(a, "--allow=", 8) == 0) {
			if (a[7] == '\0' && i + 1 >= argc)
				return ctl_usage_error("an option lacks its "
				    "value");
			v = a[7] == '=' ? a + 8 : argv[++i];
			if ((c->c_egress_allow == NULL &&
			    (c->c_egress_allow = json_array()) == NULL) ||
			    json_array_append_new(c->c_egress_allow,
			    json_string(v)) == -1)
				return ctl_usage_error("--allow takes UTF-8 "
				    "text");
			continue;
		}
		if (strcmp(a, "--default") == 0) {
			c->c_egress_default = 1;
			continue;
		}
		if (strcmp(a, "--allow-tools") == 0 ||
		    strcmp(a, "--deny-tools") == 0 ||
		    strncmp(a, "--allow-tools=", 14) == 0 ||
		    strncmp(a, "--deny-tools=", 13) == 0) {
			if (ctl_parse_tools(c, a, i + 1 < argc ? argv[i + 1] :
			    NULL, &i) == -1)
				return CTL_EXIT_USAGE;
			continue;
		}
		if (strcmp(a, "--url") == 0 || strcmp(a, "--transport") == 0 ||
		    strcmp(a, "--header") == 0 || strcmp(a, "--ca-file") == 0 ||
		    strcmp(a, "--tls-verify") == 0 ||
		    strcmp(a, "--timeout") == 0 ||
		    strcmp(a, "--protocol") == 0 ||
		    strcmp(a, "--client-cert") == 0 ||
		    strcmp(a, "--client-key") == 0) {
			if (i + 1 >= argc)
				return ctl_usage_error("an option lacks its "
				    "value");
			if (ctl_parse_remote(c, a, argv[++i]) == -1)
				return CTL_EXIT_USAGE;
			continue;
		}
		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0 ||
		    strcmp(a, "--env") == 0 || strcmp(a, "--ttl") == 0 ||
		    strcmp(a, "--tenant") == 0) {
			if (i + 1 >= argc)
				return ctl_usage_error("an option lacks its "
				    "value");
			v = argv[++i];
		} else if (strncmp(a, "-s", 2) == 0 && a[2] != '\0') {
			v = a + 2;
			a = "-s";
		} else if ((eq = strchr(a, '=')) != NULL &&
		    strncmp(a, "--", 2) == 0) {
			v = eq + 1;
			if (strncmp(a, "--socket=", 9) == 0)
				a = "-s";
			else if (strncmp(a, "--env=", 6) == 0)
				a = "--env";
			else if (strncmp(a, "--ttl=", 6) == 0)
				a = "--ttl";
			else if (strncmp(a, "--tenant=", 9) == 0)
				a = "--tenant";
			else {
				fprintf(stderr, "dataagentctl: unknown option "
				    "%s\n", a);
				return ctl_usage_error(NULL);
			}
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "dataagentctl: unknown option %s\n",
			    a);
			return ctl_usage_error(NULL);
		} else {
			if (c->c_npos >= CTL_MAX_POS)
				return ctl_usage_error("too many arguments");
			c->c_pos[c->c_npos++] = a;
			continue;
		}

		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0)
			c->c_socket = v;
		else if (strcmp(a, "--ttl") == 0)
			c->c_ttl = v;
		else if (strcmp(a, "--tenant") == 0)
			c->c_tenant = v;
		else {
			eq = strchr(v, '=');
			if (eq == NULL || eq == v) {
				fprintf(stderr, "dataagentctl: --env wants "
				    "KEY=VALUE, not %s\n", v);
				return ctl_usage_error(NULL);
			}
			if (c->c_env == NULL && (c->c_env = json_object()) ==
			    NULL)
				return CTL_EXIT_USAGE;
			{
				char *k = strndup(v, (size_t)(eq - v));

				if (k == NULL || json_object_set_new(c->c_env,
				    k, json_string(eq + 1)) == -1) {
					free(k);
					fprintf(stderr, "dataagentctl: bad "
					    "--env %s\n", v);
					return CTL_EXIT_USAGE;
				}
				free(k);
			}
		}
	}
	return -1;
}

/* ---------------------------------------------------------- transport */

static int
ctl_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Sends req as one line and reads one response line. Returns the parsed
 * response, or NULL after printing why (*status_r says the exit status).
 */
static json_t *
ctl_call(const char *path, const json_t *req, int *status_r)
{
	struct sockaddr_un sun;
	struct timeval tv = { CTL_TIMEOUT, 0 };
	json_error_t jerr;
	json_t *res;
	char *line, *buf = NULL, *nl;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	*status_r = CTL_EXIT_UNREACHABLE;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dataagentctl: cannot connect to %s: %s\n",
		    path, strerror(ENAMETOOLONG));
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "dataagentctl: cannot connect to %s: %s\n",
		    path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	if ((line = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "dataagentctl: out of memory\n");
		close(fd);
		return NULL;
	}
	if (strlen(line) > CONTROL_MAX_LINE) {
		fprintf(stderr, "dataagentctl: request too large (over %d "
		    "bytes)\n", CONTROL_MAX_LINE);
		*status_r = CTL_EXIT_USAGE;
		explicit_bzero(line, strlen(line));
		free(line);
		close(fd);
		return NULL;
	}
	if (ctl_write_all(fd, line, strlen(line)) == -1 ||
	    ctl_write_all(fd, "\n", 1) == -1) {
		fprintf(stderr, "dataagentctl: cannot send to %s: %s\n", path,
		    strerror(errno));
		explicit_bzero(line, strlen(line));
		free(line);
		close(fd);
		return NULL;
	}
	explicit_bzero(line, strlen(line));
	free(line);

	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap > CONTROL_MAX_LINE) {
				fprintf(stderr, "dataagentctl: response "
				    "longer than %d bytes\n", CONTROL_MAX_LINE);
				goto fail;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				fprintf(stderr, "dataagentctl: out of "
				    "memory\n");
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "dataagentctl: reading from %s: %s\n",
			    path, errno == EAGAIN ? "timed out" :
			    strerror(errno));
			goto fail;
		}
		if (n == 0) {
			fprintf(stderr, "dataagentctl: %s closed the "
			    "connection without an answer\n", path);
			goto fail;
		}
		buf[len + (size_t)n] = '\0';
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl != NULL) {
			len = (size_t)(nl - buf);
			break;
		}
	}
	close(fd);
	res = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!json_is_object(res) ||
	    !json_is_boolean(json_object_get(res, "ok"))) {
		fprintf(stderr, "dataagentctl: malformed answer from the "
		    "daemon\n");
		json_decref(res);
		*status_r = CTL_EXIT_REFUSED;
		return NULL;
	}
	*status_r = CTL_EXIT_OK;
	return res;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* ------------------------------------------------------------- output */

static const char *
ctl_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static long long
ctl_int(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *
ctl_yesno(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

/* ISO 8601 UTC time into out[32]. */
static const char *
ctl_time(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", t);
	return out;
}

/* Prints s quoted for a shell when it needs it. */
static void
ctl_print_word(FILE *f, const char *s)
{
	const char *p;

	if (s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789@%_+=:,./-") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

static void
ctl_print_args(const json_t *args)
{
	size_t i;
	json_t *a;

	json_array_foreach(args, i, a) {
		if (i > 0)
			putchar(' ');
		ctl_print_word(stdout, json_string_value(a) != NULL ?
		    json_string_value(a) : "");
	}
}

/* A tool list as the option takes it ("search_*,get_*"), or "-". */
static void
ctl_print_tool_list(const json_t *o, const char *key)
{
	char *t = json_array_size(json_object_get(o, key)) > 0 ?
	    toolacl_list_join(json_object_get(o, key)) : NULL;

	fputs(t != NULL ? t : "-", stdout);
	free(t);
}

/* One line: prefix, then o's egress allowlist, or what applies without
 * one. */
static void
ctl_print_egress(const char *prefix, const json_t *o)
{
	const json_t *a = json_object_get(o, "egress_allow"), *e;
	size_t i;

	fputs(prefix, stdout);
	if (json_array_size(a) == 0)
		printf("tenant_egress_allow (the default)\n");
	else {
		printf("allow");
		json_array_foreach(a, i, e)
			printf("%s%s", i == 0 ? " " : ", ",
			    json_string_value(e));
		printf("\n");
	}
}

/* "<prefix>allow tools: ...\n<prefix>deny tools: ...\n"; with `always`
 * 0, nothing when both lists are empty. */
static void
ctl_print_tool_lists(const char *prefix, const json_t *o, int always)
{
	if (!always && json_array_size(json_object_get(o, "allow_tools")) +
	    json_array_size(json_object_get(o, "deny_tools")) == 0)
		return;
	printf("%sallow tools: ", prefix);
	ctl_print_tool_list(o, "allow_tools");
	printf("\n%sdeny tools:  ", prefix);
	ctl_print_tool_list(o, "deny_tools");
	putchar('\n');
}

static void
ctl_print_servers(const json_t *list, const char *indent)
{
	size_t i, w = 4;
	json_t *s;
	char pre[96];

	json_array_foreach(list, i, s)
		if (strlen(ctl_str(s, "name")) > w)
			w = strlen(ctl_str(s, "name"));
	printf("%s%-*s  %-7s  %s\n", indent, (int)w, "NAME", "ENABLED",
	    "COMMAND ARGS");
	json_array_foreach(list, i, s) {
		printf("%s%-*s  %-7s  ", indent, (int)w, ctl_str(s, "name"),
		    ctl_yesno(s, "enabled"));
		if (json_object_get(s, "url") != NULL) {
			/* a remote server: transport and url */
			printf("%s ", ctl_str(s, "transport"));
			ctl_print_word(stdout, ctl_str(s, "url"));
		} else {
			ctl_print_word(stdout, ctl_str(s, "command"));
			if (json_array_size(json_object_get(s, "args")) > 0) {
				putchar(' ');
				ctl_print_args(json_object_get(s, "args"));
			}
		}
		putchar('\n');
		/* its tool lists under it, when it has any */
		snprintf(pre, sizeof(pre), "%s%*s  ", indent, (int)w, "");
		ctl_print_tool_lists(pre, s, 0);
	}
}

/* server show: one server, a field a line. */
static void
ctl_print_server(const json_t *s)
{
	const json_t *v;
	const char *k;
	size_t i;

	printf("name:        %s\n", ctl_str(s, "name"));
	printf("enabled:     %s\n", ctl_yesno(s, "enabled"));
	printf("transport:   %s\n", ctl_str(s, "transport"));
	if (json_object_get(s, "url") != NULL) {
		printf("url:         %s\n", ctl_str(s, "url"));
		printf("headers:    ");
		json_array_foreach(json_object_get(s, "header_names"), i, v)
			printf(" %s", json_string_value(v) != NULL ?
			    json_string_value(v) : "");
		putchar('\n');
	} else {
		printf("command:     ");
		ctl_print_word(stdout, ctl_str(s, "command"));
		if (json_array_size(json_object_get(s, "args")) > 0) {
			putchar(' ');
			ctl_print_args(json_object_get(s, "args"));
		}
		printf("\nenv:        ");
		json_object_foreach((json_t *)json_object_get(s, "env"), k, v)
			printf(" %s", k);
		putchar('\n');
	}
	ctl_print_tool_lists("", s, 1);
}

static void
ctl_print_tenants(const json_t *list)
{
	size_t i, w = 2;
	json_t *t;
	char tb[32];

	json_array_foreach(list, i, t)
		if (strlen(ctl_str(t, "id")) > w)
			w = strlen(ctl_str(t, "id"));
	printf("%-*s  %-6s  %-7s  %-7s  %s\n", (int)w, "ID", "UID",
	    "ENABLED", "SERVERS", "CREATED");
	json_array_foreach(list, i, t)
		printf("%-*s  %-6lld  %-7s  %-7lld  %s\n", (int)w,
		    ctl_str(t, "id"), ctl_int(t, "uid"),
		    ctl_yesno(t, "enabled"), ctl_int(t, "servers"),
		    ctl_time(ctl_int(t, "created"), tb));
}

/* A size in bytes the way an operator writes it (256M), or "max". */
static const char *
ctl_size(long long v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	if (v < 0)
		return "max";
	while (v >= 1024 && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%lld", v);
	else
		snprintf(buf, len, "%lld%c", v, units[u]);
	return buf;
}

static void
ctl_print_limits(const char *prefix, const json_t *l)
{
	char b1[32], b2[32], b3[32];
	long long pids = ctl_int(l, "pids_max");

	snprintf(b3, sizeof(b3), "%lld", pids);
	printf("%smemory %s, swap %s, pids %s, cpu weight %lld", prefix,
	    ctl_size(ctl_int(l, "memory_max"), b1, sizeof(b1)),
	    ctl_size(ctl_int(l, "swap_max"), b2, sizeof(b2)),
	    pids < 0 ? "max" : b3, ctl_int(l, "cpu_weight"));
	if (json_is_integer(json_object_get(l, "rate_per_minute"))) {
		if (ctl_int(l, "rate_per_minute") == 0)
			printf(", rate unlimited");
		else
			printf(", rate %lld/min", ctl_int(l,
			    "rate_per_minute"));
	}
	putchar('\n');
}

static void
ctl_print_tenant(const json_t *t)
{
	const json_t *wk = json_object_get(t, "worker");
	const json_t *audit = json_object_get(t, "audit"), *a;
	char tb[32];
	size_t i;

	printf("id:       %s\n", ctl_str(t, "id"));
	printf("uid:      %lld\n", ctl_int(t, "uid"));
	printf("enabled:  %s\n", ctl_yesno(t, "enabled"));
	printf("created:  %s\n", ctl_time(ctl_int(t, "created"), tb));
	if (json_is_object(wk))
		printf("worker:   %s (pid %lld, %lld connections, %lld "
		    "upstreams, %lld sessions)\n", ctl_str(wk, "state"),
		    ctl_int(wk, "pid"), ctl_int(wk, "connections"),
		    ctl_int(wk, "upstreams"), ctl_int(wk, "sessions"));
	else
		printf("worker:   none\n");
	if (json_is_object(json_object_get(t, "limits")))
		ctl_print_limits("limits:   ", json_object_get(t, "limits"));
	ctl_print_tool_lists("", t, 0);
	if (json_is_array(json_object_get(t, "egress_allow")))
		ctl_print_egress("egress:   ", t);
	printf("servers:  %zu\n",
	    json_array_size(json_object_get(t, "servers")));
	if (json_array_size(json_object_get(t, "servers")) > 0)
		ctl_print_servers(json_object_get(t, "servers"), "  ");
	if (json_array_size(audit) > 0) {
		printf("audit:\n");
		json_array_foreach(audit, i, a) {
			printf("  %s  %-8s  %-14s", ctl_time(ctl_int(a, "ts"), tb),
			    ctl_str(a, "actor"), ctl_str(a, "action"));
			if (json_is_string(json_object_get(a, "detail")))
				printf("  %s", ctl_str(a, "detail"));
			putchar('\n');
		}
	}
}

/* audit rows as a table: time, actor, tenant, action, then what the
 * row says (a tool call's fields, or the detail). */
static void
ctl_print_audit(const json_t *rows)
{
	const json_t *a;
	char tb[32];
	size_t i;

	printf("%-20s  %-8s  %-16s  %-16s  %s\n", "TIME", "ACTOR", "TENANT",
	    "ACTION", "DETAIL");
	json_array_foreach(rows, i, a) {
		printf("%-20s  %-8s  %-16s  %-16s", ctl_time(ctl_int(a, "ts"), tb),
		    ctl_str(a, "actor"), ctl_str(a, "tenant"),
		    ctl_str(a, "action"));
		if (json_is_string(json_object_get(a, "tool")))
			printf("  %s/%s %s %lldms %lldB id=%s",
			    ctl_str(a, "server"), ctl_str(a, "tool"),
			    ctl_str(a, "status"), ctl_int(a, "duration_ms"),
			    ctl_int(a, "arg_bytes"), ctl_str(a, "request_id"));
		if (json_is_string(json_object_get(a, "detail")))
			printf("  %s", ctl_str(a, "detail"));
		putchar('\n');
	}
}

static void
ctl_print_duration(long long s)
{
	if (s >= 86400)
		printf("%lldd ", s / 86400);
	if (s >= 3600)
		printf("%lldh ", s / 3600 % 24);
	if (s >= 60)
		printf("%lldm ", s / 60 % 60);
	printf("%llds", s % 60);
}

static void
ctl_print_status(const json_t *st)
{
	const json_t *wk = json_object_get(st, "workers");
	const json_t *mcp = json_object_get(st, "mcp");

	printf("status:       %s (store %s)\n", ctl_str(st, "status"),
	    ctl_str(st, "store"));
	printf("version:      %s\n", ctl_str(st, "version"));
	printf("uptime:       ");
	ctl_print_duration(ctl_int(st, "uptime_s"));
	putchar('\n');
	printf("workers:      %lld active, %lld spare, %lld starting, %lld "
	    "assigning, %lld retiring (total %lld, spare target %lld)\n",
	    ctl_int(wk, "active"), ctl_int(wk, "spare"),
	    ctl_int(wk, "starting"), ctl_int(wk, "assigning"),
	    ctl_int(wk, "retiring"), ctl_int(wk, "total"),
	    ctl_int(wk, "spare_target"));
	printf("tenants:      %lld\n", ctl_int(st, "tenants"));
	printf("connections:  %lld clients, %lld upstreams, %lld handoffs\n",
	    ctl_int(st, "client_connections"),
	    ctl_int(mcp, "total_connections"), ctl_int(st, "handoffs"));
	printf("capacity:     %.1f%% used\n",
	    100.0 * json_number_value(json_object_get(mcp, "capacity_usage")));
}

/* Human output of a successful command. */
static void
ctl_print(const struct ctl *c, const char *cmd, const json_t *r)
{
	const json_t *v;
	size_t i;

	if (strcmp(cmd, "tenant.add") == 0)
		printf("tenant %s added (uid %lld)\n", ctl_str(r, "id"),
		    ctl_int(r, "uid"));
	else if (strcmp(cmd, "tenant.list") == 0)
		ctl_print_tenants(r);
	else if (strcmp(cmd, "tenant.show") == 0)
		ctl_print_tenant(r);
	else if (strcmp(cmd, "tenant.enable") == 0)
		printf("tenant %s enabled\n", c->c_pos[2]);
	else if (strcmp(cmd, "tenant.disable") == 0)
		printf("tenant %s disabled\n", c->c_pos[2]);
	else if (strcmp(cmd, "tenant.remove") == 0)
		printf("tenant %s removed\n", c->c_pos[2]);
	else if (strcmp(cmd, "tenant.set-egress") == 0) {
		printf("tenant %s egress: ", c->c_pos[2]);
		ctl_print_egress("", r);
	}
	else if (strcmp(cmd, "tenant.set-limits") == 0) {
		printf("tenant %s limits: ", c->c_pos[2]);
		ctl_print_limits("", json_object_get(r, "limits"));
	}
	else if (strcmp(cmd, "server.add") == 0)
		printf("server %s added to tenant %s%s\n", ctl_str(r, "name"),
		    c->c_pos[2], json_is_false(json_object_get(r,
		    "enabled")) ? " (disabled)" : "");
	else if (strcmp(cmd, "server.list") == 0)
		ctl_print_servers(r, "");
	else if (strcmp(cmd, "server.show") == 0)
		ctl_print_server(r);
	else if (strcmp(cmd, "server.set") == 0 ||
	    strcmp(cmd, "tenant.set") == 0) {
		if (strcmp(cmd, "server.set") == 0)
			printf("server %s of tenant %s:\n", c->c_pos[3],
			    c->c_pos[2]);
		else
			printf("tenant %s:\n", c->c_pos[2]);
		ctl_print_tool_lists("  ", r, 1);
	}
	else if (strcmp(cmd, "server.remove") == 0)
		printf("server %s removed from tenant %s\n", c->c_pos[3],
		    c->c_pos[2]);
	else if (strcmp(cmd, "server.import") == 0) {
		v = json_object_get(r, "imported");
		printf("imported %zu server%s into tenant %s",
		    json_array_size(v), json_array_size(v) == 1 ? "" : "s",
		    c->c_pos[2]);
		for (i = 0; i < json_array_size(v); i++)
			printf("%s%s", i == 0 ? ": " : ", ",
			    json_string_value(json_array_get(v, i)) != NULL ?
			    json_string_value(json_array_get(v, i)) : "");
		putchar('\n');
		v = json_object_get(r, "skipped");
		for (i = 0; i < json_array_size(v); i++)
			printf("skipped %s: %s\n",
			    ctl_str(json_array_get(v, i), "name"),
			    ctl_str(json_array_get(v, i), "reason"));
	} else if (strcmp(cmd, "status") == 0)
		ctl_print_status(r);
	else if (strcmp(cmd, "reload") == 0)
		printf("reload requested\n");
	else if (strcmp(cmd, "secret.set") == 0)
		printf("secret %s of tenant %s set\n", c->c_pos[3],
		    c->c_pos[2]);
	else if (strcmp(cmd, "secret.remove") == 0)
		printf("secret %s removed from tenant %s\n", c->c_pos[3],
		    c->c_pos[2]);
	else if (strcmp(cmd, "secret.list") == 0) {
		char t1[32], t2[32];

		for (i = 0; i < json_array_size(r); i++) {
			v = json_array_get(r, i);
			printf("%-24s created %s  updated %s\n",
			    ctl_str(v, "name"), ctl_time(ctl_int(v, "created"),
			    t1), ctl_time(ctl_int(v, "updated"), t2));
		}
	} else if (strcmp(cmd, "token.revoke") == 0) {
		char t1[32];
		int has_t = json_is_string(json_object_get(r, "tenant"));

		printf("token %s revoked%s%s until %s\n", ctl_str(r, "jti"),
		    has_t ? " for tenant " : "", has_t ? ctl_str(r, "tenant") :
		    "", ctl_time(ctl_int(r, "expires"), t1));
	} else if (strcmp(cmd, "token.revoked") == 0) {
		char t1[32], t2[32];

		printf("%-34s %-16s %-20s %s\n", "JTI", "TENANT", "REVOKED",
		    "EXPIRES");
		for (i = 0; i < json_array_size(r); i++) {
			v = json_array_get(r, i);
			printf("%-34s %-16s %-20s %s\n", ctl_str(v, "jti"),
			    json_is_string(json_object_get(v, "tenant")) ?
			    ctl_str(v, "tenant") : "*",
			    ctl_time(ctl_int(v, "revoked"), t1),
			    ctl_time(ctl_int(v, "expires"), t2));
		}
	} else if (strcmp(cmd, "audit.list") == 0)
		ctl_print_audit(r);
	else if (strcmp(cmd, "key.rotate") == 0)
		printf("%lld secret%s re-encrypted; the new key is in %s\n",
		    ctl_int(r, "secrets"), ctl_int(r, "secrets") == 1 ? "" :
		    "s", ctl_str(r, "path"));
	else {
		char *s = json_dumps(r, JSON_INDENT(2) | JSON_ENCODE_ANY);

		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
}

/* ------------------------------------------------------------ secrets */

#define CTL_KEY_DEFAULT "/etc/dataagent/master.key"
#define CTL_SECRET_MAX 8192

/*
 * key generate [PATH]: 32 bytes from getrandom(2) into a new file, 0600,
 * never over an existing one. Runs here, not in the daemon.
 */
static int
ctl_key_generate(const char *path)
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

/* ----------------------------------------------------------- requests */

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

/*
 * Builds the request for the parsed words. Returns the request, or NULL
 * with *status_r set (a usage error was printed).
 */
static json_t *
ctl_request(struct ctl *c, const char **cmd_r, int *status_r)
{
	const char *w0 = c->c_npos > 0 ? c->c_pos[0] : "";
	const char *w1 = c->c_npos > 1 ? c->c_pos[1] : "";
	static char cmd[32];
	json_t *args = NULL, *req, *cfg, *argv_j;
	int want, i;
	long long ttl;

	*status_r = CTL_EXIT_USAGE;
	if (c->c_npos == 0) {
		ctl_usage_error(NULL);
		return NULL;
	}
	if (strcmp(w0, "status") == 0 || strcmp(w0, "reload") == 0) {
		snprintf(cmd, sizeof(cmd), "%s", w0);
		want = 1;
	} else if (strcmp(w0, "audit") == 0) {
		snprintf(cmd, sizeof(cmd), "audit.list");
		want = 1;
	} else if (strcmp(w0, "tenant") == 0 &&
	    strcmp(w1, "set-limits") == 0) {
		/* tenant set-limits ID KEY=VALUE ... */
		snprintf(cmd, sizeof(cmd), "tenant.set-limits");
		if (c->c_npos < 4) {
			ctl_usage_error("tenant set-limits needs ID and at least "
			    "one KEY=VALUE");
			return NULL;
		}
		want = c->c_npos;
	} else if (strcmp(w0, "tenant") == 0 &&
	    strcmp(w1, "set-egress") == 0) {
		snprintf(cmd, sizeof(cmd), "tenant.set-egress");
		want = 3;
	} else if ((strcmp(w0, "tenant") == 0 &&
	    (strcmp(w1, "add") == 0 || strcmp(w1, "list") == 0 ||
	    strcmp(w1, "show") == 0 || strcmp(w1, "enable") == 0 ||
	    strcmp(w1, "disable") == 0 || strcmp(w1, "remove") == 0 ||
	    strcmp(w1, "set") == 0)) ||
	    (strcmp(w0, "server") == 0 &&
	    (strcmp(w1, "add") == 0 || strcmp(w1, "list") == 0 ||
	    strcmp(w1, "remove") == 0 || strcmp(w1, "import") == 0 ||
	    strcmp(w1, "set") == 0 || strcmp(w1, "show") == 0)) ||
	    (strcmp(w0, "token") == 0 && (strcmp(w1, "issue") == 0 ||
	    strcmp(w1, "revoke") == 0 || strcmp(w1, "revoked") == 0)) ||
	    (strcmp(w0, "secret") == 0 &&
	    (strcmp(w1, "set") == 0 || strcmp(w1, "list") == 0 ||
	    strcmp(w1, "rm") == 0)) ||
	    (strcmp(w0, "key") == 0 && strcmp(w1, "rotate") == 0)) {
		snprintf(cmd, sizeof(cmd), "%s.%s", w0,
		    strcmp(w1, "rm") == 0 ? "remove" : w1);
		if (strcmp(cmd, "tenant.list") == 0 ||
		    strcmp(cmd, "key.rotate") == 0 ||
		    strcmp(cmd, "token.revoked") == 0)
			want = 2;
		else if (strcmp(cmd, "secret.list") == 0)
			want = 3;
		else if (strcmp(w0, "tenant") == 0 ||
		    strcmp(cmd, "server.list") == 0 ||
		    strcmp(cmd, "token.issue") == 0 ||
		    strcmp(cmd, "token.revoke") == 0)
			want = 3;
		else
			want = 4;
	} else {
		fprintf(stderr, "dataagentctl: unknown command: %s%s%s\n", w0,
		    c->c_npos > 1 ? " " : "", w1);
		ctl_usage_error(NULL);
		return NULL;
	}
	if (c->c_npos != want) {
		fprintf(stderr, "dataagentctl: wrong number of arguments for "
		    "%s%s%s\n", w0, want == 1 ? "" : " ", want == 1 ? "" : w1);
		ctl_usage_error(NULL);
		return NULL;
	}
	if ((c->c_env != NULL || c->c_disabled || c->c_has_tail ||
	    c->c_url != NULL || c->c_options != NULL ||
	    c->c_headers != NULL || c->c_transport != NULL) &&
	    strcmp(cmd, "server.add") != 0) {
		ctl_usage_error("--env, --disabled and -- belong to server "
		    "add");
		return NULL;
	}
	if ((c->c_allow_tools != NULL || c->c_deny_tools != NULL) &&
	    strcmp(cmd, "server.add") != 0 && strcmp(cmd, "server.set") != 0 &&
	    strcmp(cmd, "tenant.set") != 0) {
		ctl_usage_error("--allow-tools and --deny-tools belong to "
		    "server add, server set and tenant set");
		return NULL;
	}
	if ((strcmp(cmd, "server.set") == 0 || strcmp(cmd, "tenant.set") ==
	    0) && c->c_allow_tools == NULL && c->c_deny_tools == NULL) {
		ctl_usage_error("give --allow-tools, --deny-tools or both (an "
		    "empty value clears a list)");
		return NULL;
	}
	if ((c->c_egress_allow != NULL || c->c_egress_default) &&
	    strcmp(cmd, "tenant.set-egress") != 0) {
		ctl_usage_error("--allow and --default belong to tenant "
		    "set-egress");
		return NULL;
	}
	if (strcmp(cmd, "tenant.set-egress") == 0 &&
	    (c->c_egress_allow != NULL) == c->c_egress_default) {
		ctl_usage_error("tenant set-egress takes --allow ENTRY (once or "
		    "more) or --default");
		return NULL;
	}
	if (c->c_ttl != NULL && strcmp(cmd, "token.issue") != 0) {
		ctl_usage_error("--ttl belongs to token issue");
		return NULL;
	}
	if (c->c_tenant != NULL && strcmp(cmd, "token.revoke") != 0 &&
	    strcmp(cmd, "audit.list") != 0) {
		ctl_usage_error("--tenant belongs to token revoke and audit");
		return NULL;
	}
	if ((c->c_since != NULL || c->c_limit != NULL) &&
	    strcmp(cmd, "audit.list") != 0) {
		ctl_usage_error("--since and --limit belong to audit");
		return NULL;
	}
	if (strcmp(cmd, "audit.list") == 0) {
		long long since = 0, limit = 100;
		char *e;

		if (c->c_since != NULL && ctl_since(c->c_since, &since) == -1) {
			fprintf(stderr, "dataagentctl: bad time %s\n",
			    c->c_since);
			ctl_usage_error(NULL);
			return NULL;
		}
		if (c->c_limit != NULL && ((limit = strtoll(c->c_limit, &e,
		    10)) < 1 || limit > 10000 || *e != '\0')) {
			ctl_usage_error("--limit must be 1 to 10000");
			return NULL;
		}
		args = json_pack("{s:I,s:I}", "since", (json_int_t)since,
		    "limit", (json_int_t)limit);
		if (args != NULL && c->c_tenant != NULL)
			json_object_set_new(args, "tenant",
			    json_string(c->c_tenant));
		if (args == NULL) {
			fprintf(stderr, "dataagentctl: arguments must be UTF-8 "
			    "text\n");
			return NULL;
		}
		*cmd_r = cmd;
		return json_pack("{s:s,s:o}", "cmd", cmd, "args", args);
	}

	if (want <= 2)		/* status, reload, tenant list, key rotate,
				 * token revoked */
		args = json_object();
	else if (strcmp(cmd, "token.revoke") == 0)
		args = json_pack("{s:s,s:s?}", "jti", c->c_pos[2], "tenant",
		    c->c_tenant);
	else if (strcmp(cmd, "secret.list") == 0)
		args = json_pack("{s:s}", "tenant", c->c_pos[2]);
	else if (strcmp(cmd, "secret.remove") == 0)
		args = json_pack("{s:s,s:s}", "tenant", c->c_pos[2], "name",
		    c->c_pos[3]);
	else if (strcmp(cmd, "secret.set") == 0) {
		char *val = ctl_read_secret();

		if (val == NULL) {
			*status_r = CTL_EXIT_USAGE;
			return NULL;
		}
		args = json_pack("{s:s,s:s,s:s}", "tenant", c->c_pos[2],
		    "name", c->c_pos[3], "value", val);
		explicit_bzero(val, strlen(val));
		free(val);
	}
	else if (strcmp(cmd, "tenant.set-limits") == 0) {
		args = json_pack("{s:s}", "id", c->c_pos[2]);
		for (i = 3; args != NULL && i < c->c_npos; i++) {
			const char *eq = strchr(c->c_pos[i], '=');
			char *k;

			if (eq == NULL || eq == c->c_pos[i]) {
				fprintf(stderr, "dataagentctl: expected KEY=VALUE, "
				    "not %s\n", c->c_pos[i]);
				ctl_usage_error(NULL);
				json_decref(args);
				return NULL;
			}
			k = strndup(c->c_pos[i], (size_t)(eq - c->c_pos[i]));
			if (k == NULL || json_object_set_new(args, k,
			    json_string(eq + 1)) == -1) {
				free(k);
				json_decref(args);
				return NULL;
			}
			free(k);
		}
	} else if (strcmp(cmd, "tenant.set-egress") == 0)
		args = json_pack("{s:s,s:O}", "id", c->c_pos[2], "allow",
		    c->c_egress_allow != NULL ? c->c_egress_allow :
		    json_array());
	else if (strcmp(w0, "tenant") == 0)
		args = json_pack("{s:s}", "id", c->c_pos[2]);
	else if (strcmp(cmd, "server.list") == 0)
		args = json_pack("{s:s}", "tenant", c->c_pos[2]);
	else if (strcmp(cmd, "server.remove") == 0 ||
	    strcmp(cmd, "server.set") == 0 || strcmp(cmd, "server.show") == 0)
		args = json_pack("{s:s,s:s}", "tenant", c->c_pos[2], "name",
		    c->c_pos[3]);
	else if (strcmp(cmd, "server.add") == 0 && c->c_url != NULL) {
		if (c->c_has_tail || c->c_env != NULL) {
			ctl_usage_error("server add --url takes no -- COMMAND "
			    "and no --env");
			return NULL;
		}
		args = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:b}", "tenant",
		    c->c_pos[2], "name", c->c_pos[3], "transport",
		    c->c_transport != NULL ? c->c_transport : "http", "url",
		    c->c_url, "headers", c->c_headers != NULL ?
		    json_incref(c->c_headers) : json_object(), "options",
		    c->c_options != NULL ? json_incref(c->c_options) :
		    json_object(), "enabled", !c->c_disabled);
		if (args == NULL) {
			fprintf(stderr, "dataagentctl: arguments must be "
			    "UTF-8 text\n");
			return NULL;
		}
	} else if (strcmp(cmd, "server.add") == 0) {
		if (c->c_options != NULL || c->c_headers != NULL ||
		    c->c_transport != NULL) {
			ctl_usage_error("--transport, --header and the TLS "
			    "options need --url");
			return NULL;
		}
		if (!c->c_has_tail || c->c_ntail < 1) {
			ctl_usage_error("server add needs -- COMMAND "
			    "[ARG ...]");
			return NULL;
		}
		if ((argv_j = json_array()) == NULL)
			return NULL;
		for (i = 1; i < c->c_ntail; i++)
			json_array_append_new(argv_j,
			    json_string(c->c_tail[i]));
		args = json_pack("{s:s,s:s,s:s,s:o,s:o,s:b}", "tenant",
		    c->c_pos[2], "name", c->c_pos[3], "command", c->c_tail[0],
		    "args", argv_j, "env", c->c_env != NULL ?
		    json_incref(c->c_env) : json_object(), "enabled",
		    !c->c_disabled);
		if (args == NULL) {
			fprintf(stderr, "dataagentctl: arguments must be "
			    "UTF-8 text\n");
			return NULL;
		}
	} else if (strcmp(cmd, "server.import") == 0) {
		if ((cfg = ctl_read_config(c->c_pos[3])) == NULL)
			return NULL;
		args = json_pack("{s:s,s:o}", "tenant", c->c_pos[2], "config",
		    cfg);
	} else {
		ttl = 3600;
		if (c->c_ttl != NULL && ctl_duration(c->c_ttl, &ttl) == -1) {
			fprintf(stderr, "dataagentctl: bad duration %s (use "
			    "seconds, or N with s, m, h or d)\n", c->c_ttl);
			ctl_usage_error(NULL);
			return NULL;
		}
		args = json_pack("{s:s,s:I}", "tenant", c->c_pos[2], "ttl",
		    (json_int_t)ttl);
	}
	if (args == NULL) {
		fprintf(stderr, "dataagentctl: arguments must be UTF-8 "
		    "text\n");
		return NULL;
	}
	if (c->c_allow_tools != NULL)
		json_object_set(args, "allow_tools", c->c_allow_tools);
	if (c->c_deny_tools != NULL)
		json_object_set(args, "deny_tools", c->c_deny_tools);
	req = json_pack("{s:s,s:o}", "cmd", cmd, "args", args);
	*cmd_r = cmd;
	return req;
}

/* What the parsed command line holds. */
static void
ctl_free(struct ctl *c)
{
	json_decref(c->c_env);
	json_decref(c->c_headers);
	json_decref(c->c_options);
	json_decref(c->c_allow_tools);
	json_decref(c->c_deny_tools);
	c->c_env = c->c_headers = c->c_options = NULL;
	c->c_allow_tools = c->c_deny_tools = NULL;
}

int
main(int argc, char **argv)
{
	struct ctl c;
	const char *cmd = NULL, *env;
	json_t *req, *res, *r;
	int status;
	char *s;

	signal(SIGPIPE, SIG_IGN);
	memset(&c, 0, sizeof(c));
	env = getenv("DATAAGENT_CONTROL_SOCKET");
	c.c_socket = env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_SOCKET;
	if ((status = ctl_parse(&c, argc, argv)) != -1) {
		ctl_free(&c);
		return status;
	}
	/* key generate runs here: the daemon is not needed (nor asked). */
	if (c.c_npos >= 2 && strcmp(c.c_pos[0], "key") == 0 &&
	    strcmp(c.c_pos[1], "generate") == 0) {
		ctl_free(&c);
		if (c.c_npos > 3)
			return ctl_usage_error("key generate takes at most "
			    "one PATH");
		return ctl_key_generate(c.c_npos == 3 ? c.c_pos[2] :
		    CTL_KEY_DEFAULT);
	}
	req = ctl_request(&c, &cmd, &status);
	ctl_free(&c);
	if (req == NULL)
		return status;
	res = ctl_call(c.c_socket, req, &status);
	json_decref(req);
	if (res == NULL)
		return status;

	if (!json_is_true(json_object_get(res, "ok"))) {
		const char *e = json_string_value(json_object_get(res,
		    "error"));

		fprintf(stderr, "dataagentctl: %s\n", e != NULL ? e :
		    "the daemon refused the command");
		json_decref(res);
		return CTL_EXIT_REFUSED;
	}
	r = json_object_get(res, "result");
	if (c.c_json) {
		s = json_dumps(r, JSON_INDENT(2) | JSON_ENCODE_ANY);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	} else if (strcmp(cmd, "token.issue") == 0) {
		const char *tok = json_string_value(json_object_get(r,
		    "token"));

		if (tok == NULL) {
			fprintf(stderr, "dataagentctl: malformed answer from "
			    "the daemon\n");
			json_decref(res);
			return CTL_EXIT_REFUSED;
		}
		printf("%s\n", tok);
		/* stdout stays the token alone: TOKEN=$(...) works. */
		if (json_string_value(json_object_get(r, "jti")) != NULL)
			fprintf(stderr, "jti %s\n", json_string_value(
			    json_object_get(r, "jti")));
	} else {
		ctl_print(&c, cmd, r);
	}
	json_decref(res);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "dataagentctl: cannot write the output: %s\n",
		    strerror(errno));
		return CTL_EXIT_REFUSED;
	}
	return CTL_EXIT_OK;
}
