/*
 * cidr.c: lists of addresses and CIDRs (direct_peers, trusted_proxies,
 * rate_limit_exempt), IPv4 held as
 * IPv4-mapped IPv6 so one comparison serves both families.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"

static int
cidr_parse(const char *s, struct cidr *c)
{
	char buf[64], *slash, *end;
	struct in_addr a4;
	long bits;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(c->ci_addr, 0, sizeof(c->ci_addr));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		c->ci_addr[10] = c->ci_addr[11] = 0xff;
		memcpy(c->ci_addr + 12, &a4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->ci_addr) == 1)
		max = 128;
	else
		return -1;
	bits = max;
	if (slash != NULL) {
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	c->ci_bits = (int)bits + (max == 32 ? 96 : 0);
	return 0;
}

int
cidrs_parse(const char *text, struct cidr *out, int max, char *err,
    size_t errlen)
{
	char buf[CONFIG_STRLEN], *tok, *save = NULL;
	struct cidr c;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (cidr_parse(tok, &c) == -1) {
			snprintf(err, errlen, "\"%.64s\" is not an address or "
			    "CIDR", tok);
			return -1;
		}
		if (out != NULL) {
			if (n == max) {
				snprintf(err, errlen, "more than %d entries",
				    max);
				return -1;
			}
			out[n] = c;
		}
		n++;
	}
	return n;
}

int
cidr_addr16(const struct sockaddr_storage *ss, uint8_t out[16])
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

int
cidrs_has(const struct cidr *list, int n, const uint8_t a[16])
{
	int i, full, rest;

	for (i = 0; i < n; i++) {
		full = list[i].ci_bits / 8;
		rest = list[i].ci_bits % 8;
		if (memcmp(a, list[i].ci_addr, (size_t)full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ list[i].ci_addr[full]) &
		    (0xff << (8 - rest))) == 0)
			return 1;
	}
	return 0;
}

int
cidrs_match(const struct cidr *list, int n,
    const struct sockaddr_storage *ss)
{
	uint8_t a[16];

	return cidr_addr16(ss, a) == 0 && cidrs_has(list, n, a);
}
