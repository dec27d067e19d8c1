/*
 * probe.c: a hostile tenant's "MCP server". The hostile-tenant tests
 * register it as a tenant's stdio server, so it runs exactly where an
 * attacker's code would run, and call its one tool, "attack", with the
 * name of one forbidden thing to try (and an argument: a path, a pid).
 * It tries it and answers what happened, as bubblewrap's and nsjail's
 * test probes do:
 *
 *   {"attack":"ptrace","outcome":"blocked","errno":"EPERM"}
 *   {"attack":"setuid-exec","outcome":"allowed","detail":"61001"}
 *
 * "blocked" means the call failed (errno names why); "allowed" means it
 * worked, which the test then judges. An attack that gets the probe
 * killed (seccomp's SIGSYS) shows up as the upstream's death instead.
 *
 * It speaks just enough MCP over stdio: initialize, tools/list,
 * tools/call, ping. Run as "probe --attack NAME [ARG]" it tries one
 * attack at once and prints the answer on stdout: the tests use that to
 * ask the kernel, with no sandbox in the way, whether a case can mean
 * anything here (tests/integration/lib.mjs, kernelOffers).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>

#include <jansson.h>

#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

struct outcome {
	int oc_ok;		/* 1: the forbidden thing worked */
	int oc_errno;
	char oc_detail[256];
};

static void
oc_sys(struct outcome *o, long r)
{
	o->oc_ok = r != -1;
	o->oc_errno = r == -1 ? errno : 0;
}

static pid_t
arg_pid(const char *arg)
{
	return arg != NULL ? (pid_t)atoi(arg) : 0;
}

static void
try_open(struct outcome *o, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	oc_sys(o, fd);
	if (fd != -1)
		close(fd);
}

static void
try_read(struct outcome *o, const char *path)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		oc_sys(o, -1);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	oc_sys(o, n);
	if (n > 0)
		snprintf(o->oc_detail, sizeof(o->oc_detail), "read %zd bytes",
		    n);
	close(fd);
}

/* Runs argv and captures the first line of its output in oc_detail. */
static void
try_exec(struct outcome *o, char *const argv[])
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(p) == -1) {
		oc_sys(o, -1);
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], o->oc_detail, sizeof(o->oc_detail) - 1);
	if (n > 0) {
		o->oc_detail[n] = '\0';
		o->oc_detail[strcspn(o->oc_detail, "\n")] = '\0';
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	o->oc_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	o->oc_errno = 0;
}

/* "HOST:PORT" (an IPv4 address, or [v6]) into sa; 0 or -1. */
static int
parse_hostport(const char *arg, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[64];
	const char *colon;
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	int port;

	if (arg == NULL || (colon = strrchr(arg, ':')) == NULL ||
	    (size_t)(colon - arg) >= sizeof(host) ||
	    (port = atoi(colon + 1)) < 0 || port > 65535)
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	memset(sa, 0, sizeof(*sa));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1 ?
		    0 : -1;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	*len = sizeof(*in4);
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -1;
}

/* A TCP connect that gives up after 3 s (ETIMEDOUT): a dropped SYN must
 * not hang the probe. */
static void
try_connect_tcp(struct outcome *o, const char *arg)
{
	struct sockaddr_storage sa;
	struct pollfd pfd;
	socklen_t len, elen = sizeof(int);
	int fd, e = 0;

	if (parse_hostport(arg, &sa, &len) == -1) {
		errno = EINVAL;
		oc_sys(o, -1);
		return;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		oc_sys(o, -1);
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, len) == -1) {
		if (errno != EINPROGRESS) {
			oc_sys(o, -1);
			close(fd);
			return;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 3000) != 1)
			e = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
			e = errno;
	}
	close(fd);
	errno = e;
	oc_sys(o, e == 0 ? 0 : -1);
}

/* Listeners the probe keeps open for the rest of its life. */
static int listeners[8];
static size_t nlisteners;

