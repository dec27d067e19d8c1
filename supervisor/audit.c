/*
 * audit.c: tool-call audit rows from the workers, and retention.
 *
 * A worker reports finished tool calls in batches (IPC_AUDIT, proto.h:
 * {"rows":[...]}, one message per 100 ms or 64 calls). The
 * payload is hostile input: every field is checked, the tenant is the
 * worker's own, and argument values are kept only when audit_arguments
 * is on here, whatever the worker sent. Rows are queued and written
 * AUDIT_FLUSH_MS later in one transaction, so a burst of calls costs one
 * commit, not one each; a full queue (audit_queue rows, read at start)
 * is written at once. A tenant's rows past tenant_audit_rate a second,
 * or with tenant_audit_queue of its rows already waiting, are dropped
 * and counted (quota.c): one tenant's flood neither fills the disk nor
 * takes the queue from the others.
 *
 * Rows older than audit_retention days are deleted at start-up and every
 * AUDIT_PRUNE_S seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "supervisor.h"

#define AUDIT_FLUSH_MS 200
#define AUDIT_PRUNE_S 3600
#define AUDIT_DURATION_MAX ((json_int_t)86400 * 1000 * 30)

struct audit_pending {
	int64_t ap_ts;
	char ap_tenant[65];
	char ap_server[65];
	char ap_tool[PROM_TOOL_NAME_MAX + 1];
	char ap_status[16];
	char ap_request_id[REQUEST_ID_MAX + 1];
	int64_t ap_duration_ms, ap_arg_bytes;
	char *ap_detail;	/* {"arguments":...} or NULL */
};

struct audit {
	struct audit_pending *au_q;	/* au_cap of them */
	unsigned au_n, au_cap;
	struct event *au_ev_flush;
	struct event *au_ev_prune;
};

void
audit_flush(struct sup *sp)
{
	struct audit *au = sp->sp_audit;
	struct store_audit_row row;
	char err[STORE_ERRLEN];
	unsigned i, failed = 0;

	if (au == NULL || au->au_n == 0)
		return;
	if (store_begin(sp->sp_store, err, sizeof(err)) == -1) {
		log_warn("cannot write audit rows", "{s:s,s:i}", "error", err,
		    "rows", (int)au->au_n);
		goto out;
	}
	for (i = 0; i < au->au_n; i++) {
		struct audit_pending *ap = &au->au_q[i];

		memset(&row, 0, sizeof(row));
		row.sar_ts = ap->ap_ts;
		row.sar_actor = "worker";
		row.sar_action = "tool.call";
		row.sar_detail = ap->ap_detail;
		row.sar_server = ap->ap_server;
		row.sar_tool = ap->ap_tool;
		row.sar_status = ap->ap_status;
		row.sar_request_id = ap->ap_request_id;
		row.sar_duration_ms = ap->ap_duration_ms;
		row.sar_arg_bytes = ap->ap_arg_bytes;
		if (store_audit_call(sp->sp_store, ap->ap_tenant, &row, err,
		    sizeof(err)) == -1)
			failed++;
	}
	if (store_commit(sp->sp_store, err, sizeof(err)) == -1)
		failed = au->au_n;
	if (failed > 0)
		log_warn("cannot write audit rows", "{s:s,s:i}", "error", err,
		    "rows", (int)failed);
out:
	for (i = 0; i < au->au_n; i++)
		free(au->au_q[i].ap_detail);
	au->au_n = 0;
	quota_audit_flushed(sp);
}

static void
audit_on_flush(evutil_socket_t fd, short ev, void *arg)
{
	audit_flush(arg);
}

void
audit_prune(struct sup *sp)
{
	char err[STORE_ERRLEN];
	int n;

	if (sp->sp_cf.cf_audit_retention <= 0)
		return;
	n = store_audit_prune(sp->sp_store, now_wall() -
	    (int64_t)sp->sp_cf.cf_audit_retention * 86400, err, sizeof(err));
	if (n == -1)
		log_warn("cannot prune the audit table", "{s:s}", "error", err);
	else if (n > 0)
		log_info("audit rows pruned", "{s:i,s:i}", "rows", n,
		    "retention_days", sp->sp_cf.cf_audit_retention);
}

