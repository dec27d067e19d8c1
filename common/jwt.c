/*
 * jwt.c: bearer tokens (RFC 7519, compact JWS of RFC 7515) signed with
 * HS256, RS256 or ES256 (RFC 7518), and the keys that verify them.
 *
 * A key set holds every key dataagentd accepts. Each key has exactly one
 * algorithm pinned when it is loaded: the HMAC key (secret_key) HS256, an
 * RSA public key RS256, a P-256 public key ES256 (or a JWKS key's "alg",
 * which must agree with its type). The token's header "kid" selects the
 * key; a token without one is tried against the keys that have none. The
 * header's "alg" must then equal the key's pinned algorithm, so "none",
 * an HS256 token "signed" with an RSA public key (the classic confusion
 * attack) and any algorithm we do not implement fail before a signature
 * is looked at. The configured issuer and audience bind the tokens that
 * public keys verify (those of another issuer); an HS256 token is
 * dataagent's own and carries neither. Every token must carry a jti (one
 * without could never be revoked) and live no longer than max_ttl.
 * ES256 signatures are the JWS form, r || s in 64 bytes;
 * a DER-encoded one is refused.
 *
 * OpenSSL 3 does every primitive (HMAC, EVP_DigestVerify, base64, key
 * import through EVP_PKEY_fromdata); jansson parses header, claims and
 * JWKS documents. Nothing here logs: errors travel up in err/why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common.h"

#define JWT_MAX_LEN 8192
#define JWT_SIG_MAX 1024	/* RSA 8192 bits */
#define JWT_KEYS_MAX 64
#define JWT_KEYFILE_MAX (1024 * 1024)
#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BITS 8192

struct jwt_key {
	char jk_kid[JWT_KID_MAX];	/* "" when the key has none */
	enum jwt_alg jk_alg;
	EVP_PKEY *jk_pkey;		/* RS256, ES256 */
	uint8_t *jk_secret;		/* HS256 */
	size_t jk_secretlen;
};

struct jwt_keyset {
	struct jwt_key ks_keys[JWT_KEYS_MAX];
	size_t ks_n;
};

/* ------------------------------------------------------------ base64url */

/*
 * base64url without padding -> bytes. Returns the length or -1. Only the
 * canonical encoding is accepted (the unused low bits of the last
 * character are zero), so one signature has one spelling.
 */
static int
b64url_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outcap)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char tmp[JWT_MAX_LEN + 4];
	size_t i, padded, pad;
	const char *c;
	int n;

	if (inlen % 4 == 1 || inlen > JWT_MAX_LEN)
		return -1;
	for (i = 0; i < inlen; i++) {
		if (in[i] == '\0' || (c = strchr(alpha, in[i])) == NULL)
			return -1;
		tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' :
		    (unsigned char)in[i];
	}
	if (inlen > 0) {
		int last = (int)(strchr(alpha, in[inlen - 1]) - alpha);

		if ((inlen % 4 == 2 && (last & 0x0f) != 0) ||
		    (inlen % 4 == 3 && (last & 0x03) != 0))
			return -1;
	}
	pad = (4 - inlen % 4) % 4;
	for (padded = inlen; padded < inlen + pad; padded++)
		tmp[padded] = '=';
	if (padded == 0)
		return 0;
	if (padded / 4 * 3 > outcap)
		return -1;
	n = EVP_DecodeBlock(out, tmp, (int)padded);
	if (n < 0)
		return -1;
	return n - (int)pad;
}

/* bytes -> base64url without padding, NUL-terminated. */
static void
b64url_encode(const unsigned char *in, size_t inlen, char *out)
{
	int n, i;

	n = EVP_EncodeBlock((unsigned char *)out, in, (int)inlen);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

/* ---------------------------------------------------------------- keys */

const char *
jwt_alg_name(enum jwt_alg alg)
{
	switch (alg) {
	case JWT_HS256:
		return "HS256";
	case JWT_RS256:
		return "RS256";
	case JWT_ES256:
		return "ES256";
	}
	return "?";
}

/* 0 for a name we do not implement ("none" included). */
static enum jwt_alg
jwt_alg_parse(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "HS256") == 0)
		return JWT_HS256;
	if (strcmp(name, "RS256") == 0)
		return JWT_RS256;
	if (strcmp(name, "ES256") == 0)
		return JWT_ES256;
	return 0;
}

