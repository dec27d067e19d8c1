/*
 * fuzz_chunked.c: the strict chunked-body framing check on arbitrary
 * bytes, whole and split at every byte: both must agree, and a body
 * that ends must end inside what was fed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunked a, b;
	size_t used = 0, u, i, total = 0;
	int ra, rb = CHUNKED_MORE;

	chunked_init(&a, 1024);
	ra = chunked_feed(&a, (const char *)data, size, &used);
	if (used > size || (ra == CHUNKED_MORE && used != size))
		__builtin_trap();
	chunked_init(&b, 1024);
	for (i = 0; i < size && rb == CHUNKED_MORE; i++) {
		rb = chunked_feed(&b, (const char *)data + i, 1, &u);
		total += u;
	}
	if (ra != rb || (ra == CHUNKED_DONE && total != used))
		__builtin_trap();
	return 0;
}
