/*
 * test_sandbox.c: the sandbox steps (policy/sandbox.c), probed from the
 * inside, bubblewrap-style.
 *
 * A child applies the steps in confine_worker()'s order to a throw-away
 * state directory laid out like the real one, becomes the tenant uid,
 * then tries each thing that must (or must not) work and reports one
 * line per probe, "name value", through a pipe. The parent asserts the
 * exact outcomes. Every child _exits; none returns into the harness.
 * The child's mounts die with its mount namespace; the parent removes
 * the files.
 *
 * Two layouts: the state directory under /var/lib (the covers of the
 * hide list are what hides things) and under /tmp (the fresh /tmp buries
 * it, and the home must still be bound back at its path).
 *
 * The user namespace cases need a kernel that lets the tenant uid make
 * one: that is asked first, with no sandbox (tests/unit/kernel.h), and
 * the cases are skipped with the reason where the kernel refuses.
 *
 * Needs root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include "kernel.h"
#include "sandbox.h"
#include "unit.h"

#define T_UID		64901	/* the tenant */
#define T_UID2		64902	/* another tenant */
#define T_NOFILE	64
#define T_NPROC		16
#define T_SECRET	"the other tenant's secret\n"
#define T_PROBE		"written from inside the sandbox\n"
#define T_SHM_KEY	0x64a90001	/* a SysV segment the parent makes */
#define T_KEYFILE	"SECRET_KEY=not-for-tenants\n"
#define CAPS_NONE	"0000000000000000"

struct layout {
	char ly_base[PATH_MAX];
	char ly_state[PATH_MAX];	/* <base>/state */
	char ly_db[PATH_MAX];		/* <state>/dataagent.db */
	char ly_tenants[PATH_MAX];	/* <state>/tenants */
	char ly_home[PATH_MAX];		/* <state>/tenants/t1, ours */
	char ly_home2[PATH_MAX];	/* <state>/tenants/t2, not ours */
	char ly_secret2[PATH_MAX];	/* <home2>/secret.txt */
	char ly_run[PATH_MAX];		/* <base>/run, the control dir */
	char ly_sock[PATH_MAX];		/* <run>/control.sock, live */
	char ly_keyfile[PATH_MAX];	/* <base>/keys/secret.key, hidden */
	char ly_missing[PATH_MAX];	/* in the hide list, absent */
	int ly_sockfd;
};

/* What a child reported: "name value" lines. */
struct report {
	char rp_text[16384];
	int rp_status;		/* from waitpid */
};

typedef void (*child_fn)(int fd, void *arg);

/* ------------------------------------------------------------ helpers */

static void rep(int fd, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rep(int fd, const char *name, const char *fmt, ...)
{
	char val[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	dprintf(fd, "%s %s\n", name, val);
}

/* Reports 0 for success, else errno. */
static void
rep_rc(int fd, const char *name, int r)
{
	rep(fd, name, "%d", r == -1 ? errno : 0);
}

/* Runs fn in a child, collects what it writes to fd. */
static void
run_child(child_fn fn, void *arg, struct report *rp)
{
	size_t off = 0;
	ssize_t n;
	pid_t pid;
	int p[2];

	memset(rp, 0, sizeof(*rp));
	rp->rp_status = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		fn(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	while (off + 1 < sizeof(rp->rp_text) && (n = read(p[0],
	    rp->rp_text + off, sizeof(rp->rp_text) - 1 - off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		off += (size_t)n;
	}
	rp->rp_text[off] = '\0';
	close(p[0]);
	while (waitpid(pid, &rp->rp_status, 0) == -1 && errno == EINTR)
		;
}

/* The value reported for name ("" when absent), copied into a buffer. */
static const char *
res(const struct report *rp, const char *name)
{
	static char val[512];
	const char *p = rp->rp_text, *e;
	size_t n = strlen(name);

	while (*p != '\0') {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == ' ') {
			snprintf(val, sizeof(val), "%.*s", (int)(e - p - n - 1),
			    p + n + 1);
			return val;
		}
		p = *e != '\0' ? e + 1 : e;
	}
	return "";
}

static int
res_is(const struct report *rp, const char *name, const char *want)
{
	const char *got = res(rp, name);

	if (strcmp(got, want) == 0)
		return 1;
	fprintf(stderr, "probe %s: got \"%s\", want \"%s\"\n", name, got,
	    want);
	return 0;
}

static int
res_errno(const struct report *rp, const char *name, int want)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", want);
	return res_is(rp, name, buf);
}

static int
write_file(const char *path, const char *text, mode_t mode)
{
	int fd, r;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1)
		return -1;
	r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return r;
}

/* ------------------------------------------------------------- layout */

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)remove(path);
	return 0;
}

