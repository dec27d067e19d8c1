/*
 * test_store.c: the supervisor's SQLite store (supervisor/store.c) on a
 * fresh database in a temporary directory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common.h"
#include "db.h"
#include "store.h"
#include "unit.h"

static char test_dir[64];
static char test_db[128];

static json_t *
test_server(const char *name, const char *command, const char *arg,
    int enabled)
{
	return json_pack("{s:s,s:s,s:s,s:[s],s:{s:s},s:b}", "name", name,
	    "transport", "stdio", "command", command, "args", arg, "env",
	    "API_KEY", "k-1", "enabled", enabled);
}

/* The server object named `name` in a store_server_list() array. */
static json_t *
test_find(json_t *list, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o)
		if (strcmp(json_string_value(json_object_get(o, "name")),
		    name) == 0)
			return o;
	return NULL;
}

static void
test_open(void)
{
	struct store *st = NULL;
	struct stat sb;
	char err[STORE_ERRLEN], path[192];
	int fd;

	UNIT_CASE("open creates the file 0600 at the latest schema version");
	UNIT_CHECK(store_open(&st, test_db, err, sizeof(err)) == 0);
	UNIT_CHECK(st != NULL);
	if (st == NULL)
		return;
	UNIT_CHECK(stat(test_db, &sb) == 0);
	UNIT_CHECK((sb.st_mode & 0777) == 0600);
	UNIT_CHECK(store_schema_version(st) == 6);
	UNIT_CHECK(store_tenant_add(st, "keep", 61000, 0, NULL, err,
	    sizeof(err)) == 0);
	store_close(&st);
	UNIT_CHECK(st == NULL);
	store_close(&st);	/* a second close is harmless */

	UNIT_CASE("reopen keeps the data");
	UNIT_CHECK(store_open(&st, test_db, err, sizeof(err)) == 0);
	if (st == NULL)
		return;
	{
		struct store_tenant t;

		UNIT_CHECK(store_tenant_get(st, "keep", &t, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(t.st_uid == 61001);
		UNIT_CHECK(store_tenant_remove(st, "keep", err,
		    sizeof(err)) == 1);
	}
	UNIT_CHECK(store_schema_version(st) == 6);
	store_close(&st);

	UNIT_CASE("open refuses a path it cannot open");
	snprintf(path, sizeof(path), "%s/missing/dir/x.db", test_dir);
	err[0] = '\0';
	UNIT_CHECK(store_open(&st, path, err, sizeof(err)) == -1);
	UNIT_CHECK(st == NULL);
	UNIT_CHECK(err[0] != '\0');

	UNIT_CASE("open refuses a newer schema version");
	snprintf(path, sizeof(path), "%s/newer.db", test_dir);
	UNIT_CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	store_close(&st);
	{
		sqlite3 *db = NULL;

		UNIT_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
		UNIT_CHECK(sqlite3_exec(db, "INSERT INTO schema_version "
		    "(version) VALUES (99)", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(db);
	}
	err[0] = '\0';
	UNIT_CHECK(store_open(&st, path, err, sizeof(err)) == -1);
	UNIT_CHECK(st == NULL);
	UNIT_CHECK(strstr(err, "newer") != NULL);

	UNIT_CASE("open narrows an existing file to 0600");
	snprintf(path, sizeof(path), "%s/wide.db", test_dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	UNIT_CHECK(fd >= 0);
	if (fd >= 0) {
		fchmod(fd, 0644);
		close(fd);
	}
	UNIT_CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	UNIT_CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	store_close(&st);
}

static void
test_tenants(struct store *st)
{
	struct store_tenant t;
	char err[STORE_ERRLEN];
	json_t *list, *o, *srv;

	UNIT_CASE("tenant add allocates uids above the base");
	UNIT_CHECK(store_tenant_add(st, "alice", 61000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(strcmp(t.st_id, "alice") == 0);
	/* 61001 went to "keep", removed above: never handed out again. */
	UNIT_CHECK(t.st_uid == 61002);
	UNIT_CHECK(t.st_enabled == 1);
	UNIT_CHECK(t.st_created > 0 && t.st_created <= now_wall());
	UNIT_CHECK(store_tenant_add(st, "bob", 61000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(t.st_uid == 61003);
	/* A higher base moves later tenants up; never below max + 1. */
	UNIT_CHECK(store_tenant_add(st, "carol", 70000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(t.st_uid == 70001);
	UNIT_CHECK(store_tenant_add(st, "dave", 61000, 0, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_tenant_get(st, "dave", &t, err, sizeof(err)) == 1);
	UNIT_CHECK(t.st_uid == 70002);

	UNIT_CASE("tenant add stays within uid_count above the base");
	err[0] = '\0';
	UNIT_CHECK(store_tenant_add(st, "erika", 70000, 2, &t, err,
	    sizeof(err)) == -1 && strstr(err, "no free tenant uid") == err);
	UNIT_CHECK(store_tenant_get(st, "erika", &t, err, sizeof(err)) == 0);

	UNIT_CASE("tenant add refuses a duplicate id");
	err[0] = '\0';
	UNIT_CHECK(store_tenant_add(st, "alice", 61000, 0, &t, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "exists") != NULL);
	UNIT_CHECK(store_tenant_get(st, "alice", &t, err, sizeof(err)) == 1);
	UNIT_CHECK(t.st_uid == 61002);

	UNIT_CASE("tenant get of an unknown id");
	UNIT_CHECK(store_tenant_get(st, "nobody", &t, err, sizeof(err)) == 0);
	/* Bound, not interpolated. */
	UNIT_CHECK(store_tenant_get(st, "x' OR '1'='1", &t, err,
	    sizeof(err)) == 0);

	UNIT_CASE("tenant list is ordered with server counts");
	srv = test_server("memory", "/usr/bin/node", "index.js", 1);
	UNIT_CHECK(store_server_put(st, "bob", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	list = store_tenant_list(st, err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 4);
	o = json_array_get(list, 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "id")),
	    "alice") == 0);
	UNIT_CHECK(json_integer_value(json_object_get(o, "uid")) == 61002);
	UNIT_CHECK(json_is_true(json_object_get(o, "enabled")));
	UNIT_CHECK(json_integer_value(json_object_get(o, "created")) > 0);
	UNIT_CHECK(json_integer_value(json_object_get(o, "servers")) == 0);
	o = json_array_get(list, 1);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "id")),
	    "bob") == 0);
	UNIT_CHECK(json_integer_value(json_object_get(o, "servers")) == 1);
	json_decref(list);

	UNIT_CASE("tenant enable and disable");
	UNIT_CHECK(store_tenant_set_enabled(st, "alice", 0, err,
	    sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_get(st, "alice", &t, err, sizeof(err)) == 1);
	UNIT_CHECK(t.st_enabled == 0);
	list = store_tenant_list(st, err, sizeof(err));
	UNIT_CHECK(json_is_false(json_object_get(json_array_get(list, 0),
	    "enabled")));
	json_decref(list);
	/* Setting the same value again still reports the tenant exists. */
	UNIT_CHECK(store_tenant_set_enabled(st, "alice", 0, err,
	    sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_set_enabled(st, "alice", 1, err,
	    sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_get(st, "alice", &t, err, sizeof(err)) == 1);
	UNIT_CHECK(t.st_enabled == 1);
	UNIT_CHECK(store_tenant_set_enabled(st, "nobody", 1, err,
	    sizeof(err)) == 0);

	UNIT_CASE("tenant remove cascades to its servers");
	list = store_server_list(st, "bob", err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 1);
	json_decref(list);
	UNIT_CHECK(store_tenant_remove(st, "bob", err, sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_get(st, "bob", &t, err, sizeof(err)) == 0);
	list = store_server_list(st, "bob", err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 0);
	json_decref(list);
	UNIT_CHECK(store_tenant_remove(st, "bob", err, sizeof(err)) == 0);
	/* The id is free again, with a fresh uid above the current max. */
	UNIT_CHECK(store_tenant_add(st, "bob", 61000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(t.st_uid == 70003);
	list = store_server_list(st, "bob", err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 0);
	json_decref(list);

	UNIT_CASE("tenant limits: defaults, overrides, reset, cascade");
	{
		struct store_limits l, g;

		UNIT_CHECK(store_tenant_limits_get(st, "alice", &g, err,
		    sizeof(err)) == 0);
		UNIT_CHECK(g.sl_memory_max == STORE_LIMIT_DEFAULT &&
		    g.sl_pids_max == STORE_LIMIT_DEFAULT);
		l.sl_memory_max = 256LL << 20;
		l.sl_swap_max = -1;
		l.sl_pids_max = STORE_LIMIT_DEFAULT;
		l.sl_cpu_weight = 50;
		l.sl_rate_per_minute = 6;
		UNIT_CHECK(store_tenant_limits_set(st, "alice", &l, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_limits_get(st, "alice", &g, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(g.sl_memory_max == 256LL << 20 &&
		    g.sl_swap_max == -1 && g.sl_pids_max == STORE_LIMIT_DEFAULT &&
		    g.sl_cpu_weight == 50 && g.sl_rate_per_minute == 6);
		UNIT_CHECK(store_tenant_limits_set(st, "nobody", &l, err,
		    sizeof(err)) == 0);
		UNIT_CHECK(store_tenant_add(st, "limited", 61000, 0, NULL, err,
		    sizeof(err)) == 0);
		UNIT_CHECK(store_tenant_limits_set(st, "limited", &l, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_remove(st, "limited", err,
		    sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_add(st, "limited", 61000, 0, NULL, err,
		    sizeof(err)) == 0);
		UNIT_CHECK(store_tenant_limits_get(st, "limited", &g, err,
		    sizeof(err)) == 0);
		UNIT_CHECK(store_tenant_remove(st, "limited", err,
		    sizeof(err)) == 1);
	}

	UNIT_CASE("the uid of a removed tenant is never reused");
	UNIT_CHECK(store_tenant_add(st, "frank", 61000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(t.st_uid == 70006);
	UNIT_CHECK(store_tenant_remove(st, "frank", err, sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_add(st, "erin", 61000, 0, &t, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(t.st_uid == 70007);
	UNIT_CHECK(store_tenant_remove(st, "erin", err, sizeof(err)) == 1);
}

static void
test_servers(struct store *st)
{
	char err[STORE_ERRLEN];
	json_t *list, *o, *srv;

	UNIT_CASE("server put and list");
	srv = test_server("zeta", "/bin/zeta", "--flag", 1);
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	srv = test_server("alpha", "/bin/alpha", "a b", 0);
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	/* Defaults: no transport, args, env or enabled. */
	srv = json_pack("{s:s,s:s}", "name", "bare", "command", "/bin/bare");
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	list = store_server_list(st, "alice", err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 3);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(
	    json_array_get(list, 0), "name")), "alpha") == 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(
	    json_array_get(list, 2), "name")), "zeta") == 0);
	o = test_find(list, "alpha");
	UNIT_CHECK(o != NULL);
	if (o != NULL) {
		UNIT_CHECK(strcmp(json_string_value(json_object_get(o,
		    "transport")), "stdio") == 0);
		UNIT_CHECK(strcmp(json_string_value(json_object_get(o,
		    "command")), "/bin/alpha") == 0);
		UNIT_CHECK(json_array_size(json_object_get(o, "args")) == 1);
		UNIT_CHECK(strcmp(json_string_value(json_array_get(
		    json_object_get(o, "args"), 0)), "a b") == 0);
		UNIT_CHECK(strcmp(json_string_value(json_object_get(
		    json_object_get(o, "env"), "API_KEY")), "k-1") == 0);
		UNIT_CHECK(json_is_false(json_object_get(o, "enabled")));
	}
	o = test_find(list, "bare");
	UNIT_CHECK(o != NULL);
	if (o != NULL) {
		UNIT_CHECK(strcmp(json_string_value(json_object_get(o,
		    "transport")), "stdio") == 0);
		UNIT_CHECK(json_is_array(json_object_get(o, "args")) &&
		    json_array_size(json_object_get(o, "args")) == 0);
		UNIT_CHECK(json_is_object(json_object_get(o, "env")) &&
		    json_object_size(json_object_get(o, "env")) == 0);
		UNIT_CHECK(json_is_true(json_object_get(o, "enabled")));
	}
	json_decref(list);
	/* Other tenants see none of them. */
	list = store_server_list(st, "carol", err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 0);
	json_decref(list);

	UNIT_CASE("server put replaces by name");
	srv = test_server("zeta", "/bin/zeta2", "--other", 0);
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	list = store_server_list(st, "alice", err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 3);
	o = test_find(list, "zeta");
	UNIT_CHECK(o != NULL);
	if (o != NULL) {
		UNIT_CHECK(strcmp(json_string_value(json_object_get(o,
		    "command")), "/bin/zeta2") == 0);
		UNIT_CHECK(strcmp(json_string_value(json_array_get(
		    json_object_get(o, "args"), 0)), "--other") == 0);
		UNIT_CHECK(json_is_false(json_object_get(o, "enabled")));
	}
	json_decref(list);

	UNIT_CASE("server put refuses an unknown tenant or a bad object");
	srv = test_server("x", "/bin/x", "y", 1);
	err[0] = '\0';
	UNIT_CHECK(store_server_put(st, "nobody", srv, err, sizeof(err)) ==
	    -1);
	UNIT_CHECK(strstr(err, "nobody") != NULL);
	json_decref(srv);
	srv = json_pack("{s:s,s:s,s:s}", "name", "x", "command", "/bin/x",
	    "args", "not-an-array");
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) ==
	    -1);
	json_decref(srv);

	UNIT_CASE("server remove");
	UNIT_CHECK(store_server_remove(st, "alice", "zeta", err,
	    sizeof(err)) == 1);
	UNIT_CHECK(store_server_remove(st, "alice", "zeta", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_server_remove(st, "carol", "alpha", err,
	    sizeof(err)) == 0);
	list = store_server_list(st, "alice", err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2);
	UNIT_CHECK(test_find(list, "zeta") == NULL);
	json_decref(list);

	UNIT_CASE("server tool lists: stored as given, empty by default");
	srv = json_pack("{s:s,s:s,s:[s,s],s:[s]}", "name", "listed",
	    "command", "/bin/x", "allow_tools", "search_*", "get_*",
	    "deny_tools", "delete_*");
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	list = store_server_list(st, "alice", err, sizeof(err));
	o = test_find(list, "listed");
	UNIT_CHECK(o != NULL);
	if (o != NULL) {
		char *a = toolacl_list_join(json_object_get(o, "allow_tools"));
		char *d = toolacl_list_join(json_object_get(o, "deny_tools"));

		UNIT_CHECK(a != NULL && strcmp(a, "search_*,get_*") == 0);
		UNIT_CHECK(d != NULL && strcmp(d, "delete_*") == 0);
		free(a);
		free(d);
	}
	o = test_find(list, "alpha");
	UNIT_CHECK(o != NULL && json_is_array(json_object_get(o,
	    "allow_tools")) && json_array_size(json_object_get(o,
	    "allow_tools")) == 0 && json_array_size(json_object_get(o,
	    "deny_tools")) == 0);
	json_decref(list);
	/* a replace without lists clears them */
	srv = json_pack("{s:s,s:s}", "name", "listed", "command", "/bin/x");
	UNIT_CHECK(store_server_put(st, "alice", srv, err, sizeof(err)) == 0);
	json_decref(srv);
	list = store_server_list(st, "alice", err, sizeof(err));
	o = test_find(list, "listed");
	UNIT_CHECK(o != NULL && json_array_size(json_object_get(o,
	    "allow_tools")) == 0);
	json_decref(list);
	UNIT_CHECK(store_server_remove(st, "alice", "listed", err,
	    sizeof(err)) == 1);

	UNIT_CASE("tenant tool lists: empty, set, cleared, unknown tenant");
	{
		json_t *tl = NULL;

		UNIT_CHECK(store_tenant_tools_get(st, "alice", &tl, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(tl != NULL && json_array_size(json_object_get(tl,
		    "allow_tools")) == 0 && json_is_array(json_object_get(tl,
		    "deny_tools")));
		json_decref(tl);
		tl = json_pack("{s:[s],s:[s,s]}", "allow_tools", "get*",
		    "deny_tools", "echo", "x?");
		UNIT_CHECK(store_tenant_tools_set(st, "alice", tl, err,
		    sizeof(err)) == 1);
		/* the same values again: still found (MySQL counts found
		 * rows, not changed ones) */
		UNIT_CHECK(store_tenant_tools_set(st, "alice", tl, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_tools_set(st, "nobody", tl, err,
		    sizeof(err)) == 0);
		json_decref(tl);
		UNIT_CHECK(store_tenant_tools_get(st, "alice", &tl, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(tl != NULL && json_array_size(json_object_get(tl,
		    "deny_tools")) == 2 && strcmp(json_string_value(
		    json_array_get(json_object_get(tl, "allow_tools"), 0)),
		    "get*") == 0);
		json_decref(tl);
		tl = json_object();
		UNIT_CHECK(store_tenant_tools_set(st, "alice", tl, err,
		    sizeof(err)) == 1);
		json_decref(tl);
		UNIT_CHECK(store_tenant_tools_get(st, "alice", &tl, err,
		    sizeof(err)) == 1);
		UNIT_CHECK(tl != NULL && json_array_size(json_object_get(tl,
		    "deny_tools")) == 0);
		json_decref(tl);
		tl = NULL;
		UNIT_CHECK(store_tenant_tools_get(st, "nobody", &tl, err,
		    sizeof(err)) == 0 && tl == NULL);
	}

	UNIT_CASE("tenant egress allowlist: empty, set, set again, cleared, "
	    "unknown tenant");
	{
		char *l = NULL;

		UNIT_CHECK(store_tenant_egress_get(st, "alice", &l, err,
		    sizeof(err)) == 1 && l != NULL && l[0] == '\0');
		free(l);
		UNIT_CHECK(store_tenant_egress_set(st, "alice",
		    "203.0.113.0/24,198.51.100.7:443", err, sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_egress_set(st, "alice",
		    "203.0.113.0/24,198.51.100.7:443", err, sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_egress_get(st, "alice", &l, err,
		    sizeof(err)) == 1 && l != NULL &&
		    strcmp(l, "203.0.113.0/24,198.51.100.7:443") == 0);
		free(l);
		UNIT_CHECK(store_tenant_egress_set(st, "alice", "", err,
		    sizeof(err)) == 1);
		UNIT_CHECK(store_tenant_egress_set(st, "nobody", "", err,
		    sizeof(err)) == 0);
		l = NULL;
		UNIT_CHECK(store_tenant_egress_get(st, "nobody", &l, err,
		    sizeof(err)) == 0 && l == NULL);
	}
}

static void
test_audit(struct store *st)
{
	char err[STORE_ERRLEN];
	json_t *list, *o;

	UNIT_CASE("audit rows come back newest first");
	UNIT_CHECK(store_audit(st, "control", "tenant.add", "alice",
	    NULL) == 0);
	UNIT_CHECK(store_audit(st, "control", "server.add", "alice",
	    "{\"name\":\"zeta\"}") == 0);
	UNIT_CHECK(store_audit(st, "control", "tenant.add", "carol",
	    NULL) == 0);
	UNIT_CHECK(store_audit(st, "worker", "startup", NULL, "x") == 0);
	UNIT_CHECK(store_audit(st, "tenant:alice", "tool.call", "alice",
	    "third") == 0);

	list = store_audit_list(st, "alice", 20, err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 3);
	o = json_array_get(list, 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "action")),
	    "tool.call") == 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "actor")),
	    "tenant:alice") == 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "detail")),
	    "third") == 0);
	UNIT_CHECK(json_integer_value(json_object_get(o, "ts")) > 0);
	o = json_array_get(list, 2);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "action")),
	    "tenant.add") == 0);
	UNIT_CHECK(json_is_null(json_object_get(o, "detail")));
	json_decref(list);

	UNIT_CASE("audit list limit and all tenants");
	list = store_audit_list(st, "alice", 2, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(
	    json_array_get(list, 1), "action")), "server.add") == 0);
	json_decref(list);
	list = store_audit_list(st, NULL, 20, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 5);
	o = json_array_get(list, 1);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "actor")),
	    "worker") == 0);
	UNIT_CHECK(json_is_null(json_object_get(o, "tenant")));
	json_decref(list);
	list = store_audit_list(st, NULL, 0, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 5);
	json_decref(list);
	list = store_audit_list(st, "nobody", 20, err, sizeof(err));
	UNIT_CHECK(json_is_array(list) && json_array_size(list) == 0);
	json_decref(list);
}

/* Tool-call rows with migration 4's columns, the query's filters,
 * retention and statement timing. */
static void
test_audit_calls(struct store *st)
{
	struct store_audit_row row;
	struct store_timing tm0, tm1;
	char err[STORE_ERRLEN];
	json_t *list, *o;
	int64_t t = now_wall();
	uint64_t n0 = 0, n1 = 0;
	int i;

	UNIT_CASE("tool-call audit rows keep every column");
	store_timing_get(st, &tm0);
	memset(&row, 0, sizeof(row));
	row.sar_actor = "worker";
	row.sar_action = "tool.call";
	row.sar_server = "everything";
	row.sar_tool = "echo";
	row.sar_status = "success";
	row.sar_request_id = "rid-1";
	row.sar_duration_ms = 12;
	row.sar_arg_bytes = 34;
	row.sar_ts = t - 100 * 86400;	/* older than 90 days */
	UNIT_CHECK(store_audit_call(st, "dave", &row, err, sizeof(err)) == 0);
	row.sar_ts = t - 10;
	row.sar_request_id = "rid-2";
	row.sar_detail = "{\"arguments\":{}}";
	UNIT_CHECK(store_audit_call(st, "dave", &row, err, sizeof(err)) == 0);
	list = store_audit_query(st, "dave", 0, 0, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 2);
	o = json_array_get(list, 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "request_id")),
	    "rid-2") == 0);
	UNIT_CHECK(strcmp(json_string_value(json_object_get(o, "server")),
	    "everything") == 0 &&
	    strcmp(json_string_value(json_object_get(o, "tool")), "echo") == 0 &&
	    strcmp(json_string_value(json_object_get(o, "status")),
	    "success") == 0);
	UNIT_CHECK(json_integer_value(json_object_get(o, "duration_ms")) == 12 &&
	    json_integer_value(json_object_get(o, "arg_bytes")) == 34);
	UNIT_CHECK(json_integer_value(json_object_get(o, "id")) >
	    json_integer_value(json_object_get(json_array_get(list, 1), "id")));
	json_decref(list);

	UNIT_CASE("audit query: since, limit, every tenant; NULL columns");
	list = store_audit_query(st, "dave", t - 3600, 0, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 1);
	json_decref(list);
	list = store_audit_query(st, NULL, 0, 3, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 3);
	json_decref(list);
	list = store_audit_query(st, "alice", 0, 0, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 3);
	o = json_array_get(list, 0);
	UNIT_CHECK(json_is_null(json_object_get(o, "tool")) &&
	    json_is_null(json_object_get(o, "duration_ms")));
	json_decref(list);

	UNIT_CASE("retention deletes only rows older than the cut");
	UNIT_CHECK(store_audit_prune(st, t - 90 * 86400, err,
	    sizeof(err)) == 1);
	list = store_audit_query(st, "dave", 0, 0, err, sizeof(err));
	UNIT_CHECK(json_array_size(list) == 1 && strcmp(json_string_value(
	    json_object_get(json_array_get(list, 0), "request_id")),
	    "rid-2") == 0);
	json_decref(list);
	UNIT_CHECK(store_audit_prune(st, t - 90 * 86400, err,
	    sizeof(err)) == 0);

	UNIT_CASE("every statement is timed");
	store_timing_get(st, &tm1);
	for (i = 0; i < STORE_NBUCKETS; i++) {
		n0 += tm0.stt_buckets[i];
		n1 += tm1.stt_buckets[i];
	}
	UNIT_CHECK(n1 >= n0 + 8);
	UNIT_CHECK(tm1.stt_sum_ns > tm0.stt_sum_ns);
}

static void
test_generation(struct store *st)
{
	char err[STORE_ERRLEN];
	const uint8_t nonce[12] = { 1 }, ct[20] = { 2 };
	struct store_limits l = { STORE_LIMIT_DEFAULT, STORE_LIMIT_DEFAULT,
	    STORE_LIMIT_DEFAULT, 100, STORE_LIMIT_DEFAULT };
	json_t *srv = test_server("g1", "/bin/true", "x", 1);
	int64_t g0, g;

	UNIT_CASE("generation rises with every change other hosts must see, "
	    "not with audit rows or reads");
	g0 = store_generation(st, err, sizeof(err));
	UNIT_CHECK(g0 >= 0);
	UNIT_CHECK(store_tenant_add(st, "gen", 61000, 0, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK((g = store_generation(st, err, sizeof(err))) == g0 + 1);
	UNIT_CHECK(store_server_put(st, "gen", srv, err, sizeof(err)) == 0);
	UNIT_CHECK(store_secret_put(st, "gen", "A", nonce, sizeof(nonce), ct,
	    sizeof(ct), err, sizeof(err)) == 0);
	UNIT_CHECK(store_tenant_limits_set(st, "gen", &l, err,
	    sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_set_enabled(st, "gen", 0, err,
	    sizeof(err)) == 1);
	UNIT_CHECK((g = store_generation(st, err, sizeof(err))) == g0 + 5);
	UNIT_CHECK(store_audit(st, "root", "x", "gen", NULL) == 0);
	json_decref(store_server_list(st, "gen", err, sizeof(err)));
	UNIT_CHECK(store_server_remove(st, "gen", "nope", err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_generation(st, err, sizeof(err)) == g);
	UNIT_CHECK(store_secret_remove(st, "gen", "A", err, sizeof(err)) == 1);
	UNIT_CHECK(store_server_remove(st, "gen", "g1", err, sizeof(err)) == 1);
	UNIT_CHECK(store_tenant_remove(st, "gen", err, sizeof(err)) == 1);
	UNIT_CHECK(store_generation(st, err, sizeof(err)) == g + 3);
	json_decref(srv);
}

static void
test_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_store: cannot remove %s\n", test_dir);
}

static void
test_secrets(struct store *st)
{
	struct store_secret s, *rows = NULL;
	char err[STORE_ERRLEN];
	const uint8_t nonce[12] = { 1 }, ct[20] = { 2 }, ct2[18] = { 3 };
	json_t *l;
	size_t n = 0;

	UNIT_CASE("secrets: put, get, list without values, update, remove");
	UNIT_CHECK(store_tenant_add(st, "sec", 61000, 0, NULL, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(store_secret_put(st, "sec", "A", nonce, sizeof(nonce), ct,
	    sizeof(ct), err, sizeof(err)) == 0);
	UNIT_CHECK(store_secret_put(st, "nobody", "A", nonce, sizeof(nonce),
	    ct, sizeof(ct), err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "no such tenant") != NULL);
	UNIT_CHECK(store_secret_get(st, "sec", "A", &s, err, sizeof(err)) == 1);
	UNIT_CHECK(s.ss_noncelen == 12 && s.ss_ctlen == 20 &&
	    memcmp(s.ss_ct, ct, 20) == 0 && s.ss_created > 0);
	store_secret_clear(&s);
	UNIT_CHECK(store_secret_get(st, "sec", "B", &s, err, sizeof(err)) == 0);
	UNIT_CHECK(store_secret_put(st, "sec", "A", nonce, sizeof(nonce), ct2,
	    sizeof(ct2), err, sizeof(err)) == 0);
	UNIT_CHECK(store_secret_get(st, "sec", "A", &s, err, sizeof(err)) == 1);
	UNIT_CHECK(s.ss_ctlen == 18);
	store_secret_clear(&s);
	l = store_secret_list(st, "sec", err, sizeof(err));
	UNIT_CHECK(json_array_size(l) == 1);
	UNIT_CHECK(json_object_size(json_array_get(l, 0)) == 3);
	json_decref(l);
	UNIT_CHECK(store_secret_count(st, err, sizeof(err)) == 1);
	UNIT_CHECK(store_secret_update(st, "sec", "A", nonce, sizeof(nonce),
	    ct, sizeof(ct), err, sizeof(err)) == 1);
	UNIT_CHECK(store_secret_all(st, &rows, &n, err, sizeof(err)) == 0);
	UNIT_CHECK(n == 1 && strcmp(rows[0].ss_tenant, "sec") == 0 &&
	    rows[0].ss_ctlen == 20);
	store_secret_free_all(&rows, n);
	UNIT_CHECK(store_secret_remove(st, "sec", "A", err, sizeof(err)) == 1);
	UNIT_CHECK(store_secret_remove(st, "sec", "A", err, sizeof(err)) == 0);

	UNIT_CASE("secrets: removing the tenant removes its secrets");
	UNIT_CHECK(store_secret_put(st, "sec", "A", nonce, sizeof(nonce), ct,
	    sizeof(ct), err, sizeof(err)) == 0);
	UNIT_CHECK(store_tenant_remove(st, "sec", err, sizeof(err)) == 1);
	UNIT_CHECK(store_secret_count(st, err, sizeof(err)) == 0);
}

/*
 * The same cases against a real MariaDB when tests/run.sh started one
 * (DATAAGENT_TEST_MYSQL_URL), on an emptied database, reported as
 * unit/test_store/mysql.
 */
static void
test_mysql(void)
{
	static const char *const drop =
	    "SET FOREIGN_KEY_CHECKS = 0;"
	    "DROP TABLE IF EXISTS schema_version, tenants, servers, audit,"
	    " uid_high, tenant_limits, secrets, revoked_tokens, generation, t;"
	    "SET FOREIGN_KEY_CHECKS = 1";
	const char *url = getenv("DATAAGENT_TEST_MYSQL_URL");
	char err[STORE_ERRLEN];
	struct store *st = NULL;
	struct db *db = NULL;
	struct dburl u;

	unit_variant_set("mysql");
	if (url == NULL || url[0] == '\0') {
		printf("SKIP unit/test_store/mysql: no server "
		    "(DATAAGENT_TEST_MYSQL_URL unset: mariadb-server missing)\n");
		return;
	}
	UNIT_CASE("open an emptied database at the latest schema version");
	UNIT_CHECK(dburl_parse(url, "/nonexistent", &u, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(db_open(&db, &u, err, sizeof(err)) == 0 &&
	    db_exec(db, drop, err, sizeof(err)) == 0);
	db_close(&db);
	UNIT_CHECK(store_open_url(&st, &u, err, sizeof(err)) == 0);
	if (st == NULL) {
		fprintf(stderr, "test_store/mysql: %s\n", err);
		return;
	}
	UNIT_CHECK(store_schema_version(st) == 6);
	UNIT_CHECK(strncmp(store_describe(st), "mysql ", 6) == 0 &&
	    strstr(store_describe(st), u.db_password) == NULL);
	UNIT_CHECK(store_tenant_add(st, "keep", 61000, 0, NULL, err,
	    sizeof(err)) == 0);
	store_close(&st);
	UNIT_CASE("reopen keeps the data and runs no migration again");
	UNIT_CHECK(store_open_url(&st, &u, err, sizeof(err)) == 0 &&
	    store_schema_version(st) == 6);
	explicit_bzero(&u, sizeof(u));
	if (st == NULL)
		return;
	/* as on SQLite: 61001 was handed out, then freed, never reused */
	UNIT_CHECK(store_tenant_remove(st, "keep", err, sizeof(err)) == 1);
	test_tenants(st);
	test_servers(st);
	test_audit(st);
	test_secrets(st);
	test_generation(st);
	store_close(&st);
}

int
main(void)
{
	struct store *st = NULL;
	char err[STORE_ERRLEN];

	snprintf(test_dir, sizeof(test_dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(test_dir) == NULL) {
		perror("test_store: mkdtemp");
		return 1;
	}
	snprintf(test_db, sizeof(test_db), "%s/dataagent.db", test_dir);

	test_open();
	UNIT_CASE("open for the remaining cases");
	UNIT_CHECK(store_open(&st, test_db, err, sizeof(err)) == 0);
	if (st != NULL) {
		test_tenants(st);
		test_servers(st);
		test_audit(st);
		test_audit_calls(st);
		test_secrets(st);
		test_generation(st);
		store_close(&st);
	}
	test_cleanup();
	test_mysql();
	return unit_done();
}
