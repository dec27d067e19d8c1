/*
 * remote.h: the pure parts of talking to a remote MCP server, each a
 * parser of untrusted bytes with its own unit tests and fuzz target:
 *
 *   url.c       an upstream's URL (http/https, no userinfo), and the
 *               legacy SSE transport's `endpoint` resolved against it
 *   httpresp.c  an HTTP/1.1 response: status line, headers, body in
 *               Content-Length, chunked or until-close framing
 *               (http-parser underneath, with our own limits)
 *   sse.c       a text/event-stream: events with their type, data, id
 */
#ifndef DATAAGENT_REMOTE_H
#define DATAAGENT_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---------------------------------------------------------------- url */

#define URL_MAX 2048
#define URL_HOST_MAX 255

struct url {
	int u_tls;			/* https */
	char u_host[URL_HOST_MAX + 1];	/* without brackets for IPv6 */
	int u_host_ip6;			/* was [..] in the URL */
	uint16_t u_port;		/* explicit or 80/443 */
	char u_target[URL_MAX + 1];	/* path and query, "/" at least */
};

/*
 * Parses an absolute http:// or https:// URL. Refuses userinfo, a
 * fragment, an empty host, bytes outside printable ASCII, and anything
 * longer than URL_MAX. Returns 0, or -1 with err.
 */
int url_parse(const char *s, struct url *u, char *err, size_t errlen);
/*
 * Resolves ref (an SSE `endpoint`: absolute, or absolute-path, or
 * relative to base's path) into out. It must stay on base's origin
 * (scheme, host and port). Returns 0, or -1 with err.
 */
int url_resolve_same_origin(const struct url *base, const char *ref,
    struct url *out, char *err, size_t errlen);
/* The Host header value: host[:port] (port only when not the default). */
void url_hostport(const struct url *u, char *out, size_t outlen);

/* 1 when s is a valid header name (an RFC 9110 token, <= 128 bytes). */
int http_header_name_valid(const char *s);
/* 1 when s is a valid header value: no CR, LF or NUL, <= 8192 bytes. */
int http_header_value_valid(const char *s);

/* ----------------------------------------------------------- httpresp */

#define HTTPRESP_MAX_HEAD (64 * 1024)
#define HTTPRESP_MAX_HEADERS 100

struct httpresp;

struct httpresp_cbs {
	/* The head is complete: status and headers (lowercase names; a
	 * repeated header keeps its last value). Return -1 to stop. */
	int (*on_head)(int status, const json_t *headers, void *arg);
	/* Decoded body bytes. Return -1 to stop. */
	int (*on_body)(const char *data, size_t len, void *arg);
	/* The message is complete; keep_alive says whether the connection
	 * may carry another request. */
	void (*on_done)(int keep_alive, void *arg);
};

/* A parser for one connection's responses, one after the other (no
 * HEAD requests: every response may have a body). */
struct httpresp *httpresp_new(const struct httpresp_cbs *cbs, void *arg);
void httpresp_free(struct httpresp **p);
/* Starts on the next response (after on_done). */
void httpresp_reset(struct httpresp *p);
/*
 * Feeds bytes. Returns how many were consumed (on_done may have been
 * called before the end: the rest belongs to nothing, a server that
 * sends more than it was asked is broken), or -1 with err on a parse
 * error or a callback that stopped.
 */
ssize_t httpresp_feed(struct httpresp *p, const char *data, size_t len,
    char *err, size_t errlen);
/* The peer closed: completes a body read until close. Returns 0, or -1
 * with err when a response was cut short. */
int httpresp_eof(struct httpresp *p, char *err, size_t errlen);
/* 1 when some bytes of a response were received and it is not done. */
int httpresp_started(const struct httpresp *p);

/* ---------------------------------------------------------------- sse */

#define SSE_MAX_EVENT (16u * 1024 * 1024)

struct sse;

/* One event: type ("message" when none was given), data (lines joined
 * by \n), id (or NULL). Return -1 to stop the parser. */
typedef int (*sse_event_cb)(const char *type, const char *data,
    size_t datalen, const char *id, void *arg);

struct sse *sse_new(sse_event_cb cb, void *arg);
void sse_free(struct sse **s);
/* Feeds bytes of the stream. Returns 0, or -1 with err when an event or
 * line is larger than SSE_MAX_EVENT, or the callback stopped. */
int sse_feed(struct sse *s, const char *data, size_t len, char *err,
    size_t errlen);
/* The last id seen ("" when none), for Last-Event-ID. */
const char *sse_last_id(const struct sse *s);

#endif
