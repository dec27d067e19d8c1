/*
 * proto.h: the messages between dataagentd and dataagent-worker, and
 * between dataagentctl and dataagentd's control socket.
 *
 * Supervisor <-> worker: ipc frames (common.h), payload a JSON object.
 * Every message from a worker is untrusted: the supervisor checks the type
 * is one a worker may send in its current state and the payload's shape;
 * anything else kills the worker.
 */
#ifndef DATAAGENT_PROTO_H
#define DATAAGENT_PROTO_H

/* The worker's end of the IPC socketpair is this fd after exec. */
#define WORKER_IPC_FD 3

enum ipc_type {
	/* worker -> supervisor */
	IPC_HELLO = 1,		/* {"version"} after exec, before assignment */
	IPC_ASSIGN_ACK,		/* {"tenant"} privileges dropped */
	IPC_ASSIGN_FAIL,	/* {"error"} could not confine: worker exits */
	IPC_STORE_REQ,		/* peer=req id, {"op", ...} see below */
	IPC_STATS,		/* {"connections","upstreams","sessions"} */
	IPC_IDLE,		/* {"received": n conns so far} asks to retire */
	IPC_AUDIT,		/* a tool call's audit row, see below */
	IPC_HANDBACK,		/* fd + {"pre"}: a request on this connection
				 * is not this tenant's (another token, a
				 * supervisor path): the supervisor takes the
				 * socket back with the bytes already read */
	IPC_TOOL_STATS,		/* {"tools":[{"server","tool","status",
				 * "count","sum_ms","buckets":[13]}]}: tool
				 * calls since the last one (deltas), at most
				 * IPC_TOOL_STATS_MAX entries; see /metrics */
	IPC_COUNTERS,		/* other counts since the last one (deltas),
				 * at most once a second; see below */
	IPC_RATE_REQ,		/* {"want"} keep-alive request tokens, see
				 * below */
	IPC_SLOT_REQ,		/* peer=req id, {"server"} an upstream
				 * connection slot */
	IPC_SLOT_RELEASE,	/* {"n"} slots given back */

	/* supervisor -> worker */
	IPC_ASSIGN = 100,	/* {"tenant","uid","gid","home","upstream_policy",
				 * "worker_policy","hide":[..],"nofile","nproc",
				 * "node"?,"network"?}; "network" (tenant_network,
				 * "host" when absent) other than "host" comes
				 * with the fd of the tenant's network
				 * namespace (policy/netns.h), else no fd */
	IPC_CONFIG,		/* {"settings":{...},"servers":[...],
				 * "tools":{...}} */
	IPC_CONN,		/* fd + {"token_hash","exp","remote","pre"?} */
	IPC_STORE_RES,		/* peer=req id, {"ok":true,...}|{"ok":false,"error"} */
	IPC_SHUTDOWN,		/* {} exit now (idle retire, tenant removed) */
	IPC_RATE_GRANT,		/* {"n","retry_after"} answer to IPC_RATE_REQ,
				 * see below */
	IPC_SLOT_GRANT,		/* peer=req id, {"ok":true}|{"ok":false,
				 * "error","scope","retry_after"}, see
				 * below */
	IPC_REVOKE,		/* {"token_hash"}: a token was revoked (by its
				 * jti, dataagentctl token revoke); hex
				 * SHA-256 of the token as in IPC_CONN. The
				 * worker closes every connection handed to
				 * it with that token, aborting requests in
				 * flight; a new connection with it gets 401
				 * from the supervisor. Sent to the tenant's
				 * active and retiring workers. */
};

