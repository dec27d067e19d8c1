/*
 * httpresp.c: HTTP/1.1 responses from an upstream, parsed with
 * http-parser (status line, headers, Content-Length, chunked and
 * read-until-close bodies), with our own limits on top: the head is at
 * most HTTPRESP_MAX_HEAD bytes and HTTPRESP_MAX_HEADERS headers, header
 * names are lowercased, values that are not UTF-8 are kept with their
 * odd bytes replaced, and 1xx interim responses are skipped.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "common.h"
#include "remote.h"

struct httpresp {
	http_parser p_parser;
	http_parser_settings p_settings;
	const struct httpresp_cbs *p_cbs;
	void *p_arg;
	json_t *p_headers;
	char p_field[HTTPRESP_MAX_HEAD + 1];	/* the header being read */
	size_t p_fieldlen;
	char *p_value;
	size_t p_valuelen;
	int p_in_value;		/* the last callback was a value piece */
	size_t p_headbytes;
	int p_interim;		/* a 1xx: no on_head, no on_done */
	int p_head_done;	/* on_headers_complete was reached */
	size_t p_rawhead;	/* bytes fed while the head was open */
	int p_started;		/* bytes of this response seen */
	int p_done;		/* on_done was called: pause */
	int p_stopped;		/* a callback returned -1 */
	char p_err[128];
};

json_t *
json_string_lossy(const char *s, size_t len)
{
	json_t *v;
	char *copy;
	size_t i;

	if ((v = json_stringn(s, len)) != NULL)
		return v;
	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		copy[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	v = json_stringn(copy, len);
	free(copy);
	return v;
}

static int
httpresp_commit(struct httpresp *p)
{
	json_t *v;
	size_t i, len = p->p_valuelen;
	const char *val = p->p_value != NULL ? p->p_value : "";

	if (p->p_fieldlen == 0)
		return 0;
	if (json_object_size(p->p_headers) >= HTTPRESP_MAX_HEADERS) {
		snprintf(p->p_err, sizeof(p->p_err), "more than %d headers",
		    HTTPRESP_MAX_HEADERS);
		return -1;
	}
	for (i = 0; i < p->p_fieldlen; i++)
		p->p_field[i] = (char)tolower((unsigned char)p->p_field[i]);
	p->p_field[p->p_fieldlen] = '\0';
	/* Optional whitespace around the value is not part of it. */
	while (len > 0 && (val[len - 1] == ' ' || val[len - 1] == '\t'))
		len--;
	while (len > 0 && (val[0] == ' ' || val[0] == '\t')) {
		val++;
		len--;
	}
	if (strlen(p->p_field) != p->p_fieldlen ||
	    (v = json_string_lossy(val, len)) == NULL) {
		snprintf(p->p_err, sizeof(p->p_err), "malformed header");
		return -1;
	}
	if (json_object_set_new(p->p_headers, p->p_field, v) == -1) {
		snprintf(p->p_err, sizeof(p->p_err), "out of memory");
		return -1;
	}
	p->p_fieldlen = 0;
	p->p_valuelen = 0;
	return 0;
}

static int
httpresp_count(struct httpresp *p, size_t len)
{
	p->p_started = 1;
	p->p_headbytes += len;
	if (p->p_headbytes > HTTPRESP_MAX_HEAD) {
		snprintf(p->p_err, sizeof(p->p_err), "response head larger "
		    "than %d bytes", HTTPRESP_MAX_HEAD);
		return -1;
	}
	return 0;
}

static int
httpresp_on_begin(http_parser *hp)
{
	struct httpresp *p = hp->data;

	p->p_started = 1;
	return 0;
}

static int
httpresp_on_status(http_parser *hp, const char *at, size_t len)
{
	return httpresp_count(hp->data, len);
}

static int
httpresp_on_field(http_parser *hp, const char *at, size_t len)
{
	struct httpresp *p = hp->data;

	if (httpresp_count(p, len) == -1)
		return -1;
	if (p->p_in_value) {
		if (httpresp_commit(p) == -1)
			return -1;
		p->p_in_value = 0;
	}
	/* httpresp_count bounds the total, so this fits. */
	memcpy(p->p_field + p->p_fieldlen, at, len);
	p->p_fieldlen += len;
	return 0;
}

static int
httpresp_on_value(http_parser *hp, const char *at, size_t len)
{
	struct httpresp *p = hp->data;
	char *nv;

	if (httpresp_count(p, len) == -1)
		return -1;
	p->p_in_value = 1;
	if ((nv = realloc(p->p_value, p->p_valuelen + len + 1)) == NULL) {
		snprintf(p->p_err, sizeof(p->p_err), "out of memory");
		return -1;
	}
	p->p_value = nv;
	memcpy(p->p_value + p->p_valuelen, at, len);
	p->p_valuelen += len;
	return 0;
}

static int
httpresp_on_headers_complete(http_parser *hp)
{
	struct httpresp *p = hp->data;
	int status = hp->status_code;

	if (p->p_in_value && httpresp_commit(p) == -1)
		return -1;
	p->p_in_value = 0;
	p->p_head_done = 1;
	if (status < 100) {
		snprintf(p->p_err, sizeof(p->p_err), "malformed status %d",
		    status);
		return -1;
	}
	if (status >= 100 && status < 200) {
		/* 100 Continue and friends: the real answer follows. A 101
		 * switch is nothing we asked for. */
		if (status == 101) {
			snprintf(p->p_err, sizeof(p->p_err), "unexpected 101 "
			    "Switching Protocols");
			return -1;
		}
		p->p_interim = 1;
		return 0;
	}
	if (p->p_cbs->on_head(status, p->p_headers, p->p_arg) == -1) {
		p->p_stopped = 1;
		snprintf(p->p_err, sizeof(p->p_err), "stopped");
		return -1;
	}
	return 0;
}

static int
httpresp_on_body(http_parser *hp, const char *at, size_t len)
{
	struct httpresp *p = hp->data;

	if (p->p_interim)
		return 0;
	if (p->p_cbs->on_body(at, len, p->p_arg) == -1) {
		p->p_stopped = 1;
		snprintf(p->p_err, sizeof(p->p_err), "stopped");
		return -1;
	}
	return 0;
}

static int
httpresp_on_complete(http_parser *hp)
{
	struct httpresp *p = hp->data;

	if (p->p_interim) {
		/* Back to a fresh head, same parser state otherwise. */
		json_object_clear(p->p_headers);
		p->p_interim = 0;
		p->p_headbytes = 0;
		p->p_head_done = 0;
		p->p_rawhead = 0;
		return 0;
	}
	p->p_done = 1;
	p->p_cbs->on_done(http_should_keep_alive(hp), p->p_arg);
	http_parser_pause(hp, 1);
	return 0;
}

struct httpresp *
httpresp_new(const struct httpresp_cbs *cbs, void *arg)
{
	struct httpresp *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->p_headers = json_object()) == NULL) {
		free(p);
		return NULL;
	}
	p->p_cbs = cbs;
	p->p_arg = arg;
	http_parser_settings_init(&p->p_settings);
	p->p_settings.on_message_begin = httpresp_on_begin;
	p->p_settings.on_status = httpresp_on_status;
	p->p_settings.on_header_field = httpresp_on_field;
	p->p_settings.on_header_value = httpresp_on_value;
	p->p_settings.on_headers_complete = httpresp_on_headers_complete;
	p->p_settings.on_body = httpresp_on_body;
	p->p_settings.on_message_complete = httpresp_on_complete;
	httpresp_reset(p);
	return p;
}

