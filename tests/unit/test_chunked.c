/*
 * test_chunked.c: the strict framing check of chunked request bodies
 * (common/chunked.c) that the worker runs beside http-parser.
 */
#include <string.h>

#include "common.h"
#include "unit.h"

/* The whole of s at once; *used_r as chunked_feed sets it. */
static int
feed(const char *s, uint64_t max, size_t *used_r)
{
	struct chunked ck;

	chunked_init(&ck, max);
	return chunked_feed(&ck, s, strlen(s), used_r);
}

/* s one byte a call: the same answer wherever the bytes are split. */
static int
feed_bytes(const char *s, uint64_t max)
{
	struct chunked ck;
	size_t i, used;
	int r = CHUNKED_MORE;

	chunked_init(&ck, max);
	for (i = 0; s[i] != '\0' && r == CHUNKED_MORE; i++)
		r = chunked_feed(&ck, s + i, 1, &used);
	return r;
}

int
main(void)
{
	size_t used;

	UNIT_CASE("well-framed bodies end exactly after the last CRLF");
	UNIT_CHECK(feed("2\r\n{}\r\n0\r\n\r\n", 100, &used) == CHUNKED_DONE &&
	    used == 12);
	UNIT_CHECK(feed("2\r\n{}\r\n0\r\n\r\nGET / HTTP/1.1", 100, &used) ==
	    CHUNKED_DONE && used == 12);
	UNIT_CHECK(feed("a;name=v\r\n0123456789\r\n1 ;x\r\nz\r\n0\r\n"
	    "X-Sum: 1\r\n\r\n", 100, &used) == CHUNKED_DONE);
	UNIT_CHECK(feed("00000000000000A\r\n0123456789\r\n0\r\n\r\n", 100,
	    &used) == CHUNKED_DONE);
	UNIT_CHECK(feed_bytes("3\r\nabc\r\n0\r\nT: v\r\n\r\n", 100) ==
	    CHUNKED_DONE);
	UNIT_CHECK(feed("2\r\n{}", 100, &used) == CHUNKED_MORE && used == 5);

	UNIT_CASE("two bytes other than CRLF after chunk data are refused");
	UNIT_CHECK(feed("2\r\n{}XY0\r\n\r\n", 100, &used) == CHUNKED_BAD &&
	    used == 5);
	UNIT_CHECK(feed("2\r\n{}\rX0\r\n\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("2\r\n{}\n0\r\n\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed_bytes("2\r\n{}XY0\r\n\r\n", 100) == CHUNKED_BAD);

	UNIT_CASE("a chunk-size line, last chunk and trailers need CRLF");
	UNIT_CHECK(feed("2\rX{}\r\n0\r\n\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("2\n{}\r\n0\r\n\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\n\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\n\rX", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\nA: b\rX\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\nA: b\n\r\n", 100, &used) == CHUNKED_BAD);

	UNIT_CASE("sizes: hex only, blanks only before ';', at most 16 digits");
	UNIT_CHECK(feed("\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("-1\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0x2\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("2 \r\n{}\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("2 junk\r\n{}\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("00000000000000000\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("2;a\001b\r\n", 100, &used) == CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\nbad name: v\r\n\r\n", 100, &used) ==
	    CHUNKED_BAD);
	UNIT_CHECK(feed("0\r\n: v\r\n\r\n", 100, &used) == CHUNKED_BAD);

	UNIT_CASE("a chunk-size over what is left of the limit is too large");
	UNIT_CHECK(feed("ffffffffffffffff\r\n", 1024, &used) ==
	    CHUNKED_TOO_LARGE);
	UNIT_CHECK(feed("401\r\n", 1024, &used) == CHUNKED_TOO_LARGE);
	UNIT_CHECK(feed("400\r\n", 1024, &used) == CHUNKED_MORE);
	UNIT_CHECK(feed_bytes("2\r\n{}\r\n3ff\r\n", 1024) ==
	    CHUNKED_TOO_LARGE);
	UNIT_CHECK(feed_bytes("2\r\n{}\r\n3fe\r\n", 1024) == CHUNKED_MORE);

	UNIT_CASE("a failure sticks; bytes after the end are not this body's");
	{
		struct chunked ck;

		chunked_init(&ck, 100);
		UNIT_CHECK(chunked_feed(&ck, "zz", 2, &used) == CHUNKED_BAD);
		UNIT_CHECK(chunked_feed(&ck, "0\r\n\r\n", 5, &used) ==
		    CHUNKED_BAD);
		chunked_init(&ck, 100);
		UNIT_CHECK(chunked_feed(&ck, "0\r\n\r\n", 5, &used) ==
		    CHUNKED_DONE && used == 5);
		UNIT_CHECK(chunked_feed(&ck, "x", 1, &used) == CHUNKED_BAD);
	}
	return unit_done();
}
