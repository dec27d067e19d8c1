/*
 * confine.h: how a worker gives up root before it touches tenant data.
 *
 * The order is fixed and lives in one place (confine_worker) so it can be
 * audited. The supervisor has already put the worker in the tenant's
 * cgroup (policy/cgroup.h) before it asks for this; the tenant's MCP
 * servers get their seccomp filter (policy/scpolicy.h) right before exec.
 */
#ifndef DATAAGENT_CONFINE_H
#define DATAAGENT_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

#include "netns.h"
#include "sandbox.h"

struct confine_spec {
	uid_t cs_uid;
	gid_t cs_gid;
	const char *cs_home;		/* the tenant's state dir, kept */
	const char *const *cs_hide;	/* NULL-terminated: made unreachable */
	struct sandbox_limits cs_limits;
	int64_t cs_tmp_size;		/* each private tmpfs, bytes */
	int cs_netns_fd;		/* the tenant's network namespace
					 * (netns.h), -1: the host's */
};

/*
 * Runs, in this order, failing at the first step that fails:
 *    0. when cs_netns_fd is not -1, joins that network namespace (setns
 *       needs CAP_SYS_ADMIN, so it comes first; it is checked)
 *    1. rlimits: RLIMIT_CORE 0, RLIMIT_NOFILE, RLIMIT_NPROC
 *    2. private mount and IPC namespaces: cs_hide covered, private
 *       /tmp, /var/tmp and /dev/shm of cs_tmp_size bytes each, a /proc
 *       that shows only the tenant's processes, cs_home kept
 *    3. securebits locked (no root privileges on exec, no keeping of
 *       capabilities across the uid change)
 *    4. the capability bounding set emptied
 *    5. setgroups(0, NULL), setresgid, setresuid to the tenant's ids;
 *       verified, and setuid(0) must fail
 *    6. every capability set empty, verified
 *    7. PR_SET_NO_NEW_PRIVS 1, PR_SET_DUMPABLE 0
 * Returns 0, or -1 with err naming the step and errno. A caller that gets
 * -1 must exit: the process may be half-confined.
 */
int confine_worker(const struct confine_spec *cs, char *err, size_t errlen);

/*
 * A relay's drop (dataagent-relay): steps 1 and 3-7 above, under
 * cs_uid/cs_gid (relay_uid), no mount namespace (relay.policy refuses
 * every open), no network namespace (cs_home, cs_hide and cs_netns_fd
 * are not used). Returns 0, or -1 with err; a caller that gets -1 must
 * exit.
 */
int confine_relay(const struct confine_spec *cs, char *err, size_t errlen);

#endif
