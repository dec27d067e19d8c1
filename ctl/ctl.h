/*
 * ctl.h: dataagentctl's structs and the functions its files share (the
 * map of which file does what is at the top of ctl.c).
 */
#ifndef DATAAGENT_CTL_H
#define DATAAGENT_CTL_H

#include <stdio.h>

#include <jansson.h>

#define CTL_DEFAULT_SOCKET "/run/dataagent/control.sock"
#define CTL_KEY_DEFAULT "/etc/dataagent/master.key"
#define CTL_MAX_POS 8		/* positional words a command takes */

#define CTL_EXIT_OK 0
#define CTL_EXIT_REFUSED 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 3

/*
 * The options a command line gave, one bit each (struct ctl's c_seen).
 * A command's entry says which it takes (ce_opts); the global ones (-s,
 * --json, -h, -V) have no bit and go with every command.
 */
#define CTL_O_ENV		0x0001	/* --env */
#define CTL_O_DISABLED		0x0002	/* --disabled */
#define CTL_O_TAIL		0x0004	/* -- COMMAND ... */
#define CTL_O_REMOTE		0x0008	/* --url, --transport, --header, TLS */
#define CTL_O_ALLOW_TOOLS	0x0010	/* --allow-tools */
#define CTL_O_DENY_TOOLS	0x0020	/* --deny-tools */
#define CTL_O_EGRESS_ALLOW	0x0040	/* --allow */
#define CTL_O_EGRESS_DEFAULT	0x0080	/* --default */
#define CTL_O_TTL		0x0100	/* --ttl */
#define CTL_O_TENANT		0x0200	/* --tenant */
#define CTL_O_SINCE		0x0400	/* --since */
#define CTL_O_LIMIT		0x0800	/* --limit */

#define CTL_O_SERVER_ADD	(CTL_O_ENV | CTL_O_DISABLED | CTL_O_TAIL | \
				    CTL_O_REMOTE)
#define CTL_O_TOOLS		(CTL_O_ALLOW_TOOLS | CTL_O_DENY_TOOLS)
#define CTL_O_EGRESS		(CTL_O_EGRESS_ALLOW | CTL_O_EGRESS_DEFAULT)
#define CTL_O_AUDIT		(CTL_O_SINCE | CTL_O_LIMIT)

/* The parsed command line. */
struct ctl {
	const char *c_socket;
	int c_json;
	unsigned c_seen;		/* CTL_O_* given */
	const char *c_pos[CTL_MAX_POS];	/* command words and operands */
	int c_npos;
	const char **c_arg;		/* the operands: c_pos after the
					 * command's words */
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

/*
 * One option of the command line (ctl_options[], commands.c). co_set
 * stores its value (v is NULL for an option without one) and returns -1
 * to go on, else the exit status (after printing why).
 */
struct ctl_opt {
	const char *co_name;		/* "--ttl", "-s" */
	int co_flags;
#define CTL_OF_VALUE	0x01		/* takes the next word */
#define CTL_OF_EQ	0x02		/* also --name=VALUE */
#define CTL_OF_NOCOMP	0x04		/* not offered by completion */
	unsigned co_bit;		/* CTL_O_*, 0 for a global option */
	int (*co_set)(struct ctl *, const char *name, const char *v);
	const char *co_complete;	/* its values: words, or @files,
					 * @tenants; NULL: nothing */
};

/*
 * One command (ctl_commands[], commands.c): its words, what it takes,
 * the control request it builds and how its answer is printed.
 */
struct ctl_cmd {
	const char *ce_word;		/* "tenant" */
	const char *ce_sub;		/* "add", NULL for a one-word command */
	const char *ce_cmd;		/* the control command, "tenant.add";
					 * NULL: runs here (ce_run) */
	const char *ce_operands;	/* "TENANT NAME", "[PATH]", "ID
					 * KEY=VALUE...": counts, completion */
	const char *ce_count_error;	/* instead of "wrong number of
					 * arguments for ..." */
	unsigned ce_opts;		/* CTL_O_* it takes */
	unsigned ce_needs;		/* CTL_O_* groups it needs one of */
	/* Returns 0 with *args_r (NULL: not UTF-8), or -1 (said why). */
	int (*ce_args)(struct ctl *, json_t **args_r);
	/* Prints a successful answer; returns the exit status. NULL: the
	 * answer as JSON. */
	int (*ce_print)(const struct ctl *, const json_t *result);
	/* Instead of a request: runs the command, returns the exit status. */
	int (*ce_run)(struct ctl *);
	const char *ce_help;		/* usage lines; '\t' goes to the
					 * description column */
};

/* A group of options that belong to some commands, checked in order. */
struct ctl_optgroup {
	unsigned og_bits;
	const char *og_belongs;		/* the usage error when misplaced */
	int og_exactly_one;		/* ce_needs: one of them, not both */
	const char *og_needed;		/* the usage error when needed and
					 * not given */
};

extern const struct ctl_opt ctl_options[];
extern const struct ctl_cmd ctl_commands[];
extern const struct ctl_optgroup ctl_optgroups[];

/* ctl.c */
void ctl_usage_for(FILE *, const char *word);
int ctl_usage_error(const char *why);

/* parse.c */
int ctl_parse(struct ctl *, int argc, char **argv);
void ctl_free(struct ctl *);
const struct ctl_opt *ctl_opt_find(const char *name);
void ctl_operand_count(const struct ctl_cmd *, int *min_r, int *max_r);
int ctl_complete(int nwords, char **words);

/* commands.c */
const struct ctl_cmd *ctl_cmd_find(const struct ctl *);

/* print.c */
/* A copy of an answer with every string and key escaped (vis_escape),
 * for the printers; a new reference, or NULL when out of memory. */
json_t *ctl_visible(const json_t *);
int ctl_print_json(const json_t *);
int ctl_print_tenant_add(const struct ctl *, const json_t *);
int ctl_print_tenant_list(const struct ctl *, const json_t *);
int ctl_print_tenant_show(const struct ctl *, const json_t *);
int ctl_print_tenant_state(const struct ctl *, const json_t *);
int ctl_print_tenant_set(const struct ctl *, const json_t *);
int ctl_print_tenant_set_egress(const struct ctl *, const json_t *);
int ctl_print_tenant_set_limits(const struct ctl *, const json_t *);
int ctl_print_server_add(const struct ctl *, const json_t *);
int ctl_print_server_list(const struct ctl *, const json_t *);
int ctl_print_server_show(const struct ctl *, const json_t *);
int ctl_print_server_set(const struct ctl *, const json_t *);
int ctl_print_server_remove(const struct ctl *, const json_t *);
int ctl_print_server_import(const struct ctl *, const json_t *);
int ctl_print_token_issue(const struct ctl *, const json_t *);
int ctl_print_token_revoke(const struct ctl *, const json_t *);
int ctl_print_token_revoked(const struct ctl *, const json_t *);
int ctl_print_secret_set(const struct ctl *, const json_t *);
int ctl_print_secret_list(const struct ctl *, const json_t *);
int ctl_print_secret_remove(const struct ctl *, const json_t *);
int ctl_print_key_rotate(const struct ctl *, const json_t *);
int ctl_print_status(const struct ctl *, const json_t *);
int ctl_print_reload(const struct ctl *, const json_t *);
int ctl_print_audit(const struct ctl *, const json_t *);

#endif
