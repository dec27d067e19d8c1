/*
 * jwt.c: HS256 bearer tokens (RFC 7519 / RFC 7515 compact form).
 *
 * The algorithm is pinned: the header must say HS256, so "none", RS256
 * with an HMAC key (the classic confusion attack) and friends all fail
 * before any signature is looked at. OpenSSL does the HMAC, base64 and
 * constant-time compare; jansson parses header and claims.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common.h"

#define JWT_MAX_LEN 8192

/* base64url without padding -> bytes. Returns the length or -1. */
static int
b64url_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outcap)
{
	unsigned char tmp[JWT_MAX_LEN + 4];
	size_t i, padded, pad;
	int n;

	if (inlen % 4 == 1 || inlen > JWT_MAX_LEN)
		return -1;
	for (i = 0; i < inlen; i++) {
		char c = in[i];

		if (c == '-')
			tmp[i] = '+';
		else if (c == '_')
			tmp[i] = '/';
		else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9'))
			tmp[i] = (unsigned char)c;
		else
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

int
jwt_verify(const char *token, size_t toklen, const uint8_t *key,
    size_t keylen, int64_t now, struct jwt_claims *claims, const char **why)
{
	const char *dot1, *dot2, *alg, *typ;
	unsigned char mac[EVP_MAX_MD_SIZE], sig[64];
	unsigned int maclen = 0;
	json_t *hdr = NULL, *pl = NULL, *v;
	size_t sublen;
	int siglen;

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

	hdr = jwt_part_json(token, (size_t)(dot1 - token));
	if (hdr == NULL || !json_is_object(hdr))
		goto fail;
	*why = "alg";
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL || strcmp(alg, "HS256") != 0)
		goto fail;
	v = json_object_get(hdr, "typ");
	typ = json_string_value(v);
	if (v != NULL && (typ == NULL || strcasecmp(typ, "JWT") != 0))
		goto fail;
	if (json_object_get(hdr, "crit") != NULL)
		goto fail;

	*why = "signature";
	siglen = b64url_decode(dot2 + 1, toklen - (size_t)(dot2 + 1 - token),
	    sig, sizeof(sig));
	if (siglen != SHA256_DIGEST_LENGTH)
		goto fail;
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)token,
	    (size_t)(dot2 - token), mac, &maclen) == NULL ||
	    maclen != SHA256_DIGEST_LENGTH ||
	    CRYPTO_memcmp(mac, sig, SHA256_DIGEST_LENGTH) != 0)
		goto fail;

	*why = "claims";
	pl = jwt_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (pl == NULL || !json_is_object(pl))
		goto fail;
	v = json_object_get(pl, "sub");
	if (!json_is_string(v))
		goto fail;
	sublen = json_string_length(v);
	if (sublen == 0 || sublen >= sizeof(claims->jc_sub) ||
	    strlen(json_string_value(v)) != sublen)
		goto fail;
	memcpy(claims->jc_sub, json_string_value(v), sublen + 1);
	if (claim_time(json_object_get(pl, "exp"), &claims->jc_exp) == -1)
		goto fail;
	v = json_object_get(pl, "nbf");
	if (v != NULL && claim_time(v, &claims->jc_nbf) == -1)
		goto fail;
	v = json_object_get(pl, "iat");
	if (v != NULL && claim_time(v, &claims->jc_iat) == -1)
		goto fail;
	if (claims->jc_exp + JWT_LEEWAY <= now) {
		*why = "expired";
		goto fail;
	}
	if (claims->jc_nbf != 0 && claims->jc_nbf - JWT_LEEWAY > now) {
		*why = "not_yet_valid";
		goto fail;
	}
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

char *
jwt_sign(const char *sub, int64_t iat, int64_t exp, const uint8_t *key,
    size_t keylen)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	json_t *pl;
	char *pls, *out;
	size_t plen, cap, off;

	pl = json_pack("{s:s,s:I,s:I}", "sub", sub, "iat", (json_int_t)iat,
	    "exp", (json_int_t)exp);
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
