/*
 * test_log.c: the text form of a log line (common/log.c), what a person
 * at a terminal reads instead of the JSON object, and the choice of form.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "unit.h"

static char *
text_of(const char *json)
{
	json_t *line = json_loads(json, 0, NULL);
	char *t;

	if (line == NULL)
		return NULL;
	t = log_text_line(line);
	json_decref(line);
	return t;
}

int
main(void)
{
	char *t;

	UNIT_CASE("a request line: time, level, proc[pid], msg, then key=value in order");
	t = text_of("{\"ts\":\"2026-12-05T21:03:04.123Z\",\"level\":\"info\","
	    "\"proc\":\"worker\",\"pid\":812,\"msg\":\"request\","
	    "\"tenant\":\"demo\",\"route\":\"tool_call\",\"status\":200,"
	    "\"duration_ms\":3}");
	UNIT_CHECK(t != NULL);
	UNIT_CHECK(t != NULL && strcmp(t, "2026-12-05 21:03:04.123 info  "
	    "worker[812] request tenant=demo route=tool_call status=200 "
	    "duration_ms=3") == 0);
	free(t);

	UNIT_CASE("values with spaces, quotes or '=' are JSON-quoted; objects stay JSON");
	t = text_of("{\"ts\":\"2026-12-05T21:03:04.123Z\",\"level\":\"warn\","
	    "\"proc\":\"dataagentd\",\"pid\":1,\"msg\":\"x\","
	    "\"error\":\"no such tenant: demo\",\"q\":\"a\\\"b\",\"e\":\"k=v\","
	    "\"empty\":\"\",\"info\":{\"name\":\"s\"},\"nl\":\"a\\nb\"}");
	UNIT_CHECK(t != NULL && strcmp(t, "2026-12-05 21:03:04.123 warn  "
	    "dataagentd[1] x error=\"no such tenant: demo\" q=\"a\\\"b\" "
	    "e=\"k=v\" empty=\"\" info={\"name\":\"s\"} nl=\"a\\nb\"") == 0);
	UNIT_CHECK(t != NULL && strchr(t, '\n') == NULL);
	free(t);

	UNIT_CASE("log_format: json and text are what they say; auto follows the terminal");
	UNIT_CHECK(log_format_is_text("json") == 0);
	UNIT_CHECK(log_format_is_text("text") == 1);
	UNIT_CHECK(log_format_is_text("auto") == isatty(STDERR_FILENO));
	UNIT_CHECK(log_format_is_text(NULL) == isatty(STDERR_FILENO));
	/* tests/run.sh sends stderr to a file: there, auto is JSON. */
	if (!isatty(STDERR_FILENO))
		UNIT_CHECK(log_format_is_text("auto") == 0);

	UNIT_CASE("a value given to a line (\"o\") is released when its level is off");
	{
		json_t *v = json_string("not json from a server");

		log_init("test", LOG_LVL_INFO);
		json_incref(v);		/* ours, besides the one given away */
		log_debug("upstream wrote a non-JSON line", "{s:s,s:o}",
		    "server", "s", "line", v);
		UNIT_CHECK(v->refcount == 1);
		json_decref(v);
	}

	return unit_done();
}
