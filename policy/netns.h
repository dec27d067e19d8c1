/*
 * netns.h: a tenant's own network namespace.
 *
 * The supervisor (root) makes one per worker it assigns, when the tenant's
 * network is anything but the host's (tenant_network, dataagent.conf(5)),
 * and passes its fd with IPC_ASSIGN; the worker joins it while still root,
 * first of its confinement steps (confine_worker), so the launcher and
 * every MCP server it starts are born inside. A namespace lives while a
 * process is in it or an fd refers to it: the supervisor closes its fd
 * once sent, so the namespace goes when the tenant's last process does.
 *
 * Inside there is only "lo", up: the tenant's servers reach each other on
 * 127.0.0.1 and ::1, and none of the host's listeners, whose loopback is
 * another one. Abstract Unix sockets belong to the network namespace too,
 * so the host's are out of reach as well. Unix sockets bound to paths are
 * not: the mount namespace (sandbox_fs) hides those.
 */
#ifndef DATAAGENT_NETNS_H
#define DATAAGENT_NETNS_H

#include <stddef.h>
#include <netinet/in.h>

/*
 * The way out of a namespace (tenant_network = egress): a veth pair,
 * "eth0" inside with ne_tenant_addr and a default route through
 * ne_host_addr, the host's end named ne_host_if in the caller's namespace
 * with ne_host_addr, forwarding what comes in on it. Both addresses sit
 * in one /ne_prefix. What may pass the host's end is the nftables rules'
 * business (supervisor/egress.c).
 */
struct netns_egress {
	char ne_host_if[16];		/* IFNAMSIZ */
	struct in_addr ne_host_addr;
	struct in_addr ne_tenant_addr;
	int ne_prefix;
};

/*
 * Makes a new network namespace with its loopback up, and, when eg is not
 * NULL, its veth pair (a link of that name left in the caller's namespace
 * is deleted first). It is made from a short-lived child (the caller's
 * own namespace never changes). Returns an fd on it (O_CLOEXEC), or -1
 * with err set. Needs CAP_SYS_ADMIN and CAP_NET_ADMIN. Waits for its
 * child with waitpid(pid): a caller that reaps with waitpid(-1) elsewhere
 * does not see it.
 */
int netns_new(const struct netns_egress *eg, char *err, size_t errlen);

/*
 * Moves the calling process into the namespace fd refers to (setns) and
 * checks it is there: /proc/self/ns/net must then be the same inode as
 * fd. Needs CAP_SYS_ADMIN. Returns 0, or -1 with err set.
 */
int netns_join(int fd, char *err, size_t errlen);

/* 1 when fd refers to a network namespace other than the caller's. */
int netns_is_other(int fd);

#endif
