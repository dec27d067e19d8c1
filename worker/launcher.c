/*
 * launcher.c: the process that starts a tenant's MCP servers.
 *
 * A worker runs under a tight seccomp allowlist (policy/worker.policy);
 * MCP servers (node, python, shells) need execve and a far wider set
 * (policy/upstream.policy). Filters only ever narrow, so servers cannot
 * be children of the filtered worker. Before it loads its own filter,
 * the confined worker forks this launcher: same uid, same mount
 * namespace, same cgroup, no capabilities, no_new_privs, but without the
 * worker's filter. The launcher forks and execs servers on request, each
 * under the upstream filter installed right before exec, hands the
 * worker the three pipe ends, and reports every exit.
 *
 * Remote MCP servers need outbound TCP connections, and the worker's
 * filter has neither socket() nor connect() (nor any open()): a worker
 * that can dial out could reach whatever the host reaches for a tenant
 * that compromises it, and would need the resolver's files as well. So
 * the launcher, which already runs as the tenant under the broader
 * upstream policy, resolves the name (getaddrinfo), starts a
 * non-blocking connect to one of the addresses and passes the socket
 * back with SCM_RIGHTS; the worker waits for it to become writable and
 * asks for the next address when it fails. It also opens the CA bundle
 * and client certificate files a TLS upstream names, as the tenant, so
 * the tenant's own file permissions decide what it can use. The worker
 * only gains connected sockets and read-only files, never the power to
 * make new ones; its filter stays as it was.
 *
 * Worker and launcher talk over a SOCK_SEQPACKET pair: one request, one
 * answer, in order; exits arrive whenever they happen. Spawns and file
 * opens are waited for; connects are not (getaddrinfo may take a
 * while): their answers are matched, in order, to a queue of pending
 * connects and delivered from the event loop. The launcher ends
 * when the worker closes its end (and, through PR_SET_PDEATHSIG, when
 * the worker dies), taking every server with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "scpolicy.h"
#include "worker.h"

#define LAUNCH_MAX_REQ (64 * 1024)
#define LAUNCH_MAX_KIDS 256
#define LAUNCH_MAX_EXITS 64

enum lm_type {
	LM_SPAWNED = 1,	/* + 3 fds: stdin (write), stdout, stderr (read) */
	LM_FAILED,
	LM_EXITED,
	LM_CONNECTING,	/* + 1 fd: a socket, connect in progress;
			 * lm_status 1 when more addresses follow */
	LM_CONNECT_FAILED,	/* lm_errno, or lm_stage = a getaddrinfo
				 * error; lm_status as above */
	LM_OPENED,	/* + 1 fd: a regular file, read-only */
	LM_OPEN_FAILED,	/* lm_errno */
};

/* The first 4 bytes of a request that is not a spawn (whose first 4
 * bytes are argc, at most 4096). */
#define LAUNCH_REQ_CONNECT	0xc0000001u	/* index, host, port */
#define LAUNCH_REQ_OPEN		0xc0000002u	/* path */
#define LAUNCH_CONNECT_MAX_ADDRS 16

struct lmsg {
	uint32_t lm_type;
	int32_t lm_pid;
	int32_t lm_status;	/* LM_EXITED: the wait status */
	int32_t lm_stage;	/* LM_FAILED: LAUNCH_STAGE_* */
	int32_t lm_errno;
};

struct launch_exit {
	pid_t le_pid;
	int le_status;
	int64_t le_when_ms;
};

/* A connect whose answer has not been delivered yet. */
struct launcher_conn {
	TAILQ_ENTRY(launcher_conn) lc_link;
	struct launcher *lc_la;
	launcher_connect_cb lc_cb;	/* NULL once cancelled */
	void *lc_arg;
	struct event *lc_ev;		/* delivery */
	int lc_answered;
	int lc_fd;
	int lc_more;
	int lc_errno;
	int lc_gai;
};

/* The worker's side. */
struct launcher {
	TAILQ_HEAD(, launcher_conn) la_conns;	/* sent, not answered */
	int la_fd;
	pid_t la_pid;
	struct event *la_ev;
	struct launch_exit la_exits[LAUNCH_MAX_EXITS];
	unsigned la_nexits;
	pid_t la_forgotten[LAUNCH_MAX_EXITS];
	unsigned la_nforgotten;
};

