/*
 * aggregate.c: the tenant's tools across all its servers.
 *
 * One upstream_tools call per enabled upstream, all at once; the answer
 * waits for the last of them. A server that fails is left out and logged:
 * one broken server must not hide the others' tools.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "worker.h"
#include "aggregate.h"

struct agg_slot {
	struct agg_tools *as_agg;
	char as_server[65];
	struct upstream_call *as_call;	/* NULL once answered */
	json_t *as_tools;		/* answered tools, or NULL */
};

struct agg_tools {
	struct wrk *ag_wrk;
	agg_tools_cb ag_cb;
	void *ag_arg;
	struct event *ag_ev;		/* delivery when nothing to wait for */
	struct agg_slot *ag_slots;
	size_t ag_nslots;
	size_t ag_waiting;
};

static void
agg_free(struct agg_tools **a_r)
{
	struct agg_tools *a = *a_r;
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->ag_nslots; i++) {
		upstream_call_cancel(&a->ag_slots[i].as_call);
		json_decref(a->ag_slots[i].as_tools);
	}
	free(a->ag_slots);
	if (a->ag_ev != NULL)
		event_free(a->ag_ev);
	free(a);
	*a_r = NULL;
}

static void
agg_deliver(struct agg_tools *a)
{
	json_t *servers, *e;
	size_t i;

	servers = json_array();
	for (i = 0; servers != NULL && i < a->ag_nslots; i++) {
		if (a->ag_slots[i].as_tools == NULL)
			continue;
		e = json_pack("{s:s,s:O}", "server", a->ag_slots[i].as_server,
		    "tools", a->ag_slots[i].as_tools);
		if (e != NULL)
			json_array_append_new(servers, e);
	}
	if (servers == NULL)
		servers = json_array();
	a->ag_cb(servers != NULL ? servers : json_null(), a->ag_arg);
	json_decref(servers);
	agg_free(&a);
}

static void
agg_on_event(evutil_socket_t fd, short ev, void *arg)
{
	agg_deliver(arg);
}

static void
agg_slot_cb(json_t *result, json_t *error, void *arg)
{
	struct agg_slot *s = arg;
	struct agg_tools *a = s->as_agg;

	s->as_call = NULL;
	if (error != NULL) {
		log_warn("server left out of the tool list", "{s:s,s:s,s:O}",
		    "tenant", a->ag_wrk->w_tenant, "server", s->as_server,
		    "error", error);
	} else if (json_is_array(result)) {
		s->as_tools = json_incref(result);
	}
	if (--a->ag_waiting == 0)
		agg_deliver(a);
}

struct agg_tools *
agg_tools_start(struct wrk *w, agg_tools_cb cb, void *arg)
{
	struct agg_tools *a;
	struct upstream *u;
	size_t n = 0, i;

	for (u = w->w_upstreams; u != NULL; u = upstream_next(u))
		n++;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->ag_wrk = w;
	a->ag_cb = cb;
	a->ag_arg = arg;
	a->ag_ev = event_new(w->w_base, -1, 0, agg_on_event, a);
	a->ag_slots = calloc(n + 1, sizeof(*a->ag_slots));
	if (a->ag_ev == NULL || a->ag_slots == NULL) {
		agg_free(&a);
		return NULL;
	}
	/* Slots first, calls after: no answer can come before the loop
	 * runs again, but counting first keeps this obviously right. */
	for (u = w->w_upstreams; u != NULL; u = upstream_next(u)) {
		struct agg_slot *s;

		if (!upstream_enabled(u))
			continue;
		s = &a->ag_slots[a->ag_nslots++];
		s->as_agg = a;
		strncpy(s->as_server, upstream_name(u),
		    sizeof(s->as_server) - 1);
	}
	a->ag_waiting = a->ag_nslots;
	for (i = 0, u = w->w_upstreams; u != NULL; u = upstream_next(u)) {
		struct agg_slot *s;

		if (!upstream_enabled(u))
			continue;
		s = &a->ag_slots[i++];
		s->as_call = upstream_tools(u, agg_slot_cb, s);
		if (s->as_call == NULL) {
			log_warn("server left out of the tool list",
			    "{s:s,s:s,s:s}", "tenant", w->w_tenant, "server",
			    s->as_server, "error", "out of memory");
			a->ag_waiting--;
		}
	}
	if (a->ag_waiting == 0)
		event_active(a->ag_ev, EV_TIMEOUT, 0);
	return a;
}

void
agg_tools_cancel(struct agg_tools **a_r)
{
	agg_free(a_r);
}

int
agg_split_name(const char *full, char *server, size_t server_len,
    const char **tool_r)
{
	const char *sep;
	size_t n;

	if (full == NULL || (sep = strstr(full, AGG_SEP)) == NULL)
		return -1;
	n = (size_t)(sep - full);
	if (n == 0 || n >= server_len || sep[strlen(AGG_SEP)] == '\0')
		return -1;
	memcpy(server, full, n);
	server[n] = '\0';
	*tool_r = sep + strlen(AGG_SEP);
	return 0;
}
