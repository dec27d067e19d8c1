/*
 * badworker.c: a compromised dataagent-worker, for the hostile-tenant
 * suite. A test daemon runs it as its worker_path. It says hello like a
 * real worker; once assigned, the tenant's name picks the misbehaviour:
 *
 *   badlen       a header whose length is over the maximum
 *   badtype      a message type no worker may send
 *   badjson      a payload that is not JSON
 *   fdpass       an fd with a message that carries none
 *   othertenant  an ack naming another tenant
 *   flood        an honest ack, 50000 stats messages, then a bad type
 *   badtoolstats an honest ack, one valid tool-stats report (tool
 *                "spoof", count 1), then one whose buckets do not add up
 *                to its count
 *   badcounters  an honest ack, one valid IPC_COUNTERS report (server
 *                "s" restarted 3 times), then one with a route that is
 *                not one of ours
 *   badaudit     an honest ack, one valid tool-call audit row (request
 *                id "good-1"), then one whose request id has a newline
 *   ratehog      an honest ack, then IPC_RATE_REQ for a billion tokens
 *   slothog      an honest ack, then IPC_SLOT_REQ after IPC_SLOT_REQ,
 *                far past its tenant's limit and SLOT_REQ_PER_S
 *   slotfree     an honest ack, one IPC_SLOT_REQ (granted), then
 *                IPC_SLOT_RELEASE of two
 *   sigsys       an honest ack, then, under the real worker.policy from
 *                the assignment, a system call the policy refuses
 *   hbblock      an honest ack; reads the first client's request, clears
 *                O_NONBLOCK on its socket and hands it back with no
 *                bytes read ("pre"): the supervisor must not block on it
 *   hbdup        an honest ack; reads the first client's request, then
 *                hands the socket back 6000 times (dups of one socket)
 *   hbtwice      the same, twice
 *   hbmany       an honest ack; hands back every connection it gets,
 *                once each and honestly, after reading its request
 *   hbforeign    an honest ack; waits for the first client, then dials a
 *                listener of its own on 127.0.0.1, writes GET /metrics
 *                into the far end and hands back the socket it dialled;
 *                a child keeps the far end and reports what came back
 *                (foreign.json beside the binary: {"got":N})
 *   termaudit    an honest ack, then one valid tool-call audit row whose
 *                tool name holds ESC [ 2 J and a C1 CSI (request id
 *                "term-1"), then silence
 *   logforge     an honest ack, then on stderr: a line dressed as
 *                dataagentd's "worker assigned" for tenant "victim"
 *                ("forged":"yes"), a JSON line and a raw line with
 *                escape sequences, then 20000 lines ("flood", "n")
 *   storeflood   an honest ack, then IPC_STORE_REQs one at a time: 12
 *                server_put (s0..s11), a secret_put of 2000 bytes, 6
 *                secret_put (K0..K5); then 3000 more secret_put in
 *                batches of 100; logs "store answers" with each first
 *                answer's status ("first") and the flood's count by
 *                status and by error ("flood", "errors")
 *   auditflood   an honest ack, then 100 IPC_AUDIT batches of 64 valid
 *                tool-call rows at once; logs "audit sent"
 *   cycler       an honest ack; reads what comes (its config and client
 *                connection), asks for 4 upstream slots and waits for
 *                the answers, then says it is idle and ignores the
 *                IPC_SHUTDOWN: a tenant that cycles workers to hoard
 *                slots, spares and egress addresses
 *   bystander    an honest ack, then one IPC_SLOT_REQ
 *   deafconfig   an honest ack, then never reads again and sends 100
 *                server_put requests of a 256 KiB server: each answer
 *                and configuration push waits in the supervisor
 *   deafconns    (as anything else) an honest ack, then never reads
 *                again: the client connections handed to it wait with
 *                their fds
 *   anything else: an honest ack, then silence
 *
 * Every one, as a spare, first writes on stderr a line that claims
 * tenant "victim" ("msg":"spare says").
 *
 * The supervisor must kill it and log why, and keep serving.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <jansson.h>

#include "scpolicy.h"

#define IPC_FD 3

static void
send_msg(uint32_t type, uint32_t len_field, const char *payload, int fd)
{
	uint32_t hdr[4] = { type, len_field, 0, fd != -1 ? 1u : 0u };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov[2] = {
		{ hdr, sizeof(hdr) },
		{ (void *)payload, payload != NULL ? strlen(payload) : 0 },
	};
	struct msghdr mh;
	struct cmsghdr *cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (fd != -1) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	(void)sendmsg(IPC_FD, &mh, MSG_NOSIGNAL);
}

static void
send_json(uint32_t type, const char *json)
{
	send_msg(type, (uint32_t)strlen(json), json, -1);
}

static char *assign_json;	/* the whole assignment */

