/*
 * wipe.c: memory that held a secret does not keep it after free.
 *
 * Secret values pass through jansson (control requests, the CONFIG a
 * worker gets) and libevent buffers (the bytes of those messages). Both
 * libraries take allocator functions: these wipe every block before it
 * goes back to malloc, so a freed copy of a value cannot be found later in
 * the heap. The cost is a memset per free of JSON values and buffer
 * chunks, which the bench does not see.
 *
 * And no copy of the heap leaves the process: no core dumps (mem_no_core).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common.h"

static void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* realloc that never leaves the old block's contents behind. */
static void *
wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p;
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old);
	wipe_free(p);
	return q;
}

void
mem_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, wipe_free);
	event_set_mem_functions(malloc, wipe_realloc, wipe_free);
}

int
mem_no_core(char *err, size_t errlen)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1) {
		snprintf(err, errlen, "setrlimit RLIMIT_CORE 0: %s",
		    strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		snprintf(err, errlen, "prctl PR_SET_DUMPABLE 0: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
