/*
 * parse.c: dataagentctl's options (ctl_options[]), the split of argv
 * into options and words, and the completion the bash script asks for
 * (dataagentctl __complete WORD...), both from the option and command
 * tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ctl.h"

static int ctl_opt_help(struct ctl *, const char *, const char *);
static int ctl_opt_version(struct ctl *, const char *, const char *);
static int ctl_opt_flag(struct ctl *, const char *, const char *);
static int ctl_opt_socket(struct ctl *, const char *, const char *);
static int ctl_opt_env(struct ctl *, const char *, const char *);
static int ctl_opt_string(struct ctl *, const char *, const char *);
static int ctl_opt_egress_allow(struct ctl *, const char *, const char *);
static int ctl_opt_tools(struct ctl *, const char *, const char *);
static int ctl_opt_remote(struct ctl *, const char *, const char *);

#define V CTL_OF_VALUE
#define VE (CTL_OF_VALUE | CTL_OF_EQ)

/* Every option; which commands take which is in ctl_commands[]. */
const struct ctl_opt ctl_options[] = {
	{ "-h", CTL_OF_NOCOMP, 0, ctl_opt_help, NULL },
	{ "--help", 0, 0, ctl_opt_help, NULL },
	{ "-V", CTL_OF_NOCOMP, 0, ctl_opt_version, NULL },
	{ "--version", 0, 0, ctl_opt_version, NULL },
	{ "--json", 0, 0, ctl_opt_flag, NULL },
	{ "-s", V, 0, ctl_opt_socket, "@files" },
	{ "--socket", VE, 0, ctl_opt_socket, "@files" },
	{ "--env", VE, CTL_O_ENV, ctl_opt_env, NULL },
	{ "--disabled", 0, CTL_O_DISABLED, ctl_opt_flag, NULL },
	{ "--ttl", VE, CTL_O_TTL, ctl_opt_string, "10m 1h 12h 1d 7d" },
	{ "--tenant", VE, CTL_O_TENANT, ctl_opt_string, "@tenants" },
	{ "--since", V, CTL_O_SINCE, ctl_opt_string, "15m 1h 1d 7d" },
	{ "--limit", V, CTL_O_LIMIT, ctl_opt_string, "10 100 1000" },
	{ "--url", V, CTL_O_REMOTE, ctl_opt_remote, NULL },
	{ "--transport", V, CTL_O_REMOTE, ctl_opt_remote, "http sse" },
	{ "--header", V, CTL_O_REMOTE, ctl_opt_remote, NULL },
	{ "--ca-file", V, CTL_O_REMOTE, ctl_opt_remote, "@files" },
	{ "--client-cert", V, CTL_O_REMOTE, ctl_opt_remote, "@files" },
	{ "--client-key", V, CTL_O_REMOTE, ctl_opt_remote, "@files" },
	{ "--tls-verify", V, CTL_O_REMOTE, ctl_opt_remote, "on off" },
	{ "--timeout", V, CTL_O_REMOTE, ctl_opt_remote, NULL },
	{ "--protocol", V, CTL_O_REMOTE, ctl_opt_remote, "2026-07-28" },
	{ "--allow-tools", VE, CTL_O_ALLOW_TOOLS, ctl_opt_tools, NULL },
	{ "--deny-tools", VE, CTL_O_DENY_TOOLS, ctl_opt_tools, NULL },
	{ "--allow", VE, CTL_O_EGRESS_ALLOW, ctl_opt_egress_allow, NULL },
	{ "--default", 0, CTL_O_EGRESS_DEFAULT, ctl_opt_flag, NULL },
	{ NULL, 0, 0, NULL, NULL }
};

#undef V
#undef VE

/* ------------------------------------------------------------ values */

/* -h, --help; after a command word, that command's help. */
static int
ctl_opt_help(struct ctl *c, const char *name, const char *v)
{
	ctl_usage_for(stdout, c->c_npos > 0 ? c->c_pos[0] : NULL);
	return CTL_EXIT_OK;
}

static int
ctl_opt_version(struct ctl *c, const char *name, const char *v)
{
	printf("dataagentctl %s\n", DATAAGENT_VERSION);
	return CTL_EXIT_OK;
}

static int
ctl_opt_socket(struct ctl *c, const char *name, const char *v)
{
	c->c_socket = v;
	return -1;
}

/* --json, --disabled, --default */
static int
ctl_opt_flag(struct ctl *c, const char *name, const char *v)
{
	if (strcmp(name, "--json") == 0)
		c->c_json = 1;
	else if (strcmp(name, "--disabled") == 0)
		c->c_disabled = 1;
	else
		c->c_egress_default = 1;
	return -1;
}

