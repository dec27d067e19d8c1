/*
 * httpc.h: the worker's HTTP/1.1 client for remote MCP servers.
 *
 * One struct httpc per upstream origin: a bounded pool of keep-alive
 * connections (plain or TLS), each dialled through the launcher (the
 * worker itself may not create sockets, see launcher.c). Requests queue
 * when every connection is busy. A response is delivered as it arrives:
 * the head, then decoded body bytes, then the end, so a text/event-stream
 * body can be read while it lasts.
 */
#ifndef DATAAGENT_HTTPC_H
#define DATAAGENT_HTTPC_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "remote.h"

struct wrk;
struct httpc;
struct httpc_req;

struct httpc_req_cbs {
	/* The response head. Return -1 to abandon the request (its
	 * connection is closed; on_done is not called). */
	int (*on_head)(struct httpc_req *r, int status, const json_t *headers,
	    void *arg);
	/* Decoded body bytes. Return -1 as for on_head. */
	int (*on_body)(struct httpc_req *r, const char *data, size_t len,
	    void *arg);
	/* The end: error NULL when the response was complete, else why it
	 * failed (connect, TLS, a cut or malformed response). Called once;
	 * r is freed after it returns. */
	void (*on_done)(struct httpc_req *r, const char *error, void *arg);
};

/*
 * A pool for origin (copied). tls: an SSL_CTX (reference taken) for
 * https, NULL for http. name is used in log lines. Returns NULL when
 * out of memory.
 */
struct httpc *httpc_new(struct wrk *w, const char *name,
    const struct url *origin, SSL_CTX *tls, int max_conns,
    int connect_timeout_ms);
/* Closes every connection; no callback is called any more. Safe from
 * inside a callback of this pool. */
void httpc_free(struct httpc **h);

/*
 * Queues a request. target is the request target ("/mcp?x"); headers
 * are extra "Name: value\r\n" lines (may be NULL); body may be NULL.
 * A long-lived response (an SSE stream) holds its connection until it
 * ends. Callbacks run from the event loop. Returns NULL when out of
 * memory.
 */
struct httpc_req *httpc_request(struct httpc *h, const char *method,
    const char *target, const char *headers, const char *body,
    size_t bodylen, const struct httpc_req_cbs *cbs, void *arg);
/* No callback will be called; a request in flight closes its
 * connection. */
void httpc_req_cancel(struct httpc_req **r);

/*
 * A TLS context for an upstream: verification on unless verify is 0,
 * trusting ca_file (or the system bundle when NULL), with a client
 * certificate and key when both are given. Files are opened through the
 * launcher, as the tenant. Returns NULL with err.
 */
SSL_CTX *httpc_tls_new(struct wrk *w, int verify, const char *ca_file,
    const char *cert_file, const char *key_file, char *err, size_t errlen);

#endif
