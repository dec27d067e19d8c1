/*
 * fuzz_reqid.c: what a client's bytes become labels and log fields
 * through: X-Request-Id (kept only when valid, else replaced), the route
 * class of a request path, and a metrics_listen address.
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
	char rid[REQUEST_ID_MAX + 1], host[64], port[16], *s;
	const char *route;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	request_id_pick(s, rid);
	if (!request_id_valid(rid))
		__builtin_trap();
	if (request_id_valid(s) && strcmp(s, rid) != 0)
		__builtin_trap();
	route = http_route_class(s);
	if (http_route_index(route) == -1)
		__builtin_trap();
	if (addr_split_hostport(s, host, sizeof(host), port,
	    sizeof(port)) == 0 && (host[0] == '\0' || atoi(port) > 65535))
		__builtin_trap();
	free(s);
	return 0;
}