struct jwt_keyset *
jwt_keyset_new(void)
{
	return calloc(1, sizeof(struct jwt_keyset));
}

void
jwt_keyset_free(struct jwt_keyset **ksp)
{
	struct jwt_keyset *ks = *ksp;
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->ks_n; i++) {
		EVP_PKEY_free(ks->ks_keys[i].jk_pkey);
		if (ks->ks_keys[i].jk_secret != NULL) {
			OPENSSL_cleanse(ks->ks_keys[i].jk_secret,
			    ks->ks_keys[i].jk_secretlen);
			free(ks->ks_keys[i].jk_secret);
		}
	}
	free(ks);
	*ksp = NULL;
}

size_t
jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks != NULL ? ks->ks_n : 0;
}

json_t *
jwt_keyset_json(const struct jwt_keyset *ks)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && ks != NULL && i < ks->ks_n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "kid",
		    ks->ks_keys[i].jk_kid, "alg",
		    jwt_alg_name(ks->ks_keys[i].jk_alg)));
	return a;
}

static const struct jwt_key *
jwt_key_by_kid(const struct jwt_keyset *ks, const char *kid)
{
	size_t i;

	for (i = 0; i < ks->ks_n; i++)
		if (strcmp(ks->ks_keys[i].jk_kid, kid) == 0)
			return &ks->ks_keys[i];
	return NULL;
}

/* A kid: 1..JWT_KID_MAX-1 printable ASCII bytes. */
static int
jwt_kid_valid(const char *kid, size_t len)
{
	size_t i;

	if (len == 0 || len >= JWT_KID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (kid[i] < 0x21 || kid[i] > 0x7e)
			return 0;
	return 1;
}

/* Prepares the next slot for kid ("" for none; a kid is unique in the
 * set). The caller fills it and counts it. */
static struct jwt_key *
jwt_key_slot(struct jwt_keyset *ks, const char *kid, char *err,
    size_t errlen)
{
	struct jwt_key *k;

	if (ks->ks_n >= JWT_KEYS_MAX) {
		snprintf(err, errlen, "more than %d keys", JWT_KEYS_MAX);
		return NULL;
	}
	if (kid[0] != '\0' && !jwt_kid_valid(kid, strlen(kid))) {
		snprintf(err, errlen, "kid must be 1..%d printable characters",
		    JWT_KID_MAX - 1);
		return NULL;
	}
	if (kid[0] != '\0' && jwt_key_by_kid(ks, kid) != NULL) {
		snprintf(err, errlen, "kid \"%s\" is used by two keys", kid);
		return NULL;
	}
	k = &ks->ks_keys[ks->ks_n];
	memset(k, 0, sizeof(*k));
	snprintf(k->jk_kid, sizeof(k->jk_kid), "%s", kid);
	return k;
}

int
jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid,
    const uint8_t *key, size_t keylen, char *err, size_t errlen)
{
	struct jwt_key *k;

	if (keylen == 0) {
		snprintf(err, errlen, "an empty HMAC key");
		return -1;
	}
	if ((k = jwt_key_slot(ks, kid != NULL ? kid : "", err, errlen)) == NULL)
		return -1;
	if ((k->jk_secret = malloc(keylen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(k->jk_secret, key, keylen);
	k->jk_secretlen = keylen;
	k->jk_alg = JWT_HS256;
	ks->ks_n++;
	return 0;
}

/*
 * The one algorithm a public key can verify: RS256 for RSA of 2048..8192
 * bits, ES256 for an EC key on P-256. Returns 0 for anything else, with
 * err filled.
 */
static enum jwt_alg
jwt_pkey_alg(EVP_PKEY *pk, char *err, size_t errlen)
{
	char group[64];
	size_t glen = 0;
	int bits;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < JWT_RSA_MIN_BITS || bits > JWT_RSA_MAX_BITS) {
			snprintf(err, errlen, "an RSA key of %d bits (%d..%d "
			    "are accepted)", bits, JWT_RSA_MIN_BITS,
			    JWT_RSA_MAX_BITS);
			return 0;
		}
		return JWT_RS256;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group),
		    &glen) != 1 || strcmp(group, "prime256v1") != 0) {
			snprintf(err, errlen, "an EC key not on P-256 (only "
			    "ES256 is supported)");
			return 0;
		}
		return JWT_ES256;
	default:
		snprintf(err, errlen, "neither an RSA nor a P-256 EC key");
		return 0;
	}
}

