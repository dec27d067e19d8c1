/*
 * test_remote.c: the parsers of a remote upstream's bytes (url.c,
 * httpresp.c, sse.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "remote.h"
#include "unit.h"

/* ------------------------------------------------------------- sse */

struct ev_log {
	char buf[4096];
	int n;
	int stop_after;		/* 0: never */
};

static int
on_event(const char *type, const char *data, size_t len, const char *id,
    void *arg)
{
	struct ev_log *l = arg;
	size_t off = strlen(l->buf);

	snprintf(l->buf + off, sizeof(l->buf) - off, "[%s|%.*s|%s]", type,
	    (int)len, data, id != NULL ? id : "-");
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after ? -1 : 0;
}

/* Feeds s in pieces of `step` bytes. */
static int
sse_run(const char *s, size_t step, struct ev_log *l)
{
	struct sse *p = sse_new(on_event, l);
	size_t i, n, len = strlen(s);
	char err[128];
	int rc = 0;

	memset(l->buf, 0, sizeof(l->buf));
	l->n = 0;
	for (i = 0; i < len && rc == 0; i += n) {
		n = len - i < step ? len - i : step;
		rc = sse_feed(p, s + i, n, err, sizeof(err));
	}
	sse_free(&p);
	return rc;
}

/* --------------------------------------------------------- httpresp */

struct resp_log {
	int status;
	char ctype[64];
	char body[4096];
	size_t bodylen;
	int done, keep_alive, stop_head;
};

static int
r_head(int status, const json_t *headers, void *arg)
{
	struct resp_log *l = arg;
	const char *ct = json_string_value(json_object_get(headers,
	    "content-type"));

	l->status = status;
	snprintf(l->ctype, sizeof(l->ctype), "%s", ct != NULL ? ct : "");
	return l->stop_head ? -1 : 0;
}

static int
r_body(const char *data, size_t len, void *arg)
{
	struct resp_log *l = arg;

	if (l->bodylen + len < sizeof(l->body)) {
		memcpy(l->body + l->bodylen, data, len);
		l->bodylen += len;
	}
	return 0;
}

static void
r_done(int keep_alive, void *arg)
{
	struct resp_log *l = arg;

	l->done++;
	l->keep_alive = keep_alive;
}

static const struct httpresp_cbs rcbs = { r_head, r_body, r_done };

/* Feeds s byte by byte (step 1) or at once; returns bytes consumed in
 * total, -1 on error. eof: then tell the parser the peer closed. */
static ssize_t
resp_run(const char *s, size_t step, struct resp_log *l, int eof)
{
	struct httpresp *p = httpresp_new(&rcbs, l);
	size_t i = 0, n, len = strlen(s);
	ssize_t r, total = 0;
	char err[128];

	memset(l, 0, sizeof(*l));
	while (i < len) {
		n = len - i < step ? len - i : step;
		if ((r = httpresp_feed(p, s + i, n, err, sizeof(err))) < 0) {
			httpresp_free(&p);
			return -1;
		}
		total += r;
		if ((size_t)r < n || l->done)
			break;
		i += n;
	}
	if (eof && httpresp_eof(p, err, sizeof(err)) == -1)
		total = -1;
	httpresp_free(&p);
	return total;
}

