/*
 * test_cidr.c: address lists (common/cidr.c), which direct_peers uses to
 * decide which peers' connections skip the relays.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "unit.h"

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return ss;
}

static int
match(const char *list, const char *a)
{
	struct cidr c[8];
	struct sockaddr_storage ss = addr(a);
	char err[128];
	int n = cidrs_parse(list, c, 8, err, sizeof(err));

	return n >= 0 && cidrs_match(c, n, &ss);
}

int
main(void)
{
	struct cidr c[2];
	char err[128];

	UNIT_CASE("an empty list matches nothing");
	UNIT_CHECK(cidrs_parse("", c, 2, err, sizeof(err)) == 0);
	UNIT_CHECK(!match("", "127.0.0.1"));

	UNIT_CASE("addresses and prefixes, IPv4 and IPv6, blanks and commas");
	UNIT_CHECK(match("10.0.0.0/8", "10.200.1.2"));
	UNIT_CHECK(!match("10.0.0.0/8", "11.0.0.1"));
	UNIT_CHECK(match("192.0.2.10", "192.0.2.10"));
	UNIT_CHECK(!match("192.0.2.10", "192.0.2.11"));
	UNIT_CHECK(match("192.0.2.0/25", "192.0.2.127"));
	UNIT_CHECK(!match("192.0.2.0/25", "192.0.2.128"));
	UNIT_CHECK(match("10.0.0.1, 2001:db8::/32", "2001:db8:1::5"));
	UNIT_CHECK(match("10.0.0.1 ,\t::1", "::1"));
	UNIT_CHECK(!match("2001:db8::/32", "2001:db9::1"));
	UNIT_CHECK(match("0.0.0.0/0", "203.0.113.9"));

	UNIT_CASE("an IPv4 entry matches the same address mapped into IPv6");
	UNIT_CHECK(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	UNIT_CHECK(!match("127.0.0.0/8", "::1"));

	UNIT_CASE("malformed entries and too many are refused, naming the entry");
	UNIT_CHECK(cidrs_parse("10.0.0.0/33", c, 2, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "10.0.0.0/33") != NULL);
	UNIT_CHECK(cidrs_parse("example.com", c, 2, err, sizeof(err)) == -1);
	UNIT_CHECK(cidrs_parse("10.0.0.1/", c, 2, err, sizeof(err)) == -1);
	UNIT_CHECK(cidrs_parse("1.1.1.1,2.2.2.2,3.3.3.3", c, 2, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "more than 2") != NULL);
	UNIT_CHECK(cidrs_parse("1.1.1.1,2.2.2.2,3.3.3.3", NULL, 0, err,
	    sizeof(err)) == 3);

	return unit_done();
}
