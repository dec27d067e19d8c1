/*
 * workerlog.c: what a worker writes on its stdout and stderr.
 *
 * As Dovecot's log process does for its children, the supervisor reads
 * each worker's output from a pipe (non-blocking, lines of at most
 * WLOG_LINE_MAX bytes) and writes every line again with its own logger.
 * The fields a worker could use to speak for someone else come from the
 * worker table, never from the line: "worker_pid" and "tenant" ("" for
 * a spare), and "pid" (the worker's; a line that names another pid, as
 * the worker's launcher does, keeps it as "child_pid"). A "proc" of
 * "dataagentd" becomes "worker". Every string and key is passed through
 * vis_escape. A line that is not a JSON object is written as
 * {"msg":"worker output","line":...}.
 *
 * Each worker may pass on worker_log_rate lines a second, with bursts of
 * worker_log_burst; the lines over it are dropped unread, counted per
 * tenant in /metrics and summed in one "worker log lines dropped" line
 * a second, so a flood can neither fill the journal nor crowd out the
 * supervisor's own warnings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "supervisor.h"

#define WLOG_LINE_MAX 16384
#define WLOG_READ_MAX 65536		/* per readiness, for fairness */
#define WLOG_DRAIN_MAX (4 * WLOG_READ_MAX)	/* at the worker's end */
#define WLOG_SUMMARY_MS 1000
#define WLOG_DEPTH_MAX 8		/* nesting kept of a line's fields */

struct wlog {
	struct sup *wl_sup;
	int wl_fd;
	struct event *wl_ev;
	struct event *wl_ev_summary;
	pid_t wl_pid;
	const char *wl_tenant;		/* the worker table's, "" when spare */
	char wl_buf[WLOG_LINE_MAX];
	size_t wl_len;
	int wl_skip;			/* dropping the rest of a long line */
	double wl_tokens;
	int64_t wl_last_ms;
	uint64_t wl_dropped;		/* since the last summary */
};

/* A proc name a worker may give its line: short, plain, not ours. */
static int
wlog_proc_valid(const char *p)
{
	size_t n = p != NULL ? strlen(p) : 0;

	return n > 0 && n < 32 && strspn(p, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n && strcmp(p, "dataagentd") != 0;
}

/* Passes on one line (without its newline). */
static void
wlog_emit(struct wlog *wl, const char *line, size_t len, int truncated)
{
	enum log_level level = LOG_LVL_INFO;
	json_t *v, *fields, *e, *vis;
	const char *k, *proc = "worker", *lv;
	char *msg = NULL, *text;

	if ((fields = json_pack("{s:i,s:s}", "worker_pid", (int)wl->wl_pid,
	    "tenant", wl->wl_tenant)) == NULL)
		return;
	v = truncated ? NULL : json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(v)) {
		if ((text = vis_escape(line, len)) != NULL)
			json_object_set_new(fields, "line", json_string(text));
		free(text);
		if (truncated)
			json_object_set_new(fields, "truncated", json_true());
		log_emit(LOG_LVL_INFO, proc, wl->wl_pid, "worker output",
		    fields);
		json_decref(v);
		json_decref(fields);
		return;
	}
	if ((lv = json_string_value(json_object_get(v, "level"))) == NULL ||
	    log_level_parse(lv, &level) == -1)
		level = LOG_LVL_INFO;
	if (wlog_proc_valid(json_string_value(json_object_get(v, "proc"))))
		proc = json_string_value(json_object_get(v, "proc"));
	e = json_object_get(v, "msg");
	if (json_is_string(e))
		msg = vis_escape(json_string_value(e), json_string_length(e));
	e = json_object_get(v, "pid");
	if (json_is_integer(e) && json_integer_value(e) != wl->wl_pid)
		json_object_set_new(fields, "child_pid", json_integer(
		    json_integer_value(e)));
	json_object_foreach(v, k, e) {
		if (strcmp(k, "ts") == 0 || strcmp(k, "level") == 0 ||
		    strcmp(k, "proc") == 0 || strcmp(k, "pid") == 0 ||
		    strcmp(k, "msg") == 0 || strcmp(k, "worker_pid") == 0 ||
		    strcmp(k, "tenant") == 0 || strcmp(k, "child_pid") == 0)
			continue;
		if ((text = vis_escape(k, strlen(k))) == NULL)
			continue;
		/* An escaped key may meet one of ours: ours stays. */
		if (json_object_get(fields, text) == NULL &&
		    (vis = vis_json(e, WLOG_DEPTH_MAX)) != NULL)
			json_object_set_new(fields, text, vis);
		free(text);
	}
	log_emit(level, proc, wl->wl_pid, msg != NULL ? msg : "", fields);
	free(msg);
	json_decref(v);
	json_decref(fields);
}

/* 1 when the worker may pass on one more line now. */
static int
wlog_take(struct wlog *wl)
{
	const struct config *cf = &wl->wl_sup->sp_cf;
	int64_t now = now_mono_ms();
	double burst = cf->cf_worker_log_burst > 0 ?
	    cf->cf_worker_log_burst : 1;

	if (cf->cf_worker_log_rate == 0)
		return 1;
	wl->wl_tokens += (double)(now - wl->wl_last_ms) *
	    cf->cf_worker_log_rate / 1000.0;
	if (wl->wl_tokens > burst)
		wl->wl_tokens = burst;
	wl->wl_last_ms = now;
	if (wl->wl_tokens >= 1.0) {
		wl->wl_tokens -= 1.0;
		return 1;
	}
	return 0;
}