static int
read_full(void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(IPC_FD, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The next IPC_STORE_RES (103), others skipped; NULL on EOF. */
static json_t *
store_reply(void)
{
	uint32_t hdr[4];
	char *buf;
	json_t *v;

	for (;;) {
		if (read_full(hdr, sizeof(hdr)) == -1 || hdr[1] > (1u << 24) ||
		    (buf = calloc(1, hdr[1] + 1)) == NULL ||
		    read_full(buf, hdr[1]) == -1)
			return NULL;
		if (hdr[0] != 103) {
			free(buf);
			continue;
		}
		v = json_loads(buf, 0, NULL);
		free(buf);
		return v;
	}
}

static void
store_send(uint32_t id, json_t *op)
{
	char *p = json_dumps(op, JSON_COMPACT);
	uint32_t hdr[4] = { 4, (uint32_t)strlen(p), id, 0 };	/* STORE_REQ */
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { p, strlen(p) } };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	(void)sendmsg(IPC_FD, &mh, MSG_NOSIGNAL);
	free(p);
	json_decref(op);
}

static int
reply_status(json_t *r)
{
	if (r == NULL)
		return -1;
	if (json_is_true(json_object_get(r, "ok")))
		return 200;
	return (int)json_integer_value(json_object_get(r, "status"));
}

/* storeflood: see the top. */
static void
store_flood(void)
{
	json_t *first = json_array(), *flood = json_object();
	json_t *errors = json_object(), *r, *line;
	char name[32], big[2001], key[16], *p;
	uint32_t id = 1;
	int i, j;

	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		store_send(id++, json_pack("{s:s,s:{s:s,s:s}}", "op",
		    "server_put", "server", "name", name, "command",
		    "/bin/cat"));
		r = store_reply();
		json_array_append_new(first, json_integer(reply_status(r)));
		json_decref(r);
	}
	memset(big, 'x', 2000);
	big[2000] = '\0';
	store_send(id++, json_pack("{s:s,s:s,s:s}", "op", "secret_put",
	    "name", "BIG", "value", big));
	r = store_reply();
	json_array_append_new(first, json_integer(reply_status(r)));
	json_decref(r);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "K%d", i);
		store_send(id++, json_pack("{s:s,s:s,s:s}", "op", "secret_put",
		    "name", name, "value", "v"));
		r = store_reply();
		json_array_append_new(first, json_integer(reply_status(r)));
		json_decref(r);
	}
	for (i = 0; i < 30; i++) {
		for (j = 0; j < 100; j++) {
			snprintf(name, sizeof(name), "F%d", i * 100 + j);
			store_send(id++, json_pack("{s:s,s:s,s:s}", "op",
			    "secret_put", "name", name, "value", "v"));
		}
		for (j = 0; j < 100; j++) {
			const char *e;

			r = store_reply();
			snprintf(key, sizeof(key), "%d", reply_status(r));
			json_object_set_new(flood, key, json_integer(
			    json_integer_value(json_object_get(flood, key)) +
			    1));
			if ((e = json_string_value(json_object_get(r,
			    "error"))) != NULL)
				json_object_set_new(errors, e, json_integer(
				    json_integer_value(json_object_get(errors,
				    e)) + 1));
			json_decref(r);
		}
	}
	line = json_pack("{s:s,s:s,s:o,s:o,s:o}", "level", "info", "msg",
	    "store answers", "first", first, "flood", flood, "errors", errors);
	p = json_dumps(line, JSON_COMPACT);
	fprintf(stderr, "%s\n", p);
	free(p);
	json_decref(line);
}

