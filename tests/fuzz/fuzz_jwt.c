/*
 * fuzz_jwt.c: bearer token verification on arbitrary bytes (every
 * request's token reaches it before anything is trusted), against a key
 * set holding an HS256 key and RS256 and ES256 keys with and without a
 * kid, with iss and aud required: every path of jwt_verify_keyset.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz-key-fuzz-key-fuzz-key-fuzz-key";

static void
add_generated(struct jwt_keyset *ks, EVP_PKEY *pk, const char *kid)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, err[256];
	long n;

	PEM_write_bio_PUBKEY(b, pk);
	n = BIO_get_mem_data(b, &pem);
	if (jwt_keyset_add_pem(ks, kid, NULL, pem, (size_t)n, err,
	    sizeof(err)) == -1)
		abort();
	BIO_free(b);
}

static struct jwt_keyset *
keys(void)
{
	static struct jwt_keyset *ks;
	EVP_PKEY *rsa, *ec;
	char err[256];

	if (ks != NULL)
		return ks;
	ks = jwt_keyset_new();
	if (jwt_keyset_add_secret(ks, NULL, key, sizeof(key) - 1, err,
	    sizeof(err)) == -1)
		abort();
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	add_generated(ks, rsa, "r1");
	add_generated(ks, ec, "e1");
	add_generated(ks, ec, "");
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return ks;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_claims c;
	const char *why;

	if (jwt_verify((const char *)data, size, key, sizeof(key) - 1,
	    1700000000, &c, &why) == 0) {
		if (c.jc_sub[0] == '\0' || why != NULL)
			__builtin_trap();
	}
	if (jwt_verify_keyset((const char *)data, size, keys(), "https://idp",
	    "dataagent", 86400, 1700000000, &c, &why) == 0) {
		if (c.jc_sub[0] == '\0' || c.jc_jti[0] == '\0' ||
		    c.jc_exp - 1700000000 > 86400 + JWT_LEEWAY ||
		    why != NULL || c.jc_alg == 0)
			__builtin_trap();
	} else if (why == NULL)
		__builtin_trap();
	return 0;
}