/* --ttl, --tenant, --since, --limit: checked by the command. */
static int
ctl_opt_string(struct ctl *c, const char *name, const char *v)
{
	if (strcmp(name, "--ttl") == 0)
		c->c_ttl = v;
	else if (strcmp(name, "--tenant") == 0)
		c->c_tenant = v;
	else if (strcmp(name, "--since") == 0)
		c->c_since = v;
	else
		c->c_limit = v;
	return -1;
}

/* --env KEY=VALUE */
static int
ctl_opt_env(struct ctl *c, const char *name, const char *v)
{
	const char *eq = strchr(v, '=');
	char *k;

	if (eq == NULL || eq == v) {
		fprintf(stderr, "dataagentctl: --env wants KEY=VALUE, not %s\n",
		    v);
		return ctl_usage_error(NULL);
	}
	if (c->c_env == NULL && (c->c_env = json_object()) == NULL)
		return CTL_EXIT_USAGE;
	k = strndup(v, (size_t)(eq - v));
	if (k == NULL || json_object_set_new(c->c_env, k,
	    json_string(eq + 1)) == -1) {
		free(k);
		fprintf(stderr, "dataagentctl: bad --env %s\n", v);
		return CTL_EXIT_USAGE;
	}
	free(k);
	return -1;
}

/* tenant set-egress --allow ENTRY (once or more) */
static int
ctl_opt_egress_allow(struct ctl *c, const char *name, const char *v)
{
	if ((c->c_egress_allow == NULL &&
	    (c->c_egress_allow = json_array()) == NULL) ||
	    json_array_append_new(c->c_egress_allow, json_string(v)) == -1)
		return ctl_usage_error("--allow takes UTF-8 text");
	return -1;
}

/*
 * --allow-tools P,... or --deny-tools P,...: checked here as the daemon
 * will check them (toolacl_list_parse), so a bad pattern is a usage
 * error.
 */
