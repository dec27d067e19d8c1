/*
 * egress.c: tenant_network = egress, the host's side of each tenant's way
 * out (dataagentd(8), TENANT NETWORK).
 *
 * Each worker assigned in this mode gets a slot: a /30 out of
 * tenant_egress_range, the host's end of its veth pair (named "dta" and
 * the host address in hex, so two daemons with two ranges never meet;
 * interfaces named dta and the range's first prefix/4 hex digits are
 * taken to be this daemon's, and no other: another daemon's, or those a
 * killed daemon's table still names, are not refused here)
 * and two chains in this daemon's nftables table, "inet <cgroup_name>":
 *
 *   input:   iifname vmap @tenant_in  -> sN_in:  count, reject
 *            (nothing from a tenant reaches the host itself: its loopback,
 *            the gateway, the store, the host's own addresses)
 *   (an interface no slot maps any more, a straggler of a reaped
 *   worker's namespace: reject, in both chains)
 *   forward: iifname vmap @tenant_fwd -> sN_fwd: to tenant_egress_deny or
 *            the range (other tenants): count, reject; then the allowlist
 *            (tenant_egress_allow) or everything IPv4; anything else:
 *            count, reject
 *            oifname @tenant_ifs, not a reply: drop (nobody starts a
 *            connection towards a tenant)
 *   postrouting (nat): from the range, masquerade
 *
 * "reject with icmpx admin-prohibited" makes a refused connect fail at
 * once with EHOSTUNREACH. The counter of each refusal is the tenant's
 * ("t-<tenant>"), read for /metrics. Rules go through libnftables, in
 * the process: no nft(8) is run. The table is made at start (any left by
 * an earlier run of the same daemon is replaced) and deleted at exit.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <nftables/libnftables.h>

#include "netns.h"
#include "store.h"
#include "supervisor.h"

#define EGRESS_SLOTS_MAX	16384	/* a /16 in /30s */
/* The host's ends of the pairs: "dta" and the host address in hex. */
#define EGRESS_IF_PREFIX	"dta"

struct egress_slot {
	char es_tenant[65];	/* "" when free */
};

struct egress {
	struct nft_ctx *eg_nft;
	char eg_table[64];		/* nftables table: cgroup_name */
	struct in_addr eg_base;		/* the range's first address */
	int eg_prefix;
	unsigned eg_nslots;
	unsigned eg_next;		/* round robin: a freed slot rests */
	struct egress_slot *eg_slots;
	char eg_allow[CONFIG_STRLEN * 2];	/* nft rule text, or "" */
	char eg_deny[CONFIG_STRLEN * 2];	/* set elements */
};

/* "A.B.C.D/N" into addr/prefix (host bits must be zero). */
static int
cidr_parse(const char *s, struct in_addr *addr, int *prefix)
{
	char buf[64], *slash, *end;
	long n = 32;
	uint32_t mask;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		errno = 0;
		n = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == slash + 1 || n < 0 ||
		    n > 32)
			return -1;
	}
	if (inet_pton(AF_INET, buf, addr) != 1)
		return -1;
	mask = n == 0 ? 0 : htonl(~0u << (32 - n));
	if ((addr->s_addr & ~mask) != 0)
		return -1;
	*prefix = (int)n;
	return 0;
}

/*
 * One allowlist entry, "CIDR", "ADDR" or either with ":PORT" (TCP and
 * UDP), into an nft rule tail; host names are not taken (nft would
 * resolve them once, at load, and silently keep a stale answer).
 */
