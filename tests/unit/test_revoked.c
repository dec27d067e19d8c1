/*
 * test_revoked.c: the store's revoked_tokens rows (supervisor/store.c):
 * put, a second revocation keeping the later expiry, list, and pruning
 * what expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "store.h"
#include "unit.h"

static const json_t *
row(const json_t *list, const char *jti)
{
	const json_t *r;
	size_t i;

	json_array_foreach(list, i, r)
		if (strcmp(json_string_value(json_object_get(r, "jti")), jti) ==
		    0)
			return r;
	return NULL;
}

int
main(void)
{
	char dir[] = "/tmp/test_revoked.XXXXXX", db[128], err[STORE_ERRLEN];
	struct store *st = NULL;
	json_t *list;
	int64_t now = now_wall();

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/t.db", dir);

	UNIT_CASE("revocations are stored with tenant and expiry");
	UNIT_CHECK(store_open(&st, db, err, sizeof(err)) == 0);
	UNIT_CHECK(store_revoked_put(st, "j1", NULL, now + 100, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_revoked_put(st, "j2", "alice", now - 10, err,
	    sizeof(err)) == 0);
	list = store_revoked_list(st, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2);
	UNIT_CHECK(json_is_null(json_object_get(row(list, "j1"), "tenant")));
	UNIT_CHECK(strcmp(json_string_value(json_object_get(row(list, "j2"),
	    "tenant")), "alice") == 0);
	UNIT_CHECK(json_integer_value(json_object_get(row(list, "j1"),
	    "expires")) == now + 100);
	UNIT_CHECK(json_integer_value(json_object_get(row(list, "j1"),
	    "revoked")) >= now);
	json_decref(list);

	UNIT_CASE("revoking again keeps the later expiry");
	UNIT_CHECK(store_revoked_put(st, "j1", NULL, now + 50, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_revoked_put(st, "j2", "alice", now + 200, err,
	    sizeof(err)) == 0);
	list = store_revoked_list(st, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2);
	UNIT_CHECK(json_integer_value(json_object_get(row(list, "j1"),
	    "expires")) == now + 100);
	UNIT_CHECK(json_integer_value(json_object_get(row(list, "j2"),
	    "expires")) == now + 200);
	json_decref(list);

	UNIT_CASE("pruning drops only what expired, and survives a reopen");
	UNIT_CHECK(store_revoked_put(st, "old", NULL, now - 1, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_revoked_prune(st, now, err, sizeof(err)) == 1);
	UNIT_CHECK(store_revoked_prune(st, now, err, sizeof(err)) == 0);
	store_close(&st);
	UNIT_CHECK(store_open(&st, db, err, sizeof(err)) == 0);
	list = store_revoked_list(st, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2 && row(list, "old") == NULL);
	json_decref(list);
	UNIT_CHECK(store_revoked_prune(st, now + 1000, err, sizeof(err)) == 2);
	store_close(&st);

	unlink(db);
	snprintf(db, sizeof(db), "%s/t.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/t.db-shm", dir);
	unlink(db);
	rmdir(dir);
	return unit_done();
}
