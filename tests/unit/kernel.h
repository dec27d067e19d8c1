/*
 * kernel.h: what this host's kernel offers the confinement tests.
 *
 * A sandbox test that needs a kernel feature asks for it here first, with
 * no seccomp filter and no sandbox in the way. When the kernel lacks it
 * the case is skipped with the reason: a test fails only when the feature
 * is there and the sandbox does not stop it.
 *
 *   kernel_ia32(why, len)          the 32-bit syscall entry (int $0x80)
 *   kernel_userns(uid, why, len)   uid may make a user namespace
 *   kernel_cgroup_v2(why, len)     our own cgroup v2 offers memory and
 *                                  pids (2: but other processes share it)
 *   kernel_cgroup_v1(why, len)     cgroup v1 memory and pids hierarchies
 *   kernel_cgroups(why, len)       either, as policy/cgroup.c decides
 * Each returns 1 when the feature is there (why then says what was
 * found), 0 when it is not (why says what was seen), -1 when the probe
 * itself failed (why says how).
 *
 *   KERNEL_CASE("name", have, why)
 *       begins the case when have is 1 and is true; otherwise prints
 *       "SKIP <name>: <why>" (have 0) or a FAIL (have -1: the probe
 *       could not tell) and is false.
 *   KERNEL_SKIP_CONFINEMENT("name", why)
 *       a confinement case that cannot run here: SKIP, except that with
 *       CI=true (or 1) on a host that offers cgroups it is a FAIL. A
 *       confinement suite that skips on a host able to confine proves
 *       nothing. A case skipped because the kernel lacks what it needs
 *       uses KERNEL_CASE or UNIT_SKIP and stays a skip under CI.
 *
 * Test-harness knobs, to check the skip paths on a machine that has
 * everything (dataagentd never reads them):
 *   DATAAGENT_TEST_ASSUME_NO_IA32=1    kernel_ia32 reports it missing
 *   DATAAGENT_TEST_ASSUME_NO_USERNS=1  kernel_userns reports it missing
 *   DATAAGENT_TEST_ASSUME_NO_CGROUPS=1 kernel_cgroup_* report none
 * tests/integration/lib.mjs has the same probes and knobs for the
 * integration tests.
 */
#ifndef DATAAGENT_KERNEL_H
#define DATAAGENT_KERNEL_H

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define KERNEL_CG_ROOT "/sys/fs/cgroup"

/* 1 when var is set to "1": the harness asks us to pretend. */
static inline int
kernel_assume_no(const char *var, const char *what, char *why, size_t len)
{
	const char *v = getenv(var);

	if (v == NULL || strcmp(v, "1") != 0)
		return 0;
	snprintf(why, len, "%s=1: taken as a kernel without %s", var, what);
	return 1;
}

/* Waits for pid; returns its status, or -1 with why set. */
static inline int
kernel_wait(pid_t pid, const char *probe, char *why, size_t len)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(why, len, "%s: waitpid: %s", probe,
			    strerror(errno));
			return -1;
		}
	return status;
}

/*
 * The 32-bit syscall entry: a child with no filter executes int $0x80
 * with i386 getpid (20). On a kernel without the entry
 * (CONFIG_IA32_EMULATION off, ia32_emulation=0 on the command line, a
 * PVM guest whose host runs 64-bit user code only) that is a general
 * protection fault, SIGSEGV, seccomp or not: the filter never sees it.
 */
static inline int
kernel_ia32(char *why, size_t len)
{
#if defined(__x86_64__)
	const char *probe = "int $0x80 (i386 getpid) with no filter";
	int status;
	pid_t pid;

	if (kernel_assume_no("DATAAGENT_TEST_ASSUME_NO_IA32",
	    "the 32-bit syscall entry", why, len))
		return 0;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(why, len, "%s: fork: %s", probe, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		long r;

		/* The kernel's own answer: a sanitizer's SIGSEGV handler
		 * would turn the fault into an exit status. */
		signal(SIGSEGV, SIG_DFL);
		/* Kernels before 4.17 clobber r8-r11 on this path. */
		__asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) :
		    "r8", "r9", "r10", "r11", "cc", "memory");
		_exit(r == (long)getpid() ? 0 : 1);
	}
	if ((status = kernel_wait(pid, probe, why, len)) == -1)
		return -1;
	if (WIFEXITED(status)) {
		/* Whatever it answered, the entry ran: seccomp sees it. */
		snprintf(why, len, "%s returned%s", probe,
		    WEXITSTATUS(status) == 0 ? " our pid" : "");
		return 1;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
		snprintf(why, len, "this kernel has no 32-bit syscall entry: "
		    "%s was killed by SIGSEGV (CONFIG_IA32_EMULATION off, "
		    "ia32_emulation=0 on the kernel command line, or a "
		    "hypervisor that runs 64-bit user code only)", probe);
		return 0;
	}
	snprintf(why, len, "%s: unexpected wait status 0x%x", probe, status);
	return -1;
