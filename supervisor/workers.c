/*
 * workers.c: the worker table.
 *
 * A worker is fork+exec'd as root with one end of a socketpair on fd 3
 * (never a bare fork: this process's memory holds every tenant's data and
 * the keys). It says HELLO and waits as a spare. Assigning it to a tenant:
 * IPC_ASSIGN -> the worker confines itself -> IPC_ASSIGN_ACK -> only then
 * IPC_CONFIG and the client sockets (IPC_CONN, one fd each).
 *
 * States: STARTING (exec'd, no HELLO yet) -> SPARE -> ASSIGNING -> ACTIVE
 * -> RETIRING (asked to exit) ; any -> DEAD (channel gone, waiting for
 * SIGCHLD). A worker struct lives until its process is reaped.
 *
 * Everything a worker sends is untrusted: a message of a type it may not
 * send in its state, or with a payload of the wrong shape, kills it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <http_parser.h>

#include "cgroup.h"
#include "netns.h"
#include "scpolicy.h"
#include "supervisor.h"
#include "secrets.h"
#include "ratelimit.h"
#include "tls.h"

#define PENDING_MAX 256
#define SPAWN_BACKOFF_MIN_MS 1000
#define SPAWN_BACKOFF_MAX_MS 60000
#define KILL_GRACE_S 5

enum worker_state {
	WK_STARTING = 0,
	WK_SPARE,
	WK_ASSIGNING,
	WK_ACTIVE,
	WK_RETIRING,
	WK_DEAD,
};

static const char *const worker_state_names[] = {
	"starting", "spare", "assigning", "active", "retiring", "dead",
};

struct pending_conn {
	struct pending_conn *pc_next;
	int pc_fd;
	char pc_hash[65];
	int64_t pc_exp;
	char pc_remote[64];
	struct sockaddr_storage pc_peer;	/* as accepted */
	char *pc_pre;		/* base64, or NULL */
};

struct worker {
	struct worker *wk_next, *wk_prev;
	struct sup *wk_sup;
	pid_t wk_pid;
	struct ipc_chan *wk_ipc;
	enum worker_state wk_state;
	char wk_tenant[65];		/* "" while spare */
	uid_t wk_uid;
	struct pending_conn *wk_pending, **wk_pending_tail;
	unsigned wk_npending;
	uint64_t wk_sent;		/* connections sent */
	unsigned wk_conns, wk_upstreams, wk_sessions;	/* from STATS */
	int wk_served;			/* got at least one connection */
	int wk_asked_to_stop;
	const char *wk_killed_why;	/* we sent SIGKILL, and why */
	int64_t wk_oom_base;		/* the tenant group's OOM kills at start */
	int wk_egress_slot;		/* egress.c, -1: none */
	int64_t wk_started_ms;
	struct event *wk_ev_kill;	/* SIGKILL after the grace period */
	unsigned wk_slots;		/* upstream slots it holds */
	int64_t wk_slot_window_ms;	/* start of the current second */
	unsigned wk_slot_reqs;		/* IPC_SLOT_REQs in that second */
	struct given *wk_given;		/* connections it may hand back */
	struct wlog *wk_log;		/* its stdout and stderr (workerlog.c) */
	int wk_home_remove;		/* its tenant was removed: the home
					 * goes once the uid is swept */
};

static void worker_assign(struct worker *wk, const struct store_tenant *t);
static void worker_kill(struct worker *wk, const char *why);
static void worker_retire(struct worker *wk, const char *why);
static void tenant_kill_retiring(struct sup *sp, const char *tenant,
    const char *why, int count);

/* The settings' bounds on what may wait in the queue to the worker. */
static void
worker_ipc_bound(struct worker *wk)
{
	const struct config *cf = &wk->wk_sup->sp_cf;

	if (wk->wk_ipc != NULL)
		ipc_chan_set_bounds(wk->wk_ipc,
		    (size_t)cf->cf_worker_ipc_queue_max,
		    (unsigned)cf->cf_worker_ipc_queue_fds);
}

/* Upstream slots held by every worker of the tenant (active, assigning
 * and retiring: a retiring worker's servers run until it is gone). */
static unsigned
tenant_slots(struct sup *sp, const char *tenant)
{
	struct worker *wk;
	unsigned n = 0;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (strcmp(wk->wk_tenant, tenant) == 0)
			n += wk->wk_slots;
	return n;
}

static void
worker_set_state(struct worker *wk, enum worker_state st)
{
	log_debug("worker state", "{s:i,s:s,s:s,s:s}", "worker_pid",
	    (int)wk->wk_pid, "tenant", wk->wk_tenant, "from",
	    worker_state_names[wk->wk_state], "to", worker_state_names[st]);
	wk->wk_state = st;
}

/* The tenant's live worker (assigning or active), or NULL. */
static struct worker *
worker_by_tenant(struct sup *sp, const char *tenant)
{
	struct worker *wk;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if ((wk->wk_state == WK_ASSIGNING ||
		    wk->wk_state == WK_ACTIVE ||
		    (wk->wk_state == WK_STARTING && wk->wk_tenant[0])) &&
		    strcmp(wk->wk_tenant, tenant) == 0)
			return wk;
	return NULL;
}

