/*
 * aggregate.c: the tenant's tools across all its servers.
 *
 * One upstream_tools call per enabled upstream, all at once; the answer
 * waits for the last of them. A server that fails is left out and logged:
 * one broken server must not hide the others' tools. Tools the tenant's
 * or the server's tool lists refuse are left out too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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
	struct upstream *u;

	s->as_call = NULL;
	if (error != NULL) {
		log_warn("server left out of the tool list", "{s:s,s:s,s:O}",
		    "tenant", a->ag_wrk->w_tenant, "server", s->as_server,
		    "error", error);
	} else if (json_is_array(result) &&
	    (u = upstream_find(a->ag_wrk, s->as_server)) != NULL) {
		/* Only what the tool lists allow: a denied tool is absent. */
		s->as_tools = upstream_tools_allowed(u, result);
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

char *
agg_uri_wrap(const char *server, const char *uri)
{
	char *full;

	if (asprintf(&full, AGG_URI_SCHEME "%s:%s", server, uri) == -1)
		return NULL;
	return full;
}

int
agg_uri_split(const char *full, char *server, size_t server_len,
    const char **uri_r)
{
	const char *s, *colon;
	size_t n;

	if (full == NULL)
		return -1;
	if (strncasecmp(full, AGG_URI_SCHEME, strlen(AGG_URI_SCHEME)) != 0)
		return agg_split_name(full, server, server_len, uri_r);
	/* A server name holds no ':' (name_valid): the first one ends it. */
	s = full + strlen(AGG_URI_SCHEME);
	if ((colon = strchr(s, ':')) == NULL)
		return -1;
	n = (size_t)(colon - s);
	if (n == 0 || n >= server_len || colon[1] == '\0')
		return -1;
	memcpy(server, s, n);
	server[n] = '\0';
	*uri_r = colon + 1;
	return 0;
}

/* ------------------------------------------------------------- paging */

/*
 * resources/list, resources/templates/list and prompts/list go through
 * the servers one page at a time, in configuration order: a client page
 * is (at most) one upstream page, and the cursor we hand out names where
 * to go on. It is "base64(JSON).MAC" with JSON {"m": method, "i": index of
 * the server among the enabled ones, "s": its name, "c": the server's own
 * cursor or null}, and MAC the first 16 bytes of HMAC-SHA256 under a key
 * the worker draws at random: a cursor we did not make, or one for
 * another method, is refused with -32602, and one that names a server no
 * longer at that place is refused too (the list changed under it).
 */
#define AGG_PAGE_MAX_SKIPS	64	/* empty pages passed in one request */

struct agg_page {
	struct wrk *ap_wrk;
	char ap_method[40];
	const char *ap_key;		/* "resources", "prompts", ... */
	const unsigned char *ap_mac_key;
	agg_page_cb ap_cb;
	void *ap_arg;
	struct upstream_call *ap_call;
	struct event *ap_ev;
	size_t ap_index;		/* among enabled upstreams */
	char ap_server[65];
	int ap_skips;
	json_t *ap_result;		/* delivered, or NULL */
	json_t *ap_error;
};

static const char *
agg_page_item_key(const char *method)
{
	if (strcmp(method, "resources/list") == 0)
		return "resources";
	if (strcmp(method, "resources/templates/list") == 0)
		return "resourceTemplates";
	if (strcmp(method, "prompts/list") == 0)
		return "prompts";
	if (strcmp(method, "tools/list") == 0)
		return "tools";
	return NULL;
}

/* The index-th enabled upstream, or NULL. */
static struct upstream *
agg_enabled_nth(struct wrk *w, size_t index)
{
	struct upstream *u;

	for (u = w->w_upstreams; u != NULL; u = upstream_next(u)) {
		if (!upstream_enabled(u))
			continue;
		if (index-- == 0)
			return u;
	}
	return NULL;
}

static void
agg_mac(const unsigned char *key, const char *data, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), key, AGG_CURSOR_KEY_LEN, (const unsigned char *)data,
	    strlen(data), md, &mdlen);
	hex_encode(md, 16, hex);
}

