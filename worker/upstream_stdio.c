/*
 * upstream_stdio.c: stdio MCP servers, the transport of upstream_int.h's
 * up_stdio_transport.
 *
 * The process is started through the launcher (launcher.c: fork + exec,
 * own process group, a minimal environment, the tenant's home as cwd,
 * the MCP-server seccomp policy) and spoken to in newline-delimited
 * JSON-RPC on its stdin and stdout; every line it writes ends in
 * up_on_line. Its stderr is logged, rate limited. An EOF on stdout waits
 * a moment for the exit status, which says more (a signal, an OOM kill).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "worker.h"
#include "upstream_int.h"

#define UP_STDERR_MAX_LINE	2048
#define UP_STDERR_LINES		20	/* per UP_STDERR_WINDOW_MS */
#define UP_STDERR_WINDOW_MS	10000
#define UP_EOF_GRACE_MS		500	/* stdout EOF to SIGCHLD */
#define UP_PATH			"/usr/local/bin:/usr/bin:/bin"

/* -------------------------------------------------------------- process */

/* SIGKILLs pid's process group; the launcher reaps it, and nobody here
 * asks how it ended. */
static void
up_kill_reap(struct wrk *w, pid_t pid)
{
	if (pid <= 0)
		return;
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	launcher_forget(w, pid);
}

/* ut_send: one message as a line on the server's stdin. */
static int
up_stdio_send(struct upstream *u, const json_t *msg)
{
	struct evbuffer *out;
	char *s;
	int rc;

	if (u->u_in == NULL)
		return -1;
	if ((s = json_dumps(msg, JSON_COMPACT)) == NULL)
		return -1;
	out = bufferevent_get_output(u->u_in);
	rc = evbuffer_add(out, s, strlen(s)) == 0 &&
	    evbuffer_add(out, "\n", 1) == 0 ? 0 : -1;
	free(s);
	return rc;
}

/* ut_close: closes the pipes and kills the process group (if still
 * there). */
static void
up_stdio_close(struct upstream *u)
{
	if (u->u_in != NULL)
		bufferevent_free(u->u_in);
	if (u->u_out != NULL)
		bufferevent_free(u->u_out);
	if (u->u_err != NULL)
		bufferevent_free(u->u_err);
	u->u_in = u->u_out = u->u_err = NULL;
	if (u->u_ev_eof != NULL)
		event_del(u->u_ev_eof);
	u->u_eof_why = NULL;
	/* Whatever the server started lives in its group: end it too, even
	 * when the leader itself was already reaped. */
	if (u->u_pgid > 0)
		(void)kill(-u->u_pgid, SIGKILL);
	if (u->u_pid > 0)
		up_kill_reap(u->u_wrk, u->u_pid);
	u->u_pid = -1;
	u->u_pgid = -1;
}

static void
up_describe_status(struct upstream *u, int status, char *buf, size_t len)
{
	int64_t ooms;

	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "killed by signal %d: a system call its "
		    "seccomp policy forbids", SIGSYS);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    (ooms = wrk_oom_kills(u->u_wrk)) >= 0 && u->u_oom_base >= 0 &&
	    ooms > u->u_oom_base)
		snprintf(buf, len, "killed by signal %d: the OOM killer, at the "
		    "tenant's memory limit", SIGKILL);
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* Handles every complete line buffered on stdout. Returns -1 when the
 * process was closed meanwhile (protocol error). */
static int
up_read_lines(struct upstream *u)
{
	struct bufferevent *bev = u->u_out;
	struct evbuffer *in;
	size_t len;
	char *line;

	if (bev == NULL)
		return -1;
	in = bufferevent_get_input(bev);
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (len > UP_MAX_LINE) {
			free(line);
			goto too_long;
		}
		up_on_line(u, line, len);
		free(line);
		if (u->u_out != bev)
			return -1;
	}
	if (evbuffer_get_length(in) > UP_MAX_LINE)
		goto too_long;
	return 0;
too_long:
	log_warn("upstream line too long", "{s:s,s:s,s:i}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "limit",
	    (int)UP_MAX_LINE);
	up_died(u, "protocol error: line longer than 16 MiB");
	return -1;
}

static void
up_on_stdout(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;

	u->u_last_used_ms = now_mono_ms();
	wrk_touch(u->u_wrk);
	(void)up_read_lines(u);
}

/* Reads what is left in the stdout pipe (non-blocking) and handles it:
 * an answer written just before exit still reaches its caller. */