static void
wlog_summary(struct wlog *wl)
{
	if (wl->wl_dropped == 0)
		return;
	log_warn("worker log lines dropped", "{s:i,s:s,s:I,s:i,s:i}",
	    "worker_pid", (int)wl->wl_pid, "tenant", wl->wl_tenant,
	    "dropped", (json_int_t)wl->wl_dropped, "rate",
	    wl->wl_sup->sp_cf.cf_worker_log_rate, "burst",
	    wl->wl_sup->sp_cf.cf_worker_log_burst);
	wl->wl_dropped = 0;
}

static void
wlog_on_summary(evutil_socket_t fd, short ev, void *arg)
{
	wlog_summary(arg);
}

/* One whole line, or the first WLOG_LINE_MAX bytes of a longer one. */
static void
wlog_line(struct wlog *wl, const char *line, size_t len, int truncated)
{
	struct timeval tv = { WLOG_SUMMARY_MS / 1000,
	    (WLOG_SUMMARY_MS % 1000) * 1000 };

	if (len == 0 && !truncated)
		return;
	if (wlog_take(wl)) {
		wlog_emit(wl, line, len, truncated);
		return;
	}
	wl->wl_dropped++;
	metrics_tenant_count(wl->wl_sup, wl->wl_tenant, MTC_LOG_DROPPED, 1);
	if (!evtimer_pending(wl->wl_ev_summary, NULL))
		evtimer_add(wl->wl_ev_summary, &tv);
}

/* Splits what arrived into lines. */
static void
wlog_feed(struct wlog *wl, const char *p, size_t n)
{
	const char *nl;
	size_t take;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (wl->wl_skip) {
			if (nl != NULL)
				wl->wl_skip = 0;
		} else if (wl->wl_len + take >= sizeof(wl->wl_buf)) {
			/* Too long: the start goes out marked, the rest of
			 * the line is dropped. */
			memcpy(wl->wl_buf + wl->wl_len, p,
			    sizeof(wl->wl_buf) - wl->wl_len);
			wlog_line(wl, wl->wl_buf, sizeof(wl->wl_buf), 1);
			wl->wl_len = 0;
			wl->wl_skip = nl == NULL;
		} else {
			memcpy(wl->wl_buf + wl->wl_len, p, take);
			wl->wl_len += take;
			if (nl != NULL) {
				wlog_line(wl, wl->wl_buf, wl->wl_len, 0);
				wl->wl_len = 0;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
		n -= take + 1;
	}
}

/* Reads up to max bytes; returns -1 at EOF or a read error. */
static int
wlog_read(struct wlog *wl, size_t max)
{
	char buf[8192];
	size_t got = 0;
	ssize_t n;

	while (got < max) {
		n = read(wl->wl_fd, buf, sizeof(buf));
		if (n > 0) {
			wlog_feed(wl, buf, (size_t)n);
			got += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		return -1;
	}
	return 0;
}

static void
wlog_close_fd(struct wlog *wl)
{
	if (wl->wl_ev != NULL) {
		event_free(wl->wl_ev);
		wl->wl_ev = NULL;
	}
	fd_close(&wl->wl_fd);
	/* A last line without its newline. */
	if (wl->wl_len > 0 && !wl->wl_skip)
		wlog_line(wl, wl->wl_buf, wl->wl_len, 0);
	wl->wl_len = 0;
}

static void
wlog_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct wlog *wl = arg;

	if (wlog_read(wl, WLOG_READ_MAX) == -1)
		wlog_close_fd(wl);
}

struct wlog *
wlog_new(struct sup *sp, int fd, pid_t pid, const char *tenant)
{
	struct wlog *wl;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		return NULL;
	wl->wl_sup = sp;
	wl->wl_fd = fd;
	wl->wl_pid = pid;
	wl->wl_tenant = tenant;
	wl->wl_tokens = sp->sp_cf.cf_worker_log_burst;
	wl->wl_last_ms = now_mono_ms();
	wl->wl_ev = event_new(sp->sp_base, fd, EV_READ | EV_PERSIST,
	    wlog_on_read, wl);
	wl->wl_ev_summary = evtimer_new(sp->sp_base, wlog_on_summary, wl);
	if (wl->wl_ev == NULL || wl->wl_ev_summary == NULL ||
	    event_add(wl->wl_ev, NULL) == -1) {
		wl->wl_fd = -1;		/* the caller's still */
		wlog_free(&wl);
		return NULL;
	}
	return wl;
}

void
wlog_drain(struct wlog *wl)
{
	if (wl == NULL || wl->wl_fd == -1)
		return;
	(void)wlog_read(wl, WLOG_DRAIN_MAX);
	wlog_close_fd(wl);
	wlog_summary(wl);
}

void
wlog_free(struct wlog **wlp)
{
	struct wlog *wl = *wlp;

	if (wl == NULL)
		return;
	wlog_close_fd(wl);
	wlog_summary(wl);
	if (wl->wl_ev_summary != NULL)
		event_free(wl->wl_ev_summary);
	free(wl);
	*wlp = NULL;
}
