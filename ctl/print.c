/*
 * print.c: dataagentctl's human output of the daemon's answers, one
 * ctl_print_* a command (named by the command table, commands.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "ctl.h"

#define CTL_VISIBLE_DEPTH 64	/* deeper than any answer of ours */

/* What dataagentctl prints of an answer, with every string and key
 * passed through vis_escape: names, details and errors come from the
 * store, where tenants, their workers and their upstream servers wrote
 * them, and an escape sequence must not reach the admin's terminal.
 * --json prints the answer as it came (JSON escapes C0 itself).
 * Returns a new reference, or NULL when out of memory. */
json_t *
ctl_visible(const json_t *v)
{
	return vis_json(v, CTL_VISIBLE_DEPTH);
}

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
int
ctl_print_server_show(const struct ctl *c, const json_t *s)
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
	return CTL_EXIT_OK;
}

int
ctl_print_tenant_list(const struct ctl *c, const json_t *list)
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
	return CTL_EXIT_OK;
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

int
ctl_print_tenant_show(const struct ctl *c, const json_t *t)
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
	return CTL_EXIT_OK;
}

/* audit rows as a table: time, actor, tenant, action, then what the
 * row says (a tool call's fields, or the detail). */
int
ctl_print_audit(const struct ctl *c, const json_t *rows)
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
	return CTL_EXIT_OK;
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

/* The answer as the daemon gave it (--json, and commands without a
 * printer of their own). */
int
ctl_print_json(const json_t *r)
{
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	return CTL_EXIT_OK;
}

int
ctl_print_tenant_add(const struct ctl *c, const json_t *r)
{
	printf("tenant %s added (uid %lld)\n", ctl_str(r, "id"),
	    ctl_int(r, "uid"));
	return CTL_EXIT_OK;
}

/* tenant enable, disable and remove: "tenant ID enabled" and so on, the
 * command's word in the past tense. */
int
ctl_print_tenant_state(const struct ctl *c, const json_t *r)
{
	printf("tenant %s %sd\n", c->c_arg[0], c->c_pos[1]);
	return CTL_EXIT_OK;
}

int
ctl_print_tenant_set(const struct ctl *c, const json_t *r)
{
	printf("tenant %s:\n", c->c_arg[0]);
	ctl_print_tool_lists("  ", r, 1);
	return CTL_EXIT_OK;
}

int
ctl_print_tenant_set_egress(const struct ctl *c, const json_t *r)
{
	printf("tenant %s egress: ", c->c_arg[0]);
	ctl_print_egress("", r);
	return CTL_EXIT_OK;
}

int
ctl_print_tenant_set_limits(const struct ctl *c, const json_t *r)
{
	printf("tenant %s limits: ", c->c_arg[0]);
	ctl_print_limits("", json_object_get(r, "limits"));
	return CTL_EXIT_OK;
}

int
ctl_print_server_add(const struct ctl *c, const json_t *r)
{
	printf("server %s added to tenant %s%s\n", ctl_str(r, "name"),
	    c->c_arg[0], json_is_false(json_object_get(r, "enabled")) ?
	    " (disabled)" : "");
	return CTL_EXIT_OK;
}

int
ctl_print_server_list(const struct ctl *c, const json_t *r)
{
	ctl_print_servers(r, "");
	return CTL_EXIT_OK;
}

int
ctl_print_server_set(const struct ctl *c, const json_t *r)
{
	printf("server %s of tenant %s:\n", c->c_arg[1], c->c_arg[0]);
	ctl_print_tool_lists("  ", r, 1);
	return CTL_EXIT_OK;
}

int
ctl_print_server_remove(const struct ctl *c, const json_t *r)
{
	printf("server %s removed from tenant %s\n", c->c_arg[1],
	    c->c_arg[0]);
	return CTL_EXIT_OK;
}

