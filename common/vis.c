/*
 * vis.c: text from an untrusted source made safe to show, as vis(3)
 * does: what a tenant or its worker wrote (a tool or server name, an
 * audit detail, an error, a log line) reaches a terminal or a log
 * stream with every control character and every byte that is not
 * valid UTF-8 written out as \xNN, so no escape sequence acts on the
 * admin's terminal and no line break starts a forged line.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Length of the valid UTF-8 sequence at s (1 to 4) that is not a
 * control character, or 0. */
static size_t
vis_char_len(const unsigned char *s, size_t left)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;	/* C0, DEL, a continuation, an overlong lead */
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (left < n)
		return 0;
	cp = s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;	/* overlong, out of range, a surrogate */
	/* C1 controls (0x9b is a CSI on some terminals), and the
	 * direction overrides and line separators that reorder or break
	 * what a reader sees. */
	if (cp <= 0x9f || (cp >= 0x200e && cp <= 0x200f) ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return n;
}

size_t
vis_needed(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, out = 0, n;

	while (i < len) {
		if (p[i] == '\\') {
			out += 2;
			i++;
		} else if ((n = vis_char_len(p + i, len - i)) > 0) {
			out += n;
			i += n;
		} else {
			out += 4;
			i++;
		}
	}
	return out;
}

char *
vis_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n;
	char *out;

	if ((out = malloc(vis_needed(s, len) + 1)) == NULL)
		return NULL;
	while (i < len) {
		if (p[i] == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
		} else if ((n = vis_char_len(p + i, len - i)) > 0) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 0xf];
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

int
vis_is_clean(const char *s, size_t len)
{
	return vis_needed(s, len) == len;
}

static json_t *
vis_json_at(const json_t *v, int depth, int depth_max)
{
	json_t *out, *e;
	const char *k;
	char *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (vis_is_clean(json_string_value(v), json_string_length(v)))
			return json_incref((json_t *)v);
		if ((x = vis_escape(json_string_value(v),
		    json_string_length(v))) == NULL)
			return NULL;
		out = json_string(x);
		free(x);
		return out;
	case JSON_ARRAY:
		if (depth > depth_max)
			return json_string("(nested too deep)");
		if ((out = json_array()) == NULL)
			return NULL;
		json_array_foreach(v, i, e)
			if (json_array_append_new(out, vis_json_at(e,
			    depth + 1, depth_max)) == -1) {
				json_decref(out);
				return NULL;
			}
		return out;
	case JSON_OBJECT:
		if (depth > depth_max)
			return json_string("(nested too deep)");
		if ((out = json_object()) == NULL)
			return NULL;
		json_object_foreach((json_t *)v, k, e) {
			x = vis_escape(k, strlen(k));
			if (x == NULL || json_object_set_new(out, x,
			    vis_json_at(e, depth + 1, depth_max)) == -1) {
				free(x);
				json_decref(out);
				return NULL;
			}
			free(x);
		}
		return out;
	default:
		return json_incref((json_t *)v);
	}
}

json_t *
vis_json(const json_t *v, int depth_max)
{
	return vis_json_at(v, 0, depth_max);
}
