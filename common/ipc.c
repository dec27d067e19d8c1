/*
 * ipc.c: framed messages between dataagentd and its workers, after
 * OpenBSD's imsg.
 *
 * A frame is a 16-byte header (type, len, peer, flags) and len bytes of
 * payload. An fd travels as SCM_RIGHTS with the first byte of its frame;
 * since a stream socket may deliver it together with earlier bytes, the
 * receiver keeps arriving fds in a FIFO and gives the first one to the
 * next frame flagged IPC_F_FD. A frame flagged without an fd, an fd
 * without a frame, a truncated control message or several fds in one
 * control message are protocol violations.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common.h"

#define IPC_READ_CHUNK 65536
#define IPC_MAX_FDS 16		/* fds received but not yet claimed */

struct ipc_out {
	struct ipc_out *io_next;
	uint8_t *io_data;	/* header + payload */
	size_t io_len, io_off;
	int io_fd;		/* sent with the first byte, then closed */
};

struct ipc_chan {
	int ch_fd;
	struct event *ch_ev_read;
	struct event *ch_ev_write;
	ipc_msg_cb ch_on_msg;
	ipc_err_cb ch_on_error;
	void *ch_arg;

	uint8_t *ch_in;
	size_t ch_inlen, ch_incap;
	int ch_fds[IPC_MAX_FDS];
	unsigned ch_nfds;

	struct ipc_out *ch_out, **ch_out_tail;
	size_t ch_pending;
	unsigned ch_pending_fds;	/* queued frames that carry an fd */
	size_t ch_max_bytes;		/* 0: no bound (ipc_chan_set_bounds) */
	unsigned ch_max_fds;		/* 0: no bound */

	int ch_dispatching;	/* inside a callback: free is deferred */
	int ch_freed;
	const char *ch_error;	/* write error to report from the loop */
};

int
ipc_decode(const uint8_t *buf, size_t len, struct ipc_hdr *hdr)
{
	if (len < IPC_HDR_SIZE)
		return 0;
	memcpy(&hdr->ih_type, buf, 4);
	memcpy(&hdr->ih_len, buf + 4, 4);
	memcpy(&hdr->ih_peer, buf + 8, 4);
	memcpy(&hdr->ih_flags, buf + 12, 4);
	if (hdr->ih_type == 0 || hdr->ih_len > IPC_MAX_PAYLOAD ||
	    (hdr->ih_flags & ~IPC_F_MASK) != 0)
		return -1;
	if (len - IPC_HDR_SIZE < hdr->ih_len)
		return 0;
	return 1;
}

void
ipc_encode_hdr(uint8_t out[IPC_HDR_SIZE], const struct ipc_hdr *hdr)
{
	memcpy(out, &hdr->ih_type, 4);
	memcpy(out + 4, &hdr->ih_len, 4);
	memcpy(out + 8, &hdr->ih_peer, 4);
	memcpy(out + 12, &hdr->ih_flags, 4);
}

/* A message out may carry a tenant's configuration with its secrets'
 * values (IPC_CONFIG): its bytes are wiped before they are freed. */
static void
ipc_out_free(struct ipc_out *o)
{
	if (o->io_data != NULL)
		OPENSSL_cleanse(o->io_data, o->io_len);
	free(o->io_data);
	free(o);
}

static void
ipc_chan_destroy(struct ipc_chan *ch)
{
	struct ipc_out *o;
	unsigned i;

	if (ch->ch_ev_read != NULL)
		event_free(ch->ch_ev_read);
	if (ch->ch_ev_write != NULL)
		event_free(ch->ch_ev_write);
	fd_close(&ch->ch_fd);
	for (i = 0; i < ch->ch_nfds; i++)
		fd_close(&ch->ch_fds[i]);
	while ((o = ch->ch_out) != NULL) {
		ch->ch_out = o->io_next;
		fd_close(&o->io_fd);
		ipc_out_free(o);
	}
	if (ch->ch_in != NULL)
		OPENSSL_cleanse(ch->ch_in, ch->ch_incap);
	free(ch->ch_in);
	free(ch);
}

void
ipc_chan_free(struct ipc_chan **chp)
{
	struct ipc_chan *ch = *chp;

	if (ch == NULL)
		return;
	*chp = NULL;
	if (ch->ch_dispatching) {
		/* Freed from inside one of our callbacks: stop everything
		 * now, release memory when the callback returns. */
		ch->ch_freed = 1;
		event_del(ch->ch_ev_read);
		event_del(ch->ch_ev_write);
		return;
	}
	ipc_chan_destroy(ch);
}

/* Reports an error once; the owner frees the channel from on_error.
 * Returns -1 so callers can `return ipc_fail(...)`. */