/* A public key that OpenSSL's own checks accept. */
static int
jwt_pkey_check(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Adds pk (owned in every case) under kid; alg 0 = inferred. */
static int
jwt_keyset_add_pkey(struct jwt_keyset *ks, const char *kid, enum jwt_alg alg,
    EVP_PKEY *pk, char *err, size_t errlen)
{
	struct jwt_key *k;
	enum jwt_alg have;

	if ((have = jwt_pkey_alg(pk, err, errlen)) == 0)
		goto fail;
	if (alg != 0 && alg != have) {
		snprintf(err, errlen, "alg %s does not fit the key (it can "
		    "only verify %s)", jwt_alg_name(alg), jwt_alg_name(have));
		goto fail;
	}
	if (!jwt_pkey_check(pk)) {
		snprintf(err, errlen, "the public key does not pass OpenSSL's "
		    "checks");
		goto fail;
	}
	if ((k = jwt_key_slot(ks, kid, err, errlen)) == NULL)
		goto fail;
	k->jk_pkey = pk;
	k->jk_alg = have;
	ks->ks_n++;
	return 0;
fail:
	EVP_PKEY_free(pk);
	return -1;
}

int
jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid, const char *alg,
    const char *pem, size_t len, char *err, size_t errlen)
{
	enum jwt_alg a = 0;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	BIO *b;

	if (alg != NULL && alg[0] != '\0' && ((a = jwt_alg_parse(alg)) == 0 ||
	    a == JWT_HS256)) {
		snprintf(err, errlen, "alg \"%s\": a public key verifies RS256 "
		    "or ES256", alg);
		return -1;
	}
	if (len > JWT_KEYFILE_MAX || len > 0x7fffffff) {
		snprintf(err, errlen, "too large for a key");
		return -1;
	}
	/* A private key where a public one belongs is a mistake that
	 * spreads a secret: refuse rather than use its public half. */
	if (memmem(pem, len, "PRIVATE KEY", 11) != NULL) {
		snprintf(err, errlen, "holds a private key: give the public key "
		    "(openssl pkey -pubout)");
		return -1;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (pk == NULL && BIO_reset(b) == 1 &&
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		pk = X509_get_pubkey(x);
		X509_free(x);
	}
	BIO_free(b);
	if (pk == NULL) {
		snprintf(err, errlen, "no PEM public key (BEGIN PUBLIC KEY) or "
		    "certificate in it");
		return -1;
	}
	return jwt_keyset_add_pkey(ks, kid != NULL ? kid : "", a, pk, err,
	    errlen);
}

/* A base64url JWK member as bytes into out (at most cap). */
static int
jwk_member(const json_t *jwk, const char *name, unsigned char *out,
    size_t cap, char *err, size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);
	int n;

	if (!json_is_string(v) || (n = b64url_decode(json_string_value(v),
	    json_string_length(v), out, cap)) <= 0) {
		snprintf(err, errlen, "\"%s\" is missing or not base64url",
		    name);
		return -1;
	}
	return n;
}