/*
 * IPC_CONFIG "settings": {"max_connections_per_user","connection_timeout",
 *   "idle_timeout","tool_cache_ttl","max_body_size","allowed_hosts",
 *   "log_level","log_format" ("text" or "json", as the supervisor
 *   resolved it),"drain_timeout","audit_arguments","rate_limit",
 *   "max_retries","retry_delay","reconnect_interval"}
 * IPC_CONFIG "servers": [{"name","transport":"stdio","command","args":[..],
 *   "env":{..},"enabled":bool,"secrets"?:{NAME:value},
 *   "secrets_unusable"?:[NAME]}]: env and args keep their ${secret:NAME}
 *   text; "secrets" holds the values of the names that server refers to
 *   (sent only to an active, confined worker), "secrets_unusable" those
 *   that do not decrypt.
 *   A remote server has "transport":"http" (Streamable HTTP) or "sse"
 *   (HTTP+SSE, 2024-11-05), "command":"", and also "url", "headers":
 *   {Name: value} (values keep their ${secret:NAME} text, resolved by
 *   the worker like env values) and "options": {"tls_verify"?:false,
 *   "ca_file"?, "client_cert"?, "client_key"? (absolute paths, read as
 *   the tenant), "timeout"? (seconds)}.
 *   Every server also has "allow_tools":[pattern] and "deny_tools":
 *   [pattern] (toolacl.c; empty when none).
 * IPC_CONFIG "tools": {"allow_tools":[pattern],"deny_tools":[pattern]},
 *   the tenant's own lists, over every server's: a tool is listed and
 *   may be called when no deny list matches its upstream name and every
 *   allow list that is not empty does. They change without restarting
 *   any server: a config that changes only lists keeps every process.
 *
 * IPC_STORE_REQ ops (tenant is implied: the worker's own):
 *   {"op":"server_put","server":{"name","command","args","env","enabled",
 *     "allow_tools"?,"deny_tools"?}} or a remote one {"name","transport",
 *     "url","headers","options","enabled","allow_tools"?,"deny_tools"?};
 *     the lists are checked by toolacl_list_parse (a string "a,b" or an
 *     array); the answer's "server" shows "header_names", not values
 *   {"op":"server_delete","name"}
 *   {"op":"secret_put","name","value"}   answer {"ok","secret":{"name"}}
 *   {"op":"secret_list"}                 answer {"ok","secrets":[{"name",
 *                                          "created","updated"}]}
 *   {"op":"secret_delete","name"}
 * Each is answered by IPC_STORE_RES with the same peer; on success the
 * supervisor also sends a fresh IPC_CONFIG.
 */

/*
 * Request rate (rate_limit, per tenant; the supervisor owns the bucket).
 * The supervisor charges the first request of each connection before
 * handing it off; the worker charges every later request it reads on
 * that connection (keep-alive, pipelined) by asking first:
 *   IPC_RATE_REQ   {"want": n}  1 <= n <= RATE_WANT_MAX: tokens for n
 *                  requests the worker holds now. Only one request is
 *                  outstanding at a time. A worker asking for fewer than
 *                  1 or more than RATE_WANT_MAX is killed.
 *   IPC_RATE_GRANT {"n": k, "retry_after": s}  0 <= k <= n tokens were
 *                  taken from the tenant's bucket; the worker serves k of
 *                  the waiting requests in order and answers the other
 *                  n - k with 429 and Retry-After: s (seconds, >= 1).
 * The lease is the grant: a worker holds tokens only for requests it
 * already has, so none are stranded and the limit is exact. A tenant
 * whose rate is 0 (IPC_CONFIG "rate_limit") is not limited: its worker
 * does not ask.
 */
#define RATE_WANT_MAX 64

/*
 * Upstream connection slots (max_total_connections on the host,
 * max_connections_per_user per tenant; the supervisor counts them per
 * worker). Before it starts an upstream (spawns a stdio server, opens a
 * remote session) the worker asks:
 *   IPC_SLOT_REQ     peer = request id, {"server": name} (a valid server
 *                    name; it is only logged).
 *   IPC_SLOT_GRANT   same peer, {"ok":true}: the worker holds one more
 *                    slot; or {"ok":false,"error": message,"scope":
 *                    "host"|"tenant","retry_after": s (>= 1)}: refused,
 *                    the waiting calls fail with the message.
 *   IPC_SLOT_RELEASE {"n": k}  1 <= k: k slots given back (an upstream
 *                    stopped, or a grant came for one no longer wanted).
 * Answers come in the order of the requests. A worker asking while it
 * holds its tenant's max_connections_per_user is refused (scope
 * "tenant"); one releasing more than it holds, or sending more than
 * SLOT_REQ_PER_S requests within a second, is killed. A dead worker's
 * slots go back to the host at once.
 */
