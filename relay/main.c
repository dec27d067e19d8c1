/*
 * main.c: dataagent-relay start-up and its channel to the supervisor.
 *
 * Exec'd by dataagentd as root with the channel on fd 3 and nothing else
 * open but stdin (/dev/null) and the log (stderr). It says HELLO; the
 * supervisor's SETUP names its uid and its seccomp policy; it confines
 * itself (confine_relay, then relay.policy) and says READY. Only then
 * does the supervisor pass it client sockets. When the channel closes
 * (the supervisor stops or died) the relay exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "confine.h"
#include "relay.h"
#include "scpolicy.h"

static void
relay_exit(struct relay *r, int code)
{
	if (r->r_ipc != NULL)
		(void)ipc_flush(r->r_ipc);
	_exit(code);
}

static void
on_stats(evutil_socket_t fd, short ev, void *arg)
{
	struct relay *r = arg;
	static const int codes[] = RELAY_REFUSED_CODES;
	json_t *v, *refused;
	char k[8];
	int i, any = 0;

	for (i = 0; i < RELAY_NREFUSED; i++)
		any |= r->r_refused[i] != 0;
	if (r->r_ipc == NULL || (r->r_nconns == r->r_nconns_sent && !any))
		return;
	r->r_nconns_sent = r->r_nconns;
	v = json_pack("{s:i,s:{}}", "connections", (int)r->r_nconns,
	    "refused");
	refused = json_object_get(v, "refused");
	for (i = 0; v != NULL && i < RELAY_NREFUSED; i++) {
		if (r->r_refused[i] == 0)
			continue;
		snprintf(k, sizeof(k), "%d", codes[i]);
		json_object_set_new(refused, k, json_integer(r->r_refused[i]));
		r->r_refused[i] = 0;
	}
	if (v != NULL)
		ipc_send_json(r->r_ipc, IPC_RELAY_STATS, 0, -1, v);
	json_decref(v);
}

void
relay_refused(struct relay *r, int status)
{
	static const int codes[] = RELAY_REFUSED_CODES;
	int i;

	for (i = 0; i < RELAY_NREFUSED; i++)
		if (codes[i] == status && r->r_refused[i] < 100000)
			r->r_refused[i]++;
	relay_stats_soon(r);
}

void
relay_stats_soon(struct relay *r)
{
	struct timeval tv = { 0, 100 * 1000 };

	if (r->r_ev_stats != NULL && !evtimer_pending(r->r_ev_stats, NULL))
		evtimer_add(r->r_ev_stats, &tv);
}

/* IPC_RELAY_SETUP: confine, load relay.policy, say READY. */
static int
on_setup(struct relay *r, json_t *v)
{
	json_int_t uid, gid, nofile, maxh, hto, ito;
	const char *policy, *level = NULL;
	struct scpolicy *p = NULL;
	struct confine_spec cs;
	enum log_level lvl;
	char err[512];
	json_t *ack;

	if (json_unpack(v, "{s:I,s:I,s:s,s:I,s:I,s:I,s:I,s?s}", "uid", &uid,
	    "gid", &gid, "policy", &policy, "nofile", &nofile,
	    "max_header_size", &maxh, "header_timeout", &hto, "idle_timeout",
	    &ito, "log_level", &level) != 0 || uid <= 0 || gid <= 0 ||
	    uid > 0x7fffffff || gid > 0x7fffffff || nofile < 64 ||
	    !config_int_in_range("max_header_size", maxh) ||
	    !config_int_in_range("header_timeout", hto) ||
	    !config_int_in_range("idle_timeout", ito))
		return -1;
	if (level != NULL && log_level_parse(level, &lvl) == 0)
		log_set_level(lvl);
	r->r_max_header = (int)maxh;
	r->r_header_timeout_s = (int)hto;
	r->r_idle_timeout_s = ito > 300 ? 300 : (int)ito;
	memset(&cs, 0, sizeof(cs));
	cs.cs_uid = (uid_t)uid;
	cs.cs_gid = (gid_t)gid;
	cs.cs_limits.sl_nofile = (rlim_t)nofile;
	cs.cs_netns_fd = -1;
	/* What the log and libraries read from disk, read now. */
	tzset();
	if (scpolicy_parse(policy, "relay.policy", &p, err, sizeof(err)) ==
	    -1 || confine_relay(&cs, err, sizeof(err)) == -1 ||
	    scpolicy_trap_install("relay") == -1 ||
	    scpolicy_apply(p, err, sizeof(err)) == -1) {
		log_error("relay cannot confine itself", "{s:s}", "error", err);
		scpolicy_free(&p);
		relay_exit(r, 1);
	}
	scpolicy_free(&p);
	r->r_ready = 1;
	log_info("relay ready", "{s:i}", "uid", (int)uid);
	ack = json_object();
	ipc_send_json(r->r_ipc, IPC_RELAY_READY, 0, -1, ack);
	json_decref(ack);
	return 0;
}