/* Answers a connection that cannot be served and closes it. */
static void
conn_refuse(int *fd, int status, const char *msg)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "Retry-After: 1\r\n\r\n{\"error\":\"%s\"}", status,
	    http_status_text(status), strlen(msg) + 12, msg);
	/* Best effort: a fresh socket's send buffer takes this. Never
	 * blocking: a worker may have had the socket and cleared its
	 * O_NONBLOCK. */
	if (n > 0 && (size_t)n < sizeof(buf) && send(*fd, buf, (size_t)n,
	    MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("cannot answer a refused connection", NULL);
	shutdown(*fd, SHUT_RDWR);
	fd_close_nolinger(fd);
}

static void
pending_refuse_all(struct worker *wk, const char *msg)
{
	struct pending_conn *pc;

	while ((pc = wk->wk_pending) != NULL) {
		wk->wk_pending = pc->pc_next;
		conn_refuse(&pc->pc_fd, 503, msg);
		free(pc->pc_pre);
		free(pc);
	}
	wk->wk_pending_tail = &wk->wk_pending;
	wk->wk_npending = 0;
}

static void
worker_send_conn(struct worker *wk, int fd, const char *hash, int64_t exp,
    const char *remote, const struct sockaddr_storage *peer,
    const char *pre64)
{
	json_t *v;

	/* Remembered first: a connection the worker may not hand back
	 * is not given (handback.c). */
	if (given_add(&wk->wk_given, fd, peer) == -1) {
		log_warn("cannot pass a connection to a worker", "{s:s,s:s}",
		    "tenant", wk->wk_tenant, "error", "out of memory");
		return;
	}
	v = json_pack("{s:s,s:I,s:s}", "token_hash", hash, "exp",
	    (json_int_t)exp, "remote", remote);
	if (v != NULL && pre64 != NULL)
		json_object_set_new(v, "pre", json_string(pre64));
	if (v == NULL || ipc_send_json(wk->wk_ipc, IPC_CONN, 0, fd, v) == -1)
		log_warn("cannot pass a connection to a worker", "{s:s}",
		    "tenant", wk->wk_tenant);
	else
		wk->wk_sent++;
	json_decref(v);
}

static json_t *
tenant_config_json(struct sup *sp, const char *tenant)
{
	const struct config *cf = &sp->sp_cf;
	char err[STORE_ERRLEN];
	json_t *servers;

	json_t *stored, *srv, *full, *tools;
	size_t i;
	int r;

	/* The tenant's own tool lists, over every server's (toolacl.c). */
	if ((r = store_tenant_tools_get(sp->sp_store, tenant, &tools, err,
	    sizeof(err))) != 1) {
		log_error("cannot read the tenant's tool lists", "{s:s,s:s}",
		    "tenant", tenant, "error", r == 0 ? "no such tenant" : err);
		return NULL;
	}
	stored = store_server_list(sp->sp_store, tenant, err, sizeof(err));
	if (stored == NULL) {
		log_error("cannot read servers", "{s:s,s:s}", "tenant", tenant,
		    "error", err);
		json_decref(tools);
		return NULL;
	}
	/* Each server carries the values of the secrets it refers to (and
	 * only those); its env and args keep the ${secret:NAME} text. Only
	 * an active worker, confined under the tenant's uid, gets this. */
	if ((servers = json_array()) == NULL) {
		json_decref(stored);
		json_decref(tools);
		return NULL;
	}
	json_array_foreach(stored, i, srv) {
		if ((full = secrets_server_json(sp, tenant, srv)) == NULL ||
		    json_array_append_new(servers, full) == -1) {
			json_decref(stored);
			json_decref(servers);
			json_decref(tools);
			return NULL;
		}
	}
	json_decref(stored);
	return json_pack("{s:{s:i,s:i,s:i,s:i,s:i,s:s,s:s,s:s,s:i,s:b,"
	    "s:i,s:i,s:i,s:i},s:o,s:o}",
	    "settings",
	    "max_connections_per_user", cf->cf_max_connections_per_user,
	    "connection_timeout", cf->cf_connection_timeout,
	    "idle_timeout", cf->cf_idle_timeout,
	    "tool_cache_ttl", cf->cf_tool_cache_ttl,
	    "max_body_size", cf->cf_max_body_size,
	    "allowed_hosts", cf->cf_allowed_hosts,
	    "log_level", log_level_name(cf->cf_log_level),
	    /* The form the supervisor writes in: the worker shares its
	     * stderr. */
	    "log_format", log_format_is_text(cf->cf_log_format) ? "text" :
	    "json",
	    "drain_timeout", cf->cf_drain_timeout,
	    "audit_arguments", strcmp(cf->cf_audit_arguments, "on") == 0,
	    "rate_limit", ratelimit_tenant_rate(sp, tenant),
	    "max_retries", cf->cf_max_retries,
	    "retry_delay", cf->cf_retry_delay,
	    "reconnect_interval", cf->cf_reconnect_interval,
	    "servers", servers, "tools", tools);
}

static void
worker_send_config(struct worker *wk)
{
	json_t *v = tenant_config_json(wk->wk_sup, wk->wk_tenant);

	if (v == NULL) {
		worker_kill(wk, "no config");
		return;
	}
	/* The queue bounds follow a reload with the settings. */
	worker_ipc_bound(wk);
	/* Only the newest configuration waits for a worker that is slow to
	 * read: a push replaces one not yet written. */
	ipc_send_json_latest(wk->wk_ipc, IPC_CONFIG, 0, v);
	json_decref(v);
}

/* ------------------------------------------------------ worker -> sup */

/*
 * Whether one more of the tenant's servers (secrets 0) or secrets
 * (1) named name fits under its quota: one of that name already there
 * is replaced, not added. Returns NULL when it fits, else the refusal
 * (507; counted and logged) to answer, or a 500 when the store fails.
 */
static json_t *
store_quota_check(struct worker *wk, int secrets, const char *name)
{
	struct sup *sp = wk->wk_sup;
	char err[STORE_ERRLEN], msg[160];
	int max = secrets ? sp->sp_cf.cf_tenant_max_secrets :
	    sp->sp_cf.cf_tenant_max_servers;
	json_t *l, *e;
	size_t i;

	l = secrets ? store_secret_list(sp->sp_store, wk->wk_tenant, err,
	    sizeof(err)) : store_server_list(sp->sp_store, wk->wk_tenant, err,
	    sizeof(err));
	if (l == NULL)
		return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
		    "status", 500);
	json_array_foreach(l, i, e)
		if (name != NULL && json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")),
		    name) == 0) {
			json_decref(l);
			return NULL;
		}
	i = json_array_size(l);
	json_decref(l);
	if (i < (size_t)max)
		return NULL;
	quota_refused(sp, wk->wk_tenant, secrets ? MTC_STORE_SECRETS :
	    MTC_STORE_SERVERS, max);
	snprintf(msg, sizeof(msg), "quota reached: at most %d %s a tenant "
	    "(%s)", max, secrets ? "secrets" : "servers",
	    secrets ? "tenant_max_secrets" : "tenant_max_servers");
	return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", msg, "status",
	    507);
}

/* {"op":"secret_put","name","value"} from a tenant's worker: the
 * value is validated, sealed and stored; the answer, the audit row and
 * the log line carry the name only. */
static json_t *
on_secret_put(struct worker *wk, json_t *v)
{
	struct sup *sp = wk->wk_sup;
	const json_t *jv = json_object_get(v, "value");
	const char *name = json_string_value(json_object_get(v, "name"));
	char err[STORE_ERRLEN], actor[96], *d;
	json_t *det;

	if (name == NULL || !secret_name_valid(name))
		return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", "a secret "
		    "name must match [A-Z_][A-Z0-9_]{0,63}", "status", 400);
	if (!json_is_string(jv) || !secrets_value_valid(json_string_value(jv),
	    json_string_length(jv)))
		return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", "value must "
		    "be a string of at most 8192 bytes without NUL", "status",
		    400);
	if (json_string_length(jv) > (size_t)sp->sp_cf.cf_secret_max_size) {
		quota_refused(sp, wk->wk_tenant, MTC_STORE_SECRET_SIZE,
		    sp->sp_cf.cf_secret_max_size);
		snprintf(err, sizeof(err), "value too large: at most %d bytes "
		    "(secret_max_size)", sp->sp_cf.cf_secret_max_size);
		return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
		    "status", 413);
	}
	if ((det = store_quota_check(wk, 1, name)) != NULL)
		return det;
	if (secrets_set(sp, wk->wk_tenant, name, json_string_value(jv),
	    json_string_length(jv), err, sizeof(err)) == -1)
		return json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
		    "status", sp->sp_have_key ? 500 : 503);
	snprintf(actor, sizeof(actor), "tenant:%s", wk->wk_tenant);
	det = json_pack("{s:s}", "name", name);
	d = json_dumps(det, JSON_COMPACT);
	(void)store_audit(sp->sp_store, actor, "secret.set", wk->wk_tenant, d);
	free(d);
	json_decref(det);
	log_info("secret set", "{s:s,s:s,s:s}", "tenant", wk->wk_tenant,
	    "secret", name, "by", actor);
	return json_pack("{s:b,s:{s:s}}", "ok", 1, "secret", "name", name);
}