/* An EVP_PKEY from OSSL_PARAMs of key type `type`; NULL with err. */
static EVP_PKEY *
jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld, char *err,
    size_t errlen)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;

	if (params == NULL || ctx == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		snprintf(err, errlen, "not a valid %s public key", type);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pk;
}

static EVP_PKEY *
jwk_rsa(const json_t *jwk, char *err, size_t errlen)
{
	/* +3: the decoder wants room for a whole last quantum. */
	unsigned char n[JWT_RSA_MAX_BITS / 8 + 4], e[16];
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pk = NULL;
	int nl, el;

	if ((nl = jwk_member(jwk, "n", n, sizeof(n), err, errlen)) == -1 ||
	    (el = jwk_member(jwk, "e", e, sizeof(e), err, errlen)) == -1)
		return NULL;
	bn = BN_bin2bn(n, nl, NULL);
	be = BN_bin2bn(e, el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		snprintf(err, errlen, "out of memory");
	else
		pk = jwk_fromdata("RSA", bld, err, errlen);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pk;
}

static EVP_PKEY *
jwk_ec(const json_t *jwk, char *err, size_t errlen)
{
	unsigned char x[48], y[48], pub[65];
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pk = NULL;

	if (jwk_member(jwk, "x", x, sizeof(x), err, errlen) != 32 ||
	    jwk_member(jwk, "y", y, sizeof(y), err, errlen) != 32) {
		snprintf(err, errlen, "\"x\" and \"y\" must be 32 bytes each "
		    "(base64url)");
		return NULL;
	}
	pub[0] = 0x04;		/* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, sizeof(pub)) != 1)
		snprintf(err, errlen, "out of memory");
	else
		pk = jwk_fromdata("EC", bld, err, errlen);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/*
 * One member of "keys". Returns 1 added, 0 skipped (not a signing key
 * of a type and algorithm we verify), -1 with err.
 */
static int
jwk_add(struct jwt_keyset *ks, const json_t *jwk, char *err, size_t errlen)
{
	const char *kty, *use, *alg, *kid = "", *crv;
	enum jwt_alg a = 0;
	const json_t *v;
	EVP_PKEY *pk;

	if (!json_is_object(jwk)) {
		snprintf(err, errlen, "a key is not a JSON object");
		return -1;
	}
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL) {
		snprintf(err, errlen, "a key without \"kty\"");
		return -1;
	}
	if ((v = json_object_get(jwk, "kid")) != NULL) {
		if (!json_is_string(v) || !jwt_kid_valid(json_string_value(v),
		    json_string_length(v)) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "\"kid\" must be 1..%d printable "
			    "characters", JWT_KID_MAX - 1);
			return -1;
		}
		kid = json_string_value(v);
	}
	if (json_object_get(jwk, "d") != NULL ||
	    json_object_get(jwk, "p") != NULL ||
	    json_object_get(jwk, "k") != NULL) {
		snprintf(err, errlen, "key \"%s\" holds private or secret "
		    "material: publish only public keys", kid);
		return -1;
	}
	use = json_string_value(json_object_get(jwk, "use"));
	if (json_object_get(jwk, "use") != NULL &&
	    (use == NULL || strcmp(use, "sig") != 0))
		return 0;
	if ((v = json_object_get(jwk, "alg")) != NULL) {
		alg = json_string_value(v);
		if (alg == NULL) {
			snprintf(err, errlen, "key \"%s\": \"alg\" is not a "
			    "string", kid);
			return -1;
		}
		a = jwt_alg_parse(alg);
		if (a == 0 || a == JWT_HS256)
			return 0;	/* RS384, PS256, EdDSA, ...: not ours */
	}
	if (strcmp(kty, "RSA") == 0) {
		if (a != 0 && a != JWT_RS256) {
			snprintf(err, errlen, "key \"%s\": alg %s on an RSA "
			    "key", kid, jwt_alg_name(a));
			return -1;
		}
		pk = jwk_rsa(jwk, err, errlen);
	} else if (strcmp(kty, "EC") == 0) {
		crv = json_string_value(json_object_get(jwk, "crv"));
		if (crv == NULL || strcmp(crv, "P-256") != 0)
			return 0;	/* P-384, P-521: not supported */
		if (a != 0 && a != JWT_ES256) {
			snprintf(err, errlen, "key \"%s\": alg %s on a P-256 "
			    "key", kid, jwt_alg_name(a));
			return -1;
		}
		pk = jwk_ec(jwk, err, errlen);
	} else
		return 0;	/* "oct", "OKP", ... */
	if (pk == NULL || jwt_keyset_add_pkey(ks, kid, a, pk, err,
	    errlen) == -1) {
		char e[256];

		snprintf(e, sizeof(e), "%s", err);
		snprintf(err, errlen, "key \"%s\": %s", kid, e);
		return -1;
	}
	return 1;
}

