/*
 * main.c: dataagentd start-up, signals and the event loop.
 *
 * Configuration precedence: defaults < config file < environment < flags.
 *
 * Under systemd (Type=notify) the supervisor speaks the service manager's
 * notification protocol itself (notify_*, below; no libsystemd): READY=1
 * once the listener is up, RELOADING=1 and READY=1 around a reload,
 * STOPPING=1 on SIGTERM, STATUS= lines, and WATCHDOG=1 from an event-loop
 * timer when the manager asks for a watchdog.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/crypto.h>

#include "cgroup.h"
#include "netns.h"
#include "scpolicy.h"
#include "supervisor.h"
#include "secrets.h"
#include "ratelimit.h"
#include "tls.h"

/* The service manager's notification socket ($NOTIFY_SOCKET). */
struct notify {
	int nt_fd;			/* -1: nobody listens, send nothing */
	struct sockaddr_un nt_sun;
	socklen_t nt_sunlen;
	uint64_t nt_watchdog_usec;	/* 0: no watchdog asked for */
	struct event *nt_ev_watchdog;
	char nt_status[256];		/* the last STATUS= sent */
	const char *nt_note;		/* leads STATUS= until cleared */
	int nt_failed;			/* a send failed: logged once */
};

/* Said at start and on a reload to host (dataagentd(8) SECURITY). */
#define NETWORK_HOST_WARNING "tenant_network = host: tenants' MCP " \
	"servers share the host's network and reach every listener on its " \
	"loopback (the gateway's own port, the store's database, other " \
	"tenants' servers); egress or none wall them off"

/*
 * What main's signal and timer callbacks reach. struct sup (supervisor.h)
 * is the process state every module shares; the notifier is main's own
 * business and travels beside it.
 */
struct sup_main {
	struct sup *sm_sup;
	struct notify sm_notify;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: dataagentd [-t] [--config PATH] [--host HOST] [--port PORT]\n"
"                  [--workers N] [--log-level LEVEL] [--log-format FORM]\n"
"                  [--db-url URL]\n"
"\n"
"dataagent's supervisor: accepts MCP and REST clients, authenticates their\n"
"bearer tokens and hands each connection to its tenant's worker, which runs\n"
"under the tenant's own UID. Must be started as root.\n"
"\n"
"  -c, --config PATH    configuration file (default %s)\n"
"      --host HOST      address to listen on (default 127.0.0.1)\n"
"      --port PORT      port to listen on (default 8000; 0 = any free port)\n"
"      --workers N      spare workers kept ready (default 2)\n"
"      --log-level L    error, warn, info or debug (default info)\n"
"      --log-format F   json, text or auto (default: text on a terminal,\n"
"                       else one JSON object a line)\n"
"      --db-url URL     store, e.g. sqlite:////var/lib/dataagent/dataagent.db\n"
"  -t, --test           check the configuration and exit (0 good, 1 bad)\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n"
"\n"
"Environment: SECRET_KEY (at least 32 bytes; required unless public keys\n"
"verify tokens: jwt_public_keys, jwt_jwks_file), DATABASE_URL,\n"
"LOG_LEVEL, LOG_FORMAT, MCP_MAX_CONNECTIONS_PER_USER, MCP_MAX_TOTAL_CONNECTIONS,\n"
"ALLOWED_HOSTS.\n", CONFIG_DEFAULT_PATH);
}