static void
on_store_req(struct worker *wk, uint32_t id, json_t *v)
{
	struct sup *sp = wk->wk_sup;
	char err[STORE_ERRLEN], actor[96];
	const char *op, *name;
	json_t *res = NULL, *srv;
	int r;

	snprintf(actor, sizeof(actor), "tenant:%s", wk->wk_tenant);
	op = json_string_value(json_object_get(v, "op"));
	/* Every request costs the store a statement or more: within the
	 * tenant's rate, whatever it asks. */
	if (!quota_store_take(sp, wk->wk_tenant)) {
		snprintf(err, sizeof(err), "too many store requests: at most "
		    "%d a second (tenant_store_rate)",
		    sp->sp_cf.cf_tenant_store_rate);
		res = json_pack("{s:b,s:s,s:i,s:i}", "ok", 0, "error", err,
		    "status", 429, "retry_after", 1);
	} else if (op != NULL && strcmp(op, "server_put") == 0) {
		json_t *q = NULL;

		srv = server_spec_check(json_object_get(v, "server"), err,
		    sizeof(err));
		if (srv == NULL)
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
			    "status", 400);
		else if ((q = store_quota_check(wk, 0, json_string_value(
		    json_object_get(srv, "name")))) != NULL) {
			res = q;
			json_decref(srv);
		} else if (store_server_put(sp->sp_store, wk->wk_tenant, srv,
		    err, sizeof(err)) == -1) {
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
			    "status", 500);
			json_decref(srv);
		} else {
			char *d;
			json_t *det = json_deep_copy(srv), *keys, *val;
			const char *k;

			/* env values may be credentials: audit names only */
			keys = json_array();
			json_object_foreach(json_object_get(srv, "env"), k, val)
				json_array_append_new(keys, json_string(k));
			json_object_set_new(det, "env", keys);
			/* header values too (Authorization: ...) */
			if (json_object_get(srv, "headers") != NULL) {
				keys = json_array();
				json_object_foreach(json_object_get(srv,
				    "headers"), k, val)
					json_array_append_new(keys,
					    json_string(k));
				json_object_del(det, "headers");
				json_object_set_new(det, "header_names", keys);
				json_object_del(srv, "headers");
				json_object_set(srv, "header_names", keys);
			}
			d = json_dumps(det, JSON_COMPACT);
			json_decref(det);
			(void)store_audit(sp->sp_store, actor, "server.put",
			    wk->wk_tenant, d);
			free(d);
			res = json_pack("{s:b,s:o}", "ok", 1, "server", srv);
		}
	} else if (op != NULL && strcmp(op, "server_delete") == 0 &&
	    (name = json_string_value(json_object_get(v, "name"))) != NULL &&
	    name_valid(name)) {
		r = store_server_remove(sp->sp_store, wk->wk_tenant, name, err,
		    sizeof(err));
		if (r == 1) {
			(void)store_audit(sp->sp_store, actor, "server.remove",
			    wk->wk_tenant, name);
			res = json_pack("{s:b}", "ok", 1);
		} else if (r == 0)
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error",
			    "no such server", "status", 404);
		else
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
			    "status", 500);
	} else if (op != NULL && strcmp(op, "secret_put") == 0) {
		res = on_secret_put(wk, v);
	} else if (op != NULL && strcmp(op, "secret_list") == 0) {
		json_t *l = store_secret_list(sp->sp_store, wk->wk_tenant, err,
		    sizeof(err));

		res = l != NULL ? json_pack("{s:b,s:o,s:b}", "ok", 1,
		    "secrets", l, "unchanged", 1) : json_pack("{s:b,s:s,s:i}",
		    "ok", 0, "error", err, "status", 500);
	} else if (op != NULL && strcmp(op, "secret_delete") == 0 &&
	    (name = json_string_value(json_object_get(v, "name"))) != NULL &&
	    secret_name_valid(name)) {
		r = store_secret_remove(sp->sp_store, wk->wk_tenant, name, err,
		    sizeof(err));
		if (r == 1) {
			json_t *det = json_pack("{s:s}", "name", name);
			char *d = json_dumps(det, JSON_COMPACT);

			(void)store_audit(sp->sp_store, actor, "secret.remove",
			    wk->wk_tenant, d);
			free(d);
			json_decref(det);
			log_info("secret removed", "{s:s,s:s,s:s}", "tenant",
			    wk->wk_tenant, "secret", name, "by", actor);
			res = json_pack("{s:b}", "ok", 1);
		} else if (r == 0)
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error",
			    "no such secret", "status", 404);
		else
			res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error", err,
			    "status", 500);
	} else {
		res = json_pack("{s:b,s:s,s:i}", "ok", 0, "error",
		    "unknown store operation", "status", 400);
	}
	/* The fresh config goes first: when the worker answers its client,
	 * the change is already in effect there. */
	if (json_is_true(json_object_get(res, "ok")) &&
	    !json_is_true(json_object_get(res, "unchanged")))
		workers_tenant_changed(sp, wk->wk_tenant);
	json_object_del(res, "unchanged");
	ipc_send_json(wk->wk_ipc, IPC_STORE_RES, id, -1, res);
	json_decref(res);
}

static int
stats_uint(json_t *v, const char *key, unsigned *out)
{
	json_t *n = json_object_get(v, key);

	if (!json_is_integer(n) || json_integer_value(n) < 0 ||
	    json_integer_value(n) > 1000000)
		return -1;
	*out = (unsigned)json_integer_value(n);
	return 0;
}

/*
 * IPC_SLOT_REQ: one more upstream connection for the worker's tenant,
 * within its max_connections_per_user and the host's
 * max_total_connections. Returns 0, or -1 for a protocol violation.
 */
