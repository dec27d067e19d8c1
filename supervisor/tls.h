/*
 * tls.h: the TLS listener (tls_port). The supervisor terminates TLS,
 * reads the request head from the decrypted stream through the front
 * door (front.c), and hands the worker one end of a socketpair, with the
 * bytes already read as "pre"; it then relays between the TLS connection
 * and the other end for the life of the connection. The worker cannot
 * tell the difference. The cost: a TLS connection keeps the supervisor
 * in its data path (decryption, encryption and a copy each way).
 */
#ifndef DATAAGENT_TLS_H
#define DATAAGENT_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

struct sup;
struct config;
struct tls_conn;
struct front_conn;
struct evbuffer;
struct sockaddr_storage;

/* Loads the certificate and key of cf into a context and drops it: for
 * `dataagentd -t`. Returns 0 or -1 with err (nothing to do when tls_port
 * is 0). */
int tls_check(const struct config *cf, char *err, size_t errlen);
/* Loads the certificate and listens on tls_host:tls_port when tls_port
 * is set. Returns 0 or -1 with err. */
int tls_open(struct sup *sp, char *err, size_t errlen);
/* SIGHUP: loads the configured certificate and key again; new
 * connections get them. A pair that does not load keeps the old one and
 * is logged. */
void tls_reload(struct sup *sp);
/* SIGTERM: stops accepting. Relays go on until their worker closes. */
void tls_stop_accepting(struct sup *sp);
/* Frees what is left (after the event loop). */
void tls_free(struct sup *sp);
/* Connections relaying to a worker, or closing. */
unsigned tls_relays(const struct sup *sp);

/* For front.c: the decrypted bytes read so far (the head, and maybe
 * more) of a connection in the front. */
struct evbuffer *tls_conn_input(struct tls_conn *tc);
/* Writes what `out` holds (emptied) to the client, then closes the
 * connection; the front no longer refers to tc. */
void tls_conn_answer(struct tls_conn *tc, struct evbuffer *out);
/* 1 when tenant's relays (RELAY and CLOSING) are fewer than
 * tls_max_conns_per_tenant, else 0 (logged and counted). */
int tls_tenant_admit(struct sup *sp, const char *tenant);
/* dataagent_tls_refused_total for /metrics. */
void tls_metrics(struct sup *sp, struct evbuffer *out);
/*
 * Starts relaying for tenant's worker: returns the worker's end of a new
 * socketpair (owned by the caller) and in pre_r, prelen_r (malloc'd) the
 * bytes read so far, which come first. -1 (tc freed) on failure.
 */
int tls_conn_handoff(struct tls_conn *tc, const char *tenant,
    uint8_t **pre_r, size_t *prelen_r);
/* Frees a connection still in the front. */
void tls_conn_free(struct tls_conn **tc);
/*
 * IPC_HANDBACK of an AF_UNIX fd (handback.c checked that this worker was
 * given it): when it is the worker's end of one of tenant's relays, the
 * relay stops and the TLS connection goes back to the front with pre
 * (owned, taken) and whatever was still on its way to the worker, as
 * handed back by worker pid `from`. Returns 0 (fd closed), or -1 when fd
 * is none of tenant's relays (the client left; fd and pre left to the
 * caller).
 */
int tls_adopt(struct sup *sp, int fd, uint8_t *pre, size_t prelen,
    const char *tenant, pid_t from);

/* front.c, for tls.c: a TLS connection (handshake under way or done)
 * enters the front; NULL when refused (tc then freed by the caller). */
struct front_conn *front_tls_new(struct sup *sp, struct tls_conn *tc,
    const struct sockaddr_storage *ss);
/* The connection was handed back by worker pid from (see
 * front_handbacks_from). */
void front_tls_from(struct front_conn *fc, pid_t from);
/* New decrypted bytes are in tls_conn_input(). */
void front_tls_input(struct front_conn *fc);
/* The client went away in the front: frees fc, not its tls_conn. */
void front_tls_gone(struct front_conn *fc);

#endif