static int
ctl_opt_tools(struct ctl *c, const char *name, const char *v)
{
	int allow = strcmp(name, "--allow-tools") == 0;
	json_t **slot = allow ? &c->c_allow_tools : &c->c_deny_tools, *l;
	char err[256];

	if ((l = toolacl_list_parse_str(v, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dataagentctl: %s: %s\n", name, err);
		return ctl_usage_error(NULL);
	}
	json_decref(*slot);
	*slot = l;
	return -1;
}

/* --header 'Name: value' of a remote server add. */
static int
ctl_opt_header(struct ctl *c, const char *v)
{
	const char *colon;
	char *k;

	if ((colon = strchr(v, ':')) == NULL || colon == v) {
		fprintf(stderr, "dataagentctl: --header wants 'Name: value'\n");
		return ctl_usage_error(NULL);
	}
	if (c->c_headers == NULL && (c->c_headers = json_object()) == NULL)
		return CTL_EXIT_USAGE;
	k = strndup(v, (size_t)(colon - v));
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	if (k == NULL || json_object_set_new(c->c_headers, k,
	    json_string(colon)) == -1) {
		free(k);
		fprintf(stderr, "dataagentctl: bad --header\n");
		return CTL_EXIT_USAGE;
	}
	free(k);
	return -1;
}

/* One option of a remote server add. */
static int
ctl_opt_remote(struct ctl *c, const char *a, const char *v)
{
	char *end;
	long n;

	if (c->c_options == NULL && (c->c_options = json_object()) == NULL)
		return CTL_EXIT_USAGE;
	if (strcmp(a, "--url") == 0) {
		c->c_url = v;
	} else if (strcmp(a, "--transport") == 0) {
		if (strcmp(v, "http") != 0 && strcmp(v, "sse") != 0)
			return ctl_usage_error("--transport is http or sse");
		c->c_transport = v;
	} else if (strcmp(a, "--header") == 0) {
		return ctl_opt_header(c, v);
	} else if (strcmp(a, "--tls-verify") == 0) {
		if (strcmp(v, "off") != 0 && strcmp(v, "on") != 0)
			return ctl_usage_error("--tls-verify is on or off");
		json_object_set_new(c->c_options, "tls_verify",
		    json_boolean(strcmp(v, "on") == 0));
	} else if (strcmp(a, "--timeout") == 0) {
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > 3600)
			return ctl_usage_error("--timeout is 1 to 3600 "
			    "seconds");
		json_object_set_new(c->c_options, "timeout", json_integer(n));
	} else if (strcmp(a, "--protocol") == 0) {
		if (strcmp(v, "2026-07-28") != 0)
			return ctl_usage_error("--protocol is 2026-07-28");
		json_object_set_new(c->c_options, "protocol", json_string(v));
	} else {
		json_object_set_new(c->c_options, strcmp(a, "--ca-file") == 0 ?
		    "ca_file" : strcmp(a, "--client-cert") == 0 ?
		    "client_cert" : "client_key", json_string(v));
	}
	return -1;
}

/* ----------------------------------------------------------- argv */

/* The option named exactly `name`, or NULL. */
const struct ctl_opt *
ctl_opt_find(const char *name)
{
	const struct ctl_opt *o;

	for (o = ctl_options; o->co_name != NULL; o++)
		if (strcmp(o->co_name, name) == 0)
			return o;
	return NULL;
}

/* --name=VALUE of an option that takes that form, or NULL. */
static const struct ctl_opt *
ctl_opt_find_eq(const char *a, const char **v_r)
{
	const struct ctl_opt *o;
	const char *eq = strchr(a, '=');
	size_t len;

	if (eq == NULL || strncmp(a, "--", 2) != 0)
		return NULL;
	len = (size_t)(eq - a);
	for (o = ctl_options; o->co_name != NULL; o++)
		if ((o->co_flags & CTL_OF_EQ) && strlen(o->co_name) == len &&
		    strncmp(o->co_name, a, len) == 0) {
			*v_r = eq + 1;
			return o;
		}
	return NULL;
}

/*
 * Splits argv into options and words. Options are accepted before or
 * among the command words and checked per command later (ctl.c);
 * everything after "--" is the tail (server add's command line).
 * Returns -1 to go on, else an exit status.
 */
int
ctl_parse(struct ctl *c, int argc, char **argv)
{
	const struct ctl_opt *o;
	const char *a, *v;
	int i, st;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		v = NULL;
		if (strcmp(a, "--") == 0) {
			c->c_has_tail = 1;
			c->c_seen |= CTL_O_TAIL;
			c->c_tail = argv + i + 1;
			c->c_ntail = argc - i - 1;
			break;
		}
		if ((o = ctl_opt_find(a)) != NULL) {
			if ((o->co_flags & CTL_OF_VALUE) && i + 1 >= argc)
				return ctl_usage_error("an option lacks its "
				    "value");
			if (o->co_flags & CTL_OF_VALUE)
				v = argv[++i];
		} else if (strncmp(a, "-s", 2) == 0 && a[2] != '\0') {
			o = ctl_opt_find("-s");
			v = a + 2;
		} else if ((o = ctl_opt_find_eq(a, &v)) == NULL &&
		    a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "dataagentctl: unknown option %s\n", a);
			return ctl_usage_error(NULL);
		}
		if (o == NULL) {
			if (c->c_npos >= CTL_MAX_POS)
				return ctl_usage_error("too many arguments");
			c->c_pos[c->c_npos++] = a;
			continue;
		}
		if ((st = o->co_set(c, o->co_name, v)) != -1)
			return st;
		c->c_seen |= o->co_bit;
	}
	return -1;
}

/* What the parsed command line holds. */
void
ctl_free(struct ctl *c)
{
	json_decref(c->c_env);
	json_decref(c->c_headers);
	json_decref(c->c_options);
	json_decref(c->c_allow_tools);
	json_decref(c->c_deny_tools);
	json_decref(c->c_egress_allow);
	c->c_env = c->c_headers = c->c_options = NULL;
	c->c_allow_tools = c->c_deny_tools = c->c_egress_allow = NULL;
}

/* -------------------------------------------------------- operands */

/* What completion offers for an operand of each name (ce_operands). */
static const struct {
	const char *ok_name;
	const char *ok_complete;
} ctl_operand_kinds[] = {
	{ "TENANT", "@tenants" },
	{ "SERVER", "@servers" },
	{ "FILE", "@files" },
	{ "PATH", "@files" },
	{ "KEY=VALUE", "memory_max= swap_max= pids_max= cpu_weight= rate=" },
	{ NULL, NULL }
};

/*
 * How many operands a command takes, from its ce_operands: *max_r is
 * CTL_MAX_POS when the last one repeats.
 */
void
ctl_operand_count(const struct ctl_cmd *ce, int *min_r, int *max_r)
{
	const char *p = ce->ce_operands, *end;
	size_t len;

	*min_r = *max_r = 0;
	for (; *p != '\0'; p = *end == ' ' ? end + 1 : end) {
		end = p + strcspn(p, " ");
		len = (size_t)(end - p);
		if (*p != '[')
			(*min_r)++;
		(*max_r)++;
		if (len > 3 && strncmp(end - 3, "...", 3) == 0)
			*max_r = CTL_MAX_POS;
	}
}

/* The completion of operand k (from 0) of ce, NULL: nothing to offer;
 * *past_r is set when ce takes no operand k. */