extern char **environ;

/* ------------------------------------------------------ launcher side */

static void __attribute__((noreturn))
child_fail(int status_fd, int stage)
{
	int32_t es[2] = { stage, errno };

	(void)!write(status_fd, es, sizeof(es));
	_exit(127);
}

/* Between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(pid_t parent, int in_r, int out_w, int err_w, int status_w,
    const char *cwd, const struct scprog *filter, char **argv, char **envp)
{
	struct sigaction sa;
	sigset_t none;
	int fd;

	(void)setpgid(0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_r, 0) == -1 || dup2(out_w, 1) == -1 ||
	    dup2(err_w, 2) == -1)
		child_fail(status_w, LAUNCH_STAGE_DUP);
	/* Keep only 0..2 and the status pipe, as fd 3 (close-on-exec). */
	if (status_w != 3) {
		if (dup3(status_w, 3, O_CLOEXEC) == -1)
			child_fail(status_w, LAUNCH_STAGE_DUP);
		status_w = 3;
	}
	if (close_range(4, ~0U, 0) == -1)
		for (fd = 4; fd < 65536; fd++)
			(void)close(fd);
	if (chdir(cwd) == -1)
		child_fail(status_w, LAUNCH_STAGE_CHDIR);
	/* Last before exec: the server's policy (policy/upstream.policy). */
	if (filter == NULL || scprog_install(filter) == -1)
		child_fail(status_w, LAUNCH_STAGE_SECCOMP);
	environ = envp;
	execvp(argv[0], argv);
	child_fail(status_w, LAUNCH_STAGE_EXEC);
}

static int
send_lmsg(int sock, const struct lmsg *m, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh;
	struct cmsghdr *cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Splits a request: cwd, argc strings, envc strings, each NUL-ended. */
static int
parse_request(char *buf, size_t len, char **cwd_r, char ***argv_r,
    char ***envp_r)
{
	uint32_t argc, envc, i;
	char *p, *end = buf + len, **argv, **envp;

	if (len < 8 || buf[len - 1] != '\0')
		return -1;
	memcpy(&argc, buf, 4);
	memcpy(&envc, buf + 4, 4);
	if (argc == 0 || argc > 4096 || envc > 4096)
		return -1;
	argv = calloc(argc + 1, sizeof(*argv));
	envp = calloc(envc + 1, sizeof(*envp));
	if (argv == NULL || envp == NULL)
		goto fail;
	p = buf + 8;
	*cwd_r = p;
	p += strlen(p) + 1;
	for (i = 0; i < argc; i++) {
		if (p >= end)
			goto fail;
		argv[i] = p;
		p += strlen(p) + 1;
	}
	for (i = 0; i < envc; i++) {
		if (p >= end)
			goto fail;
		envp[i] = p;
		p += strlen(p) + 1;
	}
	if (p != end)
		goto fail;
	*argv_r = argv;
	*envp_r = envp;
	return 0;
fail:
	free(argv);
	free(envp);
	return -1;
}

static void
launch_one(int sock, const struct scprog *filter, char *req, size_t len,
    pid_t *kids, unsigned *nkids)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int st[2] = { -1, -1 }, fds[3];
	struct lmsg m;
	int32_t es[2];
	char *cwd, **argv = NULL, **envp = NULL;
	pid_t pid, self = getpid();
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.lm_type = LM_FAILED;
	if (parse_request(req, len, &cwd, &argv, &envp) == -1) {
		m.lm_stage = LAUNCH_STAGE_REQUEST;
		m.lm_errno = EINVAL;
		goto answer;
	}
	if (*nkids >= LAUNCH_MAX_KIDS) {
		m.lm_stage = LAUNCH_STAGE_FORK;
		m.lm_errno = EAGAIN;
		goto answer;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || pipe2(st, O_CLOEXEC) == -1) {
		m.lm_stage = LAUNCH_STAGE_FORK;
		m.lm_errno = errno;
		goto answer;
	}
	if ((pid = fork()) == -1) {
		m.lm_stage = LAUNCH_STAGE_FORK;
		m.lm_errno = errno;
		goto answer;
	}
	if (pid == 0)
		child_exec(self, in[0], out[1], err[1], st[1], cwd,
		    filter, argv, envp);
	(void)setpgid(pid, pid);	/* whichever of us runs first */
	close(st[1]);
	st[1] = -1;
	/* The status pipe closes on a successful exec. */
	do
		n = read(st[0], es, sizeof(es));
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)sizeof(es)) {
		(void)waitpid(pid, NULL, 0);
		m.lm_stage = es[0];
		m.lm_errno = es[1];
		goto answer;
	}
	kids[(*nkids)++] = pid;
	m.lm_type = LM_SPAWNED;
	m.lm_pid = pid;
	fds[0] = in[1];
	fds[1] = out[0];
	fds[2] = err[0];
