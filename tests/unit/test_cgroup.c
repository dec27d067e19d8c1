/*
 * test_cgroup.c: per-tenant cgroups.
 *
 * v2 runs against a fake tree in a temp dir: the kernel creates
 * interface files on mkdir, a fake tree does not, so the test creates the
 * files the module is expected to write and then reads what it wrote.
 * v1 runs for real on hosts that mount writable v1 memory and pids
 * hierarchies (a worker-like child is attached, OOM-killed, removed);
 * elsewhere it prints a SKIP line. "auto" must pick what this host
 * really offers. What the host offers is probed by tests/unit/kernel.h;
 * with CI=true, a real case that cannot run on a host that offers
 * cgroups (not root, a shared v2 cgroup) fails instead of skipping.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "cgroup.h"
#include "kernel.h"
#include "unit.h"

#define SYS_CG "/sys/fs/cgroup"
#define MiB (1024 * 1024)

static char root[64];		/* the fake v2 root */
static char svc[PATH_MAX];	/* <root>/system.slice/dataagent.service */

static void
put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void
mkdirs(const char *dir)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
	(void)mkdir(path, 0755);
}

/* The file's text without a trailing newline, or "<errno text>". */
static const char *
slurp(const char *dir, const char *name)
{
	static char buf[4096];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) == -1) {
		snprintf(buf, sizeof(buf), "<%s>", strerror(errno));
		return buf;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

static int
is(const char *dir, const char *name, const char *want)
{
	const char *got = slurp(dir, name);

	if (strcmp(got, want) == 0)
		return 1;
	fprintf(stderr, "%s/%s: \"%s\", want \"%s\"\n", dir, name, got, want);
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) == -1 ? -1 : 0;
}

