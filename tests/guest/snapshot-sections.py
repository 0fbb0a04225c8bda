"""Prints the sections of the state file of the iovirt snapshot in DIR (the
file its manifest.json names; the format in src/migrate/snapshot_file.h),
one per line: KIND ID LEN SHA256-OF-PAYLOAD. The guest tests compare two
snapshots' device sections with it."""
import hashlib, json, os, struct, sys

snap = sys.argv[1]
state = json.load(open(os.path.join(snap, "manifest.json")))["state"]["file"]
data = open(os.path.join(snap, state), "rb").read()
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