answer:
	(void)send_lmsg(sock, &m, fds, m.lm_type == LM_SPAWNED ? 3 : 0);
	fd_close(&in[0]);
	fd_close(&in[1]);
	fd_close(&out[0]);
	fd_close(&out[1]);
	fd_close(&err[0]);
	fd_close(&err[1]);
	fd_close(&st[0]);
	fd_close(&st[1]);
	free(argv);
	free(envp);
}

/* A connect request: [magic][index][host\0][port\0]. */
static void
launch_connect(int sock, const char *req, size_t len)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *host, *port;
	uint32_t index;
	struct lmsg m;
	unsigned n = 0;
	int fd = -1, one = 1, r;

	memset(&m, 0, sizeof(m));
	m.lm_type = LM_CONNECT_FAILED;
	m.lm_errno = EINVAL;
	if (len < 10 || req[len - 1] != '\0')
		goto answer;
	memcpy(&index, req + 4, 4);
	host = req + 8;
	port = host + strlen(host) + 1;
	if (port >= req + len || port + strlen(port) + 1 != req + len ||
	    host[0] == '\0')
		goto answer;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		m.lm_stage = r;
		m.lm_errno = r == EAI_SYSTEM ? errno : 0;
		goto answer;
	}
	for (ai = res; ai != NULL && n < index; ai = ai->ai_next)
		n++;
	if (ai == NULL) {
		m.lm_errno = ENOENT;
		goto answer;
	}
	m.lm_status = ai->ai_next != NULL &&
	    index + 1 < LAUNCH_CONNECT_MAX_ADDRS;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		m.lm_errno = errno;
		goto answer;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		m.lm_errno = errno;
		fd_close(&fd);
		goto answer;
	}
	m.lm_type = LM_CONNECTING;
	m.lm_errno = 0;
answer:
	if (res != NULL)
		freeaddrinfo(res);
	(void)send_lmsg(sock, &m, &fd, fd >= 0 ? 1 : 0);
	fd_close(&fd);
}

/* An open request: [magic][path\0]. Regular files only, read-only. */
static void
launch_open(int sock, const char *req, size_t len)
{
	struct lmsg m;
	struct stat st;
	int fd = -1;

	memset(&m, 0, sizeof(m));
	m.lm_type = LM_OPEN_FAILED;
	m.lm_errno = EINVAL;
	if (len < 6 || req[len - 1] != '\0' || strlen(req + 4) + 5 != len ||
	    req[4] != '/')
		goto answer;
	if ((fd = open(req + 4, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		m.lm_errno = errno;
		goto answer;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		m.lm_errno = EISDIR;
		fd_close(&fd);
		goto answer;
	}
	m.lm_type = LM_OPENED;
	m.lm_errno = 0;
answer:
	(void)send_lmsg(sock, &m, &fd, fd >= 0 ? 1 : 0);
	fd_close(&fd);
}

/* Reaps what exited and tells the worker. */
static void
reap_kids(int sock, pid_t *kids, unsigned *nkids)
{
	struct lmsg m;
	unsigned i;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < *nkids; i++)
			if (kids[i] == pid) {
				kids[i] = kids[--*nkids];
				break;
			}
		memset(&m, 0, sizeof(m));
		m.lm_type = LM_EXITED;
		m.lm_pid = pid;
		m.lm_status = status;
		(void)send_lmsg(sock, &m, NULL, 0);
	}
}