int
jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *text, size_t len,
    size_t *added_r, size_t *skipped_r, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc, *keys, *jwk;
	size_t i, added = 0, skipped = 0, n0 = ks->ks_n;
	int r;

	if (len > JWT_KEYFILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", JWT_KEYFILE_MAX);
		return -1;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_object(doc) || !json_is_array(keys)) {
		snprintf(err, errlen, "not a JWK Set (an object with a "
		    "\"keys\" array)");
		json_decref(doc);
		return -1;
	}
	json_array_foreach(keys, i, jwk) {
		if ((r = jwk_add(ks, jwk, err, errlen)) == -1)
			goto fail;
		if (r == 1)
			added++;
		else
			skipped++;
	}
	json_decref(doc);
	if (added_r != NULL)
		*added_r = added;
	if (skipped_r != NULL)
		*skipped_r = skipped;
	return 0;
fail:
	/* All or nothing: drop what this document added. */
	while (ks->ks_n > n0) {
		ks->ks_n--;
		EVP_PKEY_free(ks->ks_keys[ks->ks_n].jk_pkey);
		ks->ks_keys[ks->ks_n].jk_pkey = NULL;
	}
	json_decref(doc);
	return -1;
}

/* Reads a whole regular file of at most JWT_KEYFILE_MAX bytes. */
static char *
jwt_file_read(const char *path, size_t *len_r, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > JWT_KEYFILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d "
		    "bytes", path, JWT_KEYFILE_MAX);
		fclose(f);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

int
jwt_keyset_add_jwks_file(struct jwt_keyset *ks, const char *path,
    size_t *added_r, size_t *skipped_r, char *err, size_t errlen)
{
	char e[256], *text;
	size_t len;
	int r;

	if ((text = jwt_file_read(path, &len, err, errlen)) == NULL)
		return -1;
	r = jwt_keyset_add_jwks(ks, text, len, added_r, skipped_r, e,
	    sizeof(e));
	free(text);
	if (r == -1)
		snprintf(err, errlen, "%s: %s", path, e);
	return r;
}

