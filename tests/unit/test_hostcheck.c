/*
 * test_hostcheck.c: Host and Origin against allowed_hosts
 * (common/hostcheck.c), the DNS-rebinding defence both the supervisor
 * and the worker apply.
 */
#include <string.h>

#include "common.h"
#include "unit.h"

#define H(list, v) host_allowed(list, v, HOST_HEADER)
#define O(list, v) host_allowed(list, v, HOST_ORIGIN)

int
main(void)
{
	UNIT_CASE("loopback is always allowed, with or without a port");
	UNIT_CHECK(H("", "localhost"));
	UNIT_CHECK(H("", "LOCALHOST:8000"));
	UNIT_CHECK(H("", "localhost."));
	UNIT_CHECK(H("", "app.localhost:1"));
	UNIT_CHECK(H("", "127.0.0.1:8000"));
	UNIT_CHECK(H("", "127.1.2.3"));
	UNIT_CHECK(H("", "[::1]:8000"));
	UNIT_CHECK(H("", "[::ffff:127.0.0.1]:80"));
	UNIT_CHECK(O("", "http://localhost:3000"));
	UNIT_CHECK(O("", "http://127.0.0.1"));
	UNIT_CHECK(O("", "https://[::1]:8443"));

	UNIT_CASE("a Host that is an IP literal passes; an Origin must be listed");
	UNIT_CHECK(H("", "10.1.2.3:8000"));
	UNIT_CHECK(H("", "[2001:db8::1]"));
	UNIT_CHECK(!O("", "http://10.1.2.3:8000"));
	UNIT_CHECK(O("10.1.2.3", "http://10.1.2.3:8000"));

	UNIT_CASE("an unknown name is refused: the rebinding case");
	UNIT_CHECK(!H("", "evil.example"));
	UNIT_CHECK(!H("", "x"));
	UNIT_CHECK(!H("mcp.example.com", "evil.example:8000"));
	UNIT_CHECK(!O("", "http://evil.example"));
	UNIT_CHECK(!H("", "localhost.evil.example"));
	UNIT_CHECK(!H("", "evillocalhost"));

	UNIT_CASE("listed names, ports ignored, case and trailing dot folded");
	UNIT_CHECK(H("mcp.example.com", "mcp.example.com"));
	UNIT_CHECK(H("mcp.example.com", "MCP.Example.COM.:443"));
	UNIT_CHECK(H(" a.test , mcp.example.com:8443 ", "mcp.example.com:80"));
	UNIT_CHECK(H("https://mcp.example.com", "mcp.example.com"));
	UNIT_CHECK(O("mcp.example.com", "https://mcp.example.com"));
	UNIT_CHECK(!H("mcp.example.com", "example.com"));
	UNIT_CHECK(!H("mcp.example.com", "a.mcp.example.com"));

	UNIT_CASE("leading-dot and *. entries allow a domain and its names");
	UNIT_CHECK(H(".example.com", "example.com"));
	UNIT_CHECK(H(".example.com", "a.b.example.com:1"));
	UNIT_CHECK(H("*.example.com", "a.example.com"));
	UNIT_CHECK(!H(".example.com", "badexample.com"));
	UNIT_CHECK(O(".example.com", "https://app.example.com"));

	UNIT_CASE("* allows every well-formed host");
	UNIT_CHECK(H("*", "anything.example"));
	UNIT_CHECK(O("a.test,*", "https://anything.example"));

	UNIT_CASE("malformed values never pass");
	UNIT_CHECK(!H("*", ""));
	UNIT_CHECK(!H("*", "a b"));
	UNIT_CHECK(!H("*", "a.test:80x"));
	UNIT_CHECK(!H("*", "[::1"));
	UNIT_CHECK(!O("*", "null"));
	UNIT_CHECK(!O("*", "localhost"));
	UNIT_CHECK(!O("*", "http://user@localhost"));
	UNIT_CHECK(!O("", "http://"));
	UNIT_CHECK(!H("", "127.0.0.1\"x"));

	return unit_done();
}
