/*
 * ctl.c: dataagentctl, the command-line client of dataagentd's control
 * socket (man/dataagentctl.8). It never opens the store: it sends one
 * JSON request line, reads one response line and prints it.
 *
 * Exit status: 0 ok, 1 the daemon refused, 2 usage error, 3 the daemon
 * cannot be reached.
 *
 * Its files:
 *   ctl.c       main; which command the words name and whether its
 *               operands and options fit; the usage text; the socket
 *   commands.c  the command table: each command's words, operands,
 *               options, help lines, request and printer; the requests'
 *               args; the commands that run here (key generate)
 *   parse.c     the option table, argv into struct ctl, and the
 *               completion of `dataagentctl __complete` (called by
 *               packaging/bash-completion/dataagentctl)
 *   print.c     the human output of each command's answer
 *   ctl.h       the structs and what the files share
 * A new command is an entry in ctl_commands[] (commands.c) with its
 * ctl_args_* there and, if its answer wants one, a ctl_print_* in
 * print.c; its help, count check and completion come from the entry. A
 * new option is an entry in ctl_options[] (parse.c) and a CTL_O_* bit
 * (ctl.h) in the ce_opts of the commands that take it.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "proto.h"
#include "ctl.h"

#define CTL_TIMEOUT 60		/* seconds to wait for the daemon */
#define CTL_HELP_COLUMN 32	/* where a command's description starts */

static const char ctl_usage_head[] =
"usage: dataagentctl [-s SOCKET] [--json] COMMAND [ARG ...]\n"
"\n";

static const char ctl_usage_tail[] =
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
 * One command's help lines, each indented by two; a '\t' goes to the
 * description column, or to the next line when the text is past it.
 */
static void
ctl_usage_cmd(FILE *f, const char *help)
{
	int col = 0;

	for (; *help != '\0'; help++) {
		if (col == 0) {
			fputs("  ", f);
			col = 2;
		}
		if (*help == '\t') {
			if (col >= CTL_HELP_COLUMN) {
				fputc('\n', f);
				col = 0;
			}
			fprintf(f, "%*s", CTL_HELP_COLUMN - col, "");
			col = CTL_HELP_COLUMN;
		} else {
			fputc(*help, f);
			col = *help == '\n' ? 0 : col + 1;
		}
	}
	fputc('\n', f);
}

/*
 * The usage text; with `word` ("tenant", "server", ...), only that
 * command's lines among the others (a command's --help).
 */
void
ctl_usage_for(FILE *f, const char *word)
{
	const struct ctl_cmd *ce;

	fputs(ctl_usage_head, f);
	for (ce = ctl_commands; ce->ce_word != NULL; ce++)
		if (ce->ce_help != NULL &&
		    (word == NULL || strcmp(ce->ce_word, word) == 0))
			ctl_usage_cmd(f, ce->ce_help);
	fputs(ctl_usage_tail, f);
	fprintf(f, "\n(default socket: %s)\n", CTL_DEFAULT_SOCKET);
}

/* Prints why (when given) and the usage; returns the usage status. */
int
ctl_usage_error(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dataagentctl: %s\n", why);
	ctl_usage_for(stderr, NULL);
	return CTL_EXIT_USAGE;
}

/* ---------------------------------------------------------- checking */

/*
 * The command the words name, with its operand count and options
 * checked (in the order of ctl_optgroups[]). Returns it, or NULL with
 * the usage error printed.
 */
static const struct ctl_cmd *
ctl_command(struct ctl *c)
{
	const struct ctl_optgroup *og;
	const struct ctl_cmd *ce;
	int min, max, n, given;

	if (c->c_npos == 0) {
		ctl_usage_error(NULL);
		return NULL;
	}
	if ((ce = ctl_cmd_find(c)) == NULL) {
		fprintf(stderr, "dataagentctl: unknown command: %s%s%s\n",
		    c->c_pos[0], c->c_npos > 1 ? " " : "",
		    c->c_npos > 1 ? c->c_pos[1] : "");
		ctl_usage_error(NULL);
		return NULL;
	}
	n = ce->ce_sub != NULL ? 2 : 1;
	c->c_arg = c->c_pos + n;
	ctl_operand_count(ce, &min, &max);
	if (c->c_npos - n < min || c->c_npos - n > max) {
		if (ce->ce_count_error != NULL) {
			ctl_usage_error(ce->ce_count_error);
			return NULL;
		}
		fprintf(stderr, "dataagentctl: wrong number of arguments for "
		    "%s%s%s\n", ce->ce_word, ce->ce_sub != NULL ? " " : "",
		    ce->ce_sub != NULL ? ce->ce_sub : "");
		ctl_usage_error(NULL);
		return NULL;
	}
	if (ce->ce_run != NULL)		/* runs here: options not looked at */
		return ce;
	for (og = ctl_optgroups; og->og_bits != 0; og++) {
		if ((c->c_seen & og->og_bits) && !(ce->ce_opts & og->og_bits)) {
			ctl_usage_error(og->og_belongs);
			return NULL;
		}
		given = __builtin_popcount(c->c_seen & og->og_bits);
		if ((ce->ce_needs & og->og_bits) && (given == 0 ||
		    (og->og_exactly_one && given > 1))) {
			ctl_usage_error(og->og_needed);
			return NULL;
		}
	}
	return ce;
}

/*
 * The request of the checked command ce. Returns it, or NULL (said why;
 * the status is a usage error).
 */
