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
	IPC_AUDIT,		/* {"action","detail"} tool calls etc. */
	IPC_HANDBACK,		/* fd + {"pre"}: a request on this connection
				 * is not this tenant's (another token, a
				 * supervisor path): the supervisor takes the
				 * socket back with the bytes already read */
	IPC_TOOL_STATS,		/* {"tools":[{"server","tool","status",
				 * "count","sum_ms","buckets":[13]}]}: tool
				 * calls since the last one (deltas), at most
				 * IPC_TOOL_STATS_MAX entries; see /metrics */
	IPC_COUNTERS,		/* {...} other counters since the last one
				 * (HTTP requests, cache, upstream restarts) */
	IPC_RATE_REQ,		/* {"want"} keep-alive request tokens */
	IPC_SLOT_REQ,		/* peer=req id, {"server"} an upstream
				 * connection slot */
	IPC_SLOT_RELEASE,	/* {"n"} slots given back */

	/* supervisor -> worker */
	IPC_ASSIGN = 100,	/* {"tenant","uid","gid","home","upstream_policy",
				 * "worker_policy","hide":[..],"nofile","nproc"} */
	IPC_CONFIG,		/* {"settings":{...},"servers":[...]} */
	IPC_CONN,		/* fd + {"token_hash","exp","remote","pre"?} */
	IPC_STORE_RES,		/* peer=req id, {"ok":true,...}|{"ok":false,"error"} */
	IPC_SHUTDOWN,		/* {} exit now (idle retire, tenant removed) */
	IPC_RATE_GRANT,		/* {"n","retry_after"} answer to IPC_RATE_REQ */
	IPC_SLOT_GRANT,		/* peer=req id, {"ok"}|{"ok":false,"error"} */
	IPC_REVOKE,		/* {"token_hash"} close connections using it */
};

/*
 * IPC_CONFIG "settings": {"max_connections_per_user","connection_timeout",
 *   "idle_timeout","tool_cache_ttl","max_body_size","allowed_hosts",
 *   "log_level"}
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
 *
 * IPC_STORE_REQ ops (tenant is implied: the worker's own):
 *   {"op":"server_put","server":{"name","command","args","env","enabled"}}
 *     or a remote one {"name","transport","url","headers","options",
 *     "enabled"}; the answer's "server" shows "header_names", not values
 *   {"op":"server_delete","name"}
 *   {"op":"secret_put","name","value"}   answer {"ok","secret":{"name"}}
 *   {"op":"secret_list"}                 answer {"ok","secrets":[{"name",
 *                                          "created","updated"}]}
 *   {"op":"secret_delete","name"}
 * Each is answered by IPC_STORE_RES with the same peer; on success the
 * supervisor also sends a fresh IPC_CONFIG.
 */

/*
 * "pre" (IPC_CONN, IPC_HANDBACK) is base64 of bytes already read from
 * the socket, at most IPC_PRE_MAX of them: they come before anything
 * still in the socket.
 */
#define IPC_PRE_MAX (256 * 1024)

/* Most entries in one IPC_TOOL_STATS message. */
#define IPC_TOOL_STATS_MAX 64

/*
 * Control socket: one JSON object per line each way.
 *   request  {"cmd":"tenant.add","args":{...}}
 *   response {"ok":true,"result":...} | {"ok":false,"error":"..."}
 * Commands: tenant.add {id}, tenant.list, tenant.show {id},
 *   tenant.enable {id}, tenant.disable {id}, tenant.remove {id},
 *   server.add {tenant,name,command,args,env} or {tenant,name,transport,
 *     url,headers,options}, server.list {tenant} (header names only),
 *   server.remove {tenant,name}, server.import {tenant,config (object)},
 *   token.issue {tenant,ttl}, status, reload,
 *   secret.set {tenant,name,value}, secret.list {tenant},
 *   secret.remove {tenant,name}, key.rotate.
 */
#define CONTROL_MAX_LINE (1024 * 1024)

#endif