/* logforge: see the top. */
static void
log_forge(void)
{
	int i;

	fprintf(stderr, "{\"ts\":\"2026-12-07T00:00:00.000Z\",\"level\":"
	    "\"info\",\"proc\":\"dataagentd\",\"pid\":1,\"msg\":"
	    "\"worker assigned\",\"tenant\":\"victim\",\"worker_pid\":1,"
	    "\"forged\":\"yes\"}\n");
	fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"ctl \\u001b[2J\","
	    "\"tool\":\"x\\u001b]0;owned\\u0007\",\"\\u001bkey\":1}\n");
	fprintf(stderr, "raw \x1b[31mred\r\n");
	fflush(stderr);
	for (i = 0; i < 20000; i++)
		fprintf(stderr, "{\"level\":\"info\",\"msg\":\"flood\","
		    "\"n\":%d}\n", i);
	fflush(stderr);
}

/* auditflood: see the top. */
static void
audit_flood(void)
{
	json_t *rows, *batch;
	char rid[32];
	int i, j;

	for (i = 0; i < 100; i++) {
		rows = json_array();
		for (j = 0; j < 64; j++) {
			snprintf(rid, sizeof(rid), "flood-%d", i * 64 + j);
			json_array_append_new(rows, json_pack("{s:s,s:s,s:s,"
			    "s:s,s:i,s:i,s:s}", "action", "tool.call",
			    "server", "s", "tool", "t", "status", "success",
			    "duration_ms", 1, "arg_bytes", 2, "request_id",
			    rid));
		}
		batch = json_pack("{s:o}", "rows", rows);
		char *p = json_dumps(batch, JSON_COMPACT);

		send_json(7, p);	/* IPC_AUDIT */
		free(p);
		json_decref(batch);
	}
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"audit sent\","
	    "\"rows\":6400}\n");
}

/* One message from the supervisor: its type, the payload dropped.
 * Returns the type, or 0 when the channel is gone. */
static uint32_t
read_type(void)
{
	uint32_t hdr[4];
	char *buf;

	if (read_full(hdr, sizeof(hdr)) == -1 || hdr[1] > (1u << 22) ||
	    (buf = malloc(hdr[1] + 1)) == NULL)
		return 0;
	if (read_full(buf, hdr[1]) == -1)
		hdr[0] = 0;
	free(buf);
	return hdr[0];
}

/* cycler: gets its connection and 4 slot answers, then asks to retire. */
static void
cycle(void)
{
	int conns = 0, answers = 0, i;
	uint32_t t;
	char idle[64];

	for (i = 0; i < 4; i++)
		send_json(12, "{\"server\":\"s\"}");	/* IPC_SLOT_REQ */
	while (conns == 0 || answers < 4) {
		if ((t = read_type()) == 0)
			return;
		if (t == 102)		/* IPC_CONN */
			conns++;
		else if (t == 106)	/* IPC_SLOT_GRANT */
			answers++;
	}
	snprintf(idle, sizeof(idle), "{\"received\":%d}", conns);
	send_json(6, idle);		/* IPC_IDLE */
	/* IPC_SHUTDOWN comes; it stays. */
}