/* The worker is gone or asked us to end: end every server group. */
static void __attribute__((noreturn))
launcher_end(pid_t *kids, unsigned nkids)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned i, rounds;

	for (i = 0; i < nkids; i++)
		(void)kill(-kids[i], SIGKILL);
	for (rounds = 0; rounds < 200; rounds++) {
		if (waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD)
			break;
		nanosleep(&ts, NULL);
	}
	_exit(0);
}

static void __attribute__((noreturn))
launcher_main(int sock, pid_t worker, const struct scprog *filter)
{
	static pid_t kids[LAUNCH_MAX_KIDS];
	static char req[LAUNCH_MAX_REQ];
	struct sigaction sa;
	struct pollfd pfd[2];
	unsigned nkids = 0;
	sigset_t chld;
	ssize_t n;
	int sfd;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != worker)
		_exit(1);
	/* Drop the worker's handlers: libevent's would write into the
	 * worker's loop. SIGTERM ends us; SIGCHLD comes through a signalfd. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC)) == -1)
		_exit(1);
	/* The launcher runs only our code, but it is the one process of the
	 * tenant without the worker's allowlist: give it the servers'
	 * policy too (each server installs it again before exec). */
	if (filter == NULL || scprog_install(filter) == -1)
		_exit(1);
	pfd[0].fd = sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			launcher_end(kids, nkids);
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			(void)!read(sfd, &si, sizeof(si));
			reap_kids(sock, kids, &nkids);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			uint32_t magic = 0;

			n = recv(sock, req, sizeof(req), MSG_TRUNC);
			if (n <= 0 || (size_t)n > sizeof(req))
				launcher_end(kids, nkids);
			if (n >= 4)
				memcpy(&magic, req, 4);
			if (magic == LAUNCH_REQ_CONNECT)
				launch_connect(sock, req, (size_t)n);
			else if (magic == LAUNCH_REQ_OPEN)
				launch_open(sock, req, (size_t)n);
			else
				launch_one(sock, filter, req, (size_t)n, kids,
				    &nkids);
			explicit_bzero(req, (size_t)n);
		}
	}
}

/* ------------------------------------------------------- worker side */

/*
 * Receives one message and up to 3 fds (*nfds_r of them, close-on-exec).
 * Returns 1, 0 when nothing waits (flags has MSG_DONTWAIT), or -1 on
 * EOF, error or a malformed message (fds that came with it are closed).
 */
static int
la_recv(struct launcher *la, int flags, struct lmsg *m, int fds[3],
    int *nfds_r)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	int i, nfds = 0;

	*nfds_r = 0;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = m;
		iov.iov_len = sizeof(*m);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(la->la_fd, &mh, flags | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		break;
	}
	if (n == -1 && errno == EAGAIN)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); n > 0 && cm != NULL;
	    cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (int)((cm->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int)); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
			if (nfds < 3)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_CTRUNC)) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == -1)
			return -1;
		errno = EPROTO;
		return -1;
	}
	*nfds_r = nfds;
	return 1;
}

static void
la_close_fds(int *fds, int nfds)
{
	int i;

	for (i = 0; i < nfds; i++)
		fd_close(&fds[i]);
}

/*
 * Handles a message nobody waits for synchronously: an exit, or the
 * answer to the oldest pending connect. Returns 1 when m was one of
 * those (its fds taken), 0 when it is not (a spawn or open answer).
 */
static int
la_dispatch(struct launcher *la, const struct lmsg *m, int *fds, int nfds)
{
	struct launcher_conn *lc;

	if (m->lm_type == LM_EXITED) {
		la_close_fds(fds, nfds);
		launcher_note_exit(la, m->lm_pid, m->lm_status);
		return 1;
	}
	if (m->lm_type != LM_CONNECTING && m->lm_type != LM_CONNECT_FAILED)
		return 0;
	if ((lc = TAILQ_FIRST(&la->la_conns)) == NULL) {
		la_close_fds(fds, nfds);
		return 1;
	}
	TAILQ_REMOVE(&la->la_conns, lc, lc_link);
	lc->lc_answered = 1;
	lc->lc_more = m->lm_status != 0;
	if (m->lm_type == LM_CONNECTING && nfds == 1) {
		lc->lc_fd = fds[0];
	} else {
		la_close_fds(fds, nfds);
		lc->lc_errno = m->lm_type == LM_CONNECTING ? EPROTO :
		    m->lm_errno;
		lc->lc_gai = m->lm_type == LM_CONNECTING ? 0 : m->lm_stage;
	}
	event_active(lc->lc_ev, EV_TIMEOUT, 0);
	return 1;
}

