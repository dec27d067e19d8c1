/*
 * auth.c: what the front door needs to decide who a request is from.
 *
 *   - the key set (common/jwt.c) built from secret_key, jwt_public_keys
 *     and jwt_jwks_file: at start, by `dataagentd -t`, and again on
 *     SIGHUP, where a set that does not load keeps the running one;
 *   - revocations by jti: the store's revoked_tokens rows, mirrored in
 *     a hash table (a jansson object) for an O(1) check on every
 *     authentication, pruned once they expire;
 *   - the tokens seen lately, by jti: the hash of each, so a revocation
 *     can tell the tenant's worker which connections to close
 *     (IPC_REVOKE); bounded, oldest dropped first;
 *   - the tokens verified lately, by the SHA-256 of the whole token: a
 *     connection that presents one again skips the signature and the
 *     JSON parse (an RS256 verification costs more than the rest of a
 *     handoff); times and revocation are still checked on every use.
 *     Direct-mapped and bounded; only tokens that verified get in, so a
 *     stream of bad tokens cannot push good ones out. Emptied when the
 *     keys, iss or aud are reloaded;
 *   - Host and Origin against allowed_hosts (common/hostcheck.c);
 *   - OAuth protected-resource metadata (RFC 9728) and the
 *     WWW-Authenticate challenge that points to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "supervisor.h"

#define AUTH_SEEN_MAX 65536		/* jti -> token hash entries */
#define AUTH_PRUNE_S 300		/* how often expired entries go */
#define AUTH_WELL_KNOWN "/.well-known/oauth-protected-resource"
#define AUTH_CACHE_SLOTS 4096		/* verified tokens, power of two */

struct auth_cached {
	char ac_hash[65];	/* "" when the slot is empty */
	struct jwt_claims ac_claims;
};

struct auth {
	struct jwt_keyset *au_keys;
	json_t *au_revoked;	/* jti -> {"tenant": s|null, "expires": I} */
	json_t *au_seen;	/* jti -> {"hash","tenant","exp"}, oldest first */
	struct event *au_ev_prune;
	struct auth_cached *au_cache;	/* AUTH_CACHE_SLOTS */
};

