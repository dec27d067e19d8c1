/*
 * cgroup.h: one control group per tenant, so that one tenant's workers
 * cannot take the memory, the process table or the CPU of the others.
 *
 * Two back ends behind one API:
 *   CG_V2  the unified hierarchy, under the cgroup systemd delegated to
 *          the service (Delegate=yes). Layout, <svc> being our own
 *          cgroup from /proc/self/cgroup ("0::/path"):
 *            <svc>/supervisor      dataagentd itself (a leaf: cgroups v2
 *                                  allow processes only in leaves)
 *            <svc>/tenants/<id>    one group per tenant
 *          memory, pids (and cpu when offered) are enabled in
 *          <svc>/cgroup.subtree_control and <svc>/tenants/....
 *   CG_V1  the legacy hierarchies: <v1root>/memory/dataagent/<id>,
 *          <v1root>/pids/dataagent/<id>, and <v1root>/cpu/dataagent/<id>
 *          when the cpu hierarchy is there and writable.
 *   CG_OFF every call is a no-op that succeeds.
 *
 * The supervisor (root) owns the groups; a tenant's worker is moved in
 * before it gives up root and cannot move itself out afterwards.
 */
#ifndef DATAAGENT_CGROUP_H
#define DATAAGENT_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cg_mode {
	CG_OFF = 0,
	CG_V2,
	CG_V1,
};

struct cg_limits {
	int64_t cl_memory_max;	/* bytes, -1 = no limit */
	int64_t cl_swap_max;	/* bytes of swap, -1 = no limit */
	int64_t cl_pids_max;	/* tasks, -1 = no limit */
	int cl_cpu_weight;	/* 1..10000 (v2 scale), 0 = the default 100 */
};

struct cgroups;

#define CG_V2ROOT_DEFAULT "/sys/fs/cgroup"
#define CG_V1ROOT_DEFAULT "/sys/fs/cgroup"
#define CG_SELF_DEFAULT "/proc/self/cgroup"

/*
 * Detects what the host offers and prepares the base. want is "auto",
 * "v2", "v1" or "off" (NULL = "auto"); v2root, v1root and
 * self_cgroup_file may be NULL for the defaults above (tests point them
 * at a fake tree).
 *   v2: our own cgroup (the "0::" line of self_cgroup_file; when it ends
 *       in "/supervisor", a previous cg_open already moved us and its
 *       parent is used) must list memory and pids in cgroup.controllers.
 *       Then: mkdir supervisor, move this process into it, enable
 *       +memory +pids [+cpu] in cgroup.subtree_control, mkdir tenants and
 *       enable the same there. Fails (EBUSY) when other processes share
 *       our cgroup: they are not ours to move.
 *   v1: memory and pids hierarchies under v1root where v1name/ (NULL:
 *       "dataagent") can be created; cpu is used when it can be, else
 *       skipped with a warning. Two daemons on one host need two names:
 *       each removes its tenants' groups.
 * "auto" tries v2 then v1. Logs one line "cgroups" with the mode, the
 * path and why the other mode was not used.
 * Returns 0 with *cg_r set, or -1 with err (both reasons under "auto").
 */
int cg_open(struct cgroups **cg_r, const char *want, const char *v2root,
    const char *v1root, const char *self_cgroup_file, const char *v1name,
    char *err, size_t errlen);
/* Closes the base directories and frees; groups are left as they are. */
void cg_close(struct cgroups **cg);
enum cg_mode cg_mode(const struct cgroups *cg);
/* "off", "v2", "v1". */
const char *cg_mode_name(enum cg_mode m);
/* The directory holding the tenant groups (the first one in v1), or ""
 * when off. For logs. */
const char *cg_base_path(const struct cgroups *cg);

/*
 * Creates the tenant's group when missing and writes the limits:
 *   v2: memory.max, memory.swap.max, pids.max, cpu.weight (when cpu is
 *       enabled), memory.oom.group = 1 (an OOM kills the whole worker,
 *       not a random process of it);
 *   v1: memory.limit_in_bytes, memory.memsw.limit_in_bytes (memory+swap,
 *       when present and both limits are set), pids.max,
 *       cpu.shares = weight * 1024 / 100.
 * A -1 limit writes "max" (v1: -1), so preparing again with looser
 * limits loosens them. memory.swap.max and memory.oom.group are skipped
 * with a warning when the kernel lacks them. tenant must pass
 * name_valid(). Returns 0, or -1 with err naming the file and errno.
 */
int cg_tenant_prepare(struct cgroups *cg, const char *tenant,
    const struct cg_limits *lim, char *err, size_t errlen);
/*
 * Moves pid (its whole thread group) into the tenant's group, in every
 * hierarchy in v1. The group must have been prepared. Returns 0, or -1
 * with err.
 */
int cg_tenant_attach(struct cgroups *cg, const char *tenant, pid_t pid,
    char *err, size_t errlen);
/*
 * Kills every process in the tenant's group (v2: cgroup.kill when the
 * kernel has it; otherwise, and in v1, SIGKILL to each pid listed in
 * cgroup.procs, through a pidfd, round after round until the group is
 * empty) and removes the group's directories, retrying while busy.
 * Usually takes milliseconds; blocks at worst about a second for the
 * kill and a second per hierarchy for the rmdir. Refuses (-1) a group
 * that holds the calling process. Returns 0, also when the group did not exist, or -1 with err.
 */
int cg_tenant_remove(struct cgroups *cg, const char *tenant, char *err,
    size_t errlen);
/*
 * Current usage for /health and metrics: memory bytes (v2 memory.current,
 * v1 memory.usage_in_bytes) and tasks (pids.current); each -1 when
 * unknown. Returns 0 (also when off, with both -1), or -1 when the group
 * cannot be read.
 */
int cg_tenant_usage(struct cgroups *cg, const char *tenant, int64_t *mem_r,
    int64_t *pids_r);
/* OOM kills seen in the tenant's group (v2 memory.events oom_kill, v1
 * memory.oom_control oom_kill), or -1 when unknown (off, no group, an
 * old kernel). */
int64_t cg_tenant_oom_kills(struct cgroups *cg, const char *tenant);

#endif
