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
 *
 * Claims are named LO-HI.PID.lock and say which store their daemon
 * uses (a SHA-256 of database_url, or of the SQLite file's path: a URL
 * may hold a password and claims are world-readable). Daemons on one
 * store share its tenants and their UIDs, so hosts of one cluster run
 * side by side on one machine (a test or a staged upgrade); that is
 * allowed with a warning, since a tenant's processes are then ended
 * when either daemon ends them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

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

/* The range of a claim's file name LO-HI.PID.lock, or -1. */
static int
uidlock_name_range(const char *name, long long *lo_r, long long *hi_r)
{
	char again[96];
	long pid;

	if (sscanf(name, "%lld-%lld.%ld.lock", lo_r, hi_r, &pid) != 3)
		return -1;
	snprintf(again, sizeof(again), "%lld-%lld.%ld.lock", *lo_r, *hi_r,
	    pid);
	return strcmp(again, name) == 0 ? 0 : -1;
}

/* "store HEX" of the store sp uses, with its newline, in out. */
static void
uidlock_store_line(struct sup *sp, char *out, size_t outlen)
{
	const char *id = sp->sp_cf.cf_database_url[0] != '\0' ?
	    sp->sp_cf.cf_database_url : sp->sp_db_path;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t off;

	off = (size_t)snprintf(out, outlen, "store ");
	if (EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL) != 1)
		mdlen = 0;
	for (i = 0; i < mdlen && off + 3 < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%02x", md[i]);
	snprintf(out + off, outlen - off, "\n");
}

/*
 * Checks one claim that overlaps ours: 0 when nobody holds it (it is
 * removed), -1 with err naming its holder.
 */
static int
uidlock_check(int dfd, const char *name, long long lo, long long hi,
    long long olo, long long ohi, const char *store, char *err,
    size_t errlen)
{
	char who[512], *nl;
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
	if ((nl = strchr(who, '\n')) != NULL && strcmp(nl + 1, store) == 0) {
		*nl = '\0';
		log_warn("tenant UIDs shared with another dataagentd on the "
		    "same store", "{s:s,s:I,s:I,s:s}", "other", who, "first",
		    (json_int_t)olo, "last", (json_int_t)ohi, "what", "a "
		    "tenant's processes here end when either daemon ends "
		    "them");
		return 0;
	}
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
	char name[96], who[CONFIG_STRLEN + 64], store[80];
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
	uidlock_store_line(sp, store, sizeof(store));
	while ((de = readdir(dir)) != NULL) {
		if (uidlock_name_range(de->d_name, &olo, &ohi) == -1 ||
		    ohi < lo || olo > hi)
			continue;
		if (uidlock_check(dfd, de->d_name, lo, hi, olo, ohi, store,
		    err, errlen) == -1)
			goto out;
	}
	snprintf(name, sizeof(name), "%lld-%lld.%ld.lock", lo, hi,
	    (long)getpid());
	if ((fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1 || flock(fd, LOCK_EX | LOCK_NB) == -1 ||
	    ftruncate(fd, 0) == -1) {
		snprintf(err, errlen, "%s/%s: %s", UIDLOCK_DIR, name,
		    strerror(errno));
		goto out;
	}
	n = snprintf(who, sizeof(who), "pid %ld, config %s\n%s",
	    (long)getpid(), sp->sp_config_path[0] != '\0' ?
	    sp->sp_config_path : "(none)", store);
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
	char path[sizeof(UIDLOCK_DIR) + 96];

	if (sp->sp_uidlock_fd == -1)
		return;
	snprintf(path, sizeof(path), "%s/%s", UIDLOCK_DIR,
	    sp->sp_uidlock_name);
	unlink(path);
	close(sp->sp_uidlock_fd);
	sp->sp_uidlock_fd = -1;
}
