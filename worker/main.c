/*
 * main.c: dataagent-worker start-up, IPC with the supervisor, assignment,
 * config, idle retire.
 *
 * A worker is exec'd by dataagentd as root with its IPC socket on fd 3 and
 * nothing else. It says HELLO and waits. IPC_ASSIGN names a tenant: the
 * worker confines itself (policy/confine.c) and acks; only then does the
 * supervisor send the tenant's config and client sockets.
 *
 * Which file of worker/ holds which job: the list at the top of
 * worker.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "scpolicy.h"
#include "worker.h"
#include "confine.h"

struct store_call {
	struct store_call *sc_next;
	uint32_t sc_id;
	store_cb sc_cb;
	void *sc_arg;
};

static void wrk_exit(struct wrk *w, int code);

void
wrk_touch(struct wrk *w)
{
	w->w_last_activity_ms = now_mono_ms();
	w->w_retiring = 0;
}

void
wrk_stats(struct wrk *w)
{
	unsigned ups;
	json_t *v;

	if (!w->w_assigned || w->w_ipc == NULL)
		return;
	ups = upstream_running_count(w);
	if (ups == w->w_stats_sent_ups && w->w_nconns == w->w_stats_sent_conns)
		return;
	w->w_stats_sent_ups = ups;
	w->w_stats_sent_conns = w->w_nconns;
	v = json_pack("{s:i,s:i,s:i}", "connections", (int)w->w_nconns,
	    "upstreams", (int)ups, "sessions", (int)w->w_nsessions);
	if (v != NULL) {
		ipc_send_json(w->w_ipc, IPC_STATS, 0, -1, v);
		json_decref(v);
	}
}

void
wrk_store_request(struct wrk *w, json_t *op, store_cb cb, void *arg)
{
	struct store_call *sc;

	sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		json_decref(op);
		json_t *res = json_pack("{s:b,s:s}", "ok", 0, "error",
		    "out of memory");
		cb(res, arg);
		json_decref(res);
		return;
	}
	sc->sc_id = ++w->w_next_store_id;
	sc->sc_cb = cb;
	sc->sc_arg = arg;
	sc->sc_next = w->w_store_calls;
	w->w_store_calls = sc;
	ipc_send_json(w->w_ipc, IPC_STORE_REQ, sc->sc_id, -1, op);
	json_decref(op);
}

int
wrk_handback(struct wrk *w, int fd, const uint8_t *pre, size_t prelen)
{
	char *pre64 = NULL;
	json_t *v;
	int r = -1;

	if (prelen > IPC_PRE_MAX || w->w_ipc == NULL)
		return -1;
	if (prelen > 0 && (pre64 = b64_encode(pre, prelen)) == NULL)
		return -1;
	v = pre64 != NULL ? json_pack("{s:s}", "pre", pre64) : json_object();
	if (v != NULL)
		r = ipc_send_json(w->w_ipc, IPC_HANDBACK, 0, fd, v);
	json_decref(v);
	free(pre64);
	return r;
}

void
wrk_audit(struct wrk *w, const char *action, json_t *detail)
{
	json_t *v;

	v = json_pack("{s:s,s:o}", "action", action, "detail",
	    detail != NULL ? detail : json_null());
	if (v != NULL && w->w_ipc != NULL)
		ipc_send_json(w->w_ipc, IPC_AUDIT, 0, -1, v);
	json_decref(v);
}

static void
store_calls_fail_all(struct wrk *w)
{
	struct store_call *sc;
	json_t *res;

	res = json_pack("{s:b,s:s}", "ok", 0, "error", "supervisor gone");
	while ((sc = w->w_store_calls) != NULL) {
		w->w_store_calls = sc->sc_next;
		sc->sc_cb(res, sc->sc_arg);
		free(sc);
	}
	json_decref(res);
}

static int
on_store_res(struct wrk *w, uint32_t id, json_t *res)
{
	struct store_call **pp, *sc;

	for (pp = &w->w_store_calls; (sc = *pp) != NULL; pp = &sc->sc_next) {
		if (sc->sc_id == id) {
			*pp = sc->sc_next;
			sc->sc_cb(res, sc->sc_arg);
			free(sc);
			return 0;
		}
	}
	log_warn("store answer for an unknown request", "{s:i}", "id",
	    (int)id);
	return 0;
}

/*
 * Opens the OOM counter of the cgroup the supervisor put us in (v1
 * memory.oom_control, v2 memory.events), while files can still be
 * opened, so a server's SIGKILL can later be told apart as an OOM kill.
 */
