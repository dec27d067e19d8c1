/*
 * confine.h: how a worker gives up root before it touches tenant data.
 *
 * The order is fixed and lives in one place (confine_worker) so it can be
 * audited: the confinement work (cgroups, rlimits, namespaces, capability
 * bounding set, seccomp) slots into the same sequence.
 */
#ifndef DATAAGENT_CONFINE_H
#define DATAAGENT_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Runs, in this order, failing at the first step that fails:
 *   1. RLIMIT_CORE 0 (a tenant's worker never dumps core)
 *   2. setgroups(0, NULL)
 *   3. setresgid(gid, gid, gid)
 *   4. setresuid(uid, uid, uid)
 *   5. verify: getres[ug]id all equal the targets, setuid(0) fails
 *   6. PR_SET_NO_NEW_PRIVS 1
 *   7. PR_SET_DUMPABLE 0
 * Returns 0, or -1 with err naming the step and errno. A caller that gets
 * -1 must exit: the process may be half-confined.
 */
int confine_worker(uid_t uid, gid_t gid, char *err, size_t errlen);

#endif
