/*
 * sandbox.h: the confinement steps around a worker's uid switch.
 *
 * Each step is a separate function so it can be tested on its own; the
 * order is fixed by confine_worker() (policy/confine.c), which is the one
 * place that calls them. The order that works, and why:
 *
 *   while root (uid 0, full effective set):
 *     1. sandbox_rlimits()       only lowers limits; no privilege needed,
 *                                but NPROC must be in place before the
 *                                worker (and its children) fork
 *     2. sandbox_fs()            needs CAP_SYS_ADMIN (unshare, mount)
 *     3. sandbox_securebits()    needs CAP_SETPCAP
 *     4. sandbox_bounding_drop() needs CAP_SETPCAP; empties the bounding
 *                                set but not the effective set, so the
 *                                steps below still have CAP_SETUID etc.
 *   the uid switch:
 *     5. setgroups(0), setresgid, setresuid (+ the read-back check): the
 *        kernel now clears the permitted, effective and ambient sets,
 *        because SECBIT_KEEP_CAPS and SECBIT_NO_SETUID_FIXUP are off and
 *        locked off (step 3)
 *   no longer root:
 *     6. sandbox_caps_drop()     clears what the kernel leaves (the
 *                                inheritable set) and re-clears the rest
 *     7. sandbox_caps_verify()   reads everything back
 *     8. PR_SET_NO_NEW_PRIVS 1, PR_SET_DUMPABLE 0 (confine.c)
 *
 * Steps 3 and 4 cannot follow step 5: PR_SET_SECUREBITS and
 * PR_CAPBSET_DROP need CAP_SETPCAP, which setresuid takes away. Step 2
 * may sit anywhere before step 5 (the bounding set does not limit the
 * effective set). Everything here is inherited across fork and execve by
 * the tenant's upstream servers: the mount namespace, the limits, the
 * securebits and the empty capability sets.
 *
 * Every function returns 0, or -1 with err naming the step and errno. A
 * caller that gets -1 must exit: the process may be half-confined.
 */
#ifndef DATAAGENT_SANDBOX_H
#define DATAAGENT_SANDBOX_H

#include <stddef.h>
#include <sys/resource.h>

#define SANDBOX_NOFILE_DEFAULT	1024
#define SANDBOX_NPROC_DEFAULT	256
/* The tenant's private /tmp, /var/tmp and /dev/shm: each this size
 * unless told (tenant_tmp_size), and at most this many inodes. */
#define SANDBOX_TMP_SIZE	(64LL * 1024 * 1024)
#define SANDBOX_TMP_INODES	65536
/* At most this many entries in sandbox_fs()'s hide list. */
#define SANDBOX_HIDE_MAX	32

struct sandbox_limits {
	rlim_t sl_nofile;	/* RLIMIT_NOFILE; 0: SANDBOX_NOFILE_DEFAULT */
	rlim_t sl_nproc;	/* RLIMIT_NPROC; 0: SANDBOX_NPROC_DEFAULT */
};

/*
 * Sets RLIMIT_CORE to 0, and RLIMIT_NOFILE and RLIMIT_NPROC (soft = hard)
 * to l's values (l may be NULL: the defaults). Limits only go down: a
 * value above the current hard limit is clamped to it, so this never
 * depends on CAP_SYS_RESOURCE and never loosens anything.
 *
 * RLIMIT_NPROC counts every task (process or thread) of the real uid,
 * host-wide, not only this process's children. That is what we want: the
 * uid belongs to one tenant, so the limit bounds all of that tenant's
 * processes together. Node runs about ten threads per process, so the
 * limit is closer to "processes x 10". If the tenant's uid already has
 * that many tasks when the worker switches to it, the worker's forks fail
 * with EAGAIN.
 */
int sandbox_rlimits(const struct sandbox_limits *l, char *err,
    size_t errlen);

