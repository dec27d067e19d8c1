/*
 * aggregate_stubs.h: the upstream functions worker/aggregate.c calls,
 * answering "no servers", for the tests that compile aggregate.c alone
 * (tests/unit/test_cursor.c, tests/fuzz/fuzz_cursor.c).
 */
struct upstream *upstream_next(const struct upstream *u) { return NULL; }
int upstream_enabled(const struct upstream *u) { return 0; }
const char *upstream_name(const struct upstream *u) { return ""; }
struct upstream_call *upstream_tools(struct upstream *u, upstream_cb cb,
    void *arg) { return NULL; }
void upstream_call_cancel(struct upstream_call **c) { *c = NULL; }
struct upstream_call *upstream_request(struct upstream *u, const char *m,
    json_t *p, int t, upstream_cb cb, void *arg) { json_decref(p);
    return NULL; }
