/*
 * confine.c: the worker's privilege drop, in one audited order (see
 * confine.h). Steps 1-4 need root; 6-7 run as the tenant.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "confine.h"

#define STEP_FAIL(step) do {						\
	snprintf(err, errlen, "%s: %s", (step), strerror(errno));	\
	return -1;							\
} while (0)

static int
confine_ids(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setgroups(0, NULL) == -1)
		STEP_FAIL("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		STEP_FAIL("setresgid");
	if (setresuid(uid, uid, uid) == -1)
		STEP_FAIL("setresuid");
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		STEP_FAIL("getresuid");
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid) {
		snprintf(err, errlen, "uid/gid did not change as asked");
		return -1;
	}
	/* Regaining root must be impossible now. */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen, "could regain root after setresuid");
		return -1;
	}
	return 0;
}

/* The steps every confined process ends with, in this order: keep-caps
 * off and locked, the bounding set empty, the ids, no capability left
 * (checked), no_new_privs, not dumpable. */
static int
confine_drop(const struct confine_spec *cs, char *err, size_t errlen)
{
	if (sandbox_securebits(err, errlen) == -1 ||
	    sandbox_bounding_drop(err, errlen) == -1 ||
	    confine_ids(cs->cs_uid, cs->cs_gid, err, errlen) == -1 ||
	    sandbox_caps_drop(err, errlen) == -1 ||
	    sandbox_caps_verify(err, errlen) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		STEP_FAIL("PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		STEP_FAIL("PR_SET_DUMPABLE");
	return 0;
}

int
confine_worker(const struct confine_spec *cs, char *err, size_t errlen)
{
	if (cs->cs_uid == 0 || cs->cs_gid == 0) {
		snprintf(err, errlen, "refusing to run a tenant as uid/gid 0");
		return -1;
	}
	if ((cs->cs_netns_fd != -1 &&
	    netns_join(cs->cs_netns_fd, err, errlen) == -1) ||
	    sandbox_rlimits(&cs->cs_limits, err, errlen) == -1 ||
	    sandbox_fs(cs->cs_home, cs->cs_hide, cs->cs_tmp_size, err,
	    errlen) == -1)
		return -1;
	return confine_drop(cs, err, errlen);
}

int
confine_relay(const struct confine_spec *cs, char *err, size_t errlen)
{
	if (cs->cs_uid == 0 || cs->cs_gid == 0) {
		snprintf(err, errlen, "refusing to run a relay as uid/gid 0");
		return -1;
	}
	if (sandbox_rlimits(&cs->cs_limits, err, errlen) == -1)
		return -1;
	return confine_drop(cs, err, errlen);
}
