# Live migration (issue 22) on a real guest, mid-I/O, between iovirt
# processes in this host. The guest (tests/guest/scripts/migrate.sh) writes
# numbered, fsynced records to a virtio-blk and an NVMe disk and reads each
# batch back, sends 8 MiB over TCP to this host through a tap, and rewrites
# 24 MiB of its memory in rounds, checking every page held the round
# before (so a page the migration missed shows). Each iovirt has its own
# tap on one bridge, as two hosts would; the destination's RARP tells the
# bridge where the guest went.
#
# mig-vhost (2 vCPUs, virtio-net on vhost-net): first what must leave the
# source running (no destination, a destination of another machine, a
# cancel, a destination killed mid-way, the stream cut with both ends
# alive); then A -> B (UNIX socket) -> C
# (TCP, back on A's tap) -> D (UNIX): the workload never notices beyond a
# pause: one unbroken sequence of records across four processes, all in
# both images, every read-back equal, the TCP transfer intact, no page of
# the dirtier lost, the uptime monotonic. mig-converge (an e1000): a guest
# that dirties 32 MiB as fast as it can, migrated under an 8 MiB/s cap:
# auto-converge slows its vCPUs until it fits; then a source killed
# mid-way: the destination says the stream was cut, in one line. Its disk
# is vhost-user (a qemu-storage-daemon on each side, the same image): the
# backend logs what it writes into guest RAM (LOG_SHMFD).
T=/tmp/iovirt-mig
rm -rf "$T" && mkdir -p "$T"
modprobe tun 2>/dev/null
modprobe vhost_net 2>/dev/null
modprobe bridge 2>/dev/null
# shellcheck source=tests/guest/records-lib.sh
. tests/guest/records-lib.sh
BR=migbr0

# The bridge both "hosts" hang off, with this host's address on it.
bridge_up() {
	ip link add "$BR" type bridge 2>/dev/null || return 1
	ip addr add 10.99.0.1/24 dev "$BR"
	ip link set "$BR" up
	local tap
	for tap in "$@"; do
		ip tuntap add dev "$tap" mode tap || return 1
		ip link set "$tap" master "$BR"
		ip link set "$tap" up
	done
}
bridge_down() {
	local tap
	for tap in "$@"; do ip link del "$tap" 2>/dev/null; done
	ip link del "$BR" 2>/dev/null
}

# start NAME TAP [--incoming URL] -- the machine's options: an iovirt in
# the background with its API socket at $d/NAME.sock, output in $d/NAME.out
# and .err; its pid in $pid_NAME.
start() {
	local name=$1 tap=$2; shift 2
	local extra=()
	while [ "$1" != -- ]; do extra+=("$1"); shift; done
	shift
	local machine=("${MACHINE[@]/@TAP@/$tap}")
	machine=("${machine[@]/@VUB@/${VUB:-}}")
	build/iovirt run "${machine[@]}" "${extra[@]}" "$@" \
		--api-socket "$d/$name.sock" </dev/null >"$d/$name.out" 2>"$d/$name.err" &
	eval "pid_$name=$!"
}
# waiting_dest NAME TAP: a destination on TAP listening on $d/NAME-in.sock,
# once its API says it waits (Created).
waiting_dest() {
	start "$1" "$2" --incoming "unix:$d/$1-in.sock" --
	wait_for 60 state_is "$d/$1.sock" Created
}
# mig SOCK migrate URL [OPTIONS]: a migration may take minutes under a cap.
mig() { timeout 400 build/iovirt ctl "$@"; }
# cut_proxy PORT UNIX-SOCKET: a TCP proxy to the destination, to cut the
# stream with both ends alive (kill it); its pid in $proxy.
cut_proxy() {
	python3 -c 'import socket, sys, threading
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1)
a = l.accept()[0]
b = socket.socket(socket.AF_UNIX)
b.connect(sys.argv[2])
def pump(x, y):
    while True:
        d = x.recv(65536)
        if not d:
            break
        y.sendall(d)
