/*
 * test_jwt.c: bearer tokens (common/jwt.c): HS256, RS256 and ES256, key
 * sets from PEM and JWKS, what is accepted and each way a token or a
 * key is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common.h"
#include "unit.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef-unit";
#define KEYLEN (sizeof(key) - 1)
#define NOW 1700000000

/* Builds header.payload.signature from raw JSON parts with key k. */
static char *
make(const char *hdr, const char *payload, const uint8_t *k, size_t klen)
{
	unsigned char mac[64];
	unsigned int maclen;
	char *out = malloc(4096), *p;
	int n, i;

	n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)hdr,
	    (int)strlen(hdr));
	while (out[n - 1] == '=')
		n--;
	out[n++] = '.';
	p = out + n;
	i = EVP_EncodeBlock((unsigned char *)p,
	    (const unsigned char *)payload, (int)strlen(payload));
	while (p[i - 1] == '=')
		i--;
	n += i;
	HMAC(EVP_sha256(), k, (int)klen, (unsigned char *)out, (size_t)n,
	    mac, &maclen);
	out[n++] = '.';
	p = out + n;
	i = EVP_EncodeBlock((unsigned char *)p, mac, (int)maclen);
	while (p[i - 1] == '=')
		i--;
	n += i;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static int
verify(const char *tok, const char **why)
{
	struct jwt_claims c;

	return jwt_verify(tok, strlen(tok), key, KEYLEN, NOW, &c, why);
}


/* ------------------------------------------------- public-key helpers */

static void
b64u(const unsigned char *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len), i;

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* header.payload.signature signed with pk (RS256, or ES256 as r||s, or
 * ES256 left in DER when der is set). */
static char *
make_pk(const char *hdr, const char *payload, EVP_PKEY *pk, int der)
{
	unsigned char sig[1024], rs[64];
	size_t siglen = sizeof(sig);
	char *out = malloc(8192);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n;

	b64u((const unsigned char *)hdr, strlen(hdr), out);
	n = strlen(out);
	out[n++] = '.';
	b64u((const unsigned char *)payload, strlen(payload), out + n);
	n += strlen(out + n);
	EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk);
	EVP_DigestSign(md, sig, &siglen, (unsigned char *)out, n);
	EVP_MD_CTX_free(md);
	out[n++] = '.';
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC && !der) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		const BIGNUM *r, *s;

		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, rs, 32);
		BN_bn2binpad(s, rs + 32, 32);
		ECDSA_SIG_free(es);
		b64u(rs, 64, out + n);
	} else
		b64u(sig, siglen, out + n);
	return out;
}

static char *
pem_of(EVP_PKEY *pk)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_PUBKEY(b, pk);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void
bn_b64u(EVP_PKEY *pk, const char *param, int pad, char *out)
{
	unsigned char buf[1024];
	BIGNUM *bn = NULL;
	int n;

	EVP_PKEY_get_bn_param(pk, param, &bn);
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	b64u(buf, (size_t)n, out);
}

/* A JWKS member for pk: {"kty",...,"kid"[, "alg"]}. */
static char *
jwk_of(EVP_PKEY *pk, const char *kid, const char *alg)
{
	char a[2048], b[2048], *out = malloc(8192);

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		bn_b64u(pk, OSSL_PKEY_PARAM_RSA_N, 0, a);
		bn_b64u(pk, OSSL_PKEY_PARAM_RSA_E, 0, b);
		snprintf(out, 8192, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":"
		    "\"%s\",\"e\":\"%s\"%s%s%s}", kid, a, b,
		    alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "");
	} else {
		bn_b64u(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32, a);
		bn_b64u(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
		snprintf(out, 8192, "{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s%s%s}", kid,
		    a, b, alg ? ",\"alg\":\"" : "", alg ? alg : "",
		    alg ? "\"" : "");
	}
	return out;
}

