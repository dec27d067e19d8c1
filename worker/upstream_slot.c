/*
 * upstream_slot.c: the host's upstream connection slots. Starting a
 * server takes one, asked of the supervisor (IPC_SLOT_REQ, proto.h)
 * while the calls that want the server wait; the answer
 * (IPC_SLOT_GRANT) starts it or fails them with the limit's message;
 * whatever ends a running server gives its slot back (IPC_SLOT_RELEASE).
 * The when and why of starting is upstream.c's.
 */
#include <stdio.h>
#include <string.h>

#include "worker.h"
#include "upstream_int.h"

#define UP_SLOT_HOLDOFF_MS	100	/* after a refusal, before asking again */

/* Gives u's slot back to the supervisor, when it holds one. */
void
up_slot_release(struct upstream *u)
{
	struct wrk *w = u->u_wrk;
	json_t *v;

	if (u->u_slot != UP_SLOT_HELD)
		return;
	u->u_slot = UP_SLOT_NONE;
	/* Room again: the next start may ask at once. */
	w->w_slot_refused_ms = 0;
	if (w->w_ipc == NULL)
		return;
	v = json_pack("{s:i}", "n", 1);
	if (v != NULL)
		ipc_send_json(w->w_ipc, IPC_SLOT_RELEASE, 0, -1, v);
	json_decref(v);
}

/* The JSON-RPC error of a refused slot (payload of IPC_SLOT_GRANT). */
static json_t *
up_slot_error(const json_t *v)
{
	const char *msg = json_string_value(json_object_get(v, "error"));
	const char *scope = json_string_value(json_object_get(v, "scope"));
	json_int_t retry = json_integer_value(json_object_get(v,
	    "retry_after"));
	json_t *e;

	if (retry < 1 || retry > 3600)
		retry = 1;
	e = up_error(UP_ERR_LIMIT, "%.300s", msg != NULL ? msg :
	    "connection limit reached");
	if (e != NULL)
		json_object_set_new(e, "data", json_pack("{s:s,s:I}", "scope",
		    scope != NULL && strcmp(scope, "host") == 0 ? "host" :
		    "tenant", "retry_after", retry));
	return e;
}

/*
 * Asks the supervisor for a slot for u; the calls wait for the answer
 * (upstream_slot_grant). Returns 0, or -1 with *error_r when a refusal
 * a moment ago still stands.
 */
int
up_slot_ask(struct upstream *u, json_t **error_r)
{
	struct wrk *w = u->u_wrk;
	int64_t now = now_mono_ms();
	json_t *v;

	if (w->w_ipc == NULL) {
		u->u_slot = UP_SLOT_HELD;
		return up_start_now(u, error_r);
	}
	/* A refusal stands a moment unless a slot came back meanwhile:
	 * a client hammering a full pool does not turn into a flood of
	 * requests to the supervisor. */
	if (w->w_slot_refused_ms != 0 && w->w_slot_refusal != NULL &&
	    now - w->w_slot_refused_ms < UP_SLOT_HOLDOFF_MS) {
		*error_r = up_slot_error(w->w_slot_refusal);
		return -1;
	}
	if ((v = json_pack("{s:s}", "server", u->u_name)) == NULL) {
		*error_r = up_error(-32603, "out of memory");
		return -1;
	}
	if (++w->w_next_slot_id == 0)
		w->w_next_slot_id = 1;
	u->u_slot = UP_SLOT_ASKED;
	u->u_slot_req = w->w_next_slot_id;
	ipc_send_json(w->w_ipc, IPC_SLOT_REQ, u->u_slot_req, -1, v);
	json_decref(v);
	return 0;
}

void
upstream_slot_grant(struct wrk *w, uint32_t id, const json_t *v)
{
	struct upstream *u;
	json_t *err = NULL;

	for (u = w->w_upstreams; u != NULL; u = u->u_next)
		if (u->u_slot == UP_SLOT_ASKED && u->u_slot_req == id)
			break;
	if (!json_is_true(json_object_get(v, "ok"))) {
		json_decref(w->w_slot_refusal);
		w->w_slot_refusal = json_deep_copy(v);
		w->w_slot_refused_ms = now_mono_ms();
		if (u == NULL)
			return;
		u->u_slot = UP_SLOT_NONE;
		log_info("upstream slot refused", "{s:s,s:s,s:O}", "tenant",
		    w->w_tenant, "server", u->u_name, "error",
		    json_object_get(v, "error"));
		err = up_slot_error(v);
		up_fail_calls(u, err);
		json_decref(err);
		/* A start of its own comes again after the refusal's wait. */
		if (u->u_start_bg && u->u_state == UP_FAILED) {
			u->u_retry_at_ms = now_mono_ms() + 1000 *
			    json_integer_value(json_object_get(v,
			    "retry_after"));
			up_arm_retry(u);
		}
		u->u_start_bg = 0;
		return;
	}
	if (u == NULL) {
		/* Asked for a server that is gone: not wanted. */
		json_t *r = json_pack("{s:i}", "n", 1);

		if (r != NULL && w->w_ipc != NULL)
			ipc_send_json(w->w_ipc, IPC_SLOT_RELEASE, 0, -1, r);
		json_decref(r);
		return;
	}
	u->u_slot = UP_SLOT_HELD;
	if (!u->u_start_bg && !up_has_callers(u)) {
		/* The calls timed out or went away meanwhile. */
		up_slot_release(u);
		return;
	}
	u->u_start_bg = 0;
	if (up_start_now(u, &err) == -1) {
		up_fail_calls(u, err);
		json_decref(err);
	}
}
