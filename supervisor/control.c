/*
 * control.c: the control socket that dataagentctl talks to.
 *
 * A Unix stream socket, mode 0600, that only uid 0 may use (checked with
 * SO_PEERCRED on accept). One JSON object per line each way (proto.h):
 *   {"cmd":"tenant.add","args":{...}}
 *   {"ok":true,"result":...} | {"ok":false,"error":"..."}
 * Even from root every argument is checked before use: the store and the
 * workers only ever see validated names and server objects. Every change
 * is written to the audit table (actor "control") and pushed to the
 * tenant's worker. Tokens are returned to the client, never logged or
 * audited.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <openssl/crypto.h>

#include "supervisor.h"
#include "ratelimit.h"
#include "secrets.h"
#include "remote.h"

#define CONTROL_MAX_CLIENTS 32
#define CONTROL_IDLE_TIMEOUT 60		/* seconds without a request */
#define CONTROL_AUDIT_ROWS 20
#define CONTROL_MAX_IMPORT 256		/* servers in one import */

#define SERVER_MAX_COMMAND 4096
#define SERVER_MAX_ARGS 256
#define SERVER_MAX_ARG 4096
#define SERVER_MAX_ENV 128
#define SERVER_MAX_ENV_NAME 256
#define SERVER_MAX_ENV_VALUE 8192
#define SERVER_MAX_HEADERS 32

struct control_client {
	struct control *cc_ctl;
	struct bufferevent *cc_bev;
	uid_t cc_uid;		/* SO_PEERCRED at accept */
	pid_t cc_pid;
	int cc_closing;		/* close once the reply is written */
	int cc_paused;		/* reading stopped until output drains */
	LIST_ENTRY(control_client) cc_entry;
};

struct control {
	struct sup *ctl_sup;
	int ctl_fd;
	struct event *ctl_ev;
	char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t ctl_dev;		/* the socket file we made, to unlink */
	ino_t ctl_ino;
	LIST_HEAD(, control_client) ctl_clients;
	unsigned ctl_nclients;
	const struct control_client *ctl_peer;	/* whose request runs now */
};

/* A command: returns a new result, or NULL with err filled. */
typedef json_t *(*control_cmd_fn)(struct control *ctl, const json_t *args,
    char *err, size_t errlen);

struct control_cmd {
	const char *cmd_name;
	control_cmd_fn cmd_fn;
	int cmd_changes;	/* 0: only reads (show, list, status) */
};

/* ----------------------------------------------------- server objects */

/* A string without embedded NULs, at most max bytes. */
static const char *
control_json_str(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);

	if (s == NULL || json_string_length(v) != strlen(s) ||
	    strlen(s) > max)
		return NULL;
	return s;
}

static int
env_name_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > SERVER_MAX_ENV_NAME ||
	    !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * The remote part of a server object (transport http or sse): url,
 * headers (names are tokens, values without CR/LF, none of the headers
 * the transport itself sets) and options (tls_verify, ca_file,
 * client_cert, client_key, timeout, protocol: "2026-07-28" for the
 * stateless client, http only). Sets them into out. Returns 0, or
 * -1 with err.
 */
static int
server_remote_check(const char *name, const json_t *in, json_t *out,
    char *err, size_t errlen)
{
	static const char *const reserved[] = { "host", "content-length",
	    "transfer-encoding", "connection", "content-type", "accept",
	    "mcp-session-id", "mcp-protocol-version", "mcp-method",
	    "mcp-name", "upgrade", "te",
	    "trailer", "keep-alive", NULL };
	const json_t *hv, *ov, *v;
	json_t *nh = NULL, *no = NULL;
	const char *url, *k;
	struct url u;
	char uerr[128];
	size_t i;

	url = control_json_str(json_object_get(in, "url"), URL_MAX);
	if (url == NULL || url_parse(url, &u, uerr, sizeof(uerr)) == -1) {
		snprintf(err, errlen, "server %s: %s", name, url == NULL ?
		    "url must be a string of at most 2048 bytes" : uerr);
		return -1;
	}
	if ((nh = json_object()) == NULL || (no = json_object()) == NULL)
		goto oom;
	hv = json_object_get(in, "headers");
	if (hv != NULL && !json_is_null(hv)) {
		if (!json_is_object(hv) ||
		    json_object_size(hv) > SERVER_MAX_HEADERS) {
			snprintf(err, errlen, "server %s: headers must be an "
			    "object of at most %d strings", name,
			    SERVER_MAX_HEADERS);
			goto fail;
		}
		json_object_foreach((json_t *)hv, k, v) {
			const char *val = control_json_str(v, 8192);

			if (!http_header_name_valid(k)) {
				snprintf(err, errlen, "server %s: a header "
				    "name is not a valid HTTP token", name);
				goto fail;
			}
			for (i = 0; reserved[i] != NULL; i++)
				if (strcasecmp(k, reserved[i]) == 0) {
					snprintf(err, errlen, "server %s: "
					    "header %s is set by dataagent",
					    name, k);
					goto fail;
				}
			if (val == NULL || !http_header_value_valid(val)) {
				snprintf(err, errlen, "server %s: header %s "
				    "must be a string without line breaks",
				    name, k);
				goto fail;
			}
			if (json_object_set_new(nh, k, json_string(val)) == -1)
				goto oom;
		}
	}
	ov = json_object_get(in, "options");
	if (ov != NULL && !json_is_null(ov) && !json_is_object(ov)) {
		snprintf(err, errlen, "server %s: options must be an object",
		    name);
		goto fail;
	}
	v = json_object_get(ov, "tls_verify");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "server %s: options.tls_verify "
			    "must be true or false", name);
			goto fail;
		}
		if (json_is_false(v))
			json_object_set_new(no, "tls_verify", json_false());
	}
	for (i = 0; i < 3; i++) {
		static const char *const files[] = { "ca_file",
		    "client_cert", "client_key" };
		const char *f;

		v = json_object_get(ov, files[i]);
		if (v == NULL || json_is_null(v))
			continue;
		f = control_json_str(v, 4095);
		if (f == NULL || f[0] != '/') {
			snprintf(err, errlen, "server %s: options.%s must be "
			    "an absolute path", name, files[i]);
			goto fail;
		}
		json_object_set_new(no, files[i], json_string(f));
	}
	v = json_object_get(ov, "timeout");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 3600) {
			snprintf(err, errlen, "server %s: options.timeout "
			    "must be 1 to 3600 seconds", name);
			goto fail;
		}
		json_object_set_new(no, "timeout", json_integer(
		    json_integer_value(v)));
	}
	v = json_object_get(ov, "protocol");
	if (v != NULL && !json_is_null(v)) {
		const char *tr = json_string_value(json_object_get(in,
		    "transport"));

		if (!json_is_string(v) || strcmp(json_string_value(v),
		    "2026-07-28") != 0) {
			snprintf(err, errlen, "server %s: options.protocol "
			    "must be \"2026-07-28\" (or absent: stateful)",
			    name);
			goto fail;
		}
		if (tr != NULL && strcmp(tr, "http") != 0) {
			snprintf(err, errlen, "server %s: options.protocol "
			    "needs transport http", name);
			goto fail;
		}
		json_object_set_new(no, "protocol", json_string("2026-07-28"));
	}
	if (json_object_set_new(out, "url", json_string(url)) == -1 ||
	    json_object_set_new(out, "headers", nh) == -1 ||
	    json_object_set_new(out, "options", no) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	json_decref(nh);
	json_decref(no);
	return -1;
}

/* The tool lists of a server object (toolacl_lists_parse) into out,
 * empty when absent. Returns 0, or -1 with err. */
static int
server_tools_check(const char *name, const json_t *in, json_t *out,
    char *err, size_t errlen)
{
	char e[300];

	if (toolacl_lists_parse(in, out, 0, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "server %s: %s", name, e);
		return -1;
	}
	return 0;
}

