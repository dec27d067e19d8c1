/*
 * fuzz_wrk_upstream.c: what a worker does with the bytes a tenant's MCP
 * server writes (tenant code writes them): the stdio transport's line
 * reader (upstream_stdio.c), then upstream.c's handling of each
 * JSON-RPC message (the initialize answer, responses matched to calls
 * by id, batches, notifications, requests from the server) and mcp.c's
 * relay of those to clients (its up_events, as the worker registers
 * them), and the server's stderr logger.
 *
 * The worker code is real and unchanged; this file links every worker
 * object but main.c (libFuzzer has the main) and launcher.c: it plays
 * the launcher and the server. launcher_spawn hands the worker pipes
 * whose other ends are ours; the fuzz input is what the server writes
 * on its stdout. The server's pid is a child of ours that never runs,
 * in a process group of its own, so the SIGKILLs the worker sends
 * reach nothing else. The supervisor is absent (w_ipc NULL): slots are
 * taken at once, as a worker with no supervisor does.
 *
 * Input: one byte of flags, then the server's stdout, in chunks split
 * at NUL bytes: the worker reads each before the next is written.
 *   0x01  a tools/list (upstream_tools, following nextCursor pages);
 *         also when none of 0x07 is set: a call starts the server
 *   0x02  a tools/call (ids 2, 3, ... in the order asked; initialize
 *         is 1)
 *   0x04  a resources/read
 *   0x08  the tools/call is cancelled after the first chunk (the client
 *         went away: notifications/cancelled goes out)
 *   0x10  the server closes its stdout after writing (EOF), and the
 *         launcher reports its exit: status 0, 1, SIGKILL or SIGSYS
 *         (bits 0x60)
 *   0x80  the same bytes also go to its stderr
 * Every callback must run exactly once (worker.h's contract for
 * upstream_request and upstream_tools): the target traps otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "worker.h"
#include "upstream_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct wrk fz_w;
static pid_t fz_sleeper = -1;
/* The server's ends of the pipes of the current input. */
static int fz_stdin = -1, fz_stdout = -1, fz_stderr = -1;
static int fz_exited;		/* launcher_exited reports this once */
static int fz_status;

static void
fz_die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_wrk_upstream: %s: %s\n", what, err);
	exit(1);
}

