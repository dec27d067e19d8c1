/*
 * home.c: tenants' homes, state_dir/tenants/ID, owned by the tenant's uid.
 *
 * A tenant id can be removed and added again; the new tenant gets a new
 * uid (store.c never gives a uid twice). Its home must not be the old
 * one's: at removal the home goes once the tenant's processes are gone
 * (workers.c calls home_remove after its sweep), and a home found at
 * assignment that belongs to another uid (a removal that did not finish:
 * a crash, another host of a cluster that removed the tenant, a restored
 * store) is set aside, renamed to .set-aside.ID.UID.TIME beside it, with
 * a warning naming it, and a fresh one made. Set aside rather than
 * emptied: it is another tenant's data, which the operator may want
 * back; nothing of dataagent reads it again.
 *
 * Removal runs in a child, not in the event loop (a home may hold a
 * million files): a grandchild that took the old tenant's uid empties
 * the home, so a link the tenant left there can only ever remove what
 * the tenant itself could; the child, root, then removes the empty
 * directory. workers_reap reaps the child like any unknown one.
 */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"

static int
home_path(struct sup *sp, const char *tenant, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/tenants/%s",
	    sp->sp_cf.cf_state_dir, tenant) >= outlen)
		return -1;
	return 0;
}

int
home_prepare(struct sup *sp, const char *tenant, uid_t uid, char *out,
    size_t outlen)
{
	char dir[CONFIG_STRLEN + 16], aside[CONFIG_STRLEN + 160];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/tenants", sp->sp_cf.cf_state_dir);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -1;
	if (home_path(sp, tenant, out, outlen) == -1)
		return -1;
	if (mkdir(out, 0700) == -1) {
		if (errno != EEXIST || lstat(out, &st) == -1)
			return -1;
		if (!S_ISDIR(st.st_mode) || st.st_uid != uid) {
			snprintf(aside, sizeof(aside), "%s/.set-aside.%s.%u.%lld",
			    dir, tenant, (unsigned)st.st_uid,
			    (long long)now_wall());
			if (rename(out, aside) == -1)
				return -1;
			log_warn("a home owned by another uid than the tenant's "
			    "was set aside, and a new one made", "{s:s,s:i,s:i,"
			    "s:s}", "tenant", tenant, "uid", (int)uid,
			    "found_uid", (int)st.st_uid, "set_aside", aside);
			if (mkdir(out, 0700) == -1)
				return -1;
		}
	}
	if (lstat(out, &st) == -1 || !S_ISDIR(st.st_mode))
		return -1;
	if ((st.st_uid != uid || st.st_gid != (gid_t)uid) &&
	    lchown(out, uid, (gid_t)uid) == -1)
		return -1;
	return 0;
}

static int
home_unlink(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	if (ftw->level == 0)
		return 0;	/* the home itself: the parent's */
	if (type == FTW_DP)
		return rmdir(path) == -1 && errno != ENOENT ? -1 : 0;
	return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
}

void
home_remove(struct sup *sp, const char *tenant, uid_t uid)
{
	char path[CONFIG_STRLEN + 80], gone[CONFIG_STRLEN + 160];
	struct stat st;
	pid_t pid, gpid;
	int status;

	if (uid == 0 || home_path(sp, tenant, path, sizeof(path)) == -1 ||
	    lstat(path, &st) == -1)
		return;
	/* A home of the same id under another uid is a new tenant's. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid)
		return;
	/* Out of the way at once: a tenant added again gets a new one. */
	snprintf(gone, sizeof(gone), "%s/tenants/.removing.%s.%u",
	    sp->sp_cf.cf_state_dir, tenant, (unsigned)uid);
	if (rename(path, gone) == -1) {
		log_warn("cannot remove a removed tenant's home", "{s:s,s:s}",
		    "tenant", tenant, "error", strerror(errno));
		return;
	}
	log_info("removing a removed tenant's home", "{s:s,s:i}", "tenant",
	    tenant, "uid", (int)uid);
	if ((pid = fork()) != 0) {
		if (pid == -1)
			log_warn("cannot remove a removed tenant's home",
			    "{s:s,s:s}", "tenant", tenant, "error",
			    strerror(errno));
		return;
	}
	close_range(3, ~0U, 0);	/* the listeners, the UID claim, ... */
	if ((gpid = fork()) == 0) {
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
		    setgroups(0, NULL) == -1 || setresgid(uid, uid, uid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(1);
		_exit(nftw(gone, home_unlink, 16, FTW_DEPTH | FTW_PHYS |
		    FTW_MOUNT) == 0 ? 0 : 1);
	}
	while (gpid > 0 && waitpid(gpid, &status, 0) == -1 && errno == EINTR)
		;
	_exit(rmdir(gone) == 0 ? 0 : 1);
}
