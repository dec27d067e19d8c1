/*
 * scpolicy.c: text policies to libseccomp filters.
 *
 * The idea of a policy as a reviewed text file, one syscall a line, comes
 * from nsjail's kafel configs and OpenSSH's sandbox tables, kept simpler:
 * a default action and per-syscall exceptions, no argument language (the
 * few argument checks we need are in code, next to the reason).
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <signal.h>
#include <time.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "scpolicy.h"

#define SCPOLICY_MAX_RULES 512
#define SCPOLICY_MAX_SIZE (256 * 1024)

enum sc_kind {
	SC_ALLOW,
	SC_KILL,
	SC_TRAP,	/* SIGSYS to a handler that says which call (then exits) */
	SC_ERRNO,
};

struct sc_action {
	enum sc_kind sa_kind;
	int sa_errno;
};

struct sc_rule {
	int sr_nr;
	struct sc_action sr_act;
	unsigned sr_line;
};

struct scpolicy {
	struct sc_action sp_default;
	struct sc_rule *sp_rules;
	size_t sp_nrules;
};

/* The errno names a policy may use. */
static const struct {
	const char *en_name;
	int en_value;
} sc_errnos[] = {
	{ "EPERM", EPERM }, { "EACCES", EACCES }, { "ENOSYS", ENOSYS },
	{ "EINVAL", EINVAL }, { "ENOENT", ENOENT }, { "EOPNOTSUPP", EOPNOTSUPP },
};

static int
sc_errno_parse(const char *s, int *v_r)
{
	size_t i;

	for (i = 0; i < sizeof(sc_errnos) / sizeof(sc_errnos[0]); i++)
		if (strcmp(s, sc_errnos[i].en_name) == 0) {
			*v_r = sc_errnos[i].en_value;
			return 0;
		}
	return -1;
}

/* Parses "allow", "kill", "errno NAME" from words[0..n). */
static int
sc_action_parse(char **words, int n, struct sc_action *a, const char **why)
{
	if (n == 1 && strcmp(words[0], "allow") == 0)
		a->sa_kind = SC_ALLOW;
	else if (n == 1 && strcmp(words[0], "kill") == 0)
		a->sa_kind = SC_KILL;
	else if (n == 1 && strcmp(words[0], "trap") == 0)
		a->sa_kind = SC_TRAP;
	else if (n == 2 && strcmp(words[0], "errno") == 0) {
		a->sa_kind = SC_ERRNO;
		if (sc_errno_parse(words[1], &a->sa_errno) == -1) {
			*why = "unknown errno name";
			return -1;
		}
	} else {
		*why = "expected allow, kill, trap or errno NAME";
		return -1;
	}
	return 0;
}

static int
sc_split(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p) && *p != '#')
			p++;
		if (*p == '#') {
			*p = '\0';
			return n;
		}
		if (*p != '\0')
			*p++ = '\0';
	}
}

void
scpolicy_free(struct scpolicy **pp)
{
	struct scpolicy *p = *pp;

	if (p == NULL)
		return;
	free(p->sp_rules);
	free(p);
	*pp = NULL;
}

size_t
scpolicy_rules(const struct scpolicy *p)
{
	return p->sp_nrules;
}

int
scpolicy_parse(const char *text, const char *name, struct scpolicy **p_r,
    char *err, size_t errlen)
{
	struct scpolicy *p;
	char *copy, *line, *next, *words[4];
	const char *why = NULL;
	unsigned lineno = 0;
	int n, have_default = 0;
	size_t i;

	*p_r = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->sp_rules = calloc(SCPOLICY_MAX_RULES,
	    sizeof(*p->sp_rules))) == NULL || (copy = strdup(text)) == NULL) {
		if (p != NULL)
			free(p->sp_rules);
		free(p);
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	for (line = copy; line != NULL; line = next) {
		struct sc_rule r;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		n = sc_split(line, words, 4);
		if (n == 0)
			continue;
		if (n < 0) {
			why = "too many words";
			goto bad;
		}
		if (strcmp(words[0], "default") == 0) {
			if (have_default) {
				why = "a second default line";
				goto bad;
			}
			if (p->sp_nrules > 0) {
				why = "default must come before the rules";
				goto bad;
			}
			if (n < 2 || sc_action_parse(words + 1, n - 1,
			    &p->sp_default, &why) == -1) {
				if (why == NULL)
					why = "default needs an action";
				goto bad;
			}
			have_default = 1;
			continue;
		}
		if (!have_default) {
			why = "the first rule must be \"default ACTION\"";
			goto bad;
		}
		memset(&r, 0, sizeof(r));
		r.sr_line = lineno;
		r.sr_nr = seccomp_syscall_resolve_name(words[0]);
		if (r.sr_nr == __NR_SCMP_ERROR) {
			snprintf(err, errlen, "%s:%u: unknown syscall \"%s\"",
			    name, lineno, words[0]);
			goto fail;
		}
		if (n > 1) {
			if (sc_action_parse(words + 1, n - 1, &r.sr_act,
			    &why) == -1)
				goto bad;
		} else if (p->sp_default.sa_kind == SC_ALLOW) {
			r.sr_act.sa_kind = SC_ERRNO;
			r.sr_act.sa_errno = EPERM;
		} else
			r.sr_act.sa_kind = SC_ALLOW;
		if (memcmp(&r.sr_act, &p->sp_default, sizeof(r.sr_act)) == 0) {
			why = "the rule repeats the default action";
			goto bad;
		}
		for (i = 0; i < p->sp_nrules; i++)
			if (p->sp_rules[i].sr_nr == r.sr_nr) {
				snprintf(err, errlen, "%s:%u: \"%s\" is already "
				    "listed on line %u", name, lineno,
				    words[0], p->sp_rules[i].sr_line);
				goto fail;
			}
		if (p->sp_nrules == SCPOLICY_MAX_RULES) {
			why = "too many rules";
			goto bad;
		}
		p->sp_rules[p->sp_nrules++] = r;
	}
	if (!have_default) {
		snprintf(err, errlen, "%s: no \"default ACTION\" line", name);
		goto fail;
	}
	free(copy);
	*p_r = p;
	return 0;
bad:
	snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
fail:
	free(copy);
	scpolicy_free(&p);
	return -1;
}

