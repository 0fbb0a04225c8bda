# virtio-console on a UNIX socket, both ways, and virtio-rng.
T=/tmp/iovirt-misc
mkdir -p "$T"
sock=$T/hvc.sock
python3 - "$sock" >"$T/hvc.out" <<'PY' &
import socket, sys, time
path = sys.argv[1]
for _ in range(600):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        time.sleep(0.5)
s.settimeout(300)
buf = b""
while b"\n" not in buf:
    buf += s.recv(100)
print(buf.decode().strip())
s.sendall(b"hello-from-host\n")
time.sleep(2)
PY
peer=$!
boot misc misc --memory 384M --rng --console "virtio,socket=$sock"
wait "$peer"
check misc "powers off (status $status)" [ "$status" -eq 0 ]
check misc "hvc0 output reaches the socket" [ "$(cat "$T/hvc.out")" = hello-from-hvc0 ]
check misc "socket input reaches hvc0" [ "$(text "$log" HVC_IN)" = hello-from-host ]
check misc "the guest uses virtio-rng" matches "$(text "$log" RNG)" '^virtio_rng'
check misc "256 bytes from /dev/hwrng" [ "$(value "$log" RNG_BYTES)" = 256 ]
check misc "and they are not constant" in_range "$(value "$log" RNG_DISTINCT)" 8 1000
rm -rf "$T"
