/*
 * test_httphead.c: the request head the supervisor peeks at.
 */
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "common.h"
#include "unit.h"

static int
parse(const char *s, struct httphead *hh, int *status)
{
	return httphead_parse(s, strlen(s), hh, status);
}

int
main(void)
{
	struct httphead hh;
	const char *tok;
	char id[65], *big;
	size_t len;
	int st;

	UNIT_CASE("a complete head is parsed");
	UNIT_CHECK(parse("POST /api/v1/users/alice/mcp?x=1 HTTP/1.1\r\n"
	    "Host: example\r\nAuthorization: Bearer abc.def.ghi\r\n"
	    "Content-Length: 2\r\n\r\n{}", &hh, &st) == 1);
	UNIT_CHECK(hh.hh_method == HTTP_POST);
	UNIT_CHECK(strcmp(hh.hh_path, "/api/v1/users/alice/mcp") == 0);
	UNIT_CHECK(hh.hh_has_authorization &&
	    strcmp(hh.hh_authorization, "Bearer abc.def.ghi") == 0);
	UNIT_CHECK(strcmp(hh.hh_host, "example") == 0);
	UNIT_CHECK(hh.hh_head_len == strlen("POST /api/v1/users/alice/mcp?x=1"
	    " HTTP/1.1\r\nHost: example\r\nAuthorization: Bearer abc.def.ghi"
	    "\r\nContent-Length: 2\r\n\r\n"));
	UNIT_CHECK(hh.hh_http_major == 1 && hh.hh_http_minor == 1);

	UNIT_CASE("a partial head needs more bytes");
	UNIT_CHECK(parse("GET /health HTTP/1.1\r\nHost: x\r\n", &hh, &st) == 0);
	UNIT_CHECK(parse("GET /hea", &hh, &st) == 0);
	UNIT_CHECK(parse("", &hh, &st) == 0);

	UNIT_CASE("garbage is 400");
	UNIT_CHECK(parse("HELLO\r\n\r\n", &hh, &st) == -1 && st == 400);
	UNIT_CHECK(parse("GET / HTTP/1.1\r\nBad Header\r\n\r\n", &hh, &st) ==
	    -1 && st == 400);
	UNIT_CHECK(parse("GET http://evil/x HTTP/1.1\r\n\r\n", &hh, &st) ==
	    -1 && st == 400);

	UNIT_CASE("two Authorization headers are 400");
	UNIT_CHECK(parse("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\n"
	    "authorization: Bearer b\r\n\r\n", &hh, &st) == -1 && st == 400);

	UNIT_CASE("a long Authorization is 431, a long URL 414");
	big = malloc(10000);
	strcpy(big, "GET / HTTP/1.1\r\nAuthorization: Bearer ");
	memset(big + strlen(big), 'a', 5000);
	strcpy(big + 39 + 5000, "\r\n\r\n");
	UNIT_CHECK(parse(big, &hh, &st) == -1 && st == 431);
	strcpy(big, "GET /");
	memset(big + 5, 'a', 3000);
	strcpy(big + 3005, " HTTP/1.1\r\n\r\n");
	UNIT_CHECK(parse(big, &hh, &st) == -1 && st == 414);
	free(big);

	UNIT_CASE("bearer extraction");
	tok = httphead_bearer("Bearer abc", &len);
	UNIT_CHECK(tok != NULL && len == 3 && strncmp(tok, "abc", 3) == 0);
	tok = httphead_bearer("bearer   abc  ", &len);
	UNIT_CHECK(tok != NULL && len == 3);
	UNIT_CHECK(httphead_bearer("Basic abc", &len) == NULL);
	UNIT_CHECK(httphead_bearer("Bearer", &len) == NULL);
	UNIT_CHECK(httphead_bearer("Bearer ", &len) == NULL);
	UNIT_CHECK(httphead_bearer("Bearerabc", &len) == NULL);

	UNIT_CASE("tenant from the path");
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/alice/mcp", id,
	    sizeof(id)) == 1 && strcmp(id, "alice") == 0);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/bob", id, sizeof(id)) ==
	    1 && strcmp(id, "bob") == 0);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/b%6Fb/tools", id,
	    sizeof(id)) == 1 && strcmp(id, "bob") == 0);
	UNIT_CHECK(httphead_path_tenant("/health", id, sizeof(id)) == 0);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/", id, sizeof(id)) ==
	    -1);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/a%2Fb/x", id,
	    sizeof(id)) == -1);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/a%00b", id,
	    sizeof(id)) == -1);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/..", id, sizeof(id)) ==
	    -1);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/a__b", id,
	    sizeof(id)) == -1);
	UNIT_CHECK(httphead_path_tenant("/api/v1/users/%zz", id, sizeof(id)) ==
	    -1);

	UNIT_CASE("Origin is kept; a second one is 400, a long one 431");
	UNIT_CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nOrigin: http://a.test"
	    "\r\n\r\n", &hh, &st) == 1);
	UNIT_CHECK(hh.hh_has_origin && hh.hh_has_host &&
	    strcmp(hh.hh_origin, "http://a.test") == 0);
	UNIT_CHECK(parse("GET / HTTP/1.0\r\n\r\n", &hh, &st) == 1 &&
	    !hh.hh_has_host && !hh.hh_has_origin);
	UNIT_CHECK(parse("GET / HTTP/1.1\r\nOrigin: http://a\r\nOrigin: "
	    "http://b\r\n\r\n", &hh, &st) == -1 && st == 400);
	big = malloc(2048);
	memset(big, 'a', 2047);
	big[2047] = '\0';
	{
		char req[4096];

		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nOrigin: http://%s"
		    "\r\n\r\n", big + 1000);
		UNIT_CHECK(parse(req, &hh, &st) == -1 && st == 431);
	}
	free(big);

	UNIT_CASE("X-Forwarded-For headers are one list, its right-most bytes kept");
	UNIT_CHECK(parse("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2"
	    "\r\nHost: h\r\nx-forwarded-for: 3.3.3.3\r\n\r\n", &hh, &st) == 1);
	UNIT_CHECK(hh.hh_has_forwarded_for &&
	    strcmp(hh.hh_forwarded_for, "1.1.1.1, 2.2.2.2,3.3.3.3") == 0);
	UNIT_CHECK(parse("GET / HTTP/1.1\r\n\r\n", &hh, &st) == 1 &&
	    !hh.hh_has_forwarded_for && hh.hh_forwarded_for[0] == '\0');
	{
		char req[4096], list[1600];
		size_t i;

		for (i = 0; i + 8 < sizeof(list); i += 8)
			memcpy(list + i, "9.9.9.9,", 8);
		list[i] = '\0';
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Forwarded-For: "
		    "%s4.4.4.4\r\n\r\n", list);
		UNIT_CHECK(parse(req, &hh, &st) == 1);
		i = strlen(hh.hh_forwarded_for);
		UNIT_CHECK(i == sizeof(hh.hh_forwarded_for) - 1 &&
		    strcmp(hh.hh_forwarded_for + i - 15, "9.9.9.9,4.4.4.4") ==
		    0);
	}

	UNIT_CASE("status texts");
	UNIT_CHECK(strcmp(http_status_text(431),
	    "Request Header Fields Too Large") == 0);
	UNIT_CHECK(strcmp(http_status_text(404), "Not Found") == 0);

	return unit_done();
}
