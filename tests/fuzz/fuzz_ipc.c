/*
 * fuzz_ipc.c: the IPC frame decoder and payload parser on arbitrary
 * bytes, walking frames the way the channel does.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg msg;
	size_t pos = 0;
	json_t *v;
	int r;

	while (pos < size) {
		r = ipc_decode(data + pos, size - pos, &msg.im_hdr);
		if (r != 1)
			break;
		if (msg.im_hdr.ih_len > size - pos - IPC_HDR_SIZE)
			__builtin_trap();
		msg.im_data = data + pos + IPC_HDR_SIZE;
		msg.im_fd = -1;
		if ((v = ipc_payload_json(&msg)) != NULL) {
			if (!json_is_object(v))
				__builtin_trap();
			json_decref(v);
		}
		pos += IPC_HDR_SIZE + msg.im_hdr.ih_len;
	}
	return 0;
}