static void
launcher_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct wrk *w = arg;
	struct launcher *la = w->w_launcher;
	struct lmsg m;
	int fds[3], nfds, r;

	for (;;) {
		r = la_recv(la, MSG_DONTWAIT, &m, fds, &nfds);
		if (r == 0)
			break;
		if (r == -1 || !la_dispatch(la, &m, fds, nfds)) {
			/* EOF, or an answer nobody asked for: the launcher is
			 * gone or broken; the SIGCHLD path ends the worker. */
			if (r == 1)
				la_close_fds(fds, nfds);
			event_del(la->la_ev);
			break;
		}
	}
	upstream_reap(w);
}

static void
launcher_conn_free(struct launcher_conn *lc)
{
	fd_close(&lc->lc_fd);
	if (lc->lc_ev != NULL)
		event_free(lc->lc_ev);
	free(lc);
}

static void
launcher_conn_deliver(evutil_socket_t fd, short ev, void *arg)
{
	struct launcher_conn *lc = arg;
	int cfd = lc->lc_fd;

	lc->lc_fd = -1;
	if (lc->lc_cb != NULL)
		lc->lc_cb(cfd, lc->lc_more, lc->lc_errno,
		    lc->lc_gai != 0 ? gai_strerror(lc->lc_gai) : NULL,
		    lc->lc_arg);
	else
		fd_close(&cfd);
	launcher_conn_free(lc);
}

struct launcher_conn *
launcher_connect(struct wrk *w, const char *host, const char *port,
    unsigned index, launcher_connect_cb cb, void *arg)
{
	struct launcher *la = w->w_launcher;
	struct launcher_conn *lc;
	uint32_t magic = LAUNCH_REQ_CONNECT, idx = index;
	char buf[8 + 256 + 1 + 8];
	size_t hl = strlen(host), pl = strlen(port);

	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		return NULL;
	lc->lc_fd = -1;
	lc->lc_cb = cb;
	lc->lc_arg = arg;
	if ((lc->lc_ev = event_new(w->w_base, -1, 0, launcher_conn_deliver,
	    lc)) == NULL) {
		free(lc);
		return NULL;
	}
	if (la == NULL || la->la_fd == -1 || hl == 0 || hl > 255 || pl == 0 ||
	    pl > 7) {
		lc->lc_answered = 1;
		lc->lc_errno = la == NULL || la->la_fd == -1 ? ECHILD : EINVAL;
		event_active(lc->lc_ev, EV_TIMEOUT, 0);
		return lc;
	}
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &idx, 4);
	memcpy(buf + 8, host, hl + 1);
	memcpy(buf + 8 + hl + 1, port, pl + 1);
	if (send(la->la_fd, buf, 8 + hl + 1 + pl + 1, MSG_NOSIGNAL) == -1) {
		lc->lc_answered = 1;
		lc->lc_errno = errno;
		event_active(lc->lc_ev, EV_TIMEOUT, 0);
		return lc;
	}
	lc->lc_la = la;
	TAILQ_INSERT_TAIL(&la->la_conns, lc, lc_link);
	return lc;
}

void
launcher_connect_cancel(struct launcher_conn **lcp)
{
	struct launcher_conn *lc = *lcp;

	if (lc == NULL)
		return;
	*lcp = NULL;
	if (!lc->lc_answered) {
		/* Its answer still comes, in order: freed then. */
		lc->lc_cb = NULL;
		return;
	}
	launcher_conn_free(lc);
}