static int
on_slot_req(struct worker *wk, uint32_t id, json_t *v)
{
	struct sup *sp = wk->wk_sup;
	const struct config *cf = &sp->sp_cf;
	const char *server, *scope = NULL;
	char msg[256];
	int64_t now = now_mono_ms();
	json_t *g;

	if (json_unpack(v, "{s:s}", "server", &server) != 0 ||
	    !name_valid(server))
		return -1;
	/* A worker asks once per server start; a flood is not ours. */
	if (now - wk->wk_slot_window_ms >= 1000) {
		wk->wk_slot_window_ms = now;
		wk->wk_slot_reqs = 0;
	}
	if (++wk->wk_slot_reqs > SLOT_REQ_PER_S) {
		log_warn("protocol violation by a worker", "{s:i,s:s,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "why", "slot request flood");
		return -1;
	}
	if (wk->wk_state == WK_RETIRING) {
		/* It was told to exit: nothing new starts there. */
		scope = "retiring";
		sp->sp_slots_refused_retiring++;
		snprintf(msg, sizeof(msg), "worker of tenant %s is retiring",
		    wk->wk_tenant);
	} else if (tenant_slots(sp, wk->wk_tenant) >=
	    (unsigned)cf->cf_max_connections_per_user) {
		scope = "tenant";
		sp->sp_slots_refused_tenant++;
		snprintf(msg, sizeof(msg), "connection limit reached: tenant "
		    "%s already has max_connections_per_user (%d) upstream "
		    "servers busy", wk->wk_tenant,
		    cf->cf_max_connections_per_user);
	} else if (workers_slots_used(sp) >=
	    (unsigned)cf->cf_max_total_connections) {
		scope = "host";
		sp->sp_slots_refused_host++;
		snprintf(msg, sizeof(msg), "connection limit reached: the "
		    "host's max_total_connections (%d) upstream connections "
		    "are all in use", cf->cf_max_total_connections);
	}
	if (scope != NULL) {
		log_info("upstream slot refused", "{s:s,s:s,s:s}", "tenant",
		    wk->wk_tenant, "server", server, "scope", scope);
		/* The worker knows "host" and "tenant"; a retiring worker's
		 * refusal is its tenant's. */
		g = json_pack("{s:b,s:s,s:s,s:i}", "ok", 0, "error", msg,
		    "scope", strcmp(scope, "host") == 0 ? "host" : "tenant",
		    "retry_after", 1);
	} else {
		wk->wk_slots++;
		log_debug("upstream slot granted", "{s:s,s:s,s:i,s:i}",
		    "tenant", wk->wk_tenant, "server", server, "held",
		    (int)wk->wk_slots, "tenant_held",
		    (int)tenant_slots(sp, wk->wk_tenant));
		g = json_pack("{s:b}", "ok", 1);
	}
	if (g != NULL)
		ipc_send_json(wk->wk_ipc, IPC_SLOT_GRANT, id, -1, g);
	json_decref(g);
	return 0;
}

static int
on_worker_msg(struct ipc_chan *ch, struct ipc_msg *msg, void *arg)
{
	struct worker *wk = arg;
	struct sup *sp = wk->wk_sup;
	uint32_t type = msg->im_hdr.ih_type;
	json_t *v;
	int rc = -1;

	/* A worker sends an fd only to hand a client socket back. */
	if ((msg->im_fd != -1) != (type == IPC_HANDBACK)) {
		log_warn("protocol violation by a worker", "{s:i,s:s,s:i,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "type", (int)type, "why", msg->im_fd != -1 ?
		    "unexpected fd" : "missing fd");
		return -1;
	}
	v = ipc_payload_json(msg);
	if (v == NULL) {
		log_warn("protocol violation by a worker", "{s:i,s:s,s:i,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "type", (int)type, "why", "payload is not a JSON object");
		return -1;
	}
	switch (type) {
	case IPC_HELLO:
		if (wk->wk_state != WK_STARTING)
			break;
		rc = 0;
		if (wk->wk_tenant[0] != '\0') {
			/* Spawned for a tenant that was waiting. */
			struct store_tenant t;
			char err[STORE_ERRLEN];

			if (store_tenant_get(sp->sp_store, wk->wk_tenant, &t,
			    err, sizeof(err)) != 1 || !t.st_enabled) {
				pending_refuse_all(wk, "tenant unavailable");
				wk->wk_tenant[0] = '\0';
				worker_set_state(wk, WK_SPARE);
				break;
			}
			worker_assign(wk, &t);
		} else
			worker_set_state(wk, WK_SPARE);
		break;
	case IPC_ASSIGN_ACK: {
		const char *tenant;
		struct pending_conn *pc;
		char addr[INET_ADDRSTRLEN];

		if (wk->wk_state != WK_ASSIGNING ||
		    json_unpack(v, "{s:s}", "tenant", &tenant) != 0 ||
		    strcmp(tenant, wk->wk_tenant) != 0)
			break;
		rc = 0;
		worker_set_state(wk, WK_ACTIVE);
		sp->sp_spawn_backoff_ms = 0;
		log_info("worker assigned", "{s:s,s:i,s:i,s:s*}", "tenant",
		    wk->wk_tenant, "worker_pid", (int)wk->wk_pid, "uid",
		    (int)wk->wk_uid, "egress_address", egress_address(sp,
		    wk->wk_egress_slot, addr, sizeof(addr)));
		worker_send_config(wk);
		while ((pc = wk->wk_pending) != NULL) {
			wk->wk_pending = pc->pc_next;
			worker_send_conn(wk, pc->pc_fd, pc->pc_hash,
			    pc->pc_exp, pc->pc_remote, &pc->pc_peer,
			    pc->pc_pre);
			fd_close(&pc->pc_fd);
			free(pc->pc_pre);
			free(pc);
		}
		wk->wk_pending_tail = &wk->wk_pending;
		wk->wk_npending = 0;
		wk->wk_served = 1;
		break;
	}
	case IPC_ASSIGN_FAIL:
		if (wk->wk_state != WK_ASSIGNING)
			break;
		/* O*: a worker that sends no "error" still gets a line with
		 * its tenant (O alone fails the whole line on NULL). */
		log_error("worker could not confine itself", "{s:s,s:O*}",
		    "tenant", wk->wk_tenant, "error",
		    json_object_get(v, "error"));
		pending_refuse_all(wk, "worker could not start");
		break;	/* rc -1: kill it */
	case IPC_STATS:
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			break;
		if (stats_uint(v, "connections", &wk->wk_conns) == 0 &&
		    stats_uint(v, "upstreams", &wk->wk_upstreams) == 0 &&
		    stats_uint(v, "sessions", &wk->wk_sessions) == 0)
			rc = 0;
		break;
	case IPC_TOOL_STATS:
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			break;
		/* Counted for the worker's own tenant, whatever it says. */
		rc = metrics_tool_stats(sp, wk->wk_tenant, v);
		break;
	case IPC_RATE_REQ: {
		json_int_t want;
		int n, retry = 1;
		json_t *g;

		/* Tokens for keep-alive requests the worker holds; more than
		 * RATE_WANT_MAX at once is not a worker we wrote. */
		if ((wk->wk_state != WK_ACTIVE &&
		    wk->wk_state != WK_RETIRING) ||
		    json_unpack(v, "{s:I}", "want", &want) != 0 || want < 1 ||
		    want > RATE_WANT_MAX)
			break;
		rc = 0;
		n = ratelimit_tenant_take(sp, wk->wk_tenant, (int)want, &retry);
		if (n < want)
			log_info("rate limited", "{s:s,s:s,s:i,s:i}", "tenant",
			    wk->wk_tenant, "scope", "tenant", "refused",
			    (int)(want - n), "retry_after", retry);
		g = json_pack("{s:i,s:i}", "n", n, "retry_after", retry);
		if (g != NULL)
			ipc_send_json(wk->wk_ipc, IPC_RATE_GRANT, 0, -1, g);
		json_decref(g);
		break;
	}
	case IPC_SLOT_REQ:
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			break;
		rc = on_slot_req(wk, msg->im_hdr.ih_peer, v);
		break;
	case IPC_SLOT_RELEASE: {
		json_int_t n;

		/* Giving back more than it holds is not a worker we wrote. */
		if ((wk->wk_state != WK_ACTIVE &&
		    wk->wk_state != WK_RETIRING) ||
		    json_unpack(v, "{s:I}", "n", &n) != 0 || n < 1 ||
		    n > (json_int_t)wk->wk_slots)
			break;
		rc = 0;
		wk->wk_slots -= (unsigned)n;
		break;
	}
	case IPC_IDLE: {
		json_int_t got;

		if (wk->wk_state == WK_RETIRING) {
			rc = 0;
			break;
		}
		if (wk->wk_state != WK_ACTIVE ||
		    json_unpack(v, "{s:I}", "received", &got) != 0)
			break;
		rc = 0;
		/* A connection may be on its way: then the worker is not
		 * idle after all and will notice. */
		if ((uint64_t)got != wk->wk_sent)
			break;
		log_info("worker idle, retiring", "{s:s,s:i}", "tenant",
		    wk->wk_tenant, "worker_pid", (int)wk->wk_pid);
		worker_retire(wk, "idle");
		break;
	}
	case IPC_STORE_REQ:
		if (wk->wk_state != WK_ACTIVE)
			break;
		rc = 0;
		on_store_req(wk, msg->im_hdr.ih_peer, v);
		break;
	case IPC_HANDBACK: {
		const char *pre64 = NULL, *why;
		uint8_t *pre = NULL;
		size_t prelen = 0;

		if ((wk->wk_state != WK_ACTIVE &&
		    wk->wk_state != WK_RETIRING) || msg->im_fd == -1 ||
		    json_unpack(v, "{s?s}", "pre", &pre64) != 0 ||
		    (pre64 != NULL && b64_decode(pre64, IPC_PRE_MAX, &pre,
		    &prelen) == -1))
			break;
		/* Only a connection given to this worker, once per handoff
		 * (handback.c). */
		if (handback_take(sp, wk->wk_given, wk->wk_pid, wk->wk_tenant,
		    &msg->im_fd, pre, prelen, &why) == -1) {
			log_warn("protocol violation by a worker",
			    "{s:i,s:s,s:i,s:s}", "worker_pid", (int)wk->wk_pid,
			    "tenant", wk->wk_tenant, "type", (int)type, "why",
			    why);
			json_decref(v);
			return -1;
		}
		rc = 0;
		break;
	}
	case IPC_AUDIT:
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			break;
		/* Written for the worker's own tenant, whatever it says. */
		rc = audit_tool_call(sp, wk->wk_tenant, v);
		break;
	case IPC_COUNTERS:
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			break;
		rc = metrics_counters(sp, wk->wk_tenant, v);
		break;
	default:
		break;
	}
	if (rc == -1)
		log_warn("protocol violation by a worker", "{s:i,s:s,s:i,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "type", (int)type, "state",
		    worker_state_names[wk->wk_state]);
	json_decref(v);
	return rc;
}

static void
on_worker_error(struct ipc_chan *ch, const char *why, void *arg)
{
	struct worker *wk = arg;
	struct sup *sp = wk->wk_sup;
	int fds;

	/* What waits for it passed a bound: it does not read. */
	if ((fds = strcmp(why, IPC_ERR_QUEUE_FDS) == 0) ||
	    strcmp(why, IPC_ERR_QUEUE_BYTES) == 0) {
		sp->sp_ipc_queue_kills[fds]++;
		log_warn("worker not reading its channel: killed",
		    "{s:i,s:s,s:s,s:I,s:i,s:I,s:i}", "worker_pid",
		    (int)wk->wk_pid, "tenant", wk->wk_tenant, "why", why,
		    "queued_bytes", (json_int_t)ipc_pending(ch), "queued_fds",
		    (int)ipc_pending_fds(ch), "worker_ipc_queue_max",
		    (json_int_t)sp->sp_cf.cf_worker_ipc_queue_max,
		    "worker_ipc_queue_fds", sp->sp_cf.cf_worker_ipc_queue_fds);
	}
	/* Anything but a plain EOF or read error is the worker breaking
	 * the framing: a protocol violation like a bad message. */
	else if (strcmp(why, "eof") != 0 && strcmp(why, "read error") != 0 &&
	    strcmp(why, "write error") != 0 &&
	    strcmp(why, "protocol violation") != 0)
		log_warn("protocol violation by a worker", "{s:i,s:s,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "why", why);
	else if (wk->wk_state != WK_RETIRING && !wk->wk_asked_to_stop)
		log_info("worker channel closed", "{s:i,s:s,s:s}",
		    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant,
		    "why", why);
	worker_kill(wk, why);
}

/* --------------------------------------------------------- lifecycle */

/* A worker asked to exit (retiring, or the daemon stops) is still
 * there after its grace. */
static void
on_kill_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *wk = arg;
	struct sup *sp = wk->wk_sup;

	if (wk->wk_pid <= 0 || wk->wk_killed_why != NULL)
		return;
	log_warn("worker did not exit when asked: killed", "{s:i,s:s,s:s}",
	    "worker_pid", (int)wk->wk_pid, "tenant", wk->wk_tenant, "state",
	    worker_state_names[wk->wk_state]);
	if (wk->wk_state == WK_RETIRING)
		sp->sp_retire_kills[RETIRE_KILL_TIMEOUT]++;
	worker_kill(wk, "did not exit when asked");
}

/*
 * Tells an active worker to exit (IPC_SHUTDOWN): it gets no new slots
 * and is killed if still there after KILL_GRACE_S (a real worker exits at
 * once). A tenant has at most one retiring worker: one still retiring
 * from before is killed now, so a tenant that cycles workers holds at
 * most two, with their slots and egress addresses.
 */
static void
worker_retire(struct worker *wk, const char *why)
{
	struct sup *sp = wk->wk_sup;
	struct timeval tv = { KILL_GRACE_S, 0 };
	struct worker *o;
	json_t *e;

	for (o = sp->sp_workers; o != NULL; o = o->wk_next) {
		if (o == wk || o->wk_state != WK_RETIRING ||
		    strcmp(o->wk_tenant, wk->wk_tenant) != 0)
			continue;
		log_warn("a worker of the tenant still retiring when another "
		    "retires: killed", "{s:i,s:s,s:i}", "worker_pid",
		    (int)o->wk_pid, "tenant", o->wk_tenant, "retiring_pid",
		    (int)wk->wk_pid);
		sp->sp_retire_kills[RETIRE_KILL_REPLACED]++;
		worker_kill(o, "still retiring when another retired");
	}
	log_debug("worker retiring", "{s:i,s:s,s:s}", "worker_pid",
	    (int)wk->wk_pid, "tenant", wk->wk_tenant, "why", why);
	if ((e = json_object()) != NULL)
		ipc_send_json(wk->wk_ipc, IPC_SHUTDOWN, 0, -1, e);
	json_decref(e);
	worker_set_state(wk, WK_RETIRING);
	event_add(wk->wk_ev_kill, &tv);
}

/* The channel is done: no more traffic. The struct stays until reaped. */
static void
worker_kill(struct worker *wk, const char *why)
{
	ipc_chan_free(&wk->wk_ipc);
	pending_refuse_all(wk, "worker unavailable");
	/* Its upstreams die with it: their slots are free again. */
	wk->wk_slots = 0;
	if (wk->wk_state != WK_DEAD)
		worker_set_state(wk, WK_DEAD);
	if (wk->wk_pid > 0 && wk->wk_killed_why == NULL) {
		wk->wk_killed_why = why;
		kill(wk->wk_pid, SIGKILL);
	}
}

static struct worker *
worker_spawn(struct sup *sp)
{
	struct worker *wk;
	int sv[2], lp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair failed", "{s:s}", "error",
		    strerror(errno));
		return NULL;
	}
	/* Its stdout and stderr: a pipe we read and pass on (workerlog.c),
	 * never our own stderr. */
	if (pipe2(lp, O_CLOEXEC) == -1) {
		log_error("pipe failed", "{s:s}", "error", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	(void)fd_nonblock(lp[0]);	/* cannot fail on a fresh pipe */
	/* JSON, which we read back; our logger writes it in our form. */
	pid = spawn_child(sp, sp->sp_worker_path, "dataagent-worker", sv[1],
	    WORKER_IPC_FD, lp[1], "json");
	if (pid == -1) {
		close(sv[0]);
		close(sv[1]);
		close(lp[0]);
		close(lp[1]);
		return NULL;
	}
	close(sv[1]);
	close(lp[1]);
	wk = calloc(1, sizeof(*wk));
	if (wk == NULL) {
		close(sv[0]);
		close(lp[0]);
		kill(pid, SIGKILL);
		return NULL;
	}
	wk->wk_sup = sp;
	wk->wk_pid = pid;
	wk->wk_egress_slot = -1;
	wk->wk_state = WK_STARTING;
	wk->wk_pending_tail = &wk->wk_pending;
	wk->wk_started_ms = now_mono_ms();
	wk->wk_ev_kill = evtimer_new(sp->sp_base, on_kill_timer, wk);
	wk->wk_ipc = ipc_chan_new(sp->sp_base, sv[0], on_worker_msg,
	    on_worker_error, wk);
	if ((wk->wk_log = wlog_new(sp, lp[0], pid, wk->wk_tenant)) == NULL)
		close(lp[0]);	/* its writes fail; it runs on */
	wk->wk_next = sp->sp_workers;
	if (sp->sp_workers != NULL)
		sp->sp_workers->wk_prev = wk;
	sp->sp_workers = wk;
	if (wk->wk_ipc == NULL || wk->wk_ev_kill == NULL)
		worker_kill(wk, "out of memory");
	log_debug("worker spawned", "{s:i}", "worker_pid", (int)pid);
	metrics_worker_started(sp);
	return wk;
}

/* <state_dir>/tenants/<id>, 0700 and owned by the tenant's uid. */
static int
tenant_home(struct sup *sp, const struct store_tenant *t, char *out,
    size_t outlen)
{
	return home_prepare(sp, t->st_id, (uid_t)t->st_uid, out, outlen);
}

/* Appends the directory part of path (when it has one) to a. */
static void
hide_dir_of(json_t *a, const char *path)
{
	char dir[CONFIG_STRLEN];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	json_array_append_new(a, json_string(dir));
}

/*
 * What a worker makes unreachable in its mount namespace: the state dir
 * (store, every tenant's home; its own is bound back), and the
 * directories of the store, the control socket, the configuration
 * file (which may hold SECRET_KEY) and the master key.
 */
static json_t *
hidden_paths(struct sup *sp)
{
	json_t *a = json_array();

	json_array_append_new(a, json_string(sp->sp_cf.cf_state_dir));
	hide_dir_of(a, sp->sp_db_path);
	hide_dir_of(a, sp->sp_cf.cf_control_socket);
	if (access(sp->sp_config_path, F_OK) == 0)
		hide_dir_of(a, sp->sp_config_path);
	/* The master key's directory (or the systemd credentials one). */
	if (access(sp->sp_key_path, F_OK) == 0)
		hide_dir_of(a, sp->sp_key_path);
	return a;
}

/* The tenant's limits: its overrides (dataagentctl tenant set-limits)
 * over the configured defaults. */
static void
tenant_limits(struct sup *sp, const char *tenant, struct cg_limits *lim)
{
	struct store_limits o;
	char err[STORE_ERRLEN];

	lim->cl_memory_max = sp->sp_cf.cf_tenant_memory_max;
	lim->cl_swap_max = sp->sp_cf.cf_tenant_swap_max;
	lim->cl_pids_max = sp->sp_cf.cf_tenant_pids_max;
	lim->cl_cpu_weight = sp->sp_cf.cf_tenant_cpu_weight;
	if (store_tenant_limits_get(sp->sp_store, tenant, &o, err,
	    sizeof(err)) != 1)
		return;
	if (o.sl_memory_max != STORE_LIMIT_DEFAULT)
		lim->cl_memory_max = o.sl_memory_max;
	if (o.sl_swap_max != STORE_LIMIT_DEFAULT)
		lim->cl_swap_max = o.sl_swap_max;
	if (o.sl_pids_max != STORE_LIMIT_DEFAULT)
		lim->cl_pids_max = o.sl_pids_max;
	if (o.sl_cpu_weight != STORE_LIMIT_DEFAULT)
		lim->cl_cpu_weight = (int)o.sl_cpu_weight;
}

json_t *
workers_limits_json(struct sup *sp, const char *tenant)
{
	struct cg_limits lim;

	tenant_limits(sp, tenant, &lim);
	return json_pack("{s:I,s:I,s:I,s:i,s:i}", "memory_max",
	    (json_int_t)lim.cl_memory_max, "swap_max",
	    (json_int_t)lim.cl_swap_max, "pids_max",
	    (json_int_t)lim.cl_pids_max, "cpu_weight", lim.cl_cpu_weight,
	    "rate_per_minute", ratelimit_tenant_rate(sp, tenant));
}

static int
worker_cgroup_join(struct worker *wk, char *err, size_t errlen)
{
	struct sup *sp = wk->wk_sup;
	struct cg_limits lim;

	tenant_limits(sp, wk->wk_tenant, &lim);
	if (cg_tenant_prepare(sp->sp_cg, wk->wk_tenant, &lim, err,
	    errlen) == -1 ||
	    cg_tenant_attach(sp->sp_cg, wk->wk_tenant, wk->wk_pid, err,
	    errlen) == -1)
		return -1;
	wk->wk_oom_base = cg_tenant_oom_kills(sp->sp_cg, wk->wk_tenant);
	return 0;
}

int
workers_network_check(struct sup *sp, char *err, size_t errlen)
{
	int fd;

	if (strcmp(sp->sp_cf.cf_tenant_network, "host") == 0)
		return 0;
	if ((fd = netns_new(NULL, err, errlen)) == -1)
		return -1;
	close(fd);
	if (strcmp(sp->sp_cf.cf_tenant_network, "egress") == 0 &&
	    sp->sp_egress == NULL)
		return egress_open(sp, err, errlen);
	return 0;
}

void
workers_tenant_forget(struct sup *sp, const char *tenant)
{
	char err[512];

	/* Gone: what still runs of it (told to exit a moment ago by
	 * workers_tenant_stop) ends now, as its cgroup's processes do. */
	tenant_kill_retiring(sp, tenant, "tenant removed", 0);
	metrics_tenant_forget(sp, tenant);
	quota_tenant_forget(sp, tenant);
	ratelimit_tenant_forget(sp, tenant);
	egress_tenant_forget(sp, tenant);
	if (cg_tenant_remove(sp->sp_cg, tenant, err, sizeof(err)) == -1)
		log_warn("cannot remove the tenant's cgroup", "{s:s,s:s}",
		    "tenant", tenant, "error", err);
}

static void
worker_assign(struct worker *wk, const struct store_tenant *t)
{
	struct sup *sp = wk->wk_sup;
	char home[CONFIG_STRLEN + 80], err[512];
	struct netns_egress ne, *egress = NULL;
	int netns = -1;
	json_t *v;

	snprintf(wk->wk_tenant, sizeof(wk->wk_tenant), "%s", t->st_id);
	wk->wk_uid = (uid_t)t->st_uid;
	if (tenant_home(sp, t, home, sizeof(home)) == -1) {
		log_error("cannot prepare the tenant's home", "{s:s,s:s}",
		    "tenant", t->st_id, "error", strerror(errno));
		snprintf(home, sizeof(home), "/");
	}
	/* Into the tenant's cgroup while still root and before it sees
	 * anything of the tenant's: what it starts inherits the group. */
	if (worker_cgroup_join(wk, err, sizeof(err)) == -1) {
		log_error("cannot put the worker in the tenant's cgroup",
		    "{s:s,s:s}", "tenant", t->st_id, "error", err);
		pending_refuse_all(wk, "worker could not be confined");
		worker_kill(wk, "cgroup");
		return;
	}
	/* Its own network namespace, made here (root) and joined by the
	 * worker before anything else: what it starts is born inside. */
	if (strcmp(sp->sp_cf.cf_tenant_network, "egress") == 0 &&
	    egress_assign(sp, t->st_id, &ne, &wk->wk_egress_slot, err,
	    sizeof(err)) == 0)
		egress = &ne;
	if (strcmp(sp->sp_cf.cf_tenant_network, "host") != 0 &&
	    ((strcmp(sp->sp_cf.cf_tenant_network, "egress") == 0 &&
	    egress == NULL) ||
	    (netns = netns_new(egress, err, sizeof(err))) == -1)) {
		log_error("cannot make the tenant's network namespace: the "
		    "tenant is refused, not given the host's network",
		    "{s:s,s:s,s:s}", "tenant", t->st_id, "tenant_network",
		    sp->sp_cf.cf_tenant_network, "error", err);
		pending_refuse_all(wk, "worker could not be confined");
		worker_kill(wk, "netns");
		return;
	}
	v = json_pack("{s:s,s:i,s:i,s:s,s:s,s:s,s:o,s:i,s:i,s:s,s:s,s:I}",
	    "tenant", t->st_id, "uid", t->st_uid, "gid", t->st_uid, "home",
	    home,
	    "upstream_policy", sp->sp_upstream_policy != NULL ?
	    sp->sp_upstream_policy : "", "worker_policy",
	    sp->sp_worker_policy != NULL ? sp->sp_worker_policy : "",
	    "hide", hidden_paths(sp),
	    "nofile", sp->sp_cf.cf_tenant_nofile,
	    "nproc", sp->sp_cf.cf_tenant_nproc, "node", sp->sp_node,
	    "network", sp->sp_cf.cf_tenant_network,
	    "tmp_size", (json_int_t)sp->sp_cf.cf_tenant_tmp_size);
	worker_ipc_bound(wk);
	ipc_send_json(wk->wk_ipc, IPC_ASSIGN, 0, netns, v);
	json_decref(v);
	/* The worker holds the namespace now (the message has a dup). */
	fd_close(&netns);
	worker_set_state(wk, WK_ASSIGNING);
}

static void
on_refill(evutil_socket_t fd, short ev, void *arg)
{
	workers_refill(arg);
}

void
workers_init(struct sup *sp)
{
	sp->sp_ev_refill = evtimer_new(sp->sp_base, on_refill, sp);
}

void
workers_refill(struct sup *sp)
{
	struct worker *wk;
	unsigned spares = 0;
	int64_t now = now_mono_ms();

	if (sp->sp_stopping)
		return;
	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (wk->wk_state == WK_SPARE ||
		    (wk->wk_state == WK_STARTING && wk->wk_tenant[0] == '\0'))
			spares++;
	while (spares < sp->sp_nspare_target) {
		if (now < sp->sp_next_spawn_ms) {
			struct timeval tv;
			int64_t d = sp->sp_next_spawn_ms - now;

			tv.tv_sec = d / 1000;
			tv.tv_usec = (d % 1000) * 1000;
			event_add(sp->sp_ev_refill, &tv);
			return;
		}
		if (worker_spawn(sp) == NULL)
			return;
		spares++;
	}
}

void
workers_handoff(struct sup *sp, const struct store_tenant *t, int fd,
    const char *token_hash, int64_t exp, const char *remote,
    const struct sockaddr_storage *peer, const uint8_t *pre, size_t prelen)
{
	struct worker *wk;
	struct pending_conn *pc;
	char *pre64 = NULL;

	if (prelen > 0 && (pre64 = b64_encode(pre, prelen)) == NULL) {
		conn_refuse(&fd, 503, "out of memory");
		return;
	}

	wk = worker_by_tenant(sp, t->st_id);
	if (wk == NULL) {
		for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
			if (wk->wk_state == WK_SPARE)
				break;
		if (wk != NULL)
			worker_assign(wk, t);
		else {
			/* No spare: spawn one for this tenant now. */
			wk = worker_spawn(sp);
			if (wk == NULL || wk->wk_state == WK_DEAD) {
				conn_refuse(&fd, 503, "no worker available");
				free(pre64);
				return;
			}
			snprintf(wk->wk_tenant, sizeof(wk->wk_tenant), "%s",
			    t->st_id);
			wk->wk_uid = (uid_t)t->st_uid;
		}
		workers_refill(sp);
	}
	if (wk->wk_state == WK_ACTIVE) {
		worker_send_conn(wk, fd, token_hash, exp, remote, peer,
		    pre64);
		fd_close(&fd);
		free(pre64);
		return;
	}
	if (wk->wk_npending >= PENDING_MAX) {
		conn_refuse(&fd, 503, "worker busy starting");
		free(pre64);
		return;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL) {
		conn_refuse(&fd, 503, "out of memory");
		free(pre64);
		return;
	}
	pc->pc_pre = pre64;
	pc->pc_fd = fd;
	snprintf(pc->pc_hash, sizeof(pc->pc_hash), "%s", token_hash);
	pc->pc_exp = exp;
	snprintf(pc->pc_remote, sizeof(pc->pc_remote), "%s", remote);
	if (peer != NULL)
		pc->pc_peer = *peer;
	*wk->wk_pending_tail = pc;
	wk->wk_pending_tail = &pc->pc_next;
	wk->wk_npending++;
}

void
workers_tenant_changed(struct sup *sp, const char *tenant)
{
	struct worker *wk = worker_by_tenant(sp, tenant);
	struct cg_limits lim;
	char err[512];

	/* Its egress allowlist may have changed (here or on another host
	 * sharing the store): any worker of it, retiring ones too. */
	egress_tenant_changed(sp, tenant);
	/* An assigning worker gets the fresh config when it acks. */
	if (wk == NULL || wk->wk_state != WK_ACTIVE)
		return;
	/* Limits may have changed (reload, set-limits): rewriting them is
	 * idempotent. */
	tenant_limits(sp, tenant, &lim);
	if (cg_tenant_prepare(sp->sp_cg, tenant, &lim, err, sizeof(err)) == -1)
		log_warn("cannot update the tenant's cgroup limits", "{s:s,s:s}",
		    "tenant", tenant, "error", err);
	worker_send_config(wk);
}

void
workers_store_changed(struct sup *sp)
{
	struct worker *wk, *next;
	struct store_tenant t;
	char err[STORE_ERRLEN], tenant[sizeof(t.st_id)];
	int r;

	for (wk = sp->sp_workers; wk != NULL; wk = next) {
		next = wk->wk_next;
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_ASSIGNING)
			continue;
		snprintf(tenant, sizeof(tenant), "%s", wk->wk_tenant);
		r = store_tenant_get(sp->sp_store, tenant, &t, err,
		    sizeof(err));
		if (r == -1) {
			log_warn("store: cannot re-read a tenant", "{s:s,s:s}",
			    "tenant", tenant, "error", err);
			continue;
		}
		if (r == 0 || !t.st_enabled) {
			log_info("tenant removed or disabled on another host",
			    "{s:s}", "tenant", tenant);
			workers_tenant_stop(sp, tenant);
		} else
			workers_tenant_changed(sp, tenant);
	}
}

void
workers_revoke(struct sup *sp, const char *tenant, const char *hash)
{
	struct pending_conn *pc, **pp;
	struct worker *wk;
	json_t *v;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		if (strcmp(wk->wk_tenant, tenant) != 0)
			continue;
		for (pp = &wk->wk_pending; (pc = *pp) != NULL;) {
			if (strcmp(pc->pc_hash, hash) != 0) {
				pp = &pc->pc_next;
				continue;
			}
			*pp = pc->pc_next;
			if (wk->wk_pending_tail == &pc->pc_next)
				wk->wk_pending_tail = pp;
			wk->wk_npending--;
			conn_refuse(&pc->pc_fd, 401, "token revoked");
			free(pc->pc_pre);
			free(pc);
		}
		if ((wk->wk_state != WK_ACTIVE &&
		    wk->wk_state != WK_RETIRING) || wk->wk_ipc == NULL)
			continue;
		v = json_pack("{s:s}", "token_hash", hash);
		if (v == NULL || ipc_send_json(wk->wk_ipc, IPC_REVOKE, 0, -1,
		    v) == -1)
			log_warn("cannot tell a worker of a revocation", "{s:s}",
			    "tenant", tenant);
		json_decref(v);
	}
	/* After the workers: each closes its connections of the token
	 * first, then the relays close the clients that used it. */
	relays_revoke(sp, hash);
}

