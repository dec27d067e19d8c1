/*
 * promtext.c: pieces of the Prometheus text exposition format (0.0.4)
 * that must be exact whatever a tenant sends: label value escaping and
 * what a tool name may be before it becomes a label value.
 */
#include <string.h>

#include "common.h"

size_t
prom_label_escape(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;
		char one[2] = { *s, '\0' };

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '"')
			rep = "\\\"";
		else if (*s == '\n')
			rep = "\\n";
		else
			rep = one;
		for (; *rep != '\0'; rep++, n++)
			if (n + 1 < outlen)
				out[n] = *rep;
	}
	if (outlen > 0)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

int
prom_tool_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > PROM_TOOL_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

int
prom_duration_bucket(int64_t ms)
{
	static const int64_t bound_ms[PROM_NBUCKETS - 1] = {
		5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
	};
	int i;

	for (i = 0; i < PROM_NBUCKETS - 1; i++)
		if (ms <= bound_ms[i])
			return i;
	return PROM_NBUCKETS - 1;
}

int
prom_conn_bucket(int64_t ms)
{
	static const int64_t bound_s[PROM_CONN_NBUCKETS - 1] = {
		1, 10, 60, 300, 900, 3600, 14400, 86400,
	};
	int i;

	for (i = 0; i < PROM_CONN_NBUCKETS - 1; i++)
		if (ms <= bound_s[i] * 1000)
			return i;
	return PROM_CONN_NBUCKETS - 1;
}
