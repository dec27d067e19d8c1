/*
 * httphead.c: the request head the supervisor peeks at before a handoff.
 *
 * Only the head is parsed (http-parser, run over the bytes up to the
 * first blank line); the body, if any, stays in the socket for the
 * worker. Fields we act on are bounded: a too-long URL is 414, a
 * too-long Authorization, Host or Origin is 431, a repeated one is 400
 * (two credentials on one request are ambiguous, so neither is trusted).
 */
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "common.h"

enum hh_field {
	HF_OTHER = 0,
	HF_AUTHORIZATION,
	HF_HOST,
	HF_ORIGIN,
	HF_REQUEST_ID,
	HF_FORWARDED_FOR,
};

struct hh_parse {
	struct httphead *hp_hh;
	char hp_url[sizeof(((struct httphead *)0)->hh_path)];
	size_t hp_urllen;
	char hp_name[32];
	size_t hp_namelen;
	int hp_in_value;
	enum hh_field hp_field;
	size_t hp_valuelen;
	int hp_seen_host;
	int hp_status;		/* set by a callback that fails */
	int hp_done;
};

static int
hh_on_url(http_parser *p, const char *at, size_t len)
{
	struct hh_parse *hp = p->data;

	if (hp->hp_urllen + len >= sizeof(hp->hp_url)) {
		hp->hp_status = 414;
		return -1;
	}
	memcpy(hp->hp_url + hp->hp_urllen, at, len);
	hp->hp_urllen += len;
	return 0;
}

static int
hh_field_end(struct hh_parse *hp)
{
	if (!hp->hp_in_value)
		return 0;
	hp->hp_in_value = 0;
	hp->hp_namelen = 0;
	return 0;
}

static int
hh_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct hh_parse *hp = p->data;

	hh_field_end(hp);
	/* Names we care about are short; a longer one is just "other". */
	if (hp->hp_namelen + len < sizeof(hp->hp_name)) {
		memcpy(hp->hp_name + hp->hp_namelen, at, len);
		hp->hp_namelen += len;
	} else
		hp->hp_namelen = sizeof(hp->hp_name);
	return 0;
}

static int
hh_append(struct hh_parse *hp, char *dst, size_t cap, const char *at,
    size_t len)
{
	if (hp->hp_valuelen + len >= cap) {
		hp->hp_status = 431;
		return -1;
	}
	memcpy(dst + hp->hp_valuelen, at, len);
	hp->hp_valuelen += len;
	dst[hp->hp_valuelen] = '\0';
	return 0;
}

/* X-Forwarded-For keeps its right-most bytes: the addresses the
 * nearest proxies added are the ones that count. */
static void
hh_xff_append(struct httphead *hh, const char *at, size_t len)
{
	char *b = hh->hh_forwarded_for;
	size_t cap = sizeof(hh->hh_forwarded_for) - 1, cur = strlen(b), drop;

	if (len > cap) {
		at += len - cap;
		len = cap;
	}
	if (cur + len > cap) {
		drop = cur + len - cap;
		memmove(b, b + drop, cur - drop + 1);
		cur -= drop;
	}
	memcpy(b + cur, at, len);
	b[cur + len] = '\0';
}

