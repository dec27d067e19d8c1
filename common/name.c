/*
 * name.c: what a tenant id or a server name may be.
 *
 * Both end up in paths (/api/v1/users/{id}, the tenant's state dir), in
 * tool names ({server}__{tool}, split at the first "__") and in logs, so
 * the alphabet is small and "__" is reserved.
 */
#include <string.h>

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