int
launcher_open(struct wrk *w, const char *path, int *fd_r)
{
	struct launcher *la = w->w_launcher;
	uint32_t magic = LAUNCH_REQ_OPEN;
	char buf[4 + 4096];
	size_t pl = strlen(path);
	struct lmsg m;
	int fds[3], nfds, r;

	*fd_r = -1;
	if (la == NULL || la->la_fd == -1)
		return ECHILD;
	if (pl == 0 || pl >= 4096 || path[0] != '/')
		return EINVAL;
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, path, pl + 1);
	if (send(la->la_fd, buf, 4 + pl + 1, MSG_NOSIGNAL) == -1)
		return errno;
	for (;;) {
		if ((r = la_recv(la, 0, &m, fds, &nfds)) != 1)
			return errno != 0 ? errno : EPIPE;
		if (la_dispatch(la, &m, fds, nfds))
			continue;
		if (m.lm_type == LM_OPENED && nfds == 1) {
			*fd_r = fds[0];
			return 0;
		}
		la_close_fds(fds, nfds);
		return m.lm_type == LM_OPEN_FAILED ? m.lm_errno : EPROTO;
	}
}

void
launcher_note_exit(struct launcher *la, pid_t pid, int status)
{
	int64_t now = now_mono_ms();
	unsigned i;

	for (i = 0; i < la->la_nforgotten; i++)
		if (la->la_forgotten[i] == pid) {
			la->la_forgotten[i] =
			    la->la_forgotten[--la->la_nforgotten];
			return;
		}
	/* Full: the oldest record goes (its upstream is long gone). */
	if (la->la_nexits == LAUNCH_MAX_EXITS) {
		memmove(la->la_exits, la->la_exits + 1,
		    (LAUNCH_MAX_EXITS - 1) * sizeof(la->la_exits[0]));
		la->la_nexits--;
	}
	la->la_exits[la->la_nexits].le_pid = pid;
	la->la_exits[la->la_nexits].le_status = status;
	la->la_exits[la->la_nexits].le_when_ms = now;
	la->la_nexits++;
}

int
launcher_start(struct wrk *w, char *err, size_t errlen)
{
	struct launcher *la;
	int sv[2];
	pid_t pid, worker = getpid();

	if ((la = calloc(1, sizeof(*la))) == NULL) {
		snprintf(err, errlen, "launcher: out of memory");
		return -1;
	}
	TAILQ_INIT(&la->la_conns);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "launcher: socketpair: %s",
		    strerror(errno));
		free(la);
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "launcher: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(la);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		/* Only the socket to the worker stays open. */
		if (sv[1] != 3 && dup3(sv[1], 3, O_CLOEXEC) == -1)
			_exit(1);
		close_range(4, ~0U, 0);
		if (sv[1] != 3)
			sv[1] = 3;
		launcher_main(sv[1], worker, w->w_upstream_filter);
	}
	close(sv[1]);
	la->la_fd = sv[0];
	la->la_pid = pid;
	la->la_ev = event_new(w->w_base, la->la_fd, EV_READ | EV_PERSIST,
	    launcher_on_read, w);
	if (la->la_ev == NULL || event_add(la->la_ev, NULL) == -1) {
		w->w_launcher = la;
		launcher_stop(w, 1000);
		snprintf(err, errlen, "launcher: cannot watch its socket");
		return -1;
	}
	w->w_launcher = la;
	log_debug("launcher started", "{s:i}", "launcher_pid", (int)pid);
	return 0;
}

/* Appends s and its NUL. Returns -1 when it does not fit. */
static int
req_add(char *buf, size_t *off, const char *s)
{
	size_t n = strlen(s) + 1;

	if (*off + n > LAUNCH_MAX_REQ)
		return -1;
	memcpy(buf + *off, s, n);
	*off += n;
	return 0;
}