static int
ipc_fail(struct ipc_chan *ch, const char *why)
{
	event_del(ch->ch_ev_read);
	event_del(ch->ch_ev_write);
	ch->ch_dispatching++;
	ch->ch_on_error(ch, why, ch->ch_arg);
	ch->ch_dispatching--;
	return -1;
}

/* Reads what is there. Returns 1 on progress, 0 on EAGAIN, -1 after
 * reporting an error. */
static int
ipc_read_some(struct ipc_chan *ch)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	size_t nfd, i;
	int fds[4], bad = 0;

	if (ch->ch_incap - ch->ch_inlen < IPC_READ_CHUNK) {
		size_t ncap = ch->ch_inlen + IPC_READ_CHUNK;
		uint8_t *p;

		/* Not realloc: the old block may hold a configuration's
		 * secrets, and is wiped before it goes. */
		if ((p = malloc(ncap)) == NULL)
			return ipc_fail(ch, "out of memory");
		if (ch->ch_in != NULL) {
			memcpy(p, ch->ch_in, ch->ch_inlen);
			OPENSSL_cleanse(ch->ch_in, ch->ch_incap);
			free(ch->ch_in);
		}
		ch->ch_in = p;
		ch->ch_incap = ncap;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = ch->ch_in + ch->ch_inlen;
	iov.iov_len = ch->ch_incap - ch->ch_inlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(ch->ch_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return ipc_fail(ch, "read error");
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfd > 4)
			nfd = 4;
		memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
		for (i = 0; i < nfd; i++) {
			if (nfd != 1 || ch->ch_nfds == IPC_MAX_FDS) {
				bad = 1;
				fd_close(&fds[i]);
			} else
				ch->ch_fds[ch->ch_nfds++] = fds[i];
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		return ipc_fail(ch, "control message truncated");
	if (bad)
		return ipc_fail(ch, "unexpected control message");
	if (n == 0)
		return ipc_fail(ch, "eof");
	ch->ch_inlen += (size_t)n;
	return 1;
}

/* Hands out every whole frame. Returns 0, or -1 once the channel is in
 * error or freed. */
static int
ipc_dispatch(struct ipc_chan *ch)
{
	struct ipc_msg msg;
	size_t pos = 0;
	int r, rc = 0;

	while (!ch->ch_freed) {
		r = ipc_decode(ch->ch_in + pos, ch->ch_inlen - pos,
		    &msg.im_hdr);
		if (r == 0)
			break;
		if (r == -1) {
			rc = ipc_fail(ch, "malformed header");
			break;
		}
		msg.im_data = ch->ch_in + pos + IPC_HDR_SIZE;
		msg.im_fd = -1;
		if (msg.im_hdr.ih_flags & IPC_F_FD) {
			if (ch->ch_nfds == 0) {
				rc = ipc_fail(ch, "frame without its fd");
				break;
			}
			msg.im_fd = ch->ch_fds[0];
			memmove(ch->ch_fds, ch->ch_fds + 1,
			    --ch->ch_nfds * sizeof(int));
		}
		pos += IPC_HDR_SIZE + msg.im_hdr.ih_len;
		ch->ch_dispatching++;
		r = ch->ch_on_msg(ch, &msg, ch->ch_arg);
		ch->ch_dispatching--;
		/* The callback takes the fd by setting im_fd to -1. */
		fd_close(&msg.im_fd);
		if (r == -1) {
			if (!ch->ch_freed)
				rc = ipc_fail(ch, "protocol violation");
			break;
		}
	}
	if (ch->ch_freed)
		return -1;
	if (rc == 0 && pos > 0) {
		memmove(ch->ch_in, ch->ch_in + pos, ch->ch_inlen - pos);
		ch->ch_inlen -= pos;
		/* what was handled is not left past the end */
		OPENSSL_cleanse(ch->ch_in + ch->ch_inlen, pos);
	}
	/* Bytes of a frame may precede its fd, but an fd can never be
	 * ahead of every frame that could claim it by a whole read. */
	return rc;
}

static void
ipc_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan *ch = arg;
	int r, rounds;

	ch->ch_dispatching++;
	for (rounds = 0; rounds < 16; rounds++) {
		r = ipc_read_some(ch);
		if (r <= 0 || ch->ch_freed)
			break;
		if (ipc_dispatch(ch) == -1)
			break;
	}
	ch->ch_dispatching--;
	if (ch->ch_freed && ch->ch_dispatching == 0)
		ipc_chan_destroy(ch);
}