static int
allow_entry(const char *e, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char buf[80], *colon, *end, a[INET_ADDRSTRLEN];
	struct in_addr addr;
	long port = 0;
	int prefix;

	if (strlen(e) >= sizeof(buf)) {
		snprintf(err, errlen, "\"%s\" is too long", e);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", e);
	if ((colon = strchr(buf, ':')) != NULL) {
		*colon = '\0';
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == colon + 1 ||
		    port < 1 || port > 65535) {
			snprintf(err, errlen, "\"%s\": the port must be 1 to "
			    "65535", e);
			return -1;
		}
	}
	if (cidr_parse(buf, &addr, &prefix) == -1) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address or CIDR "
		    "(host bits zero), with an optional :PORT; host names are "
		    "not taken", e);
		return -1;
	}
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	if (port != 0)
		snprintf(out, outlen, "ip daddr %s/%d meta l4proto { tcp, udp } "
		    "th dport %ld accept", a, prefix, port);
	else
		snprintf(out, outlen, "ip daddr %s/%d accept", a, prefix);
	return 0;
}

/* Each comma-separated entry of list through fn, appended to out with
 * sep between; -1 with err at the first bad one. */
static int
list_build(const char *list, const char *sep, char *out, size_t outlen,
    int (*fn)(const char *, char *, size_t, char *, size_t), char *err,
    size_t errlen)
{
	char copy[CONFIG_STRLEN], *tok, *save = NULL, one[160];
	size_t used = 0;

	out[0] = '\0';
	snprintf(copy, sizeof(copy), "%s", list);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		if (fn(tok, one, sizeof(one), err, errlen) == -1)
			return -1;
		if (used + strlen(sep) + strlen(one) + 1 > outlen) {
			snprintf(err, errlen, "the list is too long");
			return -1;
		}
		used += (size_t)snprintf(out + used, outlen - used, "%s%s",
		    used > 0 ? sep : "", one);
	}
	return 0;
}

static int
deny_entry(const char *e, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct in_addr addr;
	char a[INET_ADDRSTRLEN];
	int prefix;

	if (cidr_parse(e, &addr, &prefix) == -1) {
		snprintf(err, errlen, "tenant_egress_deny: \"%s\" is not an "
		    "IPv4 address or CIDR (host bits zero)", e);
		return -1;
	}
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(out, outlen, "%s/%d", a, prefix);
	return 0;
}

/* Runs nft commands; -1 with nft's own message in err. */
static int
egress_nft(struct egress *eg, const char *cmds, char *err, size_t errlen)
{
	const char *msg;

	if (nft_run_cmd_from_buffer(eg->eg_nft, cmds) == 0) {
		(void)nft_ctx_get_error_buffer(eg->eg_nft);
		return 0;
	}
	msg = nft_ctx_get_error_buffer(eg->eg_nft);
	snprintf(err, errlen, "nftables: %.*s", (int)strcspn(msg != NULL ?
	    msg : "?", "\n"), msg != NULL ? msg : "?");
	return -1;
}

/* The slot's two addresses and interface name. */
static void
egress_slot_addrs(const struct egress *eg, unsigned slot,
    struct netns_egress *ne)
{
	uint32_t base = ntohl(eg->eg_base.s_addr) + slot * 4;

	memset(ne, 0, sizeof(*ne));
	ne->ne_host_addr.s_addr = htonl(base + 1);
	ne->ne_tenant_addr.s_addr = htonl(base + 2);
	ne->ne_prefix = 30;
	snprintf(ne->ne_host_if, sizeof(ne->ne_host_if), EGRESS_IF_PREFIX
	    "%08x", base + 1);
}

void
egress_close(struct sup *sp)
{
	struct egress *eg = sp->sp_egress;
	char cmd[256], err[256];

	if (eg == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "delete table inet %s\n", eg->eg_table);
	if (egress_nft(eg, cmd, err, sizeof(err)) == -1)
		log_warn("egress: cannot remove the nftables table", "{s:s,s:s}",
		    "table", eg->eg_table, "error", err);
	nft_ctx_free(eg->eg_nft);
	free(eg->eg_slots);
	free(eg);
	sp->sp_egress = NULL;
}

