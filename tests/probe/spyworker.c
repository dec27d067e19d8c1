/*
 * spyworker.c: a compromised dataagent-worker that records every byte it
 * can read, for relay.test.mjs. A test daemon runs it as its worker_path.
 * It says hello and acks its assignment like a real worker, and then,
 * for every client connection it is given (IPC_CONN: the fd and the
 * bytes already read, "pre"), appends everything it reads to
 * <home>/spy.log (home from IPC_ASSIGN; it runs as root, unconfined:
 * the worst a broken worker can be) and answers each request it reads,
 * whoever's it is, with 200 and {"tenant": its own tenant, "path"}. It
 * never hands a connection back. Requests are framed by Content-Length
 * only (the test sends no chunked body).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "proto.h"

#define IPC_FD 3
#define MAX_CONNS 256

struct spy_conn {
	int sc_fd;
	char *sc_buf;
	size_t sc_len;
};

static struct spy_conn conns[MAX_CONNS];
static int nconns;
static int logfd = -1;
static char tenant[128];
static uint8_t ibuf[IPC_HDR_SIZE + IPC_MAX_PAYLOAD];
static size_t ilen;
static int fdq[64], nfdq;

static void
send_json(uint32_t type, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	struct ipc_hdr h = { type, (uint32_t)strlen(s), 0, 0 };
	uint8_t hb[IPC_HDR_SIZE];

	ipc_encode_hdr(hb, &h);
	if (write(IPC_FD, hb, sizeof(hb)) < 0 ||
	    write(IPC_FD, s, strlen(s)) < 0)
		_exit(1);
	free(s);
	json_decref(v);
}

static void
record(const void *buf, size_t len)
{
	if (logfd != -1 && len > 0 && write(logfd, buf, len) < 0)
		_exit(1);
}

/* Answers every whole request at the front of c's buffer. */
static void
serve(struct spy_conn *c)
{
	char *end, *cl, path[512], body[1024], resp[2048];
	size_t head, need;
	long n;
	int blen, rlen;

	for (;;) {
		if (c->sc_len == 0 || (end = memmem(c->sc_buf, c->sc_len,
		    "\r\n\r\n", 4)) == NULL)
			return;
		head = (size_t)(end - c->sc_buf) + 4;
		n = 0;
		for (cl = c->sc_buf; cl < end; cl++)
			if ((cl == c->sc_buf || cl[-1] == '\n') &&
			    strncasecmp(cl, "content-length:", 15) == 0)
				n = strtol(cl + 15, NULL, 10);
		need = head + (size_t)(n > 0 ? n : 0);
		if (c->sc_len < need)
			return;
		path[0] = '\0';
		(void)sscanf(c->sc_buf, "%*s %511s", path);
		blen = snprintf(body, sizeof(body), "{\"tenant\":\"%s\","
		    "\"path\":\"%s\"}", tenant, path);
		rlen = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/json\r\nContent-Length: %d\r\n"
		    "\r\n%s", blen, body);
		if (write(c->sc_fd, resp, (size_t)rlen) < 0)
			return;
		memmove(c->sc_buf, c->sc_buf + need, c->sc_len - need);
		c->sc_len -= need;
	}
}

static void
conn_add(int fd, const uint8_t *pre, size_t prelen)
{
	struct spy_conn *c;

	if (nconns == MAX_CONNS) {
		close(fd);
		return;
	}
	c = &conns[nconns++];
	c->sc_fd = fd;
	c->sc_buf = NULL;
	c->sc_len = 0;
	record(pre, prelen);
	if (prelen > 0) {
		c->sc_buf = malloc(prelen);
		memcpy(c->sc_buf, pre, prelen);
		c->sc_len = prelen;
		serve(c);
	}
}