static void
layout_remove(struct layout *ly)
{
	if (ly->ly_sockfd != -1)
		close(ly->ly_sockfd);
	ly->ly_sockfd = -1;
	if (ly->ly_base[0] != '\0')
		nftw(ly->ly_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	ly->ly_base[0] = '\0';
}

#define LY_PATH(dst, ...) \
	(snprintf((dst), sizeof(dst), __VA_ARGS__) >= (int)sizeof(dst))

/*
 * A state directory as the supervisor lays it out, under parent. Files
 * that must stay hidden are world-readable on purpose: only the covers
 * can explain an ENOENT or an empty read.
 */
static int
layout_make(struct layout *ly, const char *parent)
{
	struct sockaddr_un sun;
	char keys[PATH_MAX];

	memset(ly, 0, sizeof(*ly));
	ly->ly_sockfd = -1;
	if (LY_PATH(ly->ly_base, "%s/dataagent-sandbox.XXXXXX", parent) ||
	    mkdtemp(ly->ly_base) == NULL) {
		ly->ly_base[0] = '\0';
		return -1;
	}
	if (LY_PATH(ly->ly_state, "%s/state", ly->ly_base) ||
	    LY_PATH(ly->ly_db, "%s/dataagent.db", ly->ly_state) ||
	    LY_PATH(ly->ly_tenants, "%s/tenants", ly->ly_state) ||
	    LY_PATH(ly->ly_home, "%s/t1", ly->ly_tenants) ||
	    LY_PATH(ly->ly_home2, "%s/t2", ly->ly_tenants) ||
	    LY_PATH(ly->ly_secret2, "%s/secret.txt", ly->ly_home2) ||
	    LY_PATH(ly->ly_run, "%s/run", ly->ly_base) ||
	    LY_PATH(ly->ly_sock, "%s/control.sock", ly->ly_run) ||
	    LY_PATH(keys, "%s/keys", ly->ly_base) ||
	    LY_PATH(ly->ly_keyfile, "%s/secret.key", keys) ||
	    LY_PATH(ly->ly_missing, "%s/no-such-dir", ly->ly_base))
		return -1;
	if (chmod(ly->ly_base, 0755) == -1 ||
	    mkdir(ly->ly_state, 0755) == -1 ||
	    write_file(ly->ly_db, "SQLite format 3", 0644) == -1 ||
	    mkdir(ly->ly_tenants, 0755) == -1 ||
	    mkdir(ly->ly_home, 0700) == -1 ||
	    chown(ly->ly_home, T_UID, T_UID) == -1 ||
	    mkdir(ly->ly_home2, 0755) == -1 ||
	    write_file(ly->ly_secret2, T_SECRET, 0644) == -1 ||
	    chown(ly->ly_home2, T_UID2, T_UID2) == -1 ||
	    mkdir(ly->ly_run, 0755) == -1 ||
	    mkdir(keys, 0755) == -1 ||
	    write_file(ly->ly_keyfile, T_KEYFILE, 0644) == -1)
		return -1;

	/* A live control socket, world-connectable: only the cover hides it. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ly->ly_sock) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, ly->ly_sock, strlen(ly->ly_sock) + 1);
	if ((ly->ly_sockfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1 ||
	    bind(ly->ly_sockfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(ly->ly_sockfd, 4) == -1 || chmod(ly->ly_sock, 0666) == -1)
		return -1;
	return 0;
}

/* ------------------------------------------------------------- probes */

static void
probe_status(int fd)
{
	static const char *keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd",
	    "CapAmb", "NoNewPrivs", "Uid", "Gid", "Groups", NULL };
	char line[512], name[sizeof(line) + 8], *v, *t;
	FILE *f;
	size_t i, n;

	if ((f = fopen("/proc/self/status", "re")) == NULL) {
		rep(fd, "status", "%d", errno);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(line, keys[i]) == 0)
				break;
		if (keys[i] == NULL)
			continue;
		v += strspn(v, " \t");
		n = strcspn(v, "\n");
		v[n] = '\0';
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
		for (t = v; *t != '\0'; t++)
			if (*t == '\t')
				*t = ' ';
		snprintf(name, sizeof(name), "status.%s", line);
		rep(fd, name, "%s", v);
	}
	fclose(f);
}

static void
probe_ids(int fd)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	rep(fd, "ids", "%u %u %u %u %u %u", (unsigned)ru, (unsigned)eu,
	    (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg);
	rep(fd, "ngroups", "%d", getgroups(0, NULL));
	rep(fd, "securebits", "0x%x", (unsigned)prctl(PR_GET_SECUREBITS));
	rep(fd, "dumpable", "%d", prctl(PR_GET_DUMPABLE));
	rep_rc(fd, "setuid0", setuid(0));
	rep_rc(fd, "setgid0", setgid(0));
}

/* Reports errno of open(path, flags), or 0 and the bytes read. */
static void
probe_open(int fd, const char *name, const char *path, int flags)
{
	char buf[256], nm[64];
	ssize_t n;
	int f;

	if ((f = open(path, flags | O_CLOEXEC)) == -1) {
		rep(fd, name, "%d", errno);
		return;
	}
	rep(fd, name, "0");
	if ((flags & O_ACCMODE) == O_RDONLY) {
		n = read(f, buf, sizeof(buf));
		snprintf(nm, sizeof(nm), "%s.read", name);
	} else {
		n = write(f, "overwritten\n", 12);
		snprintf(nm, sizeof(nm), "%s.write", name);
	}
	rep(fd, nm, "%zd", n);
	close(f);
}

