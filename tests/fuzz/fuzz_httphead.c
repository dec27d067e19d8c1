/*
 * fuzz_httphead.c: the supervisor's request-head parser and the helpers
 * that read what it returns, on arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httphead hh;
	const char *tok;
	char id[65];
	size_t len;
	int status, r;

	r = httphead_parse((const char *)data, size, &hh, &status);
	if (r == 1) {
		if (hh.hh_head_len > size)
			__builtin_trap();
		(void)httphead_path_tenant(hh.hh_path, id, sizeof(id));
		if (hh.hh_has_authorization) {
			tok = httphead_bearer(hh.hh_authorization, &len);
			if (tok != NULL && tok + len > hh.hh_authorization +
			    sizeof(hh.hh_authorization))
				__builtin_trap();
		}
	} else if (r == -1 && status != 400 && status != 414 &&
	    status != 431)
		__builtin_trap();
	return 0;
}
