/*
 * url.c: the URL of a remote MCP server, and header names and values an
 * operator configures for it.
 *
 * Only what an upstream needs: http or https, a host (a name, an IPv4
 * address, or an IPv6 address in brackets), an optional port, and the
 * path and query sent as the request target. Userinfo ("user:pw@") is
 * refused rather than silently sent somewhere: credentials belong in
 * headers, which can refer to secrets.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remote.h"

static int
url_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

int
url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	const char *p, *auth, *auth_end, *host, *host_end, *port = NULL;
	size_t len = strlen(s), i, hlen;
	unsigned long pn;
	char *end;

	memset(u, 0, sizeof(*u));
	if (len == 0 || len > URL_MAX) {
		snprintf(err, errlen, "url must be 1 to %d bytes", URL_MAX);
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!url_char_ok((unsigned char)s[i])) {
			snprintf(err, errlen, "url has a space or a control "
			    "or non-ASCII byte");
			return -1;
		}
	if (strncasecmp(s, "http://", 7) == 0) {
		auth = s + 7;
		u->u_port = 80;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		auth = s + 8;
		u->u_tls = 1;
		u->u_port = 443;
	} else {
		snprintf(err, errlen, "url must start with http:// or "
		    "https://");
		return -1;
	}
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL) {
		snprintf(err, errlen, "url must not carry a user or password "
		    "(use a header)");
		return -1;
	}
	if (strchr(s, '#') != NULL) {
		snprintf(err, errlen, "url must not have a fragment");
		return -1;
	}
	host = auth;
	if (*host == '[') {
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (host_end == NULL) {
			snprintf(err, errlen, "url has an unclosed [");
			return -1;
		}
		host++;
		u->u_host_ip6 = 1;
		p = host_end + 1;
		if (p < auth_end && *p != ':') {
			snprintf(err, errlen, "url has junk after ]");
			return -1;
		}
		if (p < auth_end)
			port = p + 1;
		for (p = host; p < host_end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.') {
				snprintf(err, errlen, "url has a malformed "
				    "IPv6 address");
				return -1;
			}
	} else {
		host_end = memchr(host, ':', (size_t)(auth_end - host));
		if (host_end != NULL)
			port = host_end + 1;
		else
			host_end = auth_end;
		for (p = host; p < host_end; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '.' && *p != '_') {
				snprintf(err, errlen, "url host has a byte "
				    "not allowed in a host name");
				return -1;
			}
	}
	hlen = (size_t)(host_end - host);
	if (hlen == 0 || hlen > URL_HOST_MAX) {
		snprintf(err, errlen, "url must name a host (at most %d "
		    "bytes)", URL_HOST_MAX);
		return -1;
	}
	memcpy(u->u_host, host, hlen);
	u->u_host[hlen] = '\0';
	if (port != NULL) {
		if (port == auth_end || !isdigit((unsigned char)*port) ||
		    auth_end - port > 5) {
			snprintf(err, errlen, "url has a malformed port");
			return -1;
		}
		pn = strtoul(port, &end, 10);
		if (end != auth_end || pn == 0 || pn > 65535) {
			snprintf(err, errlen, "url port must be 1-65535");
			return -1;
		}
		u->u_port = (uint16_t)pn;
	}
	if (*auth_end == '\0')
		snprintf(u->u_target, sizeof(u->u_target), "/");
	else if (*auth_end == '?')
		snprintf(u->u_target, sizeof(u->u_target), "/%s", auth_end);
	else
		snprintf(u->u_target, sizeof(u->u_target), "%s", auth_end);
	return 0;
}

void
url_hostport(const struct url *u, char *out, size_t outlen)
{
	const char *l = u->u_host_ip6 ? "[" : "", *r = u->u_host_ip6 ? "]" :
	    "";

	if (u->u_port == (u->u_tls ? 443 : 80))
		snprintf(out, outlen, "%s%s%s", l, u->u_host, r);
	else
		snprintf(out, outlen, "%s%s%s:%u", l, u->u_host, r,
		    (unsigned)u->u_port);
}

int
url_resolve_same_origin(const struct url *base, const char *ref,
    struct url *out, char *err, size_t errlen)
{
	char buf[URL_MAX + 1], hp[URL_HOST_MAX + 16];
	const char *slash;
	size_t i, dirlen;

	if (strncasecmp(ref, "http://", 7) == 0 ||
	    strncasecmp(ref, "https://", 8) == 0) {
		if (url_parse(ref, out, err, errlen) == -1)
			return -1;
		if (out->u_tls != base->u_tls || out->u_port != base->u_port ||
		    strcasecmp(out->u_host, base->u_host) != 0) {
			snprintf(err, errlen, "endpoint is on another origin");
			return -1;
		}
		return 0;
	}
	if (ref[0] == '\0' || strlen(ref) > URL_MAX || (ref[0] == '/' &&
	    ref[1] == '/')) {
		snprintf(err, errlen, "endpoint is empty, too long or "
		    "scheme-relative");
		return -1;
	}
	for (i = 0; ref[i] != '\0'; i++)
		if (!url_char_ok((unsigned char)ref[i]) || ref[i] == '#') {
			snprintf(err, errlen, "endpoint has a byte not "
			    "allowed in a URL");
			return -1;
		}
	url_hostport(base, hp, sizeof(hp));
	if (ref[0] == '/') {
		if (snprintf(buf, sizeof(buf), "%s://%s%s", base->u_tls ?
		    "https" : "http", hp, ref) >= (int)sizeof(buf))
			goto toolong;
	} else {
		/* Relative to the directory of the base path (its query
		 * left out). */
		dirlen = strcspn(base->u_target, "?");
		for (slash = NULL, i = 0; i < dirlen; i++)
			if (base->u_target[i] == '/')
				slash = base->u_target + i;
		dirlen = slash != NULL ? (size_t)(slash - base->u_target) + 1 :
		    1;
		if (snprintf(buf, sizeof(buf), "%s://%s%.*s%s", base->u_tls ?
		    "https" : "http", hp, (int)dirlen, slash != NULL ?
		    base->u_target : "/", ref) >= (int)sizeof(buf))
			goto toolong;
	}
	return url_parse(buf, out, err, errlen);
toolong:
	snprintf(err, errlen, "endpoint url too long");
	return -1;
}

int
http_header_name_valid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 128)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
			return 0;
	return 1;
}

int
http_header_value_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) > 8192)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] == '\r' || s[i] == '\n' ||
		    ((unsigned char)s[i] < 0x20 && s[i] != '\t') ||
		    s[i] == 0x7f)
			return 0;
	return 1;
}