#else
	snprintf(why, len, "not an x86_64 machine: no int $0x80 to try");
	return 0;
#endif
}

/* A kernel setting that explains a refused user namespace, or "". */
static inline void
kernel_userns_hint(int err, char *buf, size_t len)
{
	static const char *knobs[] = {
	    "/proc/sys/kernel/unprivileged_userns_clone",
	    "/proc/sys/user/max_user_namespaces" };
	char val[32];
	size_t i;
	FILE *f;

	buf[0] = '\0';
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		if ((f = fopen(knobs[i], "re")) == NULL)
			continue;
		if (fgets(val, sizeof(val), f) != NULL &&
		    strtol(val, NULL, 10) == 0) {
			snprintf(buf, len, " (%s is 0)", knobs[i]);
			fclose(f);
			return;
		}
		fclose(f);
	}
	if (err == EINVAL)
		snprintf(buf, len, " (a kernel without CONFIG_USER_NS)");
	else if (err == EPERM)
		snprintf(buf, len, " (a chroot, or a security module, refuses "
		    "it)");
}

/*
 * User namespaces: a child becomes uid (when not 0), with no filter and
 * no sandbox, and calls unshare(CLONE_NEWUSER).
 */
static inline int
kernel_userns(uid_t uid, char *why, size_t len)
{
	char probe[96], hint[128];
	int status, err;
	pid_t pid;

	if (kernel_assume_no("DATAAGENT_TEST_ASSUME_NO_USERNS",
	    "user namespaces", why, len))
		return 0;
	snprintf(probe, sizeof(probe), "unshare(CLONE_NEWUSER) as uid %u "
	    "with no filter", (unsigned)uid);
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(why, len, "%s: fork: %s", probe, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (uid != 0 && (setgroups(0, NULL) == -1 ||
		    setresgid(uid, uid, uid) == -1 ||
		    setresuid(uid, uid, uid) == -1))
			_exit(255);
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno & 0xff);
	}
	if ((status = kernel_wait(pid, probe, why, len)) == -1)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		snprintf(why, len, "%s: the probe could not become the uid "
		    "(status 0x%x)", probe, status);
		return -1;
	}
	if ((err = WEXITSTATUS(status)) == 0) {
		snprintf(why, len, "%s works", probe);
		return 1;
	}
	kernel_userns_hint(err, hint, sizeof(hint));
	snprintf(why, len, "the kernel refuses user namespaces: %s: %s%s",
	    probe, strerrorname_np(err) != NULL ? strerrorname_np(err) : "?",
	    hint);
	return 0;
}

/* 1 when path exists on a file system mounted read-write. */
static inline int
kernel_rw_exists(const char *path)
{
	struct statvfs sv;

	return access(path, F_OK) == 0 && statvfs(path, &sv) == 0 &&
	    (sv.f_flag & ST_RDONLY) == 0;
}

/* Reads a small file into buf (NUL-terminated); -1 when it cannot. */
static inline int
kernel_slurp(const char *path, char *buf, size_t len)
{
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* Is word one of the space-separated words of list? */
static inline int
kernel_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' ||
		    p[n] == ' ' || p[n] == '\n'))
			return 1;
	return 0;
}

/*
 * cgroup v2 as cg_open() takes it: our own cgroup (the "0::" line of
 * /proc/self/cgroup, its parent when we are already in its "supervisor"
 * leaf) under /sys/fs/cgroup lists memory and pids in
 * cgroup.controllers, on a read-write mount. 1 when we are the only
 * process in it (cg_open can move us), 2 when others share it (cg_open
 * would get EBUSY), 0 when not offered.
 */