static int
up_drain_stdout(struct upstream *u)
{
	struct evbuffer *in;
	int fd, n, guard = 0;

	if (u->u_out == NULL)
		return -1;
	in = bufferevent_get_input(u->u_out);
	fd = bufferevent_getfd(u->u_out);
	while (fd >= 0 && guard++ < 64 &&
	    (n = evbuffer_read(in, fd, 65536)) > 0)
		if (evbuffer_get_length(in) > UP_MAX_LINE)
			break;
	return up_read_lines(u);
}

static void
up_on_eof_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct upstream *u = arg;

	up_died(u, u->u_eof_why != NULL ? u->u_eof_why : "closed its stdout");
}

/*
 * The server's end of a pipe is gone (EOF or an error on its stdout, its
 * stdin closed): the process is exiting. Its exit status says more (a
 * signal, an OOM kill) than the pipe: wait for SIGCHLD a moment
 * (upstream_reap), and say why_pipe only if none comes.
 */
static void
up_pipe_gone(struct upstream *u, struct bufferevent *bev,
    const char *why_pipe)
{
	struct timeval tv = { 0, UP_EOF_GRACE_MS * 1000 };
	char why[128];
	int status;

	if (up_drain_stdout(u) == -1)
		return;
	if (u->u_pid > 0 && launcher_exited(u->u_wrk, u->u_pid, &status)) {
		u->u_pid = -1;
		up_describe_status(u, status, why, sizeof(why));
		up_died(u, why);
		return;
	}
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (u->u_ev_eof != NULL && u->u_pid > 0) {
		if (u->u_eof_why == NULL)
			u->u_eof_why = why_pipe;
		event_add(u->u_ev_eof, &tv);
		return;
	}
	up_died(u, why_pipe);
}

static void
up_on_stdout_event(struct bufferevent *bev, short what, void *arg)
{
	up_pipe_gone(arg, bev, (what & BEV_EVENT_EOF) ? "closed its stdout" :
	    "stdout read error");
}

static void
up_on_stdin_event(struct bufferevent *bev, short what, void *arg)
{
	up_pipe_gone(arg, bev, "stdin closed");
}

/* --------------------------------------------------------------- stderr */

static void
up_log_stderr(struct upstream *u, const char *line, size_t len)
{
	int64_t now = now_mono_ms();
	json_t *t;

	if (now - u->u_err_window_ms >= UP_STDERR_WINDOW_MS) {
		u->u_err_window_ms = now;
		u->u_err_lines = 0;
	}
	u->u_err_lines++;
	if (u->u_err_lines > UP_STDERR_LINES + 1)
		return;
	if (u->u_err_lines == UP_STDERR_LINES + 1) {
		log_info("upstream stderr", "{s:s,s:s,s:s}", "tenant",
		    u->u_wrk->w_tenant, "server", u->u_name, "line",
		    "(more stderr lines suppressed for up to 10 s)");
		return;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	t = json_string_lossy(line, len > UP_STDERR_MAX_LINE ? UP_STDERR_MAX_LINE : len);
	log_info("upstream stderr", "{s:s,s:s,s:o}", "tenant",
	    u->u_wrk->w_tenant, "server", u->u_name, "line",
	    t != NULL ? t : json_string(""));
}

static void
up_on_stderr(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[UP_STDERR_MAX_LINE];
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		up_log_stderr(u, line, len);
		free(line);
	}
	/* A very long line without a newline is logged in pieces. */
	while (evbuffer_get_length(in) >= sizeof(buf)) {
		len = evbuffer_remove(in, buf, sizeof(buf));
		up_log_stderr(u, buf, len);
	}
}

static void
up_on_stderr_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream *u = arg;

	/* stdout and the process tell when it is gone; just stop reading. */
	if (u->u_err == bev) {
		up_on_stderr(bev, u);
		bufferevent_disable(bev, EV_READ);
	}
}


static void
up_strv_free(char **v)
{
	char **p;

	if (v == NULL)
		return;
	/* argv and envp may hold secrets' values */
	for (p = v; *p != NULL; p++) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(v);
}

/* argv from the spec: command, then args as they are (a spec whose args
 * refer to a secret never gets here: up_spec_check). */
