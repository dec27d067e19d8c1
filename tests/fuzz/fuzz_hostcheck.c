/*
 * fuzz_hostcheck.c: Host and Origin header values (any client's bytes)
 * and allowed_hosts entries through host_allowed(), both kinds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *nl;

	/* "allowed_hosts\nvalue": the first line is the list. */
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	nl = strchr(buf, '\n');
	if (nl != NULL) {
		*nl = '\0';
		/* Whatever a list allows, "*" allows too: an entry only ever
		 * adds a host, it never makes a malformed value pass. */
		if (host_allowed(buf, nl + 1, HOST_HEADER) &&
		    !host_allowed("*", nl + 1, HOST_HEADER))
			__builtin_trap();
		if (host_allowed(buf, nl + 1, HOST_ORIGIN) &&
		    !host_allowed("*", nl + 1, HOST_ORIGIN))
			__builtin_trap();
		/* An empty list allows less than any list. */
		if (host_allowed("", nl + 1, HOST_ORIGIN) &&
		    !host_allowed(buf, nl + 1, HOST_ORIGIN))
			__builtin_trap();
	}
	free(buf);
	return 0;
}