int
main(void)
{
	struct url u, o;
	struct ev_log el;
	struct resp_log rl;
	char err[256], hp[300], *big;
	static const char *const many =
	    "event: endpoint\ndata: /message?sessionId=1\n\n"
	    ": comment\r\ndata: {\"a\":1}\r\nid: 7\r\n\r\n"
	    "data: two\rdata: lines\r\rdata:nospace\n\n"
	    "event: x\n\n";
	size_t step;

	unit_suite_set(__FILE__);

	UNIT_CASE("url: http and https with ports, paths and queries");
	UNIT_CHECK(url_parse("http://127.0.0.1:8080/mcp?x=1", &u, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(!u.u_tls && u.u_port == 8080 &&
	    strcmp(u.u_host, "127.0.0.1") == 0 &&
	    strcmp(u.u_target, "/mcp?x=1") == 0);
	UNIT_CHECK(url_parse("HTTPS://example.com", &u, err, sizeof(err)) ==
	    0 && u.u_tls && u.u_port == 443 && strcmp(u.u_target, "/") == 0);
	UNIT_CHECK(url_parse("http://[::1]:9/a", &u, err, sizeof(err)) == 0 &&
	    u.u_host_ip6 && strcmp(u.u_host, "::1") == 0 && u.u_port == 9);
	url_hostport(&u, hp, sizeof(hp));
	UNIT_CHECK(strcmp(hp, "[::1]:9") == 0);
	UNIT_CHECK(url_parse("http://h?q", &u, err, sizeof(err)) == 0 &&
	    strcmp(u.u_target, "/?q") == 0);
	url_hostport(&u, hp, sizeof(hp));
	UNIT_CHECK(strcmp(hp, "h") == 0);

	UNIT_CASE("url: refused");
	UNIT_CHECK(url_parse("ftp://h/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://u:p@h/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://@h/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http:///x", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h:0/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h:65536/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h:/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h:8x/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h/a b", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h/a\r\nX: y", &u, err, sizeof(err)) ==
	    -1);
	UNIT_CHECK(url_parse("http://h/#frag", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://[::1/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://[zz]/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("http://h%2f/", &u, err, sizeof(err)) == -1);
	UNIT_CHECK(url_parse("", &u, err, sizeof(err)) == -1);
	big = malloc(URL_MAX + 16);
	memset(big, 'a', URL_MAX + 15);
	memcpy(big, "http://h/", 9);
	big[URL_MAX + 15] = '\0';
	UNIT_CHECK(url_parse(big, &u, err, sizeof(err)) == -1);
	free(big);

	UNIT_CASE("url: an endpoint resolves on the same origin only");
	UNIT_CHECK(url_parse("http://localhost:3001/sse", &u, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(url_resolve_same_origin(&u, "/message?sessionId=a", &o,
	    err, sizeof(err)) == 0 &&
	    strcmp(o.u_target, "/message?sessionId=a") == 0 &&
	    o.u_port == 3001 && strcmp(o.u_host, "localhost") == 0);
	UNIT_CHECK(url_resolve_same_origin(&u, "message?s=1", &o, err,
	    sizeof(err)) == 0 && strcmp(o.u_target, "/message?s=1") == 0);
	UNIT_CHECK(url_parse("http://h/a/b/sse?x=/y", &u, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(url_resolve_same_origin(&u, "m", &o, err, sizeof(err)) ==
	    0 && strcmp(o.u_target, "/a/b/m") == 0);
	UNIT_CHECK(url_resolve_same_origin(&u, "http://h/x", &o, err,
	    sizeof(err)) == 0 && strcmp(o.u_target, "/x") == 0);
	UNIT_CHECK(url_resolve_same_origin(&u, "http://h:81/x", &o, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(url_resolve_same_origin(&u, "https://h/x", &o, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(url_resolve_same_origin(&u, "http://evil/x", &o, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(url_resolve_same_origin(&u, "//evil/x", &o, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(url_resolve_same_origin(&u, "/a\nb", &o, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(url_resolve_same_origin(&u, "", &o, err, sizeof(err)) ==
	    -1);

	UNIT_CASE("header names and values");
	UNIT_CHECK(http_header_name_valid("Authorization"));
	UNIT_CHECK(http_header_name_valid("X-Api-Key"));
	UNIT_CHECK(!http_header_name_valid("Bad Name"));
	UNIT_CHECK(!http_header_name_valid("X:Y"));
	UNIT_CHECK(!http_header_name_valid(""));
	UNIT_CHECK(http_header_value_valid("Bearer abc\tdef"));
	UNIT_CHECK(!http_header_value_valid("a\r\nX-Evil: 1"));
	UNIT_CHECK(!http_header_value_valid("a\nb"));
	UNIT_CHECK(!http_header_value_valid("a\rb"));

	UNIT_CASE("sse: fields, comments, every line ending, any split");
	for (step = 1; step <= strlen(many); step++) {
		UNIT_CHECK(sse_run(many, step, &el) == 0);
		UNIT_CHECK(strcmp(el.buf, "[endpoint|/message?sessionId=1|-]"
		    "[message|{\"a\":1}|7][message|two\nlines|7]"
		    "[message|nospace|7]") == 0);
	}

	UNIT_CASE("sse: a BOM is dropped, only at the start");
	UNIT_CHECK(sse_run("\xef\xbb\xbf" "data: x\n\n", 1, &el) == 0 &&
	    strcmp(el.buf, "[message|x|-]") == 0);
	UNIT_CHECK(sse_run("\xef\xbb" "data: x\n\n", 100, &el) == 0 &&
	    el.n == 0);

	UNIT_CASE("sse: an unfinished event is not dispatched");
	UNIT_CHECK(sse_run("data: half", 3, &el) == 0 && el.n == 0);
	UNIT_CHECK(sse_run("data: a\n", 3, &el) == 0 && el.n == 0);

	UNIT_CASE("sse: a callback stops the stream");
	el.stop_after = 1;
	UNIT_CHECK(sse_run("data: a\n\ndata: b\n\n", 100, &el) == -1 &&
	    el.n == 1);
	el.stop_after = 0;

	UNIT_CASE("sse: an event larger than the limit is refused");
	{
		struct sse *p = sse_new(on_event, &el);
		char *chunk = malloc(1024 * 1024 + 1);
		int i, rc = 0;

		memset(chunk, 'x', 1024 * 1024);
		memset(&el, 0, sizeof(el));
		rc = sse_feed(p, "data: ", 6, err, sizeof(err));
		for (i = 0; i < 20 && rc == 0; i++)
			rc = sse_feed(p, chunk, 1024 * 1024, err, sizeof(err));
		UNIT_CHECK(rc == -1 && el.n == 0);
		sse_free(&p);
		/* many data lines add up too */
		p = sse_new(on_event, &el);
		memcpy(chunk, "data: ", 6);
		chunk[1024 * 1024 - 1] = '\n';
		for (rc = 0, i = 0; i < 20 && rc == 0; i++)
			rc = sse_feed(p, chunk, 1024 * 1024, err, sizeof(err));
		UNIT_CHECK(rc == -1 && el.n == 0);
		sse_free(&p);
		free(chunk);
	}

	UNIT_CASE("httpresp: content-length body, keep-alive, any split");
	for (step = 1; step < 64; step += 7) {
		UNIT_CHECK(resp_run("HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
		    step, &rl, 0) > 0);
		UNIT_CHECK(rl.status == 200 && rl.done == 1 && rl.keep_alive &&
		    strcmp(rl.ctype, "application/json") == 0 &&
		    rl.bodylen == 7 && memcmp(rl.body, "{\"a\":1}", 7) == 0);
	}

	UNIT_CASE("httpresp: chunked body with extensions and trailers");
	for (step = 1; step < 64; step += 5) {
		UNIT_CHECK(resp_run("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
		    "chunked\r\nContent-Type: text/event-stream\r\n\r\n"
		    "5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nT: v\r\n\r\n",
		    step, &rl, 0) > 0);
		UNIT_CHECK(rl.done == 1 && rl.bodylen == 12 &&
		    memcmp(rl.body, "hello, world", 12) == 0 &&
		    strcmp(rl.ctype, "text/event-stream") == 0);
	}

	UNIT_CASE("httpresp: a body read until close ends at EOF");
	UNIT_CHECK(resp_run("HTTP/1.0 200 OK\r\n\r\nuntil close", 4, &rl,
	    1) >= 0);
	UNIT_CHECK(rl.done == 1 && !rl.keep_alive && rl.bodylen == 11);

	UNIT_CASE("httpresp: 100 Continue is skipped; 202 has no body");
	UNIT_CHECK(resp_run("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 "
	    "Accepted\r\nContent-Length: 0\r\n\r\n", 3, &rl, 0) > 0);
	UNIT_CHECK(rl.status == 202 && rl.done == 1);

	UNIT_CASE("httpresp: bytes after the response are left alone");
	{
		const char *two = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200";

		UNIT_CHECK(resp_run(two, 1000, &rl, 0) ==
		    (ssize_t)strlen("HTTP/1.1 204 No Content\r\n\r\n"));
		UNIT_CHECK(rl.done == 1 && rl.status == 204);
	}

	UNIT_CASE("httpresp: refused");
	UNIT_CHECK(resp_run("HTTP/1.1 2000 OK\r\n\r\n", 100, &rl, 0) == -1);
	/* found by fuzz_httpresp */
	UNIT_CHECK(resp_run("HTTP/1.1 000 OK\r\n\r\n", 100, &rl, 0) == -1);
	UNIT_CHECK(resp_run("HTTP/1.1 099 OK\r\n\r\n", 100, &rl, 0) == -1);
	UNIT_CHECK(resp_run("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab", 100, &rl, 0) == -1);
	UNIT_CHECK(resp_run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	    "\r\n\r\nzz\r\n", 100, &rl, 0) == -1);
	UNIT_CHECK(resp_run("HTTP/1.1 101 Switching\r\n\r\n", 100, &rl,
	    0) == -1);
	UNIT_CHECK(resp_run("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
	    "abc", 100, &rl, 1) == -1);
	rl.stop_head = 1;
	{
		struct httpresp *p = httpresp_new(&rcbs, &rl);
		const char *s = "HTTP/1.1 200 OK\r\n\r\n";

		rl.stop_head = 1;
		UNIT_CHECK(httpresp_feed(p, s, strlen(s), err, sizeof(err)) ==
		    -1);
		httpresp_free(&p);
	}

	UNIT_CASE("httpresp: a head larger than the limit is refused");
	{
		size_t n = HTTPRESP_MAX_HEAD + 100, i;
		char *h = malloc(n + 64);

		strcpy(h, "HTTP/1.1 200 OK\r\n");
		for (i = strlen(h); i < n; i += 12)
			memcpy(h + i, "X-Pad: abc\r\n", 12);
		h[i] = '\0';
		UNIT_CHECK(resp_run(h, 4096, &rl, 0) == -1);
		free(h);
	}

	UNIT_CASE("httpresp: more than the allowed number of headers");
	{
		char *h = malloc(8192);
		int i;

		strcpy(h, "HTTP/1.1 200 OK\r\n");
		for (i = 0; i < HTTPRESP_MAX_HEADERS + 5; i++)
			sprintf(h + strlen(h), "X-H%d: v\r\n", i);
		strcat(h, "\r\n");
		UNIT_CHECK(resp_run(h, 8192, &rl, 0) == -1);
		free(h);
	}
	return unit_done();
}
