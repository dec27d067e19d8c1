/*
 * fuzz_sup_wmsg.c: the supervisor's handler of every message a worker
 * sends (workers.c on_worker_msg), payloads and all, as a compromised
 * worker would send them.
 *
 * on_worker_msg is static, and it is the code under test, unchanged:
 * this file includes workers.c and links the rest of the supervisor but
 * main.c. The supervisor around it is real: a SQLite store (a temporary
 * file) with one tenant, a master key, metrics, audit, rate limits and
 * an event base; cgroups and egress are off. Replies the handler sends
 * queue on a real channel whose far end nobody reads.
 *
 * Input: one byte, the worker's state (starting, spare, assigning,
 * active, retiring; a spare or starting one has no tenant yet), then IPC
 * frames as on the wire (common/ipc.c). A frame with IPC_F_FD comes with
 * an fd, as the channel would deliver it: one end of a Unix socketpair
 * (what a TLS relay's handback is). A TCP socket is not handed back
 * here: front_adopt starts a whole HTTP exchange, which fuzz_httphead
 * covers. A frame the handler refuses ends the worker as the channel
 * would (on_worker_error), and the frames after it are not read.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "../../supervisor/workers.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_TENANT "t1"

static struct sup fz_sup;
static pid_t fz_sleeper = -1;	/* what a worker's pid names: SIGKILLs land
				 * on a child of ours that never runs, never
				 * on a pid someone else may hold */
static char fz_dir[] = "/tmp/fuzz-sup-wmsg-XXXXXX";

/* The sleeper and the store go with the fuzzer (libFuzzer exits
 * through exit()). */
static void
fz_cleanup(void)
{
	char path[sizeof(fz_dir) + 16];

	if (fz_sleeper > 0)
		kill(fz_sleeper, SIGKILL);
	store_close(&fz_sup.sp_store);
	snprintf(path, sizeof(path), "%s/db", fz_dir);
	unlink(path);
	rmdir(fz_dir);
}

static void
fz_die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_sup_wmsg: %s: %s\n", what, err);
	exit(1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sup *sp = &fz_sup;
	char err[512], db[sizeof(fz_dir) + 16];
	size_t i;

	log_init("dataagentd", getenv("FUZZ_LOG") != NULL ?
	    LOG_LVL_DEBUG : LOG_LVL_ERROR);
	if (mkdtemp(fz_dir) == NULL)
		fz_die("mkdtemp", strerror(errno));
	snprintf(db, sizeof(db), "%s/db", fz_dir);
	config_defaults(&sp->sp_cf);
	snprintf(sp->sp_cf.cf_state_dir, sizeof(sp->sp_cf.cf_state_dir),
	    "%s", fz_dir);
	sp->sp_listen_fd = sp->sp_metrics_fd = -1;
	if ((sp->sp_base = event_base_new()) == NULL)
		fz_die("event_base_new", "out of memory");
	if (store_open(&sp->sp_store, db, err, sizeof(err)) == -1)
		fz_die("store_open", err);
	if (store_tenant_add(sp->sp_store, FUZZ_TENANT, 61000, NULL, err,
	    sizeof(err)) == -1)
		fz_die("store_tenant_add", err);
	for (i = 0; i < sizeof(sp->sp_master_key); i++)
		sp->sp_master_key[i] = (uint8_t)(i * 7 + 1);
	sp->sp_have_key = 1;
	if (audit_init(sp) == -1 || ratelimit_init(sp) == -1)
		fz_die("init", "out of memory");
	/* A pid for every fuzzed worker: a stopped child, never reaped. */
	if ((fz_sleeper = fork()) == -1)
		fz_die("fork", strerror(errno));
	if (fz_sleeper == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	atexit(fz_cleanup);
	return 0;
}

/* A worker as worker_spawn makes one, in state st, on a channel whose
 * other end is *peer_r. */
static struct worker *
fz_worker(struct sup *sp, enum worker_state st, int *peer_r)
{
	struct worker *wk;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fz_die("socketpair", strerror(errno));
	if ((wk = calloc(1, sizeof(*wk))) == NULL)
		fz_die("calloc", "out of memory");
	wk->wk_sup = sp;
	wk->wk_pid = fz_sleeper;
	wk->wk_egress_slot = -1;
	wk->wk_state = st;
	wk->wk_pending_tail = &wk->wk_pending;
	wk->wk_started_ms = now_mono_ms();
	wk->wk_ev_kill = evtimer_new(sp->sp_base, on_kill_timer, wk);
	wk->wk_ipc = ipc_chan_new(sp->sp_base, sv[0], on_worker_msg,
	    on_worker_error, wk);
	if (wk->wk_ev_kill == NULL || wk->wk_ipc == NULL)
		fz_die("fz_worker", "out of memory");
	if (st != WK_STARTING && st != WK_SPARE)
		snprintf(wk->wk_tenant, sizeof(wk->wk_tenant), "%s",
		    FUZZ_TENANT);
	wk->wk_next = sp->sp_workers;
	if (sp->sp_workers != NULL)
		sp->sp_workers->wk_prev = wk;
	sp->sp_workers = wk;
	*peer_r = sv[1];
	return wk;
}

/* FUZZ_LOG=1: what the handler answered on the channel, one frame a
 * line, to check what a seed reaches. */
static void
fz_show_replies(struct sup *sp, int peer)
{
	static uint8_t buf[1 << 20];
	struct ipc_hdr h;
	size_t len = 0, pos = 0;
	ssize_t n;

	event_base_loop(sp->sp_base, EVLOOP_NONBLOCK);
	while (len < sizeof(buf) && (n = recv(peer, buf + len,
	    sizeof(buf) - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	while (ipc_decode(buf + pos, len - pos, &h) == 1) {
		fprintf(stderr, "reply type %u peer %u: %.*s\n", h.ih_type,
		    h.ih_peer, h.ih_len > 300 ? 300 : (int)h.ih_len,
		    (const char *)buf + pos + IPC_HDR_SIZE);
		pos += IPC_HDR_SIZE + h.ih_len;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum worker_state states[] = { WK_STARTING, WK_SPARE,
	    WK_ASSIGNING, WK_ACTIVE, WK_RETIRING };
	struct sup *sp = &fz_sup;
	struct worker *wk;
	struct ipc_msg msg;
	size_t pos = 1;
	int peer, sv[2], r;

	if (size < 1)
		return 0;
	wk = fz_worker(sp, states[data[0] % 5], &peer);
	while (pos < size && wk->wk_ipc != NULL) {
		if (ipc_decode(data + pos, size - pos, &msg.im_hdr) != 1)
			break;
		msg.im_data = data + pos + IPC_HDR_SIZE;
		msg.im_fd = -1;
		if (msg.im_hdr.ih_flags & IPC_F_FD) {
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			    sv) == -1)
				fz_die("socketpair", strerror(errno));
			close(sv[1]);
			msg.im_fd = sv[0];
		}
		pos += IPC_HDR_SIZE + msg.im_hdr.ih_len;
		/* As ipc_chan_read does: the callback takes the fd by
		 * setting im_fd to -1; a refusal ends the channel. */
		r = on_worker_msg(wk->wk_ipc, &msg, wk);
		fd_close(&msg.im_fd);
		if (r == -1)
			on_worker_error(wk->wk_ipc, "protocol violation", wk);
	}
	audit_flush(sp);
	if (getenv("FUZZ_LOG") != NULL && wk->wk_ipc != NULL)
		fz_show_replies(sp, peer);
	if (wk->wk_state != WK_DEAD)
		worker_kill(wk, "fuzz input done");
	worker_free(wk);
	close(peer);
	return 0;
}