/*
 * Validates an untrusted server object and returns a new normalised one
 * {name,transport,command,args,env,enabled,allow_tools,deny_tools}
 * (defaults: transport "stdio", args [], env {}, enabled true, no tool
 * lists). Keys other than these are ignored.
 * Returns NULL with err, which names only validated values or lengths.
 */
json_t *
server_spec_check(const json_t *in, char *err, size_t errlen)
{
	const json_t *jv, *args, *env, *en;
	const char *name, *transport = "stdio", *command, *key;
	json_t *nargs = NULL, *nenv = NULL, *out;
	char sname[SECRET_NAME_MAX + 1];
	size_t i;

	if (!json_is_object(in)) {
		snprintf(err, errlen, "a server must be a JSON object");
		return NULL;
	}
	name = control_json_str(json_object_get(in, "name"), 64);
	if (name == NULL || !name_valid(name)) {
		snprintf(err, errlen, "server name must match "
		    "[A-Za-z0-9][A-Za-z0-9_.-]{0,63} without \"__\"");
		return NULL;
	}
	jv = json_object_get(in, "transport");
	if (jv != NULL && !json_is_null(jv)) {
		if ((transport = control_json_str(jv, 64)) == NULL) {
			snprintf(err, errlen, "server %s: transport must be "
			    "a short string", name);
			return NULL;
		}
		if (strcmp(transport, "streamable-http") == 0 ||
		    strcmp(transport, "streamableHttp") == 0)
			transport = "http";
		if (strcmp(transport, "stdio") != 0 &&
		    strcmp(transport, "http") != 0 &&
		    strcmp(transport, "sse") != 0) {
			snprintf(err, errlen, "server %s: transport must be "
			    "stdio, http or sse", name);
			return NULL;
		}
	}
	if (strcmp(transport, "stdio") != 0) {
		/* A remote server: url, headers, options; no process. */
		en = json_object_get(in, "enabled");
		if (en != NULL && !json_is_null(en) && !json_is_boolean(en)) {
			snprintf(err, errlen, "server %s: enabled must be "
			    "true or false", name);
			return NULL;
		}
		out = json_pack("{s:s,s:s,s:s,s:[],s:{},s:b}", "name", name,
		    "transport", transport, "command", "", "args", "env",
		    "enabled", en == NULL || json_is_null(en) ||
		    json_is_true(en));
		if (out == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		if (server_remote_check(name, in, out, err, errlen) == -1 ||
		    server_tools_check(name, in, out, err, errlen) == -1) {
			json_decref(out);
			return NULL;
		}
		return out;
	}
	command = control_json_str(json_object_get(in, "command"),
	    SERVER_MAX_COMMAND);
	if (command == NULL || command[0] == '\0') {
		snprintf(err, errlen, "server %s: command must be a non-empty "
		    "string of at most %d bytes", name, SERVER_MAX_COMMAND);
		return NULL;
	}

	if ((nargs = json_array()) == NULL || (nenv = json_object()) == NULL)
		goto oom;
	args = json_object_get(in, "args");
	if (args != NULL && !json_is_null(args)) {
		if (!json_is_array(args) ||
		    json_array_size(args) > SERVER_MAX_ARGS) {
			snprintf(err, errlen, "server %s: args must be an "
			    "array of at most %d strings", name,
			    SERVER_MAX_ARGS);
			goto fail;
		}
		json_array_foreach(args, i, jv) {
			const char *a = control_json_str(jv, SERVER_MAX_ARG);

			if (a == NULL) {
				snprintf(err, errlen, "server %s: args[%zu] "
				    "must be a string of at most %d bytes",
				    name, i, SERVER_MAX_ARG);
				goto fail;
			}
			if (json_array_append_new(nargs, json_string(a)) == -1)
				goto oom;
		}
		if (secretref_args_find(nargs, &i, sname)) {
			snprintf(err, errlen, "server %s: args[%zu] refers to "
			    "secret %s: secrets are not put in a server's "
			    "argv, which every user of the host can read in "
			    "/proc; pass it in env instead (--env "
			    "VAR=${secret:%s}) and have the server read it "
			    "from there", name, i, sname, sname);
			goto fail;
		}
	}
	env = json_object_get(in, "env");
	if (env != NULL && !json_is_null(env)) {
		if (!json_is_object(env) ||
		    json_object_size(env) > SERVER_MAX_ENV) {
			snprintf(err, errlen, "server %s: env must be an "
			    "object of at most %d strings", name,
			    SERVER_MAX_ENV);
			goto fail;
		}
		json_object_foreach((json_t *)env, key, jv) {
			const char *val = control_json_str(jv,
			    SERVER_MAX_ENV_VALUE);

			if (!env_name_valid(key)) {
				snprintf(err, errlen, "server %s: env names "
				    "must match [A-Za-z_][A-Za-z0-9_]*", name);
				goto fail;
			}
			if (val == NULL) {
				snprintf(err, errlen, "server %s: env %s must "
				    "be a string of at most %d bytes", name,
				    key, SERVER_MAX_ENV_VALUE);
				goto fail;
			}
			if (json_object_set_new(nenv, key,
			    json_string(val)) == -1)
				goto oom;
		}
	}
	en = json_object_get(in, "enabled");
	if (en != NULL && !json_is_null(en) && !json_is_boolean(en)) {
		snprintf(err, errlen, "server %s: enabled must be true or "
		    "false", name);
		goto fail;
	}
	out = json_pack("{s:s,s:s,s:s,s:o,s:o,s:b}", "name", name,
	    "transport", transport, "command", command, "args", nargs, "env",
	    nenv, "enabled", en == NULL || json_is_null(en) || json_is_true(en));
	if (out == NULL) {
		/* json_pack stole the references even on failure. */
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (server_tools_check(name, in, out, err, errlen) == -1) {
		json_decref(out);
		return NULL;
	}
	return out;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	json_decref(nargs);
	json_decref(nenv);
	return NULL;
}

/* ------------------------------------------------------------ helpers */

/* The name argument `key`, validated with name_valid(). */
static const char *
arg_name(const json_t *args, const char *key, char *err, size_t errlen)
{
	const char *s = control_json_str(json_object_get(args, key), 64);

	if (s == NULL || !name_valid(s)) {
		snprintf(err, errlen, "%s must match "
		    "[A-Za-z0-9][A-Za-z0-9_.-]{0,63} without \"__\"", key);
		return NULL;
	}
	return s;
}

/* Looks a tenant up; returns 1, or 0/-1 with err ("no such tenant"). */
static int
control_tenant(struct control *ctl, const char *id, struct store_tenant *t,
    char *err, size_t errlen)
{
	int r = store_tenant_get(ctl->ctl_sup->sp_store, id, t, err, errlen);

	if (r == 0)
		snprintf(err, errlen, "no such tenant: %s", id);
	return r;
}

static json_t *
tenant_json(const struct store_tenant *t)
{
	return json_pack("{s:s,s:i,s:b,s:I}", "id", t->st_id, "uid",
	    t->st_uid, "enabled", t->st_enabled, "created",
	    (json_int_t)t->st_created);
}

/* Audits with actor "control"; detail is a JSON value or NULL. */
static void
control_audit(struct control *ctl, const char *action, const char *tenant,
    const json_t *detail)
{
	char *d = NULL;
	json_t *o;

	/* Who asked: the client's uid and pid beside the detail. */
	o = json_is_object(detail) ? json_copy((json_t *)detail) :
	    json_object();
	if (o != NULL && detail != NULL && !json_is_object(detail))
		json_object_set(o, "detail", (json_t *)detail);
	if (o != NULL && ctl->ctl_peer != NULL) {
		json_object_set_new(o, "peer_uid",
		    json_integer((json_int_t)ctl->ctl_peer->cc_uid));
		json_object_set_new(o, "peer_pid",
		    json_integer((json_int_t)ctl->ctl_peer->cc_pid));
	}
	if (o != NULL && json_object_size(o) > 0)
		d = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (store_audit(ctl->ctl_sup->sp_store, "control", action, tenant,
	    d) == -1)
		log_warn("control: cannot write audit row", "{s:s,s:s}",
		    "action", action, "tenant", tenant != NULL ? tenant : "");
	free(d);
}

/* The audit detail of a server: never its env values (secrets). */
static json_t *
server_audit_json(const json_t *srv)
{
	json_t *keys = json_array(), *v;
	const char *k;

	json_t *o, *hk;

	json_object_foreach(json_object_get(srv, "env"), k, v)
		json_array_append_new(keys, json_string(k));
	o = json_pack("{s:O,s:O,s:O,s:o,s:O}", "name",
	    json_object_get(srv, "name"), "command",
	    json_object_get(srv, "command"), "args",
	    json_object_get(srv, "args"), "env_keys", keys, "enabled",
	    json_object_get(srv, "enabled"));
	if (o != NULL && json_array_size(json_object_get(srv,
	    "allow_tools")) + json_array_size(json_object_get(srv,
	    "deny_tools")) > 0) {
		json_object_set(o, "allow_tools", json_object_get(srv,
		    "allow_tools"));
		json_object_set(o, "deny_tools", json_object_get(srv,
		    "deny_tools"));
	}
	/* A remote server: its url and header names, never their values. */
	if (o != NULL && json_object_get(srv, "url") != NULL) {
		hk = json_array();
		json_object_foreach(json_object_get(srv, "headers"), k, v)
			json_array_append_new(hk, json_string(k));
		json_object_set(o, "transport", json_object_get(srv,
		    "transport"));
		json_object_set(o, "url", json_object_get(srv, "url"));
		json_object_set_new(o, "header_names", hk);
	}
	return o;
}

/* A server list as shown to an operator: header values (tokens, often)
 * become their names only. Takes and returns list. */
static json_t *
servers_redact(json_t *list)
{
	json_t *srv, *names, *v;
	const char *k;
	size_t i;

	json_array_foreach(list, i, srv) {
		if (json_object_get(srv, "headers") == NULL)
			continue;
		names = json_array();
		json_object_foreach(json_object_get(srv, "headers"), k, v)
			json_array_append_new(names, json_string(k));
		json_object_del(srv, "headers");
		json_object_set_new(srv, "header_names", names);
	}
	return list;
}

/* ------------------------------------------------------------ tenants */

/* args' "tenant": a valid name of an existing tenant (*t filled), or
 * NULL with err. */
static const char *
arg_tenant(struct control *ctl, const json_t *args, struct store_tenant *t,
    char *err, size_t errlen)
{
	const char *tenant;

	if ((tenant = arg_name(args, "tenant", err, errlen)) == NULL ||
	    control_tenant(ctl, tenant, t, err, errlen) != 1)
		return NULL;
	return tenant;
}

static json_t *
cmd_tenant_add(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	json_t *d;

	if ((id = arg_name(args, "id", err, errlen)) == NULL)
		return NULL;
	if (store_tenant_add(sp->sp_store, id, sp->sp_cf.cf_tenant_uid_base,
	    sp->sp_cf.cf_tenant_uid_count, &t, err, errlen) == -1)
		return NULL;
	d = json_pack("{s:i}", "uid", t.st_uid);
	control_audit(ctl, "tenant.add", id, d);
	json_decref(d);
	log_info("control: tenant added", "{s:s,s:i}", "tenant", id, "uid",
	    t.st_uid);
	return tenant_json(&t);
}

static json_t *
cmd_tenant_list(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return store_tenant_list(ctl->ctl_sup->sp_store, err, errlen);
}

/* Adds "egress_allow": [entries] (empty: tenant_egress_allow applies) to
 * o. 0, or -1 with err. */
static int
tenant_egress_json(struct sup *sp, const char *id, json_t *o, char *err,
    size_t errlen)
{
	char *list = NULL, *tok, *save = NULL;
	json_t *a;

	if (store_tenant_egress_get(sp->sp_store, id, &list, err, errlen) != 1)
		return -1;
	a = json_array();
	for (tok = strtok_r(list, ",", &save); a != NULL && tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	free(list);
	if (a == NULL || json_object_set_new(o, "egress_allow", a) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static json_t *
cmd_tenant_show(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	json_t *o, *servers, *audit, *tools;

	if ((id = arg_name(args, "id", err, errlen)) == NULL ||
	    control_tenant(ctl, id, &t, err, errlen) != 1)
		return NULL;
	if ((servers = servers_redact(store_server_list(sp->sp_store, id, err,
	    errlen))) == NULL)
		return NULL;
	if ((audit = store_audit_list(sp->sp_store, id, CONTROL_AUDIT_ROWS,
	    err, errlen)) == NULL) {
		json_decref(servers);
		return NULL;
	}
	if (store_tenant_tools_get(sp->sp_store, id, &tools, err, errlen) !=
	    1) {
		json_decref(servers);
		json_decref(audit);
		return NULL;
	}
	o = tenant_json(&t);
	if (o == NULL || json_object_update(o, tools) == -1 ||
	    json_object_set_new(o, "servers", servers) == -1 ||
	    json_object_set_new(o, "worker", workers_tenant_json(sp, id)) ==
	    -1 || json_object_set_new(o, "limits",
	    workers_limits_json(sp, id)) == -1 ||
	    json_object_set_new(o, "audit", audit) == -1) {
		snprintf(err, errlen, "out of memory");
		json_decref(o);
		json_decref(tools);
		return NULL;
	}
	json_decref(tools);
	if (tenant_egress_json(sp, id, o, err, errlen) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The tool lists given in args over those of lists (an object changed in
 * place; toolacl_lists_parse): a list not given is kept. Returns how many
 * were given, 0 with err when none, or -1 with err.
 */
static int
tool_lists_apply(const json_t *args, json_t *lists, char *err, size_t errlen)
{
	int n = toolacl_lists_parse(args, lists, 1, err, errlen);

	if (n == 0)
		snprintf(err, errlen, "give allow_tools, deny_tools or both "
		    "(an empty one clears it)");
	return n;
}

/* tenant.set {id, allow_tools?, deny_tools?}: the tenant's own tool
 * lists, over those of every server of the tenant. */
static json_t *
cmd_tenant_set(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	json_t *tools, *res;

	if ((id = arg_name(args, "id", err, errlen)) == NULL ||
	    control_tenant(ctl, id, &t, err, errlen) != 1 ||
	    store_tenant_tools_get(sp->sp_store, id, &tools, err, errlen) != 1)
		return NULL;
	if (tool_lists_apply(args, tools, err, errlen) < 1 ||
	    store_tenant_tools_set(sp->sp_store, id, tools, err, errlen) != 1) {
		json_decref(tools);
		return NULL;
	}
	control_audit(ctl, "tenant.set", id, tools);
	log_info("control: tenant tool lists set", "{s:s,s:O}", "tenant", id,
	    "tools", tools);
	workers_tenant_changed(sp, id);
	res = tenant_json(&t);
	if (res == NULL || json_object_update(res, tools) == -1) {
		snprintf(err, errlen, "out of memory");
		json_decref(res);
		res = NULL;
	}
	json_decref(tools);
	return res;
}

/* tenant.set-egress {id, allow:[entry..]}: the tenant's own egress
 * allowlist (tenant_network = egress); [] makes it follow
 * tenant_egress_allow again. Running workers get it at once. */
static json_t *
cmd_tenant_set_egress(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	char *list;
	json_t *res, *detail;

	if ((id = arg_name(args, "id", err, errlen)) == NULL ||
	    control_tenant(ctl, id, &t, err, errlen) != 1)
		return NULL;
	if ((list = egress_allow_normalize(json_object_get(args, "allow"), err,
	    errlen)) == NULL)
		return NULL;
	if (store_tenant_egress_set(sp->sp_store, id, list, err, errlen) != 1) {
		free(list);
		return NULL;
	}
	detail = json_pack("{s:s}", "egress_allow", list);
	control_audit(ctl, "tenant.set-egress", id, detail);
	log_info("control: tenant egress allowlist set", "{s:s,s:s}", "tenant",
	    id, "egress_allow", list[0] != '\0' ? list :
	    "(tenant_egress_allow)");
	json_decref(detail);
	free(list);
	workers_tenant_changed(sp, id);
	if ((res = tenant_json(&t)) == NULL || tenant_egress_json(sp, id, res,
	    err, errlen) == -1) {
		json_decref(res);
		return NULL;
	}
	return res;
}

/*
 * One limit from an untrusted value: "default" (the configured one), a
 * size for memory and swap ("256M", "max"), a count for pids ("64",
 * "max"), a weight 1..10000 for cpu. Returns 0 or -1 with err.
 */
static int
limit_parse(const char *key, const json_t *v, int64_t *out, char *err,
    size_t errlen)
{
	const char *s = json_string_value(v);
	char buf[32];

	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		s = buf;
	}
	if (s == NULL) {
		snprintf(err, errlen, "%s: expected a string or a number", key);
		return -1;
	}
	if (strcmp(s, "default") == 0) {
		*out = STORE_LIMIT_DEFAULT;
		return 0;
	}
	if (strcmp(key, "rate") == 0) {
		char *end;
		long long r = strtoll(s, &end, 10);

		/* requests per minute, 0 = no limit */
		if (s[0] < '0' || s[0] > '9' || *end != '\0' || r > 1000000)
			goto bad;
		*out = r;
		return 0;
	}
	if (config_size_parse(s, out) == -1)
		goto bad;
	if (strcmp(key, "cpu_weight") == 0) {
		if (*out < 1 || *out > 10000)
			goto bad;
	} else if (strcmp(key, "memory_max") == 0) {
		if (*out != -1 && *out < 4 * 1024 * 1024)
			goto bad;
	} else if (strcmp(key, "pids_max") == 0) {
		if (*out == 0)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s: \"%.40s\" is not a valid value (memory_max: "
	    "a size of at least 4M or max; swap_max: a size or max; "
	    "pids_max: a count or max; cpu_weight: 1..10000; rate: requests "
	    "per minute 0..1000000, 0 = no limit; any: default)",
	    key, s);
	return -1;
}

static json_t *
cmd_tenant_set_limits(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	static const char *const keys[] = { "memory_max", "swap_max",
	    "pids_max", "cpu_weight", "rate" };
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	struct store_limits l;
	int64_t *slot[5];
	const char *id, *k;
	json_t *v, *d;
	size_t i, n = 0;

	if ((id = arg_name(args, "id", err, errlen)) == NULL ||
	    control_tenant(ctl, id, &t, err, errlen) != 1 ||
	    store_tenant_limits_get(sp->sp_store, id, &l, err, errlen) == -1)
		return NULL;
	slot[0] = &l.sl_memory_max;
	slot[1] = &l.sl_swap_max;
	slot[2] = &l.sl_pids_max;
	slot[3] = &l.sl_cpu_weight;
	slot[4] = &l.sl_rate_per_minute;
	json_object_foreach((json_t *)args, k, v) {
		if (strcmp(k, "id") == 0)
			continue;
		for (i = 0; i < 5; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == 5) {
			snprintf(err, errlen, "unknown limit \"%.40s\" (memory_max, "
			    "swap_max, pids_max, cpu_weight, rate)", k);
			return NULL;
		}
		if (limit_parse(k, v, slot[i], err, errlen) == -1)
			return NULL;
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "no limit given");
		return NULL;
	}
	if (store_tenant_limits_set(sp->sp_store, id, &l, err, errlen) != 1)
		return NULL;
	/* Applied to the running worker's cgroup and the tenant's request
	 * rate at once. */
	ratelimit_tenant_changed(sp, id);
	workers_tenant_changed(sp, id);
	d = workers_limits_json(sp, id);
	control_audit(ctl, "tenant.set-limits", id, d);
	log_info("control: tenant limits set", "{s:s,s:O}", "tenant", id,
	    "limits", d);
	return json_pack("{s:s,s:o}", "id", id, "limits", d);
}

static json_t *
tenant_set_enabled(struct control *ctl, const json_t *args, int enabled,
    char *err, size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	int r;

	if ((id = arg_name(args, "id", err, errlen)) == NULL)
		return NULL;
	r = store_tenant_set_enabled(sp->sp_store, id, enabled, err, errlen);
	if (r == 0)
		snprintf(err, errlen, "no such tenant: %s", id);
	if (r != 1)
		return NULL;
	control_audit(ctl, enabled ? "tenant.enable" : "tenant.disable", id,
	    NULL);
	log_info(enabled ? "control: tenant enabled" :
	    "control: tenant disabled", "{s:s}", "tenant", id);
	if (enabled)
		workers_tenant_changed(sp, id);
	else
		workers_tenant_stop(sp, id);
	if (control_tenant(ctl, id, &t, err, errlen) != 1)
		return NULL;
	return tenant_json(&t);
}

static json_t *
cmd_tenant_enable(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return tenant_set_enabled(ctl, args, 1, err, errlen);
}

static json_t *
cmd_tenant_disable(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return tenant_set_enabled(ctl, args, 0, err, errlen);
}

static json_t *
cmd_tenant_remove(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *id;
	json_t *d;
	int r;

	if ((id = arg_name(args, "id", err, errlen)) == NULL ||
	    control_tenant(ctl, id, &t, err, errlen) != 1)
		return NULL;
	/* The worker goes first: it must not serve a tenant that is gone. */
	workers_tenant_stop(sp, id);
	r = store_tenant_remove(sp->sp_store, id, err, errlen);
	if (r == 0)
		snprintf(err, errlen, "no such tenant: %s", id);
	if (r != 1)
		return NULL;
	workers_tenant_forget(sp, id);
	workers_tenant_removed(sp, id, (uid_t)t.st_uid);
	d = json_pack("{s:i}", "uid", t.st_uid);
	control_audit(ctl, "tenant.remove", id, d);
	json_decref(d);
	log_info("control: tenant removed", "{s:s,s:i}", "tenant", id, "uid",
	    t.st_uid);
	return json_pack("{s:s,s:i,s:b}", "id", id, "uid", t.st_uid,
	    "removed", 1);
}

/* ------------------------------------------------------------ servers */

static const char *arg_server_name(const json_t *args, char *err,
    size_t errlen);

/*
 * Stores srv (checked by server_spec_check; taken) for tenant, audits
 * action, tells the tenant's worker. Returns the server as an operator
 * sees it (header names, not values), or NULL with err.
 */
static json_t *
server_store(struct control *ctl, const char *tenant, json_t *srv,
    const char *action, char *err, size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	json_t *d, *one;

	if (store_server_put(sp->sp_store, tenant, srv, err, errlen) == -1) {
		json_decref(srv);
		return NULL;
	}
	d = server_audit_json(srv);
	control_audit(ctl, action, tenant, d);
	json_decref(d);
	log_info(strcmp(action, "server.add") == 0 ? "control: server added" :
	    "control: server changed", "{s:s,s:s}", "tenant", tenant,
	    "server", json_string_value(json_object_get(srv, "name")));
	workers_tenant_changed(sp, tenant);
	/* The answer shows header names, as server.list does. */
	if (json_object_get(srv, "headers") != NULL &&
	    (one = json_pack("[O]", srv)) != NULL) {
		servers_redact(one);
		json_decref(srv);
		srv = json_incref(json_array_get(one, 0));
		json_decref(one);
	}
	return srv;
}

static json_t *
cmd_server_add(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct store_tenant t;
	const char *tenant;
	json_t *in, *srv;

	if ((tenant = arg_name(args, "tenant", err, errlen)) == NULL)
		return NULL;
	if ((in = json_copy((json_t *)args)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_object_del(in, "tenant");
	srv = server_spec_check(in, err, errlen);
	json_decref(in);
	if (srv == NULL)
		return NULL;
	if (control_tenant(ctl, tenant, &t, err, errlen) != 1) {
		json_decref(srv);
		return NULL;
	}
	return server_store(ctl, tenant, srv, "server.add", err, errlen);
}

/* A tenant's stored server by name: a new object, or NULL with err. */
static json_t *
server_stored(struct control *ctl, const char *tenant, const char *name,
    char *err, size_t errlen)
{
	json_t *list, *srv, *found = NULL;
	size_t i;

	if ((list = store_server_list(ctl->ctl_sup->sp_store, tenant, err,
	    errlen)) == NULL)
		return NULL;
	json_array_foreach(list, i, srv)
		if (strcmp(json_string_value(json_object_get(srv, "name")),
		    name) == 0)
			found = json_incref(srv);
	json_decref(list);
	if (found == NULL)
		snprintf(err, errlen, "no such server: %s (tenant %s)", name,
		    tenant);
	return found;
}

/* server.set {tenant,name,allow_tools?,deny_tools?}: changes a stored
 * server's tool lists, the rest as it was. */
static json_t *
cmd_server_set(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct store_tenant t;
	const char *tenant, *name;
	json_t *old, *srv;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL ||
	    (name = arg_server_name(args, err, errlen)) == NULL ||
	    (old = server_stored(ctl, tenant, name, err, errlen)) == NULL)
		return NULL;
	if (tool_lists_apply(args, old, err, errlen) < 1) {
		json_decref(old);
		return NULL;
	}
	/* The whole object is checked again, as an add would be. */
	srv = server_spec_check(old, err, errlen);
	json_decref(old);
	if (srv == NULL)
		return NULL;
	return server_store(ctl, tenant, srv, "server.set", err, errlen);
}

static json_t *
cmd_server_show(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct store_tenant t;
	const char *tenant, *name;
	json_t *srv, *one;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL ||
	    (name = arg_server_name(args, err, errlen)) == NULL ||
	    (srv = server_stored(ctl, tenant, name, err, errlen)) == NULL)
		return NULL;
	if ((one = servers_redact(json_pack("[o]", srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv = json_incref(json_array_get(one, 0));
	json_decref(one);
	return srv;
}

static json_t *
cmd_server_list(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct store_tenant t;
	const char *tenant;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL)
		return NULL;
	return servers_redact(store_server_list(ctl->ctl_sup->sp_store, tenant,
	    err, errlen));
}

/*
 * Removes one named thing of a tenant (a server, a secret): checks the
 * arguments, removes, audits "<what>.remove" and tells the worker.
 */
static json_t *
tenant_item_remove(struct control *ctl, const json_t *args, const char *what,
    const char *(*name_arg)(const json_t *, char *, size_t),
    int (*remove)(struct store *, const char *, const char *, char *,
    size_t), char *err, size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *tenant, *name;
	char action[32], msg[64];
	json_t *d;
	int r;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL ||
	    (name = name_arg(args, err, errlen)) == NULL)
		return NULL;
	r = remove(sp->sp_store, tenant, name, err, errlen);
	if (r == 0)
		snprintf(err, errlen, "no such %s: %s (tenant %s)", what, name,
		    tenant);
	if (r != 1)
		return NULL;
	snprintf(action, sizeof(action), "%s.remove", what);
	snprintf(msg, sizeof(msg), "control: %s removed", what);
	d = json_pack("{s:s}", "name", name);
	control_audit(ctl, action, tenant, d);
	json_decref(d);
	log_info(msg, "{s:s,s:s}", "tenant", tenant, what, name);
	workers_tenant_changed(sp, tenant);
	return json_pack("{s:s,s:s,s:b}", "tenant", tenant, "name", name,
	    "removed", 1);
}

static const char *
arg_server_name(const json_t *args, char *err, size_t errlen)
{
	return arg_name(args, "name", err, errlen);
}

static json_t *
cmd_server_remove(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return tenant_item_remove(ctl, args, "server", arg_server_name,
	    store_server_remove, err, errlen);
}

/*
 * Turns one Claude Desktop / Cursor mcpServers entry into a server object
 * for server_spec_check(). Returns 1 with *srv_r, 0 when the entry is to
 * be skipped (*reason_r says why), or -1 with err.
 */
static int
import_entry(const char *name, const json_t *e, json_t **srv_r,
    const char **reason_r, char *err, size_t errlen)
{
	const char *type;
	const json_t *dis;
	json_t *in;

	*srv_r = NULL;
	if (!json_is_object(e)) {
		snprintf(err, errlen, "mcpServers entry %.64s%s is not an "
		    "object", name, strlen(name) > 64 ? "..." : "");
		return -1;
	}
	type = json_string_value(json_object_get(e, "type"));
	if (json_object_get(e, "command") == NULL &&
	    json_object_get(e, "url") != NULL) {
		dis = json_object_get(e, "disabled");
		if (dis != NULL && !json_is_boolean(dis)) {
			snprintf(err, errlen, "mcpServers entry: disabled "
			    "must be true or false");
			return -1;
		}
		/* "type": "sse" is the 2024-11-05 transport; "http",
		 * "streamable-http" or none, Streamable HTTP. */
		in = json_pack("{s:s,s:s,s:O,s:O?,s:O?,s:b}", "name", name,
		    "transport", type != NULL && strcmp(type, "sse") == 0 ?
		    "sse" : "http", "url", json_object_get(e, "url"),
		    "headers", json_object_get(e, "headers"), "options",
		    json_object_get(e, "options"), "enabled",
		    !json_is_true(dis));
		if (in == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*srv_r = server_spec_check(in, err, errlen);
		json_decref(in);
		return *srv_r != NULL ? 1 : -1;
	}
	if (type != NULL && strcmp(type, "stdio") != 0) {
		*reason_r = "transport is not supported yet";
		return 0;
	}
	dis = json_object_get(e, "disabled");
	if (dis != NULL && !json_is_boolean(dis)) {
		snprintf(err, errlen, "mcpServers entry: disabled must be "
		    "true or false");
		return -1;
	}
	in = json_pack("{s:s,s:O?,s:O?,s:O?,s:b}", "name", name, "command",
	    json_object_get(e, "command"), "args", json_object_get(e, "args"),
	    "env", json_object_get(e, "env"), "enabled", !json_is_true(dis));
	if (in == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*srv_r = server_spec_check(in, err, errlen);
	json_decref(in);
	return *srv_r != NULL ? 1 : -1;
}

static json_t *
cmd_server_import(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *tenant, *name, *reason;
	const json_t *config, *servers, *e;
	json_t *ok = NULL, *imported = NULL, *skipped = NULL, *srv, *res;
	size_t i;
	int r;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL)
		return NULL;
	config = json_object_get(args, "config");
	servers = json_object_get(config, "mcpServers");
	if (!json_is_object(config) || !json_is_object(servers)) {
		snprintf(err, errlen, "config must be a JSON object with an "
		    "\"mcpServers\" object");
		return NULL;
	}
	if (json_object_size(servers) > CONTROL_MAX_IMPORT) {
		snprintf(err, errlen, "config has more than %d servers",
		    CONTROL_MAX_IMPORT);
		return NULL;
	}
	ok = json_array();
	imported = json_array();
	skipped = json_array();
	if (ok == NULL || imported == NULL || skipped == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	/* Everything is validated before anything is written. */
	json_object_foreach((json_t *)servers, name, e) {
		reason = NULL;
		r = import_entry(name, e, &srv, &reason, err, errlen);
		if (r == -1)
			goto fail;
		if (r == 0) {
			if (!name_valid(name))
				name = "(invalid name)";
			json_array_append_new(skipped, json_pack("{s:s,s:s}",
			    "name", name, "reason", reason));
			continue;
		}
		json_array_append_new(ok, srv);
	}

	json_array_foreach(ok, i, srv) {
		name = json_string_value(json_object_get(srv, "name"));
		if (store_server_put(sp->sp_store, tenant, srv, err,
		    errlen) == -1) {
			size_t n = strlen(err);

			snprintf(err + n, errlen > n ? errlen - n : 0,
			    " (server %s; %zu imported before it)", name, i);
			if (i > 0)
				workers_tenant_changed(sp, tenant);
			goto fail;
		}
		json_array_append_new(imported, json_string(name));
	}
	res = json_pack("{s:O,s:O}", "imported", imported, "skipped", skipped);
	control_audit(ctl, "server.import", tenant, res);
	log_info("control: servers imported", "{s:s,s:i,s:i}", "tenant",
	    tenant, "imported", (int)json_array_size(imported), "skipped",
	    (int)json_array_size(skipped));
	if (json_array_size(imported) > 0)
		workers_tenant_changed(sp, tenant);
	json_decref(ok);
	json_decref(imported);
	json_decref(skipped);
	if (res == NULL)
		snprintf(err, errlen, "out of memory");
	return res;
fail:
	json_decref(ok);
	json_decref(imported);
	json_decref(skipped);
	return NULL;
}

/* -------------------------------------------------------------- other */

static json_t *
cmd_token_issue(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	const struct config *cf = &sp->sp_cf;
	struct store_tenant t;
	const char *tenant;
	const json_t *jttl;
	json_int_t ttl = 3600;
	int64_t now, exp;
	uint8_t rnd[16];
	char *token, jti[33];
	json_t *res, *d;

	if ((tenant = arg_name(args, "tenant", err, errlen)) == NULL)
		return NULL;
	jttl = json_object_get(args, "ttl");
	if (jttl != NULL && !json_is_null(jttl)) {
		if (!json_is_integer(jttl)) {
			snprintf(err, errlen, "ttl must be an integer number "
			    "of seconds");
			return NULL;
		}
		ttl = json_integer_value(jttl);
	}
	if (ttl < 1 || ttl > cf->cf_max_token_ttl) {
		snprintf(err, errlen, "ttl must be between 1 and %d seconds",
		    cf->cf_max_token_ttl);
		return NULL;
	}
	if (control_tenant(ctl, tenant, &t, err, errlen) != 1)
		return NULL;
	if (!t.st_enabled) {
		snprintf(err, errlen, "tenant %s is disabled", tenant);
		return NULL;
	}
	if (cf->cf_secret_key[0] == '\0') {
		snprintf(err, errlen, "no secret_key: this dataagentd verifies "
		    "tokens of other issuers but signs none");
		return NULL;
	}
	/* A random jti makes each token revocable on its own. */
	if (rand_bytes(rnd, sizeof(rnd)) == -1) {
		snprintf(err, errlen, "no random bytes");
		return NULL;
	}
	hex_encode(rnd, sizeof(rnd), jti);
	now = now_wall();
	exp = now + (int64_t)ttl;
	token = jwt_sign_jti(tenant, now, exp, jti,
	    (const uint8_t *)cf->cf_secret_key, strlen(cf->cf_secret_key));
	if (token == NULL) {
		snprintf(err, errlen, "cannot sign a token");
		return NULL;
	}
	res = json_pack("{s:s,s:I,s:s}", "token", token, "expires",
	    (json_int_t)exp, "jti", jti);
	explicit_bzero(token, strlen(token));
	free(token);
	if (res == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d = json_pack("{s:I,s:I,s:s}", "ttl", ttl, "exp", (json_int_t)exp,
	    "jti", jti);
	control_audit(ctl, "token.issue", tenant, d);
	json_decref(d);
	log_info("control: token issued", "{s:s,s:I,s:I,s:s}", "tenant",
	    tenant, "ttl", ttl, "exp", (json_int_t)exp, "jti", jti);
	return res;
}

/*
 * token.revoke {jti, tenant?}: the token with that jti (and, with a
 * tenant, that sub) is refused from now on until it expires, and the
 * connections already handed to a worker with it are closed. The tenant
 * need not exist any more (its tokens may still be around).
 */
static json_t *
cmd_token_revoke(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	const json_t *jt = json_object_get(args, "tenant");
	const char *jti, *tenant = NULL;
	json_t *res;

	jti = control_json_str(json_object_get(args, "jti"), JWT_JTI_MAX - 1);
	if (jti == NULL || jti[0] == '\0') {
		snprintf(err, errlen, "jti must be a string of 1..%d bytes",
		    JWT_JTI_MAX - 1);
		return NULL;
	}
	if (jt != NULL && !json_is_null(jt) &&
	    (tenant = arg_name(args, "tenant", err, errlen)) == NULL)
		return NULL;
	if ((res = auth_revoke(ctl->ctl_sup, jti, tenant, err, errlen)) == NULL)
		return NULL;
	control_audit(ctl, "token.revoke", tenant, res);
	log_info("control: token revoked", "{s:s,s:s?,s:O}", "jti", jti,
	    "tenant", tenant, "seen", json_object_get(res, "seen"));
	return res;
}

/* token.revoked: the revocations still in force. */
static json_t *
cmd_token_revoked(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return auth_revoked_json(ctl->ctl_sup, err, errlen);
}

static json_t *
cmd_status(struct control *ctl, const json_t *args, char *err, size_t errlen)
{
	json_t *st = sup_status_json(ctl->ctl_sup);

	if (st == NULL)
		snprintf(err, errlen, "cannot build the status");
	return st;
}

/*
 * Asks for the same reload as SIGHUP by activating the supervisor's
 * SIGHUP event: main.c's handler runs from the event loop right after
 * this request, so the answer means "requested"; the outcome is logged
 * ("configuration reloaded", or "reload failed, keeping the running
 * configuration" with the reason) and told to the service manager.
 */
static json_t *
cmd_reload(struct control *ctl, const json_t *args, char *err, size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;

	if (sp->sp_stopping || sp->sp_ev_sighup == NULL) {
		snprintf(err, errlen, "dataagentd is stopping");
		return NULL;
	}
	event_active(sp->sp_ev_sighup, EV_SIGNAL, 1);
	control_audit(ctl, "reload", NULL, NULL);
	log_info("control: reload requested", NULL);
	return json_pack("{s:b}", "requested", 1);
}

/* ------------------------------------------------------------ secrets */

/* The secret name argument, [A-Z_][A-Z0-9_]{0,63}. */
static const char *
arg_secret_name(const json_t *args, char *err, size_t errlen)
{
	const char *s = control_json_str(json_object_get(args, "name"),
	    SECRET_NAME_MAX);

	if (s == NULL || !secret_name_valid(s)) {
		snprintf(err, errlen, "a secret name must match "
		    "[A-Z_][A-Z0-9_]{0,63}");
		return NULL;
	}
	return s;
}

/* secret.set {tenant,name,value}: the value is sealed and stored; it
 * is in no answer, audit row or log line. */
static json_t *
cmd_secret_set(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	struct store_tenant t;
	const char *tenant, *name;
	const json_t *jv = json_object_get(args, "value");
	json_t *d;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL ||
	    (name = arg_secret_name(args, err, errlen)) == NULL)
		return NULL;
	if (!json_is_string(jv) || !secrets_value_valid(json_string_value(jv),
	    json_string_length(jv))) {
		snprintf(err, errlen, "value must be a string of at most %d "
		    "bytes without NUL", SECRET_VALUE_MAX);
		return NULL;
	}
	/* The admin is bound by the size (the value goes to the worker in
	 * one message), not by the tenant's counts and rates. */
	if (json_string_length(jv) > (size_t)sp->sp_cf.cf_secret_max_size) {
		snprintf(err, errlen, "value too large: at most %d bytes "
		    "(secret_max_size)", sp->sp_cf.cf_secret_max_size);
		return NULL;
	}
	if (secrets_set(sp, tenant, name, json_string_value(jv),
	    json_string_length(jv), err, errlen) == -1)
		return NULL;
	d = json_pack("{s:s}", "name", name);
	control_audit(ctl, "secret.set", tenant, d);
	json_decref(d);
	log_info("control: secret set", "{s:s,s:s}", "tenant", tenant,
	    "secret", name);
	workers_tenant_changed(sp, tenant);
	return json_pack("{s:s,s:s}", "tenant", tenant, "name", name);
}

static json_t *
cmd_secret_list(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct store_tenant t;
	const char *tenant;

	if ((tenant = arg_tenant(ctl, args, &t, err, errlen)) == NULL)
		return NULL;
	return store_secret_list(ctl->ctl_sup->sp_store, tenant, err, errlen);
}

static json_t *
cmd_secret_remove(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	return tenant_item_remove(ctl, args, "secret", arg_secret_name,
	    store_secret_remove, err, errlen);
}

/* key.rotate: every secret re-sealed under a new key (secrets.c). */
static json_t *
cmd_key_rotate(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	json_t *res = secrets_rotate(ctl->ctl_sup, err, errlen);

	if (res != NULL)
		control_audit(ctl, "key.rotate", NULL, res);
	return res;
}

/*
 * audit.list {tenant?, since?, limit?}: audit rows, newest first; since
 * is a unix time (default 0), limit 1..10000 (default 100).
 */
static json_t *
cmd_audit_list(struct control *ctl, const json_t *args, char *err,
    size_t errlen)
{
	struct sup *sp = ctl->ctl_sup;
	const json_t *jt = json_object_get(args, "tenant");
	const json_t *js = json_object_get(args, "since");
	const json_t *jl = json_object_get(args, "limit");
	const char *tenant = NULL;
	json_int_t since = 0, limit = 100;

	if (jt != NULL && !json_is_null(jt)) {
		tenant = control_json_str(jt, 64);
		if (tenant == NULL || !name_valid(tenant)) {
			snprintf(err, errlen, "tenant must be a valid name");
			return NULL;
		}
	}
	if (js != NULL && (!json_is_integer(js) ||
	    (since = json_integer_value(js)) < 0)) {
		snprintf(err, errlen, "since must be a unix time");
		return NULL;
	}
	if (jl != NULL && (!json_is_integer(jl) ||
	    (limit = json_integer_value(jl)) < 1 || limit > 10000)) {
		snprintf(err, errlen, "limit must be between 1 and 10000");
		return NULL;
	}
	/* Rows still queued belong in the answer. */
	audit_flush(sp);
	return store_audit_query(sp->sp_store, tenant, (int64_t)since,
	    (int)limit, err, errlen);
}

static const struct control_cmd control_cmds[] = {
	{ "tenant.add", cmd_tenant_add, 1 },
	{ "tenant.list", cmd_tenant_list, 0 },
	{ "tenant.show", cmd_tenant_show, 0 },
	{ "tenant.enable", cmd_tenant_enable, 1 },
	{ "tenant.disable", cmd_tenant_disable, 1 },
	{ "tenant.remove", cmd_tenant_remove, 1 },
	{ "tenant.set-limits", cmd_tenant_set_limits, 1 },
	{ "tenant.set", cmd_tenant_set, 1 },
	{ "tenant.set-egress", cmd_tenant_set_egress, 1 },
	{ "server.add", cmd_server_add, 1 },
	{ "server.set", cmd_server_set, 1 },
	{ "server.show", cmd_server_show, 0 },
	{ "server.list", cmd_server_list, 0 },
	{ "server.remove", cmd_server_remove, 1 },
	{ "server.import", cmd_server_import, 1 },
	{ "token.issue", cmd_token_issue, 1 },
	{ "token.revoke", cmd_token_revoke, 1 },
	{ "token.revoked", cmd_token_revoked, 0 },
	{ "secret.set", cmd_secret_set, 1 },
	{ "secret.list", cmd_secret_list, 0 },
	{ "secret.remove", cmd_secret_remove, 1 },
	{ "key.rotate", cmd_key_rotate, 1 },
	{ "status", cmd_status, 0 },
	{ "reload", cmd_reload, 1 },
	{ "audit.list", cmd_audit_list, 0 },
};

/* Runs one request line; returns the response object (never NULL unless
 * memory runs out). */
static json_t *
control_request(struct control *ctl, const char *line, size_t len)
{
	char err[1024];
	json_error_t jerr;
	json_t *req, *res = NULL, *args;
	const char *cmd;
	size_t i;

	err[0] = '\0';
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		snprintf(err, sizeof(err), "bad request: %s", jerr.text);
		goto out;
	}
	if (!json_is_object(req)) {
		snprintf(err, sizeof(err), "a request must be one JSON object "
		    "per line");
		goto out;
	}
	cmd = control_json_str(json_object_get(req, "cmd"), 64);
	args = json_object_get(req, "args");
	if (cmd == NULL) {
		snprintf(err, sizeof(err), "cmd must be a short string");
		goto out;
	}
	if (args != NULL && !json_is_null(args) && !json_is_object(args)) {
		snprintf(err, sizeof(err), "args must be an object");
		goto out;
	}
	for (i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++)
		if (strcmp(control_cmds[i].cmd_name, cmd) == 0)
			break;
	if (i == sizeof(control_cmds) / sizeof(control_cmds[0])) {
		snprintf(err, sizeof(err), "unknown command: %s", cmd);
		goto out;
	}
	if (args == NULL || json_is_null(args)) {
		json_t *empty = json_object();

		res = control_cmds[i].cmd_fn(ctl, empty, err, sizeof(err));
		json_decref(empty);
	} else
		res = control_cmds[i].cmd_fn(ctl, args, err, sizeof(err));
	if (res == NULL && err[0] == '\0')
		snprintf(err, sizeof(err), "%s failed", cmd);
	/* A query that finds nothing ("no such tenant") is an answer, not
	 * an event: only refused changes are worth the log at info. */
	if (res == NULL && control_cmds[i].cmd_changes)
		log_info("control: command refused", "{s:s,s:s}", "cmd", cmd,
		    "error", err);
	else if (res == NULL)
		log_debug("control: query answered with an error",
		    "{s:s,s:s}", "cmd", cmd, "error", err);
out:
	json_decref(req);
	if (res != NULL)
		return json_pack("{s:b,s:o}", "ok", 1, "result", res);
	return json_pack("{s:b,s:s}", "ok", 0, "error", err);
}

/* ------------------------------------------------------------ clients */

static void
control_client_free(struct control_client **ccp)
{
	struct control_client *cc = *ccp;

	if (cc == NULL)
		return;
	LIST_REMOVE(cc, cc_entry);
	cc->cc_ctl->ctl_nclients--;
	bufferevent_free(cc->cc_bev);
	free(cc);
	*ccp = NULL;
}

/* Queues one response line; a response too large for the client's line
 * limit becomes an error. */
static void
control_reply(struct control_client *cc, json_t *res)
{
	struct evbuffer *out = bufferevent_get_output(cc->cc_bev);
	char *s = res != NULL ? json_dumps(res, JSON_COMPACT) : NULL;

	if (s == NULL || strlen(s) >= CONTROL_MAX_LINE) {
		free(s);
		s = strdup(res == NULL ?
		    "{\"ok\":false,\"error\":\"out of memory\"}" :
		    "{\"ok\":false,\"error\":\"response too large\"}");
	}
	if (s != NULL) {
		evbuffer_add(out, s, strlen(s));
		evbuffer_add(out, "\n", 1);
	}
	free(s);
}

/* Replies an error and closes once it is written. */
static void
control_client_fail(struct control_client *cc, const char *error)
{
	json_t *res = json_pack("{s:b,s:s}", "ok", 0, "error", error);

	control_reply(cc, res);
	json_decref(res);
	cc->cc_closing = 1;
	bufferevent_disable(cc->cc_bev, EV_READ);
}

static void
control_client_read(struct bufferevent *bev, void *arg)
{
	struct control_client *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;
	json_t *res;

	while (!cc->cc_closing) {
		/* A client that does not read its answers is not fed more:
		 * reading resumes once the output has drained. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) >
		    CONTROL_MAX_LINE) {
			cc->cc_paused = 1;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) == NULL) {
			if (evbuffer_get_length(in) > CONTROL_MAX_LINE)
				control_client_fail(cc,
				    "request line too long");
			return;
		}
		if (n > CONTROL_MAX_LINE) {
			free(line);
			control_client_fail(cc, "request line too long");
			return;
		}
		cc->cc_ctl->ctl_peer = cc;
		res = control_request(cc->cc_ctl, line, n);
		cc->cc_ctl->ctl_peer = NULL;
		/* The line may have carried a secret's value. */
		OPENSSL_cleanse(line, n);
		free(line);
		control_reply(cc, res);
		json_decref(res);
	}
}

/* The output drained: close a finished client or resume a paused one. */
static void
control_client_write(struct bufferevent *bev, void *arg)
{
	struct control_client *cc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (cc->cc_closing)
		control_client_free(&cc);
	else if (cc->cc_paused) {
		cc->cc_paused = 0;
		bufferevent_enable(bev, EV_READ);
		control_client_read(bev, cc);
	}
}

static void
control_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *cc = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: client timed out, closing", NULL);
	control_client_free(&cc);
}

/* Best-effort one-line refusal on a socket that gets no bufferevent. */
static void
control_refuse(int fd, const char *error)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "{\"ok\":false,\"error\":\"%s\"}\n",
	    error);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
control_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct control *ctl = arg;
	struct control_client *cc;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = { CONTROL_IDLE_TIMEOUT, 0 };
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept failed", "{s:s}", "error",
			    strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred)) {
		log_warn("control: no peer credentials", NULL);
		fd_close(&fd);
		return;
	}
	if (cred.uid != 0) {
		log_warn("control: refused a non-root client", "{s:i,s:i}",
		    "uid", (int)cred.uid, "peer_pid", (int)cred.pid);
		control_refuse(fd, "permission denied: only root may use "
		    "the control socket");
		fd_close(&fd);
		return;
	}
	if (ctl->ctl_nclients >= CONTROL_MAX_CLIENTS) {
		log_warn("control: too many clients", "{s:i}", "max",
		    CONTROL_MAX_CLIENTS);
		control_refuse(fd, "too many control clients");
		fd_close(&fd);
		return;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL) {
		fd_close(&fd);
		return;
	}
	cc->cc_ctl = ctl;
	cc->cc_uid = cred.uid;
	cc->cc_pid = cred.pid;
	cc->cc_bev = bufferevent_socket_new(ctl->ctl_sup->sp_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (cc->cc_bev == NULL) {
		fd_close(&fd);
		free(cc);
		return;
	}
	LIST_INSERT_HEAD(&ctl->ctl_clients, cc, cc_entry);
	ctl->ctl_nclients++;
	/* Never buffer more than one line and its LF. */
	bufferevent_setwatermark(cc->cc_bev, EV_READ, 0, CONTROL_MAX_LINE + 1);
	bufferevent_setcb(cc->cc_bev, control_client_read,
	    control_client_write, control_client_event, cc);
	/* Bounds both an idle client and one that never reads. */
	bufferevent_set_timeouts(cc->cc_bev, &tv, &tv);
	bufferevent_enable(cc->cc_bev, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------- socket */

/* mkdir -p for the socket's parent, each new level 0755. */
static int
control_mkdirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], *p;
	struct stat sb;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0755) == -1 && errno != EEXIST &&
			    (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode))) {
				snprintf(err, errlen, "mkdir %s: %s", dir,
				    strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/*
 * An existing file at the path: refuse when it is not a socket or when a
 * daemon answers on it; unlink a stale one.
 */
static int
control_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat sb;
	int fd, r;

	if (lstat(sun->sun_path, &sb) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", sun->sun_path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket",
		    sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	fd_close(&fd);
	if (r == 0) {
		snprintf(err, errlen, "another dataagentd answers on %s",
		    sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "unlink stale %s: %s", sun->sun_path,
		    strerror(errno));
		return -1;
	}
	log_info("control: removed a stale socket", "{s:s}", "path",
	    sun->sun_path);
	return 0;
}

int
control_open(struct sup *sp, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct control *ctl;
	struct stat sb;
	const char *path = sp->sp_cf.cf_control_socket;
	mode_t old;
	int r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket must be an absolute "
		    "path shorter than %zu bytes", sizeof(sun.sun_path));
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (control_mkdirs(path, err, errlen) == -1 ||
	    control_stale(&sun, err, errlen) == -1)
		return -1;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctl->ctl_sup = sp;
	LIST_INIT(&ctl->ctl_clients);
	memcpy(ctl->ctl_path, sun.sun_path, sizeof(ctl->ctl_path));
	ctl->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (ctl->ctl_fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		free(ctl);
		return -1;
	}
	/* The socket never exists with a wider mode, not even briefly. */
	old = umask(0177);
	r = bind(ctl->ctl_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0600) == -1 || stat(path, &sb) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ctl->ctl_dev = sb.st_dev;
	ctl->ctl_ino = sb.st_ino;
	if (listen(ctl->ctl_fd, 16) == -1) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ctl->ctl_ev = event_new(sp->sp_base, ctl->ctl_fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	if (ctl->ctl_ev == NULL || event_add(ctl->ctl_ev, NULL) == -1) {
		snprintf(err, errlen, "cannot watch the control socket");
		if (ctl->ctl_ev != NULL)
			event_free(ctl->ctl_ev);
		unlink(path);
		goto fail;
	}
	sp->sp_control = ctl;
	log_info("control: listening", "{s:s}", "path", path);
	return 0;
fail:
	fd_close(&ctl->ctl_fd);
	free(ctl);
	return -1;
}

/* Frees the clients, closes the socket and unlinks it (when the file is
 * still the one we made). Safe to call twice. */
void
control_close(struct sup *sp)
{
	struct control *ctl = sp->sp_control;
	struct control_client *cc;
	struct stat sb;

	if (ctl == NULL)
		return;
	while ((cc = LIST_FIRST(&ctl->ctl_clients)) != NULL)
		control_client_free(&cc);
	if (ctl->ctl_ev != NULL)
		event_free(ctl->ctl_ev);
	fd_close(&ctl->ctl_fd);
	if (lstat(ctl->ctl_path, &sb) == 0 && sb.st_dev == ctl->ctl_dev &&
	    sb.st_ino == ctl->ctl_ino)
		unlink(ctl->ctl_path);
	free(ctl);
	sp->sp_control = NULL;
}
