/*
 * test_toolacl.c: tool allow/deny lists (common/toolacl.c): what a
 * pattern may be, how lists are read, and which tools they let through.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "unit.h"

/* A list from text, or NULL when it is refused. */
static json_t *
L(const char *s)
{
	char err[256];

	return toolacl_list_parse_str(s, err, sizeof(err));
}

/* The list read back as text ("!" when refused). */
static int
parses_to(const char *in, const char *want)
{
	json_t *l = L(in);
	char *s;
	int ok;

	if (l == NULL)
		return strcmp(want, "!") == 0;
	s = toolacl_list_join(l);
	ok = s != NULL && strcmp(s, want) == 0;
	free(s);
	json_decref(l);
	return ok;
}

/* lists: {"allow_tools": allow, "deny_tools": deny} from text. */
static json_t *
lists(const char *allow, const char *deny)
{
	return json_pack("{s:o,s:o}", "allow_tools", L(allow), "deny_tools",
	    L(deny));
}

static int
allows(const json_t *t, const json_t *s, const char *tool, const char *why)
{
	const char *w = "unset";
	int r = toolacl_allows(t, s, tool, &w);

	if (why == NULL)
		return r == 1 && w == NULL;
	return r == 0 && w != NULL && strcmp(w, why) == 0 &&
	    toolacl_policy_valid(w);
}