char *
agg_cursor_encode(const unsigned char *key, const char *method,
    size_t index, const char *server, const char *upstream_cursor)
{
	json_t *j;
	char *s, *b, *out = NULL;
	char mac[33];

	j = json_pack("{s:s,s:I,s:s,s:s?}", "m", method, "i",
	    (json_int_t)index, "s", server, "c", upstream_cursor);
	s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	b = s != NULL ? b64_encode(s, strlen(s)) : NULL;
	free(s);
	if (b == NULL)
		return NULL;
	agg_mac(key, b, mac);
	if (asprintf(&out, "%s.%s", b, mac) == -1)
		out = NULL;
	free(b);
	return out;
}

int
agg_cursor_decode(const unsigned char *key, const char *cursor,
    const char *method, size_t *index_r, char *server, size_t server_len,
    char **upstream_cursor_r)
{
	const char *dot;
	char *b, mac[33];
	uint8_t *raw = NULL;
	size_t rawlen, blen;
	json_t *j, *c;
	json_error_t jerr;
	json_int_t i;
	const char *m, *s;
	int rc = -1;

	*upstream_cursor_r = NULL;
	if (cursor == NULL || (dot = strrchr(cursor, '.')) == NULL ||
	    strlen(dot + 1) != 32 || (blen = (size_t)(dot - cursor)) > 8192)
		return -1;
	if ((b = strndup(cursor, blen)) == NULL)
		return -1;
	agg_mac(key, b, mac);
	if (!ct_equal(mac, dot + 1, 32) ||
	    b64_decode(b, 8192, &raw, &rawlen) == -1) {
		free(b);
		return -1;
	}
	free(b);
	j = json_loadb((const char *)raw, rawlen, 0, &jerr);
	free(raw);
	if (j == NULL)
		return -1;
	m = json_string_value(json_object_get(j, "m"));
	s = json_string_value(json_object_get(j, "s"));
	c = json_object_get(j, "c");
	i = json_integer_value(json_object_get(j, "i"));
	if (m != NULL && strcmp(m, method) == 0 && s != NULL &&
	    strlen(s) < server_len && i >= 0 &&
	    json_is_integer(json_object_get(j, "i")) &&
	    (c == NULL || json_is_null(c) || json_is_string(c))) {
		*index_r = (size_t)i;
		strcpy(server, s);
		if (json_is_string(c) && (*upstream_cursor_r =
		    strdup(json_string_value(c))) == NULL)
			goto out;
		rc = 0;
	}
out:
	json_decref(j);
	return rc;
}

static void
agg_page_free(struct agg_page **p_r)
{
	struct agg_page *p = *p_r;

	if (p == NULL)
		return;
	upstream_call_cancel(&p->ap_call);
	if (p->ap_ev != NULL)
		event_free(p->ap_ev);
	json_decref(p->ap_result);
	json_decref(p->ap_error);
	free(p);
	*p_r = NULL;
}

static void
agg_page_deliver(evutil_socket_t fd, short ev, void *arg)
{
	struct agg_page *p = arg;

	p->ap_cb(p->ap_result, p->ap_error, p->ap_arg);
	agg_page_free(&p);
}

static void
agg_page_finish(struct agg_page *p, json_t *result, json_t *error)
{
	p->ap_result = result;
	p->ap_error = error;
	event_active(p->ap_ev, EV_TIMEOUT, 0);
}

static void agg_page_fetch(struct agg_page *p, const char *cursor);