static json_t *
ctl_request(struct ctl *c, const struct ctl_cmd *ce)
{
	json_t *args = NULL;

	if (ce->ce_args(c, &args) == -1)
		return NULL;
	if (args == NULL) {
		fprintf(stderr, "dataagentctl: arguments must be UTF-8 "
		    "text\n");
		return NULL;
	}
	if (c->c_allow_tools != NULL)
		json_object_set(args, "allow_tools", c->c_allow_tools);
	if (c->c_deny_tools != NULL)
		json_object_set(args, "deny_tools", c->c_deny_tools);
	return json_pack("{s:s,s:o}", "cmd", ce->ce_cmd, "args", args);
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

/* A connected socket to path, or -1 after printing why. */
static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = { CTL_TIMEOUT, 0 };
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "dataagentctl: cannot connect to %s: %s\n",
		    path, strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "dataagentctl: cannot connect to %s: %s\n",
		    path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * Sends req as one line (wiped from memory after: it may hold a
 * secret). Returns 0, or -1 after printing why with *status_r set.
 */
static int
ctl_send(int fd, const char *path, const json_t *req, int *status_r)
{
	char *line;
	int rc = 0;

	if ((line = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "dataagentctl: out of memory\n");
		return -1;
	}
	if (strlen(line) > CONTROL_MAX_LINE) {
		fprintf(stderr, "dataagentctl: request too large (over %d "
		    "bytes)\n", CONTROL_MAX_LINE);
		*status_r = CTL_EXIT_USAGE;
		rc = -1;
	} else if (ctl_write_all(fd, line, strlen(line)) == -1 ||
	    ctl_write_all(fd, "\n", 1) == -1) {
		fprintf(stderr, "dataagentctl: cannot send to %s: %s\n", path,
		    strerror(errno));
		rc = -1;
	}
	explicit_bzero(line, strlen(line));
	free(line);
	return rc;
}

/*
 * Reads one response line. Returns it (malloc'd, without the newline,
 * its length in *len_r), or NULL after printing why.
 */
static char *
ctl_read_line(int fd, const char *path, size_t *len_r)
{
	char *buf = NULL, *nb, *nl;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (len == cap) {
			if (cap > CONTROL_MAX_LINE) {
				fprintf(stderr, "dataagentctl: response "
				    "longer than %d bytes\n", CONTROL_MAX_LINE);
				break;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				fprintf(stderr, "dataagentctl: out of "
				    "memory\n");
				break;
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
			break;
		}
		if (n == 0) {
			fprintf(stderr, "dataagentctl: %s closed the "
			    "connection without an answer\n", path);
			break;
		}
		buf[len + (size_t)n] = '\0';
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl != NULL) {
			*len_r = (size_t)(nl - buf);
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/*
 * Sends req as one line and reads one response line. Returns the parsed
 * response, or NULL after printing why (*status_r says the exit status).
 */
static json_t *
ctl_call(const char *path, const json_t *req, int *status_r)
{
	json_error_t jerr;
	json_t *res;
	char *buf;
	size_t len;
	int fd;

	*status_r = CTL_EXIT_UNREACHABLE;
	if ((fd = ctl_connect(path)) == -1)
		return NULL;
	if (ctl_send(fd, path, req, status_r) == -1 ||
	    (buf = ctl_read_line(fd, path, &len)) == NULL) {
		close(fd);
		return NULL;
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
}

/* ------------------------------------------------------------- main */

/* The daemon's answer res to command ce: the refusal, or the result. */
static int
ctl_answer(const struct ctl *c, const struct ctl_cmd *ce, const json_t *res)
{
	const json_t *r = json_object_get(res, "result");
	json_t *vis;
	int rc;

	if (!json_is_true(json_object_get(res, "ok"))) {
		vis = ctl_visible(json_object_get(res, "error"));
		fprintf(stderr, "dataagentctl: %s\n", json_is_string(vis) ?
		    json_string_value(vis) : "the daemon refused the command");
		json_decref(vis);
		return CTL_EXIT_REFUSED;
	}
	if (c->c_json || ce->ce_print == NULL)
		return ctl_print_json(r);
	/* Everything a printer shows is escaped first (print.c). */
	if ((vis = ctl_visible(r)) == NULL && r != NULL) {
		fprintf(stderr, "dataagentctl: out of memory\n");
		return CTL_EXIT_REFUSED;
	}
	rc = ce->ce_print(c, vis);
	json_decref(vis);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct ctl_cmd *ce;
	struct ctl c;
	const char *env;
	json_t *req, *res;
	int status;

	signal(SIGPIPE, SIG_IGN);
	/* The bash completion's question (not in the usage: not for people). */
	if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
		return ctl_complete(argc - 2, argv + 2);
	memset(&c, 0, sizeof(c));
	env = getenv("DATAAGENT_CONTROL_SOCKET");
	c.c_socket = env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_SOCKET;
	if ((status = ctl_parse(&c, argc, argv)) != -1) {
		ctl_free(&c);
		return status;
	}
	if ((ce = ctl_command(&c)) == NULL) {
		ctl_free(&c);
		return CTL_EXIT_USAGE;
	}
	if (ce->ce_run != NULL) {
		ctl_free(&c);
		return ce->ce_run(&c);
	}
	req = ctl_request(&c, ce);
	ctl_free(&c);
	if (req == NULL)
		return CTL_EXIT_USAGE;
	res = ctl_call(c.c_socket, req, &status);
	json_decref(req);
	if (res == NULL)
		return status;
	status = ctl_answer(&c, ce, res);
	json_decref(res);
	if (status != CTL_EXIT_OK)
		return status;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "dataagentctl: cannot write the output: %s\n",
		    strerror(errno));
		return CTL_EXIT_REFUSED;
	}
	return CTL_EXIT_OK;
}
