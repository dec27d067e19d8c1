/*
 * fuzz_vis.c: vis_escape, what dataagentctl and the supervisor's log do
 * to bytes a tenant wrote. Whatever comes in, what comes out is valid
 * UTF-8 with no control character (C0, DEL, C1), as long as vis_needed
 * says, unchanged when vis_is_clean says so, and decodes back to the
 * input (\\ is a backslash, \xNN a byte).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *e, *back;
	size_t n, i, o = 0;
	json_t *j;

	if ((e = vis_escape((const char *)data, size)) == NULL)
		return 0;
	n = strlen(e);
	if (n != vis_needed((const char *)data, size))
		__builtin_trap();
	if (vis_is_clean((const char *)data, size) != (n == size &&
	    memcmp(e, data, size) == 0))
		__builtin_trap();
	for (i = 0; i < n; i++)
		if ((unsigned char)e[i] < 0x20 || e[i] == 0x7f ||
		    ((unsigned char)e[i] == 0xc2 &&
		    (unsigned char)e[i + 1] >= 0x80 &&
		    (unsigned char)e[i + 1] <= 0x9f))
			__builtin_trap();
	/* jansson takes only valid UTF-8 */
	if ((j = json_string(e)) == NULL)
		__builtin_trap();
	json_decref(j);
	if ((back = malloc(n + 1)) == NULL) {
		free(e);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (e[i] != '\\') {
			back[o++] = e[i];
			continue;
		}
		if (e[i + 1] == '\\') {
			back[o++] = '\\';
			i++;
		} else if (e[i + 1] == 'x' && hexval(e[i + 2]) >= 0 &&
		    hexval(e[i + 3]) >= 0) {
			back[o++] = (char)(hexval(e[i + 2]) << 4 |
			    hexval(e[i + 3]));
			i += 3;
		} else
			__builtin_trap();
	}
	if (o != size || memcmp(back, data, size) != 0)
		__builtin_trap();
	free(back);
	free(e);
	return 0;
}