int
launcher_spawn(struct wrk *w, char *const argv[], char *const envp[],
    const char *cwd, struct launch_result *lr)
{
	struct launcher *la = w->w_launcher;
	char *buf;
	uint32_t argc = 0, envc = 0;
	struct lmsg m;
	size_t off = 8;

	memset(lr, 0, sizeof(*lr));
	lr->lr_in = lr->lr_out = lr->lr_err = -1;
	lr->lr_stage = LAUNCH_STAGE_REQUEST;
	if (la == NULL || la->la_fd == -1) {
		lr->lr_errno = ECHILD;
		return -1;
	}
	if ((buf = malloc(LAUNCH_MAX_REQ)) == NULL) {
		lr->lr_errno = ENOMEM;
		return -1;
	}
	if (req_add(buf, &off, cwd) == -1)
		goto toolong;
	for (; argv[argc] != NULL; argc++)
		if (req_add(buf, &off, argv[argc]) == -1)
			goto toolong;
	for (; envp[envc] != NULL; envc++)
		if (req_add(buf, &off, envp[envc]) == -1)
			goto toolong;
	memcpy(buf, &argc, 4);
	memcpy(buf + 4, &envc, 4);
	if (send(la->la_fd, buf, off, MSG_NOSIGNAL) != (ssize_t)off) {
		lr->lr_errno = errno;
		explicit_bzero(buf, off);
		free(buf);
		return -1;
	}
	/* The environment may carry secrets' values. */
	explicit_bzero(buf, off);
	free(buf);
	/* The answer comes next; exits and connect answers reported
	 * meanwhile are dispatched. */
	for (;;) {
		int fds[3], nfds;

		if (la_recv(la, 0, &m, fds, &nfds) != 1) {
			lr->lr_errno = errno != 0 ? errno : EPIPE;
			return -1;
		}
		if (la_dispatch(la, &m, fds, nfds))
			continue;
		if (m.lm_type == LM_SPAWNED && nfds == 3) {
			lr->lr_pid = m.lm_pid;
			lr->lr_in = fds[0];
			lr->lr_out = fds[1];
			lr->lr_err = fds[2];
			lr->lr_stage = 0;
			return 0;
		}
		la_close_fds(fds, nfds);
		break;
	}
	lr->lr_stage = m.lm_type == LM_FAILED ? m.lm_stage :
	    LAUNCH_STAGE_REQUEST;
	lr->lr_errno = m.lm_type == LM_FAILED ? m.lm_errno : EPROTO;
	return -1;
toolong:
	explicit_bzero(buf, off);
	free(buf);
	lr->lr_errno = E2BIG;
	return -1;
}

int
launcher_exited(struct wrk *w, pid_t pid, int *status_r)
{
	struct launcher *la = w->w_launcher;
	unsigned i;

	if (la == NULL)
		return 0;
	for (i = 0; i < la->la_nexits; i++) {
		if (la->la_exits[i].le_pid != pid)
			continue;
		*status_r = la->la_exits[i].le_status;
		la->la_exits[i] = la->la_exits[--la->la_nexits];
		return 1;
	}
	return 0;
}

void
launcher_forget(struct wrk *w, pid_t pid)
{
	struct launcher *la = w->w_launcher;
	int status;

	if (la == NULL || pid <= 0 || launcher_exited(w, pid, &status))
		return;
	if (la->la_nforgotten < LAUNCH_MAX_EXITS)
		la->la_forgotten[la->la_nforgotten++] = pid;
}

pid_t
launcher_pid(const struct wrk *w)
{
	return w->w_launcher != NULL ? w->w_launcher->la_pid : -1;
}

void
launcher_stop(struct wrk *w, int ms)
{
	struct launcher *la = w->w_launcher;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int64_t deadline = now_mono_ms() + ms;
	struct launcher_conn *lc;

	if (la == NULL)
		return;
	if (la->la_ev != NULL)
		event_free(la->la_ev);
	/* Connects still waiting fail from the event loop (or are freed
	 * there when cancelled). */
	while ((lc = TAILQ_FIRST(&la->la_conns)) != NULL) {
		TAILQ_REMOVE(&la->la_conns, lc, lc_link);
		lc->lc_answered = 1;
		lc->lc_errno = ECHILD;
		if (lc->lc_cb == NULL)
			launcher_conn_free(lc);
		else
			event_active(lc->lc_ev, EV_TIMEOUT, 0);
	}
	/* EOF tells it to end every server and exit. */
	fd_close(&la->la_fd);
	while (la->la_pid > 0) {
		pid_t r = waitpid(la->la_pid, NULL, WNOHANG);

		if (r == la->la_pid || (r == -1 && errno != EINTR))
			break;
		if (now_mono_ms() > deadline) {
			(void)kill(la->la_pid, SIGKILL);
			(void)waitpid(la->la_pid, NULL, 0);
			break;
		}
		nanosleep(&ts, NULL);
	}
	free(la);
	w->w_launcher = NULL;
}
