/*
 * bytes.c: random bytes, hex, constant-time compare (OpenSSL).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common.h"

int
rand_bytes(void *buf, size_t len)
{
	if (len > 0x7fffffff)
		return -1;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

void
hex_encode(const void *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
