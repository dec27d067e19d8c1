/*
 * test_jwt.c: HS256 tokens (common/jwt.c): what is accepted and each way
 * a token is refused.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

int
main(void)
{
	struct jwt_claims c;
	const char *why;
	char *t, hash[65];

	UNIT_CASE("a signed token round-trips");
	t = jwt_sign("alice", NOW, NOW + 60, key, KEYLEN);
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
	t = jwt_sign("alice", NOW - 100, NOW - JWT_LEEWAY - 1, key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "expired") == 0);
	free(t);
	t = jwt_sign("alice", NOW - 100, NOW - JWT_LEEWAY + 1, key, KEYLEN);
	UNIT_CHECK(verify(t, &why) == 0);
	free(t);

	UNIT_CASE("nbf in the future is refused");
	t = make("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"nbf\":1700000300}", key,
	    KEYLEN);
	UNIT_CHECK(verify(t, &why) == -1 && strcmp(why, "not_yet_valid") == 0);
	free(t);
	t = make("{\"alg\":\"HS256\"}",
	    "{\"sub\":\"a\",\"exp\":1700000600,\"nbf\":1700000010}", key,
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

	UNIT_CASE("token hash is sha-256 hex");
	jwt_token_hash("abc", 3, hash);
	UNIT_CHECK(strcmp(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396"
	    "177a9cb410ff61f20015ad") == 0);

	return unit_done();
}