/* Entries other than . and .. in a directory, or -errno. */
static int
dir_entries(const char *path)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
probe_fs(int fd, const struct layout *ly)
{
	char path[PATH_MAX + 32], names[256] = "";
	struct sockaddr_un sun;
	struct dirent *de;
	struct stat st;
	size_t n;
	DIR *d;
	int s;

	probe_open(fd, "store", ly->ly_db, O_RDONLY);
	rep_rc(fd, "t2", stat(ly->ly_home2, &st));
	probe_open(fd, "t2secret", ly->ly_secret2, O_RDONLY);
	probe_open(fd, "cwd_secret", "t2/secret.txt", O_RDONLY);
	rep(fd, "cwd", "%s", getcwd(path, sizeof(path)) != NULL ? path :
	    "?");
	if ((d = opendir(ly->ly_tenants)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			n = strlen(names);
			if (snprintf(names + n, sizeof(names) - n, "%s%s",
			    n > 0 ? "," : "", de->d_name) >=
			    (int)(sizeof(names) - n))
				break;
		}
		closedir(d);
		rep(fd, "tenants", "%s", names);
	} else
		rep(fd, "tenants", "error %d", errno);
	snprintf(path, sizeof(path), "%s/new", ly->ly_state);
	rep_rc(fd, "state_mkdir", mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/new", ly->ly_tenants);
	rep_rc(fd, "tenants_mkdir", mkdir(path, 0700));
	probe_open(fd, "keyfile", ly->ly_keyfile, O_RDONLY);
	probe_open(fd, "keyfile_w", ly->ly_keyfile, O_WRONLY);
	rep(fd, "run_entries", "%d", dir_entries(ly->ly_run));
	rep_rc(fd, "missing", stat(ly->ly_missing, &st));

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ly->ly_sock, strlen(ly->ly_sock) + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		rep(fd, "sock", "socket %d", errno);
	else {
		rep_rc(fd, "sock", connect(s, (struct sockaddr *)&sun,
		    sizeof(sun)));
		close(s);
	}

	snprintf(path, sizeof(path), "%s/probe.txt", ly->ly_home);
	rep_rc(fd, "home_write", write_file(path, T_PROBE, 0600));
	if (stat(ly->ly_home, &st) == 0)
		rep(fd, "home_owner", "%u", (unsigned)st.st_uid);
	else
		rep(fd, "home_owner", "error %d", errno);
}

/* /tmp, /var/tmp and /dev/shm, as tmp_*, vartmp_* and shm_*; and the
 * SysV IPC the parent made (key T_SHM_KEY) and the IPC namespace. */
static void
probe_tmp(int fd)
{
	static const char *const dirs[][2] = { { "/tmp", "tmp" },
	    { "/var/tmp", "vartmp" }, { "/dev/shm", "shm" } };
	char path[64], name[32], ns[64];
	struct statfs sf;
	struct stat st;
	ssize_t n;
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		const char *d = dirs[i][0], *p = dirs[i][1];

		snprintf(name, sizeof(name), "%s_type", p);
		if (statfs(d, &sf) == 0) {
			rep(fd, name, "0x%lx", (unsigned long)sf.f_type);
			snprintf(name, sizeof(name), "%s_size", p);
			rep(fd, name, "%llu", (unsigned long long)sf.f_blocks *
			    (unsigned long long)sf.f_bsize);
		} else
			rep(fd, name, "error %d", errno);
		snprintf(name, sizeof(name), "%s_mode", p);
		if (stat(d, &st) == 0)
			rep(fd, name, "%o", (unsigned)(st.st_mode & 07777));
		snprintf(name, sizeof(name), "%s_entries", p);
		rep(fd, name, "%d", dir_entries(d));
		snprintf(path, sizeof(path), "%s/dataagent-sandbox-probe.%d", d,
		    (int)getpid());
		snprintf(name, sizeof(name), "%s_write", p);
		rep_rc(fd, name, write_file(path, T_PROBE, 0600));
		snprintf(name, sizeof(name), "%s_file", p);
		rep(fd, name, "%s", path);
	}
	rep_rc(fd, "sysv_shmget", shmget(T_SHM_KEY, 0, 0));
	n = readlink("/proc/self/ns/ipc", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = '\0';
	rep(fd, "ipc_ns", "%s", ns);
}

/* The real uid in /proc/<pid>/status, or -1. */
static long
proc_uid(const char *pid)
{
	char path[PATH_MAX], line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Uid:", 4) == 0) {
			uid = strtol(line + 4, NULL, 10);
			break;
		}
	fclose(f);
	return uid;
}