static int
vks(const struct jwt_keyset *ks, const char *tok, const char **why)
{
	struct jwt_claims c;

	return jwt_verify_keyset(tok, strlen(tok), ks, NULL,
	    NULL, 0, NOW, &c,
	    why);
}

static int
add_jwks(struct jwt_keyset *ks, const char *doc, size_t *added,
    size_t *skipped)
{
	char err[256];

	return jwt_keyset_add_jwks(ks, doc, strlen(doc), added, skipped, err,
	    sizeof(err));
}

#define PL "{\"sub\":\"alice\",\"exp\":1700000600,\"jti\":\"j-1\"}"

static void
test_public_keys(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa1k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	struct jwt_keyset *ks = jwt_keyset_new(), *kj = jwt_keyset_new();
	char *rpem = pem_of(rsa), *epem = pem_of(ec), *t, *j1, *j2, doc[20000];
	char err[256], path[64];
	struct jwt_claims c;
	const char *why;
	size_t added, skipped;
	FILE *f;
	int fd;

	UNIT_CASE("PEM keys load with a kid and their alg inferred");
	UNIT_CHECK(jwt_keyset_add_secret(ks, NULL, key, KEYLEN, err,
	    sizeof(err)) == 0);
	UNIT_CHECK(jwt_keyset_add_pem(ks, "r1", NULL, rpem, strlen(rpem), err,
	    sizeof(err)) == 0);
	UNIT_CHECK(jwt_keyset_add_pem(ks, "e1", "ES256", epem, strlen(epem),
	    err, sizeof(err)) == 0);
	UNIT_CHECK(jwt_keyset_count(ks) == 3);

	UNIT_CASE("RS256 and ES256 tokens verify with the right kid");
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"JWT\"}",
	    PL, rsa, 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, NULL,
	    NULL, 0, NOW, &c,
	    &why) == 0);
	UNIT_CHECK(strcmp(c.jc_sub, "alice") == 0 &&
	    strcmp(c.jc_jti, "j-1") == 0 && c.jc_alg == JWT_RS256);
	free(t);
	t = make_pk("{\"alg\":\"ES256\",\"kid\":\"e1\"}", PL, ec, 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, NULL,
	    NULL, 0, NOW, &c,
	    &why) == 0 && c.jc_alg == JWT_ES256);
	free(t);

	UNIT_CASE("an unknown kid, or a kid whose key is of another alg, fails");
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"nope\"}", PL, rsa, 0);
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "kid") == 0);
	free(t);
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"e1\"}", PL, rsa, 0);
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"r1\"}", PL, rsa2, 0);
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "signature") == 0);
	free(t);

	UNIT_CASE("HS256 signed with the RSA public PEM as HMAC key fails");
	t = make("{\"alg\":\"HS256\",\"kid\":\"r1\"}", PL,
	    (const uint8_t *)rpem, strlen(rpem));
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", PL, (const uint8_t *)rpem,
	    strlen(rpem));
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "signature") == 0);
	free(t);
	UNIT_CHECK(vks(ks, "eyJhbGciOiJub25lIiwia2lkIjoicjEifQ.eyJzdWIiOiJhIiwi"
	    "ZXhwIjo5OTk5OTk5OTk5fQ.", &why) == -1 && strcmp(why, "alg") == 0);

	UNIT_CASE("ES256 with a DER signature fails");
	t = make_pk("{\"alg\":\"ES256\",\"kid\":\"e1\"}", PL, ec, 1);
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "signature") == 0);
	free(t);

	UNIT_CASE("a tampered payload fails");
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"r1\"}", PL, rsa, 0);
	{
		char *p1 = strchr(t, '.') + 1, evil[256];
		char *p2 = strchr(p1, '.'), *t2 = malloc(8192);

		b64u((const unsigned char *)"{\"sub\":\"bob\",\"exp\":1700000600}",
		    strlen("{\"sub\":\"bob\",\"exp\":1700000600}"), evil);
		snprintf(t2, 8192, "%.*s%s%s", (int)(p1 - t), t, evil, p2);
		UNIT_CHECK(vks(ks, t2, &why) == -1 &&
		    strcmp(why, "signature") == 0);
		free(t2);
	}
	free(t);

	UNIT_CASE("iss and aud bind public-key tokens when set; aud may be an array");
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"r1\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"jti\":\"j\",\"iss\":\"https://idp\","
	    "\"aud\":[\"x\",\"dataagent\"]}", rsa, 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, "https://idp",
	    "dataagent", 0, NOW, &c, &why) == 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, "https://other",
	    "dataagent", 0, NOW, &c, &why) == -1 && strcmp(why, "issuer") == 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, "https://idp",
	    "y", 0, NOW, &c, &why) == -1 && strcmp(why, "audience") == 0);
	free(t);
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"r1\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"jti\":\"j\",\"aud\":\"dataagent\"}",
	    rsa, 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, NULL,
	    "dataagent", 0, NOW,
	    &c, &why) == 0);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, "https://idp",
	    NULL, 0, NOW, &c, &why) == -1 && strcmp(why, "issuer") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", PL, key, KEYLEN);
	UNIT_CHECK(jwt_verify_keyset(t, strlen(t), ks, "https://idp",
	    "dataagent", 0, NOW, &c, &why) == 0);	/* our own token */
	free(t);

	UNIT_CASE("a token without kid is tried only on keys without one");
	t = make_pk("{\"alg\":\"RS256\"}", PL, rsa, 0);
	UNIT_CHECK(vks(ks, t, &why) == -1 && strcmp(why, "kid") == 0);
	UNIT_CHECK(jwt_keyset_add_pem(kj, NULL, NULL, rpem, strlen(rpem), err,
	    sizeof(err)) == 0);
	UNIT_CHECK(vks(kj, t, &why) == 0);
	free(t);
	jwt_keyset_free(&kj);
	UNIT_CHECK(kj == NULL);

	UNIT_CASE("bad PEM keys are refused");
	kj = jwt_keyset_new();
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", "ES256", rpem, strlen(rpem),
	    err, sizeof(err)) == -1);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", "HS256", rpem, strlen(rpem),
	    err, sizeof(err)) == -1);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", NULL, "junk", 4, err,
	    sizeof(err)) == -1);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", NULL, "-----BEGIN PRIVATE "
	    "KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 59, err,
	    sizeof(err)) == -1 && strstr(err, "private") != NULL);
	t = pem_of(rsa1k);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", NULL, t, strlen(t), err,
	    sizeof(err)) == -1 && strstr(err, "1024") != NULL);
	free(t);
	t = pem_of(ec384);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "a", NULL, t, strlen(t), err,
	    sizeof(err)) == -1);
	free(t);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "r1", NULL, rpem, strlen(rpem), err,
	    sizeof(err)) == 0);
	UNIT_CHECK(jwt_keyset_add_pem(kj, "r1", NULL, epem, strlen(epem), err,
	    sizeof(err)) == -1 && strstr(err, "two keys") != NULL);
	jwt_keyset_free(&kj);

	UNIT_CASE("a JWKS of an RSA and a P-256 key verifies both");
	kj = jwt_keyset_new();
	j1 = jwk_of(rsa, "jr", "RS256");
	j2 = jwk_of(ec, "je", NULL);
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s,{\"kty\":\"OKP\","
	    "\"crv\":\"Ed25519\",\"x\":\"AA\"},{\"kty\":\"RSA\",\"use\":"
	    "\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", j1, j2);
	UNIT_CHECK(add_jwks(kj, doc, &added, &skipped) == 0 && added == 2 &&
	    skipped == 2);
	t = make_pk("{\"alg\":\"RS256\",\"kid\":\"jr\"}", PL, rsa, 0);
	UNIT_CHECK(vks(kj, t, &why) == 0);
	free(t);
	t = make_pk("{\"alg\":\"ES256\",\"kid\":\"je\"}", PL, ec, 0);
	UNIT_CHECK(vks(kj, t, &why) == 0);
	free(t);
	t = make_pk("{\"alg\":\"ES256\",\"kid\":\"jr\"}", PL, ec, 0);
	UNIT_CHECK(vks(kj, t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	free(j1);
	free(j2);
	jwt_keyset_free(&kj);

	UNIT_CASE("bad JWKS documents are refused whole");
	kj = jwt_keyset_new();
	j1 = jwk_of(rsa, "jr", "ES256");	/* alg that does not fit */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", j1);
	UNIT_CHECK(add_jwks(kj, doc, NULL, NULL) == -1);
	free(j1);
	j1 = jwk_of(rsa, "jr", NULL);
	j2 = jwk_of(ec, "jr", NULL);		/* the same kid twice */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", j1, j2);
	UNIT_CHECK(add_jwks(kj, doc, NULL, NULL) == -1);
	UNIT_CHECK(jwt_keyset_count(kj) == 0);
	free(j2);
	j1[strlen(j1) - 1] = '\0';		/* a private member */
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,\"d\":\"AAAA\"}]}", j1);
	UNIT_CHECK(add_jwks(kj, doc, NULL, NULL) == -1);
	free(j1);
	UNIT_CHECK(add_jwks(kj, "{\"keys\":[{\"kty\":\"EC\",\"crv\":"
	    "\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	    "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}", NULL,
	    NULL) == -1);		/* not on the curve */
	UNIT_CHECK(add_jwks(kj, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
	    "\"e\":\"AQAB\"}]}", NULL, NULL) == -1);	/* far too short */
	{
		/* An 8192-bit modulus (1024 bytes) fits; 8200 bits do not.
		 * 2^8191 + k without small factors passes OpenSSL's public
		 * key check (it need not be a real key to load). */
		unsigned char nb[1025];
		char nn[1400];
		BIGNUM *bn = BN_new();
		BN_ULONG w;
		int small;

		BN_set_bit(bn, 8191);
		BN_add_word(bn, 1);
		do {
			BN_add_word(bn, 2);
			small = 0;
			for (w = 3; w < 2000 && !small; w += 2)
				small = BN_mod_word(bn, w) == 0;
		} while (small);
		BN_bn2binpad(bn, nb, 1024);
		BN_free(bn);
		b64u(nb, 1024, nn);
		snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"RSA\","
		    "\"kid\":\"big\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", nn);
		UNIT_CHECK(add_jwks(kj, doc, &added, NULL) == 0 && added == 1);
		jwt_keyset_free(&kj);
		kj = jwt_keyset_new();
		memmove(nb + 1, nb, 1024);
		nb[0] = 0x01;
		b64u(nb, 1025, nn);
		snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"RSA\","
		    "\"kid\":\"big\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", nn);
		UNIT_CHECK(add_jwks(kj, doc, NULL, NULL) == -1);
	}
	UNIT_CHECK(add_jwks(kj, "{\"keys\":{}}", NULL, NULL) == -1);
	UNIT_CHECK(add_jwks(kj, "[", NULL, NULL) == -1);
	UNIT_CHECK(add_jwks(kj, "{\"keys\":[7]}", NULL, NULL) == -1);
	UNIT_CHECK(add_jwks(kj, "{\"keys\":[]}", &added, NULL) == 0 &&
	    added == 0);
	UNIT_CHECK(jwt_keyset_count(kj) == 0);
	jwt_keyset_free(&kj);

	UNIT_CASE("jwt_public_keys entries: PATH, kid=PATH, kid:ALG=PATH");
	snprintf(path, sizeof(path), "/tmp/test_jwt.XXXXXX");
	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fputs(epem, f);
	fclose(f);
	kj = jwt_keyset_new();
	snprintf(doc, sizeof(doc), "%s, k2=%s ,k3:ES256=%s", path, path, path);
	UNIT_CHECK(jwt_keyset_add_pem_list(kj, doc, err, sizeof(err)) == 0 &&
	    jwt_keyset_count(kj) == 3);
	snprintf(doc, sizeof(doc), "k4:RS256=%s", path);
	UNIT_CHECK(jwt_keyset_add_pem_list(kj, doc, err, sizeof(err)) == -1);
	UNIT_CHECK(jwt_keyset_add_pem_list(kj, "k5=relative.pem", err,
	    sizeof(err)) == -1);
	UNIT_CHECK(jwt_keyset_add_pem_list(kj, "/nonexistent/x.pem", err,
	    sizeof(err)) == -1);
	jwt_keyset_free(&kj);
	unlink(path);

	jwt_keyset_free(&ks);
	free(rpem);
	free(epem);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(rsa1k);
}