/* Loads defaults < file < environment < flags into sp->sp_cf. */
static int
config_build(struct sup *sp, const char *path, int explicit_path,
    const struct flag_set *flags, int nflags, char *err, size_t errlen)
{
	struct config cf;
	char e[512];
	int i;

	config_defaults(&cf);
	if (config_load_file(&cf, path, !explicit_path, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	if (config_load_env(&cf, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "environment: %s", e);
		return -1;
	}
	for (i = 0; i < nflags; i++) {
		if (config_set(&cf, flags[i].fs_key, flags[i].fs_value, e,
		    sizeof(e)) == -1) {
			snprintf(err, errlen, "--%s: %s", flags[i].fs_key, e);
			return -1;
		}
	}
	if (config_validate(&cf, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s", e);
		return -1;
	}
	sp->sp_cf = cf;
	return 0;
}

/* The worker binary: the configured path, else beside dataagentd, else
 * the installed LIBEXECDIR one. */
static int
worker_path_resolve(struct sup *sp, char *err, size_t errlen)
{
	char self[PATH_MAX], cand[PATH_MAX + 32];
	ssize_t n;

	if (sp->sp_cf.cf_worker_path[0] != '\0') {
		snprintf(sp->sp_worker_path, sizeof(sp->sp_worker_path), "%s",
		    sp->sp_cf.cf_worker_path);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		cand[0] = '\0';
		if (n > 0) {
			self[n] = '\0';
			snprintf(cand, sizeof(cand), "%s/dataagent-worker",
			    dirname(self));
		}
		if (cand[0] == '\0' || access(cand, X_OK) == -1)
			snprintf(cand, sizeof(cand), "%s/dataagent-worker",
			    LIBEXECDIR);
		snprintf(sp->sp_worker_path, sizeof(sp->sp_worker_path), "%s",
		    cand);
	}
	if (access(sp->sp_worker_path, X_OK) == -1) {
		snprintf(err, errlen, "worker binary %s: %s (set worker_path)",
		    sp->sp_worker_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Reads and compiles the seccomp policies; on success they replace the
 * running ones (new assignments use them). Returns 0 or -1 with err
 * ("path:line: reason").
 */
/* Reads and compiles <policy_dir>/<name>; *text_r gets the text. */
static int
policy_load(struct sup *sp, const char *name, char **text_r, char *err,
    size_t errlen)
{
	struct scpolicy *p = NULL;
	char path[CONFIG_STRLEN + 32];

	snprintf(path, sizeof(path), "%s/%s", sp->sp_cf.cf_policy_dir, name);
	if (scpolicy_load_file(path, text_r, &p, err, errlen) == -1)
		return -1;
	if (scpolicy_check(p, err, errlen) == -1) {
		scpolicy_free(&p);
		free(*text_r);
		*text_r = NULL;
		return -1;
	}
	log_info("seccomp policy loaded", "{s:s,s:i}", "path", path, "rules",
	    (int)scpolicy_rules(p));
	scpolicy_free(&p);
	return 0;
}

static int
policies_load(struct sup *sp, char *err, size_t errlen)
{
	char *up = NULL, *wk = NULL;

	if (policy_load(sp, "upstream.policy", &up, err, errlen) == -1)
		return -1;
	if (policy_load(sp, "worker.policy", &wk, err, errlen) == -1) {
		free(up);
		return -1;
	}
	free(sp->sp_upstream_policy);
	free(sp->sp_worker_policy);
	sp->sp_upstream_policy = up;
	sp->sp_worker_policy = wk;
	return 0;
}

/* ------------------------------------------------------------ notify */

/*
 * Reads $NOTIFY_SOCKET (an absolute path, or an abstract name written
 * with a leading '@'), $WATCHDOG_USEC and $WATCHDOG_PID, then removes
 * them from the environment so no child inherits them. Unset or empty
 * NOTIFY_SOCKET: nt->nt_fd stays -1 and every notify_send() is a no-op.
 * A watchdog is armed only when WATCHDOG_PID is unset or names us.
 * Returns 0, or -1 with err for a malformed variable or no socket.
 */
static int
notify_open(struct notify *nt, char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *wusec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	size_t len;
	char *end;
	unsigned long long v;
	int rc = 0;

	memset(nt, 0, sizeof(*nt));
	nt->nt_fd = -1;
	if (path != NULL && path[0] != '\0') {
		len = strlen(path);
		if ((path[0] != '/' && path[0] != '@') ||
		    len >= sizeof(nt->nt_sun.sun_path)) {
			snprintf(err, errlen, "NOTIFY_SOCKET must be an "
			    "absolute path or an @abstract name shorter than "
			    "%zu bytes", sizeof(nt->nt_sun.sun_path));
			rc = -1;
			goto out;
		}
		nt->nt_sun.sun_family = AF_UNIX;
		memcpy(nt->nt_sun.sun_path, path, len);
		if (path[0] == '@')
			nt->nt_sun.sun_path[0] = '\0';
		nt->nt_sunlen = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + len + (path[0] == '/' ? 1 : 0));
		nt->nt_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (nt->nt_fd == -1) {
			snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s",
			    strerror(errno));
			rc = -1;
			goto out;
		}
	}
	if (nt->nt_fd != -1 && wusec != NULL && wusec[0] != '\0') {
		errno = 0;
		v = strtoull(wusec, &end, 10);
		if (*end != '\0' || errno != 0 || v == 0) {
			snprintf(err, errlen, "WATCHDOG_USEC: \"%s\" is not a "
			    "positive number", wusec);
			rc = -1;
			goto out;
		}
		if (wpid == NULL || wpid[0] == '\0' ||
		    strtol(wpid, NULL, 10) == (long)getpid())
			nt->nt_watchdog_usec = v;
	}
out:
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rc;
}

/* Sends one datagram of newline-separated assignments; never blocks. A
 * failure is logged once (the manager may be gone) and otherwise ignored. */
static void
notify_send(struct notify *nt, const char *msg)
{
	if (nt->nt_fd == -1)
		return;
	if (sendto(nt->nt_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&nt->nt_sun, nt->nt_sunlen) == -1 &&
	    !nt->nt_failed) {
		nt->nt_failed = 1;
		log_warn("cannot notify the service manager", "{s:s}",
		    "error", strerror(errno));
	}
}

/* "STATUS=serving N tenants, ..." from the status the health check
 * shows, after nt_note when one is set; sent when it changed, or always
 * when `prefix` (e.g. "READY=1\n", sent in the same datagram) is given. */
static void
notify_status(struct sup_main *sm, const char *prefix)
{
	struct notify *nt = &sm->sm_notify;
	json_t *st, *wk;
	char status[sizeof(nt->nt_status)], msg[sizeof(status) + 128];

	if (nt->nt_fd == -1)
		return;
	st = sup_status_json(sm->sm_sup);
	wk = json_object_get(st, "workers");
	snprintf(status, sizeof(status), "%s%sserving %lld tenant%s, %lld "
	    "active worker%s, %lld spare%s", nt->nt_note != NULL ? nt->nt_note :
	    "", nt->nt_note != NULL ? "; " : "",
	    (long long)json_integer_value(json_object_get(st, "tenants")),
	    json_integer_value(json_object_get(st, "tenants")) == 1 ? "" : "s",
	    (long long)json_integer_value(json_object_get(wk, "active")),
	    json_integer_value(json_object_get(wk, "active")) == 1 ? "" : "s",
	    (long long)json_integer_value(json_object_get(wk, "spare")),
	    json_integer_value(json_object_get(wk, "spare")) == 1 ? "" : "s");
	json_decref(st);
	if (prefix == NULL && strcmp(status, nt->nt_status) == 0)
		return;
	snprintf(nt->nt_status, sizeof(nt->nt_status), "%s", status);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix != NULL ? prefix : "",
	    status);
	notify_send(nt, msg);
}

static void
on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	struct sup_main *sm = arg;

	notify_send(&sm->sm_notify, "WATCHDOG=1");
	notify_status(sm, NULL);
}

/* Arms the WATCHDOG=1 timer at half the manager's interval. The pings
 * come from the event loop, so a loop that hangs stops them. */
static int
notify_watchdog_start(struct sup_main *sm)
{
	struct notify *nt = &sm->sm_notify;
	uint64_t half = nt->nt_watchdog_usec / 2;
	struct timeval tv;

	if (nt->nt_fd == -1 || nt->nt_watchdog_usec == 0)
		return 0;
	if (half == 0)
		half = 1;
	tv.tv_sec = (time_t)(half / 1000000);
	tv.tv_usec = (suseconds_t)(half % 1000000);
	nt->nt_ev_watchdog = event_new(sm->sm_sup->sp_base, -1, EV_PERSIST,
	    on_watchdog, sm);
	if (nt->nt_ev_watchdog == NULL ||
	    event_add(nt->nt_ev_watchdog, &tv) == -1)
		return -1;
	log_info("watchdog armed", "{s:I}", "interval_usec",
	    (json_int_t)half);
	notify_send(nt, "WATCHDOG=1");
	return 0;
}

static void
notify_close(struct notify *nt)
{
	if (nt->nt_ev_watchdog != NULL) {
		event_free(nt->nt_ev_watchdog);
		nt->nt_ev_watchdog = NULL;
	}
	fd_close(&nt->nt_fd);
}

static void
tenants_forget_all(struct sup *sp)
{
	char err[STORE_ERRLEN];
	json_t *tenants, *t;
	size_t i;

	if (cg_mode(sp->sp_cg) == CG_OFF)
		return;
	if ((tenants = store_tenant_list(sp->sp_store, err, sizeof(err))) ==
	    NULL)
		return;
	json_array_foreach(tenants, i, t)
		workers_tenant_forget(sp, json_string_value(json_object_get(t,
		    "id")));
	json_decref(tenants);
}

static void
on_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	workers_reap(arg);
}

static void
on_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	struct sup_main *sm = arg;
	struct sup *sp = sm->sm_sup;

	if (sp->sp_stopping)
		return;
	log_info("stopping", "{s:i}", "signal", (int)sig);
	notify_send(&sm->sm_notify, "STOPPING=1\nSTATUS=stopping");
	sp->sp_stopping = 1;
	/* No more pings: the manager's stop timeout governs from here. */
	if (sm->sm_notify.nt_ev_watchdog != NULL)
		event_del(sm->sm_notify.nt_ev_watchdog);
	front_close_all(sp);
	control_close(sp);
	audit_stop(sp);
	workers_stop_all(sp);
}

