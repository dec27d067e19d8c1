/*
 * cgroup.c: per-tenant control groups, cgroup v2 (delegated by systemd)
 * or the v1 memory/pids/cpu hierarchies.
 *
 * Every path below a base is opened relative to a directory fd held from
 * cg_open on, so a tenant id only ever names one component under it.
 * Interface files are opened O_WRONLY|O_TRUNC, never O_CREAT: a missing
 * file means the kernel lacks the knob, and we must not invent it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "cgroup.h"

#define CG_MAXHIER	3
#define CG_ROUNDS	100	/* kill rounds, then rmdir rounds */
#define CG_ROUND_NS	10000000L	/* 10 ms: at most ~1 s each */
#define CG_BASE_V1	"dataagent"
#define CG_SUPERVISOR	"supervisor"
#define CG_TENANTS	"tenants"
/* Room for two paths and a reason, so messages are never cut. */
#define CG_WHYLEN	(2 * PATH_MAX + 256)

struct cg_hier {
	char ch_name[16];		/* "unified", "memory", "pids", "cpu" */
	int ch_fd;			/* the directory holding tenant groups */
	char ch_path[PATH_MAX];		/* the same, for messages */
};

struct cgroups {
	char cg_v1name[64];	/* v1: <ctrl>/<name>/<tenant> */
	enum cg_mode cg_mode;
	int cg_cpu;			/* cpu knobs available */
	size_t cg_nhier;		/* v2: 1; v1: memory, pids[, cpu] */
	struct cg_hier cg_hier[CG_MAXHIER];
};

/* ------------------------------------------------------------ helpers */

static void
cg_hier_close(struct cg_hier *h)
{
	fd_close(&h->ch_fd);
	h->ch_path[0] = '\0';
}

/* The hierarchy that holds memory.* files, pids.* files, cpu.* files. */
static struct cg_hier *
cg_hier_memory(struct cgroups *cg)
{
	return &cg->cg_hier[0];
}

static struct cg_hier *
cg_hier_pids(struct cgroups *cg)
{
	return cg->cg_mode == CG_V2 ? &cg->cg_hier[0] : &cg->cg_hier[1];
}

static struct cg_hier *
cg_hier_cpu(struct cgroups *cg)
{
	if (!cg->cg_cpu)
		return NULL;
	return cg->cg_mode == CG_V2 ? &cg->cg_hier[0] : &cg->cg_hier[2];
}