static void
agg_page_answer(json_t *result, json_t *error, void *arg)
{
	struct agg_page *p = arg;
	struct wrk *w = p->ap_wrk;
	json_t *items, *out, *item, *copy;
	const char *next, *field;
	char *full, *cur;
	size_t i;

	p->ap_call = NULL;
	items = result != NULL ? json_object_get(result, p->ap_key) : NULL;
	if (error != NULL || !json_is_array(items)) {
		/* A server without this feature (or failing) adds nothing. */
		if (error == NULL || json_integer_value(json_object_get(error,
		    "code")) != -32601)
			log_warn("server left out of a list", "{s:s,s:s,s:s,s:O}",
			    "tenant", w->w_tenant, "server", p->ap_server,
			    "method", p->ap_method, "error", error != NULL ?
			    error : json_null());
		items = NULL;
		next = NULL;
	} else {
		next = json_string_value(json_object_get(result, "nextCursor"));
		if (next != NULL && next[0] == '\0')
			next = NULL;
	}
	field = strcmp(p->ap_key, "resources") == 0 ? "uri" :
	    strcmp(p->ap_key, "resourceTemplates") == 0 ? "uriTemplate" :
	    "name";
	out = json_array();
	json_array_foreach(items, i, item) {
		const char *v = json_string_value(json_object_get(item, field));

		if (v == NULL || !json_is_object(item))
			continue;
		if (strcmp(field, "name") != 0)
			full = agg_uri_wrap(p->ap_server, v);
		else if (asprintf(&full, "%s" AGG_SEP "%s", p->ap_server,
		    v) == -1)
			full = NULL;
		if (full == NULL)
			continue;
		if ((copy = json_copy(item)) != NULL) {
			json_object_set_new(copy, field, json_string(full));
			json_array_append_new(out, copy);
		}
		free(full);
	}
	if (next == NULL && agg_enabled_nth(w, p->ap_index + 1) == NULL) {
		agg_page_finish(p, json_pack("{s:o}", p->ap_key, out), NULL);
		return;
	}
	if (next == NULL && json_array_size(out) == 0 &&
	    ++p->ap_skips < AGG_PAGE_MAX_SKIPS) {
		/* Nothing here: on to the next server in this same request. */
		json_decref(out);
		p->ap_index++;
		agg_page_fetch(p, NULL);
		return;
	}
	cur = next != NULL ? agg_cursor_encode(p->ap_mac_key, p->ap_method,
	    p->ap_index, p->ap_server, next) : agg_cursor_encode(
	    p->ap_mac_key, p->ap_method, p->ap_index + 1, upstream_name(
	    agg_enabled_nth(w, p->ap_index + 1)), NULL);
	agg_page_finish(p, json_pack("{s:o,s:s?}", p->ap_key, out,
	    "nextCursor", cur), NULL);
	free(cur);
}

/* Asks the current server for a page (cursor may be NULL). */
static void
agg_page_fetch(struct agg_page *p, const char *cursor)
{
	struct upstream *u = agg_enabled_nth(p->ap_wrk, p->ap_index);

	if (u == NULL) {
		agg_page_finish(p, json_pack("{s:[]}", p->ap_key), NULL);
		return;
	}
	snprintf(p->ap_server, sizeof(p->ap_server), "%s", upstream_name(u));
	p->ap_call = upstream_request(u, p->ap_method, cursor != NULL ?
	    json_pack("{s:s}", "cursor", cursor) : json_object(), 0,
	    agg_page_answer, p);
	if (p->ap_call == NULL)
		agg_page_finish(p, NULL, json_pack("{s:i,s:s}", "code", -32603,
		    "message", "out of memory"));
}

struct agg_page *
agg_page_start(struct wrk *w, const char *method, const char *cursor,
    const unsigned char *mac_key, agg_page_cb cb, void *arg)
{
	struct agg_page *p;
	char *ucur = NULL, server[65];
	size_t index = 0;
	struct upstream *u;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->ap_wrk = w;
	p->ap_cb = cb;
	p->ap_arg = arg;
	p->ap_mac_key = mac_key;
	snprintf(p->ap_method, sizeof(p->ap_method), "%s", method);
	p->ap_key = agg_page_item_key(method);
	if (p->ap_key == NULL ||
	    (p->ap_ev = event_new(w->w_base, -1, 0, agg_page_deliver, p))
	    == NULL) {
		agg_page_free(&p);
		return NULL;
	}
	if (cursor != NULL) {
		if (agg_cursor_decode(mac_key, cursor, method, &index, server,
		    sizeof(server), &ucur) == -1 ||
		    (u = agg_enabled_nth(w, index)) == NULL ||
		    strcmp(upstream_name(u), server) != 0) {
			free(ucur);
			agg_page_finish(p, NULL, json_pack("{s:i,s:s}", "code",
			    -32602, "message", "Invalid cursor"));
			return p;
		}
	}
	p->ap_index = index;
	agg_page_fetch(p, ucur);
	free(ucur);
	return p;
}

void
agg_page_cancel(struct agg_page **p_r)
{
	agg_page_free(p_r);
}