static void
audit_on_prune(evutil_socket_t fd, short ev, void *arg)
{
	audit_prune(arg);
}

int
audit_init(struct sup *sp)
{
	struct audit *au;
	struct timeval tv = { AUDIT_PRUNE_S, 0 };

	if ((au = calloc(1, sizeof(*au))) == NULL)
		return -1;
	au->au_cap = (unsigned)sp->sp_cf.cf_audit_queue;
	au->au_q = calloc(au->au_cap, sizeof(*au->au_q));
	au->au_ev_flush = evtimer_new(sp->sp_base, audit_on_flush, sp);
	au->au_ev_prune = event_new(sp->sp_base, -1, EV_PERSIST,
	    audit_on_prune, sp);
	if (au->au_q == NULL || au->au_ev_flush == NULL ||
	    au->au_ev_prune == NULL) {
		if (au->au_ev_flush != NULL)
			event_free(au->au_ev_flush);
		if (au->au_ev_prune != NULL)
			event_free(au->au_ev_prune);
		free(au->au_q);
		free(au);
		return -1;
	}
	event_add(au->au_ev_prune, &tv);
	sp->sp_audit = au;
	audit_prune(sp);
	return 0;
}

void
audit_stop(struct sup *sp)
{
	if (sp->sp_audit != NULL)
		event_del(sp->sp_audit->au_ev_prune);
}

void
audit_free(struct sup *sp)
{
	struct audit *au = sp->sp_audit;

	if (au == NULL)
		return;
	audit_flush(sp);
	event_free(au->au_ev_flush);
	event_free(au->au_ev_prune);
	free(au->au_q);
	free(au);
	sp->sp_audit = NULL;
}

/* A string member without NUL of at most max bytes, or NULL. */
static const char *
audit_str(json_t *v, const char *key, size_t max)
{
	json_t *s = json_object_get(v, key);
	const char *p = json_string_value(s);

	if (p == NULL || json_string_length(s) != strlen(p) ||
	    strlen(p) > max)
		return NULL;
	return p;
}

static int
audit_int(json_t *v, const char *key, json_int_t max, int64_t *out)
{
	json_t *n = json_object_get(v, key);

	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > max)
		return -1;
	*out = json_integer_value(n);
	return 0;
}

/* {"action","detail"} (wrk_audit): any other worker event, written as
 * it comes with the detail bounded. */
static int
audit_other(struct sup *sp, const char *tenant, const char *action,
    json_t *detail)
{
	char *d;

	if (strspn(action, "abcdefghijklmnopqrstuvwxyz._") != strlen(action) ||
	    strcmp(action, "tool.call") == 0)
		return -1;
	/* Written at once, one row: within the tenant's rate too. */
	if (!quota_audit_take(sp, tenant, 0))
		return 0;
	d = json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
	if (d != NULL && strlen(d) > IPC_AUDIT_ARGS_MAX) {
		free(d);
		d = strdup("\"(too long)\"");
	}
	(void)store_audit(sp->sp_store, "worker", action, tenant, d);
	free(d);
	return 0;
}

static int audit_row(struct sup *, const char *, json_t *);

int
audit_tool_call(struct sup *sp, const char *tenant, json_t *v)
{
	json_t *rows = json_object_get(v, "rows"), *row;
	size_t i;
	int rc = 0;

	if (rows == NULL)
		return audit_row(sp, tenant, v);
	if (json_object_size(v) != 1 || !json_is_array(rows) ||
	    json_array_size(rows) == 0 ||
	    json_array_size(rows) > IPC_AUDIT_ROWS_MAX)
		return -1;
	/* A bad row is a protocol violation; the good ones are written. */
	json_array_foreach(rows, i, row)
		if (!json_is_object(row) || audit_row(sp, tenant, row) == -1)
			rc = -1;
	return rc;
}