int
scpolicy_load_file(const char *path, char **text_r, struct scpolicy **p_r,
    char *err, size_t errlen)
{
	FILE *f;
	char *text;
	size_t n;
	int r;

	if (text_r != NULL)
		*text_r = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((text = malloc(SCPOLICY_MAX_SIZE + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(text, 1, SCPOLICY_MAX_SIZE + 1, f);
	if (ferror(f) || n > SCPOLICY_MAX_SIZE || memchr(text, '\0', n)) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ?
		    "read error" : "too large or not text");
		fclose(f);
		free(text);
		return -1;
	}
	fclose(f);
	text[n] = '\0';
	r = scpolicy_parse(text, path, p_r, err, errlen);
	if (r == 0 && text_r != NULL)
		*text_r = text;
	else
		free(text);
	return r;
}

static uint32_t
sc_action_value(const struct sc_action *a)
{
	switch (a->sa_kind) {
	case SC_ALLOW:
		return SCMP_ACT_ALLOW;
	case SC_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case SC_TRAP:
		return SCMP_ACT_TRAP;
	case SC_ERRNO:
		break;
	}
	return SCMP_ACT_ERRNO((uint32_t)a->sa_errno);
}

/* Builds the filter; the caller loads or releases it. */
static scmp_filter_ctx
sc_build(const struct scpolicy *p, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	size_t i;
	int r;

	if ((ctx = seccomp_init(sc_action_value(&p->sp_default))) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return NULL;
	}
	/* Only the native ABI: int 0x80 and x32 entries are killed. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS);
	for (i = 0; r == 0 && i < p->sp_nrules; i++) {
		r = seccomp_rule_add(ctx, sc_action_value(&p->sp_rules[i].sr_act),
		    p->sp_rules[i].sr_nr, 0);
		if (r != 0)
			snprintf(err, errlen, "line %u: %s",
			    p->sp_rules[i].sr_line, strerror(-r));
	}
	if (r == 0 && p->sp_default.sa_kind == SC_ALLOW) {
		/* New user namespaces: they hand a process a full set of
		 * capabilities over objects it creates, the usual first step
		 * of a kernel exploit. */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
		    CLONE_NEWUSER, CLONE_NEWUSER));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			    SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ,
			    CLONE_NEWUSER, CLONE_NEWUSER));
		if (r != 0)
			snprintf(err, errlen, "user namespace rule: %s",
			    strerror(-r));
	}
	if (r != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

int
scpolicy_check(const struct scpolicy *p, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;

	if ((ctx = sc_build(p, err, errlen)) == NULL)
		return -1;
	seccomp_release(ctx);
	return 0;
}

int
scpolicy_apply(const struct scpolicy *p, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int r;

	if ((ctx = sc_build(p, err, errlen)) == NULL)
		return -1;
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0) {
		snprintf(err, errlen, "seccomp_load: %s", strerror(-r));
		return -1;
	}
	return 0;
}

struct scprog {
	struct sock_fprog sg_prog;
};

int
scpolicy_compile(const struct scpolicy *p, struct scprog **prog_r,
    char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	struct scprog *g = NULL;
	off_t size;
	int fd = -1, r;

	*prog_r = NULL;
	if ((ctx = sc_build(p, err, errlen)) == NULL)
		return -1;
	/* libseccomp 2.5 exports BPF only to an fd. */
	if ((fd = memfd_create("scprog", MFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		goto fail;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) != 0) {
		snprintf(err, errlen, "seccomp_export_bpf: %s", strerror(-r));
		goto fail;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		snprintf(err, errlen, "seccomp_export_bpf: bad size");
		goto fail;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->sg_prog.filter = malloc((size_t)size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	g->sg_prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	if (pread(fd, g->sg_prog.filter, (size_t)size, 0) != size) {
		snprintf(err, errlen, "reading the filter back failed");
		goto fail;
	}
	close(fd);
	seccomp_release(ctx);
	*prog_r = g;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
	scprog_free(&g);
	return -1;
}

void
scprog_free(struct scprog **gp)
{
	struct scprog *g = *gp;

	if (g == NULL)
		return;
	free(g->sg_prog.filter);
	free(g);
	*gp = NULL;
}

int
scprog_install(const struct scprog *g)
{
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
	    &g->sg_prog);
}

/*
 * The SIGSYS handler for "trap" rules: one JSON log line on stderr naming
 * the call, then exit with 128 + SIGSYS so the parent can tell a seccomp
 * death from others. The call itself never ran. Only async-signal-safe
 * work here (snprintf of integers, write, _exit).
 */
static const char *sc_trap_proc = "dataagent";

static void
sc_on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[256];
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "{\"ts_unix\":%lld,\"level\":"
	    "\"error\",\"proc\":\"%s\",\"pid\":%d,\"msg\":\"seccomp: "
	    "forbidden system call\",\"syscall\":%d,\"arch\":%u}\n",
	    (long long)ts.tv_sec, sc_trap_proc, (int)getpid(),
	    si->si_syscall, si->si_arch);
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1);
	_exit(SCPOLICY_TRAP_EXIT);
}

int
scpolicy_trap_install(const char *proc)
{
	struct sigaction sa;

	sc_trap_proc = proc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sc_on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL);
}
