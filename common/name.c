/*
 * name.c: what a tenant id or a server name may be.
 *
 * Both end up in paths (/api/v1/users/{id}, the tenant's state dir), in
 * tool names ({server}__{tool}, split at the first "__") and in logs, so
 * the alphabet is small and "__" is reserved.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int
name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');

		if (i == 0 && !alnum)
			return 0;
		if (!alnum && c != '_' && c != '.' && c != '-')
			return 0;
	}
	return strstr(s, "__") == NULL;
}

/*
 * A host's name among several sharing one store: it starts the MCP
 * session ids that host hands out ("host1.<random hex>"), so a balancer
 * or another host can tell where a session lives. Small and plain:
 * [a-z0-9-], 1 to NODE_NAME_MAX characters.
 */
int
node_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= NODE_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* The default node name: the host name up to its first dot, lowercased,
 * other characters dropped, cut to NODE_NAME_MAX; "node" if nothing is
 * left. */
void
node_name_default(char *out, size_t outlen)
{
	char host[256];
	size_t i, n = 0;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && host[i] != '.' && n < NODE_NAME_MAX &&
	    n + 1 < outlen; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-')
			out[n++] = c;
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, outlen, "node");
}