/* jwt_verify_keyset with the HMAC key alone and a max_ttl. */
static int
vttl(const char *tok, int64_t max_ttl, const char **why)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	struct jwt_claims c;
	char err[128];
	int r;

	jwt_keyset_add_secret(ks, NULL, key, KEYLEN, err, sizeof(err));
	r = jwt_verify_keyset(tok, strlen(tok), ks, NULL, NULL, max_ttl, NOW,
	    &c, why);
	jwt_keyset_free(&ks);
	return r;
}

static void
test_ttl(void)
{
	const char *why;
	char *t;

	UNIT_CASE("max_ttl bounds exp - iat");
	t = jwt_sign_jti("alice", NOW, NOW + 3600, "j", key, KEYLEN);
	UNIT_CHECK(vttl(t, 3600, &why) == 0);
	UNIT_CHECK(vttl(t, 3599, &why) == -1 && strcmp(why, "ttl") == 0);
	UNIT_CHECK(vttl(t, 0, &why) == 0);	/* 0: no bound */
	free(t);
	/* issued an hour ago for two: the lifetime counts, not what is left */
	t = jwt_sign_jti("alice", NOW - 3600, NOW + 3600, "j", key, KEYLEN);
	UNIT_CHECK(vttl(t, 3600, &why) == -1 && strcmp(why, "ttl") == 0);
	UNIT_CHECK(vttl(t, 7200, &why) == 0);
	free(t);

	UNIT_CASE("without iat, or with iat in the future, exp - now is bounded");
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1700003600,"
	    "\"jti\":\"j\"}", key, KEYLEN);
	UNIT_CHECK(vttl(t, 3600, &why) == 0);
	UNIT_CHECK(vttl(t, 3600 - JWT_LEEWAY - 1, &why) == -1 &&
	    strcmp(why, "ttl") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"iat\":1700086400,"
	    "\"exp\":1700090000,\"jti\":\"j\"}", key, KEYLEN);
	UNIT_CHECK(vttl(t, 3600, &why) == -1 && strcmp(why, "ttl") == 0);
	free(t);
}