static char **
up_build_argv(const struct upstream *u, const json_t *spec)
{
	const json_t *args = json_object_get(spec, "args"), *a;
	char **argv;
	size_t i, n = json_array_size(args);

	if ((argv = calloc(n + 2, sizeof(*argv))) == NULL)
		return NULL;
	argv[0] = strdup(json_string_value(json_object_get(spec, "command")));
	if (argv[0] == NULL)
		goto fail;
	json_array_foreach(args, i, a) {
		if ((argv[i + 1] = strdup(json_string_value(a))) == NULL)
			goto fail;
	}
	return argv;
fail:
	up_strv_free(argv);
	return NULL;
}

/* PATH and HOME, then the spec's env (which may override them), its
 * ${secret:NAME} references replaced with u's values. */
static char **
up_build_envp(const struct upstream *u, const json_t *spec, const char *home)
{
	const json_t *env = json_object_get(spec, "env"), *v;
	const char *key;
	char **envp, *kv, *val;
	int rc;
	size_t n = 0, i, klen;

	if ((envp = calloc(json_object_size(env) + 3, sizeof(*envp))) == NULL)
		return NULL;
	if (asprintf(&envp[n++], "PATH=%s", UP_PATH) == -1) {
		envp[--n] = NULL;
		goto fail;
	}
	if (asprintf(&envp[n++], "HOME=%s", home) == -1) {
		envp[--n] = NULL;
		goto fail;
	}
	json_object_foreach((json_t *)env, key, v) {
		if ((val = up_expand(u, json_string_value(v))) == NULL)
			goto fail;
		rc = asprintf(&kv, "%s=%s", key, val);
		explicit_bzero(val, strlen(val));
		free(val);
		if (rc == -1)
			goto fail;
		klen = strlen(key) + 1;
		for (i = 0; i < n; i++)
			if (strncmp(envp[i], kv, klen) == 0)
				break;
		if (i < n)
			free(envp[i]);
		else
			n++;
		envp[i] = kv;
	}
	return envp;
fail:
	up_strv_free(envp);
	return NULL;
}

static struct bufferevent *
up_bev(struct upstream *u, int *fd, bufferevent_data_cb rd,
    bufferevent_event_cb ev, short enable)
{
	struct bufferevent *bev;

	if (fd_nonblock(*fd) == -1)
		return NULL;
	bev = bufferevent_socket_new(u->u_wrk->w_base, *fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	*fd = -1;
	bufferevent_setcb(bev, rd, NULL, ev, u);
	bufferevent_enable(bev, enable);
	return bev;
}

/*
 * Starts the process and sends initialize. Returns 0 (state STARTING), or
 * -1 with u_last_error set (state FAILED).
 */
static int
up_spawn(struct upstream *u)
{
	struct wrk *w = u->u_wrk;
	struct launch_result lr;
	char **argv = NULL, **envp = NULL;
	int in_w = -1, out_r = -1, err_r = -1;	/* our ends */
	const char *cmd;
	pid_t pid;
	int r, retryable = 0;

	cmd = json_string_value(json_object_get(u->u_spec, "command"));
	argv = up_build_argv(u, u->u_spec);
	envp = up_build_envp(u, u->u_spec, w->w_home);
	if (argv == NULL || envp == NULL) {
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "out of memory");
		goto fail;
	}
	r = launcher_spawn(w, argv, envp, w->w_home, &lr);
	up_strv_free(argv);
	up_strv_free(envp);
	argv = envp = NULL;
	if (r == -1) {
		/* Another attempt will not find a missing program. */
		retryable = lr.lr_stage != LAUNCH_STAGE_EXEC ||
		    (lr.lr_errno != ENOENT && lr.lr_errno != EACCES &&
		    lr.lr_errno != ENOEXEC);
		if (lr.lr_stage == LAUNCH_STAGE_EXEC && lr.lr_errno == ENOENT)
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "command not found: %.300s", cmd);
		else if (lr.lr_stage == LAUNCH_STAGE_EXEC)
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "cannot run %.300s: %s", cmd, strerror(lr.lr_errno));
		else if (lr.lr_stage == LAUNCH_STAGE_SECCOMP)
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "cannot install the seccomp filter: %s",
			    strerror(lr.lr_errno));
		else if (lr.lr_stage == LAUNCH_STAGE_CHDIR)
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "cannot enter %.300s: %s", w->w_home,
			    strerror(lr.lr_errno));
		else if (lr.lr_stage == LAUNCH_STAGE_REQUEST)
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "the launcher is unavailable: %s",
			    strerror(lr.lr_errno));
		else
			snprintf(u->u_last_error, sizeof(u->u_last_error),
			    "cannot set up the process: %s",
			    strerror(lr.lr_errno));
		goto fail;
	}
	pid = lr.lr_pid;
	in_w = lr.lr_in;
	out_r = lr.lr_out;
	err_r = lr.lr_err;

	u->u_pid = pid;
	u->u_eof_why = NULL;
	u->u_pgid = pid;
	u->u_oom_base = wrk_oom_kills(w);
	u->u_in = up_bev(u, &in_w, NULL, up_on_stdin_event, EV_WRITE);
	u->u_out = up_bev(u, &out_r, up_on_stdout, up_on_stdout_event,
	    EV_READ);
	u->u_err = up_bev(u, &err_r, up_on_stderr, up_on_stderr_event,
	    EV_READ);
	if (u->u_in == NULL || u->u_out == NULL || u->u_err == NULL) {
		fd_close(&in_w);
		fd_close(&out_r);
		fd_close(&err_r);
		up_proc_close(u);
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "cannot watch the process pipes");
		goto fail;
	}
	u->u_state = UP_STARTING;
	u->u_started_ms = u->u_last_used_ms = now_mono_ms();
	u->u_err_window_ms = 0;
	u->u_err_lines = 0;
	log_info("upstream started", "{s:s,s:s,s:s,s:i}", "tenant",
	    w->w_tenant, "server", u->u_name, "command", cmd, "upstream_pid", (int)pid);

	/* initialize goes out at once; callers' requests wait for it. */
	if (up_queue_initialize(u, 1) == -1) {
		up_proc_close(u);
		snprintf(u->u_last_error, sizeof(u->u_last_error),
		    "out of memory");
		goto fail;
	}
	return 0;

