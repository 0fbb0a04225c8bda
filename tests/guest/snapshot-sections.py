"""Prints the sections of an iovirt snapshot's state.bin (the format in
src/migrate/snapshot_file.h), one per line: KIND ID LEN SHA256-OF-PAYLOAD.
The guest tests compare two snapshots' device sections with it."""
import hashlib, struct, sys

data = open(sys.argv[1], "rb").read()
magic, fmt, count = data[:8], *struct.unpack_from("<II", data, 8)
assert magic == b"IOVIRTSN", "not a state file"
pos = 24
for _ in range(count):
    kind, ident = data[pos:pos + 24], data[pos + 24:pos + 48]
    (length,) = struct.unpack_from("<Q", data, pos + 52)
    pos += 68  # kind, id, version, len, crc32, reserved
    payload = data[pos:pos + length]
    pos += length
    name = lambda b: b.rstrip(b"\0").decode()
    print(name(kind), name(ident), length, hashlib.sha256(payload).hexdigest())