int
ctl_print_server_import(const struct ctl *c, const json_t *r)
{
	const json_t *v = json_object_get(r, "imported");
	size_t i;

	printf("imported %zu server%s into tenant %s", json_array_size(v),
	    json_array_size(v) == 1 ? "" : "s", c->c_arg[0]);
	for (i = 0; i < json_array_size(v); i++)
		printf("%s%s", i == 0 ? ": " : ", ",
		    json_string_value(json_array_get(v, i)) != NULL ?
		    json_string_value(json_array_get(v, i)) : "");
	putchar('\n');
	v = json_object_get(r, "skipped");
	for (i = 0; i < json_array_size(v); i++)
		printf("skipped %s: %s\n", ctl_str(json_array_get(v, i), "name"),
		    ctl_str(json_array_get(v, i), "reason"));
	return CTL_EXIT_OK;
}

/* token issue: stdout is the token alone (TOKEN=$(...) works); its jti
 * goes to stderr. */
int
ctl_print_token_issue(const struct ctl *c, const json_t *r)
{
	const char *tok = json_string_value(json_object_get(r, "token"));
	const char *jti = json_string_value(json_object_get(r, "jti"));

	if (tok == NULL) {
		fprintf(stderr, "dataagentctl: malformed answer from the "
		    "daemon\n");
		return CTL_EXIT_REFUSED;
	}
	printf("%s\n", tok);
	if (jti != NULL)
		fprintf(stderr, "jti %s\n", jti);
	return CTL_EXIT_OK;
}

int
ctl_print_token_revoke(const struct ctl *c, const json_t *r)
{
	int has_t = json_is_string(json_object_get(r, "tenant"));
	char t1[32];

	printf("token %s revoked%s%s until %s\n", ctl_str(r, "jti"),
	    has_t ? " for tenant " : "", has_t ? ctl_str(r, "tenant") : "",
	    ctl_time(ctl_int(r, "expires"), t1));
	return CTL_EXIT_OK;
}

int
ctl_print_token_revoked(const struct ctl *c, const json_t *r)
{
	const json_t *v;
	char t1[32], t2[32];
	size_t i;

	printf("%-34s %-16s %-20s %s\n", "JTI", "TENANT", "REVOKED",
	    "EXPIRES");
	json_array_foreach(r, i, v)
		printf("%-34s %-16s %-20s %s\n", ctl_str(v, "jti"),
		    json_is_string(json_object_get(v, "tenant")) ?
		    ctl_str(v, "tenant") : "*",
		    ctl_time(ctl_int(v, "revoked"), t1),
		    ctl_time(ctl_int(v, "expires"), t2));
	return CTL_EXIT_OK;
}

int
ctl_print_secret_set(const struct ctl *c, const json_t *r)
{
	printf("secret %s of tenant %s set\n", c->c_arg[1], c->c_arg[0]);
	return CTL_EXIT_OK;
}

int
ctl_print_secret_list(const struct ctl *c, const json_t *r)
{
	const json_t *v;
	char t1[32], t2[32];
	size_t i;

	json_array_foreach(r, i, v)
		printf("%-24s created %s  updated %s\n", ctl_str(v, "name"),
		    ctl_time(ctl_int(v, "created"), t1),
		    ctl_time(ctl_int(v, "updated"), t2));
	return CTL_EXIT_OK;
}

int
ctl_print_secret_remove(const struct ctl *c, const json_t *r)
{
	printf("secret %s removed from tenant %s\n", c->c_arg[1],
	    c->c_arg[0]);
	return CTL_EXIT_OK;
}

int
ctl_print_key_rotate(const struct ctl *c, const json_t *r)
{
	printf("%lld secret%s re-encrypted; the new key is in %s\n",
	    ctl_int(r, "secrets"), ctl_int(r, "secrets") == 1 ? "" : "s",
	    ctl_str(r, "path"));
	return CTL_EXIT_OK;
}

int
ctl_print_status(const struct ctl *c, const json_t *st)
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
	return CTL_EXIT_OK;
}

int
ctl_print_reload(const struct ctl *c, const json_t *r)
{
	printf("reload requested\n");
	return CTL_EXIT_OK;
}