int
jwt_keyset_add_pem_list(struct jwt_keyset *ks, const char *list, char *err,
    size_t errlen)
{
	char buf[CONFIG_STRLEN], e[256], *save = NULL, *ent, *eq, *path, *c;
	const char *kid, *alg;
	char *text;
	size_t len;
	int r;

	if (strlen(list) >= sizeof(buf)) {
		snprintf(err, errlen, "list too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (ent = strtok_r(buf, ",", &save); ent != NULL;
	    ent = strtok_r(NULL, ",", &save)) {
		while (*ent == ' ' || *ent == '\t')
			ent++;
		len = strlen(ent);
		while (len > 0 && (ent[len - 1] == ' ' || ent[len - 1] == '\t'))
			ent[--len] = '\0';
		if (len == 0)
			continue;
		kid = "";
		alg = NULL;
		path = ent;
		/* kid=PATH or kid:ALG=PATH; a PATH is absolute. */
		if (ent[0] != '/' && (eq = strchr(ent, '=')) != NULL) {
			*eq = '\0';
			path = eq + 1;
			kid = ent;
			if ((c = strchr(ent, ':')) != NULL) {
				*c = '\0';
				alg = c + 1;
			}
		}
		if (path[0] != '/') {
			snprintf(err, errlen, "\"%s\": expected PATH, kid=PATH "
			    "or kid:ALG=PATH with an absolute PATH", ent);
			return -1;
		}
		if ((text = jwt_file_read(path, &len, err, errlen)) == NULL)
			return -1;
		r = jwt_keyset_add_pem(ks, kid, alg, text, len, e, sizeof(e));
		OPENSSL_cleanse(text, len);
		free(text);
		if (r == -1) {
			snprintf(err, errlen, "%s: %s", path, e);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ verify */

static json_t *
jwt_part_json(const char *in, size_t inlen)
{
	unsigned char buf[JWT_MAX_LEN];
	int n;

	if ((n = b64url_decode(in, inlen, buf, sizeof(buf))) <= 0)
		return NULL;
	return json_loadb((const char *)buf, (size_t)n,
	    JSON_REJECT_DUPLICATES, NULL);
}

static int
claim_time(const json_t *v, int64_t *t_r)
{
	if (json_is_integer(v))
		*t_r = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) > -9e15 &&
	    json_real_value(v) < 9e15)
		*t_r = (int64_t)json_real_value(v);
	else
		return -1;
	return 0;
}

/* A string claim of 1..cap-1 bytes without NUL into out. */
static int
claim_string(const json_t *v, char *out, size_t cap)
{
	size_t len;

	if (!json_is_string(v))
		return -1;
	len = json_string_length(v);
	if (len == 0 || len >= cap || strlen(json_string_value(v)) != len)
		return -1;
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

/* Does the "aud" claim (a string or an array of strings) name aud? */
static int
claim_aud_has(const json_t *v, const char *aud)
{
	const json_t *e;
	size_t i;

	if (json_is_string(v))
		return strcmp(json_string_value(v), aud) == 0;
	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), aud) == 0)
			return 1;
	return 0;
}

