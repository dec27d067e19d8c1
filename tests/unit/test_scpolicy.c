/*
 * test_scpolicy.c: seccomp policy files (policy/scpolicy.c): parsing with
 * line-numbered errors, and the shipped upstream and worker policies
 * applied in a child, probed call by call. A case that needs a kernel
 * feature (the 32-bit syscall entry, user namespaces) asks the kernel
 * first, with no filter (tests/unit/kernel.h), and is skipped with the
 * reason when the kernel lacks it: a SIGSEGV from a missing int $0x80
 * entry says nothing about the filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "kernel.h"
#include "scpolicy.h"
#include "unit.h"

static int
parse_err(const char *text, const char *want)
{
	struct scpolicy *p = NULL;
	char err[256] = "";
	int r;

	r = scpolicy_parse(text, "t.policy", &p, err, sizeof(err));
	scpolicy_free(&p);
	if (r != -1 || strstr(err, want) == NULL) {
		fprintf(stderr, "got \"%s\", want \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

/* Runs fn in a child under the policy (after no_new_privs); returns the
 * raw wait status. fn's return value becomes the exit code. */
static int
in_child(const struct scpolicy *p, int (*fn)(void), int use_prog)
{
	struct scprog *g = NULL;
	char err[256];
	int status;
	pid_t pid;

	if (use_prog && scpolicy_compile(p, &g, err, sizeof(err)) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			_exit(100);
		if (use_prog ? scprog_install(g) == -1 :
		    scpolicy_apply(p, err, sizeof(err)) == -1)
			_exit(101);
		_exit(fn());
	}
	waitpid(pid, &status, 0);
	scprog_free(&g);
	return status;
}

static int
do_ptrace(void)
{
	return syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0) == -1 &&
	    errno == EPERM ? 0 : 1;
}

static int
do_unshare_user(void)
{
	return unshare(CLONE_NEWUSER) == -1 && errno == EPERM ? 0 : 1;
}

static int
do_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS ? 0 : 1;
}

/* Harmless arguments: the filter answers before the kernel would look
 * at them (or find io_uring compiled out, ENOSYS). */
static int
do_io_uring(void)
{
	return syscall(SYS_io_uring_setup, 0, NULL) == -1 && errno == EPERM &&
	    syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0) == -1 &&
	    errno == EPERM &&
	    syscall(SYS_io_uring_register, -1, 0, NULL, 0) == -1 &&
	    errno == EPERM ? 0 : 1;
}

static int
do_ordinary(void)
{
	char buf[8];
	int fd = open("/dev/null", O_RDONLY);

	return getpid() > 0 && fd >= 0 && read(fd, buf, 1) == 0 ? 0 : 1;
}

/* i386 getpid through the 32-bit entry (only run where kernel_ia32()
 * found it). */
static int
do_int80(void)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) :
	    "r8", "r9", "r10", "r11", "cc", "memory");
	return 0;	/* not reached: killed */
#else
	return 1;
#endif
}

static int
do_execve(void)
{
	char *argv[] = { (char *)"/bin/true", NULL };

	execve(argv[0], argv, argv + 1);
	return 1;	/* not reached: killed */
}

static int
do_socket(void)
{
	(void)syscall(SYS_socket, 2 /* AF_INET */, 1, 0);
	return 1;	/* not reached: killed */
}

static int
do_worker_ordinary(void)
{
	char buf[4];

	if (syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY) != -1 ||
	    errno != EACCES)
		return 2;
	if (getpid() <= 0 || write(1, "", 0) != 0 || read(0, buf, 0) != 0)
		return 3;
	return 0;
}

static int
do_kill_listed(void)
{
	return (int)syscall(SYS_getppid) > 0 ? 0 : 1;	/* killed */
}

