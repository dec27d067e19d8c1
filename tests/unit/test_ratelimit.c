/*
 * test_ratelimit.c: the buckets and tables of supervisor/ratelimit.c, in
 * the instant (no waiting for refills: ratelimit.test.mjs times those).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "supervisor.h"
#include "ratelimit.h"
#include "unit.h"

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	return ss;
}

int
main(void)
{
	static struct sup sp;
	char dir[] = "/tmp/dataagent-unit-rl-XXXXXX", db[128];
	char err[STORE_ERRLEN];
	struct store_limits l;
	struct sockaddr_storage a;
	int retry, i, n;

	log_init("test_ratelimit", LOG_LVL_ERROR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/db", dir);
	config_defaults(&sp.sp_cf);
	if (store_open(&sp.sp_store, db, err, sizeof(err)) == -1 ||
	    store_tenant_add(sp.sp_store, "alice", 61001, 0, NULL, err,
	    sizeof(err)) == -1 ||
	    store_tenant_add(sp.sp_store, "bob", 61002, 0, NULL, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "store: %s\n", err);
		return 1;
	}
	sp.sp_cf.cf_ip_connection_rate = 60;
	sp.sp_cf.cf_ip_connection_burst = 3;
	sp.sp_cf.cf_auth_fail_limit = 2;
	sp.sp_cf.cf_auth_fail_block = 5;
	snprintf(sp.sp_cf.cf_rate_limit_exempt,
	    sizeof(sp.sp_cf.cf_rate_limit_exempt), "10.9.0.0/16, 2001:db8:1::/48");
	snprintf(sp.sp_cf.cf_trusted_proxies,
	    sizeof(sp.sp_cf.cf_trusted_proxies), "10.20.0.0/16, fd00::1");
	UNIT_CHECK(ratelimit_init(&sp) == 0);

	UNIT_CASE("default 100/min: exactly 100 at once, then 429 for a second");
	n = 0;
	for (i = 0; i < 150; i++)
		n += ratelimit_tenant_take(&sp, "alice", 1, &retry);
	UNIT_CHECK(n == 100);
	UNIT_CHECK(retry == 1);
	UNIT_CHECK(ratelimit_refused(&sp, RL_SCOPE_TENANT) == 50);
	UNIT_CHECK(ratelimit_tenant_take(&sp, "bob", 40, &retry) == 40);
	UNIT_CHECK(ratelimit_tenant_take(&sp, "bob", 64, &retry) == 60);
	UNIT_CHECK(ratelimit_refused(&sp, RL_SCOPE_TENANT) == 54);

	UNIT_CASE("an override applies at once, keeps what is left up to its burst");
	l.sl_memory_max = l.sl_swap_max = l.sl_pids_max = l.sl_cpu_weight =
	    STORE_LIMIT_DEFAULT;
	l.sl_rate_per_minute = 6;
	UNIT_CHECK(store_tenant_limits_set(sp.sp_store, "alice", &l, err,
	    sizeof(err)) == 1);
	ratelimit_tenant_changed(&sp, "alice");
	UNIT_CHECK(ratelimit_tenant_rate(&sp, "alice") == 6);
	UNIT_CHECK(ratelimit_tenant_take(&sp, "alice", 1, &retry) == 0);
	UNIT_CHECK(retry >= 9 && retry <= 10);
	l.sl_rate_per_minute = 0;
	UNIT_CHECK(store_tenant_limits_set(sp.sp_store, "alice", &l, err,
	    sizeof(err)) == 1);
	ratelimit_tenant_changed(&sp, "alice");
	UNIT_CHECK(ratelimit_tenant_take(&sp, "alice", 64, &retry) == 64);
	l.sl_rate_per_minute = 3;
	UNIT_CHECK(store_tenant_limits_set(sp.sp_store, "alice", &l, err,
	    sizeof(err)) == 1);
	ratelimit_tenant_changed(&sp, "alice");
	UNIT_CHECK(ratelimit_tenant_take(&sp, "alice", 5, &retry) == 3);
	UNIT_CHECK(retry >= 19 && retry <= 20);
	ratelimit_tenant_forget(&sp, "alice");
	UNIT_CHECK(ratelimit_tenant_take(&sp, "alice", 5, &retry) == 3);

	UNIT_CASE("connections per address: the burst, then refused; /64s share");
	a = addr("192.0.2.7");
	for (n = 0, i = 0; i < 5; i++)
		n += ratelimit_ip_connect(&sp, &a);
	UNIT_CHECK(n == 3);
	UNIT_CHECK(ratelimit_refused(&sp, RL_SCOPE_IP) == 2);
	a = addr("192.0.2.8");
	UNIT_CHECK(ratelimit_ip_connect(&sp, &a) == 1);
	a = addr("2001:db8:5:6::1");
	for (n = 0, i = 0; i < 2; i++)
		n += ratelimit_ip_connect(&sp, &a);
	a = addr("2001:db8:5:6:ffff::2");	/* the same /64 */
	for (i = 0; i < 2; i++)
		n += ratelimit_ip_connect(&sp, &a);
	UNIT_CHECK(n == 3);
	a = addr("2001:db8:5:7::1");		/* another /64 */
	UNIT_CHECK(ratelimit_ip_connect(&sp, &a) == 1);

	UNIT_CASE("exempt addresses and blocks are never limited");
	a = addr("10.9.200.1");
	for (n = 0, i = 0; i < 10; i++)
		n += ratelimit_ip_connect(&sp, &a);
	UNIT_CHECK(n == 10);
	a = addr("10.10.0.1");
	for (n = 0, i = 0; i < 10; i++)
		n += ratelimit_ip_connect(&sp, &a);
	UNIT_CHECK(n == 3);
	a = addr("2001:db8:1:ff::9");
	for (n = 0, i = 0; i < 10; i++)
		n += ratelimit_ip_connect(&sp, &a);
	UNIT_CHECK(n == 10);

	UNIT_CASE("X-Forwarded-For: the right-most address not a trusted proxy");
	{
		struct sockaddr_storage c;
		char s[INET6_ADDRSTRLEN];

		a = addr("10.20.1.1");
		UNIT_CHECK(ratelimit_trusted_proxy(&sp, &a) == 1);
		a = addr("10.21.1.1");
		UNIT_CHECK(ratelimit_trusted_proxy(&sp, &a) == 0);
		UNIT_CHECK(ratelimit_forwarded_client(&sp,
		    "1.1.1.1, 192.0.2.7,10.20.0.5", &c) == 0);
		UNIT_CHECK(c.ss_family == AF_INET && strcmp(inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&c)->sin_addr, s, sizeof(s)),
		    "192.0.2.7") == 0);
		UNIT_CHECK(ratelimit_forwarded_client(&sp, "10.20.0.9 , [fd00::1]",
		    &c) == 0);
		UNIT_CHECK(strcmp(inet_ntop(AF_INET, &((struct sockaddr_in *)
		    &c)->sin_addr, s, sizeof(s)), "10.20.0.9") == 0);
		UNIT_CHECK(ratelimit_forwarded_client(&sp, " 2001:db8::7 ",
		    &c) == 0 && c.ss_family == AF_INET6);
		UNIT_CHECK(ratelimit_forwarded_client(&sp, "1.1.1.1, unknown",
		    &c) == -1);
		UNIT_CHECK(ratelimit_forwarded_client(&sp, "", &c) == -1);
		/* a trusted proxy's connections are not charged */
		a = addr("10.20.1.1");
		for (n = 0, i = 0; i < 10; i++)
			n += ratelimit_ip_connect(&sp, &a);
		UNIT_CHECK(n == 10);
	}

	UNIT_CASE("authentication failures back an address off");
	a = addr("198.51.100.1");
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 0);
	ratelimit_auth_failed(&sp, &a);
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 0);
	ratelimit_auth_failed(&sp, &a);
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 1);
	UNIT_CHECK(retry == 5);
	ratelimit_auth_failed(&sp, &a);		/* doubles */
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 1);
	UNIT_CHECK(retry == 10);
	UNIT_CHECK(ratelimit_refused(&sp, RL_SCOPE_AUTH) == 2);
	a = addr("198.51.100.2");
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 0);
	a = addr("10.9.1.1");
	for (i = 0; i < 10; i++)
		ratelimit_auth_failed(&sp, &a);
	UNIT_CHECK(ratelimit_auth_blocked(&sp, &a, &retry) == 0);

	UNIT_CASE("a full address table replaces old entries and stays bounded");
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&a;
		uint32_t k;

		for (k = 0; k < 100000; k++) {
			memset(&a, 0, sizeof(a));
			sin->sin_family = AF_INET;
			sin->sin_addr.s_addr = htonl(0x0b000000u + k);
			(void)ratelimit_ip_connect(&sp, &a);
		}
		/* the most recent address is still counted */
		a = addr("11.1.134.159");	/* 0x0b000000 + 99999 */
		for (n = 0, i = 0; i < 5; i++)
			n += ratelimit_ip_connect(&sp, &a);
		UNIT_CHECK(n == 2);
	}

	ratelimit_free(&sp);
	store_close(&sp.sp_store);
	unlink(db);
	snprintf(db, sizeof(db), "rm -rf %s", dir);
	if (system(db) != 0)
		return 1;
	return unit_done();
}