static void
cg_nap(void)
{
	struct timespec ts = { 0, CG_ROUND_NS };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Defence in depth: the caller has run name_valid() already. */
static int
cg_tenant_check(const char *tenant, char *err, size_t errlen)
{
	if (tenant == NULL || !name_valid(tenant) ||
	    strcmp(tenant, ".") == 0 || strcmp(tenant, "..") == 0 ||
	    strchr(tenant, '/') != NULL) {
		snprintf(err, errlen, "cgroup: invalid tenant id");
		return -1;
	}
	return 0;
}

/* "<tenant>/<file>", or "<tenant>" when file is NULL. -1 when too long. */
static int
cg_rel(char *buf, size_t len, const char *tenant, const char *file)
{
	int n;

	if (file == NULL)
		n = snprintf(buf, len, "%s", tenant);
	else
		n = snprintf(buf, len, "%s/%s", tenant, file);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
cg_join(char *buf, size_t len, const char *a, const char *b, char *err,
    size_t errlen)
{
	int n;

	/* "/" + "/x" must not become "//x". */
	if (strcmp(a, "/") == 0)
		a = "";
	n = snprintf(buf, len, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "%s/%s: path too long", a, b);
		return -1;
	}
	return 0;
}

/*
 * Writes value to dirpath/rel (opened relative to dirfd) in one write.
 * Returns 0, or -1 with err naming the file and errno preserved.
 */
static int
cg_write(int dirfd, const char *dirpath, const char *rel, const char *value,
    char *err, size_t errlen)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd, e;

	fd = openat(dirfd, rel, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		e = errno;
		snprintf(err, errlen, "%s/%s: %s", dirpath, rel, strerror(e));
		errno = e;
		return -1;
	}
	n = write(fd, value, len);
	e = errno;
	close(fd);
	if (n != (ssize_t)len) {
		if (n >= 0)
			e = EIO;
		snprintf(err, errlen, "%s/%s: write \"%s\": %s", dirpath, rel,
		    value, strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

/* Like cg_write for "<tenant>/<file>" in hierarchy h. */
static int
cg_twrite(struct cg_hier *h, const char *tenant, const char *file,
    const char *value, char *err, size_t errlen)
{
	char rel[NAME_MAX + 64];

	if (cg_rel(rel, sizeof(rel), tenant, file) == -1) {
		snprintf(err, errlen, "%s/%s: path too long", h->ch_path,
		    tenant);
		return -1;
	}
	return cg_write(h->ch_fd, h->ch_path, rel, value, err, errlen);
}

/*
 * The same, for knobs an older kernel may lack: a missing file is
 * logged and skipped. Returns 0 (written or skipped) or -1 with err.
 */
static int
cg_twrite_opt(struct cg_hier *h, const char *tenant, const char *file,
    const char *value, char *err, size_t errlen)
{
	if (cg_twrite(h, tenant, file, value, err, errlen) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	log_warn("cgroups: knob missing, skipped", "{s:s,s:s,s:s}",
	    "tenant", tenant, "file", file, "path", h->ch_path);
	return 0;
}

/* Reads at most len-1 bytes of dirfd/rel into buf. Returns 0 or -1. */
static int
cg_read(int dirfd, const char *rel, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, e;

	fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	return 0;
}

/* A non-negative decimal, as the kernel writes it. -1 otherwise. */
static int64_t
cg_parse_i64(const char *s)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0 || (*end != '\0' && *end != '\n' &&
	    *end != ' '))
		return -1;
	return v;
}

/* One number from "<tenant>/<file>", or -1. */
static int64_t
cg_tread_i64(struct cg_hier *h, const char *tenant, const char *file)
{
	char rel[NAME_MAX + 64], buf[64];

	if (cg_rel(rel, sizeof(rel), tenant, file) == -1 ||
	    cg_read(h->ch_fd, rel, buf, sizeof(buf)) == -1)
		return -1;
	return cg_parse_i64(buf);
}

/* The value of "key N" in a flat keyed file (memory.events), or -1. */
static int64_t
cg_tread_key(struct cg_hier *h, const char *tenant, const char *file,
    const char *key)
{
	char rel[NAME_MAX + 64], buf[4096], *line, *next;
	size_t klen = strlen(key);

	if (cg_rel(rel, sizeof(rel), tenant, file) == -1 ||
	    cg_read(h->ch_fd, rel, buf, sizeof(buf)) == -1)
		return -1;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return cg_parse_i64(line + klen + 1);
	}
	return -1;
}

/*
 * Reads the pids listed in "<tenant>/cgroup.procs" into a malloc'd
 * array (*pids_r, free it; NULL when empty). Returns 0 or -1 (errno).
 */
static int
cg_tread_pids(struct cg_hier *h, const char *tenant, pid_t **pids_r,
    size_t *n_r)
{
	char rel[NAME_MAX + 64];
	pid_t *pids = NULL, *np;
	size_t n = 0, cap = 0;
	FILE *f;
	long v;
	int fd, e;

	*pids_r = NULL;
	*n_r = 0;
	if (cg_rel(rel, sizeof(rel), tenant, "cgroup.procs") == -1)
		return -1;
	if ((fd = openat(h->ch_fd, rel, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((f = fdopen(fd, "r")) == NULL) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	while (fscanf(f, "%ld", &v) == 1) {
		if (v <= 0 || v > INT_MAX)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((np = reallocarray(pids, cap, sizeof(*pids))) ==
			    NULL) {
				free(pids);
				fclose(f);
				errno = ENOMEM;
				return -1;
			}
			pids = np;
		}
		pids[n++] = (pid_t)v;
	}
	fclose(f);
	*pids_r = pids;
	*n_r = n;
	return 0;
}

static int
cg_exists(struct cg_hier *h, const char *tenant, const char *file)
{
	char rel[NAME_MAX + 64];

	if (cg_rel(rel, sizeof(rel), tenant, file) == -1)
		return 0;
	return faccessat(h->ch_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Does the whitespace-separated list hold word? */
static int
cg_has_word(const char *list, const char *word)
{
	size_t wlen = strlen(word), n;
	const char *p = list;

	for (;;) {
		p += strspn(p, " \t\n");
		if (*p == '\0')
			return 0;
		n = strcspn(p, " \t\n");
		if (n == wlen && strncmp(p, word, n) == 0)
			return 1;
		p += n;
	}
}

static int
cg_mkdir(int dirfd, const char *dirpath, const char *name, char *err,
    size_t errlen)
{
	if (mkdirat(dirfd, name, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "mkdir %s/%s: %s", dirpath, name,
	    strerror(errno));
	return -1;
}

static int
cg_opendir(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

/* ------------------------------------------------------------ v2 */

/*
 * Our own cgroup: the path of the "0::" line of file. Refuses a path
 * outside our cgroup namespace ("/.."). Returns 0 or -1 with err.
 */
static int
cg_self_path(const char *file, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char buf[8192], *line, *next;

	if (cg_read(AT_FDCWD, file, buf, sizeof(buf)) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line += 3;
		if (line[0] != '/' || strstr(line, "/..") != NULL ||
		    strlen(line) >= outlen) {
			snprintf(err, errlen, "%s: unusable cgroup \"%.200s\"",
			    file, line);
			return -1;
		}
		memcpy(out, line, strlen(line) + 1);
		return 0;
	}
	snprintf(err, errlen, "%s: no cgroup v2 (\"0::\") line", file);
	return -1;
}

static int
cg_open_v2(struct cgroups *cg, const char *v2root, const char *selffile,
    char *err, size_t errlen)
{
	char self[PATH_MAX], svc[PATH_MAX], ctl[1024], on[64], pid[32];
	struct cg_hier *h = &cg->cg_hier[0];
	size_t slen, suplen = strlen("/" CG_SUPERVISOR);
	int svcfd = -1, cpu;

	if (cg_self_path(selffile, self, sizeof(self), err, errlen) == -1)
		return -1;
	/* A second cg_open in the same process finds us in the leaf. */
	slen = strlen(self);
	if (slen >= suplen && strcmp(self + slen - suplen, "/" CG_SUPERVISOR)
	    == 0)
		self[slen - suplen] = '\0';
	if (self[0] == '\0')
		strcpy(self, "/");
	if (strcmp(self, "/") == 0) {
		if (snprintf(svc, sizeof(svc), "%s", v2root) >=
		    (int)sizeof(svc)) {
			snprintf(err, errlen, "%s: path too long", v2root);
			return -1;
		}
	} else if (cg_join(svc, sizeof(svc), v2root, self + 1, err,
	    errlen) == -1)
		return -1;

	if ((svcfd = open(svc, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", svc, strerror(errno));
		return -1;
	}
	if (cg_read(svcfd, "cgroup.controllers", ctl, sizeof(ctl)) == -1) {
		snprintf(err, errlen, "%s/cgroup.controllers: %s", svc,
		    strerror(errno));
		goto fail;
	}
	ctl[strcspn(ctl, "\n")] = '\0';
	if (!cg_has_word(ctl, "memory") || !cg_has_word(ctl, "pids")) {
		snprintf(err, errlen, "%s: memory and pids not both available "
		    "(cgroup.controllers: \"%.100s\")", svc, ctl);
		goto fail;
	}
	cpu = cg_has_word(ctl, "cpu");
	snprintf(on, sizeof(on), "+memory +pids%s", cpu ? " +cpu" : "");

	/*
	 * "No internal processes": controllers may be enabled below svc
	 * only once svc itself is empty, so we move into a leaf first.
	 * Other processes in svc are not ours to move; the subtree_control
	 * write then fails with EBUSY and we say so.
	 */
	if (cg_mkdir(svcfd, svc, CG_SUPERVISOR, err, errlen) == -1)
		goto fail;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (cg_write(svcfd, svc, CG_SUPERVISOR "/cgroup.procs", pid, err,
	    errlen) == -1)
		goto fail;
	if (cg_write(svcfd, svc, "cgroup.subtree_control", on, err,
	    errlen) == -1) {
		if (errno == EBUSY)
			strncat(err, " (other processes share our cgroup)",
			    errlen - strlen(err) - 1);
		goto fail;
	}
	if (cg_mkdir(svcfd, svc, CG_TENANTS, err, errlen) == -1)
		goto fail;
	if (cg_write(svcfd, svc, CG_TENANTS "/cgroup.subtree_control", on,
	    err, errlen) == -1)
		goto fail;
	if ((h->ch_fd = cg_opendir(svcfd, CG_TENANTS)) == -1) {
		snprintf(err, errlen, "%s/%s: %s", svc, CG_TENANTS,
		    strerror(errno));
		goto fail;
	}
	if (cg_join(h->ch_path, sizeof(h->ch_path), svc, CG_TENANTS, err,
	    errlen) == -1) {
		cg_hier_close(h);
		goto fail;
	}
	snprintf(h->ch_name, sizeof(h->ch_name), "unified");
	cg->cg_nhier = 1;
	cg->cg_cpu = cpu;
	cg->cg_mode = CG_V2;
	close(svcfd);
	return 0;
 fail:
	close(svcfd);
	return -1;
}

/* ------------------------------------------------------------ v1 */

/*
 * Opens <v1root>/<ctrl>/<name>, creating it. probe is a file every
 * group of that controller has; the root must be a cgroup hierarchy
 * (cgroup.procs) before we mkdir anything in it.
 */
static int
cg_open_v1_hier(struct cg_hier *h, const char *v1root, const char *ctrl,
    const char *probe, const char *name, char *err, size_t errlen)
{
	char root[PATH_MAX], rel[64];
	int rootfd;

	if (cg_join(root, sizeof(root), v1root, ctrl, err, errlen) == -1)
		return -1;
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", root, strerror(errno));
		return -1;
	}
	if (faccessat(rootfd, "cgroup.procs", F_OK, 0) == -1) {
		snprintf(err, errlen, "%s: not a cgroup v1 hierarchy", root);
		goto fail;
	}
	if (cg_mkdir(rootfd, root, name, err, errlen) == -1)
		goto fail;
	snprintf(rel, sizeof(rel), "%s/%s", name, probe);
	if (faccessat(rootfd, rel, F_OK, 0) == -1) {
		snprintf(err, errlen, "%s/%s: %s (not the %s controller)",
		    root, rel, strerror(errno), ctrl);
		goto fail;
	}
	/* mkdir answers EEXIST before EROFS: check we may write. */
	if (faccessat(rootfd, name, W_OK, 0) == -1) {
		snprintf(err, errlen, "%s/%s: %s", root, name,
		    strerror(errno));
		goto fail;
	}
	if ((h->ch_fd = cg_opendir(rootfd, name)) == -1) {
		snprintf(err, errlen, "%s/%s: %s", root, name,
		    strerror(errno));
		goto fail;
	}
	if (cg_join(h->ch_path, sizeof(h->ch_path), root, name, err,
	    errlen) == -1) {
		cg_hier_close(h);
		goto fail;
	}
	snprintf(h->ch_name, sizeof(h->ch_name), "%s", ctrl);
	close(rootfd);
	return 0;
 fail:
	close(rootfd);
	return -1;
}

static int
cg_open_v1(struct cgroups *cg, const char *v1root, char *err, size_t errlen)
{
	char why[CG_WHYLEN];

	if (cg_open_v1_hier(&cg->cg_hier[0], v1root, "memory",
	    "memory.limit_in_bytes", cg->cg_v1name, err, errlen) == -1)
		return -1;
	if (cg_open_v1_hier(&cg->cg_hier[1], v1root, "pids", "pids.max",
	    cg->cg_v1name, err, errlen) == -1) {
		cg_hier_close(&cg->cg_hier[0]);
		return -1;
	}
	cg->cg_nhier = 2;
	if (cg_open_v1_hier(&cg->cg_hier[2], v1root, "cpu", "cpu.shares",
	    cg->cg_v1name, why, sizeof(why)) == 0) {
		cg->cg_nhier = 3;
		cg->cg_cpu = 1;
	} else
		log_warn("cgroups: no v1 cpu hierarchy, cpu weight not set",
		    "{s:s}", "why", why);
	cg->cg_mode = CG_V1;
	return 0;
}

/* ------------------------------------------------------------ open */

int
cg_open(struct cgroups **cg_r, const char *want, const char *v2root,
    const char *v1root, const char *self_cgroup_file, const char *v1name,
    char *err, size_t errlen)
{
	struct cgroups *cg;
	char why2[CG_WHYLEN] = "", why1[CG_WHYLEN] = "";
	int auto_ = 0, try2, try1;
	size_t i;

	*cg_r = NULL;
	if (want == NULL || strcmp(want, "auto") == 0)
		auto_ = 1;
	else if (strcmp(want, "v2") != 0 && strcmp(want, "v1") != 0 &&
	    strcmp(want, "off") != 0) {
		snprintf(err, errlen, "cgroup mode \"%.32s\": not auto, v2, "
		    "v1 or off", want);
		return -1;
	}
	try2 = auto_ || strcmp(want, "v2") == 0;
	try1 = auto_ || strcmp(want, "v1") == 0;
	if (v2root == NULL)
		v2root = CG_V2ROOT_DEFAULT;
	if (v1root == NULL)
		v1root = CG_V1ROOT_DEFAULT;
	if (self_cgroup_file == NULL)
		self_cgroup_file = CG_SELF_DEFAULT;

	if ((cg = calloc(1, sizeof(*cg))) == NULL) {
		snprintf(err, errlen, "cgroup: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < CG_MAXHIER; i++)
		cg->cg_hier[i].ch_fd = -1;
	cg->cg_mode = CG_OFF;
	if (v1name == NULL)
		v1name = CG_BASE_V1;
	if (!name_valid(v1name) ||
	    strlen(v1name) >= sizeof(cg->cg_v1name)) {
		snprintf(err, errlen, "cgroup name \"%.64s\": not a valid "
		    "name", v1name);
		free(cg);
		return -1;
	}
	snprintf(cg->cg_v1name, sizeof(cg->cg_v1name), "%s", v1name);

	if (!try2 && !try1) {
		log_info("cgroups", "{s:s,s:s}", "mode", "off", "why",
		    "configured off");
		*cg_r = cg;
		return 0;
	}
	if (try2 && cg_open_v2(cg, v2root, self_cgroup_file, why2,
	    sizeof(why2)) == 0) {
		log_info("cgroups", "{s:s,s:s,s:s}", "mode", "v2", "path",
		    cg_base_path(cg), "why", auto_ ? "v2 preferred" :
		    "configured v2");
		*cg_r = cg;
		return 0;
	}
	if (try1 && cg_open_v1(cg, v1root, why1, sizeof(why1)) == 0) {
		log_info("cgroups", "{s:s,s:s,s:s}", "mode", "v1", "path",
		    cg_base_path(cg), "why", auto_ ? why2 : "configured v1");
		*cg_r = cg;
		return 0;
	}
	if (try2 && try1)
		snprintf(err, errlen, "no usable cgroups: v2: %s; v1: %s",
		    why2, why1);
	else
		snprintf(err, errlen, "cgroup %s: %s", try2 ? "v2" : "v1",
		    try2 ? why2 : why1);
	cg_close(&cg);
	return -1;
}

void
cg_close(struct cgroups **cgp)
{
	struct cgroups *cg = *cgp;
	size_t i;

	if (cg == NULL)
		return;
	for (i = 0; i < CG_MAXHIER; i++)
		cg_hier_close(&cg->cg_hier[i]);
	free(cg);
	*cgp = NULL;
}

enum cg_mode
cg_mode(const struct cgroups *cg)
{
	return cg == NULL ? CG_OFF : cg->cg_mode;
}

const char *
cg_mode_name(enum cg_mode m)
{
	switch (m) {
	case CG_V2:
		return "v2";
	case CG_V1:
		return "v1";
	case CG_OFF:
		break;
	}
	return "off";
}

const char *
cg_base_path(const struct cgroups *cg)
{
	if (cg == NULL || cg->cg_mode == CG_OFF)
		return "";
	return cg->cg_hier[0].ch_path;
}

static int
cg_off(const struct cgroups *cg)
{
	return cg == NULL || cg->cg_mode == CG_OFF;
}

/* ------------------------------------------------------------ prepare */

static void
cg_fmt_limit(char *buf, size_t len, int64_t v, const char *unlimited)
{
	if (v < 0)
		snprintf(buf, len, "%s", unlimited);
	else
		snprintf(buf, len, "%" PRId64, v);
}

static int
cg_limits_check(const struct cg_limits *lim, char *err, size_t errlen)
{
	if (lim->cl_memory_max < -1 || lim->cl_swap_max < -1 ||
	    lim->cl_pids_max < -1) {
		snprintf(err, errlen, "cgroup limits: -1 or a count");
		return -1;
	}
	if (lim->cl_cpu_weight < 0 || lim->cl_cpu_weight > 10000) {
		snprintf(err, errlen, "cgroup cpu weight %d: not 1..10000",
		    lim->cl_cpu_weight);
		return -1;
	}
	return 0;
}

static int
cg_prepare_v2(struct cgroups *cg, const char *tenant,
    const struct cg_limits *lim, char *err, size_t errlen)
{
	struct cg_hier *h = &cg->cg_hier[0];
	char v[32];

	cg_fmt_limit(v, sizeof(v), lim->cl_memory_max, "max");
	if (cg_twrite(h, tenant, "memory.max", v, err, errlen) == -1)
		return -1;
	/* Absent when the kernel does no swap accounting. */
	cg_fmt_limit(v, sizeof(v), lim->cl_swap_max, "max");
	if (cg_twrite_opt(h, tenant, "memory.swap.max", v, err, errlen) == -1)
		return -1;
	cg_fmt_limit(v, sizeof(v), lim->cl_pids_max, "max");
	if (cg_twrite(h, tenant, "pids.max", v, err, errlen) == -1)
		return -1;
	if (cg->cg_cpu) {
		snprintf(v, sizeof(v), "%d", lim->cl_cpu_weight > 0 ?
		    lim->cl_cpu_weight : 100);
		if (cg_twrite(h, tenant, "cpu.weight", v, err, errlen) == -1)
			return -1;
	}
	/* An OOM takes the whole worker down, not one random process. */
	return cg_twrite_opt(h, tenant, "memory.oom.group", "1", err, errlen);
}

static int
cg_prepare_v1(struct cgroups *cg, const char *tenant,
    const struct cg_limits *lim, char *err, size_t errlen)
{
	struct cg_hier *mem = cg_hier_memory(cg), *cpu = cg_hier_cpu(cg);
	int64_t memsw = -1, mx = lim->cl_memory_max, sw = lim->cl_swap_max;
	char v[32];
	int has_memsw;

	/*
	 * v1 has no swap-only limit: memsw is memory + swap, and must stay
	 * >= limit_in_bytes at every step. Lifting it first lets the two
	 * writes after it go in either direction.
	 */
	has_memsw = cg_exists(mem, tenant, "memory.memsw.limit_in_bytes");
	if (has_memsw && cg_twrite(mem, tenant, "memory.memsw.limit_in_bytes",
	    "-1", err, errlen) == -1)
		return -1;
	cg_fmt_limit(v, sizeof(v), mx, "-1");
	if (cg_twrite(mem, tenant, "memory.limit_in_bytes", v, err,
	    errlen) == -1)
		return -1;
	if (mx >= 0 && sw >= 0 && sw <= INT64_MAX - mx)
		memsw = mx + sw;
	if (has_memsw && memsw >= 0) {
		cg_fmt_limit(v, sizeof(v), memsw, "-1");
		if (cg_twrite(mem, tenant, "memory.memsw.limit_in_bytes", v,
		    err, errlen) == -1)
			return -1;
	} else if (!has_memsw && sw >= 0)
		log_warn("cgroups: no swap accounting, swap limit not set",
		    "{s:s}", "tenant", tenant);

	cg_fmt_limit(v, sizeof(v), lim->cl_pids_max, "max");
	if (cg_twrite(cg_hier_pids(cg), tenant, "pids.max", v, err,
	    errlen) == -1)
		return -1;
	if (cpu != NULL) {
		int shares = lim->cl_cpu_weight > 0 ?
		    lim->cl_cpu_weight * 1024 / 100 : 1024;

		snprintf(v, sizeof(v), "%d", shares < 2 ? 2 : shares);
		if (cg_twrite(cpu, tenant, "cpu.shares", v, err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
cg_tenant_prepare(struct cgroups *cg, const char *tenant,
    const struct cg_limits *lim, char *err, size_t errlen)
{
	size_t i;

	if (cg_off(cg))
		return 0;
	if (cg_tenant_check(tenant, err, errlen) == -1 ||
	    cg_limits_check(lim, err, errlen) == -1)
		return -1;
	for (i = 0; i < cg->cg_nhier; i++) {
		struct cg_hier *h = &cg->cg_hier[i];

		if (cg_mkdir(h->ch_fd, h->ch_path, tenant, err, errlen) == -1)
			return -1;
	}
	if (cg->cg_mode == CG_V2)
		return cg_prepare_v2(cg, tenant, lim, err, errlen);
	return cg_prepare_v1(cg, tenant, lim, err, errlen);
}

/* ------------------------------------------------------------ attach */

int
cg_tenant_attach(struct cgroups *cg, const char *tenant, pid_t pid,
    char *err, size_t errlen)
{
	char v[32];
	size_t i;

	if (cg_off(cg))
		return 0;
	if (cg_tenant_check(tenant, err, errlen) == -1)
		return -1;
	if (pid <= 0) {
		snprintf(err, errlen, "cgroup attach: bad pid %ld", (long)pid);
		return -1;
	}
	snprintf(v, sizeof(v), "%ld", (long)pid);
	for (i = 0; i < cg->cg_nhier; i++)
		if (cg_twrite(&cg->cg_hier[i], tenant, "cgroup.procs", v, err,
		    errlen) == -1)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ remove */

static int
cg_pid_listed(const pid_t *pids, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return 1;
	return 0;
}

/*
 * One round: SIGKILL every process listed in h's group. A pid read from
 * cgroup.procs may be reaped and reused before we signal it, so each is
 * pinned with a pidfd and signalled only if still listed after that.
 * Sets *empty_r when the group had no process. Returns 0 or -1 with err.
 */
static int
cg_kill_round(struct cg_hier *h, const char *tenant, int *empty_r,
    char *err, size_t errlen)
{
	pid_t *before = NULL, *after = NULL, self = getpid();
	size_t nb = 0, na = 0, i;
	int *pfd = NULL, rc = -1;

	*empty_r = 0;
	if (cg_tread_pids(h, tenant, &before, &nb) == -1) {
		if (errno == ENOENT) {
			*empty_r = 1;
			return 0;
		}
		snprintf(err, errlen, "%s/%s/cgroup.procs: %s", h->ch_path,
		    tenant, strerror(errno));
		return -1;
	}
	if (nb == 0) {
		*empty_r = 1;
		return 0;
	}
	if (cg_pid_listed(before, nb, self)) {
		snprintf(err, errlen, "%s/%s: holds the calling process, "
		    "not killing", h->ch_path, tenant);
		goto out;
	}
	if ((pfd = calloc(nb, sizeof(*pfd))) == NULL) {
		snprintf(err, errlen, "cgroup kill: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < nb; i++) {
		pfd[i] = pidfd_open(before[i], 0);
		/* Kernels before 5.3: plain kill, with the race. */
		if (pfd[i] == -1 && errno == ENOSYS)
			pfd[i] = -2;
	}
	if (cg_tread_pids(h, tenant, &after, &na) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s/%s/cgroup.procs: %s", h->ch_path,
		    tenant, strerror(errno));
		goto out;
	}
	for (i = 0; i < nb; i++) {
		if (!cg_pid_listed(after, na, before[i]))
			continue;
		if (pfd[i] >= 0)
			(void)pidfd_send_signal(pfd[i], SIGKILL, NULL, 0);
		else if (pfd[i] == -2)
			(void)kill(before[i], SIGKILL);
	}
	rc = 0;
 out:
	if (pfd != NULL)
		for (i = 0; i < nb; i++)
			if (pfd[i] >= 0)
				close(pfd[i]);
	free(pfd);
	free(before);
	free(after);
	return rc;
}

static int
cg_kill_all(struct cgroups *cg, const char *tenant, char *err, size_t errlen)
{
	struct cg_hier *h0 = &cg->cg_hier[0];
	int round, empty, all_empty, via_kill = 0;
	size_t i;

	/* cgroup.kill (5.14) kills atomically, forks in flight included. */
	if (cg->cg_mode == CG_V2 && cg_exists(h0, tenant, "cgroup.kill")) {
		pid_t *p;
		size_t n;
		int self_in;

		if (cg_tread_pids(h0, tenant, &p, &n) == -1) {
			snprintf(err, errlen, "%s/%s/cgroup.procs: %s",
			    h0->ch_path, tenant, strerror(errno));
			return -1;
		}
		self_in = cg_pid_listed(p, n, getpid());
		free(p);
		if (self_in) {
			snprintf(err, errlen, "%s/%s: holds the calling "
			    "process, not killing", h0->ch_path, tenant);
			return -1;
		}
		if (cg_twrite(h0, tenant, "cgroup.kill", "1", err,
		    errlen) == -1)
			return -1;
		via_kill = 1;
	}
	for (round = 0; round < CG_ROUNDS; round++) {
		all_empty = 1;
		for (i = 0; i < cg->cg_nhier; i++) {
			struct cg_hier *h = &cg->cg_hier[i];

			if (via_kill) {
				pid_t *p;
				size_t n;

				if (cg_tread_pids(h, tenant, &p, &n) == -1 &&
				    errno != ENOENT) {
					snprintf(err, errlen,
					    "%s/%s/cgroup.procs: %s",
					    h->ch_path, tenant,
					    strerror(errno));
					return -1;
				}
				free(p);
				empty = n == 0;
			} else if (cg_kill_round(h, tenant, &empty, err,
			    errlen) == -1)
				return -1;
			if (!empty)
				all_empty = 0;
		}
		if (all_empty)
			return 0;
		cg_nap();
	}
	snprintf(err, errlen, "%s/%s: processes survive SIGKILL",
	    h0->ch_path, tenant);
	return -1;
}

static int
cg_rmdir(struct cg_hier *h, const char *tenant, char *err, size_t errlen)
{
	int round;

	for (round = 0; round < CG_ROUNDS; round++) {
		if (unlinkat(h->ch_fd, tenant, AT_REMOVEDIR) == 0 ||
		    errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		cg_nap();
	}
	snprintf(err, errlen, "rmdir %s/%s: %s", h->ch_path, tenant,
	    strerror(errno));
	return -1;
}

int
cg_tenant_remove(struct cgroups *cg, const char *tenant, char *err,
    size_t errlen)
{
	struct stat st;
	int found = 0;
	size_t i;

	if (cg_off(cg))
		return 0;
	if (cg_tenant_check(tenant, err, errlen) == -1)
		return -1;
	for (i = 0; i < cg->cg_nhier; i++)
		if (fstatat(cg->cg_hier[i].ch_fd, tenant, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			found = 1;
	if (!found)
		return 0;
	if (cg_kill_all(cg, tenant, err, errlen) == -1)
		return -1;
	for (i = 0; i < cg->cg_nhier; i++)
		if (cg_rmdir(&cg->cg_hier[i], tenant, err, errlen) == -1)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ usage */

int
cg_tenant_usage(struct cgroups *cg, const char *tenant, int64_t *mem_r,
    int64_t *pids_r)
{
	char err[128];

	*mem_r = -1;
	*pids_r = -1;
	if (cg_off(cg))
		return 0;
	if (cg_tenant_check(tenant, err, sizeof(err)) == -1)
		return -1;
	*mem_r = cg_tread_i64(cg_hier_memory(cg), tenant,
	    cg->cg_mode == CG_V2 ? "memory.current" : "memory.usage_in_bytes");
	*pids_r = cg_tread_i64(cg_hier_pids(cg), tenant, "pids.current");
	return *mem_r == -1 && *pids_r == -1 ? -1 : 0;
}

int64_t
cg_tenant_oom_kills(struct cgroups *cg, const char *tenant)
{
	char err[128];

	if (cg_off(cg) || cg_tenant_check(tenant, err, sizeof(err)) == -1)
		return -1;
	if (cg->cg_mode == CG_V2)
		return cg_tread_key(cg_hier_memory(cg), tenant,
		    "memory.events", "oom_kill");
	return cg_tread_key(cg_hier_memory(cg), tenant, "memory.oom_control",
	    "oom_kill");
}
