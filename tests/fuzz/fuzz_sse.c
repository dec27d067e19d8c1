/*
 * fuzz_sse.c: the event-stream parser of remote upstreams, on arbitrary
 * bytes cut into arbitrary pieces (the first byte picks the piece size).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_event(const char *type, const char *d, size_t len, const char *id,
    void *arg)
{
	size_t *total = arg;

	if (type == NULL || d == NULL || d[len] != '\0' || strlen(type) > 128)
		__builtin_trap();
	*total += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse *s;
	size_t step, i, n, total = 0;
	char err[128];

	if (size == 0)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	if ((s = sse_new(on_event, &total)) == NULL)
		return 0;
	for (i = 0; i < size; i += n) {
		n = size - i < step ? size - i : step;
		if (sse_feed(s, (const char *)data + i, n, err,
		    sizeof(err)) == -1)
			break;
	}
	if (total > size)
		__builtin_trap();
	sse_free(&s);
	return 0;
}
