/*
 * test_ipc.c: IPC framing (common/ipc.c) — the pure decoder and a real
 * channel pair on a socketpair with fd passing.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "unit.h"

struct rx {
	int r_msgs;
	uint32_t r_type[8];
	uint32_t r_peer[8];
	char r_data[8][64];
	int r_fd[8];
	const char *r_error;
	int r_reject_type;	/* on_msg returns -1 for this type */
	struct ipc_chan *r_ch;
	struct event_base *r_base;
};

static int
rx_msg(struct ipc_chan *ch, struct ipc_msg *msg, void *arg)
{
	struct rx *rx = arg;
	int i = rx->r_msgs;

	if (msg->im_hdr.ih_type == (uint32_t)rx->r_reject_type)
		return -1;
	if (i < 8) {
		rx->r_type[i] = msg->im_hdr.ih_type;
		rx->r_peer[i] = msg->im_hdr.ih_peer;
		snprintf(rx->r_data[i], sizeof(rx->r_data[i]), "%.*s",
		    (int)msg->im_hdr.ih_len, (const char *)msg->im_data);
		rx->r_fd[i] = msg->im_fd;
		msg->im_fd = -1;
	}
	rx->r_msgs++;
	if (rx->r_msgs >= 3)
		event_base_loopbreak(rx->r_base);
	return 0;
}

static void
rx_error(struct ipc_chan *ch, const char *why, void *arg)
{
	struct rx *rx = arg;

	rx->r_error = why;
	ipc_chan_free(&rx->r_ch);	/* freeing from on_error is allowed */
	event_base_loopbreak(rx->r_base);
}