static int
on_msg(struct ipc_chan *ch, struct ipc_msg *msg, void *arg)
{
	struct relay *r = arg;
	json_t *v;
	int rc = -1;

	if ((v = ipc_payload_json(msg)) == NULL) {
		fd_close(&msg->im_fd);
		return -1;
	}
	switch (msg->im_hdr.ih_type) {
	case IPC_RELAY_SETUP:
		if (!r->r_ready && msg->im_fd == -1)
			rc = on_setup(r, v);
		break;
	case IPC_RELAY_CLIENT: {
		const char *addr;
		json_int_t port;

		if (!r->r_ready || msg->im_fd == -1 || json_unpack(v,
		    "{s:s,s:I}", "addr", &addr, "port", &port) != 0 ||
		    strlen(addr) > 64 || port < 0 || port > 65535)
			break;
		rc = 0;
		rconn_new(r, msg->im_fd, addr, (int)port);
		msg->im_fd = -1;
		break;
	}
	case IPC_RELAY_ROUTED:
		if (r->r_ready && msg->im_fd == -1)
			rc = rconn_routed(r, msg->im_hdr.ih_peer, v);
		break;
	case IPC_RELAY_REVOKE: {
		const char *hash;

		if (json_unpack(v, "{s:s}", "token_hash", &hash) != 0 ||
		    strlen(hash) != 64)
			break;
		rc = 0;
		rconn_revoke(r, hash);
		break;
	}
	default:
		break;
	}
	json_decref(v);
	fd_close(&msg->im_fd);
	return rc;
}

static void
on_ipc_error(struct ipc_chan *ch, const char *why, void *arg)
{
	struct relay *r = arg;

	/* The supervisor is gone: so is every route; nothing left to do. */
	log_info("supervisor channel closed", "{s:s}", "why", why);
	ipc_chan_free(&r->r_ipc);
	relay_exit(r, 0);
}

int
main(int argc, char **argv)
{
	static struct relay relay;
	struct relay *r = &relay;
	enum log_level lvl = LOG_LVL_INFO;
	const char *s;
	json_t *hello;

	if ((s = getenv("LOG_LEVEL")) != NULL)
		(void)log_level_parse(s, &lvl);
	log_init("relay", lvl);
	if ((s = getenv("LOG_FORMAT")) != NULL)
		log_set_text(log_format_is_text(s));
	/* The supervisor's channel ends us, not signals meant for it (a
	 * terminal's ^C, a SIGTERM to the whole group): clients whose
	 * workers are draining are still being answered. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	r->r_routes_tail = &r->r_routes;
	if ((r->r_base = event_base_new()) == NULL ||
	    (r->r_ev_stats = evtimer_new(r->r_base, on_stats, r)) == NULL ||
	    (r->r_ipc = ipc_chan_new(r->r_base, RELAY_IPC_FD, on_msg,
	    on_ipc_error, r)) == NULL) {
		log_error("relay cannot start", NULL);
		return 1;
	}
	hello = json_pack("{s:s}", "version", DATAAGENT_VERSION);
	ipc_send_json(r->r_ipc, IPC_RELAY_HELLO, 0, -1, hello);
	json_decref(hello);
	event_base_dispatch(r->r_base);
	return 0;
}