/*
 * SIGHUP (also `dataagentctl reload`, which activates this event): re-reads
 * file, environment and flags. A configuration that does not load keeps
 * the old one. Limits, timeouts, log level, allowed hosts and the spare
 * count apply at once (active workers get their settings again); the
 * listening address, state_dir, store and control socket need a restart
 * and are reported as such. The service manager sees RELOADING=1 before
 * and READY=1 after, whatever the outcome.
 */
static void
on_sighup(evutil_socket_t sig, short ev, void *arg)
{
	struct sup_main *sm = arg;
	struct sup *sp = sm->sm_sup;
	struct config old = sp->sp_cf;
	struct timespec ts;
	char err[1024], msg[64];
	json_t *tenants;
	size_t i;
	json_t *t;

	if (sp->sp_stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_send(&sm->sm_notify, msg);
	log_info("reloading", "{s:s}", "config", sp->sp_config_path);
	if (config_build(sp, sp->sp_config_path, sp->sp_config_explicit,
	    sp->sp_flags, sp->sp_nflags, err, sizeof(err)) == -1) {
		log_error("reload failed, keeping the running configuration",
		    "{s:s}", "error", err);
		sm->sm_notify.nt_note = "reload failed, running the previous "
		    "configuration";
		notify_status(sm, "READY=1\n");
		return;
	}
	/* The claimed UID range (uidlock.c) is the start's. */
	if (old.cf_tenant_uid_base != sp->sp_cf.cf_tenant_uid_base ||
	    old.cf_tenant_uid_count != sp->sp_cf.cf_tenant_uid_count) {
		log_warn("reload: tenant_uid_base and tenant_uid_count take "
		    "effect only after a restart", NULL);
		sp->sp_cf.cf_tenant_uid_base = old.cf_tenant_uid_base;
		sp->sp_cf.cf_tenant_uid_count = old.cf_tenant_uid_count;
	}
	if (strcmp(old.cf_host, sp->sp_cf.cf_host) != 0 ||
	    old.cf_port != sp->sp_cf.cf_port ||
	    strcmp(old.cf_state_dir, sp->sp_cf.cf_state_dir) != 0 ||
	    strcmp(old.cf_database_url, sp->sp_cf.cf_database_url) != 0 ||
	    strcmp(old.cf_control_socket, sp->sp_cf.cf_control_socket) != 0 ||
	    strcmp(old.cf_worker_path, sp->sp_cf.cf_worker_path) != 0 ||
	    strcmp(old.cf_cgroups, sp->sp_cf.cf_cgroups) != 0 ||
	    strcmp(old.cf_cgroup_name, sp->sp_cf.cf_cgroup_name) != 0 ||
	    strcmp(old.cf_secret_key, sp->sp_cf.cf_secret_key) != 0 ||
	    strcmp(old.cf_master_key, sp->sp_cf.cf_master_key) != 0 ||
	    old.cf_tls_port != sp->sp_cf.cf_tls_port ||
	    strcmp(old.cf_tls_host, sp->sp_cf.cf_tls_host) != 0) {
		log_warn("reload: host, port, tls_host, tls_port, state_dir, "
		    "database_url, control_socket, worker_path, cgroups, "
		    "cgroup_name, secret_key and master_key take effect only "
		    "after a restart", NULL);
		sp->sp_cf.cf_tls_port = old.cf_tls_port;
		memcpy(sp->sp_cf.cf_tls_host, old.cf_tls_host,
		    sizeof(old.cf_tls_host));
		memcpy(sp->sp_cf.cf_master_key, old.cf_master_key,
		    sizeof(old.cf_master_key));
		memcpy(sp->sp_cf.cf_cgroups, old.cf_cgroups,
		    sizeof(old.cf_cgroups));
		memcpy(sp->sp_cf.cf_cgroup_name, old.cf_cgroup_name,
		    sizeof(old.cf_cgroup_name));
		snprintf(sp->sp_cf.cf_host, sizeof(sp->sp_cf.cf_host), "%s",
		    old.cf_host);
		sp->sp_cf.cf_port = old.cf_port;
		memcpy(sp->sp_cf.cf_state_dir, old.cf_state_dir,
		    sizeof(old.cf_state_dir));
		memcpy(sp->sp_cf.cf_database_url, old.cf_database_url,
		    sizeof(old.cf_database_url));
		memcpy(sp->sp_cf.cf_control_socket, old.cf_control_socket,
		    sizeof(old.cf_control_socket));
		memcpy(sp->sp_cf.cf_worker_path, old.cf_worker_path,
		    sizeof(old.cf_worker_path));
		memcpy(sp->sp_cf.cf_secret_key, old.cf_secret_key,
		    sizeof(old.cf_secret_key));
	}
	if (strcmp(old.cf_metrics_listen, sp->sp_cf.cf_metrics_listen) != 0) {
		log_warn("reload: metrics_listen takes effect only after a "
		    "restart", NULL);
		memcpy(sp->sp_cf.cf_metrics_listen, old.cf_metrics_listen,
		    sizeof(old.cf_metrics_listen));
	}
	if (strcmp(old.cf_tenant_egress_range,
	    sp->sp_cf.cf_tenant_egress_range) != 0 ||
	    strcmp(old.cf_tenant_egress_allow,
	    sp->sp_cf.cf_tenant_egress_allow) != 0 ||
	    strcmp(old.cf_tenant_egress_deny,
	    sp->sp_cf.cf_tenant_egress_deny) != 0) {
		log_warn("reload: tenant_egress_range, tenant_egress_allow and "
		    "tenant_egress_deny take effect only after a restart", NULL);
		memcpy(sp->sp_cf.cf_tenant_egress_range,
		    old.cf_tenant_egress_range,
		    sizeof(old.cf_tenant_egress_range));
		memcpy(sp->sp_cf.cf_tenant_egress_allow,
		    old.cf_tenant_egress_allow,
		    sizeof(old.cf_tenant_egress_allow));
		memcpy(sp->sp_cf.cf_tenant_egress_deny,
		    old.cf_tenant_egress_deny,
		    sizeof(old.cf_tenant_egress_deny));
	}
	if (strcmp(old.cf_tenant_network, sp->sp_cf.cf_tenant_network) != 0) {
		if (workers_network_check(sp, err, sizeof(err)) == -1) {
			log_error("reload: tenant_network needs network "
			    "namespaces, which this host refuses; keeping the "
			    "running value", "{s:s,s:s,s:s}", "tenant_network",
			    sp->sp_cf.cf_tenant_network, "running",
			    old.cf_tenant_network, "error", err);
			memcpy(sp->sp_cf.cf_tenant_network,
			    old.cf_tenant_network,
			    sizeof(old.cf_tenant_network));
		} else {
			log_info("reload: tenant_network applies to workers "
			    "assigned from now on; running ones keep theirs",
			    "{s:s,s:s}", "tenant_network",
			    sp->sp_cf.cf_tenant_network, "was",
			    old.cf_tenant_network);
			if (strcmp(sp->sp_cf.cf_tenant_network, "host") == 0)
				log_warn(NETWORK_HOST_WARNING, NULL);
		}
	}
	log_set_level(sp->sp_cf.cf_log_level);
	log_set_text(log_format_is_text(sp->sp_cf.cf_log_format));
	/* A shorter audit_retention applies at once. */
	audit_prune(sp);
	if (policies_load(sp, err, sizeof(err)) == -1)
		log_error("reload: keeping the running seccomp policy", "{s:s}",
		    "error", err);
	auth_reload(sp);
	sp->sp_nspare_target = (unsigned)sp->sp_cf.cf_workers;
	ratelimit_tenant_changed(sp, NULL);
	tls_reload(sp);
	tenants = store_tenant_list(sp->sp_store, err, sizeof(err));
	json_array_foreach(tenants, i, t)
		workers_tenant_changed(sp, json_string_value(json_object_get(t,
		    "id")));
	json_decref(tenants);
	workers_refill(sp);
	log_info("configuration reloaded", NULL);
	sm->sm_notify.nt_note = NULL;
	notify_status(sm, "READY=1\n");
}

static int
state_dir_prepare(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state_dir %s is not a directory", dir);
		return -1;
	}
	/* Tenant workers must traverse it to reach their own homes. */
	if ((st.st_mode & 0711) != 0711 && chmod(dir, st.st_mode | 0711) == -1) {
		snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The host cannot give tenant_network: why, and what to set. The default
 * (egress) is never traded silently for the host's network: the daemon
 * stops and says which choices are left (none only when this host can
 * make a namespace with its loopback up).
 */
static void
network_refused(const struct config *cf, int test_only, const char *cause)
{
	char msg[1536], e[256];
	int fd, none_ok = 0;

	if (strcmp(cf->cf_tenant_network, "egress") == 0 &&
	    (fd = netns_new(NULL, e, sizeof(e))) != -1) {
		close(fd);
		none_ok = 1;
	}
	if (!cf->cf_tenant_network_set)
		snprintf(msg, sizeof(msg), "tenant_network is egress by "
		    "default, and this host cannot give it: %s; fix the host "
		    "(network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN, "
		    "egress nftables too) or choose in dataagent.conf: %s"
		    "tenant_network = host (tenants' servers share the host's "
		    "network and reach every listener on its loopback)", cause,
		    none_ok ? "tenant_network = none (each tenant's servers "
		    "get a loopback of their own and no network: no remote MCP "
		    "servers) or " : "");
	else
		snprintf(msg, sizeof(msg), "tenant_network = %s cannot be had "
		    "on this host: %s; fix the host or choose another "
		    "tenant_network (%s)", cf->cf_tenant_network, cause,
		    none_ok ? "none or host" : "host");
	/* One or the other, as config_error. */
	if (test_only)
		fprintf(stderr, "dataagentd: %s\n", msg);
	else
		log_error("tenant network refused by this host", "{s:s,s:s,"
		    "s:b,s:s}", "tenant_network", cf->cf_tenant_network,
		    "error", cause, "explicit", cf->cf_tenant_network_set,
		    "what", msg);
}

/*
 * A configuration that does not load: under -t the operator reads one
 * plain line (dataagentd: ...), else the daemon logs it as a JSON line
 * for the journal. Never both: on a terminal they were the same error
 * twice.
 */
static void
config_error(int test_only, const char *err)
{
	if (test_only)
		fprintf(stderr, "dataagentd: %s\n", err);
	else
		log_error("configuration error", "{s:s}", "error", err);
}

int
main(int argc, char **argv)
{
	static struct sup sp;
	static struct sup_main sm;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "db-url", required_argument, NULL, 'd' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct flag_set flags[MAX_FLAGS];
	int nflags = 0, ch, test_only = 0, explicit_cfg = 0, rc;
	const char *cfg_path = CONFIG_DEFAULT_PATH;
	char err[1024], redacted[CONFIG_STRLEN];
	struct dburl db;
	struct event_config *evcfg;

	mem_wipe_on_free();
	log_init("dataagentd", LOG_LVL_INFO);
	/* Before the master key, the token keys or a secret is read: a core
	 * of this process would hold them all. */
	if (mem_no_core(err, sizeof(err)) == -1) {
		log_error("cannot turn core dumps off", "{s:s}", "error", err);
		return 1;
	}
	/* Until the configuration says otherwise (or fails to load): the
	 * environment's form, else text on a terminal. */
	log_set_text(log_format_is_text(getenv("LOG_FORMAT")));
	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		const char *key = NULL;

		switch (ch) {
		case 'c':
			cfg_path = optarg;
			explicit_cfg = 1;
			break;
		case 'H': key = "host"; break;
		case 'p': key = "port"; break;
		case 'w': key = "workers"; break;
		case 'l': key = "log_level"; break;
		case 'F': key = "log_format"; break;
		case 'd': key = "database_url"; break;
		case 't':
			test_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dataagentd %s\n", DATAAGENT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (key != NULL && nflags < MAX_FLAGS) {
			flags[nflags].fs_key = key;
			flags[nflags].fs_value = optarg;
			nflags++;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	snprintf(sp.sp_config_path, sizeof(sp.sp_config_path), "%s", cfg_path);
	sp.sp_config_explicit = explicit_cfg;
	memcpy(sp.sp_flags, flags, sizeof(flags));
	sp.sp_nflags = nflags;
	if (config_build(&sp, cfg_path, explicit_cfg, flags, nflags, err,
	    sizeof(err)) == -1) {
		config_error(test_only, err);
		return 1;
	}
	log_set_level(sp.sp_cf.cf_log_level);
	log_set_text(log_format_is_text(sp.sp_cf.cf_log_format));
	if (dburl_parse(sp.sp_cf.cf_database_url, sp.sp_cf.cf_state_dir, &db,
	    err, sizeof(err)) == -1) {
		config_error(test_only, err);
		return 1;
	}
	/* What workers must not see: the SQLite file's directory, or a
	 * MySQL server's unix socket directory. */
	snprintf(sp.sp_db_path, sizeof(sp.sp_db_path), "%s",
	    db.db_kind == DBURL_MYSQL ? db.db_socket : db.db_path);
	if (worker_path_resolve(&sp, err, sizeof(err)) == -1 ||
	    policies_load(&sp, err, sizeof(err)) == -1) {
		config_error(test_only, err);
		return 1;
	}
	secrets_key_path(&sp.sp_cf, sp.sp_key_path, sizeof(sp.sp_key_path));
	switch (secrets_key_load(sp.sp_key_path, sp.sp_master_key, err,
	    sizeof(err))) {
	case -1:
		config_error(test_only, err);
		return 1;
	case 0:
		if (test_only)
			fprintf(stderr, "dataagentd: warning: no master key at "
			    "%s: tenant secrets cannot be set\n",
			    sp.sp_key_path);
		break;
	default:
		sp.sp_have_key = 1;
		break;
	}
	if (tls_check(&sp.sp_cf, err, sizeof(err)) == -1 ||
	    egress_check(&sp.sp_cf, err, sizeof(err)) == -1 ||
	    relays_check(&sp.sp_cf, err, sizeof(err)) == -1) {
		config_error(test_only, err);
		return 1;
	}
	if (test_only) {
		struct jwt_keyset *ks = NULL;

		if (strcmp(sp.sp_cf.cf_tenant_network, "host") == 0)
			fprintf(stderr, "dataagentd: warning: %s\n",
			    NETWORK_HOST_WARNING);
		else if (geteuid() != 0)
			fprintf(stderr, "dataagentd: warning: tenant_network = "
			    "%s is checked against this host only as root\n",
			    sp.sp_cf.cf_tenant_network);
		else if (egress_probe(&sp.sp_cf, err, sizeof(err)) == -1) {
			network_refused(&sp.sp_cf, 1, err);
			return 1;
		}

		explicit_bzero(&db, sizeof(db));
		if (auth_keys_build(&sp.sp_cf, &ks, err, sizeof(err)) == -1) {
			fprintf(stderr, "dataagentd: %s\n", err);
			return 1;
		}
		printf("dataagentd: %zu token key%s loaded\n",
		    jwt_keyset_count(ks), jwt_keyset_count(ks) == 1 ? "" : "s");
		jwt_keyset_free(&ks);
		printf("dataagentd: configuration %s is ok\n",
		    explicit_cfg ? cfg_path : "(defaults, file and environment)");
		return 0;
	}
	if (geteuid() != 0) {
		log_error("dataagentd must be started as root: it runs each "
		    "tenant's worker under the tenant's own UID", NULL);
		fprintf(stderr, "dataagentd: must be started as root (it runs "
		    "each tenant under its own UID)\n");
		return 1;
	}
	sm.sm_sup = &sp;
	if (notify_open(&sm.sm_notify, err, sizeof(err)) == -1) {
		log_error("cannot talk to the service manager", "{s:s}",
		    "error", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	/* A tenant process whose parent died (a server of a killed worker)
	 * is reparented to us, not to PID 1, and reaped by workers_reap:
	 * no zombie outlives its tenant, whatever init the host runs. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("cannot become a child subreaper", "{s:s}", "error",
		    strerror(errno));
	sp.sp_listen_fd = -1;
	sp.sp_metrics_fd = -1;
	sp.sp_started = now_wall();
	sp.sp_nspare_target = (unsigned)sp.sp_cf.cf_workers;

	/* Before anything runs under a tenant UID: two daemons sharing UIDs
	 * kill each other's workers when either stops. */
	sp.sp_uidlock_fd = -1;
	if (uidlock_take(&sp, err, sizeof(err)) == -1) {
		log_error("cannot claim the tenant UIDs", "{s:s}", "error",
		    err);
		fprintf(stderr, "dataagentd: %s\n", err);
		return 1;
	}
	log_info("tenant UIDs claimed", "{s:i,s:i}", "first",
	    sp.sp_cf.cf_tenant_uid_base + 1, "last",
	    sp.sp_cf.cf_tenant_uid_base + sp.sp_cf.cf_tenant_uid_count);

	if (state_dir_prepare(sp.sp_cf.cf_state_dir, err, sizeof(err)) == -1) {
		log_error("cannot prepare the state directory", "{s:s}",
		    "error", err);
		return 1;
	}
	/* Before any worker exists: under cgroup v2 the supervisor moves into
	 * its own leaf so tenant groups can sit beside it. */
	if (cg_open(&sp.sp_cg, sp.sp_cf.cf_cgroups, NULL, NULL, NULL,
	    sp.sp_cf.cf_cgroup_name, err,
	    sizeof(err)) == -1) {
		log_error("no usable cgroups: tenants would run without memory, "
		    "pids and CPU limits; fix the host or set cgroups = off",
		    "{s:s}", "error", err);
		fprintf(stderr, "dataagentd: no usable cgroups: %s (set "
		    "cgroups = off to run without per-tenant limits)\n", err);
		return 1;
	}
	if (cg_mode(sp.sp_cg) == CG_OFF)
		log_warn("cgroups are off: tenants have no memory, pids or CPU "
		    "limits", NULL);
	/* Never the host's network in place of one the operator asked for:
	 * a kernel that cannot make namespaces stops the daemon here. */
	if (workers_network_check(&sp, err, sizeof(err)) == -1) {
		network_refused(&sp.sp_cf, 0, err);
		return 1;
	}
	if (strcmp(sp.sp_cf.cf_tenant_network, "host") == 0)
		log_warn(NETWORK_HOST_WARNING, NULL);
	log_info("tenant network", "{s:s,s:s}", "tenant_network",
	    sp.sp_cf.cf_tenant_network, "what", strcmp(
	    sp.sp_cf.cf_tenant_network, "host") == 0 ? "tenants' servers "
	    "share the host's network and reach its loopback listeners" :
	    strcmp(sp.sp_cf.cf_tenant_network, "none") == 0 ? "each tenant's "
	    "worker and servers in a network namespace of their own, "
	    "loopback only" : "each tenant's worker and servers in a network "
	    "namespace of their own, out through a veth pair and this "
	    "daemon's nftables rules, never to the host itself");
	dburl_redact(sp.sp_cf.cf_database_url, redacted, sizeof(redacted));
	rc = store_open_url(&sp.sp_store, &db, err, sizeof(err));
	explicit_bzero(&db, sizeof(db));
	if (rc == -1) {
		log_error("cannot open the store", "{s:s,s:s}", "database_url",
		    redacted, "error", err);
		return 1;
	}
	log_info("store open", "{s:s,s:i}", "store",
	    store_describe(sp.sp_store), "schema_version",
	    store_schema_version(sp.sp_store));
	if (secrets_start(&sp, err, sizeof(err)) == -1) {
		log_error("cannot use the tenant secrets", "{s:s}", "error",
		    err);
		fprintf(stderr, "dataagentd: %s\n", err);
		return 1;
	}

	/* The front door peeks without consuming: it needs edge-triggered
	 * readiness (epoll), or a half-sent head would spin the loop. */
	evcfg = event_config_new();
	if (evcfg == NULL ||
	    event_config_require_features(evcfg, EV_FEATURE_ET) == -1 ||
	    (sp.sp_base = event_base_new_with_config(evcfg)) == NULL) {
		log_error("cannot create an event loop with edge-triggered "
		    "readiness (epoll)", NULL);
		return 1;
	}
	event_config_free(evcfg);
	sp.sp_ev_sigchld = evsignal_new(sp.sp_base, SIGCHLD, on_sigchld, &sp);
	sp.sp_ev_sigterm = evsignal_new(sp.sp_base, SIGTERM, on_sigterm, &sm);
	sp.sp_ev_sigint = evsignal_new(sp.sp_base, SIGINT, on_sigterm, &sm);
	sp.sp_ev_sighup = evsignal_new(sp.sp_base, SIGHUP, on_sighup, &sm);
	if (sp.sp_ev_sigchld == NULL || sp.sp_ev_sigterm == NULL ||
	    sp.sp_ev_sigint == NULL || sp.sp_ev_sighup == NULL) {
		log_error("cannot set up signals", NULL);
		return 1;
	}
	event_add(sp.sp_ev_sigchld, NULL);
	event_add(sp.sp_ev_sigterm, NULL);
	event_add(sp.sp_ev_sigint, NULL);
	event_add(sp.sp_ev_sighup, NULL);

	if (auth_start(&sp, err, sizeof(err)) == -1) {
		log_error("cannot load the token keys or revocations", "{s:s}",
		    "error", err);
		fprintf(stderr, "dataagentd: %s\n", err);
		return 1;
	}
	if (control_open(&sp, err, sizeof(err)) == -1) {
		log_error("cannot open the control socket", "{s:s,s:s}", "path",
		    sp.sp_cf.cf_control_socket, "error", err);
		return 1;
	}
	if (audit_init(&sp) == -1) {
		log_error("cannot start the audit timers", NULL);
		return 1;
	}
	if (ratelimit_init(&sp) == -1) {
		log_error("out of memory", NULL);
		return 1;
	}
	if (sp.sp_cf.cf_node_name[0] != '\0')
		snprintf(sp.sp_node, sizeof(sp.sp_node), "%.16s",
		    sp.sp_cf.cf_node_name);
	else
		node_name_default(sp.sp_node, sizeof(sp.sp_node));
	workers_init(&sp);
	workers_refill(&sp);
	if (relays_start(&sp, err, sizeof(err)) == -1) {
		log_error("cannot start the relays", "{s:s}", "error", err);
		fprintf(stderr, "dataagentd: relays: %s\n", err);
		workers_stop_all(&sp);
		return 1;
	}
	if (cluster_start(&sp, err, sizeof(err)) == -1) {
		log_error("cannot read the shared store", "{s:s}", "error", err);
		workers_stop_all(&sp);
		return 1;
	}
	log_info("starting", "{s:s,s:s,s:s,s:i,s:s}", "version",
	    DATAAGENT_VERSION, "database_url", redacted, "worker",
	    sp.sp_worker_path, "spares", sp.sp_cf.cf_workers, "node",
	    sp.sp_node);
	if (front_listen(&sp, err, sizeof(err)) == -1 ||
	    tls_open(&sp, err, sizeof(err)) == -1) {
		log_error("cannot listen", "{s:s}", "error", err);
		workers_stop_all(&sp);
		return 1;
	}
	if (notify_watchdog_start(&sm) == -1) {
		log_error("cannot arm the watchdog timer", NULL);
		workers_stop_all(&sp);
		return 1;
	}
	notify_status(&sm, "READY=1\n");

	event_base_dispatch(sp.sp_base);

	/* The workers are gone: so is every tenant cgroup (a v1 group would
	 * otherwise outlive the service). */
	tenants_forget_all(&sp);
	cluster_stop(&sp);
	control_close(&sp);
	auth_free(&sp);
	audit_free(&sp);
	store_close(&sp.sp_store);
	metrics_free(&sp);
	quota_free(&sp);
	tls_free(&sp);
	relays_free(&sp);
	ratelimit_free(&sp);
	event_free(sp.sp_ev_sigchld);
	event_free(sp.sp_ev_sigterm);
	event_free(sp.sp_ev_sigint);
	event_free(sp.sp_ev_sighup);
	notify_close(&sm.sm_notify);
	if (sp.sp_ev_refill != NULL)
		event_free(sp.sp_ev_refill);
	event_base_free(sp.sp_base);
	free(sp.sp_upstream_policy);
	free(sp.sp_worker_policy);
	egress_close(&sp);
	cg_close(&sp.sp_cg);
	OPENSSL_cleanse(sp.sp_master_key, sizeof(sp.sp_master_key));
	/* Last: nothing runs under the tenant UIDs any more. */
	uidlock_release(&sp);
	log_info("stopped", NULL);
	return 0;
}
