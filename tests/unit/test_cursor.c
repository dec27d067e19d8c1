/*
 * test_cursor.c: the pagination cursor of the aggregated MCP lists
 * (worker/aggregate.c): what comes back in is only what we handed out.
 *
 * aggregate.c is compiled in whole; the upstream functions it calls are
 * not reached by the cursor code and are stubbed.
 */
#include <stdlib.h>
#include <string.h>

#include "../../worker/aggregate.c"
#include "unit.h"

#include "aggregate_stubs.h"

static const unsigned char key[AGG_CURSOR_KEY_LEN] =
    "unit-cursor-key-unit-cursor-key";
static const unsigned char key2[AGG_CURSOR_KEY_LEN] =
    "another-key-another-key-another";

int
main(void)
{
	char *c, *u, server[65], *t;
	size_t index;

	unit_suite_set(__FILE__);

	UNIT_CASE("a cursor comes back as it went out");
	c = agg_cursor_encode(key, "resources/list", 2, "ev2", "page-7");
	UNIT_CHECK(c != NULL);
	UNIT_CHECK(agg_cursor_decode(key, c, "resources/list", &index, server,
	    sizeof(server), &u) == 0);
	UNIT_CHECK(index == 2 && strcmp(server, "ev2") == 0);
	UNIT_CHECK(u != NULL && strcmp(u, "page-7") == 0);
	free(u);

	UNIT_CASE("a server's first page has no cursor of its own");
	t = agg_cursor_encode(key, "prompts/list", 1, "mem", NULL);
	UNIT_CHECK(agg_cursor_decode(key, t, "prompts/list", &index, server,
	    sizeof(server), &u) == 0);
	UNIT_CHECK(index == 1 && u == NULL);
	free(t);

	UNIT_CASE("another method, another key, a changed byte: refused");
	UNIT_CHECK(agg_cursor_decode(key, c, "prompts/list", &index, server,
	    sizeof(server), &u) == -1 && u == NULL);
	UNIT_CHECK(agg_cursor_decode(key2, c, "resources/list", &index,
	    server, sizeof(server), &u) == -1);
	c[3] = c[3] == 'A' ? 'B' : 'A';
	UNIT_CHECK(agg_cursor_decode(key, c, "resources/list", &index,
	    server, sizeof(server), &u) == -1);
	free(c);

	UNIT_CASE("garbage and edge shapes: refused");
	UNIT_CHECK(agg_cursor_decode(key, "", "resources/list", &index,
	    server, sizeof(server), &u) == -1);
	UNIT_CHECK(agg_cursor_decode(key, ".", "resources/list", &index,
	    server, sizeof(server), &u) == -1);
	UNIT_CHECK(agg_cursor_decode(key, "abc.0123456789abcdef0123456789abcdef",
	    "resources/list", &index, server, sizeof(server), &u) == -1);
	c = agg_cursor_encode(key, "resources/list", 0, "a-name-longer-than-"
	    "the-buffer", NULL);
	UNIT_CHECK(agg_cursor_decode(key, c, "resources/list", &index, server,
	    8, &u) == -1);
	free(c);

	UNIT_CASE("split: the first __ separates the server");
	UNIT_CHECK(agg_split_name("ev__demo://a__b", server, sizeof(server),
	    (const char **)&t) == 0 && strcmp(server, "ev") == 0 &&
	    strcmp(t, "demo://a__b") == 0);
	UNIT_CHECK(agg_split_name("__x", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_split_name("ev__", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_split_name("plain", server, sizeof(server),
	    (const char **)&t) == -1);

	UNIT_CASE("uri: dataagent:{server}:{uri}, split at the first colon");
	c = agg_uri_wrap("my_srv.1", "test://a:b/{id}?q#f");
	UNIT_CHECK(c != NULL && strcmp(c,
	    "dataagent:my_srv.1:test://a:b/{id}?q#f") == 0);
	UNIT_CHECK(agg_uri_split(c, server, sizeof(server),
	    (const char **)&t) == 0 && strcmp(server, "my_srv.1") == 0 &&
	    strcmp(t, "test://a:b/{id}?q#f") == 0);
	free(c);
	UNIT_CHECK(agg_uri_split("DataAgent:ev:urn:x:y", server,
	    sizeof(server), (const char **)&t) == 0 &&
	    strcmp(server, "ev") == 0 && strcmp(t, "urn:x:y") == 0);
	UNIT_CASE("uri: the earlier {server}__{uri} still splits");
	UNIT_CHECK(agg_uri_split("ev__demo://a__b", server, sizeof(server),
	    (const char **)&t) == 0 && strcmp(server, "ev") == 0 &&
	    strcmp(t, "demo://a__b") == 0);
	UNIT_CASE("uri: no server, no uri, or a server too long");
	UNIT_CHECK(agg_uri_split("dataagent:ev", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_uri_split("dataagent:ev:", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_uri_split("dataagent::x:y", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_uri_split("dataagent:" "0123456789012345678901234567890"
	    "1234567890123456789012345678901234:x:y", server, sizeof(server),
	    (const char **)&t) == -1);
	UNIT_CHECK(agg_uri_split("test://plain", server, sizeof(server),
	    (const char **)&t) == -1);
	return unit_done();
}