int
main(void)
{
	struct jwt_claims c;
	const char *why;
	char *t, hash[65];

	UNIT_CASE("a signed token round-trips");
	t = jwt_sign_jti("alice", NOW, NOW + 60, "j-1", key, KEYLEN);
	UNIT_CHECK(t != NULL);
	UNIT_CHECK(jwt_verify(t, strlen(t), key, KEYLEN, NOW, &c, &why) == 0);
	UNIT_CHECK(strcmp(c.jc_sub, "alice") == 0);
	UNIT_CHECK(c.jc_exp == NOW + 60 && c.jc_iat == NOW);

	UNIT_CASE("the wrong key is a signature failure");
	UNIT_CHECK(jwt_verify(t, strlen(t), (const uint8_t *)"other-key-other-"
	    "key-other-key-000", 33, NOW, &c, &why) == -1);
	UNIT_CHECK(strcmp(why, "signature") == 0);

	UNIT_CASE("a flipped signature byte fails");
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "signature") == 0);
	free(t);

	UNIT_CASE("expiry honours the leeway");
	t = jwt_sign_jti("alice", NOW - 100, NOW - JWT_LEEWAY - 1, "j-1", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "expired") == 0);
	free(t);
	t = jwt_sign_jti("alice", NOW - 100, NOW - JWT_LEEWAY + 1, "j-1", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == 0);
	free(t);

	UNIT_CASE("nbf in the future is refused");
	t = make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"jti\":\"j\",\"nbf\":1700000300}", key,
	    KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "not_yet_valid") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"jti\":\"j\",\"nbf\":1700000010}", key,
	    KEYLEN);
	UNIT_CHECK(verify(t, &why) == 0);
	free(t);

	UNIT_CASE("alg none and other algs are refused");
	UNIT_CHECK(verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5"
	    "OTk5OTk5fQ.", &why) == -1 && strcmp(why, "alg") == 0);
	t = make("{\"alg\":\"none\"}", "{\"sub\":\"a\",\"exp\":9999999999}",
	    key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	t = make("{\"alg\":\"HS512\"}", "{\"sub\":\"a\",\"exp\":9999999999}",
	    key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	t = make("{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"exp\":9999999999}",
	    key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "alg") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\",\"crit\":[\"x\"]}",
	    "{\"sub\":\"a\",\"exp\":9999999999}", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1);
	free(t);

	UNIT_CASE("claims: exp required, sub a non-empty string");
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "claims") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"\",\"exp\":9999999999}",
	    key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "claims") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":7,\"exp\":9999999999}", key,
	    KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "claims") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":\"soon\"}",
	    key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "claims") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}",
	    "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":9999999999}", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1);
	free(t);

	UNIT_CASE("malformed shapes are refused");
	UNIT_CHECK(verify("", &why) == -1);
	UNIT_CHECK(verify("abc", &why) == -1 && strcmp(why, "malformed") == 0);
	UNIT_CHECK(verify("a.b", &why) == -1);
	UNIT_CHECK(verify("a.b.c.d", &why) == -1);
	UNIT_CHECK(verify("!!!.###.$$$", &why) == -1);
	UNIT_CHECK(verify("..", &why) == -1);

	UNIT_CASE("a signature spelled non-canonically fails");
	t = jwt_sign_jti("alice", NOW, NOW + 60, "j-1", key, KEYLEN);
	/* 32 bytes = 43 characters; the last one carries 2 unused bits */
	{
		char *last = t + strlen(t) - 1;
		static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
		    "nopqrstuvwxyz0123456789-_";
		int v = (int)(strchr(a, *last) - a);

		*last = a[v | 1];
		UNIT_CHECK(verify(t, &why) == -1);
	}
	free(t);

	UNIT_CASE("an issued jti is carried; a bad jti is refused");
	t = jwt_sign_jti("alice", NOW, NOW + 60, "abc123", key, KEYLEN);
	UNIT_CHECK(jwt_verify(t, strlen(t), key, KEYLEN, NOW, &c, &why) == 0 &&
	    strcmp(c.jc_jti, "abc123") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":9999999999,"
	    "\"jti\":7}", key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "claims") == 0);
	free(t);

	UNIT_CASE("a token without jti is refused (it could never be revoked)");
	t = jwt_sign_jti("alice", NOW, NOW + 60, NULL, key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "no_jti") == 0);
	free(t);

	test_ttl();
	test_public_keys();

	UNIT_CASE("token hash is sha-256 hex");
	jwt_token_hash("abc", 3, hash);
	UNIT_CHECK(strcmp(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396"
	    "177a9cb410ff61f20015ad") == 0);

	return unit_done();
}