static int
oom_counter_open(void)
{
	char line[1024], path[1200], *p;
	FILE *f;
	int fd = -1;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (fd == -1 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((p = strstr(line, ":memory:")) != NULL)
			snprintf(path, sizeof(path),
			    "/sys/fs/cgroup/memory%s/memory.oom_control",
			    p + strlen(":memory:"));
		else if (strncmp(line, "0::", 3) == 0)
			snprintf(path, sizeof(path),
			    "/sys/fs/cgroup%s/memory.events", line + 3);
		else
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	fclose(f);
	return fd;
}

int64_t
wrk_oom_kills(struct wrk *w)
{
	char buf[512], *p;
	ssize_t n;

	if (w->w_oom_fd == -1 ||
	    (n = pread(w->w_oom_fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "oom_kill ")) == NULL)
		return -1;
	return strtoll(p + strlen("oom_kill "), NULL, 10);
}

/* A worker that cannot confine itself says so and exits: it must never
 * serve a tenant half-confined. */
static void __attribute__((noreturn))
assign_fail(struct wrk *w, const char *tenant, const char *what,
    const char *err)
{
	json_t *f;

	log_error(what, "{s:s,s:s}", "tenant", tenant, "error", err);
	f = json_pack("{s:s}", "error", err);
	ipc_send_json(w->w_ipc, IPC_ASSIGN_FAIL, 0, -1, f);
	json_decref(f);
	ipc_flush(w->w_ipc);
	_exit(1);
}

static int
filter_compile(const char *text, const char *name, struct scprog **prog_r,
    char *err, size_t errlen)
{
	struct scpolicy *p;
	int r;

	if (scpolicy_parse(text, name, &p, err, errlen) == -1)
		return -1;
	r = scpolicy_compile(p, prog_r, err, errlen);
	scpolicy_free(&p);
	return r;
}

/*
 * Loads the worker's own filter. What libraries would read from disk on
 * first use (OpenSSL's configuration, the time zone) is read now, while
 * opening files still works.
 */
static int
worker_filter_install(struct scprog *prog, char *err, size_t errlen)
{
	unsigned char b[16];

	tzset();
	/* libssl for remote upstreams over TLS: its configuration and error
	 * strings are loaded now. */
	(void)OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_LOAD_CONFIG, NULL);
	if (RAND_bytes(b, sizeof(b)) != 1) {
		snprintf(err, errlen, "RAND_bytes failed");
		return -1;
	}
	if (scpolicy_trap_install("worker") == -1 ||
	    scprog_install(prog) == -1) {
		snprintf(err, errlen, "installing worker.policy: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* IPC_ASSIGN; netns is the fd that came with it (-1: none), closed here
 * whatever happens. */
static int
on_assign(struct wrk *w, json_t *v, int netns)
{
	const char *tenant, *home, *policy, *wpolicy, *hide[16], *node = "";
	const char *network = "host";
	struct scprog *wfilter = NULL;
	struct confine_spec cs;
	json_int_t uid, gid, nofile, nproc, tmp_size = SANDBOX_TMP_SIZE;
	json_t *ack, *hidev, *h;
	char err[512];
	size_t i;

	if (json_unpack(v, "{s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:I,s:I,s?s,s?s,s?I}",
	    "tenant", &tenant, "uid", &uid, "gid", &gid, "home", &home,
	    "upstream_policy", &policy, "worker_policy", &wpolicy,
	    "hide", &hidev, "nofile", &nofile, "nproc", &nproc,
	    "node", &node, "network", &network, "tmp_size", &tmp_size) != 0 ||
	    tmp_size < 1024 * 1024 ||
	    /* A namespace comes exactly when the network is not the
	     * host's, and is not ours already. */
	    (strcmp(network, "host") == 0) != (netns == -1) ||
	    (netns != -1 && !netns_is_other(netns)) ||
	    (node[0] != '\0' && !node_name_valid(node)) ||
	    !json_is_array(hidev) ||
	    json_array_size(hidev) >= sizeof(hide) / sizeof(hide[0]) ||
	    nofile <= 0 || nproc <= 0 || !name_valid(tenant) ||
	    uid <= 0 || gid <= 0 || uid > 0x7fffffff || gid > 0x7fffffff ||
	    strlen(home) >= sizeof(w->w_home)) {
		fd_close(&netns);
		return -1;
	}
	snprintf(w->w_tenant, sizeof(w->w_tenant), "%s", tenant);
	snprintf(w->w_home, sizeof(w->w_home), "%s", home);
	snprintf(w->w_node, sizeof(w->w_node), "%s", node);
	w->w_uid = (uid_t)uid;
	w->w_gid = (gid_t)gid;
	json_array_foreach(hidev, i, h) {
		if ((hide[i] = json_string_value(h)) == NULL) {
			fd_close(&netns);
			return -1;
		}
	}
	hide[json_array_size(hidev)] = NULL;
	memset(&cs, 0, sizeof(cs));
	cs.cs_uid = w->w_uid;
	cs.cs_gid = w->w_gid;
	cs.cs_home = w->w_home;
	cs.cs_hide = hide;
	cs.cs_limits.sl_nofile = (rlim_t)nofile;
	w->w_nofile = (int)nofile;
	cs.cs_limits.sl_nproc = (rlim_t)nproc;
	cs.cs_tmp_size = (int64_t)tmp_size;
	cs.cs_netns_fd = netns;

	/* The filter the tenant's MCP servers will run under: compiled now,
	 * so a worker that cannot enforce it never serves the tenant. */
	w->w_oom_fd = oom_counter_open();
	if (filter_compile(policy, "upstream.policy", &w->w_upstream_filter,
	    err, sizeof(err)) == -1 ||
	    filter_compile(wpolicy, "worker.policy", &wfilter, err,
	    sizeof(err)) == -1 ||
	    confine_worker(&cs, err, sizeof(err)) == -1)
		assign_fail(w, tenant, "confinement failed", err);
	fd_close(&netns);
	/* Confined, before the worker's own filter: servers are started by
	 * the launcher, never by this process. */
	if (launcher_start(w, err, sizeof(err)) == -1)
		assign_fail(w, tenant, "cannot start the launcher", err);
	if (chdir(w->w_home) == -1 && chdir("/") == -1)
		log_warn("chdir failed", "{s:s}", "error", strerror(errno));
	/* Step 7, the last: from here on the worker's own allowlist. */
	if (worker_filter_install(wfilter, err, sizeof(err)) == -1)
		assign_fail(w, tenant, "confinement failed", err);
	scprog_free(&wfilter);
	w->w_assigned = 1;
	wrk_touch(w);
	log_info("worker assigned", "{s:s,s:i,s:s}", "tenant", w->w_tenant,
	    "uid", (int)w->w_uid, "network", network);
	ack = json_pack("{s:s}", "tenant", w->w_tenant);
	ipc_send_json(w->w_ipc, IPC_ASSIGN_ACK, 0, -1, ack);
	json_decref(ack);
	return 0;
}

static void
settings_apply(struct wrk *w, json_t *s)
{
	struct wrk_settings *ws = &w->w_set;
	json_int_t i;
	const char *str;
	enum log_level lvl;

	if (json_unpack(s, "{s:I}", "max_connections_per_user", &i) == 0 &&
	    i > 0)
		ws->ws_max_upstreams = (int)i;
	if (json_unpack(s, "{s:I}", "connection_timeout", &i) == 0 && i > 0)
		ws->ws_call_timeout_ms = (int)i * 1000;
	if (json_unpack(s, "{s:I}", "idle_timeout", &i) == 0 && i > 0)
		ws->ws_idle_timeout_s = (int)i;
	if (json_unpack(s, "{s:I}", "tool_cache_ttl", &i) == 0 && i >= 0)
		ws->ws_tool_cache_ttl_s = (int)i;
	if (json_unpack(s, "{s:I}", "max_body_size", &i) == 0 && i > 0)
		ws->ws_max_body = (size_t)i;
	if (json_unpack(s, "{s:s}", "allowed_hosts", &str) == 0)
		snprintf(ws->ws_allowed_hosts, sizeof(ws->ws_allowed_hosts),
		    "%s", str);
	if (json_unpack(s, "{s:I}", "drain_timeout", &i) == 0 && i >= 0)
		ws->ws_drain_timeout_s = (int)i;
	ws->ws_audit_arguments = json_is_true(json_object_get(s,
	    "audit_arguments"));
	if (json_unpack(s, "{s:I}", "rate_limit", &i) == 0 && i >= 0)
		ws->ws_rate_limit = (int)i;
	if (json_unpack(s, "{s:I}", "max_retries", &i) == 0 &&
	    config_int_in_range("max_retries", i))
		ws->ws_max_retries = (int)i;
	if (json_unpack(s, "{s:I}", "retry_delay", &i) == 0 &&
	    config_int_in_range("retry_delay", i))
		ws->ws_retry_delay_ms = (int)i * 1000;
	if (json_unpack(s, "{s:I}", "reconnect_interval", &i) == 0 &&
	    config_int_in_range("reconnect_interval", i))
		ws->ws_reconnect_ms = (int)i * 1000;
	if (json_unpack(s, "{s:s}", "log_level", &str) == 0 &&
	    log_level_parse(str, &lvl) == 0)
		log_set_level(lvl);
	if (json_unpack(s, "{s:s}", "log_format", &str) == 0 &&
	    (strcmp(str, "text") == 0 || strcmp(str, "json") == 0))
		log_set_text(strcmp(str, "text") == 0);
}

/* Brings the upstream list in line with the configured servers: unchanged
 * servers keep their process, changed ones restart, removed ones stop.
 * Tool lists (the tenant's, each server's) apply at once, no restart. */
static int
on_config(struct wrk *w, json_t *v)
{
	json_t *settings, *servers, *spec, *tools;
	struct upstream *u;
	size_t i;
	const char *name;

	settings = json_object_get(v, "settings");
	servers = json_object_get(v, "servers");
	tools = json_object_get(v, "tools");
	if (!json_is_object(settings) || !json_is_array(servers) ||
	    !json_is_object(tools) || (tools = json_deep_copy(tools)) == NULL)
		return -1;
	json_decref(w->w_tool_lists);
	w->w_tool_lists = tools;
	settings_apply(w, settings);

again:
	for (u = w->w_upstreams; u != NULL; u = upstream_next(u)) {
		int keep = 0;

		json_array_foreach(servers, i, spec) {
			name = json_string_value(json_object_get(spec, "name"));
			if (name != NULL && strcmp(name, upstream_name(u)) ==
			    0 && (keep = upstream_spec_equal(u, spec)) &&
			    upstream_set_tool_lists(u, spec) == -1)
				return -1;
		}
		if (!keep) {
			log_info("server stopped (config changed or removed)",
			    "{s:s,s:s}", "tenant", w->w_tenant, "server",
			    upstream_name(u));
			upstream_free(&u);
			goto again;
		}
	}
	json_array_foreach(servers, i, spec) {
		name = json_string_value(json_object_get(spec, "name"));
		if (name == NULL || !name_valid(name))
			return -1;
		if (upstream_find(w, name) != NULL)
			continue;
		if (upstream_new(w, spec) == NULL)
			log_error("cannot set up server", "{s:s,s:s}", "tenant",
			    w->w_tenant, "server", name);
	}
	mcp_tools_changed(w, NULL);
	return 0;
}

static int
on_msg(struct ipc_chan *ch, struct ipc_msg *msg, void *arg)
{
	struct wrk *w = arg;
	json_t *v;
	int rc = -1;

	v = ipc_payload_json(msg);
	if (v == NULL) {
		fd_close(&msg->im_fd);
		return -1;
	}
	switch (msg->im_hdr.ih_type) {
	case IPC_ASSIGN:
		if (!w->w_assigned)
			rc = on_assign(w, v, msg->im_fd);
		msg->im_fd = -1;
		break;
	case IPC_CONFIG:
		if (w->w_assigned)
			rc = on_config(w, v);
		break;
	case IPC_CONN: {
		const char *hash, *pre64 = NULL;
		json_int_t exp;
		uint8_t *pre = NULL;
		size_t prelen = 0;

		if (!w->w_assigned || msg->im_fd == -1 ||
		    json_unpack(v, "{s:s,s:I,s?s}", "token_hash", &hash, "exp",
		    &exp, "pre", &pre64) != 0 || strlen(hash) != 64 ||
		    (pre64 != NULL && b64_decode(pre64, IPC_PRE_MAX, &pre,
		    &prelen) == -1))
			break;
		w->w_received++;
		wrk_touch(w);
		http_conn_new(w, msg->im_fd, hash, exp, pre, prelen);
		free(pre);
		msg->im_fd = -1;
		wrk_stats(w);
		rc = 0;
		break;
	}
	case IPC_STORE_RES:
		if (w->w_assigned)
			rc = on_store_res(w, msg->im_hdr.ih_peer, v);
		break;
	case IPC_REVOKE: {
		const char *hash;

		if (json_unpack(v, "{s:s}", "token_hash", &hash) != 0 ||
		    strlen(hash) != 64)
			break;
		http_revoke(w, hash);
		rc = 0;
		break;
	}
	case IPC_RATE_GRANT: {
		json_int_t n, retry;

		if (!w->w_assigned || json_unpack(v, "{s:I,s:I}", "n", &n,
		    "retry_after", &retry) != 0 || n < 0 || retry < 0)
			break;
		rc = 0;
		http_rate_grant(w, n > RATE_WANT_MAX ? RATE_WANT_MAX : (int)n,
		    retry > 86400 ? 86400 : (int)retry);
		break;
	}
	case IPC_SLOT_GRANT:
		if (!w->w_assigned || !json_is_boolean(json_object_get(v,
		    "ok")))
			break;
		rc = 0;
		upstream_slot_grant(w, msg->im_hdr.ih_peer, v);
		break;
	case IPC_SHUTDOWN:
		log_info("worker retiring", "{s:s}", "tenant", w->w_tenant);
		json_decref(v);
		wrk_exit(w, 0);
		break;
	default:
		break;
	}
	json_decref(v);
	fd_close(&msg->im_fd);
	return rc;
}

static void
on_ipc_error(struct ipc_chan *ch, const char *why, void *arg)
{
	struct wrk *w = arg;

	/* The supervisor went away or spoke nonsense: nothing left to serve. */
	log_info("supervisor channel closed", "{s:s}", "why", why);
	ipc_chan_free(&w->w_ipc);
	store_calls_fail_all(w);
	wrk_exit(w, 0);
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct wrk *w = arg;
	int64_t idle_ms;
	json_t *v;

	if (!w->w_assigned)
		return;
	wrk_drain_check(w);
	wrk_stats(w);
	toolstats_flush(w);
	counters_flush(w);
	http_shed_log(w);
	upstream_idle_sweep(w, w->w_set.ws_idle_timeout_s);
	if (w->w_nconns > 0 || upstream_busy(w) || w->w_retiring)
		return;
	idle_ms = now_mono_ms() - w->w_last_activity_ms;
	if (idle_ms < (int64_t)w->w_set.ws_idle_timeout_s * 1000)
		return;
	/* Ask to retire; the supervisor agrees only when it has sent us no
	 * connection we have not seen yet. */
	w->w_retiring = 1;
	v = json_pack("{s:I}", "received", (json_int_t)w->w_received);
	ipc_send_json(w->w_ipc, IPC_IDLE, 0, -1, v);
	json_decref(v);
}

static void
on_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	struct wrk *w = arg;
	pid_t lp = launcher_pid(w);
	int status;

	/* The launcher is our only child; the servers are its children and
	 * their exits come over its socket. */
	if (lp > 0 && waitpid(lp, &status, WNOHANG) == lp) {
		log_error("the launcher died: this worker cannot start servers",
		    "{s:s,s:i}", "tenant", w->w_tenant, "status", status);
		wrk_exit(w, 1);
	}
}

/*
 * SIGTERM (the supervisor stops): no new requests; the ones in flight get
 * up to drain_timeout to finish, then everything ends.
 */
static void
on_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	struct wrk *w = arg;

	if (w->w_draining || !w->w_assigned || http_in_flight(w) == 0 ||
	    w->w_set.ws_drain_timeout_s == 0) {
		log_info("worker stopping on signal", "{s:s,s:i}", "tenant",
		    w->w_tenant, "signal", (int)sig);
		wrk_exit(w, 0);
	}
	w->w_draining = 1;
	w->w_drain_deadline_ms = now_mono_ms() +
	    (int64_t)w->w_set.ws_drain_timeout_s * 1000;
	log_info("worker draining", "{s:s,s:i,s:i}", "tenant", w->w_tenant,
	    "in_flight", (int)http_in_flight(w), "drain_timeout",
	    w->w_set.ws_drain_timeout_s);
	http_drain(w);
}

/* Called when a request ends: a draining worker exits after the last. */
void
wrk_drain_check(struct wrk *w)
{
	if (!w->w_draining)
		return;
	if (http_in_flight(w) == 0 || now_mono_ms() >= w->w_drain_deadline_ms) {
		log_info("worker drained", "{s:s,s:i}", "tenant", w->w_tenant,
		    "left", (int)http_in_flight(w));
		wrk_exit(w, 0);
	}
}

/*
 * Waits up to ms for every child (the upstreams, just sent SIGKILL) so
 * none outlives us as a zombie for init to collect: when the worker is
 * gone, its tenant's processes are gone.
 */
static void
wrk_reap_children(int ms)
{
	int64_t deadline = now_mono_ms() + ms;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0)
			continue;
		if (pid == -1 || now_mono_ms() > deadline)
			return;		/* ECHILD: none left */
		nanosleep(&ts, NULL);
	}
}