fail:
	fd_close(&in_w);
	fd_close(&out_r);
	fd_close(&err_r);
	up_strv_free(argv);
	up_strv_free(envp);
	/* (up_proc_close already counted a start that got as far) */
	if (u->u_state != UP_STARTING)
		counters_upstream(w, u->u_name, CN_CONNECT_FAILED, 0);
	u->u_started_ms = 0;
	log_warn("upstream failed to start", "{s:s,s:s,s:s}", "tenant",
	    w->w_tenant, "server", u->u_name, "error", u->u_last_error);
	(void)up_retry_schedule(u, 0, retryable, up_error(UP_ERR_GONE,
	    "upstream %s failed: %s", u->u_name, u->u_last_error));
	return -1;
}

/* ----------------------------------------------------------- transport */

static int
up_stdio_new(struct upstream *u)
{
	u->u_ev_eof = evtimer_new(u->u_wrk->w_base, up_on_eof_timer, u);
	return u->u_ev_eof != NULL ? 0 : -1;
}

static void
up_stdio_free(struct upstream *u)
{
	up_event_free(&u->u_ev_eof);
}

/* ut_init_failed: it runs but does not answer as a server: not retried
 * while calls wait. */
static void
up_stdio_init_failed(struct upstream *u)
{
	up_proc_close(u);
	u->u_started_ms = 0;	/* never served: back off */
	(void)up_retry_schedule(u, 0, 0, up_error(UP_ERR_GONE,
	    "upstream %s failed to start: %s", u->u_name, u->u_last_error));
}

const struct up_transport up_stdio_transport = {
	.ut_name = "stdio",
	.ut_new = up_stdio_new,
	.ut_free = up_stdio_free,
	.ut_start = up_spawn,
	.ut_send = up_stdio_send,
	.ut_close = up_stdio_close,
	.ut_handshake = NULL,
	.ut_ready = NULL,
	.ut_init_failed = up_stdio_init_failed,
	.ut_resend = 0,
	.ut_relaunch = 1,	/* a crash restarts it on next use */
};

/* ------------------------------------------------------------ periodic */

void
upstream_reap(struct wrk *w)
{
	struct upstream *u;
	char why[128];
	int status;

	for (u = w->w_upstreams; u != NULL; u = u->u_next) {
		if (u->u_pid <= 0 || !launcher_exited(w, u->u_pid, &status))
			continue;
		u->u_pid = -1;		/* reaped: nothing left to kill */
		up_describe_status(u, status, why, sizeof(why));
		if (up_drain_stdout(u) == -1)
			continue;	/* the drain already ended it */
		up_died(u, why);
	}
}