static void
rm_rf(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ------------------------------------------------------ fake v2 tree */

static void
fake_tree(void)
{
	char d[PATH_MAX + 32], pid[32];

	snprintf(root, sizeof(root), "/tmp/dataagent-test-cgroup-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(svc, sizeof(svc), "%s/system.slice/dataagent.service", root);
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put(root, "cgroup.subtree_control", "");
	put(root, "self-cgroup", "1:name=systemd:/old\n"
	    "0::/system.slice/dataagent.service\n");
	put(root, "self-cgroup-leaf",
	    "0::/system.slice/dataagent.service/supervisor\n");
	put(root, "self-cgroup-rootleaf", "0::/supervisor\n");
	snprintf(d, sizeof(d), "%s/supervisor", root);
	mkdirs(d);
	put(d, "cgroup.procs", "");
	snprintf(d, sizeof(d), "%s/tenants", root);
	mkdirs(d);
	put(d, "cgroup.subtree_control", "");
	put(root, "self-cgroup-v1", "4:memory:/x\n1:name=systemd:/x\n");
	put(root, "self-cgroup-escape", "0::/../../other.service\n");

	mkdirs(svc);
	put(svc, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put(svc, "cgroup.subtree_control", "");
	put(svc, "cgroup.procs", pid);

	snprintf(d, sizeof(d), "%s/supervisor", svc);
	mkdirs(d);
	put(d, "cgroup.procs", "");

	snprintf(d, sizeof(d), "%s/tenants", svc);
	mkdirs(d);
	put(d, "cgroup.controllers", "cpu memory pids\n");
	put(d, "cgroup.subtree_control", "");

	snprintf(d, sizeof(d), "%s/tenants/alice", svc);
	mkdirs(d);
	put(d, "cgroup.controllers", "cpu memory pids\n");
	put(d, "cgroup.procs", "");
	put(d, "cgroup.kill", "");
	put(d, "memory.max", "max\n");
	put(d, "memory.swap.max", "max\n");
	put(d, "memory.oom.group", "0\n");
	put(d, "pids.max", "max\n");
	put(d, "cpu.weight", "100\n");
	put(d, "memory.current", "4096\n");
	put(d, "pids.current", "2\n");
	put(d, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n"
	    "oom_group_kill 1\n");
}

static void
test_v2_fake(void)
{
	struct cgroups *cg = NULL, *cg2 = NULL;
	struct cg_limits lim = { 100 * MiB, 0, 64, 0 };
	char err[1024], self[PATH_MAX + 32], sup[PATH_MAX + 32];
	char ten[PATH_MAX + 32], alice[PATH_MAX + 32], pid[32];
	char nf[PATH_MAX + 32];
	int64_t mem, pids;
	int rc;

	fake_tree();
	snprintf(self, sizeof(self), "%s/self-cgroup", root);
	snprintf(sup, sizeof(sup), "%s/supervisor", svc);
	snprintf(ten, sizeof(ten), "%s/tenants", svc);
	snprintf(alice, sizeof(alice), "%s/tenants/alice", svc);
	snprintf(nf, sizeof(nf), "%s/no-v1-here", root);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());

	UNIT_CASE("v2 fake tree: open moves us to supervisor, enables controllers");
	rc = cg_open(&cg, "v2", root, nf, self, NULL, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "cg_open: %s\n", err);
	UNIT_CHECK(rc == 0);
	UNIT_CHECK(cg_mode(cg) == CG_V2);
	UNIT_CHECK(strcmp(cg_mode_name(cg_mode(cg)), "v2") == 0);
	UNIT_CHECK(strcmp(cg_base_path(cg), ten) == 0);
	UNIT_CHECK(is(svc, "cgroup.subtree_control", "+memory +pids +cpu"));
	UNIT_CHECK(is(ten, "cgroup.subtree_control", "+memory +pids +cpu"));
	UNIT_CHECK(is(sup, "cgroup.procs", pid));
	if (cg == NULL) {
		rm_rf(root);
		return;
	}

	UNIT_CASE("v2 fake tree: prepare writes the limits");
	rc = cg_tenant_prepare(cg, "alice", &lim, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "prepare: %s\n", err);
	UNIT_CHECK(rc == 0);
	UNIT_CHECK(is(alice, "memory.max", "104857600"));
	UNIT_CHECK(is(alice, "memory.swap.max", "0"));
	UNIT_CHECK(is(alice, "pids.max", "64"));
	UNIT_CHECK(is(alice, "cpu.weight", "100"));
	UNIT_CHECK(is(alice, "memory.oom.group", "1"));

	UNIT_CASE("v2 fake tree: prepare again loosens and reweights");
	lim.cl_memory_max = -1;
	lim.cl_swap_max = -1;
	lim.cl_pids_max = 128;
	lim.cl_cpu_weight = 250;
	UNIT_CHECK(cg_tenant_prepare(cg, "alice", &lim, err, sizeof(err)) ==
	    0);
	UNIT_CHECK(is(alice, "memory.max", "max"));
	UNIT_CHECK(is(alice, "memory.swap.max", "max"));
	UNIT_CHECK(is(alice, "pids.max", "128"));
	UNIT_CHECK(is(alice, "cpu.weight", "250"));

	UNIT_CASE("v2 fake tree: interface files are never created");
	rc = cg_tenant_prepare(cg, "bob", &lim, err, sizeof(err));
	UNIT_CHECK(rc == -1);
	UNIT_CHECK(strstr(err, "tenants/bob/memory.max") != NULL);
	UNIT_CHECK(strstr(err, "No such file") != NULL);

	UNIT_CASE("v2 fake tree: attach, usage, oom kills");
	UNIT_CHECK(cg_tenant_attach(cg, "alice", 12345, err, sizeof(err)) ==
	    0);
	UNIT_CHECK(is(alice, "cgroup.procs", "12345"));
	UNIT_CHECK(cg_tenant_attach(cg, "alice", 0, err, sizeof(err)) == -1);
	UNIT_CHECK(cg_tenant_attach(cg, "nobody", 12345, err, sizeof(err)) ==
	    -1);
	UNIT_CHECK(cg_tenant_usage(cg, "alice", &mem, &pids) == 0);
	UNIT_CHECK(mem == 4096 && pids == 2);
	UNIT_CHECK(cg_tenant_oom_kills(cg, "alice") == 2);
	UNIT_CHECK(cg_tenant_usage(cg, "nobody", &mem, &pids) == -1);
	UNIT_CHECK(mem == -1 && pids == -1);
	UNIT_CHECK(cg_tenant_oom_kills(cg, "nobody") == -1);

	UNIT_CASE("v2 fake tree: bad tenant ids and limits are refused");
	{
		static const char *bad[] = { "", ".", "..", "a/b", "../x",
		    "a__b", "-x", ".hidden", "x y",
		    /* 66 characters: longer than a tenant id may be */
		    ("0123456789012345678901234567890123456789"
		     "01234567890123456789012345") };
		struct cg_limits ok = { -1, -1, -1, 0 };
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			UNIT_CHECK(cg_tenant_prepare(cg, bad[i], &ok, err,
			    sizeof(err)) == -1);
			UNIT_CHECK(cg_tenant_attach(cg, bad[i], 1, err,
			    sizeof(err)) == -1);
			UNIT_CHECK(cg_tenant_remove(cg, bad[i], err,
			    sizeof(err)) == -1);
			UNIT_CHECK(cg_tenant_usage(cg, bad[i], &mem,
			    &pids) == -1);
		}
		ok.cl_cpu_weight = 10001;
		UNIT_CHECK(cg_tenant_prepare(cg, "alice", &ok, err,
		    sizeof(err)) == -1);
		ok.cl_cpu_weight = 0;
		ok.cl_memory_max = -2;
		UNIT_CHECK(cg_tenant_prepare(cg, "alice", &ok, err,
		    sizeof(err)) == -1);
		snprintf(alice, sizeof(alice), "%s/x", svc);
		UNIT_CHECK(!exists(alice));
		snprintf(alice, sizeof(alice), "%s/tenants/a", svc);
		UNIT_CHECK(!exists(alice));
		snprintf(alice, sizeof(alice), "%s/tenants/alice", svc);
	}

	UNIT_CASE("v2 fake tree: remove");
	UNIT_CHECK(cg_tenant_remove(cg, "carol", err, sizeof(err)) == 0);
	/* Never cgroup.kill a group we are in ourselves. */
	put(alice, "cgroup.procs", pid);
	UNIT_CHECK(cg_tenant_remove(cg, "alice", err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "calling process") != NULL);
	UNIT_CHECK(is(alice, "cgroup.kill", ""));
	/* As the kernel would once cgroup.kill is done. */
	put(alice, "cgroup.procs", "");
	rc = cg_tenant_remove(cg, "alice", err, sizeof(err));
	/* A fake dir still holds its files: rmdir says ENOTEMPTY. */
	UNIT_CHECK(rc == -1);
	UNIT_CHECK(strstr(err, "rmdir") != NULL &&
	    strstr(err, "tenants/alice") != NULL);
	UNIT_CHECK(is(alice, "cgroup.kill", "1"));

	UNIT_CASE("v2 fake tree: a second open finds us in the leaf");
	snprintf(self, sizeof(self), "%s/self-cgroup-leaf", root);
	UNIT_CHECK(cg_open(&cg2, "auto", root, nf, self, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(cg_mode(cg2) == CG_V2);
	UNIT_CHECK(cg2 != NULL && strcmp(cg_base_path(cg2), ten) == 0);
	cg_close(&cg2);
	UNIT_CHECK(cg2 == NULL);
	cg_close(&cg2);
	snprintf(self, sizeof(self), "%s/self-cgroup-rootleaf", root);
	snprintf(sup, sizeof(sup), "%s/tenants", root);
	UNIT_CHECK(cg_open(&cg2, "v2", root, nf, self, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(cg2 != NULL && strcmp(cg_base_path(cg2), sup) == 0);
	UNIT_CHECK(is(root, "cgroup.subtree_control", "+memory +pids +cpu"));
	cg_close(&cg2);

	UNIT_CASE("v2 fake tree: refusals say why");
	snprintf(self, sizeof(self), "%s/self-cgroup-v1", root);
	UNIT_CHECK(cg_open(&cg2, "v2", root, nf, self, NULL, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(cg2 == NULL && strstr(err, "0::") != NULL);
	snprintf(self, sizeof(self), "%s/self-cgroup-escape", root);
	UNIT_CHECK(cg_open(&cg2, "v2", root, nf, self, NULL, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "unusable") != NULL);
	snprintf(self, sizeof(self), "%s/self-cgroup", root);
	put(svc, "cgroup.controllers", "cpu io hugetlb pids\n");
	UNIT_CHECK(cg_open(&cg2, "v2", root, nf, self, NULL, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "memory and pids") != NULL);
	UNIT_CHECK(cg_open(&cg2, "auto", root, nf, self, NULL, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "v2: ") != NULL && strstr(err, "v1: ") !=
	    NULL && strstr(err, "no-v1-here") != NULL);
	UNIT_CHECK(cg_open(&cg2, "v3", root, nf, self, NULL, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(cg2 == NULL);

	UNIT_CASE("v2 fake tree: without cpu, no +cpu and no cpu.weight");
	put(svc, "cgroup.controllers", "memory pids\n");
	put(svc, "cgroup.subtree_control", "");
	put(alice, "cpu.weight", "100\n");
	UNIT_CHECK(cg_open(&cg2, "v2", root, nf, self, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(is(svc, "cgroup.subtree_control", "+memory +pids"));
	UNIT_CHECK(cg_tenant_prepare(cg2, "alice", &lim, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(is(alice, "cpu.weight", "100"));
	cg_close(&cg2);

	cg_close(&cg);
	UNIT_CHECK(cg == NULL);
	rm_rf(root);
}

/* ---------------------------------------------------------------- off */

static void
test_off(void)
{
	struct cgroups *cg = NULL;
	struct cg_limits lim = { 64 * MiB, 0, 32, 100 };
	char err[256];
	int64_t mem = 0, pids = 0;

	UNIT_CASE("off: every call is a no-op");
	UNIT_CHECK(cg_open(&cg, "off", "/nonexistent", "/nonexistent",
	    "/nonexistent", NULL, err, sizeof(err)) == 0);
	UNIT_CHECK(cg != NULL && cg_mode(cg) == CG_OFF);
	UNIT_CHECK(strcmp(cg_mode_name(cg_mode(cg)), "off") == 0);
	UNIT_CHECK(strcmp(cg_base_path(cg), "") == 0);
	UNIT_CHECK(cg_tenant_prepare(cg, "alice", &lim, err, sizeof(err)) ==
	    0);
	UNIT_CHECK(cg_tenant_attach(cg, "alice", getpid(), err,
	    sizeof(err)) == 0);
	UNIT_CHECK(cg_tenant_usage(cg, "alice", &mem, &pids) == 0);
	UNIT_CHECK(mem == -1 && pids == -1);
	UNIT_CHECK(cg_tenant_oom_kills(cg, "alice") == -1);
	UNIT_CHECK(cg_tenant_remove(cg, "alice", err, sizeof(err)) == 0);
	cg_close(&cg);
	UNIT_CHECK(cg == NULL);
	UNIT_CHECK(cg_mode(NULL) == CG_OFF);
}

/* --------------------------------------------------- this host, real */

static void
test_auto(void)
{
	struct cgroups *cg = NULL;
	char err[2048], why2[1024], why1[1024], why[2200];
	int v2 = kernel_cgroup_v2(why2, sizeof(why2)), v1;

	/* The knob hides the host from the probe, not from cg_open: what
	 * "auto" picks cannot be judged. */
	if (kernel_assume_no("DATAAGENT_TEST_ASSUME_NO_CGROUPS", "cgroups",
	    why1, sizeof(why1))) {
		UNIT_SKIP("auto picks what the host offers", why1);
		return;
	}
	v1 = geteuid() == 0 && kernel_cgroup_v1(why1, sizeof(why1)) == 1;
	if (v2 == 2) {
		snprintf(why, sizeof(why), "%s: cg_open cannot move us out",
		    why2);
		KERNEL_SKIP_CONFINEMENT("auto picks what the host offers", why);
		return;
	}
	if (v2 == 0 && !v1) {
		UNIT_CASE("auto fails when the host offers neither");
		UNIT_CHECK(cg_open(&cg, "auto", NULL, NULL, NULL, NULL, err,
		    sizeof(err)) == -1);
		UNIT_CHECK(strstr(err, "v2: ") != NULL);
		return;
	}
	UNIT_CASE(v2 ? "auto picks v2 on this host" : "auto picks v1 on this "
	    "host (v2 lacks memory or pids)");
	if (cg_open(&cg, "auto", NULL, NULL, NULL, NULL, err, sizeof(err)) == -1)
		fprintf(stderr, "cg_open auto: %s\n", err);
	UNIT_CHECK(cg_mode(cg) == (v2 ? CG_V2 : CG_V1));
	if (!v2)
		UNIT_CHECK(strcmp(cg_base_path(cg), SYS_CG
		    "/memory/dataagent") == 0);
	cg_close(&cg);
	if (!v2) {
		UNIT_CHECK(cg_open(&cg, "v2", NULL, NULL, NULL, NULL, err,
		    sizeof(err)) == -1);
		UNIT_CHECK(strstr(err, "cgroup v2: ") != NULL);
	}
}

/* "/proc/<pid>/cgroup" has a "<n>:<ctrl>:.../dataagent/<tenant>" line. */
static int
proc_in_group(pid_t pid, const char *ctrl, const char *tenant)
{
	char path[64], line[1024], want[256], tail[128];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/cgroup", (long)pid);
	snprintf(want, sizeof(want), ":%s:", ctrl);
	snprintf(tail, sizeof(tail), "/dataagent/%s\n", tenant);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line), t = strlen(tail);

		if (strstr(line, want) != NULL && n >= t &&
		    strcmp(line + n - t, tail) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

static pid_t
spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* A child that waits for a byte on fd, then touches 256 MiB. */
static pid_t
spawn_hog(int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		size_t len = 256 * MiB, i;
		volatile char *p;
		char c;

		if (read(fd, &c, 1) != 1)
			_exit(3);
		/* volatile: the compiler may not drop a malloc+memset. */
		if ((p = malloc(len)) == NULL)
			_exit(4);
		for (i = 0; i < len; i += 4096)
			p[i] = 0x5a;
		_exit(0);
	}
	return pid;
}

/* A child that waits for a byte on fd, then forks sleepers until it
 * cannot; exits with how many it made. */
static pid_t
spawn_forker(int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int made = 0;
		char c;

		if (read(fd, &c, 1) != 1)
			_exit(255);
		while (made < 100) {
			pid_t k = fork();

			if (k == 0) {
				for (;;)
					pause();
			}
			if (k == -1)
				break;
			made++;
		}
		_exit(made);
	}
	return pid;
}

static void
reap(pid_t *pid, int *status)
{
	if (*pid <= 0)
		return;
	while (waitpid(*pid, status, 0) == -1 && errno == EINTR)
		;
	*pid = -1;
}

/* The forker's children were reparented to us (a subreaper): reap them,
 * waiting at most about a second for the last to die. */
static void
reap_orphans(void)
{
	struct timespec ts = { 0, 10000000L };
	int tries;
	pid_t r;

	for (tries = 0; tries < 100; ) {
		r = waitpid(-1, NULL, WNOHANG);
		if (r > 0)
			continue;
		if (r == -1 && errno != EINTR)
			break;
		nanosleep(&ts, NULL);
		tries++;
	}
}

static void
test_v1_real(void)
{
	struct cgroups *cg = NULL;
	struct cg_limits lim = { 64 * MiB, 0, 32, 200 };
	char err[2048], tenant[64], mem_dir[PATH_MAX], pids_dir[PATH_MAX];
	char cpu_dir[PATH_MAX], why[1024];
	pid_t sleeper = -1, hog = -1;
	int64_t mem, pids;
	int status = 0, pfd[2] = { -1, -1 }, rc;

	if (kernel_cgroup_v1(why, sizeof(why)) != 1) {
		UNIT_SKIP("v1 real: limits, OOM kill and removal on this host",
		    why);
		return;
	}
	if (geteuid() != 0) {
		KERNEL_SKIP_CONFINEMENT("v1 real: limits, OOM kill and removal "
		    "on this host", "not root");
		return;
	}
	snprintf(tenant, sizeof(tenant), "ut-%ld", (long)getpid());
	snprintf(mem_dir, sizeof(mem_dir), SYS_CG "/memory/dataagent/%s",
	    tenant);
	snprintf(pids_dir, sizeof(pids_dir), SYS_CG "/pids/dataagent/%s",
	    tenant);
	snprintf(cpu_dir, sizeof(cpu_dir), SYS_CG "/cpu/dataagent/%s",
	    tenant);

	/* The forker's orphans come back to us, not to a pid 1 that may
	 * not reap. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	UNIT_CASE("v1 real: open and prepare");
	rc = cg_open(&cg, "v1", NULL, NULL, NULL, NULL, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "cg_open v1: %s\n", err);
	UNIT_CHECK(rc == 0 && cg_mode(cg) == CG_V1);
	if (cg == NULL)
		return;
	rc = cg_tenant_prepare(cg, tenant, &lim, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "prepare: %s\n", err);
	UNIT_CHECK(rc == 0);
	UNIT_CHECK(is(mem_dir, "memory.limit_in_bytes", "67108864"));
	if (exists(SYS_CG "/memory/memory.memsw.limit_in_bytes"))
		UNIT_CHECK(is(mem_dir, "memory.memsw.limit_in_bytes",
		    "67108864"));
	UNIT_CHECK(is(pids_dir, "pids.max", "32"));
	if (exists(SYS_CG "/cpu/cpu.shares"))
		UNIT_CHECK(is(cpu_dir, "cpu.shares", "2048"));

	UNIT_CASE("v1 real: attach, usage");
	if ((sleeper = spawn_sleeper()) == -1) {
		UNIT_CHECK(!"fork");
		goto out;
	}
	rc = cg_tenant_attach(cg, tenant, sleeper, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "attach: %s\n", err);
	UNIT_CHECK(rc == 0);
	UNIT_CHECK(proc_in_group(sleeper, "memory", tenant));
	UNIT_CHECK(proc_in_group(sleeper, "pids", tenant));
	UNIT_CHECK(!proc_in_group(getpid(), "memory", tenant));
	UNIT_CHECK(cg_tenant_usage(cg, tenant, &mem, &pids) == 0);
	UNIT_CHECK(mem >= 0 && mem < 64 * MiB);
	UNIT_CHECK(pids == 1);
	UNIT_CHECK(cg_tenant_oom_kills(cg, tenant) == 0);

	UNIT_CASE("v1 real: the memory limit holds (OOM kill counted)");
	if (pipe2(pfd, O_CLOEXEC) == -1 || (hog = spawn_hog(pfd[0])) == -1) {
		UNIT_CHECK(!"pipe or fork");
		goto out;
	}
	UNIT_CHECK(cg_tenant_attach(cg, tenant, hog, err, sizeof(err)) == 0);
	UNIT_CHECK(write(pfd[1], "x", 1) == 1);
	reap(&hog, &status);
	UNIT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	UNIT_CHECK(cg_tenant_oom_kills(cg, tenant) >= 1);

	UNIT_CASE("v1 real: the pids limit holds");
	if ((hog = spawn_forker(pfd[0])) == -1) {
		UNIT_CHECK(!"fork");
		goto out;
	}
	UNIT_CHECK(cg_tenant_attach(cg, tenant, hog, err, sizeof(err)) == 0);
	UNIT_CHECK(write(pfd[1], "x", 1) == 1);
	reap(&hog, &status);
	/* 32 tasks: the sleeper, the forker and 30 of its children. */
	UNIT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 30);
	UNIT_CHECK(cg_tenant_usage(cg, tenant, &mem, &pids) == 0);
	UNIT_CHECK(pids == 31);

	UNIT_CASE("v1 real: remove kills the group and removes its dirs");
	rc = cg_tenant_remove(cg, tenant, err, sizeof(err));
	if (rc == -1)
		fprintf(stderr, "remove: %s\n", err);
	UNIT_CHECK(rc == 0);
	status = 0;
	reap(&sleeper, &status);
	UNIT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	UNIT_CHECK(!exists(mem_dir) && !exists(pids_dir) && !exists(cpu_dir));
	UNIT_CHECK(cg_tenant_remove(cg, tenant, err, sizeof(err)) == 0);
	UNIT_CHECK(cg_tenant_usage(cg, tenant, &mem, &pids) == -1);

 out:
	/* Whatever failed above, leave no process and no group behind. */
	if (sleeper > 0)
		kill(sleeper, SIGKILL);
	if (hog > 0)
		kill(hog, SIGKILL);
	reap(&sleeper, &status);
	reap(&hog, &status);
	(void)cg_tenant_remove(cg, tenant, err, sizeof(err));
	reap_orphans();
	fd_close(&pfd[0]);
	fd_close(&pfd[1]);
	cg_close(&cg);
}

int
main(void)
{
	static const char *bases[] = { SYS_CG "/memory/dataagent",
	    SYS_CG "/pids/dataagent", SYS_CG "/cpu/dataagent" };
	int had[3];
	size_t i;

	/* Base dirs this test creates are removed again (when empty);
	 * ones a running dataagentd owns are left alone. */
	for (i = 0; i < 3; i++)
		had[i] = exists(bases[i]);

	test_v2_fake();
	test_off();
	test_auto();
	test_v1_real();

	for (i = 0; i < 3; i++)
		if (!had[i])
			(void)rmdir(bases[i]);
	return unit_done();
}