int
main(void)
{
	char big[TOOLACL_PATTERN_MAX + 2], err[256];
	json_t *t, *s, *v, *l;
	int i;

	UNIT_CASE("patterns: the alphabet, the length, closed classes");
	UNIT_CHECK(toolacl_pattern_valid("echo"));
	UNIT_CHECK(toolacl_pattern_valid("get-*"));
	UNIT_CHECK(toolacl_pattern_valid("search_?ssues"));
	UNIT_CHECK(toolacl_pattern_valid("a.b/c:d"));
	UNIT_CHECK(toolacl_pattern_valid("[a-c]*"));
	UNIT_CHECK(toolacl_pattern_valid("[!x]*"));
	UNIT_CHECK(toolacl_pattern_valid("[]x]"));
	UNIT_CHECK(toolacl_pattern_valid("*"));
	UNIT_CHECK(!toolacl_pattern_valid(""));
	UNIT_CHECK(!toolacl_pattern_valid("a,b"));
	UNIT_CHECK(!toolacl_pattern_valid("a b"));
	UNIT_CHECK(!toolacl_pattern_valid("a\\*"));
	UNIT_CHECK(!toolacl_pattern_valid("x\"y"));
	UNIT_CHECK(!toolacl_pattern_valid("[abc"));
	UNIT_CHECK(!toolacl_pattern_valid("abc]"));
	UNIT_CHECK(!toolacl_pattern_valid("[]"));
	UNIT_CHECK(!toolacl_pattern_valid("[!]"));
	UNIT_CHECK(!toolacl_pattern_valid("[[:alpha:]]"));
	UNIT_CHECK(!toolacl_pattern_valid("t\xc3\xa9st"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	UNIT_CHECK(!toolacl_pattern_valid(big));
	big[TOOLACL_PATTERN_MAX] = '\0';
	UNIT_CHECK(toolacl_pattern_valid(big));

	UNIT_CASE("lists: comma-separated text, blanks dropped, duplicates once");
	UNIT_CHECK(parses_to("search_*,get_*", "search_*,get_*"));
	UNIT_CHECK(parses_to(" search_* , get_*\t", "search_*,get_*"));
	UNIT_CHECK(parses_to("a,b,a", "a,b"));
	UNIT_CHECK(parses_to("", ""));
	UNIT_CHECK(parses_to("  ", ""));
	UNIT_CHECK(parses_to("a,,b", "!"));
	UNIT_CHECK(parses_to("a,", "!"));
	UNIT_CHECK(parses_to(",a", "!"));
	UNIT_CHECK(parses_to("a,b c", "!"));
	UNIT_CHECK(parses_to("a;b", "!"));

	UNIT_CASE("lists: arrays, null, and what is not a list");
	v = json_pack("[s,s,s]", "x*", "y", "x*");
	l = toolacl_list_parse(v, err, sizeof(err));
	UNIT_CHECK(l != NULL && json_array_size(l) == 2);
	json_decref(l);
	json_decref(v);
	l = toolacl_list_parse(NULL, err, sizeof(err));
	UNIT_CHECK(l != NULL && json_array_size(l) == 0);
	json_decref(l);
	v = json_null();
	l = toolacl_list_parse(v, err, sizeof(err));
	UNIT_CHECK(l != NULL && json_array_size(l) == 0);
	json_decref(l);
	v = json_integer(3);
	UNIT_CHECK(toolacl_list_parse(v, err, sizeof(err)) == NULL);
	json_decref(v);
	v = json_pack("[s,i]", "x", 1);
	UNIT_CHECK(toolacl_list_parse(v, err, sizeof(err)) == NULL);
	json_decref(v);
	v = json_pack("[s]", "a,b");
	UNIT_CHECK(toolacl_list_parse(v, err, sizeof(err)) == NULL);
	json_decref(v);
	v = json_stringn("a\0b", 3);
	UNIT_CHECK(toolacl_list_parse(v, err, sizeof(err)) == NULL);
	json_decref(v);

	UNIT_CASE("lists: at most TOOLACL_LIST_MAX patterns");
	v = json_array();
	for (i = 0; i < TOOLACL_LIST_MAX; i++) {
		char p[16];

		snprintf(p, sizeof(p), "t%d", i);
		json_array_append_new(v, json_string(p));
	}
	l = toolacl_list_parse(v, err, sizeof(err));
	UNIT_CHECK(l != NULL && json_array_size(l) == TOOLACL_LIST_MAX);
	json_decref(l);
	json_array_append_new(v, json_string("one-more"));
	UNIT_CHECK(toolacl_list_parse(v, err, sizeof(err)) == NULL);
	json_decref(v);

	UNIT_CASE("both lists of an object: given, missing, kept, refused");
	v = json_pack("{s:s,s:[s]}", "allow_tools", "a*, b", "deny_tools",
	    "c");
	l = json_pack("{s:[s]}", "deny_tools", "old");
	UNIT_CHECK(toolacl_lists_parse(v, l, 0, err, sizeof(err)) == 2);
	UNIT_CHECK(json_array_size(json_object_get(l, "allow_tools")) == 2);
	json_decref(v);
	v = json_pack("{s:s}", "allow_tools", "");
	UNIT_CHECK(toolacl_lists_parse(v, l, 1, err, sizeof(err)) == 1);
	UNIT_CHECK(json_array_size(json_object_get(l, "allow_tools")) == 0 &&
	    json_array_size(json_object_get(l, "deny_tools")) == 1);
	UNIT_CHECK(toolacl_lists_parse(v, l, 0, err, sizeof(err)) == 1);
	UNIT_CHECK(json_array_size(json_object_get(l, "deny_tools")) == 0);
	json_decref(v);
	v = json_object();
	UNIT_CHECK(toolacl_lists_parse(v, l, 1, err, sizeof(err)) == 0);
	json_decref(v);
	v = json_pack("{s:s}", "deny_tools", "x y");
	UNIT_CHECK(toolacl_lists_parse(v, l, 1, err, sizeof(err)) == -1 &&
	    strstr(err, "deny_tools") != NULL);
	json_decref(v);
	json_decref(l);

	UNIT_CASE("no lists: every tool");
	UNIT_CHECK(allows(NULL, NULL, "echo", NULL));
	t = lists("", "");
	UNIT_CHECK(allows(t, t, "anything", NULL));
	json_decref(t);

	UNIT_CASE("deny lists, the tenant's and the server's");
	t = lists("", "delete_*");
	s = lists("", "echo,drop?");
	UNIT_CHECK(allows(t, s, "delete_repo", "tenant deny"));
	UNIT_CHECK(allows(t, s, "echo", "server deny"));
	UNIT_CHECK(allows(t, s, "drops", "server deny"));
	UNIT_CHECK(allows(t, s, "drop", NULL));
	UNIT_CHECK(allows(t, s, "echo2", NULL));
	UNIT_CHECK(allows(t, s, "get_sum", NULL));
	UNIT_CHECK(allows(NULL, s, "echo", "server deny"));
	UNIT_CHECK(allows(t, NULL, "delete_x", "tenant deny"));
	json_decref(t);
	json_decref(s);

	UNIT_CASE("allow lists: each one that is set must match");
	t = lists("get*,search_*", "");
	s = lists("get-*", "");
	UNIT_CHECK(allows(t, NULL, "get-sum", NULL));
	UNIT_CHECK(allows(t, NULL, "search_issues", NULL));
	UNIT_CHECK(allows(t, NULL, "echo", "tenant allow"));
	UNIT_CHECK(allows(t, s, "get-sum", NULL));
	UNIT_CHECK(allows(t, s, "getTinyImage", "server allow"));
	UNIT_CHECK(allows(t, s, "search_issues", "server allow"));
	UNIT_CHECK(allows(NULL, s, "echo", "server allow"));
	json_decref(t);
	json_decref(s);

	UNIT_CASE("deny wins over allow");
	s = lists("get*", "get-env");
	UNIT_CHECK(allows(NULL, s, "get-sum", NULL));
	UNIT_CHECK(allows(NULL, s, "get-env", "server deny"));
	json_decref(s);
	t = lists("", "*");
	s = lists("echo", "");
	UNIT_CHECK(allows(t, s, "echo", "tenant deny"));
	json_decref(t);
	json_decref(s);

	UNIT_CASE("the upstream's own name: '*' crosses '/', no prefix");
	s = lists("", "fs/*");
	UNIT_CHECK(allows(NULL, s, "fs/read/all", "server deny"));
	UNIT_CHECK(allows(NULL, s, "fs", NULL));
	json_decref(s);
	s = lists("", "everything__*");
	UNIT_CHECK(allows(NULL, s, "echo", NULL));
	json_decref(s);
	s = lists("", "Echo");
	UNIT_CHECK(allows(NULL, s, "echo", NULL));	/* case counts */
	json_decref(s);
	s = lists("", ".hidden");
	UNIT_CHECK(allows(NULL, s, ".hidden", "server deny"));
	json_decref(s);

	UNIT_CASE("policy reasons");
	UNIT_CHECK(toolacl_policy_valid("tenant deny"));
	UNIT_CHECK(toolacl_policy_valid("server allow"));
	UNIT_CHECK(!toolacl_policy_valid("deny"));
	UNIT_CHECK(!toolacl_policy_valid(""));

	return unit_done();
}