static void
fz_cleanup(void)
{
	if (fz_sleeper > 0)
		kill(fz_sleeper, SIGKILL);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct wrk *w = &fz_w;

	log_init("worker", getenv("FUZZ_LOG") != NULL ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	/* As worker/main.c sets them before the first IPC_CONFIG. */
	w->w_oom_fd = -1;
	w->w_set.ws_max_upstreams = 10;
	w->w_set.ws_call_timeout_ms = 30000;
	w->w_set.ws_idle_timeout_s = 300;
	w->w_set.ws_max_retries = 3;
	w->w_set.ws_retry_delay_ms = 1000;
	w->w_set.ws_reconnect_ms = 300000;
	w->w_set.ws_tool_cache_ttl_s = 300;
	w->w_set.ws_max_body = 1024 * 1024;
	w->w_assigned = 1;
	snprintf(w->w_tenant, sizeof(w->w_tenant), "t1");
	snprintf(w->w_home, sizeof(w->w_home), "/");
	if ((w->w_base = event_base_new()) == NULL)
		fz_die("event_base_new", "out of memory");
	mcp_init(w);
	if ((fz_sleeper = fork()) == -1)
		fz_die("fork", strerror(errno));
	if (fz_sleeper == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	setpgid(fz_sleeper, fz_sleeper);
	atexit(fz_cleanup);
	return 0;
}

/* ------------------------------------------- what main.c would provide */

void
wrk_touch(struct wrk *w)
{
	w->w_last_activity_ms = now_mono_ms();
	w->w_retiring = 0;
}

/* No cgroup OOM counter (main.c answers -1 when w_oom_fd is -1). */
int64_t
wrk_oom_kills(struct wrk *w)
{
	return -1;
}

/* Client-side and supervisor paths: no client connection exists here,
 * so nothing the server writes may lead to them. */
void
wrk_stats(struct wrk *w)
{
	abort();
}

void
wrk_store_request(struct wrk *w, json_t *op, store_cb cb, void *arg)
{
	abort();
}

void
wrk_drain_check(struct wrk *w)
{
	abort();
}

int
wrk_handback(struct wrk *w, int fd, const uint8_t *pre, size_t prelen)
{
	abort();
}

/* ------------------------------------------------------- the launcher */

static void
fz_close(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

int
launcher_spawn(struct wrk *w, char *const argv[], char *const envp[],
    const char *cwd, struct launch_result *lr)
{
	int in[2], out[2], err[2];

	memset(lr, 0, sizeof(*lr));
	/* A restart: the last server's ends go. */
	fz_close(&fz_stdin);
	fz_close(&fz_stdout);
	fz_close(&fz_stderr);
	/* Non-blocking: the worker makes its own ends so anyway, and ours
	 * must not wait on a worker that stopped reading. */
	if (pipe2(in, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(out, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(err, O_CLOEXEC | O_NONBLOCK) == -1)
		fz_die("pipe2", strerror(errno));
	lr->lr_pid = fz_sleeper;
	lr->lr_in = in[1];
	lr->lr_out = out[0];
	lr->lr_err = err[0];
	fz_stdin = in[0];
	fz_stdout = out[1];
	fz_stderr = err[1];
	return 0;
}

int
launcher_exited(struct wrk *w, pid_t pid, int *status_r)
{
	if (!fz_exited || pid != fz_sleeper)
		return 0;
	fz_exited = 0;
	*status_r = fz_status;
	return 1;
}

void
launcher_forget(struct wrk *w, pid_t pid)
{
}

/* Remote servers: not started by this target. */
struct launcher_conn *
launcher_connect(struct wrk *w, const char *host, const char *port,
    unsigned index, launcher_connect_cb cb, void *arg)
{
	abort();
}

void
launcher_connect_cancel(struct launcher_conn **lc)
{
	abort();
}

int
launcher_open(struct wrk *w, const char *path, int *fd_r)
{
	abort();
}

/* ------------------------------------------------------------ the run */

static unsigned fz_outstanding;	/* callbacks owed */

static void
fz_cb(json_t *result, json_t *error, void *arg)
{
	struct upstream_call **cp = arg;

	/* Exactly one of result and error. */
	if ((result == NULL) == (error == NULL) || fz_outstanding == 0)
		__builtin_trap();
	if (cp != NULL)
		*cp = NULL;
	fz_outstanding--;
}

/* Writes as a server would. -1 when the worker no longer reads (it
 * closed the pipe: EPIPE; or stopped reading and the pipe is full:
 * EAGAIN), as a server would find. */
static int
fz_write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && (errno == EPIPE || errno == EAGAIN))
			return -1;
		if (n <= 0)
			fz_die("write", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Runs the loop until the worker has read what the server wrote. */
static void
fz_settle(struct upstream *u)
{
	char junk[65536];
	int i, avail;

	for (i = 0; i < 1000; i++) {
		event_base_loop(fz_w.w_base, EVLOOP_NONBLOCK);
		/* What the worker sent the server: read and dropped. */
		while (fz_stdin != -1 && read(fz_stdin, junk, sizeof(junk)) > 0)
			;
		if (u->u_out == NULL || ioctl(bufferevent_getfd(u->u_out),
		    FIONREAD, &avail) == -1 || avail == 0)
			break;
	}
	event_base_loop(fz_w.w_base, EVLOOP_NONBLOCK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = { 0, 1 << 8, SIGKILL, SIGSYS };
	struct wrk *w = &fz_w;
	struct upstream *u;
	struct upstream_call *tools = NULL, *call = NULL, *rd = NULL;
	json_t *spec;
	size_t pos, end;
	uint8_t fl;
	int i;

	if (size < 1)
		return 0;
	fl = data[0];
	if ((fl & 0x07) == 0)
		fl |= 0x01;	/* a call starts the server: at least one */
	data++;
	size--;
	spec = json_pack("{s:s,s:s,s:s,s:[],s:{},s:b,s:[],s:[]}", "name",
	    "srv", "transport", "stdio", "command", "/fuzz/server", "args",
	    "env", "enabled", 1, "allow_tools", "deny_tools");
	if (spec == NULL || (u = upstream_new(w, spec)) == NULL)
		fz_die("upstream_new", "refused the spec");
	json_decref(spec);
	if (fl & 0x01) {
		fz_outstanding++;
		if ((tools = upstream_tools(u, fz_cb, &tools)) == NULL)
			fz_die("upstream_tools", "out of memory");
	}
	if (fl & 0x02) {
		fz_outstanding++;
		if ((call = upstream_request(u, "tools/call", json_pack(
		    "{s:s,s:{s:s}}", "name", "echo", "arguments", "message",
		    "hi"), 0, fz_cb, &call)) == NULL)
			fz_die("upstream_request", "out of memory");
	}
	if (fl & 0x04) {
		fz_outstanding++;
		if ((rd = upstream_request(u, "resources/read", json_pack(
		    "{s:s}", "uri", "file:///x"), 0, fz_cb, &rd)) == NULL)
			fz_die("upstream_request", "out of memory");
	}
	if (fz_stdout == -1)
		fz_die("launcher_spawn", "the worker did not start the server");
	/* Each NUL-separated chunk is written, then read by the worker
	 * before the next: an answer may come after the request it
	 * answers went out (a second tools/list page). */
	for (pos = 0; pos <= size && fz_stdout != -1; pos = end + 1) {
		end = pos;
		while (end < size && data[end] != '\0')
			end++;
		if (fz_write_all(fz_stdout, data + pos, end - pos) == -1)
			fz_close(&fz_stdout);
		if ((fl & 0x80) && fz_stderr != -1 && fz_write_all(fz_stderr,
		    data + pos, end - pos) == -1)
			fz_close(&fz_stderr);
		fz_settle(u);
		if ((fl & 0x08) && call != NULL) {
			upstream_call_cancel(&call);
			fz_outstanding--;
		}
	}
	if (fl & 0x10) {
		fz_exited = 1;
		fz_status = statuses[(fl >> 5) & 3];
		fz_close(&fz_stdout);
		fz_close(&fz_stderr);
	}
	fz_settle(u);
	upstream_free_all(w);
	for (i = 0; i < 16 && fz_outstanding > 0; i++)
		event_base_loop(w->w_base, EVLOOP_NONBLOCK);
	if (fz_outstanding != 0)
		__builtin_trap();
	fz_exited = 0;
	fz_close(&fz_stdin);
	fz_close(&fz_stdout);
	fz_close(&fz_stderr);
	return 0;
}
