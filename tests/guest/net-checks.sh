# The NIC scenarios shared by the virtio-net and e1000 cases (sourced by
# tests/guest/cases/*), each on the guest scripts net-user.sh / net-tap.sh,
# which use eth0, the only NIC.
#
# net_user_case NAME DRIVER MAC HOSTPORT NET-SUFFIX: user-mode networking
# (DHCP, ping to the gateway, a TCP download from a host server through the slirp gateway,
# hostfwd from HOSTPORT into the guest).
net_user_case() {
	local name=$1 driver=$2 mac=$3 port=$4 suffix=$5
	local t=/tmp/iovirt-$name
	mkdir -p "$t"
	head -c 4M /dev/urandom >"$t/blob"
	python3 tests/guest/netpeer.py serve 18080 "$t/blob" &  # the port net-user.sh fetches from
	local server=$!
	head -c 2M /dev/urandom >"$t/fwd"
	python3 tests/guest/netpeer.py send "$OUT/$name.log" LISTENING "$port" "$t/fwd" &
	local sender=$!
	boot "$name" net-user --memory 384M --net "user,hostfwd=tcp:127.0.0.1:$port-:8080,mac=$mac$suffix"
	kill "$server" "$sender" 2>/dev/null; wait "$server" "$sender" 2>/dev/null
	check "$name" "powers off (status $status)" [ "$status" -eq 0 ]
	check "$name" "the guest's $driver driver bound" [ "$(text "$log" DRIVER)" = "$driver" ]
	check "$name" "link is up" [ "$(text "$log" CARRIER)" = 1 ]
	check "$name" "MAC address as configured" [ "$(text "$log" MAC)" = "$mac" ]
	check "$name" "DHCP lease 10.0.2.15/24 from slirp" [ "$(text "$log" LEASE)" = 10.0.2.15/24 ]
	check "$name" "guest pings the slirp gateway" grep -q PING_GW=ok "$log"
	check "$name" "TCP download from a host server via 10.0.2.2 is intact" \
		[ "$(text "$log" GOT_SHA)" = "$(sha256sum "$t/blob" | cut -d' ' -f1)" ]
	check "$name" "hostfwd delivers a host connection into the guest intact" \
		[ "$(text "$log" FWD_SHA)" = "$(sha256sum "$t/fwd" | cut -d' ' -f1)" ]
	rm -rf "$t"
}