static void
run_loop(struct event_base *base)
{
	struct timeval tv = { 2, 0 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

int
main(void)
{
	struct ipc_hdr h, d;
	uint8_t buf[IPC_HDR_SIZE + 8];
	struct event_base *base;
	struct ipc_chan *tx;
	struct rx rx, txrx;
	int sv[2], pfd[2], i;
	struct stat a, b;

	UNIT_CASE("decode needs a whole header, then a whole payload");
	h.ih_type = 7;
	h.ih_len = 5;
	h.ih_peer = 42;
	h.ih_flags = 0;
	ipc_encode_hdr(buf, &h);
	memcpy(buf + IPC_HDR_SIZE, "hello", 5);
	UNIT_CHECK(ipc_decode(buf, 0, &d) == 0);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE - 1, &d) == 0);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE + 4, &d) == 0);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE + 5, &d) == 1);
	UNIT_CHECK(d.ih_type == 7 && d.ih_len == 5 && d.ih_peer == 42);

	UNIT_CASE("decode rejects type 0, unknown flags, oversized length");
	h.ih_type = 0;
	ipc_encode_hdr(buf, &h);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE, &d) == -1);
	h.ih_type = 1;
	h.ih_flags = 0x80;
	ipc_encode_hdr(buf, &h);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE, &d) == -1);
	h.ih_flags = 0;
	h.ih_len = IPC_MAX_PAYLOAD + 1;
	ipc_encode_hdr(buf, &h);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE, &d) == -1);
	h.ih_len = IPC_MAX_PAYLOAD;
	ipc_encode_hdr(buf, &h);
	UNIT_CHECK(ipc_decode(buf, IPC_HDR_SIZE, &d) == 0);

	UNIT_CASE("messages and an fd cross a socketpair in order");
	base = event_base_new();
	UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	UNIT_CHECK(pipe(pfd) == 0);
	memset(&rx, 0, sizeof(rx));
	rx.r_base = base;
	rx.r_ch = ipc_chan_new(base, sv[1], rx_msg, rx_error, &rx);
	memset(&txrx, 0, sizeof(txrx));
	txrx.r_base = base;
	tx = ipc_chan_new(base, sv[0], rx_msg, rx_error, &txrx);
	txrx.r_ch = tx;
	UNIT_CHECK(rx.r_ch != NULL && tx != NULL);
	UNIT_CHECK(ipc_send(tx, 10, 1, -1, "one", 3) == 0);
	UNIT_CHECK(ipc_send(tx, 11, 2, pfd[0], "two", 3) == 0);
	UNIT_CHECK(ipc_send(tx, 12, 3, -1, NULL, 0) == 0);
	run_loop(base);
	UNIT_CHECK(rx.r_msgs == 3);
	UNIT_CHECK(rx.r_type[0] == 10 && rx.r_peer[0] == 1 &&
	    strcmp(rx.r_data[0], "one") == 0 && rx.r_fd[0] == -1);
	UNIT_CHECK(rx.r_type[1] == 11 && strcmp(rx.r_data[1], "two") == 0);
	UNIT_CHECK(rx.r_fd[1] >= 0 && fstat(rx.r_fd[1], &a) == 0 &&
	    fstat(pfd[0], &b) == 0 && a.st_ino == b.st_ino);
	UNIT_CHECK(rx.r_fd[1] < 0 ||
	    (fcntl(rx.r_fd[1], F_GETFD) & FD_CLOEXEC) != 0);
	UNIT_CHECK(rx.r_type[2] == 12 && rx.r_data[2][0] == '\0');
	UNIT_CHECK(rx.r_error == NULL);
	for (i = 0; i < 3; i++)
		fd_close(&rx.r_fd[i]);

	UNIT_CASE("a callback's -1 is a protocol violation");
	rx.r_reject_type = 13;
	rx.r_msgs = 0;
	UNIT_CHECK(ipc_send(tx, 13, 0, -1, "x", 1) == 0);
	run_loop(base);
	UNIT_CHECK(rx.r_error != NULL &&
	    strcmp(rx.r_error, "protocol violation") == 0);
	UNIT_CHECK(rx.r_ch == NULL);
	ipc_chan_free(&txrx.r_ch);	/* its peer is gone */

	UNIT_CASE("a flagged frame without its fd is refused");
	UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	memset(&rx, 0, sizeof(rx));
	rx.r_base = base;
	rx.r_ch = ipc_chan_new(base, sv[1], rx_msg, rx_error, &rx);
	h.ih_type = 5;
	h.ih_len = 0;
	h.ih_peer = 0;
	h.ih_flags = IPC_F_FD;
	ipc_encode_hdr(buf, &h);
	UNIT_CHECK(write(sv[0], buf, IPC_HDR_SIZE) == IPC_HDR_SIZE);
	run_loop(base);
	UNIT_CHECK(rx.r_error != NULL &&
	    strcmp(rx.r_error, "frame without its fd") == 0);
	close(sv[0]);

	UNIT_CASE("a malformed header and EOF are reported");
	UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	memset(&rx, 0, sizeof(rx));
	rx.r_base = base;
	rx.r_ch = ipc_chan_new(base, sv[1], rx_msg, rx_error, &rx);
	memset(buf, 0xff, sizeof(buf));
	UNIT_CHECK(write(sv[0], buf, IPC_HDR_SIZE) == IPC_HDR_SIZE);
	run_loop(base);
	UNIT_CHECK(rx.r_error != NULL &&
	    strcmp(rx.r_error, "malformed header") == 0);
	close(sv[0]);
	UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	memset(&rx, 0, sizeof(rx));
	rx.r_base = base;
	rx.r_ch = ipc_chan_new(base, sv[1], rx_msg, rx_error, &rx);
	close(sv[0]);
	run_loop(base);
	UNIT_CHECK(rx.r_error != NULL && strcmp(rx.r_error, "eof") == 0);

	UNIT_CASE("payload JSON must be one object without NUL bytes");
	{
		struct ipc_msg m;
		json_t *v;

		memset(&m, 0, sizeof(m));
		m.im_data = (const uint8_t *)"{\"a\":1}";
		m.im_hdr.ih_len = 7;
		v = ipc_payload_json(&m);
		UNIT_CHECK(v != NULL && json_integer_value(
		    json_object_get(v, "a")) == 1);
		json_decref(v);
		m.im_data = (const uint8_t *)"[1]";
		m.im_hdr.ih_len = 3;
		UNIT_CHECK(ipc_payload_json(&m) == NULL);
		m.im_data = (const uint8_t *)"{\"a\":1}\0";
		m.im_hdr.ih_len = 8;
		UNIT_CHECK(ipc_payload_json(&m) == NULL);
		m.im_data = (const uint8_t *)"{\"a\":1,\"a\":2}";
		m.im_hdr.ih_len = 13;
		UNIT_CHECK(ipc_payload_json(&m) == NULL);
	}

	UNIT_CASE("oversized payloads are refused by the sender");
	{
		static char huge[IPC_MAX_PAYLOAD + 1];
		int tsv[2];
		struct ipc_chan *c;

		UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) == 0);
		c = ipc_chan_new(base, tsv[0], rx_msg, rx_error, &txrx);
		UNIT_CHECK(ipc_send(c, 1, 0, -1, huge, sizeof(huge)) == -1);
		ipc_chan_free(&c);
		UNIT_CHECK(c == NULL);
		close(tsv[1]);
	}

	UNIT_CASE("a send queue over its byte bound: refused, reported, "
	    "never above the bound");
	{
		static char chunk[64 * 1024];
		const size_t bound = 256 * 1024;
		struct rx q;
		int tsv[2], n, ok = 1;

		UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) == 0);
		memset(&q, 0, sizeof(q));
		q.r_base = base;
		q.r_ch = ipc_chan_new(base, tsv[0], rx_msg, rx_error, &q);
		ipc_chan_set_bounds(q.r_ch, bound, 0);
		/* The peer never reads: the socket fills, then the queue. */
		for (n = 0; n < 1000; n++) {
			if (ipc_send(q.r_ch, 1, 0, -1, chunk,
			    sizeof(chunk)) == -1)
				break;
			if (ipc_pending(q.r_ch) > bound)
				ok = 0;
		}
		UNIT_CHECK(ok && n < 1000);
		UNIT_CHECK(ipc_pending(q.r_ch) + IPC_HDR_SIZE + sizeof(chunk) >
		    bound);
		/* Refused from now on; the error comes from the loop. */
		UNIT_CHECK(ipc_send(q.r_ch, 1, 0, -1, "x", 1) == -1);
		UNIT_CHECK(q.r_error == NULL);
		run_loop(base);
		UNIT_CHECK(q.r_error != NULL &&
		    strcmp(q.r_error, IPC_ERR_QUEUE_BYTES) == 0);
		UNIT_CHECK(q.r_ch == NULL);
		close(tsv[1]);
	}

	UNIT_CASE("a send queue over its fd bound: refused, reported");
	{
		static char big[1024 * 1024];
		struct rx q;
		int tsv[2];

		UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) == 0);
		memset(&q, 0, sizeof(q));
		q.r_base = base;
		q.r_ch = ipc_chan_new(base, tsv[0], rx_msg, rx_error, &q);
		ipc_chan_set_bounds(q.r_ch, 0, 3);
		/* More than the socket takes: what follows waits. */
		UNIT_CHECK(ipc_send(q.r_ch, 1, 0, -1, big, sizeof(big)) == 0);
		UNIT_CHECK(ipc_pending(q.r_ch) > 0);
		UNIT_CHECK(ipc_send(q.r_ch, 2, 0, pfd[0], "a", 1) == 0);
		UNIT_CHECK(ipc_send(q.r_ch, 2, 0, pfd[0], "b", 1) == 0);
		UNIT_CHECK(ipc_send(q.r_ch, 2, 0, -1, "c", 1) == 0);
		UNIT_CHECK(ipc_send(q.r_ch, 2, 0, pfd[0], "d", 1) == 0);
		UNIT_CHECK(ipc_pending_fds(q.r_ch) == 3);
		UNIT_CHECK(ipc_send(q.r_ch, 2, 0, pfd[0], "e", 1) == -1);
		UNIT_CHECK(ipc_pending_fds(q.r_ch) == 3);
		run_loop(base);
		UNIT_CHECK(q.r_error != NULL &&
		    strcmp(q.r_error, IPC_ERR_QUEUE_FDS) == 0);
		UNIT_CHECK(q.r_ch == NULL);
		close(tsv[1]);
	}

	UNIT_CASE("ipc_send_latest replaces a waiting frame of its type, not "
	    "one being written");
	{
		static char big[1024 * 1024];
		struct ipc_chan *c;
		struct rx q;
		int tsv[2];
		size_t before;

		UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) == 0);
		memset(&q, 0, sizeof(q));
		q.r_base = base;
		c = ipc_chan_new(base, tsv[0], rx_msg, rx_error, &txrx);
		/* Partly written: it stays as it is. */
		UNIT_CHECK(ipc_send_latest(c, 2, 0, big, sizeof(big)) == 0);
		before = ipc_pending(c);
		UNIT_CHECK(before > 0 && before < IPC_HDR_SIZE + sizeof(big));
		UNIT_CHECK(ipc_send_latest(c, 2, 0, "a", 1) == 0);
		UNIT_CHECK(ipc_pending(c) == before + IPC_HDR_SIZE + 1);
		UNIT_CHECK(ipc_send(c, 3, 0, -1, "x", 1) == 0);
		UNIT_CHECK(ipc_send_latest(c, 2, 7, "bb", 2) == 0);
		UNIT_CHECK(ipc_pending(c) == before + 2 * IPC_HDR_SIZE + 3);
		q.r_ch = ipc_chan_new(base, tsv[1], rx_msg, rx_error, &q);
		run_loop(base);
		UNIT_CHECK(q.r_msgs == 3 && q.r_error == NULL);
		UNIT_CHECK(q.r_type[0] == 2 && q.r_type[1] == 2 &&
		    q.r_peer[1] == 7 && strcmp(q.r_data[1], "bb") == 0 &&
		    q.r_type[2] == 3 && strcmp(q.r_data[2], "x") == 0);
		UNIT_CHECK(ipc_pending(c) == 0);
		ipc_chan_free(&c);
		ipc_chan_free(&q.r_ch);
	}

	UNIT_CASE("ipc_send_latest after the socket took a waiting frame "
	    "whole: the new one is queued, none lost");
	{
		static char mid[200 * 1024];
		static uint8_t got[512 * 1024];
		size_t have = 0, pos = 0;
		struct ipc_chan *c;
		struct ipc_hdr fh;
		int tsv[2], sz = 64 * 1024, n = 0;
		uint32_t types[4] = { 0 };
		char last[3][4] = { "", "", "" };
		ssize_t r;

		UNIT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tsv) == 0);
		UNIT_CHECK(setsockopt(tsv[0], SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz)) == 0);
		UNIT_CHECK(fd_nonblock(tsv[1]) == 0);
		c = ipc_chan_new(base, tsv[0], rx_msg, rx_error, &txrx);
		UNIT_CHECK(ipc_send(c, 1, 0, -1, mid, sizeof(mid)) == 0);
		UNIT_CHECK(ipc_send_latest(c, 2, 0, "a", 1) == 0);
		UNIT_CHECK(ipc_pending(c) > IPC_HDR_SIZE + 1);
		/* The peer reads what is there: the rest and "a" now fit. */
		while ((r = read(tsv[1], got + have, sizeof(got) - have)) > 0)
			have += (size_t)r;
		UNIT_CHECK(ipc_send_latest(c, 2, 0, "b", 1) == 0);
		while ((r = read(tsv[1], got + have, sizeof(got) - have)) > 0)
			have += (size_t)r;
		UNIT_CHECK(ipc_pending(c) == 0);
		while (n < 4 && ipc_decode(got + pos, have - pos, &fh) == 1) {
			types[n] = fh.ih_type;
			if (n < 3)
				snprintf(last[n], sizeof(last[n]), "%.*s",
				    fh.ih_len < 3 ? (int)fh.ih_len : 3,
				    (const char *)got + pos + IPC_HDR_SIZE);
			pos += IPC_HDR_SIZE + fh.ih_len;
			n++;
		}
		UNIT_CHECK(n == 3 && pos == have);
		UNIT_CHECK(types[0] == 1 && types[1] == 2 && types[2] == 2 &&
		    strcmp(last[1], "a") == 0 && strcmp(last[2], "b") == 0);
		ipc_chan_free(&c);
		close(tsv[1]);
	}

	if (txrx.r_ch != NULL)
		ipc_chan_free(&txrx.r_ch);
	fd_close(&pfd[0]);
	fd_close(&pfd[1]);
	event_base_free(base);
	return unit_done();
}