/* Checks sig over data[0..len) with key k. Returns 1 when it verifies. */
static int
jwt_sig_ok(const struct jwt_key *k, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int maclen = 0;
	EVP_MD_CTX *md;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int derlen, ok = 0;

	switch (k->jk_alg) {
	case JWT_HS256:
		return siglen == SHA256_DIGEST_LENGTH &&
		    HMAC(EVP_sha256(), k->jk_secret, (int)k->jk_secretlen,
		    data, len, mac, &maclen) != NULL &&
		    maclen == SHA256_DIGEST_LENGTH &&
		    CRYPTO_memcmp(mac, sig, SHA256_DIGEST_LENGTH) == 0;
	case JWT_RS256:
		if (siglen != (size_t)EVP_PKEY_get_size(k->jk_pkey))
			return 0;
		break;
	case JWT_ES256:
		/* JWS: r || s, 32 bytes each. OpenSSL wants DER. */
		if (siglen != 64)
			return 0;
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, 32, NULL);
		s = BN_bin2bn(sig + 32, 32, NULL);
		if (es == NULL || r == NULL || s == NULL ||
		    ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			return 0;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			return 0;
		sig = der;
		siglen = (size_t)derlen;
		break;
	default:
		return 0;
	}
	if ((md = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    k->jk_pkey) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, data, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return ok;
}

int
jwt_verify_keyset(const char *token, size_t toklen,
    const struct jwt_keyset *ks, const char *issuer, const char *audience,
    int64_t max_ttl, int64_t now, struct jwt_claims *claims, const char **why)
{
	const char *dot1, *dot2, *typ, *kid = NULL;
	unsigned char sig[JWT_SIG_MAX + 3];
	const struct jwt_key *k = NULL;
	json_t *hdr = NULL, *pl = NULL, *v;
	enum jwt_alg alg;
	size_t i, tried = 0, signed_len;
	int siglen, ok = 0, other_alg = 0, has_iat;

	memset(claims, 0, sizeof(*claims));
	*why = "malformed";
	if (toklen == 0 || toklen > JWT_MAX_LEN ||
	    memchr(token, '\0', toklen) != NULL)
		return -1;
	dot1 = memchr(token, '.', toklen);
	if (dot1 == NULL)
		return -1;
	dot2 = memchr(dot1 + 1, '.', toklen - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.',
	    toklen - (size_t)(dot2 + 1 - token)) != NULL)
		return -1;
	signed_len = (size_t)(dot2 - token);

	hdr = jwt_part_json(token, (size_t)(dot1 - token));
	if (hdr == NULL || !json_is_object(hdr))
		goto fail;
	if ((v = json_object_get(hdr, "kid")) != NULL) {
		if (!json_is_string(v) || !jwt_kid_valid(json_string_value(v),
		    json_string_length(v)))
			goto fail;
		kid = json_string_value(v);
	}
	*why = "alg";
	alg = jwt_alg_parse(json_string_value(json_object_get(hdr, "alg")));
	if (alg == 0)
		goto fail;
	v = json_object_get(hdr, "typ");
	typ = json_string_value(v);
	if (v != NULL && (typ == NULL || (strcasecmp(typ, "JWT") != 0 &&
	    strcasecmp(typ, "at+jwt") != 0 &&
	    strcasecmp(typ, "application/at+jwt") != 0)))
		goto fail;
	if (json_object_get(hdr, "crit") != NULL)
		goto fail;

	*why = "signature";
	siglen = b64url_decode(dot2 + 1, toklen - (size_t)(dot2 + 1 - token),
	    sig, sizeof(sig));
	if (siglen <= 0)
		goto fail;
	if (kid != NULL) {
		/* The kid picks the key; the key's pinned alg must match. */
		if ((k = jwt_key_by_kid(ks, kid)) == NULL) {
			*why = "kid";
			goto fail;
		}
		if (k->jk_alg != alg) {
			*why = "alg";
			goto fail;
		}
		ok = jwt_sig_ok(k, (const unsigned char *)token, signed_len,
		    sig, (size_t)siglen);
	} else {
		for (i = 0; i < ks->ks_n && !ok; i++) {
			k = &ks->ks_keys[i];
			if (k->jk_alg != alg)
				continue;
			if (k->jk_kid[0] != '\0') {
				other_alg = 1;
				continue;
			}
			tried++;
			ok = jwt_sig_ok(k, (const unsigned char *)token,
			    signed_len, sig, (size_t)siglen);
		}
		if (tried == 0) {
			*why = other_alg ? "kid" : "alg";
			goto fail;
		}
	}
	if (!ok)
		goto fail;

	*why = "claims";
	pl = jwt_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (pl == NULL || !json_is_object(pl))
		goto fail;
	if (claim_string(json_object_get(pl, "sub"), claims->jc_sub,
	    sizeof(claims->jc_sub)) == -1)
		goto fail;
	if (claim_time(json_object_get(pl, "exp"), &claims->jc_exp) == -1)
		goto fail;
	v = json_object_get(pl, "nbf");
	if (v != NULL && claim_time(v, &claims->jc_nbf) == -1)
		goto fail;
	v = json_object_get(pl, "iat");
	if (v != NULL && claim_time(v, &claims->jc_iat) == -1)
		goto fail;
	has_iat = v != NULL;
	v = json_object_get(pl, "jti");
	if (v != NULL && claim_string(v, claims->jc_jti,
	    sizeof(claims->jc_jti)) == -1)
		goto fail;
	/* iss and aud are the other issuer's: a token our own HMAC key
	 * verifies was signed by dataagent (token issue) and has neither. */
	if (k->jk_alg == JWT_HS256)
		issuer = audience = NULL;
	if (issuer != NULL && issuer[0] != '\0') {
		v = json_object_get(pl, "iss");
		if (!json_is_string(v) || strcmp(json_string_value(v),
		    issuer) != 0) {
			*why = "issuer";
			goto fail;
		}
	}
	if (audience != NULL && audience[0] != '\0' &&
	    !claim_aud_has(json_object_get(pl, "aud"), audience)) {
		*why = "audience";
		goto fail;
	}
	/* Without a jti a token cannot be revoked: it is refused. */
	if (claims->jc_jti[0] == '\0') {
		*why = "no_jti";
		goto fail;
	}
	/* No token lives longer than max_ttl: counted from iat, and from
	 * now as well (a token without iat, or one dated in the future). */
	if (max_ttl > 0 && ((has_iat && claims->jc_exp - claims->jc_iat >
	    max_ttl) || claims->jc_exp - now > max_ttl + JWT_LEEWAY)) {
		*why = "ttl";
		goto fail;
	}
	if (claims->jc_exp + JWT_LEEWAY <= now) {
		*why = "expired";
		goto fail;
	}
	if (claims->jc_nbf != 0 && claims->jc_nbf - JWT_LEEWAY > now) {
		*why = "not_yet_valid";
		goto fail;
	}
	claims->jc_alg = alg;
	json_decref(hdr);
	json_decref(pl);
	*why = NULL;
	return 0;
fail:
	json_decref(hdr);
	json_decref(pl);
	memset(claims, 0, sizeof(*claims));
	return -1;
}