/* Kills a worker of a tenant that is stopped or gone, now, when it was
 * told to exit before and is still there; counted when `count`. */
static void
tenant_kill_retiring(struct sup *sp, const char *tenant, const char *why,
    int count)
{
	struct worker *wk;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		if (strcmp(wk->wk_tenant, tenant) != 0 ||
		    wk->wk_state != WK_RETIRING)
			continue;
		log_info("killing the tenant's retiring worker", "{s:s,s:i,s:s}",
		    "tenant", tenant, "worker_pid", (int)wk->wk_pid, "why", why);
		if (count)
			sp->sp_retire_kills[RETIRE_KILL_TENANT]++;
		wk->wk_asked_to_stop = 1;
		worker_kill(wk, why);
	}
}

void
workers_tenant_stop(struct sup *sp, const char *tenant)
{
	struct worker *wk;

	/* Retiring ones first: the active one retires below. */
	tenant_kill_retiring(sp, tenant, "tenant stopped", 1);
	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		if (strcmp(wk->wk_tenant, tenant) != 0 ||
		    wk->wk_state == WK_DEAD || wk->wk_state == WK_RETIRING)
			continue;
		log_info("stopping the tenant's worker", "{s:s,s:i}", "tenant",
		    tenant, "worker_pid", (int)wk->wk_pid);
		pending_refuse_all(wk, "tenant unavailable");
		wk->wk_asked_to_stop = 1;
		if (wk->wk_state == WK_ACTIVE)
			worker_retire(wk, "tenant stopped");
		else
			worker_kill(wk, "tenant stopped");
	}
}

