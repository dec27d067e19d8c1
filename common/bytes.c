/*
 * bytes.c: random bytes, hex, constant-time compare (OpenSSL).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

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

char *
b64_encode(const void *buf, size_t len)
{
	char *out;

	if (len > 0x3fffffff)
		return NULL;
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

int
b64_decode(const char *s, size_t max, uint8_t **out_r, size_t *len_r)
{
	size_t n = strlen(s), pad = 0;
	uint8_t *out;
	int r;

	*out_r = NULL;
	*len_r = 0;
	if (n % 4 != 0 || n / 4 * 3 > max + 2)
		return -1;
	if (n == 0) {
		*out_r = malloc(1);
		return *out_r == NULL ? -1 : 0;
	}
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	if ((out = malloc(n / 4 * 3)) == NULL)
		return -1;
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0 || (size_t)r < pad || (size_t)r - pad > max) {
		free(out);
		return -1;
	}
	*out_r = out;
	*len_r = (size_t)r - pad;
	return 0;
}
