/*
 * aggregate.h: what mcp.c and rest.c share beyond worker.h: the
 * tenant-wide tool list ({server}__{tool}).
 *
 *   aggregate.c  agg_*: fetch every enabled upstream's tools in parallel
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

#endif