/*
 * Ends every process left with the tenant's uid (upstreams that outlived
 * their worker, their children): a short-lived child takes the uid and
 * kill(-1)s, which reaches exactly the processes of that uid.
 */
static void
tenant_sweep(uid_t uid)
{
	pid_t pid;
	int status;

	if (uid == 0)
		return;
	pid = fork();
	if (pid == 0) {
		if (setresgid(uid, uid, uid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(1);
		(void)kill(-1, SIGKILL);
		_exit(0);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
}

void
workers_tenant_removed(struct sup *sp, const char *tenant, uid_t uid)
{
	struct worker *wk;
	int live = 0;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (wk->wk_uid == uid && strcmp(wk->wk_tenant, tenant) == 0) {
			wk->wk_home_remove = 1;
			live = 1;
		}
	if (live)
		return;		/* workers_reap removes it after the sweep */
	tenant_sweep(uid);
	home_remove(sp, tenant, uid);
}

/* 1 when a worker other than `self` runs (or is about to) as self's uid:
 * a new worker for the same tenant may already be up while an idle one
 * retires, and the sweep must not hit it. */
static int
uid_in_use(struct sup *sp, const struct worker *self)
{
	struct worker *wk;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (wk != self && wk->wk_uid == self->wk_uid &&
		    wk->wk_tenant[0] != '\0')
			return 1;
	return 0;
}

static void
worker_free(struct worker *wk)
{
	struct sup *sp = wk->wk_sup;

	ipc_chan_free(&wk->wk_ipc);
	pending_refuse_all(wk, "worker unavailable");
	given_free(&wk->wk_given);
	/* Reaped: the rules of its way out go (a straggler of its namespace
	 * still meets the table's catch-all rejects). */
	egress_release(sp, &wk->wk_egress_slot);
	if (wk->wk_ev_kill != NULL)
		event_free(wk->wk_ev_kill);
	wlog_free(&wk->wk_log);
	if (wk->wk_prev != NULL)
		wk->wk_prev->wk_next = wk->wk_next;
	else
		sp->sp_workers = wk->wk_next;
	if (wk->wk_next != NULL)
		wk->wk_next->wk_prev = wk->wk_prev;
	free(wk);
}

static const char *const death_cause_names[] = {
	[DEATH_CLEAN] = "clean", [DEATH_EXIT] = "exit",
	[DEATH_SIGNAL] = "signal", [DEATH_SECCOMP] = "seccomp",
	[DEATH_OOM] = "oom", [DEATH_KILLED] = "killed",
};

/*
 * How a worker ended, logged as JSON and counted by cause: a clean exit,
 * an error exit, a signal, a seccomp refusal (SIGSYS, or the trap
 * handler's exit status after it logged the call), an OOM kill inside the
 * tenant's cgroup, or our own SIGKILL.
 */
static void
worker_log_death(struct worker *wk, int status)
{
	struct sup *sp = wk->wk_sup;
	enum death_cause cause;
	int64_t ooms;
	int expected = wk->wk_asked_to_stop || wk->wk_state == WK_RETIRING ||
	    sp->sp_stopping;

	if (WIFEXITED(status))
		cause = WEXITSTATUS(status) == 0 ? DEATH_CLEAN :
		    WEXITSTATUS(status) == SCPOLICY_TRAP_EXIT ? DEATH_SECCOMP :
		    DEATH_EXIT;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		cause = DEATH_SECCOMP;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    wk->wk_tenant[0] != '\0' &&
	    (ooms = cg_tenant_oom_kills(sp->sp_cg, wk->wk_tenant)) >= 0 &&
	    ooms > wk->wk_oom_base)
		cause = DEATH_OOM;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    wk->wk_killed_why != NULL)
		cause = DEATH_KILLED;
	else
		cause = DEATH_SIGNAL;
	sp->sp_worker_deaths[cause]++;
	if (cause == DEATH_CLEAN || (expected && cause != DEATH_SECCOMP &&
	    cause != DEATH_OOM)) {
		log_info("worker exited", "{s:i,s:s}", "worker_pid",
		    (int)wk->wk_pid, "tenant", wk->wk_tenant);
		return;
	}
	log_warn("worker died", "{s:i,s:s,s:s,s:i,s:i,s:s}", "worker_pid",
	    (int)wk->wk_pid, "tenant", wk->wk_tenant, "cause",
	    death_cause_names[cause], "signal", WIFSIGNALED(status) ?
	    WTERMSIG(status) : 0, "status", WIFEXITED(status) ?
	    WEXITSTATUS(status) : -1, "why", wk->wk_killed_why != NULL ?
	    wk->wk_killed_why : "");
}

json_t *
workers_deaths_json(struct sup *sp)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < DEATH_NCAUSES; i++)
		json_object_set_new(o, death_cause_names[i],
		    json_integer((json_int_t)sp->sp_worker_deaths[i]));
	return o;
}