/* Writes queued frames. Returns 0, or -1 with ch->ch_error set. */
static int
ipc_write_some(struct ipc_chan *ch)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct ipc_out *o;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;

	while ((o = ch->ch_out) != NULL) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = o->io_data + o->io_off;
		iov.iov_len = o->io_len - o->io_off;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (o->io_off == 0 && o->io_fd != -1) {
			memset(&cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf.buf;
			mh.msg_controllen = sizeof(cbuf.buf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &o->io_fd, sizeof(int));
		}
		n = sendmsg(ch->ch_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			ch->ch_error = errno == EPIPE ? "eof" : "write error";
			return -1;
		}
		if (o->io_off == 0 && o->io_fd != -1) {
			fd_close(&o->io_fd);	/* the peer has its copy */
			ch->ch_pending_fds--;
		}
		o->io_off += (size_t)n;
		ch->ch_pending -= (size_t)n;
		if (o->io_off < o->io_len)
			continue;
		ch->ch_out = o->io_next;
		if (ch->ch_out == NULL)
			ch->ch_out_tail = &ch->ch_out;
		ipc_out_free(o);
	}
	return 0;
}

static void
ipc_on_write(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan *ch = arg;

	if (ch->ch_error == NULL)
		(void)ipc_write_some(ch);
	if (ch->ch_error != NULL) {
		ch->ch_dispatching++;
		ipc_fail(ch, ch->ch_error);
		ch->ch_dispatching--;
		if (ch->ch_freed && ch->ch_dispatching == 0)
			ipc_chan_destroy(ch);
		return;
	}
	if (ch->ch_out != NULL)
		event_add(ch->ch_ev_write, NULL);
}

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, ipc_msg_cb on_msg,
    ipc_err_cb on_error, void *arg)
{
	struct ipc_chan *ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		fd_close(&fd);
		return NULL;
	}
	ch->ch_fd = fd;
	ch->ch_on_msg = on_msg;
	ch->ch_on_error = on_error;
	ch->ch_arg = arg;
	ch->ch_out_tail = &ch->ch_out;
	if (fd_nonblock(fd) == -1 || fd_cloexec(fd) == -1)
		goto fail;
	ch->ch_ev_read = event_new(base, fd, EV_READ | EV_PERSIST,
	    ipc_on_read, ch);
	ch->ch_ev_write = event_new(base, fd, EV_WRITE, ipc_on_write, ch);
	if (ch->ch_ev_read == NULL || ch->ch_ev_write == NULL ||
	    event_add(ch->ch_ev_read, NULL) == -1)
		goto fail;
	return ch;
fail:
	ipc_chan_destroy(ch);
	return NULL;
}

/*
 * Whether len more bytes (with an fd or not) keep the queue within its
 * bounds. Sets ch_error (reported from the loop) and returns -1 when they
 * would not, or when the channel is in error.
 */
static int
ipc_queue_check(struct ipc_chan *ch, size_t len, int with_fd)
{
	if (ch->ch_error == NULL) {
		if (ch->ch_max_bytes > 0 &&
		    ch->ch_pending + len > ch->ch_max_bytes)
			ch->ch_error = IPC_ERR_QUEUE_BYTES;
		else if (ch->ch_max_fds > 0 && with_fd &&
		    ch->ch_pending_fds + 1 > ch->ch_max_fds)
			ch->ch_error = IPC_ERR_QUEUE_FDS;
		else
			return 0;
	}
	event_active(ch->ch_ev_write, EV_WRITE, 0);
	return -1;
}

/* ipc_queue_check after writing what the socket takes now. */
static int
ipc_queue_room(struct ipc_chan *ch, size_t len, int with_fd)
{
	if (ch->ch_out != NULL && ch->ch_error == NULL)
		(void)ipc_write_some(ch);
	return ipc_queue_check(ch, len, with_fd);
}

/* Writes now when we can; errors are reported from the loop so a sender
 * never sees its channel freed under it. */
static void
ipc_kick(struct ipc_chan *ch)
{
	if (ch->ch_error == NULL)
		(void)ipc_write_some(ch);
	if (ch->ch_out != NULL || ch->ch_error != NULL) {
		if (ch->ch_error != NULL)
			event_active(ch->ch_ev_write, EV_WRITE, 0);
		else
			event_add(ch->ch_ev_write, NULL);
	}
}

static void
ipc_frame(uint8_t *out, uint32_t type, uint32_t peer, int with_fd,
    const void *data, size_t len)
{
	struct ipc_hdr hdr;

	hdr.ih_type = type;
	hdr.ih_len = (uint32_t)len;
	hdr.ih_peer = peer;
	hdr.ih_flags = with_fd ? IPC_F_FD : 0;
	ipc_encode_hdr(out, &hdr);
	if (len > 0)
		memcpy(out + IPC_HDR_SIZE, data, len);
}