/* deafconfig: a server of 64 arguments of 4000 bytes, put 100 times. */
static void
put_flood(void)
{
	json_t *args = json_array(), *req;
	char *arg, *s;
	int i;

	if ((arg = malloc(4001)) == NULL)
		return;
	memset(arg, 'a', 4000);
	arg[4000] = '\0';
	for (i = 0; i < 64; i++)
		json_array_append_new(args, json_string(arg));
	free(arg);
	req = json_pack("{s:s,s:{s:s,s:s,s:o}}", "op", "server_put",
	    "server", "name", "big", "command", "/bin/true", "args", args);
	if (req == NULL || (s = json_dumps(req, JSON_COMPACT)) == NULL)
		return;
	for (i = 0; i < 100; i++) {
		uint32_t hdr[4] = { 4, (uint32_t)strlen(s), (uint32_t)i, 0 };
		struct iovec iov[2] = { { hdr, sizeof(hdr) },
		    { s, strlen(s) } };
		struct msghdr mh;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		if (sendmsg(IPC_FD, &mh, MSG_NOSIGNAL) == -1)
			break;		/* killed: the channel is gone */
	}
	free(s);
	json_decref(req);
}

/* Reads messages until an assignment; copies its tenant. */
static int
wait_assign(char *tenant, size_t len)
{
	uint32_t hdr[4];
	char *buf, *t, *e;

	for (;;) {
		if (read(IPC_FD, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
		    hdr[1] > (1u << 22))
			return -1;
		if ((buf = calloc(1, hdr[1] + 1)) == NULL)
			return -1;
		if (hdr[1] > 0 && read(IPC_FD, buf, hdr[1]) != (ssize_t)hdr[1]) {
			free(buf);
			return -1;
		}
		if (hdr[0] == 100 && (t = strstr(buf, "\"tenant\":\"")) != NULL) {
			t += 10;
			if ((e = strchr(t, '"')) != NULL && (size_t)(e - t) < len) {
				memcpy(tenant, t, (size_t)(e - t));
				tenant[e - t] = '\0';
				assign_json = buf;
				return 0;
			}
		}
		free(buf);
	}
}

/* Reads messages until a client connection (IPC_CONN) comes; returns
 * its fd, or -1. */
static int
wait_conn(void)
{
	uint32_t hdr[4];
	char cbuf[CMSG_SPACE(sizeof(int))], *buf;
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		if (recvmsg(IPC_FD, &mh, MSG_WAITALL) != (ssize_t)sizeof(hdr) ||
		    hdr[1] > (1u << 22))
			return -1;
		fd = -1;
		if ((cm = CMSG_FIRSTHDR(&mh)) != NULL &&
		    cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		if ((buf = malloc(hdr[1] + 1)) == NULL ||
		    (hdr[1] > 0 && recv(IPC_FD, buf, hdr[1], MSG_WAITALL) !=
		    (ssize_t)hdr[1]))
			return -1;
		free(buf);
		if (hdr[0] == 102 && fd != -1)	/* IPC_CONN */
			return fd;
		if (fd != -1)
			close(fd);
	}
}

/* Reads the client's request head (up to the empty line) off fd. */
static void
read_head(int fd)
{
	char buf[8192];
	size_t len = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	while (len < sizeof(buf) - 1 && poll(&pfd, 1, 5000) == 1) {
		if ((n = recv(fd, buf + len, sizeof(buf) - 1 - len,
		    MSG_DONTWAIT)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
}

/* Writes {"got":N} to foreign.json beside this binary: the worker's
 * stderr is a pipe the supervisor closes once the worker is reaped,
 * before this report is due. */
static void
report_foreign(int got)
{
	char path[4096], *slash;
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	if (n <= 0)
		return;
	path[n] = '\0';
	if ((slash = strrchr(path, '/')) == NULL)
		return;
	strcpy(slash, "/foreign.json");
	if ((f = fopen(path, "w")) == NULL)
		return;
	fprintf(f, "{\"got\":%d}\n", got);
	fclose(f);
}

/* A socket dialled to a listener of our own on 127.0.0.1, whose far end
 * has GET /metrics written into it; a child keeps the far end and logs
 * how many bytes came back to it within three seconds. */
static int
dial_foreign(void)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: "
	    "localhost\r\n\r\n";
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int l, a, b, got = 0;
	char buf[4096];
	struct pollfd pfd;
	ssize_t n;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sin, &slen) == -1 ||
	    (a = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(a, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (b = accept(l, NULL, NULL)) == -1 ||
	    write(b, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return -1;
	close(l);
	if (fork() == 0) {
		close(a);
		close(IPC_FD);
		pfd.fd = b;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, 3000) == 1 &&
		    (n = read(b, buf, sizeof(buf))) > 0)
			got += (int)n;
		report_foreign(got);
		_exit(0);
	}
	close(b);
	return a;
}

int
main(void)
{
	char tenant[128], ack[256];
	int i;

	send_json(1, "{\"version\":\"bad\"}");
	fprintf(stderr, "{\"level\":\"info\",\"msg\":\"spare says\","
	    "\"tenant\":\"victim\"}\n");
	fflush(stderr);
	if (wait_assign(tenant, sizeof(tenant)) == -1)
		return 1;
	snprintf(ack, sizeof(ack), "{\"tenant\":\"%s\"}", tenant);
	if (strcmp(tenant, "badlen") == 0)
		send_msg(5, 0xffffffffu, "{}", -1);
	else if (strcmp(tenant, "badtype") == 0)
		send_json(77, "{}");
	else if (strcmp(tenant, "badjson") == 0) {
		send_json(2, ack);
		send_json(5, "this is not json");
	} else if (strcmp(tenant, "fdpass") == 0) {
		send_json(2, ack);
		send_msg(5, 2, "{}", open("/dev/null", O_RDONLY));
	} else if (strcmp(tenant, "othertenant") == 0)
		send_json(2, "{\"tenant\":\"victim\"}");
	else if (strcmp(tenant, "sigsys") == 0) {
		json_t *a = json_loads(assign_json, 0, NULL);
		struct scpolicy *p = NULL;
		char err[256];

		send_json(2, ack);
		if (a == NULL || scpolicy_parse(json_string_value(
		    json_object_get(a, "worker_policy")), "worker.policy", &p,
		    err, sizeof(err)) == -1 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    scpolicy_trap_install("badworker") == -1 ||
		    scpolicy_apply(p, err, sizeof(err)) == -1)
			return 2;
		(void)socket(AF_INET, SOCK_STREAM, 0);	/* trapped */
		return 3;
	} else if (strcmp(tenant, "badtoolstats") == 0) {
		send_json(2, ack);
		send_json(9, "{\"tools\":[{\"server\":\"s\",\"tool\":"
		    "\"spoof\",\"status\":\"success\",\"count\":1,"
		    "\"sum_ms\":1,\"buckets\":[1,0,0,0,0,0,0,0,0,0,0,0,0]}]}");
		send_json(9, "{\"tools\":[{\"server\":\"s\",\"tool\":"
		    "\"spoof2\",\"status\":\"success\",\"count\":1000,"
		    "\"sum_ms\":1,\"buckets\":[1,0,0,0,0,0,0,0,0,0,0,0,0]}]}");
	} else if (strcmp(tenant, "badcounters") == 0) {
		send_json(2, ack);
		send_json(10, "{\"http\":[{\"route\":\"mcp\",\"code\":299,"
		    "\"n\":5}],\"cache\":{\"hit\":0,\"miss\":0},\"servers\":"
		    "[{\"server\":\"s\",\"restarts\":3,\"connects\":0,"
		    "\"connect_failures\":0,\"closed\":0,\"closed_sum_ms\":0,"
		    "\"closed_buckets\":[0,0,0,0,0,0,0,0,0]}]}");
		send_json(10, "{\"http\":[{\"route\":\"evil\",\"code\":298,"
		    "\"n\":5}],\"cache\":{\"hit\":0,\"miss\":0},\"servers\":"
		    "[{\"server\":\"s2\",\"restarts\":1000,\"connects\":0,"
		    "\"connect_failures\":0,\"closed\":0,\"closed_sum_ms\":0,"
		    "\"closed_buckets\":[0,0,0,0,0,0,0,0,0]}]}");
	} else if (strcmp(tenant, "badaudit") == 0) {
		send_json(2, ack);
		send_json(7, "{\"action\":\"tool.call\",\"server\":\"s\","
		    "\"tool\":\"t\",\"status\":\"success\",\"duration_ms\":1,"
		    "\"arg_bytes\":2,\"request_id\":\"good-1\"}");
		send_json(7, "{\"action\":\"tool.call\",\"server\":\"s\","
		    "\"tool\":\"t\",\"status\":\"success\",\"duration_ms\":1,"
		    "\"arg_bytes\":2,\"request_id\":\"bad\\nid\"}");
	} else if (strcmp(tenant, "logforge") == 0) {
		send_json(2, ack);
		log_forge();
	} else if (strcmp(tenant, "storeflood") == 0) {
		send_json(2, ack);
		store_flood();
	} else if (strcmp(tenant, "auditflood") == 0) {
		send_json(2, ack);
		audit_flood();
	} else if (strcmp(tenant, "termaudit") == 0) {
		send_json(2, ack);
		send_json(7, "{\"rows\":[{\"action\":\"tool.call\","
		    "\"server\":\"s\",\"tool\":\"\\u001b[2J\\u009b31m\","
		    "\"status\":\"success\",\"duration_ms\":1,"
		    "\"arg_bytes\":2,\"request_id\":\"term-1\"}]}");
	} else if (strcmp(tenant, "ratehog") == 0) {
		send_json(2, ack);
		send_json(11, "{\"want\":1000000000}");	/* IPC_RATE_REQ */
	} else if (strcmp(tenant, "slothog") == 0) {
		send_json(2, ack);
		for (i = 0; i < 2000; i++)
			send_json(12, "{\"server\":\"s\"}");	/* IPC_SLOT_REQ */
	} else if (strcmp(tenant, "slotfree") == 0) {
		send_json(2, ack);
		send_json(12, "{\"server\":\"s\"}");
		sleep(1);
		send_json(13, "{\"n\":2}");		/* IPC_SLOT_RELEASE */
	} else if (strcmp(tenant, "hbblock") == 0) {
		int fd, fl;

		send_json(2, ack);
		if ((fd = wait_conn()) == -1)
			return 2;
		read_head(fd);
		fl = fcntl(fd, F_GETFL);
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		send_msg(8, 2, "{}", fd);	/* IPC_HANDBACK */
	} else if (strcmp(tenant, "hbdup") == 0 ||
	    strcmp(tenant, "hbtwice") == 0) {
		int fd, n = strcmp(tenant, "hbdup") == 0 ? 6000 : 2;

		send_json(2, ack);
		if ((fd = wait_conn()) == -1)
			return 2;
		read_head(fd);
		for (i = 0; i < n; i++)
			send_msg(8, 2, "{}", fd);
	} else if (strcmp(tenant, "hbmany") == 0) {
		int fd;

		send_json(2, ack);
		while ((fd = wait_conn()) != -1) {
			read_head(fd);
			send_msg(8, 2, "{}", fd);
			close(fd);
		}
	} else if (strcmp(tenant, "hbforeign") == 0) {
		int fd;

		send_json(2, ack);
		if (wait_conn() == -1 || (fd = dial_foreign()) == -1)
			return 2;
		send_msg(8, 2, "{}", fd);
	} else if (strcmp(tenant, "cycler") == 0) {
		send_json(2, ack);
		cycle();
	} else if (strcmp(tenant, "bystander") == 0) {
		send_json(2, ack);
		send_json(12, "{\"server\":\"s\"}");
	} else if (strcmp(tenant, "deafconfig") == 0) {
		send_json(2, ack);
		put_flood();
	} else if (strcmp(tenant, "flood") == 0) {
		send_json(2, ack);
		for (i = 0; i < 50000; i++)
			send_json(5, "{\"connections\":1,\"upstreams\":0,"
			    "\"sessions\":0}");
		send_json(77, "{}");
	} else
		send_json(2, ack);
	for (;;)
		pause();
}