/* Ends the process: clients and upstream process groups first. */
static void
wrk_exit(struct wrk *w, int code)
{
	http_conn_free_all(w);
	mcp_sessions_free(w);
	upstream_free_all(w);
	json_decref(w->w_tool_lists);
	w->w_tool_lists = NULL;
	/* Before the channel closes: the supervisor takes a closed channel
	 * for a dead worker and kills what is left of it. */
	launcher_stop(w, 2000);
	wrk_reap_children(500);
	toolstats_flush(w);
	toolstats_free(w);
	counters_flush(w);
	counters_free(w);
	if (w->w_ipc != NULL) {
		ipc_flush(w->w_ipc);
		ipc_chan_free(&w->w_ipc);
	}
	store_calls_fail_all(w);
	exit(code);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: dataagent-worker\n"
	    "dataagent-worker is started by dataagentd with its IPC socket on "
	    "fd %d;\nit is not run by hand.\n", WORKER_IPC_FD);
}

int
main(int argc, char **argv)
{
	static struct wrk w;
	struct stat st;
	struct timeval tick = { 1, 0 };
	json_t *hello;
	enum log_level lvl = LOG_LVL_INFO;
	const char *env;
	char errbuf[256];

	mem_wipe_on_free();
	if (argc > 1) {
		if (strcmp(argv[1], "--version") == 0) {
			printf("dataagent-worker %s\n", DATAAGENT_VERSION);
			return 0;
		}
		usage();
		return 2;
	}
	if ((env = getenv("LOG_LEVEL")) != NULL)
		(void)log_level_parse(env, &lvl);
	log_init("worker", lvl);
	/* A spare already: the tenant's configuration and secrets come
	 * later, and confine_worker sets the same again. */
	if (mem_no_core(errbuf, sizeof(errbuf)) == -1) {
		log_error("cannot turn core dumps off", "{s:s}", "error",
		    errbuf);
		return 1;
	}
	/* The supervisor decided (json unless told otherwise). */
	env = getenv("LOG_FORMAT");
	log_set_text(env != NULL && strcmp(env, "text") == 0);
	if (fstat(WORKER_IPC_FD, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	w.w_oom_fd = -1;
	w.w_set.ws_max_upstreams = 10;
	w.w_set.ws_call_timeout_ms = 30000;
	w.w_set.ws_idle_timeout_s = 300;
	w.w_set.ws_max_retries = 3;
	w.w_set.ws_retry_delay_ms = 1000;
	w.w_set.ws_reconnect_ms = 300000;
	w.w_set.ws_tool_cache_ttl_s = 300;
	w.w_set.ws_max_body = 1024 * 1024;
	snprintf(w.w_set.ws_allowed_hosts, sizeof(w.w_set.ws_allowed_hosts),
	    "localhost,127.0.0.1,[::1]");

	w.w_base = event_base_new();
	if (w.w_base == NULL)
		return 1;
	mcp_init(&w);
	w.w_ipc = ipc_chan_new(w.w_base, WORKER_IPC_FD, on_msg, on_ipc_error,
	    &w);
	if (w.w_ipc == NULL)
		return 1;
	w.w_ev_sigchld = evsignal_new(w.w_base, SIGCHLD, on_sigchld, &w);
	w.w_ev_sigterm = evsignal_new(w.w_base, SIGTERM, on_sigterm, &w);
	w.w_ev_idle = event_new(w.w_base, -1, EV_PERSIST, on_tick, &w);
	if (w.w_ev_sigchld == NULL || w.w_ev_sigterm == NULL ||
	    w.w_ev_idle == NULL)
		return 1;
	event_add(w.w_ev_sigchld, NULL);
	event_add(w.w_ev_sigterm, NULL);
	event_add(w.w_ev_idle, &tick);

	hello = json_pack("{s:s}", "version", DATAAGENT_VERSION);
	ipc_send_json(w.w_ipc, IPC_HELLO, 0, -1, hello);
	json_decref(hello);

	event_base_dispatch(w.w_base);
	wrk_exit(&w, 0);
	return 0;
}
