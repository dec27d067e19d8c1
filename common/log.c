/*
 * log.c: one JSON object per line on stderr (or, for a person at a
 * terminal, one line of text with the same fields), written with one
 * write(2) so lines from the supervisor, its workers and their upstreams
 * never interleave mid-line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common.h"

/* The only mutable state of this module: set once at start-up. */
static struct {
	char lg_proc[32];
	enum log_level lg_level;
	int lg_text;		/* log_set_text */
} lg = { "dataagent", LOG_LVL_INFO, 0 };

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

void
log_set_text(int text)
{
	lg.lg_text = text != 0;
}

int
log_format_is_text(const char *format)
{
	if (format != NULL && strcmp(format, "json") == 0)
		return 0;
	if (format != NULL && strcmp(format, "text") == 0)
		return 1;
	return isatty(STDERR_FILENO);
}

/* A value as key=value wants it: bare when it has nothing that would
 * make the line ambiguous, else as a JSON string or value. */
static int
log_text_value(struct evbuffer *out, const json_t *v)
{
	const char *s;
	char *dump;
	size_t i;

	if (json_is_string(v)) {
		s = json_string_value(v);
		for (i = 0; s[i] != '\0'; i++)
			if ((unsigned char)s[i] <= ' ' || s[i] == '"' ||
			    s[i] == '=' || s[i] == '\\' || s[i] == 0x7f)
				break;
		if (s[i] == '\0' && i > 0)
			return evbuffer_add(out, s, i);
	}
	int rc;

	if ((dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		return -1;
	rc = evbuffer_add(out, dump, strlen(dump));
	free(dump);
	return rc;
}

char *
log_text_line(const json_t *line)
{
	struct evbuffer *out;
	const char *key, *ts;
	json_t *v;
	char *text = NULL;
	size_t len;
	int rc = 0;

	if ((out = evbuffer_new()) == NULL)
		return NULL;
	/* 2026-12-05T21:03:04.123Z -> 2026-12-05 21:03:04.123 */
	ts = json_string_value(json_object_get(line, "ts"));
	if (ts != NULL && strlen(ts) >= 23)
		rc |= evbuffer_add_printf(out, "%.10s %.12s", ts, ts + 11) < 0;
	rc |= evbuffer_add_printf(out, " %-5s %s[%lld] %s",
	    json_string_value(json_object_get(line, "level")) ?: "info",
	    json_string_value(json_object_get(line, "proc")) ?: "",
	    (long long)json_integer_value(json_object_get(line, "pid")),
	    json_string_value(json_object_get(line, "msg")) ?: "") < 0;
	json_object_foreach((json_t *)line, key, v) {
		if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 ||
		    strcmp(key, "proc") == 0 || strcmp(key, "pid") == 0 ||
		    strcmp(key, "msg") == 0)
			continue;
		rc |= evbuffer_add_printf(out, " %s=", key) < 0;
		rc |= log_text_value(out, v) < 0;
	}
	len = evbuffer_get_length(out);
	if (rc == 0 && (text = malloc(len + 2)) != NULL) {
		evbuffer_remove(out, text, len);
		text[len] = '\0';
	}
	evbuffer_free(out);
	return text;
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

static void log_put(const json_t *line);

void
log_vwrite(enum log_level level, const char *msg, const char *fmt, va_list ap)
{
	json_t *line, *fields = NULL;
	json_error_t jerr;
	char ts[64];
	int saved_errno = errno;

	if (!log_enabled(level)) {
		/* An "o" field is a reference the caller gave the line: it
		 * goes even when the line is not written (a tenant's server
		 * writing non-JSON lines leaked one string a line). */
		if (fmt != NULL && strchr(fmt, 'o') != NULL)
			json_decref(json_vpack_ex(&jerr, 0, fmt, ap));
		return;
	}
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
	log_put(line);
	json_decref(line);
out:
	errno = saved_errno;
}

void
log_emit(enum log_level level, const char *proc, long long pid,
    const char *msg, json_t *fields)
{
	json_t *line;
	char ts[64];
	int saved_errno = errno;

	if (!log_enabled(level))
		return;
	log_timestamp(ts, sizeof(ts));
	line = json_pack("{s:s,s:s,s:s,s:I,s:s}", "ts", ts,
	    "level", log_level_name(level), "proc", proc,
	    "pid", (json_int_t)pid, "msg", msg != NULL ? msg : "");
	if (line != NULL) {
		if (fields != NULL)
			json_object_update_missing(line, fields);
		log_put(line);
		json_decref(line);
	}
	errno = saved_errno;
}

/* Writes one line object in the chosen form with one write(2). */
static void
log_put(const json_t *line)
{
	char *text;
	size_t len, off;
	ssize_t n;

	/* Both forms leave room for the newline: it replaces the NUL. */
	text = lg.lg_text ? log_text_line(line) :
	    json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return;
	len = strlen(text);
	text[len++] = '\n';
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
}

void
log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, msg, fmt, ap);
	va_end(ap);
}