#define SLOT_REQ_PER_S 500

/*
 * "pre" (IPC_CONN, IPC_HANDBACK) is base64 of bytes already read from
 * the socket, at most IPC_PRE_MAX of them: they come before anything
 * still in the socket.
 */
#define IPC_PRE_MAX (256 * 1024)

/* Most entries in one IPC_TOOL_STATS message. */
#define IPC_TOOL_STATS_MAX 64

/*
 * IPC_COUNTERS, every key required, nothing else:
 *   {"http":[{"route","code","n"}],	route one of HTTP_ROUTE_NAMES,
 *					code 100..599, n >= 1; at most
 *					IPC_COUNTERS_HTTP_MAX entries
 *    "cache":{"hit","miss"},		tool-list requests
 *    "servers":[{"server","restarts","connects","connect_failures",
 *                "closed","closed_sum_ms","closed_buckets":[9]}]}
 *					per upstream server (a valid name;
 *					at most IPC_COUNTERS_SERVERS_MAX):
 *					starts after an end, starts that
 *					reached initialized or not, and
 *					ready connections that ended, with
 *					their lifetimes (PROM_CONN_BUCKET_LE,
 *					not cumulative, summing to closed)
 * Counts are deltas, each at most 1000000. The supervisor counts them
 * for the worker's own tenant; anything malformed is a protocol
 * violation.
 */
#define IPC_COUNTERS_HTTP_MAX 64
#define IPC_COUNTERS_SERVERS_MAX 64

/*
 * IPC_AUDIT (tenant implied: the worker's own): {"rows":[row...]}, 1 to
 * IPC_AUDIT_ROWS_MAX finished tool calls batched by the worker (at most
 * 100 ms apart), each row
 *   {"action":"tool.call","server","tool","status":"success"|"error"|
 *    "cancelled"|"refused","duration_ms","arg_bytes","request_id",
 *    "policy"?,"arguments"?}
 * "refused": the tool lists refused the call (it never reached the
 * server); then, and only then, "policy" names the list: "tenant deny",
 * "server deny", "tenant allow" or "server allow" (toolacl_allows).
 * tool at most PROM_TOOL_NAME_MAX bytes, request_id as request_id_valid();
 * "arguments" (the call's argument object) only when the settings say
 * audit_arguments, and the supervisor drops it unless its own
 * configuration says so too; its JSON text at most IPC_AUDIT_ARGS_MAX
 * bytes (longer arguments are audited by size only).
 * Any other worker event: {"action":"[a-z._]{1,64}","detail":any}.
 */
#define IPC_AUDIT_ARGS_MAX 4096
#define IPC_AUDIT_ROWS_MAX 64		/* 64 rows of 4 KiB arguments: 256 KiB */