static int
hh_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct hh_parse *hp = p->data;
	struct httphead *hh = hp->hp_hh;

	if (!hp->hp_in_value) {
		hp->hp_in_value = 1;
		hp->hp_valuelen = 0;
		hp->hp_field = HF_OTHER;
		if (hp->hp_namelen < sizeof(hp->hp_name)) {
			hp->hp_name[hp->hp_namelen] = '\0';
			if (strcasecmp(hp->hp_name, "authorization") == 0)
				hp->hp_field = HF_AUTHORIZATION;
			else if (strcasecmp(hp->hp_name, "host") == 0)
				hp->hp_field = HF_HOST;
			else if (strcasecmp(hp->hp_name, "origin") == 0)
				hp->hp_field = HF_ORIGIN;
			else if (strcasecmp(hp->hp_name, "x-request-id") == 0)
				hp->hp_field = HF_REQUEST_ID;
			else if (strcasecmp(hp->hp_name,
			    "x-forwarded-for") == 0)
				hp->hp_field = HF_FORWARDED_FOR;
		}
		/* Several X-Forwarded-For headers are one list. */
		if (hp->hp_field == HF_FORWARDED_FOR &&
		    hh->hh_has_forwarded_for)
			hh_xff_append(hh, ",", 1);
		if (hp->hp_field == HF_FORWARDED_FOR)
			hh->hh_has_forwarded_for = 1;
		if ((hp->hp_field == HF_AUTHORIZATION &&
		    hh->hh_has_authorization) ||
		    (hp->hp_field == HF_HOST && hp->hp_seen_host) ||
		    (hp->hp_field == HF_ORIGIN && hh->hh_has_origin)) {
			hp->hp_status = 400;
			return -1;
		}
		if (hp->hp_field == HF_AUTHORIZATION)
			hh->hh_has_authorization = 1;
		else if (hp->hp_field == HF_HOST)
			hp->hp_seen_host = hh->hh_has_host = 1;
		else if (hp->hp_field == HF_ORIGIN)
			hh->hh_has_origin = 1;
	}
	switch (hp->hp_field) {
	case HF_AUTHORIZATION:
		return hh_append(hp, hh->hh_authorization,
		    sizeof(hh->hh_authorization), at, len);
	case HF_HOST:
		return hh_append(hp, hh->hh_host, sizeof(hh->hh_host), at,
		    len);
	case HF_ORIGIN:
		return hh_append(hp, hh->hh_origin, sizeof(hh->hh_origin), at,
		    len);
	case HF_REQUEST_ID:
		/* Too long is not an error: the id is replaced (reqid.c). */
		if (hp->hp_valuelen + len >= sizeof(hh->hh_request_id)) {
			hh->hh_request_id[0] = '\0';
			hp->hp_field = HF_OTHER;
			return 0;
		}
		return hh_append(hp, hh->hh_request_id,
		    sizeof(hh->hh_request_id), at, len);
	case HF_FORWARDED_FOR:
		hh_xff_append(hh, at, len);
		return 0;
	case HF_OTHER:
		break;
	}
	return 0;
}

static int
hh_on_headers_complete(http_parser *p)
{
	struct hh_parse *hp = p->data;

	hp->hp_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

/* Finds the end of the head: the first empty line. Returns the length
 * including it, or 0 when it is not there yet. */
static size_t
hh_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

int
httphead_parse(const char *buf, size_t len, struct httphead *hh,
    int *status_r)
{
	http_parser_settings st;
	struct http_parser_url u;
	struct hh_parse hp;
	http_parser p;
	size_t end, n;

	memset(hh, 0, sizeof(*hh));
	memset(&hp, 0, sizeof(hp));
	hp.hp_hh = hh;
	*status_r = 0;
	if ((end = hh_head_end(buf, len)) == 0)
		end = len;	/* parse what is there to fail early */

	http_parser_settings_init(&st);
	st.on_url = hh_on_url;
	st.on_header_field = hh_on_header_field;
	st.on_header_value = hh_on_header_value;
	st.on_headers_complete = hh_on_headers_complete;
	http_parser_init(&p, HTTP_REQUEST);
	p.data = &hp;
	n = http_parser_execute(&p, &st, buf, end);
	if (hp.hp_status != 0) {
		*status_r = hp.hp_status;
		return -1;
	}
	if (!hp.hp_done) {
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK || n != end ||
		    end != len) {
			*status_r = 400;
			return -1;
		}
		return 0;
	}
	hh->hh_method = (int)p.method;
	hh->hh_http_major = p.http_major;
	hh->hh_http_minor = p.http_minor;
	hh->hh_head_len = end;

	/* Path without the query; only origin-form ("/...") is served. */
	if (http_parser_parse_url(hp.hp_url, hp.hp_urllen, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)) ||
	    (u.field_set & ((1 << UF_SCHEMA) | (1 << UF_HOST))) ||
	    hp.hp_url[0] != '/') {
		*status_r = 400;
		return -1;
	}
	memcpy(hh->hh_path, hp.hp_url + u.field_data[UF_PATH].off,
	    u.field_data[UF_PATH].len);
	hh->hh_path[u.field_data[UF_PATH].len] = '\0';
	return 1;
}

const char *
httphead_bearer(const char *value, size_t *len_r)
{
	const char *t, *e;

	if (strncasecmp(value, "Bearer", 6) != 0 ||
	    (value[6] != ' ' && value[6] != '\t'))
		return NULL;
	t = value + 7;
	while (*t == ' ' || *t == '\t')
		t++;
	e = t + strlen(t);
	while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == t)
		return NULL;
	*len_r = (size_t)(e - t);
	return t;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
pct_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (o + 1 >= outlen)
			return -1;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return -1;
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int
httphead_path_tenant(const char *path, char *id, size_t idlen)
{
	static const char prefix[] = "/api/v1/users/";
	const char *s;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return 0;	/* "/api/v1/users" alone is not one either */
	s = path + sizeof(prefix) - 1;
	if (pct_decode(s, strcspn(s, "/"), id, idlen) == -1 ||
	    !name_valid(id))
		return -1;
	return 1;
}