threading.Thread(target=pump, args=(b, a), daemon=True).start()
pump(a, b)' "$1" "$2" &
	proxy=$!
}
# rarp_sniffer FILE: the RARP frames (ethertype 0x8035) the bridge sees,
# one line each (the sender's MAC), into FILE; its pid in $sniffer.
rarp_sniffer() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind((sys.argv[1], 0))
out = open(sys.argv[2], "w", buffering=1)
while True:
    f = s.recv(2048)
    out.write(":".join("%02x" % b for b in f[6:12]) + "\n")' "$BR" "$1" &
	sniffer=$!
}
# stopped PID: waits for it (at most 60 s) and gives its exit status.
stopped() {
	local pid=$1
	for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	wait "$pid"
}
running_on() { # running_on SOCK LOG: Running, and the records go on
	local n
	n=$(last_ack "$2")
	state_is "$1" Running && wait_for 60 acked_at_least "$2" $((${n:-0} + 16))
}

# stop_guest: opens the port whose connection tells the guest to finish.
stop_guest() {
	python3 -c 'import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.1", 18098))
s.listen(8)
s.settimeout(300)
end = time.time() + 300
while time.time() < end:
    try:
        s.accept()[0].close()
    except OSError:
        break' &
	stopper=$!
}

# hop FROM TO TAP URL: migrates the guest from FROM's iovirt to a new one,
# TO, on TAP, listening on URL; FROM is shut down after it.
hop() {
	local from=$1 to=$2 tap=$3 url=$4
	start "$to" "$tap" --incoming "$url" -- 
	local from_pid
	from_pid=$(eval echo "\$pid_$from")
	wait_for 60 state_is "$d/$to.sock" Created
	mig "$d/$from.sock" migrate "$url" >"$d/$from-$to.mig" 2>&1
	local st=$?
	sed "s/^/$name: $from -> $to: /" "$d/$from-$to.mig"
	check $name "$from -> $to over $url: iovirt ctl migrate says completed (status $st)" \
		[ "$st" -eq 0 ]
	check $name "$from -> $to: the source stays stopped, Migrated ($(vm_state "$d/$from.sock"))" \
		state_is "$d/$from.sock" Migrated
	check $name "$from -> $to: a resume of the source is refused" \
		sh -c "! timeout 60 build/iovirt ctl '$d/$from.sock' resume 2>/dev/null"
	check $name "$from -> $to: the destination runs the guest ($(vm_state "$d/$to.sock"))" \
		running_on "$d/$to.sock" "$d/$to.out"
	check $name "$from -> $to: the destination took it in (its log: received ...)" \
		grep -q "incoming: received" "$d/$to.err"
	ctl "$d/$from.sock" shutdown
	stopped "$from_pid"
	check $name "$from -> $to: the source exits 0 at vm.shutdown (got $?)" [ $? -eq 0 ]
}

