/*
 * test_metrics.c: the pure parts of /metrics (common/promtext.c): label
 * value escaping, which tool names may be label values, duration buckets;
 * request ids and route classes (common/reqid.c); metrics_listen
 * addresses (common/addr.c).
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "unit.h"

int
main(void)
{
	char out[64], tiny[4], big[PROM_TOOL_NAME_MAX + 2];

	UNIT_CASE("/metrics is for loopback clients: which addresses are");
	{
		static const char *const v4[] = { "127.0.0.1", "127.255.0.9" };
		static const char *const v4no[] = { "10.0.0.1", "192.0.2.2",
		    "128.0.0.1", "0.0.0.0" };
		static const char *const v6[] = { "::1", "::ffff:127.0.0.5" };
		static const char *const v6no[] = { "::", "fe80::1", "2001:db8::1",
		    "::ffff:10.0.0.1" };
		struct sockaddr_storage ss;
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		size_t k;

		for (k = 0; k < 2; k++) {
			memset(&ss, 0, sizeof(ss));
			sin->sin_family = AF_INET;
			inet_pton(AF_INET, v4[k], &sin->sin_addr);
			UNIT_CHECK(addr_is_loopback(&ss));
			memset(&ss, 0, sizeof(ss));
			sin6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, v6[k], &sin6->sin6_addr);
			UNIT_CHECK(addr_is_loopback(&ss));
		}
		for (k = 0; k < 4; k++) {
			memset(&ss, 0, sizeof(ss));
			sin->sin_family = AF_INET;
			inet_pton(AF_INET, v4no[k], &sin->sin_addr);
			UNIT_CHECK(!addr_is_loopback(&ss));
			memset(&ss, 0, sizeof(ss));
			sin6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, v6no[k], &sin6->sin6_addr);
			UNIT_CHECK(!addr_is_loopback(&ss));
		}
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = AF_UNIX;
		UNIT_CHECK(!addr_is_loopback(&ss));
	}

	UNIT_CASE("label values escape backslash, double quote and newline");
	UNIT_CHECK(prom_label_escape("plain-value_1.0", out, sizeof(out)) == 15);
	UNIT_CHECK(strcmp(out, "plain-value_1.0") == 0);
	UNIT_CHECK(prom_label_escape("a\\b\"c\nd", out, sizeof(out)) == 10);
	UNIT_CHECK(strcmp(out, "a\\\\b\\\"c\\nd") == 0);
	UNIT_CHECK(prom_label_escape("", out, sizeof(out)) == 0 &&
	    out[0] == '\0');
	UNIT_CHECK(prom_label_escape("tab\there", out, sizeof(out)) == 8 &&
	    strcmp(out, "tab\there") == 0);

	UNIT_CASE("escaping truncates like snprintf and stays terminated");
	UNIT_CHECK(prom_label_escape("\"\"\"", tiny, sizeof(tiny)) == 6);
	UNIT_CHECK(strcmp(tiny, "\\\"\\") == 0);
	UNIT_CHECK(prom_label_escape("abc", NULL, 0) == 3);

	UNIT_CASE("tool names: printable ASCII up to 128 bytes, no quote or "
	    "backslash");
	UNIT_CHECK(prom_tool_name_valid("echo"));
	UNIT_CHECK(prom_tool_name_valid("get-sum"));
	UNIT_CHECK(prom_tool_name_valid("a b:c/d"));
	UNIT_CHECK(!prom_tool_name_valid(""));
	UNIT_CHECK(!prom_tool_name_valid("a\"b"));
	UNIT_CHECK(!prom_tool_name_valid("a\\b"));
	UNIT_CHECK(!prom_tool_name_valid("a\nb"));
	UNIT_CHECK(!prom_tool_name_valid("caf\xc3\xa9"));
	UNIT_CHECK(!prom_tool_name_valid("del\x7f"));
	memset(big, 'x', PROM_TOOL_NAME_MAX);
	big[PROM_TOOL_NAME_MAX] = '\0';
	UNIT_CHECK(prom_tool_name_valid(big));
	big[PROM_TOOL_NAME_MAX] = 'x';
	big[PROM_TOOL_NAME_MAX + 1] = '\0';
	UNIT_CHECK(!prom_tool_name_valid(big));

	UNIT_CASE("durations fall in the guide's buckets, upper bound "
	    "inclusive");
	UNIT_CHECK(prom_duration_bucket(0) == 0);
	UNIT_CHECK(prom_duration_bucket(5) == 0);
	UNIT_CHECK(prom_duration_bucket(6) == 1);
	UNIT_CHECK(prom_duration_bucket(1000) == 7);
	UNIT_CHECK(prom_duration_bucket(1001) == 8);
	UNIT_CHECK(prom_duration_bucket(30000) == 11);
	UNIT_CHECK(prom_duration_bucket(30001) == PROM_NBUCKETS - 1);
	UNIT_CHECK(prom_duration_bucket(INT64_MAX) == PROM_NBUCKETS - 1);

	UNIT_CASE("connection lifetimes fall in their buckets");
	UNIT_CHECK(prom_conn_bucket(0) == 0);
	UNIT_CHECK(prom_conn_bucket(1000) == 0);
	UNIT_CHECK(prom_conn_bucket(1001) == 1);
	UNIT_CHECK(prom_conn_bucket(3600 * 1000) == 5);
	UNIT_CHECK(prom_conn_bucket(86400 * 1000LL) == 7);
	UNIT_CHECK(prom_conn_bucket(86400 * 1000LL + 1) ==
	    PROM_CONN_NBUCKETS - 1);
	UNIT_CHECK(prom_conn_bucket(INT64_MAX) == PROM_CONN_NBUCKETS - 1);

	UNIT_CASE("request ids: 1..64 safe characters, else a fresh one");
	{
		char rid[REQUEST_ID_MAX + 1], rid2[REQUEST_ID_MAX + 1];
		char long_id[REQUEST_ID_MAX + 2];

		UNIT_CHECK(request_id_valid("abc-DEF_1.2:3"));
		UNIT_CHECK(!request_id_valid(""));
		UNIT_CHECK(!request_id_valid("a b"));
		UNIT_CHECK(!request_id_valid("a\nb"));
		UNIT_CHECK(!request_id_valid("a\"b"));
		UNIT_CHECK(!request_id_valid("caf\xc3\xa9"));
		memset(long_id, 'x', REQUEST_ID_MAX);
		long_id[REQUEST_ID_MAX] = '\0';
		UNIT_CHECK(request_id_valid(long_id));
		long_id[REQUEST_ID_MAX] = 'x';
		long_id[REQUEST_ID_MAX + 1] = '\0';
		UNIT_CHECK(!request_id_valid(long_id));
		request_id_pick("given-1", rid);
		UNIT_CHECK(strcmp(rid, "given-1") == 0);
		request_id_pick("bad id", rid);
		request_id_pick(NULL, rid2);
		UNIT_CHECK(strlen(rid) == 32 && strlen(rid2) == 32 &&
		    strspn(rid, "0123456789abcdef") == 32 &&
		    strcmp(rid, rid2) != 0);
		request_id_pick(long_id, rid);
		UNIT_CHECK(strlen(rid) == 32);
	}

	UNIT_CASE("a forked child's generated request ids are not its parent's");
	{
		char a[REQUEST_ID_MAX + 1], b[REQUEST_ID_MAX + 1] = "";
		int pfd[2], st;
		pid_t pid;

		UNIT_CHECK(pipe(pfd) == 0);
		pid = fork();
		if (pid == 0) {
			request_id_pick(NULL, a);
			_exit(write(pfd[1], a, 32) == 32 ? 0 : 1);
		}
		close(pfd[1]);
		UNIT_CHECK(pid > 0 && read(pfd[0], b, 32) == 32);
		close(pfd[0]);
		UNIT_CHECK(waitpid(pid, &st, 0) == pid && st == 0);
		request_id_pick(NULL, a);
		/* Without a new prefix after fork both would be prefix+n. */
		UNIT_CHECK(strlen(b) == 32 && strcmp(a, b) != 0);
	}

	UNIT_CASE("route classes of request paths");
	UNIT_CHECK(strcmp(http_route_class("/health"), "health") == 0);
	UNIT_CHECK(strcmp(http_route_class("/health/detailed"), "health") == 0);
	UNIT_CHECK(strcmp(http_route_class("/healthz"), "other") == 0);
	UNIT_CHECK(strcmp(http_route_class("/metrics"), "metrics") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/mcp"), "mcp") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/mcp/srv"),
	    "mcp") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/mcpx"),
	    "api_other") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/mcp-servers/x"),
	    "mcp_servers") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/tools"),
	    "tools") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/tools/s/t"),
	    "tool_call") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a/secrets/K"),
	    "secrets") == 0);
	UNIT_CHECK(strcmp(http_route_class("/api/v1/users/a"),
	    "api_other") == 0);
	UNIT_CHECK(strcmp(http_route_class(""), "other") == 0);
	UNIT_CHECK(http_route_index("tool_call") >= 0 &&
	    strcmp(http_route_name(http_route_index("tool_call")),
	    "tool_call") == 0);
	UNIT_CHECK(http_route_index("evil") == -1);
	UNIT_CHECK(strcmp(http_route_name(99), "other") == 0);

	UNIT_CASE("metrics_listen addresses: host:port and [v6]:port");
	{
		char h[64], p[16];

		UNIT_CHECK(addr_split_hostport("10.0.0.5:9100", h, sizeof(h), p,
		    sizeof(p)) == 0 && strcmp(h, "10.0.0.5") == 0 &&
		    strcmp(p, "9100") == 0);
		UNIT_CHECK(addr_split_hostport("[::1]:0", h, sizeof(h), p,
		    sizeof(p)) == 0 && strcmp(h, "::1") == 0 &&
		    strcmp(p, "0") == 0);
		UNIT_CHECK(addr_split_hostport("::1:80", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport("host", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport(":80", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport("h:", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport("h:65536", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport("h:8x", h, sizeof(h), p,
		    sizeof(p)) == -1);
		UNIT_CHECK(addr_split_hostport("[::1]80", h, sizeof(h), p,
		    sizeof(p)) == -1);
	}
	return unit_done();
}
