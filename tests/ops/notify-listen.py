#!/usr/bin/python3
# notify-listen.py: stands in for systemd's notification socket in
# tests/integration/ops.test.mjs. Binds a Unix datagram socket at argv[1]
# (a path, or "@name" for an abstract one), prints "ready" once bound,
# then one JSON line per datagram received: {"msg": "...", "pid": N}
# (the sender's pid from SCM_CREDENTIALS, as systemd checks it).
import json
import os
import socket
import struct
import sys

where = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + where[1:] if where.startswith("@") else where)
if not where.startswith("@"):
    os.chmod(where, 0o666)
print("ready", flush=True)
while True:
    data, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, body in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", body[:12])[0]
    print(json.dumps({"msg": data.decode("utf-8", "replace"), "pid": pid}),
          flush=True)