mig-vhost() {
	local name=mig-vhost d=$T/mig-vhost
	mkdir -p "$d"
	if ! bridge_up miga migb; then
		fail "$name: cannot create a bridge and taps in the test host"
		bridge_down miga migb
		return
	fi
	truncate -s 64M "$d/blk.img" "$d/nvme.img"
	python3 tests/guest/netpeer.py recv 10.99.0.1 18096 >"$d/recv.sha" 2>"$d/recv.err" &
	local recv=$!
	MACHINE=(--kernel "$KERNEL" --initrd "$OUT/migrate.img" --cmdline "$CMDLINE"
		--memory 384M --cpus 2 --disk "$d/blk.img" --disk "$d/nvme.img,if=nvme"
		--net "tap=@TAP@,vhost=on")
	start a miga --
	wait_for 240 acked_at_least "$d/a.out" 64
	check $name "the guest writes records, reads them back and sends over TCP (ACK $(last_ack "$d/a.out"))" \
		grep -q SENDING "$d/a.out"

	# ---- what leaves the source running ----
	mig "$d/a.sock" migrate "unix:$d/nobody.sock" >"$d/nobody.mig" 2>&1
	check $name "no destination: iovirt ctl migrate fails (status $?) naming it: $(tail -1 "$d/nobody.mig")" \
		grep -q "nobody.sock" "$d/nobody.mig"
	check $name "... the source runs on" running_on "$d/a.sock" "$d/a.out"

	local saved=("${MACHINE[@]}")
	MACHINE=("${MACHINE[@]/384M/256M}")
	waiting_dest other migb
	MACHINE=("${saved[@]}")
	mig "$d/a.sock" migrate "unix:$d/other-in.sock" >"$d/other.mig" 2>&1
	check $name "a destination of another machine (256 MiB) refuses: $(tail -1 "$d/other.mig")" \
		grep -q "refused.*RAM" "$d/other.mig"
	stopped "$pid_other"
	check $name "... the destination exits non-zero ($?) with one line: $(grep -v waiting "$d/other.err" | tr -d '\n')" \
		grep -q "incoming.*RAM" "$d/other.err"
	check $name "... the source runs on" running_on "$d/a.sock" "$d/a.out"

	waiting_dest cancel migb
	mig "$d/a.sock" migrate "unix:$d/cancel-in.sock" --bandwidth 2M >"$d/cancel.mig" 2>&1 &
	local mig=$!
	sleep 3
	ctl "$d/a.sock" migrate-cancel
	check $name "iovirt ctl migrate-cancel during a migration capped at 2 MiB/s: status $?" [ $? -eq 0 ]
	wait "$mig"
	check $name "... iovirt ctl migrate ends non-zero ($?), cancelled: $(tail -1 "$d/cancel.mig")" \
		grep -qi "cancel" "$d/cancel.mig"
	stopped "$pid_cancel"
	check $name "... the destination exits non-zero ($?): the source gave up" \
		grep -q "gave up" "$d/cancel.err"
	check $name "... the source runs on" running_on "$d/a.sock" "$d/a.out"

	waiting_dest killed migb
	mig "$d/a.sock" migrate "unix:$d/killed-in.sock" --bandwidth 2M >"$d/killed.mig" 2>&1 &
	mig=$!
	sleep 3
	kill -KILL "$pid_killed"
	wait "$pid_killed" 2>/dev/null
	wait "$mig"
	check $name "the destination killed mid-migration: iovirt ctl migrate fails ($?): $(tail -1 "$d/killed.mig")" \
		grep -qi "failed" "$d/killed.mig"
	check $name "... the source runs on" running_on "$d/a.sock" "$d/a.out"

	waiting_dest cut migb
	cut_proxy 18099 "$d/cut-in.sock"
	wait_for 30 sh -c "ss -ltnH 'sport = :18099' | grep -q ."
	mig "$d/a.sock" migrate tcp:127.0.0.1:18099 --bandwidth 2M >"$d/cut.mig" 2>&1 &
	mig=$!
	sleep 3
	kill -KILL "$proxy"
	wait "$mig"
	check $name "the stream cut mid-migration, both ends alive: the source says so: $(tail -1 "$d/cut.mig")" \
		grep -Eq "failed: (sending|the destination).*(pipe|reset|ended)" "$d/cut.mig"
	stopped "$pid_cut"
	check $name "... the destination exits non-zero ($?) saying so: $(grep -v waiting "$d/cut.err" | tr -d '\n')" \
		grep -q "stream ended" "$d/cut.err"
	check $name "... the source runs on" running_on "$d/a.sock" "$d/a.out"

	# ---- there and back: A -> B -> C -> D ----
	local before
	before=$(last_ack "$d/a.out")
	rarp_sniffer "$d/rarp"
	hop a b migb "unix:$d/b-in.sock"
	hop b c miga "tcp:127.0.0.1:18097"
	hop c d migb "unix:$d/d-in.sock"
	stop_guest
	for _ in $(seq 300); do kill -0 "$pid_d" 2>/dev/null || break; sleep 1; done
	stopped "$pid_d"
	local st=$?
	sleep 1
	kill "$recv" "$stopper" "$sniffer" 2>/dev/null
	wait "$recv" "$stopper" "$sniffer" 2>/dev/null
	check $name "each destination announced the guest's MAC (a RARP on the bridge per hop: $(sort "$d/rarp" | uniq -c | tr -s ' \n' ' '))" \
		[ "$(grep -c '^52:54:00:12:34:56$' "$d/rarp")" -ge 3 ]
	bridge_down miga migb
	check $name "the guest runs to its end on D and powers off: status 0 (got $st)" [ "$st" -eq 0 ]
	cat "$d/a.out" "$d/b.out" "$d/c.out" "$d/d.out" >"$d/console"
	local n
	n=$(last_ack "$d/console")
	check $name "the records go on across three migrations (ACK $before -> ${n:-none})" \
		[ "${n:-0}" -gt "$before" ]
	check $name "one unbroken sequence of records across four processes (16, 32, ... $n)" \
		unbroken "$d/console"
	check $name "one boot: the guest's init ran once" [ "$(grep -c IOVIRT-INIT "$d/console")" = 1 ]
	check $name "every acknowledged record ($n) is in the virtio disk's image" records_in "$n" "$d/blk.img"
	check $name "every acknowledged record ($n) is in the NVMe image" records_in "$n" "$d/nvme.img"
	check $name "every batch read back equal, on both disks (no READBAD)" \
		[ -z "$(text "$d/console" READBAD)" -a -z "$(value "$d/console" IOERR)" ]
	check $name "no page of the guest's dirtier was lost ($(text "$d/console" MEMCHECK)$(text "$d/console" MEMBAD))" \
		grep -q "^MEMCHECK=ok" "$d/console"
	check $name "the TCP transfer across the migrations arrives intact" \
		[ -n "$(text "$d/console" SENT_SHA)" -a "$(cat "$d/recv.sha")" = "$(text "$d/console" SENT_SHA)" ]
	check $name "the guest's sender saw it complete (TCP_STATUS=$(value "$d/console" TCP_STATUS))" \
		[ "$(value "$d/console" TCP_STATUS)" = 0 ]
	check $name "the guest's uptime never goes backwards" uptime_monotonic "$d/console"
	grep -h "migrated to" "$d"/*.err | sed "s/^/$name: /"
}

mig-converge() {
	local name=mig-converge d=$T/mig-converge
	mkdir -p "$d"
	if ! bridge_up migc migd; then
		fail "$name: cannot create a bridge and taps in the test host"
		bridge_down migc migd
		return
	fi
	truncate -s 64M "$d/blk.img" "$d/nvme.img"
	# Each "host" has its own qemu-storage-daemon on the shared image
	# (locking=off: two processes open it; iovirt hands it over).
	local q qsd=()
	for q in q1 q2; do
		qemu-storage-daemon --blockdev "driver=file,node-name=d,filename=$d/blk.img,locking=off" \
			--export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=$d/$q.sock,writable=on" \
			>"$d/$q.log" 2>&1 &
		qsd+=($!)
		wait_for 30 [ -S "$d/$q.sock" ]
	done
	MACHINE=(--kernel "$KERNEL" --initrd "$OUT/migrate-hot.img" --cmdline "$CMDLINE"
		--memory 256M --disk "vhost-user=@VUB@" --disk "$d/nvme.img,if=nvme"
		--net "tap=@TAP@,model=e1000")
	VUB=$d/q1.sock start a migc --
	wait_for 240 acked_at_least "$d/a.out" 16
	VUB=$d/q2.sock waiting_dest b migd
	mig "$d/a.sock" migrate "unix:$d/b-in.sock" --bandwidth 8M >"$d/a-b.mig" 2>&1
	local st=$?
	sed "s/^/$name: /" "$d/a-b.mig"
	grep -h "slowed\|migrated to" "$d/a.err" | sed "s/^/$name: a.err: /"
	check $name "a guest dirtying 32 MiB flat out, capped at 8 MiB/s: the migration completes (status $st)" \
		[ "$st" -eq 0 ]
	check $name "... because auto-converge slowed its vCPUs" grep -q "slowed by" "$d/a.err"
	check $name "... and the guest runs on at the destination" running_on "$d/b.sock" "$d/b.out"
	local n
	n=$(last_ack "$d/b.out")
	check $name "the vhost-user disk (a qemu-storage-daemon per side) holds every acknowledged record ($n)" \
		records_in "$n" "$d/blk.img"
	check $name "... and every batch read back equal across the migration (no READBAD)" \
		sh -c "! cat '$d/a.out' '$d/b.out' | grep -q READBAD"
	ctl "$d/a.sock" shutdown
	stopped "$pid_a"

	# The stream cut: the source dies mid-migration.
	VUB=$d/q1.sock waiting_dest c migc
	mig "$d/b.sock" migrate "unix:$d/c-in.sock" --bandwidth 2M >/dev/null 2>&1 &
	sleep 3
	kill -KILL "$pid_b"
	wait "$pid_b" 2>/dev/null
	stopped "$pid_c"
	st=$?
	check $name "the source killed mid-migration: the destination exits non-zero ($st)" [ "$st" -ne 0 ]
	check $name "... saying the stream ended: $(grep -v waiting "$d/c.err" | tr -d '\n')" \
		grep -q "stream ended" "$d/c.err"
	bridge_down migc migd
	kill "${qsd[@]}" 2>/dev/null
	wait "${qsd[@]}" 2>/dev/null
	cat "$d/a.out" "$d/b.out" >"$d/console"
	check $name "no page of the guest's dirtier was lost before the cut (no MEMBAD)" \
		[ -z "$(text "$d/console" MEMBAD)" ]
}

mig-vhost
mig-converge
rm -rf "$T"
