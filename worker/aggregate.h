/*
 * aggregate.h: what mcp.c and rest.c share beyond worker.h: the
 * tenant-wide tool list ({server}__{tool}) and the paged lists of
 * resources, resource templates and prompts.
 *
 *   aggregate.c  agg_*: fetch every enabled upstream's tools in parallel;
 *                page through the servers one after another behind an
 *                authenticated opaque cursor
 */
#ifndef DATAAGENT_AGGREGATE_H
#define DATAAGENT_AGGREGATE_H

#include <jansson.h>

#include "worker.h"

/* Separator between the server name and the tool name. */
#define AGG_SEP "__"

struct agg_tools;

/*
 * servers: array of {"server": name, "tools": [tool objects with the
 * server's own names]} in configuration order, one entry per enabled
 * upstream that answered (borrowed, valid during the call). Upstreams
 * that failed are left out (and logged).
 */
typedef void (*agg_tools_cb)(json_t *servers, void *arg);

/*
 * Asks every enabled upstream for its tools at once and calls cb when all
 * have answered or failed; cb runs exactly once, from the event loop,
 * unless agg_tools_cancel is called first. Returns NULL (cb never called)
 * only when out of memory.
 */
struct agg_tools *agg_tools_start(struct wrk *w, agg_tools_cb cb, void *arg);
/* Drops a pending aggregation: cb will not be called. */
void agg_tools_cancel(struct agg_tools **a_r);

/*
 * Splits an aggregated name at the first AGG_SEP. Returns 0 with server
 * (NUL-terminated, at most server_len - 1 bytes) and *tool_r (pointing
 * into full, non-empty), or -1 when full has no separator, an empty part
 * or a server part that is too long.
 */
int agg_split_name(const char *full, char *server, size_t server_len,
    const char **tool_r);

/*
 * Resource URIs and URI templates are not names: "{server}__{uri}" would
 * put "_" in a scheme, which RFC 3986 forbids, and clients parse URIs.
 * An aggregated URI is the server's own wrapped in a scheme of ours,
 * "dataagent:{server}:{uri}": a valid URI whose path holds the original
 * unchanged (its characters are all allowed there), so a template stays
 * a template and what a client expands maps back the same way.
 */
#define AGG_URI_SCHEME "dataagent:"

/* "dataagent:{server}:{uri}", malloc'd, or NULL when out of memory. */
char *agg_uri_wrap(const char *server, const char *uri);
/*
 * Splits an aggregated URI (or template, or an expansion of one):
 * "dataagent:{server}:{uri}" (the scheme in any case), or the
 * "{server}__{uri}" of earlier versions so that what old clients kept
 * still reads. Returns 0 with server (NUL-terminated, at most
 * server_len - 1 bytes) and *uri_r (into full, non-empty), or -1.
 */
int agg_uri_split(const char *full, char *server, size_t server_len,
    const char **uri_r);

/* ------------------------------------------------------------ paging */

/* Bytes of the key that authenticates the cursors we hand out. */
#define AGG_CURSOR_KEY_LEN	32

struct agg_page;

/* result is {key: [...], "nextCursor"?} with names or URIs namespaced,
 * or error a JSON-RPC error object (both borrowed, one non-NULL). */
typedef void (*agg_page_cb)(json_t *result, json_t *error, void *arg);

/*
 * One client page of resources/list, resources/templates/list or
 * prompts/list (method), starting where cursor (ours, or NULL) says:
 * items of one server's page, named "{server}__{name}" (prompts) or
 * agg_uri_wrap'ed (resources, templates), and a
 * nextCursor of ours while any server has more. mac_key
 * (AGG_CURSOR_KEY_LEN bytes, borrowed for the call's life) signs and
 * checks cursors. cb runs once, from the event loop, unless cancelled.
 * Returns NULL only when out of memory or method is not a list.
 */
struct agg_page *agg_page_start(struct wrk *w, const char *method,
    const char *cursor, const unsigned char *mac_key, agg_page_cb cb,
    void *arg);
void agg_page_cancel(struct agg_page **p_r);

/* The opaque cursor: a malloc'd string, or NULL when out of memory. */
char *agg_cursor_encode(const unsigned char *key, const char *method,
    size_t index, const char *server, const char *upstream_cursor);
/* Returns 0 with the server index and name and the server's own cursor
 * (malloc'd, NULL for its first page), or -1 for a cursor we did not
 * make for this method. */
int agg_cursor_decode(const unsigned char *key, const char *cursor,
    const char *method, size_t *index_r, char *server, size_t server_len,
    char **upstream_cursor_r);

#endif
