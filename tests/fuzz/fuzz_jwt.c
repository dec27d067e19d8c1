/*
 * fuzz_jwt.c: bearer token verification on arbitrary bytes (every
 * request's token reaches it before anything is trusted).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz-key-fuzz-key-fuzz-key-fuzz-key";

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
	return 0;
}
