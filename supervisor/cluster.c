/*
 * cluster.c: several hosts sharing one MySQL/MariaDB store.
 *
 * Any host can serve any tenant: the front reads the tenant from the
 * store on every authentication, so a tenant disabled or removed on one
 * host is refused by every host at once. What a host keeps in memory is
 * the configuration its running workers hold (servers, secrets, limits).
 * Every change to those bumps the store's generation counter
 * (store_generation); each host polls it every store_poll_interval
 * seconds and, when it moved, re-reads each of its active tenants: gone
 * or disabled ones are stopped, the others get a fresh configuration
 * (the worker restarts only the servers whose spec or secrets differ).
 * So a change made on one host reaches the others within one interval,
 * without restarts. Revocations are re-read too, so a token revoked on
 * one host is refused by all (auth.c). SQLite stores are one host's
 * own: no polling.
 *
 * A failing poll is logged once per outage (/health reports the store
 * itself).
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "supervisor.h"

static void
cluster_poll(evutil_socket_t fd, short ev, void *arg)
{
	struct sup *sp = arg;
	struct cluster *cl = &sp->sp_cluster;
	char err[STORE_ERRLEN] = "";
	int64_t g;

	g = store_generation(sp->sp_store, err, sizeof(err));
	if (g == -1) {
		if (!cl->cl_store_down)
			log_error("store: cannot be read; admin commands and "
			    "new tenants fail until it is back", "{s:s,s:s}",
			    "store", store_describe(sp->sp_store), "error", err);
		cl->cl_store_down = 1;
		return;
	}
	if (cl->cl_store_down)
		log_info("store: back", "{s:s}", "store",
		    store_describe(sp->sp_store));
	cl->cl_store_down = 0;
	if (cl->cl_gen != -1 && g != cl->cl_gen) {
		log_debug("store: changed on another host", "{s:I,s:I}",
		    "from", (json_int_t)cl->cl_gen, "to", (json_int_t)g);
		workers_store_changed(sp);
		if (auth_revocations_sync(sp, err, sizeof(err)) == -1)
			log_warn("store: cannot re-read the revocations",
			    "{s:s}", "error", err);
	}
	cl->cl_gen = g;
}

int
cluster_start(struct sup *sp, char *err, size_t errlen)
{
	struct cluster *cl = &sp->sp_cluster;
	struct timeval tv;

	if (sp->sp_cf.cf_store_poll_interval == 0 ||
	    strncmp(store_describe(sp->sp_store), "mysql ", 6) != 0)
		return 0;
	cl->cl_gen = store_generation(sp->sp_store, err, errlen);
	if (cl->cl_gen == -1)
		return -1;
	tv.tv_sec = sp->sp_cf.cf_store_poll_interval;
	tv.tv_usec = 0;
	if ((cl->cl_ev = event_new(sp->sp_base, -1, EV_PERSIST, cluster_poll,
	    sp)) == NULL || event_add(cl->cl_ev, &tv) == -1) {
		snprintf(err, errlen, "cannot start the store poll");
		return -1;
	}
	log_info("store: shared; polling for changes made by other hosts",
	    "{s:i}", "interval_s", sp->sp_cf.cf_store_poll_interval);
	return 0;
}

void
cluster_stop(struct sup *sp)
{
	struct cluster *cl = &sp->sp_cluster;

	if (cl->cl_ev != NULL) {
		event_free(cl->cl_ev);
		cl->cl_ev = NULL;
	}
}
