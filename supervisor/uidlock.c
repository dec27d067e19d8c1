/*
 * uidlock.c: one dataagentd per range of tenant UIDs on a host.
 *
 * A daemon kills whatever runs under its tenants' UIDs when it stops or
 * removes a tenant, so two daemons whose ranges overlap kill each
 * other's workers. At start each daemon claims its range,
 * tenant_uid_base + 1 .. tenant_uid_base + tenant_uid_count, with a file
 * UIDLOCK_DIR/LO-HI.lock (/run/lock/dataagent) that it holds flock(2)ed for its whole life and
 * that names it (pid, configuration file). Under the directory's own
 * lock (.registry), a starting daemon looks at every claim whose range
 * overlaps its own, equal or not: one still flocked by its owner stops
 * the start, with the owner named; one nobody holds is left over from a
 * daemon that died, and is removed. The kernel drops a flock when its
 * holder dies, so a claim never outlives its daemon, whatever a pid
 * file would say after a crash or with pids reused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor.h"

/* Host-wide, not the unit's RuntimeDirectory (/run/dataagent), which
 * systemd removes when that one unit stops. */
#define UIDLOCK_PARENT "/run/lock"
#define UIDLOCK_DIR UIDLOCK_PARENT "/dataagent"

static int
uidlock_mkdir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The range of a claim's file name LO-HI.lock, or -1. */
static int
uidlock_name_range(const char *name, long long *lo_r, long long *hi_r)
{
	char again[64];

	if (sscanf(name, "%lld-%lld.lock", lo_r, hi_r) != 2)
		return -1;
	snprintf(again, sizeof(again), "%lld-%lld.lock", *lo_r, *hi_r);
	return strcmp(again, name) == 0 ? 0 : -1;
}

/*
 * Checks one claim that overlaps ours: 0 when nobody holds it (it is
 * removed), -1 with err naming its holder.
 */
static int
uidlock_check(int dfd, const char *name, long long lo, long long hi,
    long long olo, long long ohi, char *err, size_t errlen)
{
	char who[512];
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s/%s: "
		    "%s", UIDLOCK_DIR, name, strerror(errno)), -1);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		unlinkat(dfd, name, 0);
		close(fd);
		return 0;
	}
	n = pread(fd, who, sizeof(who) - 1, 0);
	close(fd);
	who[n > 0 ? n : 0] = '\0';
	who[strcspn(who, "\n")] = '\0';
	snprintf(err, errlen, "tenant UIDs %lld to %lld overlap those of "
	    "another dataagentd (%s, UIDs %lld to %lld; %s/%s): give each "
	    "daemon on a host its own tenant_uid_base and tenant_uid_count",
	    lo, hi, who[0] != '\0' ? who : "unknown", olo, ohi, UIDLOCK_DIR,
	    name);
	return -1;
}

int
uidlock_take(struct sup *sp, char *err, size_t errlen)
{
	long long lo = (long long)sp->sp_cf.cf_tenant_uid_base + 1;
	long long hi = (long long)sp->sp_cf.cf_tenant_uid_base +
	    sp->sp_cf.cf_tenant_uid_count;
	long long olo, ohi;
	char name[64], who[CONFIG_STRLEN + 64];
	struct dirent *de;
	struct stat st;
	DIR *dir = NULL;
	int dfd = -1, rfd = -1, fd = -1, rc = -1, n;

	if (uidlock_mkdir(UIDLOCK_PARENT, err, errlen) == -1 ||
	    uidlock_mkdir(UIDLOCK_DIR, err, errlen) == -1)
		return -1;
	if ((dfd = open(UIDLOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", UIDLOCK_DIR, strerror(errno));
		goto out;
	}
	/* /run/lock is world-writable: a directory someone else made
	 * there first could hold forged claims. */
	if (fstat(dfd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s is not root's alone (owner %u, mode "
		    "%o): remove it", UIDLOCK_DIR, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((rfd = openat(dfd, ".registry", O_RDWR | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1 || flock(rfd, LOCK_EX) == -1) {
		snprintf(err, errlen, "%s: %s", UIDLOCK_DIR, strerror(errno));
		goto out;
	}
	if ((n = dup(dfd)) == -1 || (dir = fdopendir(n)) == NULL) {
		if (n != -1)
			close(n);
		snprintf(err, errlen, "%s: %s", UIDLOCK_DIR, strerror(errno));
		goto out;
	}
	while ((de = readdir(dir)) != NULL) {
		if (uidlock_name_range(de->d_name, &olo, &ohi) == -1 ||
		    ohi < lo || olo > hi)
			continue;
		if (uidlock_check(dfd, de->d_name, lo, hi, olo, ohi, err,
		    errlen) == -1)
			goto out;
	}
	snprintf(name, sizeof(name), "%lld-%lld.lock", lo, hi);
	if ((fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1 || flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    ftruncate(fd, 0) == -1) {
		snprintf(err, errlen, "%s/%s: %s", UIDLOCK_DIR, name,
		    strerror(errno));
		goto out;
	}
	n = snprintf(who, sizeof(who), "pid %ld, config %s\n", (long)getpid(),
	    sp->sp_config_path[0] != '\0' ? sp->sp_config_path : "(none)");
	if (write(fd, who, (size_t)n) != n) {
		snprintf(err, errlen, "%s/%s: %s", UIDLOCK_DIR, name,
		    strerror(errno));
		goto out;
	}
	sp->sp_uidlock_fd = fd;
	snprintf(sp->sp_uidlock_name, sizeof(sp->sp_uidlock_name), "%s", name);
	fd = -1;
	rc = 0;
out:
	if (dir != NULL)
		closedir(dir);
	if (fd != -1) {
		unlinkat(dfd, name, 0);
		close(fd);
	}
	if (rfd != -1)
		close(rfd);	/* drops the registry lock */
	if (dfd != -1)
		close(dfd);
	return rc;
}

void
uidlock_release(struct sup *sp)
{
	char path[sizeof(UIDLOCK_DIR) + 64];

	if (sp->sp_uidlock_fd == -1)
		return;
	snprintf(path, sizeof(path), "%s/%s", UIDLOCK_DIR,
	    sp->sp_uidlock_name);
	unlink(path);
	close(sp->sp_uidlock_fd);
	sp->sp_uidlock_fd = -1;
}