int
jwt_verify(const char *token, size_t toklen, const uint8_t *key,
    size_t keylen, int64_t now, struct jwt_claims *claims, const char **why)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	char err[128];
	int r;

	memset(claims, 0, sizeof(*claims));
	*why = "malformed";
	if (ks == NULL || jwt_keyset_add_secret(ks, NULL, key, keylen, err,
	    sizeof(err)) == -1) {
		jwt_keyset_free(&ks);
		return -1;
	}
	r = jwt_verify_keyset(token, toklen, ks, NULL, NULL, 0, now, claims,
	    why);
	jwt_keyset_free(&ks);
	return r;
}

/* ---------------------------------------------------------------- sign */

char *
jwt_sign_jti(const char *sub, int64_t iat, int64_t exp, const char *jti,
    const uint8_t *key, size_t keylen)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	json_t *pl;
	char *pls, *out;
	size_t plen, cap, off;

	pl = json_pack("{s:s,s:I,s:I}", "sub", sub, "iat", (json_int_t)iat,
	    "exp", (json_int_t)exp);
	if (pl != NULL && jti != NULL &&
	    json_object_set_new(pl, "jti", json_string(jti)) == -1) {
		json_decref(pl);
		return NULL;
	}
	if (pl == NULL)
		return NULL;
	pls = json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(pl);
	if (pls == NULL)
		return NULL;
	plen = strlen(pls);
	cap = (sizeof(hdr) + plen + 64) * 4 / 3 + 16;
	if ((out = malloc(cap)) == NULL) {
		free(pls);
		return NULL;
	}
	b64url_encode((const unsigned char *)hdr, sizeof(hdr) - 1, out);
	off = strlen(out);
	out[off++] = '.';
	b64url_encode((const unsigned char *)pls, plen, out + off);
	free(pls);
	off += strlen(out + off);
	if (HMAC(EVP_sha256(), key, (int)keylen, (unsigned char *)out, off,
	    mac, &maclen) == NULL) {
		free(out);
		return NULL;
	}
	out[off++] = '.';
	b64url_encode(mac, maclen, out + off);
	return out;
}

void
jwt_token_hash(const char *token, size_t toklen, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)token, toklen, md);
	hex_encode(md, sizeof(md), out);
}