static void
try_listen_tcp(struct outcome *o, const char *arg)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int fd, one = 1;

	if (parse_hostport(arg, &sa, &len) == -1 ||
	    nlisteners == sizeof(listeners) / sizeof(listeners[0])) {
		errno = EINVAL;
		oc_sys(o, -1);
		return;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 || bind(fd, (struct sockaddr *)&sa, len) == -1 ||
	    listen(fd, 16) == -1) {
		oc_sys(o, -1);
		if (fd != -1)
			close(fd);
		return;
	}
	listeners[nlisteners++] = fd;
	oc_sys(o, 0);
	/* Port 0 asks the kernel for one: the detail says which. */
	len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%u", ntohs(
		    sa.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&sa)->sin6_port :
		    ((struct sockaddr_in *)&sa)->sin_port));
}

/* An abstract Unix socket: no file, named by the bytes after a NUL. */
static void
try_connect_abstract(struct outcome *o, const char *arg)
{
	struct sockaddr_un sun;
	size_t n = arg != NULL ? strlen(arg) : 0;
	int fd;

	if (n == 0 || n >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		oc_sys(o, -1);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, arg, n);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		oc_sys(o, -1);
		return;
	}
	/* The name as it is, then the whole sun_path NUL-padded: libuv
	 * (node) before 1.46 binds abstract names that way. */
	if (connect(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) == 0) {
		oc_sys(o, 0);
		close(fd);
		return;
	}
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		oc_sys(o, -1);
		return;
	}
	oc_sys(o, connect(fd, (struct sockaddr *)&sun, sizeof(sun)));
	close(fd);
}

