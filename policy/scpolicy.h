/*
 * scpolicy.h: seccomp policies kept as text files (the .policy files),
 * compiled with libseccomp.
 *
 * A policy is parsed once (dataagentd at start and on `-t`, so a bad file
 * is reported with its line number before anything runs) and applied in
 * the process that is to run under it. The format is described at the top
 * of policy/upstream.policy.
 */
#ifndef DATAAGENT_SCPOLICY_H
#define DATAAGENT_SCPOLICY_H

#include <stddef.h>

struct scpolicy;

/*
 * Parses policy text. `name` (e.g. "upstream.policy") prefixes errors:
 * "upstream.policy:12: unknown syscall \"foo\"". Returns 0 with *p_r set,
 * or -1 with err.
 */
int scpolicy_parse(const char *text, const char *name, struct scpolicy **p_r,
    char *err, size_t errlen);
/* Reads and parses a file; *text_r (may be NULL) gets a malloc'd copy of
 * the text. Returns 0 or -1 with err ("path: ..." or "path:line: ..."). */
int scpolicy_load_file(const char *path, char **text_r, struct scpolicy **p_r,
    char *err, size_t errlen);
void scpolicy_free(struct scpolicy **p);
/* Number of rules (for logs). */
size_t scpolicy_rules(const struct scpolicy *p);
/* Builds the filter without loading it: libseccomp accepts every rule.
 * Returns 0 or -1 with err. */
int scpolicy_check(const struct scpolicy *p, char *err, size_t errlen);
/*
 * Builds and loads the filter into the calling process (all threads).
 * The caller must have set no_new_privs (or hold CAP_SYS_ADMIN).
 * Foreign architectures are killed. A policy whose default is allow also
 * refuses clone and unshare with CLONE_NEWUSER (EPERM).
 * Returns 0 or -1 with err.
 */
int scpolicy_apply(const struct scpolicy *p, char *err, size_t errlen);

/*
 * A compiled filter, for a process that must install it between fork and
 * exec, where only async-signal-safe calls belong: compile in the parent,
 * install in the child.
 */
struct scprog;
int scpolicy_compile(const struct scpolicy *p, struct scprog **prog_r,
    char *err, size_t errlen);
void scprog_free(struct scprog **prog);
/* Installs the filter in the calling thread (async-signal-safe; needs
 * no_new_privs). Returns 0, or -1 with errno set. */
int scprog_install(const struct scprog *prog);

/* The exit status of a process that made a call a "trap" rule refused. */
#define SCPOLICY_TRAP_EXIT (128 + 31)	/* 128 + SIGSYS */

/*
 * Installs the SIGSYS handler for "trap" rules: it logs the call number
 * as JSON on stderr (proc names the process) and exits with
 * SCPOLICY_TRAP_EXIT. Returns 0 or -1.
 */
int scpolicy_trap_install(const char *proc);

#endif