int
main(void)
{
	struct scpolicy *p = NULL, *k = NULL, *w = NULL;
	char err[256], why[512];
	int st, ia32, userns;

	UNIT_CASE("a policy needs a default line first");
	UNIT_CHECK(parse_err("ptrace\n", "t.policy:1: the first rule"));
	UNIT_CHECK(parse_err("# nothing\n", "no \"default ACTION\""));
	UNIT_CHECK(parse_err("default allow\nptrace\ndefault kill\n",
	    "t.policy:3: a second default"));

	UNIT_CASE("unknown names are reported with their line");
	UNIT_CHECK(parse_err("default allow\n\n# c\nptrac\n",
	    "t.policy:4: unknown syscall \"ptrac\""));
	UNIT_CHECK(parse_err("default allow\nptrace errno EWHAT\n",
	    "t.policy:2: unknown errno name"));
	UNIT_CHECK(parse_err("default allow\nptrace sometimes\n",
	    "t.policy:2: expected allow"));
	UNIT_CHECK(parse_err("default allow\nptrace\nbpf\nptrace\n",
	    "t.policy:4: \"ptrace\" is already listed on line 2"));
	UNIT_CHECK(parse_err("default allow\nptrace allow\n",
	    "repeats the default"));

	UNIT_CASE("the shipped upstream policy parses and compiles");
	UNIT_CHECK(scpolicy_load_file("policy/upstream.policy", NULL, &p, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(p != NULL && scpolicy_rules(p) > 40);
	UNIT_CHECK(p != NULL && scpolicy_check(p, err, sizeof(err)) == 0);
	if (p == NULL)
		return unit_done();

	UNIT_CASE("upstream policy: ptrace is EPERM, clone3 is ENOSYS");
	st = in_child(p, do_ptrace, 0);
	UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(p, do_clone3, 1);
	UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	UNIT_CASE("upstream policy: io_uring_setup, _enter, _register are "
	    "EPERM");
	st = in_child(p, do_io_uring, 0);
	UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Root may make one with no filter; if the kernel says no even to
	 * root, an EPERM here would not be the filter's. */
	userns = kernel_userns(0, why, sizeof(why));
	if (KERNEL_CASE("upstream policy: unshare(CLONE_NEWUSER) is EPERM",
	    userns, why)) {
		st = in_child(p, do_unshare_user, 0);
		UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	UNIT_CASE("upstream policy: ordinary calls work");
	st = in_child(p, do_ordinary, 1);
	UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	ia32 = kernel_ia32(why, sizeof(why));
	if (KERNEL_CASE("upstream policy: a 32-bit syscall (int $0x80) is "
	    "killed with SIGSYS", ia32, why)) {
		st = in_child(p, do_int80, 1);
		UNIT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	}

	UNIT_CASE("the shipped worker policy parses");
	UNIT_CHECK(scpolicy_load_file("policy/worker.policy", NULL, &w, err,
	    sizeof(err)) == 0);
	if (w != NULL) {
		UNIT_CASE("worker policy: execve and socket kill with SIGSYS");
		st = in_child(w, do_execve, 1);
		UNIT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
		st = in_child(w, do_socket, 1);
		UNIT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);

		UNIT_CASE("worker policy: openat is EACCES; getpid, read, "
		    "write work");
		st = in_child(w, do_worker_ordinary, 1);
		UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

		if (KERNEL_CASE("worker policy: a 32-bit syscall (int $0x80) "
		    "is killed with SIGSYS", ia32, why)) {
			st = in_child(w, do_int80, 1);
			UNIT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
		}
	}
	scpolicy_free(&w);

	UNIT_CASE("a kill rule kills the process");
	UNIT_CHECK(scpolicy_parse("default allow\ngetppid kill\n", "k",
	    &k, err, sizeof(err)) == 0);
	if (k != NULL) {
		st = in_child(k, do_kill_listed, 1);
		UNIT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	}
	scpolicy_free(&k);
	scpolicy_free(&p);
	UNIT_CHECK(p == NULL);
	return unit_done();
}