static int
attack(const char *name, const char *arg, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;	/* earlier spinners */
	if (strcmp(name, "read") == 0)
		try_read(o, arg);
	else if (strcmp(name, "write") == 0)
		try_open(o, arg, O_WRONLY | O_CREAT | O_TRUNC);
	else if (strcmp(name, "stat") == 0) {
		struct stat st;

		oc_sys(o, stat(arg, &st));
	} else if (strcmp(name, "shm-create") == 0)
		/* A SysV segment of key arg: in its tenant's IPC namespace. */
		oc_sys(o, shmget((key_t)strtol(arg != NULL ? arg : "0", NULL,
		    0), 4096, IPC_CREAT | IPC_EXCL | 0666));
	else if (strcmp(name, "shm-find") == 0)
		oc_sys(o, shmget((key_t)strtol(arg != NULL ? arg : "0", NULL,
		    0), 0, 0));
	else if (strcmp(name, "connect") == 0) {
		struct sockaddr_un sun;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", arg);
		oc_sys(o, connect(fd, (struct sockaddr *)&sun, sizeof(sun)));
		close(fd);
	} else if (strcmp(name, "kill") == 0)
		oc_sys(o, kill(arg_pid(arg), SIGTERM));
	else if (strcmp(name, "kill0") == 0)
		oc_sys(o, kill(arg_pid(arg), 0));
	else if (strcmp(name, "ptrace") == 0)
		oc_sys(o, ptrace(PTRACE_ATTACH, arg_pid(arg), NULL, NULL));
	else if (strcmp(name, "ptrace-child") == 0) {
		pid_t pid = fork();

		if (pid == 0) {
			pause();
			_exit(0);
		}
		oc_sys(o, ptrace(PTRACE_SEIZE, pid, NULL, NULL));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	} else if (strcmp(name, "process_vm_readv") == 0) {
		char buf[16];
		struct iovec l = { buf, sizeof(buf) }, r = { (void *)0x400000,
		    sizeof(buf) };

		oc_sys(o, process_vm_readv(arg_pid(arg), &l, 1, &r, 1, 0));
	} else if (strcmp(name, "setuid0") == 0)
		oc_sys(o, setuid(0));
	else if (strcmp(name, "setgid0") == 0)
		oc_sys(o, setgid(0));
	else if (strcmp(name, "exec-euid") == 0) {
		/* arg: a setuid-root copy of id(1); no_new_privs must keep
		 * our uid */
		char *argv[] = { (char *)arg, (char *)"-u", NULL };

		try_exec(o, argv);
	} else if (strcmp(name, "init_module") == 0)
		oc_sys(o, syscall(SYS_init_module, NULL, 0, ""));
	else if (strcmp(name, "finit_module") == 0)
		oc_sys(o, syscall(SYS_finit_module, -1, "", 0));
	else if (strcmp(name, "mount") == 0)
		oc_sys(o, mount("none", "/tmp", "tmpfs", 0, NULL));
	else if (strcmp(name, "umount") == 0)
		oc_sys(o, umount2("/proc", MNT_DETACH));
	else if (strcmp(name, "unshare-user") == 0)
		oc_sys(o, unshare(CLONE_NEWUSER));
	else if (strcmp(name, "unshare-ns") == 0)
		oc_sys(o, unshare(CLONE_NEWNS));
	else if (strcmp(name, "clone-user") == 0) {
		long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL,
		    NULL, NULL, 0);

		if (r == 0)
			_exit(0);
		if (r > 0)
			waitpid((pid_t)r, NULL, 0);
		oc_sys(o, r);
	} else if (strcmp(name, "clone3") == 0)
		oc_sys(o, syscall(SYS_clone3, NULL, 0));
	else if (strcmp(name, "setns") == 0)
		oc_sys(o, syscall(SYS_setns, -1, 0));
	else if (strcmp(name, "bpf") == 0) {
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		oc_sys(o, syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a)));
	} else if (strcmp(name, "perf_event_open") == 0) {
		struct perf_event_attr a;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_CPU_CLOCK;
		oc_sys(o, syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
	} else if (strcmp(name, "keyctl") == 0)
		oc_sys(o, syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
	else if (strcmp(name, "add_key") == 0)
		oc_sys(o, syscall(SYS_add_key, "user", "probe", "x", 1, -2));
	else if (strcmp(name, "open_by_handle_at") == 0)
		oc_sys(o, syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
	else if (strcmp(name, "userfaultfd") == 0)
		oc_sys(o, syscall(SYS_userfaultfd, 0));
	else if (strcmp(name, "reboot") == 0)
		oc_sys(o, reboot(RB_POWER_OFF == 0 ? 0 : 0x4321fedc));
	else if (strcmp(name, "kexec_load") == 0)
		oc_sys(o, syscall(SYS_kexec_load, 0, 0, NULL, 0));
	else if (strcmp(name, "iopl") == 0)
		oc_sys(o, syscall(SYS_iopl, 3));
	else if (strcmp(name, "swapoff") == 0)
		oc_sys(o, syscall(SYS_swapoff, "/nonexistent"));
	else if (strcmp(name, "settimeofday") == 0)
		oc_sys(o, syscall(SYS_settimeofday, NULL, NULL));
	else if (strcmp(name, "sethostname") == 0)
		oc_sys(o, sethostname("pwned", 5));
	else if (strcmp(name, "chown-root") == 0) {
		char p[] = "/tmp/probe-chown-XXXXXX";
		int fd = mkstemp(p);

		oc_sys(o, fd == -1 ? -1 : fchown(fd, 0, 0));
		if (fd != -1) {
			close(fd);
			unlink(p);
		}
	} else if (strcmp(name, "rlimit-raise") == 0) {
		struct rlimit rl;

		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_max = rl.rlim_max == RLIM_INFINITY ? RLIM_INFINITY :
		    rl.rlim_max * 2;
		rl.rlim_cur = rl.rlim_max;
		oc_sys(o, rl.rlim_max == RLIM_INFINITY ? 0 :
		    setrlimit(RLIMIT_NOFILE, &rl));
	} else if (strcmp(name, "int80") == 0) {
		/* getpid through the 32-bit entry: the filter kills us (a
		 * kernel without the entry: SIGSEGV, filter or not) */
#if defined(__x86_64__)
		long r;

		/* Killed by the kernel, not caught: under SANITIZE=1,
		 * ASan's SIGSEGV handler would report the fault and exit 1,
		 * hiding a kernel without the entry (lib.mjs kernelOffers). */
		signal(SIGSEGV, SIG_DFL);
		/* Kernels before 4.17 clobber r8-r11 on this path. */
		__asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) :
		    "r8", "r9", "r10", "r11", "cc", "memory");
		o->oc_ok = 1;
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%ld", r);
#else
		o->oc_errno = ENOSYS;
		snprintf(o->oc_detail, sizeof(o->oc_detail), "not x86_64");
#endif
	} else if (strcmp(name, "forkbomb") == 0) {
		/* Forks sleepers until fork fails (bounded: 100000), then
		 * ends them all. */
		static pid_t kids[100000];
		int n = 0, i;

		for (; n < 100000; n++) {
			pid_t pid = fork();

			if (pid == 0) {
				pause();
				_exit(0);
			}
			if (pid == -1)
				break;
			kids[n] = pid;
		}
		oc_sys(o, n < 100000 ? -1 : 0);
		for (i = 0; i < n; i++)
			kill(kids[i], SIGKILL);
		for (i = 0; i < n; i++)
			waitpid(kids[i], NULL, 0);
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%d", n);
	} else if (strcmp(name, "membomb") == 0) {
		/* Touches memory 16 MiB at a time up to 4 GiB: the tenant's
		 * memory limit must end it (OOM kill) long before. */
		size_t chunk = 16u << 20, total = 0, i;
		char *p;

		/* Written through a volatile pointer: memory that is never
		 * read again is otherwise no memory at all to clang, which
		 * drops the malloc and the memset together. */
		while (total < (4ull << 30) && (p = malloc(chunk)) != NULL) {
			volatile char *v = p;

			for (i = 0; i < chunk; i += 4096)
				v[i] = (char)0xa5;
			total += chunk;
		}
		o->oc_ok = 1;
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%zu MiB",
		    total >> 20);
	} else if (strcmp(name, "fdbomb") == 0) {
		int n = 0, fd;

		while (n < 1000000 && (fd = open("/dev/null", O_RDONLY)) != -1)
			n++;
		oc_sys(o, n < 1000000 ? -1 : 0);
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%d", n);
		for (fd = 3; fd < n + 3; fd++)
			if (fd > 2)
				close(fd);
	} else if (strcmp(name, "spin") == 0) {
		/* A child that burns CPU for arg seconds (at most 30), then
		 * exits by itself. */
		int secs = arg != NULL ? atoi(arg) : 5;
		pid_t pid;

		if (secs > 30)
			secs = 30;
		pid = fork();
		if (pid == 0) {
			time_t end = time(NULL) + secs;
			volatile unsigned long x = 0;

			while (time(NULL) < end)
				x++;
			_exit(0);
		}
		oc_sys(o, pid);
	} else if (strcmp(name, "filltmp") == 0) {
		/* Writes /tmp full, 1 MiB at a time, bounded at 8 GiB. */
		static char mib[1 << 20];
		long n = 0;
		int fd = open("/tmp/probe-fill", O_WRONLY | O_CREAT | O_TRUNC,
		    0600);

		if (fd == -1) {
			oc_sys(o, -1);
			return 0;
		}
		for (; n < 8192; n++)
			if (write(fd, mib, sizeof(mib)) != (ssize_t)sizeof(mib))
				break;
		oc_sys(o, n < 8192 ? -1 : 0);
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%ld MiB", n);
		close(fd);
		unlink("/tmp/probe-fill");
	} else if (strcmp(name, "io_uring_setup") == 0) {
		struct io_uring_params p;
		long fd;

		memset(&p, 0, sizeof(p));
		fd = syscall(__NR_io_uring_setup, 4, &p);
		oc_sys(o, fd);
		if (fd >= 0)
			close((int)fd);
	} else if (strcmp(name, "connect-tcp") == 0)
		try_connect_tcp(o, arg);
	else if (strcmp(name, "listen-tcp") == 0)
		try_listen_tcp(o, arg);
	else if (strcmp(name, "connect-abstract") == 0)
		try_connect_abstract(o, arg);
	else if (strcmp(name, "whoami") == 0) {
		uid_t r, e, s;

		getresuid(&r, &e, &s);
		o->oc_ok = 1;
		snprintf(o->oc_detail, sizeof(o->oc_detail), "%d %d %d",
		    (int)r, (int)e, (int)s);
	} else
		return -1;
	return 0;
}

