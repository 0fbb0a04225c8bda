# The emulated e1000 (82540EM) with the guest's stock e1000 driver, on the
# same guest scripts as virtio-net (they use eth0, the only NIC): over
# user-mode networking (DHCP, TCP download from a host server, hostfwd in)
# and over a tap inside the test host (ping both ways, 16 MiB guest->host).
T=/tmp/iovirt-e1000
mkdir -p "$T"
head -c 4M /dev/urandom >"$T/blob"
python3 tests/guest/netpeer.py serve 18080 "$T/blob" &  # the port net-user.sh fetches from
server=$!
head -c 2M /dev/urandom >"$T/fwd"
python3 tests/guest/netpeer.py send "$OUT/e1000-user.log" LISTENING 18023 "$T/fwd" &
sender=$!
boot e1000-user net-user --memory 384M \
	--net "user,hostfwd=tcp:127.0.0.1:18023-:8080,mac=52:54:00:ab:cd:02,model=e1000"
kill "$server" "$sender" 2>/dev/null; wait "$server" "$sender" 2>/dev/null
check e1000-user "powers off (status $status)" [ "$status" -eq 0 ]
check e1000-user "the guest's e1000 driver bound" [ "$(text "$log" DRIVER)" = e1000 ]
check e1000-user "link is up" [ "$(text "$log" CARRIER)" = 1 ]
check e1000-user "MAC address as configured (from the EEPROM)" \
	[ "$(text "$log" MAC)" = 52:54:00:ab:cd:02 ]
check e1000-user "DHCP lease 10.0.2.15/24 from slirp" [ "$(text "$log" LEASE)" = 10.0.2.15/24 ]
check e1000-user "TCP download from a host server via 10.0.2.2 is intact" \
	[ "$(text "$log" GOT_SHA)" = "$(sha256sum "$T/blob" | cut -d' ' -f1)" ]
check e1000-user "hostfwd delivers a host connection into the guest intact" \
	[ "$(text "$log" FWD_SHA)" = "$(sha256sum "$T/fwd" | cut -d' ' -f1)" ]

modprobe tun 2>/dev/null
if ip tuntap add dev iovt1 mode tap 2>/dev/null; then
	ip addr add 10.99.0.1/24 dev iovt1
	ip link set iovt1 up
	python3 tests/guest/netpeer.py recv 10.99.0.1 18090 >"$T/recv.sha" &
	receiver=$!
	( for _ in $(seq 300); do grep -q READY "$OUT/e1000-tap.log" 2>/dev/null && break; sleep 1; done
	  busybox ping -c 3 -W 5 10.99.0.2 >/dev/null 2>&1 && echo ok >"$T/ping_in" ) &
	pinger=$!
	boot e1000-tap net-tap --memory 384M --net tap=iovt1,model=e1000
	wait "$pinger"; wait "$receiver"
	check e1000-tap "powers off (status $status)" [ "$status" -eq 0 ]
	check e1000-tap "guest pings the host over the tap" grep -q PING_OUT=ok "$log"
	check e1000-tap "host pings the guest over the tap" [ -f "$T/ping_in" ]
	check e1000-tap "16 MiB TCP guest->host arrives intact" \
		[ -n "$(text "$log" SENT_SHA)" -a "$(text "$log" SENT_SHA)" = "$(cat "$T/recv.sha")" ]
	ip link del iovt1
else
	fail "e1000-tap: cannot create a tap in the test host"
fi
rm -rf "$T"