static const char *
ctl_operand_complete(const struct ctl_cmd *ce, int k, int *past_r)
{
	const char *p = ce->ce_operands, *end = p;
	size_t len = 0;
	int i, n;

	*past_r = 0;
	for (n = 0; *p != '\0'; n++, p = *end == ' ' ? end + 1 : end) {
		end = p + strcspn(p, " ");
		len = (size_t)(end - p);
		if (n == k || (*end == '\0' && len > 3 &&
		    strncmp(end - 3, "...", 3) == 0))
			break;
	}
	if (*p == '\0') {
		*past_r = 1;
		return NULL;
	}
	if (*p == '[') {
		p++;
		len -= 2;
	} else if (len > 3 && strncmp(p + len - 3, "...", 3) == 0)
		len -= 3;
	for (i = 0; ctl_operand_kinds[i].ok_name != NULL; i++)
		if (strlen(ctl_operand_kinds[i].ok_name) == len &&
		    strncmp(ctl_operand_kinds[i].ok_name, p, len) == 0)
			return ctl_operand_kinds[i].ok_complete;
	return NULL;
}

/* ------------------------------------------------------- completion */

/* A completion as lines: each word of a list, or the @directive. */
static void
ctl_complete_print(const char *spec)
{
	size_t len;

	while (spec != NULL && *spec != '\0') {
		len = strcspn(spec, " ");
		if (len > 0)
			printf("%.*s\n", (int)len, spec);
		spec += len + (spec[len] == ' ');
	}
}

/* The options offered after a command's words: the global ones and
 * ce's (all of them before a command is known); with `own`, only ce's. */
static void
ctl_complete_options(const struct ctl_cmd *ce, int own)
{
	const struct ctl_opt *o;

	for (o = ctl_options; o->co_name != NULL; o++) {
		if (o->co_flags & CTL_OF_NOCOMP)
			continue;
		if (ce == NULL || (o->co_bit == 0 && !own) ||
		    (o->co_bit & ce->ce_opts))
			printf("%s\n", o->co_name);
	}
}

/* The first words of the commands, or the second words after `word`. */
static void
ctl_complete_words(const char *word)
{
	const struct ctl_cmd *ce, *prev;

	for (ce = ctl_commands; ce->ce_word != NULL; ce++) {
		if (word == NULL) {
			for (prev = ctl_commands; prev < ce; prev++)
				if (strcmp(prev->ce_word, ce->ce_word) == 0)
					break;
			if (prev == ce)
				printf("%s\n", ce->ce_word);
		} else if (ce->ce_sub != NULL &&
		    strcmp(ce->ce_word, word) == 0)
			printf("%s\n", ce->ce_sub);
	}
}

/*
 * dataagentctl __complete WORD...: the words after the program name up
 * to the one being completed (the last, maybe empty). Prints what may
 * come there, a line each: words, or @files, @tenants, @servers=TENANT
 * for the script to ask of the shell or the daemon. Returns 0.
 */
int
ctl_complete(int nwords, char **words)
{
	const struct ctl_opt *o;
	const struct ctl_cmd *ce;
	const char *cur = nwords > 0 ? words[nwords - 1] : "", *spec;
	struct ctl c;
	int i, k, past;

	if (nwords >= 2 && (o = ctl_opt_find(words[nwords - 2])) != NULL &&
	    (o->co_flags & CTL_OF_VALUE)) {
		ctl_complete_print(o->co_complete);
		return 0;
	}
	memset(&c, 0, sizeof(c));
	for (i = 0; i < nwords - 1; i++) {
		if (strcmp(words[i], "--") == 0)
			return 0;	/* the server's own command line */
		if ((o = ctl_opt_find(words[i])) != NULL &&
		    (o->co_flags & CTL_OF_VALUE))
			i++;
		else if (words[i][0] != '-' && c.c_npos < CTL_MAX_POS)
			c.c_pos[c.c_npos++] = words[i];
	}
	ce = ctl_cmd_find(&c);
	if (cur[0] == '-') {
		ctl_complete_options(ce, 0);
		return 0;
	}
	if (c.c_npos <= 1 && ce == NULL) {
		ctl_complete_words(c.c_npos == 0 ? NULL : c.c_pos[0]);
		return 0;
	}
	if (ce == NULL)
		return 0;
	k = c.c_npos - (ce->ce_sub != NULL ? 2 : 1);
	spec = ctl_operand_complete(ce, k, &past);
	if (past)
		ctl_complete_options(ce, 1);
	else if (spec != NULL && strcmp(spec, "@servers") == 0)
		printf("@servers=%s\n", c.c_pos[c.c_npos - k]);
	else
		ctl_complete_print(spec);
	return 0;
}