static void
reply(json_t *id, json_t *result, json_t *error)
{
	json_t *m = json_pack("{s:s,s:O}", "jsonrpc", "2.0", "id", id);
	char *s;

	if (error != NULL)
		json_object_set_new(m, "error", error);
	else
		json_object_set_new(m, "result", result);
	s = json_dumps(m, JSON_COMPACT);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(m);
}

/* What happened, as the one-line JSON the tests read (malloc'd). */
static char *
outcome_text(const char *name, const struct outcome *o)
{
	json_t *res;
	char *text;

	res = json_pack("{s:s,s:s}", "attack", name, "outcome",
	    o->oc_ok ? "allowed" : "blocked");
	if (!o->oc_ok)
		json_object_set_new(res, "errno",
		    json_string(strerrorname_np(o->oc_errno) != NULL ?
		    strerrorname_np(o->oc_errno) : "?"));
	if (o->oc_detail[0] != '\0')
		json_object_set_new(res, "detail", json_string(o->oc_detail));
	text = json_dumps(res, JSON_COMPACT);
	json_decref(res);
	return text;
}

static json_t *
call(json_t *params)
{
	const char *name = NULL, *arg = NULL;
	struct outcome o;
	json_t *res;
	char *text;

	json_unpack(json_object_get(params, "arguments"), "{s:s,s?s}", "name",
	    &name, "arg", &arg);
	if (name == NULL || attack(name, arg, &o) == -1)
		return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type",
		    "text", "text", "unknown attack", "isError", 1);
	text = outcome_text(name, &o);
	res = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text",
	    text);
	free(text);
	return res;
}

