/*
 * sse.c: a text/event-stream parser (the HTML Living Standard's "event
 * stream interpretation"), fed bytes as they arrive.
 *
 * Lines end in CRLF, LF or CR, in any mix, split across feeds anywhere;
 * a leading BOM is dropped; a line starting with ':' is a comment;
 * "event", "data", "id" and "retry" are the fields (others are ignored);
 * a blank line dispatches the event when it has data. A line or an
 * event larger than SSE_MAX_EVENT stops the stream: an upstream cannot
 * make the worker buffer without bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

#define SSE_TYPE_MAX 128
#define SSE_ID_MAX 1024

struct sse {
	sse_event_cb s_cb;
	void *s_arg;
	char *s_line;		/* the line so far */
	size_t s_linelen, s_linecap;
	char *s_data;		/* the event's data so far */
	size_t s_datalen, s_datacap;
	int s_has_data;
	char s_type[SSE_TYPE_MAX + 1];
	char s_id[SSE_ID_MAX + 1];	/* the event's id (persists) */
	int s_started;		/* past the BOM check */
	int s_bom;		/* bytes of a BOM matched so far */
	int s_after_cr;		/* the last byte was a CR */
};

struct sse *
sse_new(sse_event_cb cb, void *arg)
{
	struct sse *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->s_cb = cb;
	s->s_arg = arg;
	return s;
}

void
sse_free(struct sse **sp)
{
	struct sse *s = *sp;

	if (s == NULL)
		return;
	free(s->s_line);
	free(s->s_data);
	free(s);
	*sp = NULL;
}

const char *
sse_last_id(const struct sse *s)
{
	return s->s_id;
}

/* Makes room for n more bytes (and a NUL) in *buf. */
static int
sse_grow(char **buf, size_t *cap, size_t len, size_t n)
{
	size_t want = len + n + 1, ncap;
	char *p;

	if (want > SSE_MAX_EVENT + 1)
		return -1;
	if (want <= *cap)
		return 0;
	ncap = *cap < 256 ? 256 : *cap;
	while (ncap < want)
		ncap *= 2;
	if (ncap > SSE_MAX_EVENT + 1)
		ncap = SSE_MAX_EVENT + 1;
	if ((p = realloc(*buf, ncap)) == NULL)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

static int
sse_dispatch(struct sse *s)
{
	int rc = 0;

	if (s->s_has_data) {
		/* The data buffer ends in the last line's \n: drop it. */
		if (s->s_datalen > 0)
			s->s_datalen--;
		s->s_data[s->s_datalen] = '\0';
		rc = s->s_cb(s->s_type[0] != '\0' ? s->s_type : "message",
		    s->s_data, s->s_datalen, s->s_id[0] != '\0' ? s->s_id :
		    NULL, s->s_arg);
	}
	s->s_datalen = 0;
	s->s_has_data = 0;
	s->s_type[0] = '\0';
	return rc;
}

/* One complete line (without its end). Returns 0, -1 when the callback
 * stopped, -2 when the event grew too large. */
static int
sse_line(struct sse *s, char *line, size_t len)
{
	char *colon, *value;
	size_t flen, vlen;

	if (len == 0)
		return sse_dispatch(s);
	if (line[0] == ':')
		return 0;
	if ((colon = memchr(line, ':', len)) != NULL) {
		flen = (size_t)(colon - line);
		value = colon + 1;
		vlen = len - flen - 1;
		if (vlen > 0 && value[0] == ' ') {
			value++;
			vlen--;
		}
	} else {
		flen = len;
		value = line + len;
		vlen = 0;
	}
	if (flen == 4 && memcmp(line, "data", 4) == 0) {
		if (sse_grow(&s->s_data, &s->s_datacap, s->s_datalen,
		    vlen + 1) == -1)
			return -2;
		memcpy(s->s_data + s->s_datalen, value, vlen);
		s->s_datalen += vlen;
		s->s_data[s->s_datalen++] = '\n';
		s->s_has_data = 1;
	} else if (flen == 5 && memcmp(line, "event", 5) == 0) {
		if (vlen > SSE_TYPE_MAX || memchr(value, '\0', vlen) != NULL)
			vlen = 0;	/* not a type we could name */
		memcpy(s->s_type, value, vlen);
		s->s_type[vlen] = '\0';
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		/* An id with a NUL is ignored (the standard says so). */
		if (vlen <= SSE_ID_MAX && memchr(value, '\0', vlen) == NULL) {
			memcpy(s->s_id, value, vlen);
			s->s_id[vlen] = '\0';
		}
	}
	/* retry and unknown fields: nothing to do for us. */
	return 0;
}

int
sse_feed(struct sse *s, const char *data, size_t len, char *err,
    size_t errlen)
{
	static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };
	size_t i = 0, start;
	const char *eol;
	int rc;

	/* A BOM, possibly split across feeds, only at the very start. */
	while (!s->s_started && i < len) {
		if ((unsigned char)data[i] == bom[s->s_bom]) {
			i++;
			if (++s->s_bom == 3)
				s->s_started = 1;
			continue;
		}
		/* Not a BOM after all: what matched so far is text. A
		 * partial BOM is not valid UTF-8 text either; keep it. */
		if (s->s_bom > 0) {
			if (sse_grow(&s->s_line, &s->s_linecap,
			    s->s_linelen, (size_t)s->s_bom) == -1)
				goto too_big;
			memcpy(s->s_line + s->s_linelen, bom, (size_t)s->s_bom);
			s->s_linelen += (size_t)s->s_bom;
		}
		s->s_started = 1;
	}
	while (i < len) {
		if (s->s_after_cr) {
			s->s_after_cr = 0;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		start = i;
		eol = NULL;
		for (; i < len; i++)
			if (data[i] == '\n' || data[i] == '\r') {
				eol = data + i;
				break;
			}
		if (sse_grow(&s->s_line, &s->s_linecap, s->s_linelen,
		    i - start) == -1)
			goto too_big;
		memcpy(s->s_line + s->s_linelen, data + start, i - start);
		s->s_linelen += i - start;
		if (eol == NULL)
			break;
		if (*eol == '\r')
			s->s_after_cr = 1;
		i++;
		s->s_line[s->s_linelen] = '\0';
		rc = sse_line(s, s->s_line, s->s_linelen);
		s->s_linelen = 0;
		if (rc == -2)
			goto too_big;
		if (rc == -1) {
			snprintf(err, errlen, "event stream stopped");
			return -1;
		}
	}
	return 0;
too_big:
	snprintf(err, errlen, "event stream line or event larger than %u "
	    "bytes", SSE_MAX_EVENT);
	return -1;
}
