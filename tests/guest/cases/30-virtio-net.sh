# virtio-net: user-mode networking (DHCP, TCP to a host server through the
# slirp gateway, hostfwd into the guest) and a tap inside the test host.
T=/tmp/iovirt-net
mkdir -p "$T"
head -c 4M /dev/urandom >"$T/blob"
python3 tests/guest/netpeer.py serve 18080 "$T/blob" &
server=$!
head -c 2M /dev/urandom >"$T/fwd"
python3 tests/guest/netpeer.py send "$OUT/net-user.log" LISTENING 18022 "$T/fwd" &
sender=$!
( for _ in $(seq 300); do grep -q LISTENING "$OUT/net-user.log" 2>/dev/null && break; sleep 1; done
  ss -ltnp >"$OUT/net-user.listen" 2>&1 ) &
boot net-user net-user --memory 384M --net "user,hostfwd=tcp:127.0.0.1:18022-:8080,mac=52:54:00:ab:cd:01"
kill "$server" "$sender" 2>/dev/null; wait "$server" "$sender" 2>/dev/null
check net-user "powers off (status $status)" [ "$status" -eq 0 ]
check net-user "the guest's virtio_net driver bound" [ "$(text "$log" DRIVER)" = virtio_net ]
check net-user "MAC address as configured" [ "$(text "$log" MAC)" = 52:54:00:ab:cd:01 ]
check net-user "DHCP lease 10.0.2.15/24 from slirp" [ "$(text "$log" LEASE)" = 10.0.2.15/24 ]
check net-user "TCP download from a host server via 10.0.2.2 is intact" \
	[ "$(text "$log" GOT_SHA)" = "$(sha256sum "$T/blob" | cut -d' ' -f1)" ]
check net-user "hostfwd delivers a host connection into the guest intact" \
	[ "$(text "$log" FWD_SHA)" = "$(sha256sum "$T/fwd" | cut -d' ' -f1)" ]

modprobe tun 2>/dev/null
if ip tuntap add dev iovt0 mode tap 2>/dev/null; then
	ip addr add 10.99.0.1/24 dev iovt0
	ip link set iovt0 up
	python3 tests/guest/netpeer.py recv 10.99.0.1 18090 >"$T/recv.sha" &
	receiver=$!
	( for _ in $(seq 300); do grep -q READY "$OUT/net-tap.log" 2>/dev/null && break; sleep 1; done
	  busybox ping -c 3 -W 5 10.99.0.2 >/dev/null 2>&1 && echo ok >"$T/ping_in" ) &
	pinger=$!
	boot net-tap net-tap --memory 384M --net tap=iovt0
	wait "$pinger"; wait "$receiver"
	check net-tap "powers off (status $status)" [ "$status" -eq 0 ]
	check net-tap "guest pings the host over the tap" grep -q PING_OUT=ok "$log"
	check net-tap "host pings the guest over the tap" [ -f "$T/ping_in" ]
	check net-tap "16 MiB TCP guest->host arrives intact" \
		[ -n "$(text "$log" SENT_SHA)" -a "$(text "$log" SENT_SHA)" = "$(cat "$T/recv.sha")" ]
	ip link del iovt0
else
	fail "net-tap: cannot create a tap in the test host"
fi
rm -rf "$T"