static void
probe_proc(int fd)
{
	char path[64], c;
	struct statfs sf;
	struct dirent *de;
	struct stat st;
	int seen = 0, foreign = 0, sync[2];
	pid_t pid;
	DIR *d;

	if (statfs("/proc", &sf) == 0)
		rep(fd, "proc_type", "0x%lx", (unsigned long)sf.f_type);
	if ((d = opendir("/proc")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			seen++;
			if (proc_uid(de->d_name) != T_UID)
				foreign++;
		}
		closedir(d);
	}
	rep(fd, "proc_seen", "%d", seen);
	rep(fd, "proc_foreign", "%d", foreign);
	snprintf(path, sizeof(path), "/proc/%d", (int)getppid());
	rep_rc(fd, "proc_parent", stat(path, &st));
	rep_rc(fd, "proc_init", stat("/proc/1", &st));
	rep_rc(fd, "proc_self", stat("/proc/self/status", &st));

	/*
	 * An upstream server: a child that execs (and so is dumpable again).
	 * The pipe closes on exec; then its /proc entry must be there.
	 */
	if (pipe2(sync, O_CLOEXEC) == -1) {
		rep(fd, "proc_child", "pipe %d", errno);
		return;
	}
	if ((pid = fork()) == 0) {
		char *argv[] = { "sleep", "30", NULL };

		close(sync[0]);
		execv("/bin/sleep", argv);
		_exit(127);
	}
	close(sync[1]);
	while (pid > 0 && read(sync[0], &c, 1) == -1 && errno == EINTR)
		;
	close(sync[0]);
	if (pid == -1) {
		rep(fd, "proc_child", "fork %d", errno);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	rep_rc(fd, "proc_child", stat(path, &st));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
probe_limits(int fd)
{
	int fds[T_NOFILE + 8], nfd = 0, nfork = 0, err = 0, hold[2], i;
	pid_t kids[T_NPROC + 8];
	struct rlimit rl;
	char c;

	getrlimit(RLIMIT_CORE, &rl);
	rep(fd, "core", "%llu %llu", (unsigned long long)rl.rlim_cur,
	    (unsigned long long)rl.rlim_max);
	getrlimit(RLIMIT_NOFILE, &rl);
	rep(fd, "nofile", "%llu %llu", (unsigned long long)rl.rlim_cur,
	    (unsigned long long)rl.rlim_max);
	getrlimit(RLIMIT_NPROC, &rl);
	rep(fd, "nproc", "%llu %llu", (unsigned long long)rl.rlim_cur,
	    (unsigned long long)rl.rlim_max);

	while (nfd < (int)(sizeof(fds) / sizeof(fds[0]))) {
		if ((fds[nfd] = open("/dev/null", O_RDONLY | O_CLOEXEC)) ==
		    -1) {
			err = errno;
			break;
		}
		nfd++;
	}
	rep(fd, "nofile_exhaust", "%d", err);
	for (i = 0; i < nfd; i++)
		close(fds[i]);

	/* Children that wait for hold[1] to close, then go. */
	err = 0;
	if (pipe2(hold, O_CLOEXEC) == -1) {
		rep(fd, "nproc_exhaust", "pipe %d", errno);
		return;
	}
	while (nfork < (int)(sizeof(kids) / sizeof(kids[0]))) {
		if ((kids[nfork] = fork()) == -1) {
			err = errno;
			break;
		}
		if (kids[nfork] == 0) {
			close(hold[1]);
			(void)!read(hold[0], &c, 1);
			_exit(0);
		}
		nfork++;
	}
	close(hold[0]);
	close(hold[1]);
	for (i = 0; i < nfork; i++)
		waitpid(kids[i], NULL, 0);
	rep(fd, "nproc_exhaust", "%d", err);
	rep(fd, "nproc_forks", "%d", nfork);
}

static void
probe_userns(int fd, const struct layout *ly)
{
	pid_t pid;

	/* In a grandchild: a new user namespace changes what we are. */
	if ((pid = fork()) == -1) {
		rep(fd, "userns", "fork %d", errno);
		return;
	}
	if (pid == 0) {
		int r = unshare(CLONE_NEWUSER);

		rep_rc(fd, "userns", r);
		if (r == -1)
			_exit(0);
		/* Root in the new namespace: can it undo the covers? */
		rep_rc(fd, "userns_newns", unshare(CLONE_NEWNS));
		rep_rc(fd, "userns_umount_proc", umount2("/proc", MNT_DETACH));
		rep_rc(fd, "userns_umount_cover", umount2(ly->ly_state,
		    MNT_DETACH));
		rep_rc(fd, "userns_bind_root", mount("/", "/tmp/bindroot",
		    NULL, MS_BIND, NULL));
		probe_open(fd, "userns_store", ly->ly_db, O_RDONLY);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void
probe_mount(int fd, const struct layout *ly)
{
	rep_rc(fd, "mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
	rep_rc(fd, "umount_proc", umount2("/proc", MNT_DETACH));
	rep_rc(fd, "umount_cover", umount2(ly->ly_state, MNT_DETACH));
	rep_rc(fd, "unshare_ns", unshare(CLONE_NEWNS));
	(void)mkdir("/tmp/bindroot", 0700);
	probe_userns(fd, ly);
}

/*
 * The worker's sequence, as confine_worker() runs it, then the probes.
 * A setup failure is reported as "setup <step>: <error>".
 */
static void
sandboxed_child(int fd, void *arg)
{
	const struct layout *ly = arg;
	const char *hide[] = { ly->ly_state, ly->ly_run, ly->ly_keyfile,
	    ly->ly_missing, ly->ly_state, NULL };
	struct sandbox_limits sl = { T_NOFILE, T_NPROC };
	char err[512];

	/* The worker might start with its cwd in a covered directory. */
	if (chdir(ly->ly_tenants) == -1) {
		snprintf(err, sizeof(err), "chdir: %s", strerror(errno));
		goto fail;
	}
	if (sandbox_rlimits(&sl, err, sizeof(err)) == -1 ||
	    sandbox_fs(ly->ly_home, hide, 0, err, sizeof(err)) == -1 ||
	    sandbox_securebits(err, sizeof(err)) == -1 ||
	    sandbox_bounding_drop(err, sizeof(err)) == -1)
		goto fail;
	if (setgroups(0, NULL) == -1 ||
	    setresgid(T_UID, T_UID, T_UID) == -1 ||
	    setresuid(T_UID, T_UID, T_UID) == -1) {
		snprintf(err, sizeof(err), "uid switch: %s", strerror(errno));
		goto fail;
	}
	if (sandbox_caps_drop(err, sizeof(err)) == -1 ||
	    sandbox_caps_verify(err, sizeof(err)) == -1)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		snprintf(err, sizeof(err), "prctl: %s", strerror(errno));
		goto fail;
	}
	rep(fd, "setup", "ok");
	probe_status(fd);
	probe_ids(fd);
	probe_fs(fd, ly);
	probe_tmp(fd);
	probe_proc(fd);
	probe_limits(fd);
	probe_mount(fd, ly);
	_exit(0);
fail:
	rep(fd, "setup", "%s", err);
	_exit(1);
}

/* ------------------------------------------------ single-step children */

struct step_arg {
	int sa_which;
};

enum {
	STEP_DROP_AS_ROOT = 1,
	STEP_VERIFY_AS_ROOT,
	STEP_BOUNDING_AFTER_SWITCH,
	STEP_SECBITS_AFTER_SWITCH,
	STEP_RLIMIT_CLAMP,
	STEP_RLIMIT_DEFAULTS,
	STEP_HIDE_HOME,
	STEP_HOME_RELATIVE,
};

static void
step_child(int fd, void *arg)
{
	const struct step_arg *sa = arg;
	struct rlimit rl = { 100, 100 };
	char err[512] = "", home[PATH_MAX];
	const char *hide[2] = { NULL, NULL };
	int r = -1;

	switch (sa->sa_which) {
	case STEP_DROP_AS_ROOT:
		r = sandbox_caps_drop(err, sizeof(err));
		break;
	case STEP_VERIFY_AS_ROOT:
		r = sandbox_caps_verify(err, sizeof(err));
		break;
	case STEP_BOUNDING_AFTER_SWITCH:
	case STEP_SECBITS_AFTER_SWITCH:
		if (setresuid(T_UID, T_UID, T_UID) == -1) {
			snprintf(err, sizeof(err), "setresuid");
			break;
		}
		r = sa->sa_which == STEP_BOUNDING_AFTER_SWITCH ?
		    sandbox_bounding_drop(err, sizeof(err)) :
		    sandbox_securebits(err, sizeof(err));
		rep(fd, "errno", "%d", errno);
		break;
	case STEP_RLIMIT_CLAMP: {
		struct sandbox_limits sl = { 1000, 5000 };

		setrlimit(RLIMIT_NOFILE, &rl);
		setrlimit(RLIMIT_NPROC, &rl);
		r = sandbox_rlimits(&sl, err, sizeof(err));
		getrlimit(RLIMIT_NOFILE, &rl);
		rep(fd, "nofile", "%llu %llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NPROC, &rl);
		rep(fd, "nproc", "%llu %llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		break;
	}
	case STEP_RLIMIT_DEFAULTS:
		r = sandbox_rlimits(NULL, err, sizeof(err));
		getrlimit(RLIMIT_NOFILE, &rl);
		rep(fd, "nofile", "%llu %llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NPROC, &rl);
		rep(fd, "nproc", "%llu %llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_CORE, &rl);
		rep(fd, "core", "%llu %llu", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
		break;
	case STEP_HIDE_HOME:
		/* "/tmp/." resolves to the home itself. */
		snprintf(home, sizeof(home), "/tmp");
		hide[0] = "/tmp/.";
		r = sandbox_fs(home, hide, 0, err, sizeof(err));
		break;
	case STEP_HOME_RELATIVE:
		r = sandbox_fs("tenants/t1", NULL, 0, err, sizeof(err));
		break;
	}
	rep(fd, "rc", "%d", r);
	rep(fd, "err", "%s", err);
	_exit(0);
}

static void
run_step(int which, struct report *rp)
{
	struct step_arg sa = { which };

	run_child(step_child, &sa, rp);
}

/* ------------------------------------------------------------ checks */

static int
host_mounts_mention(const char *path)
{
	char line[4096];
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, path) != NULL)
			found = 1;
	fclose(f);
	return found;
}

/* Reads path into buf (NUL-terminated); returns bytes or -1. */
static ssize_t
read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void
check_home_written(const struct layout *ly)
{
	char path[PATH_MAX + 16], buf[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/probe.txt", ly->ly_home);
	UNIT_CHECK(read_file(path, buf, sizeof(buf)) > 0);
	UNIT_CHECK(strcmp(buf, T_PROBE) == 0);
	UNIT_CHECK(stat(path, &st) == 0 && st.st_uid == T_UID);
}

/* Makes the layout under base and runs the sandboxed child in it.
 * Returns 0, or -1 (recorded as a failure, layout removed). */
static int
layout_run(struct layout *ly, const char *base, struct report *rp)
{
	if (layout_make(ly, base) == -1) {
		UNIT_CHECK(!"layout_make");
		layout_remove(ly);
		return -1;
	}
	run_child(sandboxed_child, ly, rp);
	UNIT_CHECK(WIFEXITED(rp->rp_status) && WEXITSTATUS(rp->rp_status) == 0);
	UNIT_CHECK(res_is(rp, "setup", "ok"));
	if (strcmp(res(rp, "setup"), "ok") != 0)
		fprintf(stderr, "child said:\n%s", rp->rp_text);
	return 0;
}

/* The layout under /var/lib (where the real state dir lives): every
 * probe. */
static void
test_var_layout(void)
{
	static const char *const tmps[] = { "tmp", "vartmp", "shm" };
	struct layout ly;
	struct report rp;
	char want[64], buf[128], why[512];
	const char *tmpfile;
	int userns, shmid;
	size_t i;

	UNIT_CASE("layout under /var/lib: the sandboxed child starts");
	shmid = shmget(T_SHM_KEY, 4096, IPC_CREAT | 0666);
	UNIT_CHECK(shmid != -1);
	if (layout_run(&ly, "/var/lib", &rp) == -1) {
		shmctl(shmid, IPC_RMID, NULL);
		return;
	}
	shmctl(shmid, IPC_RMID, NULL);

	UNIT_CASE("no capability in any set (/proc/self/status)");
	UNIT_CHECK(res_is(&rp, "status.CapEff", CAPS_NONE));
	UNIT_CHECK(res_is(&rp, "status.CapPrm", CAPS_NONE));
	UNIT_CHECK(res_is(&rp, "status.CapInh", CAPS_NONE));
	UNIT_CHECK(res_is(&rp, "status.CapBnd", CAPS_NONE));
	UNIT_CHECK(res_is(&rp, "status.CapAmb", CAPS_NONE));

	UNIT_CASE("no_new_privs is set, the process is not dumpable");
	UNIT_CHECK(res_is(&rp, "status.NoNewPrivs", "1"));
	UNIT_CHECK(res_is(&rp, "dumpable", "0"));

	UNIT_CASE("securebits: noroot, fixup and keep-caps locked, no ambient");
	UNIT_CHECK(res_is(&rp, "securebits", "0xeb"));

	UNIT_CASE("every uid and gid is the tenant's, no supplementary group");
	snprintf(want, sizeof(want), "%d %d %d %d %d %d", T_UID, T_UID, T_UID,
	    T_UID, T_UID, T_UID);
	UNIT_CHECK(res_is(&rp, "ids", want));
	snprintf(want, sizeof(want), "%d %d %d %d", T_UID, T_UID, T_UID,
	    T_UID);
	UNIT_CHECK(res_is(&rp, "status.Uid", want));
	UNIT_CHECK(res_is(&rp, "status.Gid", want));
	UNIT_CHECK(res_is(&rp, "status.Groups", ""));
	UNIT_CHECK(res_is(&rp, "ngroups", "0"));

	UNIT_CASE("setuid(0) and setgid(0) fail with EPERM");
	UNIT_CHECK(res_errno(&rp, "setuid0", EPERM));
	UNIT_CHECK(res_errno(&rp, "setgid0", EPERM));

	UNIT_CASE("the store file is gone (ENOENT, though world-readable)");
	UNIT_CHECK(res_errno(&rp, "store", ENOENT));

	UNIT_CASE("another tenant's home is gone (ENOENT)");
	UNIT_CHECK(res_errno(&rp, "t2", ENOENT));
	UNIT_CHECK(res_errno(&rp, "t2secret", ENOENT));
	UNIT_CHECK(res_is(&rp, "tenants", "t1"));

	UNIT_CASE("a working directory in a covered dir does not leak it");
	UNIT_CHECK(res_errno(&rp, "cwd_secret", ENOENT));
	UNIT_CHECK(res_is(&rp, "cwd", "/"));

	UNIT_CASE("the state dir cover is read-only (EROFS)");
	UNIT_CHECK(res_errno(&rp, "state_mkdir", EROFS));
	UNIT_CHECK(res_errno(&rp, "tenants_mkdir", EROFS));

	/*
	 * The cover is /dev/null: a read-only mount does not stop writes to
	 * a device node, but they go nowhere.
	 */
	UNIT_CASE("a hidden file reads as empty, writes to it vanish");
	UNIT_CHECK(res_errno(&rp, "keyfile", 0));
	UNIT_CHECK(res_is(&rp, "keyfile.read", "0"));
	UNIT_CHECK(res_errno(&rp, "keyfile_w", 0));
	UNIT_CHECK(res_is(&rp, "keyfile_w.write", "12"));
	UNIT_CHECK(read_file(ly.ly_keyfile, buf, sizeof(buf)) > 0 &&
	    strcmp(buf, T_KEYFILE) == 0);

	UNIT_CASE("the control socket's dir is empty, connect gets ENOENT");
	UNIT_CHECK(res_is(&rp, "run_entries", "0"));
	UNIT_CHECK(res_errno(&rp, "sock", ENOENT));
	UNIT_CHECK(res_errno(&rp, "missing", ENOENT));

	UNIT_CASE("the own home is reachable and writable, on the host too");
	UNIT_CHECK(res_errno(&rp, "home_write", 0));
	snprintf(want, sizeof(want), "%d", T_UID);
	UNIT_CHECK(res_is(&rp, "home_owner", want));
	check_home_written(&ly);

	UNIT_CASE("/tmp, /var/tmp and /dev/shm are fresh, empty, bounded tmpfs, mode 1777");
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)TMPFS_MAGIC);
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%s_type", tmps[i]);
		UNIT_CHECK(res_is(&rp, buf, want));
		snprintf(buf, sizeof(buf), "%s_size", tmps[i]);
		UNIT_CHECK(res_is(&rp, buf, "67108864"));
		snprintf(buf, sizeof(buf), "%s_mode", tmps[i]);
		UNIT_CHECK(res_is(&rp, buf, "1777"));
		snprintf(buf, sizeof(buf), "%s_entries", tmps[i]);
		UNIT_CHECK(res_is(&rp, buf, "0"));
	}

	UNIT_CASE("a file written to the sandbox's /tmp, /var/tmp or /dev/shm is not in the host's");
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%s_write", tmps[i]);
		UNIT_CHECK(res_errno(&rp, buf, 0));
		snprintf(buf, sizeof(buf), "%s_file", tmps[i]);
		tmpfile = res(&rp, buf);
		UNIT_CHECK(tmpfile[0] == '/');
		UNIT_CHECK(access(tmpfile, F_OK) == -1 && errno == ENOENT);
	}

	UNIT_CASE("SysV IPC: its own namespace, the host's segment is not found");
	UNIT_CHECK(res_errno(&rp, "sysv_shmget", ENOENT));
	{
		char hostns[64];
		ssize_t hn = readlink("/proc/self/ns/ipc", hostns,
		    sizeof(hostns) - 1);

		hostns[hn > 0 ? hn : 0] = '\0';
		UNIT_CHECK(strncmp(res(&rp, "ipc_ns"), "ipc:[", 5) == 0 &&
		    strcmp(res(&rp, "ipc_ns"), hostns) != 0);
	}

	UNIT_CASE("/proc shows only the tenant's processes (hidepid)");
	snprintf(want, sizeof(want), "0x%lx", (unsigned long)PROC_SUPER_MAGIC);
	UNIT_CHECK(res_is(&rp, "proc_type", want));
	UNIT_CHECK(atoi(res(&rp, "proc_seen")) >= 1);
	UNIT_CHECK(res_is(&rp, "proc_foreign", "0"));
	UNIT_CHECK(res_errno(&rp, "proc_parent", ENOENT));
	UNIT_CHECK(res_errno(&rp, "proc_init", ENOENT));
	UNIT_CHECK(res_errno(&rp, "proc_self", 0));

	UNIT_CASE("/proc shows an exec'd child of the same uid");
	UNIT_CHECK(res_errno(&rp, "proc_child", 0));

	UNIT_CASE("RLIMIT_CORE is 0");
	UNIT_CHECK(res_is(&rp, "core", "0 0"));

	UNIT_CASE("RLIMIT_NOFILE is as set; one fd more fails with EMFILE");
	snprintf(want, sizeof(want), "%d %d", T_NOFILE, T_NOFILE);
	UNIT_CHECK(res_is(&rp, "nofile", want));
	UNIT_CHECK(res_errno(&rp, "nofile_exhaust", EMFILE));

	UNIT_CASE("RLIMIT_NPROC is as set; fork beyond it fails with EAGAIN");
	snprintf(want, sizeof(want), "%d %d", T_NPROC, T_NPROC);
	UNIT_CHECK(res_is(&rp, "nproc", want));
	UNIT_CHECK(res_errno(&rp, "nproc_exhaust", EAGAIN));
	UNIT_CHECK(atoi(res(&rp, "nproc_forks")) < T_NPROC);

	UNIT_CASE("mount, umount, unshare(CLONE_NEWNS) fail with EPERM");
	UNIT_CHECK(res_errno(&rp, "mount_tmpfs", EPERM));
	UNIT_CHECK(res_errno(&rp, "umount_proc", EPERM));
	UNIT_CHECK(res_errno(&rp, "umount_cover", EPERM));
	UNIT_CHECK(res_errno(&rp, "unshare_ns", EPERM));

	/*
	 * Where the kernel lets an unprivileged process make a user
	 * namespace, no_new_privs does not stop it: seccomp must. Inside
	 * it, the mounts we made are locked: they cannot be undone, and a
	 * non-recursive bind of / (which would show what they cover) is
	 * refused.
	 */
	userns = kernel_userns(T_UID, why, sizeof(why));
	if (KERNEL_CASE("unshare(CLONE_NEWUSER) succeeds in the sandbox "
	    "(seccomp must block it)", userns, why))
		UNIT_CHECK(res_errno(&rp, "userns", 0));

	if (KERNEL_CASE("inside a user namespace the covers are locked",
	    userns, why)) {
		UNIT_CHECK(res_errno(&rp, "userns_newns", 0));
		UNIT_CHECK(res_errno(&rp, "userns_umount_proc", EINVAL));
		UNIT_CHECK(res_errno(&rp, "userns_umount_cover", EINVAL));
		UNIT_CHECK(res_errno(&rp, "userns_bind_root", EINVAL));
		UNIT_CHECK(res_errno(&rp, "userns_store", ENOENT));
	}

	UNIT_CASE("the host's mount table is untouched");
	UNIT_CHECK(host_mounts_mention(ly.ly_base) == 0);
	UNIT_CHECK(access(ly.ly_db, R_OK) == 0);

	layout_remove(&ly);
}

/* The layout under /tmp: the fresh /tmp buries it; the home survives. */
static void
test_tmp_layout(void)
{
	struct layout ly;
	struct report rp;

	UNIT_CASE("layout under /tmp: the sandboxed child starts");
	if (layout_run(&ly, "/tmp", &rp) == -1)
		return;

	UNIT_CASE("layout under /tmp: the home is still reachable, writable");
	UNIT_CHECK(res_errno(&rp, "home_write", 0));
	check_home_written(&ly);

	UNIT_CASE("layout under /tmp: store, other tenant, keys stay hidden");
	UNIT_CHECK(res_errno(&rp, "store", ENOENT));
	UNIT_CHECK(res_errno(&rp, "t2", ENOENT));
	UNIT_CHECK(res_is(&rp, "tenants", "t1"));
	UNIT_CHECK(res_errno(&rp, "keyfile", ENOENT));
	UNIT_CHECK(res_errno(&rp, "sock", ENOENT));
	UNIT_CHECK(res_errno(&rp, "tmp_write", 0));

	UNIT_CASE("layout under /tmp: the host's mount table is untouched");
	UNIT_CHECK(host_mounts_mention(ly.ly_base) == 0);

	layout_remove(&ly);
}

static void
test_steps(void)
{
	struct report rp;

	UNIT_CASE("sandbox_caps_drop refuses to run before the uid switch");
	run_step(STEP_DROP_AS_ROOT, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
	UNIT_CHECK(strstr(res(&rp, "err"), "after the uid switch") != NULL);

	UNIT_CASE("sandbox_caps_verify fails while root keeps capabilities");
	run_step(STEP_VERIFY_AS_ROOT, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
	UNIT_CHECK(res_is(&rp, "err", "the effective set is not empty"));

	UNIT_CASE("sandbox_bounding_drop after setresuid fails with EPERM");
	run_step(STEP_BOUNDING_AFTER_SWITCH, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
	UNIT_CHECK(res_errno(&rp, "errno", EPERM));

	UNIT_CASE("sandbox_securebits after setresuid fails with EPERM");
	run_step(STEP_SECBITS_AFTER_SWITCH, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
	UNIT_CHECK(res_errno(&rp, "errno", EPERM));

	UNIT_CASE("sandbox_rlimits only lowers: clamps to the hard limit");
	run_step(STEP_RLIMIT_CLAMP, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "0"));
	UNIT_CHECK(res_is(&rp, "nofile", "100 100"));
	UNIT_CHECK(res_is(&rp, "nproc", "100 100"));

	UNIT_CASE("sandbox_rlimits(NULL): 1024 fds, 256 tasks, no core");
	run_step(STEP_RLIMIT_DEFAULTS, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "0"));
	UNIT_CHECK(res_is(&rp, "nofile", "1024 1024"));
	UNIT_CHECK(res_is(&rp, "nproc", "256 256"));
	UNIT_CHECK(res_is(&rp, "core", "0 0"));

	UNIT_CASE("sandbox_fs refuses to hide the home itself");
	run_step(STEP_HIDE_HOME, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
	UNIT_CHECK(strstr(res(&rp, "err"), "cannot hide") != NULL);

	UNIT_CASE("sandbox_fs refuses a relative home");
	run_step(STEP_HOME_RELATIVE, &rp);
	UNIT_CHECK(res_is(&rp, "rc", "-1"));
}

int
main(void)
{
	UNIT_CASE("runs as root");
	UNIT_CHECK(geteuid() == 0);
	if (geteuid() != 0)
		return unit_done();
	test_var_layout();
	test_tmp_layout();
	test_steps();
	return unit_done();
}
