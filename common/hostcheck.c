/*
 * hostcheck.c: may a request name this Host, or come from this Origin?
 * The DNS-rebinding defence of the MCP transport specification: a page
 * of evil.example whose name was made to resolve to our address still
 * sends "Host: evil.example" and "Origin: http://evil.example".
 *
 * Matching (the supervisor and the worker use this one function):
 *   - names are compared without case and without a trailing dot; a
 *     port in the value or in an allowed_hosts entry is ignored;
 *   - loopback is always allowed: "localhost", any name under
 *     ".localhost", 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104;
 *   - an allowed_hosts entry "*" allows every host; ".example.com" or
 *     "*.example.com" allows example.com and every name under it; any
 *     other entry (a name, an address, or a URL whose host is taken)
 *     allows exactly that host;
 *   - a Host that is an IP address literal is allowed: rebinding needs
 *     a name. An Origin must be loopback or listed whatever its form;
 *     "null" and an Origin without "scheme://" never pass;
 *   - a value with characters no host name or address has is refused.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define HOST_MAX 256

/*
 * The host of "host[:port]" (or of "scheme://host[:port][/...]" when
 * url), lowercase, without brackets or a trailing dot, into out.
 * Returns 0, or -1 when there is none or it has a character a host
 * cannot have.
 */
static int
host_extract(const char *in, size_t len, int url, char *out, size_t outlen)
{
	const char *s = in, *e = in + len, *p, *c1;
	size_t n, i;

	if (url) {
		for (p = in; p + 3 <= e; p++)
			if (p[0] == ':' && p[1] == '/' && p[2] == '/')
				break;
		if (p + 3 > e || p == in)
			return -1;
		s = p + 3;
		for (p = s; p < e && *p != '/' && *p != '?' && *p != '#'; p++)
			;
		e = p;
		/* userinfo@ has no place in an Origin. */
		if (memchr(s, '@', (size_t)(e - s)) != NULL)
			return -1;
	}
	if (s < e && *s == '[') {
		s++;
		if ((p = memchr(s, ']', (size_t)(e - s))) == NULL)
			return -1;
		if (p + 1 < e && p[1] != ':')
			return -1;
		e = p;
	} else if ((c1 = memchr(s, ':', (size_t)(e - s))) != NULL &&
	    memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) == NULL) {
		/* One ':' is a port; more is a bare IPv6 address. */
		for (p = c1 + 1; p < e; p++)
			if (!isdigit((unsigned char)*p))
				return -1;
		e = c1;
	}
	n = (size_t)(e - s);
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_' &&
		    ch != ':')
			return -1;
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return 0;
}

static int
host_is_ip(const char *h, int *loopback_r)
{
	unsigned char a[16];

	*loopback_r = 0;
	if (inet_pton(AF_INET, h, a) == 1) {
		*loopback_r = a[0] == 127;
		return 1;
	}
	if (inet_pton(AF_INET6, h, a) == 1) {
		static const unsigned char lo[16] = { [15] = 1 };
		static const unsigned char mapped[12] = { [10] = 0xff,
		    [11] = 0xff };

		*loopback_r = memcmp(a, lo, 16) == 0 ||
		    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
		return 1;
	}
	return 0;
}

static int
host_is_loopback_name(const char *h)
{
	size_t n = strlen(h);

	return strcmp(h, "localhost") == 0 || (n > 10 &&
	    strcmp(h + n - 10, ".localhost") == 0);
}

/* Does one allowed_hosts entry [p, q) allow host? */
static int
host_entry_match(const char *p, size_t len, const char *host)
{
	char entry[HOST_MAX];
	size_t hl, el;
	int sub = 0;

	if (len == 1 && *p == '*')
		return 1;
	if (len >= 2 && p[0] == '*' && p[1] == '.') {
		p += 2;
		len -= 2;
		sub = 1;
	} else if (len >= 1 && p[0] == '.') {
		p++;
		len--;
		sub = 1;
	}
	if (host_extract(p, len, memmem(p, len, "://", 3) != NULL, entry,
	    sizeof(entry)) == -1)
		return 0;
	if (strcmp(entry, host) == 0)
		return 1;
	if (!sub)
		return 0;
	hl = strlen(host);
	el = strlen(entry);
	return hl > el + 1 && host[hl - el - 1] == '.' &&
	    strcmp(host + hl - el, entry) == 0;
}

int
host_allowed(const char *allowed, const char *value, enum host_kind kind)
{
	char host[HOST_MAX];
	const char *p, *q;
	int loopback;

	if (host_extract(value, strlen(value), kind == HOST_ORIGIN, host,
	    sizeof(host)) == -1)
		return 0;
	if (host_is_ip(host, &loopback)) {
		if (loopback || kind == HOST_HEADER)
			return 1;
	} else if (host_is_loopback_name(host))
		return 1;
	for (p = allowed != NULL ? allowed : ""; *p != '\0'; p = q) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		for (q = p; *q != '\0' && *q != ','; q++)
			;
		if (q == p)
			break;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if (host_entry_match(p, (size_t)(q - p), host))
			return 1;
		while (*q == ' ' || *q == '\t')
			q++;
	}
	return 0;
}