/*
 * Gives the process a private view of the file system. Must run as root
 * (CAP_SYS_ADMIN), before setresuid. In order:
 *
 *   1. unshare(CLONE_NEWNS), then make / recursively private so nothing
 *      mounted here propagates to the host (or back).
 *   2. Resolve `home` (realpath) and open it O_PATH. This comes after the
 *      unshare on purpose: a bind mount's source must belong to the
 *      caller's mount namespace (the kernel refuses, EINVAL, a mount from
 *      another one), and before any covering, while the path still leads
 *      to the real directory.
 *   3. For each path in the NULL-terminated `hide` (may be NULL):
 *      resolved with realpath; one that does not exist is skipped, one
 *      that lies inside another entry is skipped (the outer cover hides
 *      it), "/" and entries equal to or inside the home are refused
 *      (EINVAL). A directory gets an empty tmpfs mounted over it; a file
 *      or socket gets /dev/null bound over it (reads see EOF). When the
 *      home lies below a covered directory (the state dir holds
 *      tenants/<id>), the directories leading to it are created inside
 *      the fresh tmpfs (root-owned, 0555, empty but for that one path),
 *      so the home's path still names a directory. Then the cover is
 *      made read-only (MS_REMOUNT|MS_BIND|MS_RDONLY, plus nosuid, nodev,
 *      noexec): a sibling tenant's home, the store, the keys are gone
 *      (ENOENT), and nothing can be added.
 *   4. Mount a fresh tmpfs on /tmp, and on /var/tmp and /dev/shm where
 *      they are directories (tmp_size bytes each, 0: SANDBOX_TMP_SIZE;
 *      SANDBOX_TMP_INODES; mode 1777, nosuid, nodev): what a tenant
 *      leaves there, POSIX shared memory included, is its own and
 *      bounded. The IPC namespace (CLONE_NEWIPC, with the mount one)
 *      makes its SysV IPC and POSIX message queues its own too.
 *   5. Bind the real home, from /proc/self/fd/N of the fd opened in step
 *      2, onto its own path (creating the missing directories in /tmp
 *      first when the home lives under /tmp), then remount that bind
 *      nosuid,nodev. The home is therefore always a mount of its own, and
 *      reachable whatever step 3 or 4 covered. A check that the path now
 *      leads to the same inode as the fd ends the step.
 *   6. Mount a new procfs on /proc with hidepid=invisible (Linux >= 5.8),
 *      or hidepid=2 when the kernel answers EINVAL (older kernels; there,
 *      procfs options are shared by every proc mount of the pid
 *      namespace, so the host's /proc changes too). Processes then see
 *      only the processes they may ptrace: those of their own uid that
 *      are dumpable. The worker sees its upstream children (same uid,
 *      dumpable again after execve); they do not see the worker
 *      (PR_SET_DUMPABLE 0), nor any other uid's process.
 *   7. chdir("/"): a working directory inside a covered directory would
 *      still lead to what the cover hides. The caller chdirs to the home
 *      afterwards. Open fds are the caller's business in the same way:
 *      one held on a hidden file stays usable.
 *
 * Covering works by path in this mount namespace: the same files reached
 * through another mount (a second bind of the same file system) stay
 * reachable; list such paths in `hide` as well. Unmounting a cover needs
 * CAP_SYS_ADMIN, which the tenant never gets back.
 */
int sandbox_fs(const char *home, const char *const *hide, int64_t tmp_size,
    char *err, size_t errlen);

/*
 * Sets and locks the securebits. Must run as root (CAP_SETPCAP), before
 * setresuid:
 *   SECBIT_NOROOT (+_LOCKED): uid 0 gains no capabilities by execve, nor
 *     does a set-user-ID-root program;
 *   SECBIT_NO_SETUID_FIXUP_LOCKED with SECBIT_NO_SETUID_FIXUP off: the
 *     kernel must clear the capability sets when the uids leave 0 (setting
 *     NO_SETUID_FIXUP itself would make setresuid keep full root caps);
 *   SECBIT_KEEP_CAPS_LOCKED with SECBIT_KEEP_CAPS off: same, for good;
 *   SECBIT_NO_CAP_AMBIENT_RAISE (+_LOCKED): no ambient capability, ever.
 * Bits already set are kept. Inherited across fork and execve.
 */
int sandbox_securebits(char *err, size_t errlen);

/*
 * Drops every capability the kernel knows from the bounding set. Must run
 * as root (CAP_SETPCAP), before setresuid: afterwards it fails with
 * EPERM. The effective set is untouched, so setresuid still works.
 */
int sandbox_bounding_drop(char *err, size_t errlen);

/*
 * After setresuid (refuses to run while any uid is 0, where it would
 * take CAP_SETUID away before the switch): clears the ambient set and
 * sets the effective, permitted and inheritable sets to empty. The kernel
 * already cleared effective, permitted and ambient at the uid change;
 * the inheritable set it leaves alone, which is why this step exists.
 */
int sandbox_caps_drop(char *err, size_t errlen);

/*
 * Reads everything back and fails if any capability remains: the
 * effective, permitted and inheritable sets (cap_get_proc), the bounding
 * and ambient sets (each capability the kernel supports), and the
 * securebits that sandbox_securebits() sets.
 */
int sandbox_caps_verify(char *err, size_t errlen);

#endif