int
auth_keys_build(const struct config *cf, struct jwt_keyset **ks_r, char *err,
    size_t errlen)
{
	struct jwt_keyset *ks;
	size_t added = 0, skipped = 0;
	char e[512];

	if ((ks = jwt_keyset_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cf->cf_secret_key[0] != '\0' && jwt_keyset_add_secret(ks, NULL,
	    (const uint8_t *)cf->cf_secret_key, strlen(cf->cf_secret_key), e,
	    sizeof(e)) == -1) {
		snprintf(err, errlen, "secret_key: %s", e);
		goto fail;
	}
	if (jwt_keyset_add_pem_list(ks, cf->cf_jwt_public_keys, e,
	    sizeof(e)) == -1) {
		snprintf(err, errlen, "jwt_public_keys: %s", e);
		goto fail;
	}
	if (cf->cf_jwt_jwks_file[0] != '\0') {
		if (jwt_keyset_add_jwks_file(ks, cf->cf_jwt_jwks_file, &added,
		    &skipped, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "jwt_jwks_file: %s", e);
			goto fail;
		}
		if (added == 0) {
			snprintf(err, errlen, "jwt_jwks_file: %s has no RS256 "
			    "or ES256 signing key (%zu skipped)",
			    cf->cf_jwt_jwks_file, skipped);
			goto fail;
		}
	}
	if (jwt_keyset_count(ks) == 0) {
		snprintf(err, errlen, "no key verifies tokens: set secret_key, "
		    "jwt_public_keys or jwt_jwks_file");
		goto fail;
	}
	*ks_r = ks;
	return 0;
fail:
	jwt_keyset_free(&ks);
	return -1;
}

static void
auth_keys_log(const char *msg, const struct jwt_keyset *ks)
{
	log_info(msg, "{s:o}", "keys", jwt_keyset_json(ks));
}

/* Drops expired revocations (memory and store) and seen tokens. */
static void
auth_prune(struct sup *sp)
{
	struct auth *au = sp->sp_auth;
	int64_t now = now_wall();
	char err[STORE_ERRLEN];
	const char *k;
	json_t *v;
	void *tmp;
	int n;

	json_object_foreach_safe(au->au_revoked, tmp, k, v)
		if (json_integer_value(json_object_get(v, "expires")) < now)
			json_object_del(au->au_revoked, k);
	json_object_foreach_safe(au->au_seen, tmp, k, v)
		if (json_integer_value(json_object_get(v, "exp")) +
		    JWT_LEEWAY < now)
			json_object_del(au->au_seen, k);
	if ((n = store_revoked_prune(sp->sp_store, now, err,
	    sizeof(err))) == -1)
		log_warn("cannot prune revoked tokens", "{s:s}", "error", err);
	else if (n > 0)
		log_info("expired revocations pruned", "{s:i}", "count", n);
}

static void
auth_on_prune(evutil_socket_t fd, short ev, void *arg)
{
	auth_prune(arg);
}

static int
auth_revoked_put(struct auth *au, const char *jti, const char *tenant,
    int64_t expires)
{
	return json_object_set_new(au->au_revoked, jti, json_pack("{s:s?,s:I}",
	    "tenant", tenant, "expires", (json_int_t)expires));
}

/*
 * Reads the store's revocations into memory: at start, and when another
 * host sharing the store revoked a token (cluster.c). A token revoked
 * elsewhere that this host has seen lately gets its connections here
 * closed too.
 */
int
auth_revocations_sync(struct sup *sp, char *err, size_t errlen)
{
	struct auth *au = sp->sp_auth;
	const char *jti, *tenant, *stenant;
	const json_t *seen;
	json_t *rows, *r;
	size_t i;

	if ((rows = store_revoked_list(sp->sp_store, err, errlen)) == NULL)
		return -1;
	json_array_foreach(rows, i, r) {
		jti = json_string_value(json_object_get(r, "jti"));
		tenant = json_string_value(json_object_get(r, "tenant"));
		if (jti == NULL || json_object_get(au->au_revoked, jti) != NULL)
			continue;
		auth_revoked_put(au, jti, tenant,
		    json_integer_value(json_object_get(r, "expires")));
		seen = json_object_get(au->au_seen, jti);
		stenant = json_string_value(json_object_get(seen, "tenant"));
		if (stenant != NULL && (tenant == NULL ||
		    strcmp(tenant, stenant) == 0))
			workers_revoke(sp, stenant, json_string_value(
			    json_object_get(seen, "hash")));
	}
	json_decref(rows);
	return 0;
}

int
auth_start(struct sup *sp, char *err, size_t errlen)
{
	struct timeval tv = { AUTH_PRUNE_S, 0 };
	struct auth *au;

	if ((au = calloc(1, sizeof(*au))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sp->sp_auth = au;
	au->au_revoked = json_object();
	au->au_seen = json_object();
	au->au_cache = calloc(AUTH_CACHE_SLOTS, sizeof(*au->au_cache));
	if (au->au_revoked == NULL || au->au_seen == NULL ||
	    au->au_cache == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (auth_keys_build(&sp->sp_cf, &au->au_keys, err, errlen) == -1)
		return -1;
	auth_keys_log("token keys loaded", au->au_keys);
	if (auth_revocations_sync(sp, err, errlen) == -1)
		return -1;
	auth_prune(sp);
	au->au_ev_prune = event_new(sp->sp_base, -1, EV_PERSIST, auth_on_prune,
	    sp);
	if (au->au_ev_prune == NULL || event_add(au->au_ev_prune, &tv) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
auth_reload(struct sup *sp)
{
	struct auth *au = sp->sp_auth;
	struct jwt_keyset *ks = NULL;
	char err[1024];

	if (au == NULL)
		return;
	if (auth_keys_build(&sp->sp_cf, &ks, err, sizeof(err)) == -1) {
		log_error("reload: keeping the running token keys", "{s:s}",
		    "error", err);
		return;
	}
	jwt_keyset_free(&au->au_keys);
	au->au_keys = ks;
	/* A token verified by a key now gone, or under an iss, aud or
	 * max_token_ttl the reload changed, must be verified again. */
	memset(au->au_cache, 0, AUTH_CACHE_SLOTS * sizeof(*au->au_cache));
	auth_keys_log("token keys reloaded", ks);
}

void
auth_free(struct sup *sp)
{
	struct auth *au = sp->sp_auth;

	if (au == NULL)
		return;
	if (au->au_ev_prune != NULL)
		event_free(au->au_ev_prune);
	jwt_keyset_free(&au->au_keys);
	json_decref(au->au_revoked);
	json_decref(au->au_seen);
	free(au->au_cache);
	free(au);
	sp->sp_auth = NULL;
}

/* Remembers which token hash a jti was last seen with. */
static void
auth_seen_put(struct auth *au, const struct jwt_claims *cl,
    const char *hash)
{
	const char *k;
	json_t *v;
	void *tmp;
	size_t drop;
	const json_t *old;

	old = json_object_get(au->au_seen, cl->jc_jti);
	if (old != NULL && (k = json_string_value(json_object_get(old,
	    "hash"))) != NULL && strcmp(k, hash) == 0)
		return;		/* seen already, on an earlier connection */
	if (old == NULL &&
	    json_object_size(au->au_seen) >= AUTH_SEEN_MAX) {
		/* The oldest sixteenth goes: their connections can no longer
		 * be closed by a revocation, only refused anew. */
		drop = AUTH_SEEN_MAX / 16;
		json_object_foreach_safe(au->au_seen, tmp, k, v) {
			if (drop-- == 0)
				break;
			json_object_del(au->au_seen, k);
		}
	}
	json_object_set_new(au->au_seen, cl->jc_jti, json_pack("{s:s,s:s,s:I}",
	    "hash", hash, "tenant", cl->jc_sub, "exp", (json_int_t)cl->jc_exp));
}

/* The cache slot of a token hash (lower-case hex): its first eight
 * digits pick it. */
static struct auth_cached *
auth_cache_slot(struct auth *au, const char hash[65])
{
	uint32_t h = 0;
	int i;

	for (i = 0; i < 8; i++)
		h = h << 4 | (uint32_t)(hash[i] <= '9' ? hash[i] - '0' :
		    hash[i] - 'a' + 10);
	return &au->au_cache[h & (AUTH_CACHE_SLOTS - 1)];
}

/* The claims of a token verified before, when they still hold at `now`
 * (exp and nbf as jwt_verify_keyset checks them); else -1 and the
 * token is verified in full. */
static int
auth_cache_get(struct auth *au, const char hash[65], int64_t now,
    struct jwt_claims *cl)
{
	const struct auth_cached *ac = auth_cache_slot(au, hash);

	if (ac->ac_hash[0] == '\0' || CRYPTO_memcmp(ac->ac_hash, hash, 64) != 0)
		return -1;
	if (ac->ac_claims.jc_exp + JWT_LEEWAY <= now ||
	    (ac->ac_claims.jc_nbf != 0 &&
	    ac->ac_claims.jc_nbf - JWT_LEEWAY > now))
		return -1;
	*cl = ac->ac_claims;
	return 0;
}

int
auth_verify(struct sup *sp, const char *tok, size_t toklen,
    struct jwt_claims *cl, char hash[65], const char **why)
{
	struct auth *au = sp->sp_auth;
	struct auth_cached *ac;
	const json_t *rv;
	const char *rt;
	int64_t now = now_wall();

	jwt_token_hash(tok, toklen, hash);
	if (auth_cache_get(au, hash, now, cl) == -1) {
		if (jwt_verify_keyset(tok, toklen, au->au_keys,
		    sp->sp_cf.cf_jwt_issuer, sp->sp_cf.cf_jwt_audience,
		    sp->sp_cf.cf_max_token_ttl, now, cl, why) == -1)
			return -1;
		ac = auth_cache_slot(au, hash);
		memcpy(ac->ac_hash, hash, sizeof(ac->ac_hash));
		ac->ac_claims = *cl;
	}
	*why = NULL;
	rv = json_object_get(au->au_revoked, cl->jc_jti);
	if (rv != NULL) {
		rt = json_string_value(json_object_get(rv, "tenant"));
		if (rt == NULL || strcmp(rt, cl->jc_sub) == 0) {
			*why = "revoked";
			return -1;
		}
	}
	auth_seen_put(au, cl, hash);
	return 0;
}

json_t *
auth_revoke(struct sup *sp, const char *jti, const char *tenant, char *err,
    size_t errlen)
{
	struct auth *au = sp->sp_auth;
	const json_t *seen = json_object_get(au->au_seen, jti);
	const char *stenant = json_string_value(json_object_get(seen, "tenant"));
	const char *hash = json_string_value(json_object_get(seen, "hash"));
	int64_t expires, now = now_wall();

	/* Kept until the token expires when we saw it; otherwise for as
	 * long as a token of ours may live. */
	expires = now + sp->sp_cf.cf_max_token_ttl + JWT_LEEWAY;
	if (seen != NULL)
		expires = json_integer_value(json_object_get(seen, "exp")) +
		    JWT_LEEWAY;
	if (expires < now)
		expires = now;
	if (store_revoked_put(sp->sp_store, jti, tenant, expires, err,
	    errlen) == -1)
		return NULL;
	if (auth_revoked_put(au, jti, tenant, expires) == -1) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Connections a worker already serves with it are closed. */
	if (seen != NULL && (tenant == NULL || strcmp(tenant, stenant) == 0))
		workers_revoke(sp, stenant, hash);
	return json_pack("{s:s,s:s?,s:I,s:b}", "jti", jti, "tenant", tenant,
	    "expires", (json_int_t)expires, "seen", seen != NULL);
}

json_t *
auth_revoked_json(struct sup *sp, char *err, size_t errlen)
{
	auth_prune(sp);
	return store_revoked_list(sp->sp_store, err, errlen);
}

int
auth_host_ok(struct sup *sp, const struct httphead *hh, const char **what_r)
{
	const char *allowed = sp->sp_cf.cf_allowed_hosts;

	if (hh->hh_has_host && !host_allowed(allowed, hh->hh_host,
	    HOST_HEADER)) {
		*what_r = "host";
		return 0;
	}
	if (hh->hh_has_origin && !host_allowed(allowed, hh->hh_origin,
	    HOST_ORIGIN)) {
		*what_r = "origin";
		return 0;
	}
	return 1;
}

/* oauth_resource without a trailing '/', or NULL when not configured. */
static const char *
auth_resource_base(struct sup *sp, size_t *len_r)
{
	const char *r = sp->sp_cf.cf_oauth_resource;
	size_t n = strlen(r);

	if (n == 0)
		return NULL;
	while (n > 0 && r[n - 1] == '/')
		n--;
	*len_r = n;
	return r;
}

/* A path suffix that may stand in metadata and a challenge: a tenant
 * path of plain URL characters. */
static int
auth_suffix_ok(const char *suffix)
{
	char id[128];

	return httphead_path_tenant(suffix, id, sizeof(id)) == 1 &&
	    strspn(suffix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~%/") == strlen(suffix) && strlen(suffix) < 512;
}

int
auth_metadata_path(const char *path)
{
	size_t n = strlen(AUTH_WELL_KNOWN);

	return strncmp(path, AUTH_WELL_KNOWN, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

json_t *
auth_metadata(struct sup *sp, const char *path)
{
	const char *base, *suffix = path + strlen(AUTH_WELL_KNOWN);
	const char *p, *q;
	json_t *as, *md;
	size_t blen;
	char *res;

	if ((base = auth_resource_base(sp, &blen)) == NULL)
		return NULL;
	if (suffix[0] != '\0' && !auth_suffix_ok(suffix))
		return NULL;
	if (asprintf(&res, "%.*s%s", (int)blen, base, suffix) == -1)
		return NULL;
	as = json_array();
	for (p = sp->sp_cf.cf_oauth_authorization_servers; as != NULL &&
	    *p != '\0'; p = q) {
		while (*p == ' ' || *p == ',')
			p++;
		for (q = p; *q != '\0' && *q != ',' && *q != ' '; q++)
			;
		if (q > p)
			json_array_append_new(as, json_stringn(p,
			    (size_t)(q - p)));
	}
	md = json_pack("{s:s,s:o,s:[s],s:s}", "resource", res,
	    "authorization_servers", as, "bearer_methods_supported", "header",
	    "resource_name", "dataagent");
	free(res);
	return md;
}

void
auth_challenge(struct sup *sp, const char *path, const char *why, char *out,
    size_t outlen)
{
	const char *base;
	char suffix[512], id[128];
	size_t blen;

	if ((base = auth_resource_base(sp, &blen)) == NULL) {
		snprintf(out, outlen, "WWW-Authenticate: Bearer "
		    "error=\"invalid_token\", error_description=\"%s\"\r\n",
		    why);
		return;
	}
	/* A tenant path points to the metadata of that tenant's MCP
	 * endpoint (its resource is the URL an MCP client connects to). */
	suffix[0] = '\0';
	if (httphead_path_tenant(path, id, sizeof(id)) == 1) {
		snprintf(suffix, sizeof(suffix), "/api/v1/users/%s/mcp", id);
		if (!auth_suffix_ok(suffix))
			suffix[0] = '\0';
	}
	snprintf(out, outlen, "WWW-Authenticate: Bearer error=\"invalid_token\", "
	    "error_description=\"%s\", resource_metadata=\"%.*s%s%s\"\r\n",
	    why, (int)blen, base, AUTH_WELL_KNOWN, suffix);
}
