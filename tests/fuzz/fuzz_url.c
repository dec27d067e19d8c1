/*
 * fuzz_url.c: upstream URLs and the HTTP+SSE endpoint resolved against
 * one, on arbitrary text: whatever is accepted is printable, bounded and
 * on the same origin.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct url *u)
{
	size_t i;

	if (u->u_host[0] == '\0' || u->u_target[0] != '/' || u->u_port == 0)
		__builtin_trap();
	for (i = 0; u->u_target[i] != '\0'; i++)
		if ((unsigned char)u->u_target[i] <= 0x20 ||
		    (unsigned char)u->u_target[i] >= 0x7f)
			__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct url base, u, o;
	char err[256], *s;
	const char *sep;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (url_parse(s, &u, err, sizeof(err)) == 0)
		check(&u);
	(void)http_header_name_valid(s);
	(void)http_header_value_valid(s);
	/* "base\nref": an endpoint against a base */
	if ((sep = strchr(s, '\n')) != NULL) {
		s[sep - s] = '\0';
		if (url_parse(s, &base, err, sizeof(err)) == 0 &&
		    url_resolve_same_origin(&base, sep + 1, &o, err,
		    sizeof(err)) == 0) {
			check(&o);
			if (o.u_tls != base.u_tls || o.u_port != base.u_port ||
			    strcasecmp(o.u_host, base.u_host) != 0)
				__builtin_trap();
		}
	}
	free(s);
	return 0;
}