int
main(int argc, char *argv[])
{
	char *line = NULL;
	size_t cap = 0;
	json_t *m, *id;
	const char *method;
	struct outcome o;

	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "--attack") == 0) {
		if (attack(argv[2], argc == 4 ? argv[3] : NULL, &o) == -1) {
			fprintf(stderr, "probe: unknown attack \"%s\"\n",
			    argv[2]);
			return 2;
		}
		line = outcome_text(argv[2], &o);
		printf("%s\n", line);
		free(line);
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: probe [--attack NAME [ARG]]\n");
		return 2;
	}
	while (getline(&line, &cap, stdin) != -1) {
		if ((m = json_loads(line, 0, NULL)) == NULL)
			continue;
		id = json_object_get(m, "id");
		method = json_string_value(json_object_get(m, "method"));
		if (id == NULL || method == NULL) {
			json_decref(m);
			continue;
		}
		if (strcmp(method, "initialize") == 0)
			reply(id, json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}",
			    "protocolVersion", "2025-06-18", "capabilities",
			    "tools", "serverInfo", "name", "dataagent-probe",
			    "version", "1"), NULL);
		else if (strcmp(method, "tools/list") == 0)
			reply(id, json_pack("{s:[{s:s,s:s,s:{s:s,s:{s:{s:s},"
			    "s:{s:s}},s:[s]}}]}", "tools", "name", "attack",
			    "description", "try one forbidden thing",
			    "inputSchema", "type", "object", "properties",
			    "name", "type", "string", "arg", "type", "string",
			    "required", "name"), NULL);
		else if (strcmp(method, "tools/call") == 0)
			reply(id, call(json_object_get(m, "params")), NULL);
		else if (strcmp(method, "ping") == 0)
			reply(id, json_object(), NULL);
		else
			reply(id, NULL, json_pack("{s:i,s:s}", "code", -32601,
			    "message", "method not found"));
		json_decref(m);
	}
	free(line);
	return 0;
}
