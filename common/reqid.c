/*
 * reqid.c: request ids (X-Request-Id) and the route class of a request
 * path, the two labels a request carries into logs, audit rows and
 * /metrics. Both are pure and bounded: whatever a client sends, a request
 * id is at most REQUEST_ID_MAX safe characters and a route class is one
 * of HTTP_NROUTES fixed names.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const char *const route_names[HTTP_NROUTES] = HTTP_ROUTE_NAMES;

int
request_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REQUEST_ID_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.:") == n;
}

/*
 * A generated id is 16 bytes in hex: 8 random bytes drawn once per
 * process (again in a forked child) and a 64-bit counter. Unique, and
 * not guessable from outside the process, without a trip to the random
 * generator for every request.
 */
static struct {
	int ready;
	uint8_t prefix[8];
	uint64_t seq;
} reqid;

static void
reqid_forget(void)
{
	reqid.ready = 0;
}

void
request_id_pick(const char *given, char out[REQUEST_ID_MAX + 1])
{
	static int atfork;
	uint8_t b[16];
	uint64_t n;
	int i;

	if (given != NULL && request_id_valid(given)) {
		snprintf(out, REQUEST_ID_MAX + 1, "%s", given);
		return;
	}
	if (!reqid.ready) {
		if (!atfork)
			atfork = pthread_atfork(NULL, NULL, reqid_forget) == 0;
		if (!atfork || rand_bytes(reqid.prefix,
		    sizeof(reqid.prefix)) == -1) {
			/* No randomness: still unique within this process. */
			snprintf(out, REQUEST_ID_MAX + 1, "%lld-%llu",
			    (long long)now_mono_ms(),
			    (unsigned long long)++reqid.seq);
			return;
		}
		reqid.ready = 1;
	}
	memcpy(b, reqid.prefix, sizeof(reqid.prefix));
	n = ++reqid.seq;
	for (i = 15; i >= 8; i--, n >>= 8)
		b[i] = (uint8_t)n;
	hex_encode(b, sizeof(b), out);
}

/* 1 when path (after a prefix) is exactly seg or seg followed by '/'. */
static int
route_seg(const char *rest, const char *seg, const char **after_r)
{
	size_t n = strlen(seg);

	if (strncmp(rest, seg, n) != 0 || (rest[n] != '\0' && rest[n] != '/'))
		return 0;
	*after_r = rest + n;
	return 1;
}

const char *
http_route_class(const char *path)
{
	static const char prefix[] = "/api/v1/users/";
	const char *rest, *after;

	if (strcmp(path, "/health") == 0 ||
	    strcmp(path, "/health/detailed") == 0)
		return "health";
	if (strcmp(path, "/metrics") == 0)
		return "metrics";
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return "other";
	rest = strchr(path + sizeof(prefix) - 1, '/');
	if (rest == NULL)
		return "api_other";
	if (route_seg(rest, "/mcp", &after))
		return "mcp";
	if (route_seg(rest, "/mcp-servers", &after))
		return "mcp_servers";
	if (route_seg(rest, "/secrets", &after))
		return "secrets";
	if (route_seg(rest, "/tools", &after))
		return after[0] == '\0' || strcmp(after, "/") == 0 ? "tools" :
		    "tool_call";
	return "api_other";
}

int
http_route_index(const char *name)
{
	int i;

	for (i = 0; i < HTTP_NROUTES; i++)
		if (strcmp(route_names[i], name) == 0)
			return i;
	return -1;
}

const char *
http_route_name(int i)
{
	return i >= 0 && i < HTTP_NROUTES ? route_names[i] : "other";
}
