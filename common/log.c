/*
 * log.c: one JSON object per line on stderr, written with one write(2) so
 * lines from the supervisor, its workers and their upstreams never
 * interleave mid-line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

/* The only mutable state of this module: set once at start-up. */
static struct {
	char lg_proc[32];
	enum log_level lg_level;
} lg = { "dataagent", LOG_LVL_INFO };

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void
log_init(const char *proc, enum log_level level)
{
	snprintf(lg.lg_proc, sizeof(lg.lg_proc), "%s", proc);
	lg.lg_level = level;
}

void
log_set_level(enum log_level level)
{
	lg.lg_level = level;
}

int
log_level_parse(const char *name, enum log_level *level_r)
{
	if (strcasecmp(name, "error") == 0)
		*level_r = LOG_LVL_ERROR;
	else if (strcasecmp(name, "warn") == 0 ||
	    strcasecmp(name, "warning") == 0)
		*level_r = LOG_LVL_WARN;
	else if (strcasecmp(name, "info") == 0)
		*level_r = LOG_LVL_INFO;
	else if (strcasecmp(name, "debug") == 0)
		*level_r = LOG_LVL_DEBUG;
	else
		return -1;
	return 0;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_DEBUG)
		return "info";
	return level_names[level];
}

int
log_enabled(enum log_level level)
{
	return level <= lg.lg_level;
}

static void
log_timestamp(char *out, size_t outlen)
{
	struct timeval tv;
	struct tm tm;
	char base[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%.24s.%03dZ", base, (int)(tv.tv_usec / 1000) % 1000);
}

void
log_vwrite(enum log_level level, const char *msg, const char *fmt, va_list ap)
{
	json_t *line, *fields = NULL;
	json_error_t jerr;
	char ts[64], *text;
	size_t len, off;
	ssize_t n;
	int saved_errno = errno;

	if (!log_enabled(level))
		return;
	log_timestamp(ts, sizeof(ts));
	line = json_pack("{s:s,s:s,s:s,s:I,s:s}", "ts", ts,
	    "level", log_level_name(level), "proc", lg.lg_proc,
	    "pid", (json_int_t)getpid(), "msg", msg != NULL ? msg : "");
	if (line == NULL)
		goto out;
	if (fmt != NULL) {
		fields = json_vpack_ex(&jerr, 0, fmt, ap);
		if (fields != NULL && json_is_object(fields))
			json_object_update_missing(line, fields);
		else
			json_object_set_new(line, "log_format_error",
			    json_string(jerr.text));
		json_decref(fields);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(line);
	if (text == NULL)
		goto out;
	len = strlen(text);
	text[len++] = '\n';	/* json_dumps leaves room: replace the NUL */
	for (off = 0; off < len; off += (size_t)n) {
		n = write(STDERR_FILENO, text + off, len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			break;
	}
	free(text);
out:
	errno = saved_errno;
}

void
log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, msg, fmt, ap);
	va_end(ap);
}
