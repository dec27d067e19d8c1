/*
 * sandbox.c: limits, a private file system view and an empty capability
 * state for a tenant's worker. The order these run in is explained in
 * sandbox.h and fixed by confine_worker().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/securebits.h>

#include "sandbox.h"

#define STEP_FAIL(step) do {						\
	snprintf(err, errlen, "%s: %s", (step), strerror(errno));	\
	return -1;							\
} while (0)

/* The bits sandbox_securebits() sets; see sandbox.h for each. */
#define SANDBOX_SECBITS	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |	\
	SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |	\
	SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)
/* Bits that must stay off: either would let setresuid keep root's caps. */
#define SANDBOX_SECBITS_OFF (SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS)

/* An empty cover: nothing inside but the home's path, when it is there. */
#define SANDBOX_COVER_OPTS	"mode=0555,size=4k,nr_inodes=1024"
#define SANDBOX_COVER_FLAGS	(MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* No kernel has more; the loops stop at the first unsupported one. */
#define SANDBOX_CAP_LIMIT	64

/* ------------------------------------------------------------ rlimits */

static int
sandbox_rlimit_set(int resource, const char *name, rlim_t value, char *err,
    size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) == -1) {
		snprintf(err, errlen, "getrlimit(%s): %s", name,
		    strerror(errno));
		return -1;
	}
	if (rl.rlim_max != RLIM_INFINITY && value > rl.rlim_max)
		value = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = value;
	if (setrlimit(resource, &rl) == -1) {
		snprintf(err, errlen, "setrlimit(%s, %llu): %s", name,
		    (unsigned long long)value, strerror(errno));
		return -1;
	}
	return 0;
}

int
sandbox_rlimits(const struct sandbox_limits *l, char *err, size_t errlen)
{
	rlim_t nofile = SANDBOX_NOFILE_DEFAULT, nproc = SANDBOX_NPROC_DEFAULT;

	if (l != NULL && l->sl_nofile > 0)
		nofile = l->sl_nofile;
	if (l != NULL && l->sl_nproc > 0)
		nproc = l->sl_nproc;
	if (sandbox_rlimit_set(RLIMIT_CORE, "RLIMIT_CORE", 0, err,
	    errlen) == -1 ||
	    sandbox_rlimit_set(RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile, err,
	    errlen) == -1 ||
	    sandbox_rlimit_set(RLIMIT_NPROC, "RLIMIT_NPROC", nproc, err,
	    errlen) == -1)
		return -1;
	return 0;
}

/* ----------------------------------------------------------------- fs */

/* Is path strictly below dir? Both are realpath()s, dir is not "/". */
static int
sandbox_path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * Creates the directories of the absolute path that do not exist yet
 * (root-owned, 0555: the tenant can pass, not add). Used only on paths
 * that lie inside a cover we just mounted, or inside the fresh /tmp.
 */
static int
sandbox_mkpath(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;
	char *p, c;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		STEP_FAIL("mkpath");
	}
	for (p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (stat(buf, &st) == -1) {
			if (errno != ENOENT || mkdir(buf, 0555) == -1) {
				snprintf(err, errlen, "mkdir %s: %s", buf,
				    strerror(errno));
				return -1;
			}
		} else if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "mkdir %s: %s", buf,
			    strerror(ENOTDIR));
			return -1;
		}
		if ((*p = c) == '\0')
			return 0;
	}
}

