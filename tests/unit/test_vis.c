/*
 * test_vis.c: vis_escape (common/vis.c), what dataagentctl and the
 * supervisor's log do to text a tenant wrote before showing it.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "unit.h"

static int
vis_is(const char *in, size_t len, const char *want)
{
	char *e = vis_escape(in, len);
	int ok = e != NULL && strcmp(e, want) == 0;

	if (!ok)
		fprintf(stderr, "vis_escape gave \"%s\", want \"%s\"\n",
		    e != NULL ? e : "(null)", want);
	free(e);
	return ok;
}

#define VIS(s, want) vis_is(s, sizeof(s) - 1, want)

int
main(void)
{
	UNIT_CASE("printable ASCII and valid UTF-8 pass as they are");
	UNIT_CHECK(VIS("search_repos", "search_repos"));
	UNIT_CHECK(VIS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	UNIT_CHECK(vis_is_clean("abc", 3));

	UNIT_CASE("ESC [ 2 J, a newline, DEL and NUL become \\xNN");
	UNIT_CHECK(VIS("\x1b[2Jx", "\\x1b[2Jx"));
	UNIT_CHECK(VIS("a\nb\r", "a\\x0ab\\x0d"));
	UNIT_CHECK(VIS("\x7f", "\\x7f"));
	UNIT_CHECK(VIS("a\0b", "a\\x00b"));
	UNIT_CHECK(!vis_is_clean("\x1b", 1));

	UNIT_CASE("a backslash is doubled, so an escape cannot be forged");
	UNIT_CHECK(VIS("\\x1b", "\\\\x1b"));
	UNIT_CHECK(!vis_is_clean("\\", 1));

	UNIT_CASE("C1 controls (U+009B, a CSI) and direction overrides are escaped");
	UNIT_CHECK(VIS("\xc2\x9b" "31m", "\\xc2\\x9b31m"));
	UNIT_CHECK(VIS("\xe2\x80\xae" "txt", "\\xe2\\x80\\xaetxt"));
	UNIT_CHECK(VIS("\xe2\x80\xa8", "\\xe2\\x80\\xa8"));

	UNIT_CASE("invalid UTF-8: stray continuation, overlong, surrogate, truncated");
	UNIT_CHECK(VIS("\x80", "\\x80"));
	UNIT_CHECK(VIS("\xc0\xaf", "\\xc0\\xaf"));
	UNIT_CHECK(VIS("\xe0\x80\xaf", "\\xe0\\x80\\xaf"));
	UNIT_CHECK(VIS("\xed\xa0\x80", "\\xed\\xa0\\x80"));
	UNIT_CHECK(VIS("a\xe2\x82", "a\\xe2\\x82"));
	UNIT_CHECK(VIS("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"));
	UNIT_CHECK(vis_needed("\xff", 1) == 4);

	UNIT_CASE("vis_json: every string and key at any depth, nesting cut at depth_max");
	{
		json_t *in = json_loads("{\"k\\u001b\":[\"a\\u001b[2J\",1,"
		    "{\"x\":[[\"deep\"]]}]}", 0, NULL), *out;
		char *text;

		UNIT_CHECK(in != NULL);
		out = vis_json(in, 8);
		text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
		UNIT_CHECK(text != NULL && strcmp(text, "{\"k\\\\x1b\":"
		    "[\"a\\\\x1b[2J\",1,{\"x\":[[\"deep\"]]}]}") == 0);
		free(text);
		json_decref(out);
		out = vis_json(in, 2);
		text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
		UNIT_CHECK(text != NULL && strstr(text, "\"x\":\"(nested too "
		    "deep)\"") != NULL);
		free(text);
		json_decref(out);
		json_decref(in);
	}
	return unit_done();
}