int
ipc_send(struct ipc_chan *ch, uint32_t type, uint32_t peer, int fd,
    const void *data, size_t len)
{
	struct ipc_out *o;

	if (ch == NULL || ch->ch_freed || len > IPC_MAX_PAYLOAD || type == 0)
		return -1;
	if (ipc_queue_room(ch, IPC_HDR_SIZE + len, fd != -1) == -1)
		return -1;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return -1;
	o->io_fd = -1;
	o->io_len = IPC_HDR_SIZE + len;
	if ((o->io_data = malloc(o->io_len)) == NULL)
		goto fail;
	if (fd != -1 && (o->io_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		goto fail;
	ipc_frame(o->io_data, type, peer, fd != -1, data, len);
	*ch->ch_out_tail = o;
	ch->ch_out_tail = &o->io_next;
	ch->ch_pending += o->io_len;
	if (o->io_fd != -1)
		ch->ch_pending_fds++;
	ipc_kick(ch);
	return 0;
fail:
	ipc_out_free(o);
	return -1;
}

int
ipc_send_latest(struct ipc_chan *ch, uint32_t type, uint32_t peer,
    const void *data, size_t len)
{
	struct ipc_out *o, *last = NULL;
	uint8_t *p;

	if (ch == NULL || ch->ch_freed || len > IPC_MAX_PAYLOAD || type == 0)
		return -1;
	/* Write what the socket takes first: the frame found below must
	 * not be written (and freed) under us. */
	if (ch->ch_out != NULL && ch->ch_error == NULL)
		(void)ipc_write_some(ch);
	/* The frame being written cannot change; a later one of the type,
	 * not begun, can (there is at most one: this keeps it so). */
	for (o = ch->ch_out; o != NULL; o = o->io_next) {
		uint32_t t;

		memcpy(&t, o->io_data, 4);
		if (t == type && o->io_off == 0 && o->io_fd == -1)
			last = o;
	}
	if (last == NULL)
		return ipc_send(ch, type, peer, -1, data, len);
	if (ipc_queue_check(ch, IPC_HDR_SIZE + len > last->io_len ?
	    IPC_HDR_SIZE + len - last->io_len : 0, 0) == -1)
		return -1;
	if ((p = malloc(IPC_HDR_SIZE + len)) == NULL)
		return -1;
	ipc_frame(p, type, peer, 0, data, len);
	ch->ch_pending = ch->ch_pending - last->io_len + IPC_HDR_SIZE + len;
	free(last->io_data);
	last->io_data = p;
	last->io_len = IPC_HDR_SIZE + len;
	ipc_kick(ch);
	return 0;
}

int
ipc_send_json(struct ipc_chan *ch, uint32_t type, uint32_t peer, int fd,
    const json_t *v)
{
	char *s;
	int r;

	if ((s = json_dumps(v, JSON_COMPACT)) == NULL)
		return -1;
	r = ipc_send(ch, type, peer, fd, s, strlen(s));
	/* A worker's configuration carries its secrets' values. */
	OPENSSL_cleanse(s, strlen(s));
	free(s);
	return r;
}

int
ipc_send_json_latest(struct ipc_chan *ch, uint32_t type, uint32_t peer,
    const json_t *v)
{
	char *s;
	int r;

	if ((s = json_dumps(v, JSON_COMPACT)) == NULL)
		return -1;
	r = ipc_send_latest(ch, type, peer, s, strlen(s));
	free(s);
	return r;
}

void
ipc_chan_set_bounds(struct ipc_chan *ch, size_t max_bytes,
    unsigned max_fds)
{
	ch->ch_max_bytes = max_bytes;
	ch->ch_max_fds = max_fds;
}

size_t
ipc_pending(const struct ipc_chan *ch)
{
	return ch->ch_pending;
}

unsigned
ipc_pending_fds(const struct ipc_chan *ch)
{
	return ch->ch_pending_fds;
}

int
ipc_flush(struct ipc_chan *ch)
{
	struct pollfd pfd;
	int64_t deadline = now_mono_ms() + 5000;

	while (ch->ch_out != NULL && ch->ch_error == NULL) {
		if (ipc_write_some(ch) == -1 || ch->ch_out == NULL)
			break;
		pfd.fd = ch->ch_fd;
		pfd.events = POLLOUT;
		if (now_mono_ms() > deadline ||
		    (poll(&pfd, 1, 1000) == -1 && errno != EINTR))
			return -1;
	}
	return ch->ch_error == NULL && ch->ch_out == NULL ? 0 : -1;
}

int
ipc_chan_fd(const struct ipc_chan *ch)
{
	return ch->ch_fd;
}

json_t *
ipc_payload_json(const struct ipc_msg *msg)
{
	json_t *v;

	if (msg->im_hdr.ih_len == 0 ||
	    memchr(msg->im_data, '\0', msg->im_hdr.ih_len) != NULL)
		return NULL;
	v = json_loadb((const char *)msg->im_data, msg->im_hdr.ih_len,
	    JSON_REJECT_DUPLICATES, NULL);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}