/* Makes one (resolved, existing) path unreachable; see sandbox.h. */
static int
sandbox_cover(const char *path, const char *home, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (mount("/dev/null", path, NULL, MS_BIND, NULL) == -1 ||
		    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		    MS_NOSUID | MS_NOEXEC, NULL) == -1) {
			snprintf(err, errlen, "bind /dev/null over %s: %s",
			    path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (mount("tmpfs", path, "tmpfs", SANDBOX_COVER_FLAGS,
	    SANDBOX_COVER_OPTS) == -1) {
		snprintf(err, errlen, "mount tmpfs over %s: %s", path,
		    strerror(errno));
		return -1;
	}
	/* The home's mount point, made while the cover is still writable. */
	if (sandbox_path_below(home, path) &&
	    sandbox_mkpath(home, err, errlen) == -1)
		return -1;
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
	    SANDBOX_COVER_FLAGS, NULL) == -1) {
		snprintf(err, errlen, "remount %s read-only: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Resolves the hide list into real[n][PATH_MAX]; a path that does not
 * exist becomes "". Refuses "/" and anything that is or lies in the home.
 */
static int
sandbox_hide_resolve(const char *const *hide, size_t n, const char *home,
    char (*real)[PATH_MAX], char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (realpath(hide[i], real[i]) == NULL) {
			if (errno == ENOENT || errno == ENOTDIR) {
				real[i][0] = '\0';
				continue;
			}
			snprintf(err, errlen, "realpath %s: %s", hide[i],
			    strerror(errno));
			return -1;
		}
		if (strcmp(real[i], "/") == 0 || strcmp(real[i], home) == 0 ||
		    sandbox_path_below(real[i], home)) {
			snprintf(err, errlen, "cannot hide %s (is / or inside "
			    "the home)", hide[i]);
			return -1;
		}
	}
	return 0;
}

/* Is entry i hidden already by another entry (an ancestor or a twin)? */
static int
sandbox_hide_redundant(char (*real)[PATH_MAX], size_t n, size_t i)
{
	size_t j;

	for (j = 0; j < n; j++) {
		if (j == i || real[j][0] == '\0')
			continue;
		if (sandbox_path_below(real[i], real[j]) ||
		    (j < i && strcmp(real[i], real[j]) == 0))
			return 1;
	}
	return 0;
}

/* Step 5 of sandbox_fs(): the real home back at its own path. */
static int
sandbox_home_bind(const char *home, int homefd, char *err, size_t errlen)
{
	char src[64];
	struct stat want, got;

	if (fstat(homefd, &want) == -1)
		STEP_FAIL("fstat home");
	if (sandbox_mkpath(home, err, errlen) == -1)
		return -1;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", homefd);
	if (mount(src, home, NULL, MS_BIND | MS_REC, NULL) == -1) {
		snprintf(err, errlen, "bind home onto %s: %s", home,
		    strerror(errno));
		return -1;
	}
	if (mount(NULL, home, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID |
	    MS_NODEV, NULL) == -1) {
		snprintf(err, errlen, "remount %s nosuid,nodev: %s", home,
		    strerror(errno));
		return -1;
	}
	if (stat(home, &got) == -1)
		STEP_FAIL("stat home");
	if (got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
		snprintf(err, errlen, "%s is not the home after the bind",
		    home);
		return -1;
	}
	return 0;
}

static int
sandbox_proc(char *err, size_t errlen)
{
	unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (mount("proc", "/proc", "proc", fl, "hidepid=invisible") == 0)
		return 0;
	if (errno == EINVAL && mount("proc", "/proc", "proc", fl,
	    "hidepid=2") == 0)
		return 0;
	STEP_FAIL("mount proc on /proc (hidepid)");
}

/* Step 4 of sandbox_fs(): the private tmpfs mounts. */
static int
sandbox_tmps(int64_t size, char *err, size_t errlen)
{
	static const char *const dirs[] = { "/tmp", "/var/tmp", "/dev/shm" };
	char opts[128];
	struct stat st;
	size_t i;

	snprintf(opts, sizeof(opts), "mode=1777,size=%lld,nr_inodes=%d",
	    (long long)(size > 0 ? size : SANDBOX_TMP_SIZE),
	    SANDBOX_TMP_INODES);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		/* /tmp always; the others where the host has them (a
		 * symlink, e.g. to /tmp, leads to a private one already). */
		if (i > 0 && (lstat(dirs[i], &st) == -1 || !S_ISDIR(st.st_mode)))
			continue;
		if (mount("tmpfs", dirs[i], "tmpfs", MS_NOSUID | MS_NODEV,
		    opts) == -1) {
			snprintf(err, errlen, "mount tmpfs on %s: %s", dirs[i],
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
sandbox_fs(const char *home, const char *const *hide, int64_t tmp_size,
    char *err, size_t errlen)
{
	char homereal[PATH_MAX];
	char (*real)[PATH_MAX] = NULL;
	size_t n = 0, i;
	int homefd = -1, rc = -1;

	if (home == NULL || home[0] != '/') {
		snprintf(err, errlen, "home must be an absolute path");
		return -1;
	}
	while (hide != NULL && hide[n] != NULL)
		n++;
	if (n > SANDBOX_HIDE_MAX) {
		snprintf(err, errlen, "more than %d paths to hide",
		    SANDBOX_HIDE_MAX);
		return -1;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC) == -1)
		STEP_FAIL("unshare(CLONE_NEWNS|CLONE_NEWIPC)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		STEP_FAIL("make / private");

	/* In this namespace, before anything covers it. */
	if (realpath(home, homereal) == NULL) {
		snprintf(err, errlen, "realpath %s: %s", home, strerror(errno));
		return -1;
	}
	homefd = open(homereal, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (homefd == -1) {
		snprintf(err, errlen, "open %s: %s", homereal, strerror(errno));
		return -1;
	}
	if (n > 0 && (real = calloc(n, sizeof(*real))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sandbox_hide_resolve(hide, n, homereal, real, err, errlen) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (real[i][0] == '\0' || sandbox_hide_redundant(real, n, i))
			continue;
		if (sandbox_cover(real[i], homereal, err, errlen) == -1)
			goto out;
	}
	if (sandbox_tmps(tmp_size, err, errlen) == -1)
		goto out;
	if (sandbox_home_bind(homereal, homefd, err, errlen) == -1)
		goto out;
	/* Last: the bind above went through this process's old /proc. */
	if (sandbox_proc(err, errlen) == -1)
		goto out;
	/* A working directory under a cover would keep it reachable. */
	if (chdir("/") == -1) {
		snprintf(err, errlen, "chdir /: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(real);
	close(homefd);
	return rc;
}

/* --------------------------------------------------------------- caps */

int
sandbox_securebits(char *err, size_t errlen)
{
	unsigned bits = cap_get_secbits();

	if (bits & SANDBOX_SECBITS_OFF) {
		snprintf(err, errlen, "securebits 0x%x keep capabilities "
		    "across setuid", bits);
		return -1;
	}
	if (cap_set_secbits(bits | SANDBOX_SECBITS) == -1)
		STEP_FAIL("PR_SET_SECUREBITS");
	if ((cap_get_secbits() & SANDBOX_SECBITS) != SANDBOX_SECBITS) {
		snprintf(err, errlen, "securebits did not stick");
		return -1;
	}
	return 0;
}

int
sandbox_bounding_drop(char *err, size_t errlen)
{
	cap_value_t cap;
	int r;

	for (cap = 0; cap < SANDBOX_CAP_LIMIT; cap++) {
		if ((r = cap_get_bound(cap)) < 0)
			break;		/* the kernel knows no more */
		if (r == 0)
			continue;
		if (cap_drop_bound(cap) == -1) {
			snprintf(err, errlen, "PR_CAPBSET_DROP(%d): %s",
			    (int)cap, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
sandbox_caps_drop(char *err, size_t errlen)
{
	uid_t ru, eu, su;
	cap_t caps;

	if (getresuid(&ru, &eu, &su) == -1)
		STEP_FAIL("getresuid");
	if (ru == 0 || eu == 0 || su == 0) {
		snprintf(err, errlen, "capabilities are dropped after the "
		    "uid switch, not before");
		return -1;
	}
	if (cap_reset_ambient() == -1)
		STEP_FAIL("PR_CAP_AMBIENT_CLEAR_ALL");
	if ((caps = cap_init()) == NULL)
		STEP_FAIL("cap_init");
	if (cap_set_proc(caps) == -1) {
		snprintf(err, errlen, "cap_set_proc(empty): %s",
		    strerror(errno));
		cap_free(caps);
		return -1;
	}
	cap_free(caps);
	return 0;
}

int
sandbox_caps_verify(char *err, size_t errlen)
{
	static const char *setname[] = { "effective", "permitted",
	    "inheritable" };
	cap_t cur, none;
	cap_value_t cap;
	unsigned bits;
	int diff, f;

	if ((cur = cap_get_proc()) == NULL)
		STEP_FAIL("cap_get_proc");
	if ((none = cap_init()) == NULL) {
		cap_free(cur);
		STEP_FAIL("cap_init");
	}
	diff = cap_compare(cur, none);
	cap_free(cur);
	cap_free(none);
	for (f = CAP_EFFECTIVE; f <= CAP_INHERITABLE; f++) {
		if (diff < 0 || CAP_DIFFERS(diff, f)) {
			snprintf(err, errlen, "the %s set is not empty",
			    setname[f]);
			return -1;
		}
	}
	for (cap = 0; cap < SANDBOX_CAP_LIMIT; cap++) {
		int b = cap_get_bound(cap);

		if (b < 0)
			break;
		if (b != 0) {
			snprintf(err, errlen, "capability %d is still in the "
			    "bounding set", (int)cap);
			return -1;
		}
		if (cap_get_ambient(cap) != 0) {
			snprintf(err, errlen, "capability %d is ambient (or "
			    "unreadable)", (int)cap);
			return -1;
		}
	}
	if (cap == 0) {
		snprintf(err, errlen, "cannot read the bounding set");
		return -1;
	}
	bits = cap_get_secbits();
	if ((bits & SANDBOX_SECBITS) != SANDBOX_SECBITS ||
	    (bits & SANDBOX_SECBITS_OFF) != 0) {
		snprintf(err, errlen, "securebits are 0x%x, want 0x%x set",
		    bits, (unsigned)SANDBOX_SECBITS);
		return -1;
	}
	return 0;
}