/* One row: a tool call, or another worker event. */
static int
audit_row(struct sup *sp, const char *tenant, json_t *v)
{
	struct audit *au = sp->sp_audit;
	struct audit_pending *ap;
	const char *action, *server, *tool, *status, *rid, *policy = NULL;
	json_t *args = json_object_get(v, "arguments"), *d;
	json_t *pv = json_object_get(v, "policy");
	int64_t dur, argb;
	char *a = NULL;

	action = audit_str(v, "action", 64);
	if (action != NULL && json_object_size(v) == 2 &&
	    json_object_get(v, "detail") != NULL)
		return audit_other(sp, tenant, action,
		    json_object_get(v, "detail"));
	server = audit_str(v, "server", 64);
	tool = audit_str(v, "tool", PROM_TOOL_NAME_MAX);
	status = audit_str(v, "status", 15);
	rid = audit_str(v, "request_id", REQUEST_ID_MAX);
	/* A call refused by the tool lists names the list, and only then. */
	if (pv != NULL && ((policy = audit_str(v, "policy", 32)) == NULL ||
	    !toolacl_policy_valid(policy)))
		return -1;
	if (json_object_size(v) != 7u + (args != NULL) + (pv != NULL) ||
	    action == NULL ||
	    strcmp(action, "tool.call") != 0 || server == NULL ||
	    !name_valid(server) || tool == NULL || status == NULL ||
	    (strcmp(status, "success") != 0 && strcmp(status, "error") != 0 &&
	    strcmp(status, "cancelled") != 0 &&
	    strcmp(status, "refused") != 0) ||
	    (strcmp(status, "refused") == 0) != (policy != NULL) || rid == NULL ||
	    !request_id_valid(rid) ||
	    audit_int(v, "duration_ms", AUDIT_DURATION_MAX, &dur) == -1 ||
	    audit_int(v, "arg_bytes", IPC_MAX_PAYLOAD, &argb) == -1 ||
	    (args != NULL && !json_is_object(args)))
		return -1;
	/* Values only when this side says so too, and bounded; a refusal
	 * says which tool list refused. */
	d = policy != NULL ? json_pack("{s:s,s:s}", "refused", "tool policy",
	    "policy", policy) : json_object();
	if (d != NULL && args != NULL &&
	    strcmp(sp->sp_cf.cf_audit_arguments, "on") == 0) {
		json_object_set(d, "arguments", args);
		a = json_dumps(d, JSON_COMPACT);
		if (a != NULL && strlen(a) > IPC_AUDIT_ARGS_MAX + 96) {
			free(a);
			a = NULL;
			json_object_del(d, "arguments");
		}
	}
	if (a == NULL && json_object_size(d) > 0)
		a = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	if (au == NULL) {
		free(a);
		return 0;
	}
	if (au->au_n == au->au_cap)
		audit_flush(sp);
	/* A valid row over the tenant's bounds is dropped, not a
	 * violation: a busy honest worker may meet them too. */
	if (!quota_audit_take(sp, tenant, 1)) {
		free(a);
		return 0;
	}
	ap = &au->au_q[au->au_n++];
	memset(ap, 0, sizeof(*ap));
	ap->ap_ts = now_wall();
	snprintf(ap->ap_tenant, sizeof(ap->ap_tenant), "%s", tenant);
	snprintf(ap->ap_server, sizeof(ap->ap_server), "%s", server);
	snprintf(ap->ap_tool, sizeof(ap->ap_tool), "%s", tool);
	snprintf(ap->ap_status, sizeof(ap->ap_status), "%s", status);
	snprintf(ap->ap_request_id, sizeof(ap->ap_request_id), "%s", rid);
	ap->ap_duration_ms = dur;
	ap->ap_arg_bytes = argb;
	ap->ap_detail = a;
	if (!evtimer_pending(au->au_ev_flush, NULL)) {
		struct timeval tv = { 0, AUDIT_FLUSH_MS * 1000 };

		evtimer_add(au->au_ev_flush, &tv);
	}
	return 0;
}