void
workers_reap(struct sup *sp)
{
	struct worker *wk;
	pid_t pid;
	int status, early;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
			if (wk->wk_pid == pid)
				break;
		if (wk == NULL) {
			(void)relays_reaped(sp, pid, status);
			continue;
		}
		early = !wk->wk_served && !wk->wk_asked_to_stop &&
		    wk->wk_state != WK_RETIRING && !sp->sp_stopping;
		/* Its last lines (a trap handler's) before its death's. */
		wlog_drain(wk->wk_log);
		worker_log_death(wk, status);
		if (wk->wk_tenant[0] != '\0' && wk->wk_uid != 0 &&
		    !uid_in_use(sp, wk)) {
			tenant_sweep(wk->wk_uid);
			if (wk->wk_home_remove)
				home_remove(sp, wk->wk_tenant, wk->wk_uid);
		}
		worker_free(wk);
		/* Dovecot's throttle: only workers that die before serving
		 * anything slow down the next spawn. */
		if (early) {
			sp->sp_spawn_backoff_ms = sp->sp_spawn_backoff_ms == 0 ?
			    SPAWN_BACKOFF_MIN_MS : sp->sp_spawn_backoff_ms * 2;
			if (sp->sp_spawn_backoff_ms > SPAWN_BACKOFF_MAX_MS)
				sp->sp_spawn_backoff_ms = SPAWN_BACKOFF_MAX_MS;
			sp->sp_next_spawn_ms = now_mono_ms() +
			    sp->sp_spawn_backoff_ms;
			log_warn("worker died before serving: throttling",
			    "{s:I}", "next_spawn_in_ms",
			    (json_int_t)sp->sp_spawn_backoff_ms);
		}
	}
	workers_refill(sp);
	/* TLS relays end when their workers' ends close (tls.c). */
	if (sp->sp_stopping && sp->sp_workers == NULL && tls_relays(sp) == 0)
		event_base_loopexit(sp->sp_base, NULL);
}

