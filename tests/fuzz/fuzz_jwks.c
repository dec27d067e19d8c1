/*
 * fuzz_jwks.c: the JWK Set parser (jwt_keyset_add_jwks) on arbitrary
 * bytes: the file is the operator's, but it often comes from an identity
 * provider's endpoint, and a parser of such bytes is fuzzed all the same.
 */
#include <stddef.h>
#include <stdint.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_keyset *ks = jwt_keyset_new();
	size_t added = 0, skipped = 0;
	char err[256];
	json_t *j;

	if (ks == NULL)
		return 0;
	if (jwt_keyset_add_jwks(ks, (const char *)data, size, &added,
	    &skipped, err, sizeof(err)) == 0) {
		if (jwt_keyset_count(ks) != added)
			__builtin_trap();
	} else if (jwt_keyset_count(ks) != 0)
		__builtin_trap();	/* all or nothing */
	j = jwt_keyset_json(ks);
	json_decref(j);
	jwt_keyset_free(&ks);
	return 0;
}