static void
conn_read(int i)
{
	struct spy_conn *c = &conns[i];
	char buf[65536];
	ssize_t n = read(c->sc_fd, buf, sizeof(buf));

	if (n <= 0) {
		close(c->sc_fd);
		free(c->sc_buf);
		conns[i] = conns[--nconns];
		return;
	}
	record(buf, (size_t)n);
	c->sc_buf = realloc(c->sc_buf, c->sc_len + (size_t)n);
	memcpy(c->sc_buf + c->sc_len, buf, (size_t)n);
	c->sc_len += (size_t)n;
	serve(c);
}

static void
on_msg(const struct ipc_hdr *h, const uint8_t *data, int fd)
{
	json_t *v = json_loadb((const char *)data, h->ih_len, 0, NULL);
	const char *s, *home;
	char path[1024];
	uint8_t *pre = NULL;
	size_t prelen = 0;

	if (v == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	switch (h->ih_type) {
	case IPC_ASSIGN:
		if (fd != -1)
			close(fd);
		s = json_string_value(json_object_get(v, "tenant"));
		home = json_string_value(json_object_get(v, "home"));
		if (s == NULL || home == NULL)
			_exit(1);
		snprintf(tenant, sizeof(tenant), "%s", s);
		snprintf(path, sizeof(path), "%s/spy.log", home);
		logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644);
		send_json(IPC_ASSIGN_ACK, json_pack("{s:s}", "tenant", tenant));
		break;
	case IPC_CONN:
		s = json_string_value(json_object_get(v, "pre"));
		if (s != NULL && b64_decode(s, IPC_PRE_MAX, &pre, &prelen) ==
		    -1)
			prelen = 0;
		if (fd != -1)
			conn_add(fd, pre, prelen);
		free(pre);
		break;
	case IPC_SHUTDOWN:
		_exit(0);
	default:
		if (fd != -1)
			close(fd);
		break;
	}
	json_decref(v);
}

/* Reads from the channel, with the fds that come along. */
static void
ipc_read(void)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { ibuf + ilen, sizeof(ibuf) - ilen };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	struct ipc_hdr h;
	ssize_t n;
	int r, fd;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(IPC_FD, &mh, MSG_CMSG_CLOEXEC)) <= 0)
		_exit(0);	/* the supervisor is gone */
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			size_t k, cnt = (cm->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int);

			for (k = 0; k < cnt && nfdq < 64; k++)
				memcpy(&fdq[nfdq++], CMSG_DATA(cm) +
				    k * sizeof(int), sizeof(int));
		}
	ilen += (size_t)n;
	while ((r = ipc_decode(ibuf, ilen, &h)) == 1) {
		fd = -1;
		if ((h.ih_flags & IPC_F_FD) && nfdq > 0) {
			fd = fdq[0];
			memmove(fdq, fdq + 1, sizeof(int) * (size_t)--nfdq);
		}
		on_msg(&h, ibuf + IPC_HDR_SIZE, fd);
		memmove(ibuf, ibuf + IPC_HDR_SIZE + h.ih_len,
		    ilen - IPC_HDR_SIZE - h.ih_len);
		ilen -= IPC_HDR_SIZE + h.ih_len;
	}
	if (r == -1)
		_exit(1);
}

int
main(void)
{
	struct pollfd pfd[MAX_CONNS + 1];
	int i, n;

	send_json(IPC_HELLO, json_pack("{s:s}", "version", DATAAGENT_VERSION));
	for (;;) {
		pfd[0].fd = IPC_FD;
		pfd[0].events = POLLIN;
		for (i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i].sc_fd;
			pfd[i + 1].events = POLLIN;
		}
		n = nconns;
		if (poll(pfd, (nfds_t)n + 1, -1) == -1 && errno != EINTR)
			return 1;
		/* From the end: conn_read may move the last one down. */
		for (i = n - 1; i >= 0; i--)
			if (pfd[i + 1].revents != 0)
				conn_read(i);
		if (pfd[0].revents != 0)
			ipc_read();
	}
}