/* The ip_forward sysctl, or -1. */
static int
ip_forward(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	int v = -1;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* tenant_egress_* and cgroup_name into eg (no slots, no nft yet). */
static int
egress_parse(const struct config *cf, struct egress *eg, char *err,
    size_t errlen)
{
	if (cidr_parse(cf->cf_tenant_egress_range, &eg->eg_base,
	    &eg->eg_prefix) == -1 || eg->eg_prefix < 16 ||
	    eg->eg_prefix > 29) {
		snprintf(err, errlen, "tenant_egress_range: \"%s\" is not an "
		    "IPv4 CIDR from /16 to /29", cf->cf_tenant_egress_range);
		return -1;
	}
	eg->eg_nslots = 1u << (32 - eg->eg_prefix - 2);
	if (eg->eg_nslots > EGRESS_SLOTS_MAX)
		eg->eg_nslots = EGRESS_SLOTS_MAX;
	if (list_build(cf->cf_tenant_egress_allow, "\n", eg->eg_allow,
	    sizeof(eg->eg_allow), allow_entry, err, errlen) == -1) {
		/* allow_entry's message names the entry, not the list */
		char inner[512];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "tenant_egress_allow: %s", inner);
		return -1;
	}
	if (list_build(cf->cf_tenant_egress_deny, ", ", eg->eg_deny,
	    sizeof(eg->eg_deny), deny_entry, err, errlen) == -1)
		return -1;
	if (strlen(cf->cf_cgroup_name) >= sizeof(eg->eg_table) ||
	    strspn(cf->cf_cgroup_name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
	    strlen(cf->cf_cgroup_name) || !isalpha((unsigned char)
	    cf->cf_cgroup_name[0])) {
		snprintf(err, errlen, "tenant_network = egress names its "
		    "nftables table after cgroup_name, which must then start "
		    "with a letter and hold only letters, digits, _ and - "
		    "(at most 63)");
		return -1;
	}
	snprintf(eg->eg_table, sizeof(eg->eg_table), "%s", cf->cf_cgroup_name);
	return 0;
}

int
egress_check(const struct config *cf, char *err, size_t errlen)
{
	struct egress *eg;
	int rc;

	if (strcmp(cf->cf_tenant_network, "egress") != 0)
		return 0;
	if ((eg = calloc(1, sizeof(*eg))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = egress_parse(cf, eg, err, errlen);
	free(eg);
	return rc;
}

int
egress_probe(const struct config *cf, char *err, size_t errlen)
{
	struct nft_ctx *nft;
	const char *msg;
	char cmds[4096];
	int fd, rc = 0;

	if (strcmp(cf->cf_tenant_network, "host") == 0)
		return 0;
	if ((fd = netns_new(NULL, err, errlen)) == -1)
		return -1;
	close(fd);
	if (strcmp(cf->cf_tenant_network, "egress") != 0)
		return 0;
	if ((nft = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	/* Checked by the kernel, then not committed: what egress_open
	 * needs of nf_tables (a filter and a nat chain, reject). */
	nft_ctx_set_dry_run(nft, true);
	snprintf(cmds, sizeof(cmds),
	    "add table inet %1$s\n"
	    "add chain inet %1$s probe_fwd { type filter hook forward "
	    "priority -10; policy accept; }\n"
	    "add chain inet %1$s probe_nat { type nat hook postrouting "
	    "priority 100; policy accept; }\n"
	    "add rule inet %1$s probe_fwd reject with icmpx "
	    "admin-prohibited\n"
	    "add rule inet %1$s probe_nat ip saddr 10.0.0.0/8 masquerade\n",
	    cf->cf_cgroup_name);
	if (nft_run_cmd_from_buffer(nft, cmds) != 0) {
		msg = nft_ctx_get_error_buffer(nft);
		snprintf(err, errlen, "nftables: %.*s", (int)strcspn(msg !=
		    NULL ? msg : "?", "\n"), msg != NULL ? msg : "?");
		rc = -1;
	}
	nft_ctx_free(nft);
	return rc;
}

int
egress_open(struct sup *sp, char *err, size_t errlen)
{
	const struct config *cf = &sp->sp_cf;
	struct egress *eg;
	char cmds[16384], range[64], a[INET_ADDRSTRLEN], ifglob[16];
	int fwd;

	if (strcmp(cf->cf_tenant_network, "egress") != 0)
		return 0;
	if ((eg = calloc(1, sizeof(*eg))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (egress_parse(cf, eg, err, errlen) == -1) {
		free(eg);
		return -1;
	}
	if ((eg->eg_slots = calloc(eg->eg_nslots, sizeof(*eg->eg_slots))) ==
	    NULL || (eg->eg_nft = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(eg->eg_slots);
		free(eg);
		return -1;
	}
	nft_ctx_buffer_output(eg->eg_nft);
	nft_ctx_buffer_error(eg->eg_nft);
	/* The stragglers' catch-all matches this range's interfaces only
	 * (their names carry the host address in hex, to the range's
	 * prefix rounded down to 4 bits): another daemon's pairs, or a
	 * table a killed daemon left, are none of this table's business. */
	snprintf(ifglob, sizeof(ifglob), EGRESS_IF_PREFIX "%08x",
	    (unsigned)ntohl(eg->eg_base.s_addr));
	ifglob[strlen(EGRESS_IF_PREFIX) + (size_t)eg->eg_prefix / 4] = '*';
	ifglob[strlen(EGRESS_IF_PREFIX) + (size_t)eg->eg_prefix / 4 + 1] =
	    '\0';
	inet_ntop(AF_INET, &eg->eg_base, a, sizeof(a));
	snprintf(range, sizeof(range), "%s/%d", a, eg->eg_prefix);
	/* "add" then "delete": a table left by an earlier run goes. */
	snprintf(cmds, sizeof(cmds),
	    "add table inet %1$s\n"
	    "delete table inet %1$s\n"
	    "add table inet %1$s\n"
	    "add set inet %1$s deny4 { type ipv4_addr; flags interval; "
	    "elements = { %2$s%3$s%4$s } }\n"
	    "add set inet %1$s tenant_ifs { type ifname; }\n"
	    "add map inet %1$s tenant_in { type ifname : verdict; }\n"
	    "add map inet %1$s tenant_fwd { type ifname : verdict; }\n"
	    "add chain inet %1$s input { type filter hook input priority "
	    "-10; policy accept; }\n"
	    "add chain inet %1$s forward { type filter hook forward priority "
	    "-10; policy accept; }\n"
	    "add chain inet %1$s postrouting { type nat hook postrouting "
	    "priority 100; policy accept; }\n"
	    "add rule inet %1$s input iifname vmap @tenant_in\n"
	    "add rule inet %1$s input iifname \"%5$s\" reject "
	    "with icmpx admin-prohibited\n"
	    "add rule inet %1$s forward iifname vmap @tenant_fwd\n"
	    "add rule inet %1$s forward iifname \"%5$s\" "
	    "reject with icmpx admin-prohibited\n"
	    "add rule inet %1$s forward oifname @tenant_ifs ct state != "
	    "{ established, related } drop\n"
	    "add rule inet %1$s postrouting ip saddr %2$s masquerade\n",
	    eg->eg_table, range, eg->eg_deny[0] != '\0' ? ", " : "",
	    eg->eg_deny, ifglob);
	sp->sp_egress = eg;
	if (egress_nft(eg, cmds, err, errlen) == -1) {
		nft_ctx_free(eg->eg_nft);
		free(eg->eg_slots);
		free(eg);
		sp->sp_egress = NULL;
		return -1;
	}
	fwd = ip_forward();
	log_info("egress: nftables table ready", "{s:s,s:s,s:s,s:s,s:i}",
	    "table", eg->eg_table, "range", range, "allow",
	    cf->cf_tenant_egress_allow[0] != '\0' ?
	    cf->cf_tenant_egress_allow : "(everything but the host and "
	    "tenant_egress_deny)", "deny", cf->cf_tenant_egress_deny,
	    "ip_forward", fwd);
	if (fwd != 1)
		log_warn("egress: net.ipv4.ip_forward is not 1: dataagentd "
		    "turns forwarding on for its own veth ends only, so replies "
		    "that come back on an interface that does not forward (the "
		    "uplink, usually) never reach the tenant; set "
		    "net.ipv4.ip_forward=1 (dataagentd changes no host-wide "
		    "setting)", NULL);
	return 0;
}

/* Appends to a command buffer; the caller checks *used < len at the end. */
static void __attribute__((format(printf, 4, 5)))
cmd_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	*used += n > 0 ? (size_t)n : 0;
}

/*
 * The rules of the tenant's allowlist, as nft rule tails one a line:
 * its own (tenant set-egress, in the store) when it has one, else
 * tenant_egress_allow's. 0, or -1 with err.
 */
static int
egress_allow_rules(struct sup *sp, const char *tenant, char *out,
    size_t outlen, char *err, size_t errlen)
{
	char *list = NULL;
	int rc;

	if (store_tenant_egress_get(sp->sp_store, tenant, &list, err,
	    errlen) == -1)
		return -1;
	if (list == NULL || list[0] == '\0') {
		free(list);
		snprintf(out, outlen, "%s", sp->sp_egress->eg_allow);
		return 0;
	}
	rc = list_build(list, "\n", out, outlen, allow_entry, err, errlen);
	free(list);
	return rc;
}

/* The commands that (re)write slot's forward chain: the deny set, the
 * allowlist (allow: rule tails, "" for all IPv4), the final reject. */
static void
egress_fwd_cmds(const struct egress *eg, unsigned slot, const char *tenant,
    const char *allow, char *cmds, size_t len, size_t *used)
{
	char copy[sizeof(eg->eg_allow) * 2], *line, *save = NULL;
	const char *t = eg->eg_table;

	cmd_add(cmds, len, used,
	    "add chain inet %1$s s%3$u_fwd\n"
	    "flush chain inet %1$s s%3$u_fwd\n"
	    "add rule inet %1$s s%3$u_fwd ip daddr @deny4 counter name "
	    "t-%2$s reject with icmpx admin-prohibited\n", t, tenant, slot);
	if (allow[0] == '\0')
		cmd_add(cmds, len, used, "add rule inet %s s%u_fwd meta nfproto "
		    "ipv4 accept\n", t, slot);
	snprintf(copy, sizeof(copy), "%s", allow);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		cmd_add(cmds, len, used, "add rule inet %s s%u_fwd %s\n", t,
		    slot, line);
	cmd_add(cmds, len, used, "add rule inet %1$s s%3$u_fwd counter name "
	    "t-%2$s reject with icmpx admin-prohibited\n", t, tenant, slot);
}

int
egress_assign(struct sup *sp, const char *tenant, struct netns_egress *ne,
    int *slot_r, char *err, size_t errlen)
{
	struct egress *eg = sp->sp_egress;
	char cmds[16384], allow[sizeof(eg->eg_allow) * 2];
	const char *t;
	unsigned i, slot = 0;
	size_t used = 0;

	*slot_r = -1;
	if (eg == NULL) {
		snprintf(err, errlen, "egress is not set up");
		return -1;
	}
	if (egress_allow_rules(sp, tenant, allow, sizeof(allow), err,
	    errlen) == -1)
		return -1;
	for (i = 0; i < eg->eg_nslots; i++) {
		slot = (eg->eg_next + i) % eg->eg_nslots;
		if (eg->eg_slots[slot].es_tenant[0] == '\0')
			break;
	}
	if (i == eg->eg_nslots) {
		snprintf(err, errlen, "tenant_egress_range has no free /30 "
		    "left (%u in use)", eg->eg_nslots);
		return -1;
	}
	eg->eg_next = (slot + 1) % eg->eg_nslots;
	egress_slot_addrs(eg, slot, ne);
	t = eg->eg_table;
	/* Idempotent: a slot whose last release failed is made over. */
	cmd_add(cmds, sizeof(cmds), &used,
	    "add counter inet %1$s t-%2$s\n"
	    "add chain inet %1$s s%3$u_in\n"
	    "flush chain inet %1$s s%3$u_in\n"
	    "add rule inet %1$s s%3$u_in counter name t-%2$s reject with "
	    "icmpx admin-prohibited\n", t, tenant, slot);
	egress_fwd_cmds(eg, slot, tenant, allow, cmds, sizeof(cmds), &used);
	cmd_add(cmds, sizeof(cmds), &used,
	    "add element inet %1$s tenant_ifs { \"%3$s\" }\n"
	    "add element inet %1$s tenant_in { \"%3$s\" : jump s%2$u_in }\n"
	    "add element inet %1$s tenant_fwd { \"%3$s\" : jump s%2$u_fwd }\n",
	    t, slot, ne->ne_host_if);
	if (used >= sizeof(cmds)) {
		snprintf(err, errlen, "the egress allowlist has too many rules");
		return -1;
	}
	if (egress_nft(eg, cmds, err, errlen) == -1)
		return -1;
	snprintf(eg->eg_slots[slot].es_tenant,
	    sizeof(eg->eg_slots[slot].es_tenant), "%s", tenant);
	*slot_r = (int)slot;
	return 0;
}

void
egress_tenant_changed(struct sup *sp, const char *tenant)
{
	struct egress *eg = sp->sp_egress;
	char cmds[16384], allow[sizeof(eg->eg_allow) * 2], err[512];
	size_t used = 0;
	unsigned slot;

	if (eg == NULL)
		return;
	for (slot = 0; slot < eg->eg_nslots; slot++)
		if (strcmp(eg->eg_slots[slot].es_tenant, tenant) == 0)
			break;
	if (slot == eg->eg_nslots)
		return;		/* no worker of it here */
	if (egress_allow_rules(sp, tenant, allow, sizeof(allow), err,
	    sizeof(err)) == -1) {
		log_error("egress: cannot read the tenant's allowlist; its "
		    "running workers keep their rules", "{s:s,s:s}", "tenant",
		    tenant, "error", err);
		return;
	}
	/* The chain is rewritten in one batch: nftables applies it whole
	 * or not at all, so no packet sees it half-made. */
	for (; slot < eg->eg_nslots; slot++)
		if (strcmp(eg->eg_slots[slot].es_tenant, tenant) == 0)
			egress_fwd_cmds(eg, slot, tenant, allow, cmds,
			    sizeof(cmds), &used);
	if (used == 0)
		return;
	if (used >= sizeof(cmds) ||
	    egress_nft(eg, cmds, err, sizeof(err)) == -1)
		log_error("egress: cannot apply the tenant's allowlist to its "
		    "running workers; they keep their rules", "{s:s,s:s}",
		    "tenant", tenant, "error", used >= sizeof(cmds) ?
		    "too many rules" : err);
	else
		log_debug("egress: allowlist applied to the running workers",
		    "{s:s}", "tenant", tenant);
}

char *
egress_allow_normalize(const json_t *entries, char *err, size_t errlen)
{
	char one[160], *out;
	size_t i, used = 0, cap = 1;
	const json_t *e;

	if (!json_is_array(entries) || json_array_size(entries) > 64) {
		snprintf(err, errlen, "allow: a list of at most 64 entries");
		return NULL;
	}
	json_array_foreach(entries, i, e) {
		if (!json_is_string(e)) {
			snprintf(err, errlen, "allow: entries are strings");
			return NULL;
		}
		if (allow_entry(json_string_value(e), one, sizeof(one), err,
		    errlen) == -1) {
			char inner[512];

			snprintf(inner, sizeof(inner), "%s", err);
			snprintf(err, errlen, "allow: %s", inner);
			return NULL;
		}
		cap += strlen(json_string_value(e)) + 1;
	}
	if ((out = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	out[0] = '\0';
	json_array_foreach(entries, i, e)
		used += (size_t)snprintf(out + used, cap - used, "%s%s",
		    used > 0 ? "," : "", json_string_value(e));
	return out;
}

const char *
egress_address(struct sup *sp, int slot, char *buf, size_t len)
{
	struct netns_egress ne;

	if (sp->sp_egress == NULL || slot < 0 ||
	    (unsigned)slot >= sp->sp_egress->eg_nslots)
		return NULL;
	egress_slot_addrs(sp->sp_egress, (unsigned)slot, &ne);
	return inet_ntop(AF_INET, &ne.ne_tenant_addr, buf, (socklen_t)len);
}

void
egress_release(struct sup *sp, int *slot)
{
	struct egress *eg = sp->sp_egress;
	char cmds[2048], err[256], ifname[16];
	struct netns_egress ne;

	if (eg == NULL || *slot < 0 || (unsigned)*slot >= eg->eg_nslots)
		return;
	egress_slot_addrs(eg, (unsigned)*slot, &ne);
	snprintf(ifname, sizeof(ifname), "%s", ne.ne_host_if);
	snprintf(cmds, sizeof(cmds),
	    "delete element inet %1$s tenant_in { \"%3$s\" }\n"
	    "delete element inet %1$s tenant_fwd { \"%3$s\" }\n"
	    "delete element inet %1$s tenant_ifs { \"%3$s\" }\n"
	    "delete chain inet %1$s s%2$d_in\n"
	    "delete chain inet %1$s s%2$d_fwd\n",
	    eg->eg_table, *slot, ifname);
	if (egress_nft(eg, cmds, err, sizeof(err)) == -1)
		log_warn("egress: cannot remove a worker's rules (made over "
		    "when the slot is used again)", "{s:s,s:s}", "tenant",
		    eg->eg_slots[*slot].es_tenant, "error", err);
	eg->eg_slots[*slot].es_tenant[0] = '\0';
	*slot = -1;
}

void
egress_tenant_forget(struct sup *sp, const char *tenant)
{
	struct egress *eg = sp->sp_egress;
	char cmd[CONFIG_STRLEN + 128], err[256];

	if (eg == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "delete counter inet %s t-%s\n",
	    eg->eg_table, tenant);
	(void)egress_nft(eg, cmd, err, sizeof(err));
}

json_t *
egress_refused(struct sup *sp)
{
	struct egress *eg = sp->sp_egress;
	char cmd[256];
	const char *out, *name;
	json_t *all, *list, *e, *c, *res;
	json_int_t packets;
	size_t i;

	if (eg == NULL)
		return NULL;
	snprintf(cmd, sizeof(cmd), "list counters table inet %s\n",
	    eg->eg_table);
	nft_ctx_output_set_flags(eg->eg_nft, NFT_CTX_OUTPUT_JSON);
	if (nft_run_cmd_from_buffer(eg->eg_nft, cmd) != 0) {
		(void)nft_ctx_get_error_buffer(eg->eg_nft);
		nft_ctx_output_set_flags(eg->eg_nft, 0);
		return NULL;
	}
	out = nft_ctx_get_output_buffer(eg->eg_nft);
	nft_ctx_output_set_flags(eg->eg_nft, 0);
	if ((all = json_loads(out != NULL ? out : "", 0, NULL)) == NULL)
		return NULL;
	res = json_object();
	list = json_object_get(all, "nftables");
	json_array_foreach(list, i, e) {
		c = json_object_get(e, "counter");
		if (json_unpack(c, "{s:s,s:I}", "name", &name, "packets",
		    &packets) == 0 && strncmp(name, "t-", 2) == 0)
			json_object_set_new(res, name + 2,
			    json_integer(packets));
	}
	json_decref(all);
	return res;
}
