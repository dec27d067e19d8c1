/*
 * fuzz_httpresp.c: an upstream's HTTP/1.1 responses (head, chunked and
 * length-delimited bodies), fed in arbitrary pieces, then EOF.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
	int done;
	size_t body;
};

static int
on_head(int status, const json_t *headers, void *arg)
{
	if (status < 200 || status > 999 || !json_is_object(headers) ||
	    json_object_size(headers) > HTTPRESP_MAX_HEADERS)
		__builtin_trap();
	return 0;
}

static int
on_body(const char *d, size_t len, void *arg)
{
	((struct st *)arg)->body += len;
	return 0;
}

static void
on_done(int keep_alive, void *arg)
{
	((struct st *)arg)->done++;
}

static const struct httpresp_cbs cbs = { on_head, on_body, on_done };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpresp *p;
	struct st st = { 0, 0 };
	size_t step, i, n;
	ssize_t r;
	char err[128];

	if (size == 0)
		return 0;
	step = (size_t)data[0] % 31 + 1;
	data++;
	size--;
	if ((p = httpresp_new(&cbs, &st)) == NULL)
		return 0;
	for (i = 0; i < size; i += n) {
		n = size - i < step ? size - i : step;
		r = httpresp_feed(p, (const char *)data + i, n, err,
		    sizeof(err));
		if (r < 0)
			break;
		if ((size_t)r > n)
			__builtin_trap();
		if (st.done) {
			/* the next response on a kept-alive connection */
			httpresp_reset(p);
			st.done = 0;
			n = (size_t)r;
			if (n == 0)
				n = 1;
		}
	}
	(void)httpresp_eof(p, err, sizeof(err));
	if (st.body > size)
		__builtin_trap();
	httpresp_free(&p);
	return 0;
}