static inline int
kernel_cgroup_v2(char *why, size_t len)
{
	char buf[4096], self[PATH_MAX], path[PATH_MAX + 64], *p, *nl;
	const char *q;
	size_t n;
	long pid;
	int alone = 1;

	if (kernel_assume_no("DATAAGENT_TEST_ASSUME_NO_CGROUPS", "cgroups",
	    why, len))
		return 0;
	if (kernel_slurp("/proc/self/cgroup", buf, sizeof(buf)) == -1) {
		snprintf(why, len, "cgroup v2: /proc/self/cgroup: %s",
		    strerror(errno));
		return 0;
	}
	if ((p = strstr(buf, "0::/")) == NULL || (p != buf && p[-1] != '\n')) {
		snprintf(why, len, "cgroup v2: no \"0::\" line in "
		    "/proc/self/cgroup");
		return 0;
	}
	p += 3;
	if ((nl = strchr(p, '\n')) != NULL)
		*nl = '\0';
	snprintf(self, sizeof(self), "%s", strcmp(p, "/") == 0 ? "" : p);
	n = strlen(self);
	if (n >= strlen("/supervisor") &&
	    strcmp(self + n - strlen("/supervisor"), "/supervisor") == 0)
		self[n - strlen("/supervisor")] = '\0';
	snprintf(path, sizeof(path), KERNEL_CG_ROOT "%s/cgroup.controllers",
	    self);
	if (kernel_slurp(path, buf, sizeof(buf)) == -1) {
		snprintf(why, len, "cgroup v2: %.300s: %s", path,
		    strerror(errno));
		return 0;
	}
	buf[strcspn(buf, "\n")] = '\0';
	if (!kernel_has_word(buf, "memory") || !kernel_has_word(buf, "pids")) {
		snprintf(why, len, "cgroup v2: %.300s lists \"%.100s\", "
		    "not both memory and pids", path, buf);
		return 0;
	}
	snprintf(path, sizeof(path), KERNEL_CG_ROOT "%s/cgroup.procs", self);
	if (!kernel_rw_exists(path)) {
		snprintf(why, len, "cgroup v2: %.300s is not writable", path);
		return 0;
	}
	if (kernel_slurp(path, buf, sizeof(buf)) == 0)
		for (q = buf; *q != '\0'; q = nl) {
			pid = strtol(q, &nl, 10);
			if (nl == q)
				break;
			if (pid != (long)getpid())
				alone = 0;
		}
	snprintf(why, len, "cgroup v2 memory and pids in "
	    KERNEL_CG_ROOT "%.300s%s", self, alone ? "" :
	    " (shared with other processes)");
	return alone ? 1 : 2;
}

/*
 * cgroup v1 as cg_open() takes it: memory and pids hierarchies under
 * /sys/fs/cgroup, mounted read-write.
 */
static inline int
kernel_cgroup_v1(char *why, size_t len)
{
	static const char *need[] = { "memory/cgroup.procs",
	    "memory/memory.limit_in_bytes", "pids/cgroup.procs" };
	size_t i;

	if (kernel_assume_no("DATAAGENT_TEST_ASSUME_NO_CGROUPS", "cgroups",
	    why, len))
		return 0;
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), KERNEL_CG_ROOT "/%s", need[i]);
		if (!kernel_rw_exists(path)) {
			snprintf(why, len, "cgroup v1: no %.300s on a "
			    "read-write mount", path);
			return 0;
		}
	}
	snprintf(why, len, "cgroup v1 memory and pids hierarchies under "
	    KERNEL_CG_ROOT);
	return 1;
}

/* Does this host offer cgroups dataagentd can confine tenants with? */
static inline int
kernel_cgroups(char *why, size_t len)
{
	char v2[512], v1[512];

	if (kernel_cgroup_v2(v2, sizeof(v2)) > 0) {
		snprintf(why, len, "%s", v2);
		return 1;
	}
	if (kernel_cgroup_v1(v1, sizeof(v1)) == 1) {
		snprintf(why, len, "%s", v1);
		return 1;
	}
	snprintf(why, len, "no cgroups to confine with: %.480s; %.480s",
	    v2, v1);
	return 0;
}

static inline int
kernel_case(const char *file, const char *name, int have, const char *why)
{
	char detail[1024];

	if (have == 1) {
		unit_case_begin(file, name);
		return 1;
	}
	if (have == 0)
		unit_case_skip(file, name, why, 0);
	else {
		snprintf(detail, sizeof(detail), "could not tell whether the "
		    "kernel offers what this needs: %s", why);
		unit_case_skip(file, name, detail, 1);
	}
	return 0;
}

/* CI=true (or 1): a run whose skips must be justified by the host. */
static inline int
kernel_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

static inline void
kernel_skip_confinement(const char *file, const char *name, const char *why)
{
	char host[1024], detail[2048];
	int offered = kernel_cgroups(host, sizeof(host)) == 1;

	if (offered && kernel_ci()) {
		snprintf(detail, sizeof(detail), "would skip (%s), but CI=%s "
		    "and this host offers %s: a confinement test may not skip "
		    "here", why, getenv("CI"), host);
		unit_case_skip(file, name, detail, 1);
	} else if (offered) {
		snprintf(detail, sizeof(detail), "%s (this host offers %s: "
		    "with CI=true this fails)", why, host);
		unit_case_skip(file, name, detail, 0);
	} else
		unit_case_skip(file, name, why, 0);
}

#define KERNEL_CASE(name, have, why) \
	kernel_case(__FILE__, (name), (have), (why))
#define KERNEL_SKIP_CONFINEMENT(name, why) \
	kernel_skip_confinement(__FILE__, (name), (why))

#endif