/*
 * Supervisor <-> dataagent-relay (relay/): the same framing on fd
 * RELAY_IPC_FD. A relay is exec'd as root, says IPC_RELAY_HELLO, gets
 * IPC_RELAY_SETUP, confines itself (policy/confine.c confine_relay: its
 * own uid, no capabilities, no_new_privs, relay.policy) and answers
 * IPC_RELAY_READY; only then does it get client sockets.
 *
 *   IPC_RELAY_HELLO   {"version"}
 *   IPC_RELAY_SETUP   {"uid","gid","policy","nofile","max_header_size",
 *                     "header_timeout","idle_timeout","log_level"}
 *   IPC_RELAY_READY   {}
 *   IPC_RELAY_CLIENT  fd (a client's TCP socket, nothing read from it) +
 *                     {"addr","port"} the peer's numeric address
 *   IPC_RELAY_ROUTE   peer = request id; one request head's fields
 *                     {"method" (http_parser's number),"path",
 *                     "host"?,"origin"?,"authorization"?,"request_id"?,
 *                     "forwarded_for"? (X-Forwarded-For),
 *                     "addr","port","body"? (base64 of at most
 *                     RELAY_ROUTE_BODY_MAX body bytes at hand, for a
 *                     429's JSON-RPC id)}, with an fd (the worker's end of
 *                     a new socketpair) exactly when the path names a
 *                     tenant and the head has a bearer token. Nothing of
 *                     the request has been written to that socketpair.
 *   IPC_RELAY_ROUTED  same peer; either {"tenant","token_hash","exp"}:
 *                     the fd went to that tenant's worker (as an
 *                     IPC_CONN with that auth context), and the relay
 *                     sends the request, and later ones with the same
 *                     token for the same tenant, down its end; or
 *                     {"response"}: base64 of a whole HTTP response
 *                     (Connection: close) to write to the client instead
 *                     (health, 401, 403, 404, 429, ...), the fd closed.
 *   IPC_RELAY_REVOKE  {"token_hash"}: a token was revoked; the relay
 *                     closes every stream that carries it.
 *   IPC_RELAY_STATS   {"connections","refused"?} client connections it
 *                     holds, and its own answers since the last one
 * Answers come in the order of the requests. Anything else from a relay
 * (a wrong type, a second fd, a ROUTE before READY) kills it.
 */
#define RELAY_IPC_FD 3
#define RELAY_ROUTE_BODY_MAX 4096
/* The answers a relay gives itself (a head it cannot read, a head too
 * slow, no room), reported in IPC_RELAY_STATS "refused": {"code": n},
 * 1 <= n <= 100000, and counted in /metrics as route "other". */
#define RELAY_REFUSED_CODES { 400, 408, 414, 431, 503 }
#define RELAY_NREFUSED 5

enum ipc_relay_type {
	/* relay -> supervisor */
	IPC_RELAY_HELLO = 200,
	IPC_RELAY_READY,
	IPC_RELAY_ROUTE,
	IPC_RELAY_STATS,
	/* supervisor -> relay */
	IPC_RELAY_SETUP = 300,
	IPC_RELAY_CLIENT,
	IPC_RELAY_ROUTED,
	IPC_RELAY_REVOKE,
};

/*
 * Control socket: one JSON object per line each way.
 *   request  {"cmd":"tenant.add","args":{...}}
 *   response {"ok":true,"result":...} | {"ok":false,"error":"..."}
 * Commands: tenant.add {id}, tenant.list, tenant.show {id},
 *   tenant.enable {id}, tenant.disable {id}, tenant.remove {id},
 *   tenant.set {id,allow_tools?,deny_tools?} (the tenant's tool lists;
 *     a list not given is kept, "" or [] clears one),
 *   server.add {tenant,name,command,args,env,allow_tools?,deny_tools?}
 *     or {tenant,name,transport,url,headers,options,allow_tools?,
 *     deny_tools?}, server.list {tenant} (header names only),
 *   server.set {tenant,name,allow_tools?,deny_tools?} (the server's tool
 *     lists, as tenant.set), server.show {tenant,name},
 *   server.remove {tenant,name}, server.import {tenant,config (object)},
 *   token.issue {tenant,ttl} -> {token,expires,jti},
 *   token.revoke {jti,tenant?} -> {jti,tenant,expires,seen},
 *   token.revoked -> [{jti,tenant,expires,revoked}], status, reload,
 *   secret.set {tenant,name,value}, secret.list {tenant},
 *   secret.remove {tenant,name}, key.rotate,
 *   audit.list {tenant?,since?,limit?} (rows newest first).
 */
#define CONTROL_MAX_LINE (1024 * 1024)

#endif