void
httpresp_reset(struct httpresp *p)
{
	http_parser_init(&p->p_parser, HTTP_RESPONSE);
	p->p_parser.data = p;
	json_object_clear(p->p_headers);
	free(p->p_value);
	p->p_value = NULL;
	p->p_valuelen = p->p_fieldlen = p->p_headbytes = 0;
	p->p_in_value = p->p_interim = p->p_started = p->p_done = 0;
	p->p_head_done = 0;
	p->p_rawhead = 0;
	p->p_stopped = 0;
	p->p_err[0] = '\0';
}

void
httpresp_free(struct httpresp **pp)
{
	struct httpresp *p = *pp;

	if (p == NULL)
		return;
	json_decref(p->p_headers);
	free(p->p_value);
	free(p);
	*pp = NULL;
}

int
httpresp_started(const struct httpresp *p)
{
	return p->p_started && !p->p_done;
}

ssize_t
httpresp_feed(struct httpresp *p, const char *data, size_t len, char *err,
    size_t errlen)
{
	size_t n;
	enum http_errno e;

	if (p->p_done)
		return 0;
	n = http_parser_execute(&p->p_parser, &p->p_settings, data, len);
	e = HTTP_PARSER_ERRNO(&p->p_parser);
	if (p->p_done)
		return (ssize_t)n;
	/* The whole head, line ends and all, within the limit (the
	 * callbacks only see names and values). */
	if (!p->p_head_done && e == HPE_OK) {
		p->p_rawhead += n;
		if (p->p_rawhead > HTTPRESP_MAX_HEAD) {
			snprintf(err, errlen, "response head larger than %d "
			    "bytes", HTTPRESP_MAX_HEAD);
			return -1;
		}
	}
	if (e != HPE_OK) {
		snprintf(err, errlen, "%s", p->p_err[0] != '\0' ? p->p_err :
		    http_errno_description(e));
		return -1;
	}
	return (ssize_t)n;
}

int
httpresp_eof(struct httpresp *p, char *err, size_t errlen)
{
	enum http_errno e;

	if (p->p_done || !p->p_started)
		return 0;
	(void)http_parser_execute(&p->p_parser, &p->p_settings, NULL, 0);
	e = HTTP_PARSER_ERRNO(&p->p_parser);
	if (p->p_done)
		return 0;
	snprintf(err, errlen, "connection closed in the middle of a "
	    "response%s%s", e != HPE_OK ? ": " : "",
	    e != HPE_OK ? (p->p_err[0] != '\0' ? p->p_err :
	    http_errno_description(e)) : "");
	return -1;
}