void
workers_stop_all(struct sup *sp)
{
	struct worker *wk;
	/* Workers finish in-flight requests for up to drain_timeout. */
	struct timeval tv = { sp->sp_cf.cf_drain_timeout + KILL_GRACE_S, 0 };

	event_del(sp->sp_ev_refill);
	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		wk->wk_asked_to_stop = 1;
		pending_refuse_all(wk, "shutting down");
		if (wk->wk_pid > 0)
			kill(wk->wk_pid, SIGTERM);
		event_add(wk->wk_ev_kill, &tv);
	}
	if (sp->sp_workers == NULL && tls_relays(sp) == 0)
		event_base_loopexit(sp->sp_base, NULL);
}

json_t *
workers_status_json(struct sup *sp)
{
	unsigned n[WK_DEAD + 1] = { 0 }, total = 0;
	struct worker *wk;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		n[wk->wk_state]++;
		total++;
	}
	return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
	    "starting", n[WK_STARTING], "spare", n[WK_SPARE],
	    "assigning", n[WK_ASSIGNING], "active", n[WK_ACTIVE],
	    "retiring", n[WK_RETIRING], "total", total,
	    "spare_target", sp->sp_nspare_target);
}

json_t *
workers_tenant_json(struct sup *sp, const char *tenant)
{
	struct worker *wk = worker_by_tenant(sp, tenant);

	if (wk == NULL)
		return json_null();
	return json_pack("{s:s,s:i,s:i,s:i,s:i}", "state",
	    worker_state_names[wk->wk_state], "pid", (int)wk->wk_pid,
	    "connections", wk->wk_conns, "upstreams", wk->wk_upstreams,
	    "sessions", wk->wk_sessions);
}

unsigned
workers_upstream_total(struct sup *sp)
{
	struct worker *wk;
	unsigned n = 0;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (wk->wk_state == WK_ACTIVE || wk->wk_state == WK_RETIRING)
			n += wk->wk_upstreams;
	return n;
}

unsigned
workers_slots_used(struct sup *sp)
{
	struct worker *wk;
	unsigned n = 0;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		n += wk->wk_slots;
	return n;
}

unsigned
workers_connection_total(struct sup *sp)
{
	struct worker *wk;
	unsigned n = 0;

	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next)
		if (wk->wk_state == WK_ACTIVE || wk->wk_state == WK_RETIRING)
			n += wk->wk_conns;
	return n;
}

json_t *
workers_tenant_conns_json(struct sup *sp)
{
	struct worker *wk;
	json_t *o = json_object(), *n;

	if (o == NULL)
		return NULL;
	for (wk = sp->sp_workers; wk != NULL; wk = wk->wk_next) {
		if (wk->wk_state != WK_ACTIVE && wk->wk_state != WK_RETIRING)
			continue;
		n = json_object_get(o, wk->wk_tenant);
		json_object_set_new(o, wk->wk_tenant, json_integer(
		    (n != NULL ? json_integer_value(n) : 0) + wk->wk_conns));
	}
	return o;
}
