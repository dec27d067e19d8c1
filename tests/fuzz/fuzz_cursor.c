/*
 * fuzz_cursor.c: the pagination cursor a client hands back
 * (agg_cursor_decode) on arbitrary bytes. A cursor that decodes must be
 * one we made: re-encoding what it says gives the same string.
 *
 * aggregate.c is compiled in whole; the upstream functions it calls are
 * never reached from the decoder and are stubbed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/aggregate.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "../unit/aggregate_stubs.h"

static const unsigned char key[AGG_CURSOR_KEY_LEN] = "fuzz-cursor-key-fuzz-cursor-key";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, server[65], *ucur = NULL, *again;
	size_t index;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (agg_cursor_decode(key, s, "resources/list", &index, server,
	    sizeof(server), &ucur) == 0) {
		again = agg_cursor_encode(key, "resources/list", index, server,
		    ucur);
		if (again == NULL || strcmp(again, s) != 0)
			__builtin_trap();
		free(again);
	}
	free(ucur);
	free(s);
	return 0;
}