# net_tap_case NAME TAP NET-SUFFIX [PAIRS]: a tap made here (10.99.0.1/24,
# guest .2): ping both ways and 16 MiB each way checked by sha256. With
# PAIRS > 1 the tap is multiqueue and the guest has PAIRS vCPUs and
# virtio-net queue pairs: its driver must use them all, and the transfer
# from its last CPU must come back on the last pair's receiveq; then the
# driver turns all pairs but the first off (ethtool -L) for the transfer to
# the guest: nothing more on the last receiveq, and iovirt (--verbose) read
# no frame from the tap queue of a pair not in use (it is detached). With
# vhost=on in NET-SUFFIX the frames must go through the kernel's vhost-net:
# iovirt's own device model (its counters, printed by --verbose) sees none.
# With model=e1000 the driver's watchdog must not have fired, and the
# guest must have taken fewer interrupts than frames.
net_tap_case() {
	local name=$1 tap=$2 suffix=$3 pairs=${4:-1}
	local t=/tmp/iovirt-$name mq=() vm=() vhost= e1000=
	mkdir -p "$t"
	modprobe tun 2>/dev/null
	if matches "$suffix" 'model=e1000'; then
		e1000=1
		vm=(--verbose)
	fi
	if matches "$suffix" 'vhost=on'; then
		vhost=1
		vm=(--verbose)
		modprobe vhost_net 2>/dev/null
	fi
	if [ "$pairs" -gt 1 ]; then
		mq=(multi_queue)
		vm=(--verbose --cpus "$pairs")
		suffix="$suffix,queues=$pairs"
	fi
	if ! ip tuntap add dev "$tap" mode tap "${mq[@]}" 2>/dev/null; then
		fail "$name: cannot create a tap in the test host"
		return
	fi
	ip addr add 10.99.0.1/24 dev "$tap"
	ip link set "$tap" up
	python3 tests/guest/netpeer.py recv 10.99.0.1 18090 >"$t/recv.sha" &
	local receiver=$!
	head -c 16M /dev/urandom >"$t/in"
	python3 tests/guest/netpeer.py send "$OUT/$name.log" LISTENING_IN 10.99.0.2:18091 "$t/in" &
	local sender=$!
	( for _ in $(seq 300); do grep -q READY "$OUT/$name.log" 2>/dev/null && break; sleep 1; done
	  busybox ping -c 3 -W 5 10.99.0.2 >/dev/null 2>&1 && echo ok >"$t/ping_in" ) &
	local pinger=$!
	boot "$name" net-tap --memory 384M "${vm[@]}" --net "tap=$tap$suffix"
	wait "$pinger"; wait "$receiver"
	kill "$sender" 2>/dev/null; wait "$sender" 2>/dev/null
	check "$name" "powers off (status $status)" [ "$status" -eq 0 ]
	check "$name" "guest pings the host over the tap" grep -q PING_OUT=ok "$log"
	check "$name" "host pings the guest over the tap" [ -f "$t/ping_in" ]
	check "$name" "16 MiB TCP guest->host arrives intact" \
		[ -n "$(text "$log" SENT_SHA)" -a "$(text "$log" SENT_SHA)" = "$(cat "$t/recv.sha")" ]
	check "$name" "16 MiB TCP host->guest arrives intact" \
		[ "$(text "$log" GOT_IN_SHA)" = "$(sha256sum "$t/in" | cut -d' ' -f1)" ]
	if [ "$pairs" -gt 1 ]; then
		check "$name" "the guest's driver uses all $pairs queue pairs" \
			[ "$(value "$log" QUEUES)" = "$pairs" ]
		check "$name" "frames arrive on the last pair's receiveq" \
			[ "$(value "$log" LAST_RXQ_IRQS)" -gt 0 ]
		check "$name" "the driver turns pairs off (ethtool -L eth0 combined 1)" \
			grep -q CHANNELS=1 "$log"
		check "$name" "one pair in use: nothing more on the last receiveq" \
			[ "$(value "$log" LAST_RXQ_IRQS_1PAIR)" = "$(value "$log" LAST_RXQ_IRQS)" ]
		local strays
		strays=$(sed -n 's/.*; \([0-9]*\) from the tap queue of a pair not in use.*/\1/p' "$log" |
			tr -d '\r' | tail -1)
		check "$name" "no frame came on the tap queue of a pair not in use (detached)" \
			[ "$strays" = 0 ]
	fi
	if [ -n "$vhost" ]; then
		check "$name" "vhost-net moved the frames: iovirt's device model handled none" \
			grep -q 'virtio-net: 0 frames received .*; 0 sent' "$log"
		# With MSI-X the kernel signals the vectors' irqfds itself; with
		# INTx (pci=nomsi) iovirt passes each interrupt on (ISR bit).
		local relayed
		relayed=$(sed -n 's/.*vhost, queues 0-1: \([0-9]*\) interrupts relayed.*/\1/p' "$log" |
			tr -d '\r' | tail -1)
		if matches "$CMDLINE" nomsi; then
			check "$name" "INTx: iovirt passed the interrupts on" in_range "$relayed" 1 999999999
		else
			check "$name" "MSI-X: no interrupt went through iovirt" [ "$relayed" = 0 ]
		fi
	fi
	if [ -n "$e1000" ]; then
		check "$name" "the e1000 driver saw no Tx Unit Hang" [ "$(value "$log" TX_HANGS)" = 0 ]
		local st frames irqs rx tx tso gso delayed spaced
		st=$(sed -n 's/.*e1000: \([0-9]*\) frames received, \([0-9]*\) sent (\([0-9]*\) TSO packets, \([0-9]*\) of them as GSO frames); \([0-9]*\) interrupts, \([0-9]*\) causes held by a delay timer, \([0-9]*\) assertions postponed.*/\1 \2 \3 \4 \5 \6 \7/p' "$log" |
			tr -d '\r' | tail -1)
		read -r rx tx tso gso irqs delayed spaced <<<"${st:-0 0 0 0 0 0 0}"
		frames=$((rx + tx))
		check "$name" "fewer interrupts than frames ($irqs for $frames; $delayed causes delayed, $spaced spaced by ITR)" \
			[ "$irqs" -gt 0 -a "$irqs" -lt "$frames" ]
		local buffered
		buffered=$(sed -n 's/.*kvm: \([0-9]*\) guest writes buffered by KVM.*/\1/p' "$log" |
			tr -d '\r' | tail -1)
		check "$name" "the driver's RDT writes came through KVM's coalesced MMIO ring (${buffered:-none})" \
			in_range "${buffered:-0}" 1 999999999
		# Whether the guest's TCP hands the e1000 segmentation packets is
		# its own choice (at these rates it sent none, with TSO on in its
		# driver): said, not checked.
		echo "note $name: the guest's driver has $(text "$log" OFFLOADS) on;" \
			"it sent $tso TSO packets, $gso of them to the tap as GSO frames"
	fi
	ip link del "$tap"
	rm -rf "$t"
}
