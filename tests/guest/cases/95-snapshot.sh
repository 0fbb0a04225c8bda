# Snapshot and restore (issue 21) on a real guest, mid-I/O. The guest
# (tests/guest/scripts/snapshot.sh) writes numbered, fsynced records to a
# virtio-blk and an NVMe disk, sends 8 MiB over TCP to this host through a
# tap, and prints its clocks. While it does, iovirt is paused, snapshotted
# (iovirt ctl snapshot) and killed with SIGKILL; the snapshot waits 8 s,
# then a new iovirt resumes it (--restore, --paused), is snapshotted again
# at once — every device's state must be what it was — and resumed. The
# guest's console across both processes must read as one run: the records
# continue in one unbroken sequence, all of them in both images, the TCP
# transfer arrives intact, the clocks never go backwards and the wall
# clock is the host's again (the clock policy: kvmclock advanced by the
# time away). Twice: 2 vCPUs with virtio-net on vhost-net; and an e1000
# with a vhost-user-blk disk (qemu-storage-daemon). Then what a restore
# refuses: other machine options, a disk that changed size, a corrupt
# state file, a missing RAM file.
T=/tmp/iovirt-snap
rm -rf "$T" && mkdir -p "$T"
modprobe tun 2>/dev/null
modprobe vhost_net 2>/dev/null

# shellcheck source=tests/guest/records-lib.sh
. tests/guest/records-lib.sh
# device_sections DIR: the state file's device sections (not the VM's or
# the vCPUs', whose clocks and registers move as time passes).
device_sections() { python3 tests/guest/snapshot-sections.py "$1" | awk '$1 != "vm" && $1 != "vcpu"'; }
# snap_file DIR KEY: the file the manifest names: state, or mem (region 0).
snap_file() {
	case $2 in
	state) py "$1/manifest.json" "j['state']['file']" ;;
	mem) py "$1/manifest.json" "j['memory'][0]['file']" ;;
	esac
}

# scenario NAME TAP IMAGE DISK-OPTION NET-SUFFIX IOVIRT-ARGS...: one run as
# above; IMAGE is the file behind the virtio disk.
scenario() {
	local name=$1 tap=$2 blkimg=$3 blkopt=$4 netsuf=$5 same_skip=${SAME_SKIP:-}; shift 5
	local d=$T/$name
	mkdir -p "$d"
	if ! ip tuntap add dev "$tap" mode tap 2>/dev/null; then
		fail "$name: cannot create a tap in the test host"
		return
	fi
	ip addr add 10.99.0.1/24 dev "$tap"
	ip link set "$tap" up
	truncate -s 64M "$d/nvme.img"
	python3 tests/guest/netpeer.py recv 10.99.0.1 18095 >"$d/recv.sha" 2>"$d/recv.err" &
	local recv=$!
	local args=(--kernel "$KERNEL" --initrd "$OUT/snapshot.img" --cmdline "$CMDLINE"
		--memory 384M --disk "$blkopt" --disk "$d/nvme.img,if=nvme"
		--net "tap=$tap$netsuf" "$@")
	build/iovirt run "${args[@]}" --api-socket "$d/a.sock" </dev/null >"$d/a.out" 2>"$d/a.err" &
	local pid=$!
	wait_for 240 acked_at_least "$d/a.out" 160
	check $name "the guest writes records and sends over TCP (ACK $(last_ack "$d/a.out"))" \
		grep -q SENDING "$d/a.out"
	ctl "$d/a.sock" pause
	check $name "iovirt ctl pause: status 0" [ $? -eq 0 ]
	local t0 t1
	t0=$(date +%s.%N)
	ctl "$d/a.sock" snapshot "$d/snap1" 2>"$d/snap1.err"
	local st=$?
	t1=$(date +%s.%N)
	echo "$name: snapshot took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s," \
		"$(du -sk "$d/snap1" | cut -f1) KiB on disk for 384 MiB of RAM"
	check $name "iovirt ctl snapshot: status 0 ($(tr -d '\n' <"$d/snap1.err"))" [ "$st" -eq 0 ]
	check $name "the snapshot holds a manifest, the state file and the RAM files it names" \
		[ -s "$d/snap1/manifest.json" -a -s "$d/snap1/$(snap_file "$d/snap1" state)" -a \
			-e "$d/snap1/$(snap_file "$d/snap1" mem)" ]
	check $name "its RAM files are sparse: less on disk than the 384 MiB of RAM" \
		[ "$(du -sk "$d/snap1" | cut -f1)" -lt $((384 * 1024)) ]
	check $name "the manifest lists the machine's devices (nvme0, virtio-blk0 or vhost-user-blk0, a NIC)" \
		[ "$(py "$d/snap1/manifest.json" "len([x for x in j['devices'] if x['id'] in ('nvme0', 'virtio-blk0', 'vhost-user-blk0', 'virtio-net0', 'e1000-0')])")" = 3 ]
	kill -KILL "$pid"
	wait "$pid"
	check $name "the first iovirt is killed (SIGKILL) after the snapshot" [ $? -eq 137 ]
	local before
	before=$(last_ack "$d/a.out")
	sleep 8 # the snapshot sits: a clock that does not catch up is 8 s behind

	t0=$(date +%s.%N)
	local restored_at=${t0%.*}
	build/iovirt run --restore "$d/snap1" --paused --api-socket "$d/b.sock" --verbose \
		</dev/null >"$d/b.out" 2>"$d/b.err" &
	pid=$!
	# The socket answers from the start; the state is Created until the
	# restore has loaded, then Paused.
	wait_for 120 state_is "$d/b.sock" Paused
	t1=$(date +%s.%N)
	echo "$name: --restore to its API socket: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
	check $name "the restored machine waits, paused (vm.info: $(ctl "$d/b.sock" info | awk '$1 == "state" {print $2}'))" \
		[ "$(ctl "$d/b.sock" info | awk '$1 == "state" {print $2}')" = Paused ]
	ctl "$d/b.sock" snapshot "$d/snap2"
	device_sections "$d/snap1" | awk -v skip="$same_skip" '$2 != skip' >"$d/sections1"
	device_sections "$d/snap2" | awk -v skip="$same_skip" '$2 != skip' >"$d/sections2"
	diff "$d/sections1" "$d/sections2" | sed "s/^/$name: differs: /"
	check $name "snapshot -> restore -> snapshot: every device's state is the same (but ${same_skip:-none})" \
		same_files "$d/sections1" "$d/sections2"
	rm -rf "$d/snap2" # the test host's /tmp is its RAM
	ctl "$d/b.sock" resume
	check $name "iovirt ctl resume on the restored machine: status 0" [ $? -eq 0 ]
	local resumed_at
	resumed_at=$(date +%s)
	# The second ACK after the restore: the first may have been read
	# before the pause and printed only after it (the tty's buffer).
	wait_for 30 acked_at_least "$d/b.out" $((before + 32))
	local host_now
	host_now=$(date +%s)
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "---- $name: still running after 300 s; last lines:"; tail -20 "$d/b.out" "$d/b.err"
		kill -KILL "$pid"
	fi
	wait "$pid"
	st=$?
	sleep 1
	kill "$recv" 2>/dev/null
	wait "$recv" 2>/dev/null
	ip link del "$tap"
	check $name "the restored guest runs to its end and powers off: status 0 (got $st)" [ "$st" -eq 0 ]
	check $name "the restored iovirt said it restored ($(grep -o 'restored .*' "$d/b.err" | head -1))" \
		grep -q "restored $d/snap1" "$d/b.err"
	cat "$d/a.out" "$d/b.out" >"$d/console"
	local n
	n=$(last_ack "$d/console")
	check $name "the records go on after the restore (ACK $before -> ${n:-none})" \
		[ "${n:-0}" -gt "$before" ]
	check $name "one unbroken sequence of records across both processes (16, 32, ... $n)" \
		unbroken "$d/console"
	check $name "one boot: the guest's init ran once" [ "$(grep -c IOVIRT-INIT "$d/console")" = 1 ]
	check $name "every acknowledged record ($n) is in the virtio disk's image, in order" \
		records_in "$n" "$blkimg"
	check $name "every acknowledged record ($n) is in the NVMe image, in order" \
		records_in "$n" "$d/nvme.img"
	check $name "no I/O error in the guest" [ -z "$(value "$d/console" IOERR)" ]
	check $name "the TCP transfer across the restore arrives intact" \
		[ -n "$(text "$d/console" SENT_SHA)" -a "$(cat "$d/recv.sha")" = "$(text "$d/console" SENT_SHA)" ]
	check $name "the guest's sender saw it complete (TCP_STATUS=$(value "$d/console" TCP_STATUS))" \
		[ "$(value "$d/console" TCP_STATUS)" = 0 ]
	check $name "the guest's uptime never goes backwards" uptime_monotonic "$d/console"
	local up_a up_b wall_b
	# Across the whole console: the largest step of the uptime between
	# two ACKs is the restore's (the time away); the wall clock from the
	# second ACK line the restored process printed (see above).
	local gap
	gap=$(field "$d/console" UP | awk 'NR > 1 && $1 - prev > max { max = $1 - prev; a = prev; b = $1 } { prev = $1 } END { print a, b }')
	up_a=${gap% *} up_b=${gap#* }
	wall_b=$(field "$d/b.out" WALL | sed -n 2p)
	grep -E "clock|restored" "$d/b.err" | sed "s/^/$name: b.err: /"
	grep -E "CLOCKSOURCE|GUEST_DMESG" "$d/console" | sed "s/^/$name: /"
	echo "$name: uptime $up_a -> $up_b across the restore; guest wall clock $wall_b," \
		"host: restored at $restored_at, resumed at $resumed_at, ACK seen at $host_now"
	check $name "the clock policy: the guest's clocks advanced by the time away (uptime $up_a -> $up_b, 8 s or more)" \
		awk -v a="$up_a" -v b="$up_b" 'BEGIN { exit !(a != "" && b != "" && b - a >= 7.5) }'
	# The time paused after the restore is hidden as any pause is: the
	# guest's wall clock is at least where the host's was at the restore
	# (a clock that did not catch up would be 8 s and more behind it).
	check $name "the guest's wall clock caught up at the restore ($wall_b vs $restored_at..$host_now)" \
		awk -v g="$wall_b" -v h="$host_now" -v r="$restored_at" 'BEGIN { exit !(g != "" && g >= r - 2 && g <= h + 2) }'
}

truncate -s 64M "$T/blk.img"
# vhost-net moves frames outside iovirt even while the VM is paused (the
# host's TCP retransmits, queued on the tap while no iovirt ran, fill the
# guest's receive buffers as soon as the restore hands the rings over),
# so its queue positions may move between the two snapshots.
SAME_SKIP=virtio-net0 scenario snap-virtio iovs1 "$T/blk.img" "$T/blk.img" ",vhost=on" --cpus 2

# The e1000 and a vhost-user-blk disk: the backend keeps running across
# the kill and takes the rings again from the restored process.
truncate -s 64M "$T/vub.img"
qemu-storage-daemon --blockdev "driver=file,node-name=d,filename=$T/vub.img" \
	--export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=$T/vub.sock,writable=on" \
	>"$OUT/snap-qsd.log" 2>&1 &
qsd=$!
wait_for 30 [ -S "$T/vub.sock" ]
scenario snap-e1000-vub iovs2 "$T/vub.img" "vhost-user=$T/vub.sock" ",model=e1000"
kill "$qsd" 2>/dev/null
wait "$qsd" 2>/dev/null

# ---- what a restore refuses, each in one line before any guest runs ----
S=$T/snap-virtio/snap1
# refused NAME WHAT STATUS PATTERN: exit STATUS, one line on stderr
# matching PATTERN, and no guest output.
refused() {
	local name=$1 what=$2 want=$3 pattern=$4; shift 4
	timeout 120 build/iovirt run "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	local st=$?
	check $name "$what: status $want (got $st): $(tr -d '\n' <"$T/$name.err")" \
		[ "$st" -eq "$want" -a "$(wc -l <"$T/$name.err")" = 1 ]
	check $name "... the line says why" grep -Eq "$pattern" "$T/$name.err"
	check $name "... before any guest ran" [ ! -s "$T/$name.out" ]
}
if [ -s "$S/manifest.json" ]; then
	py "$S/manifest.json" "'\\n'.join(j['machine'])" >"$T/saved-args"
	mapfile -t saved <"$T/saved-args"
	changed=()
	for w in "${saved[@]}"; do [ "$w" = 384M ] && w=512M; changed+=("$w"); done
	refused snap-refuse-config "other machine options (--memory 512M)" 2 "384M.*512M" \
		--restore "$S" "${changed[@]}"
	cp "$T/blk.img" "$T/blk.keep"
	truncate -s 128M "$T/blk.img"
	refused snap-refuse-disk "the virtio disk grew to 128 MiB since" 1 "virtio-blk0.*capacity" \
		--restore "$S"
	mv "$T/blk.keep" "$T/blk.img"
	state=$(snap_file "$S" state) mem=$(snap_file "$S" mem)
	cp "$S/$state" "$T/state.keep"
	python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$S/$state"
	refused snap-refuse-corrupt "a state file with one flipped bit" 1 "$state" --restore "$S"
	mv "$T/state.keep" "$S/$state"
	mv "$S/$mem" "$T/mem.keep"
	refused snap-refuse-mem "a missing RAM file" 1 "$mem" --restore "$S"
	mv "$T/mem.keep" "$S/$mem"
	refused snap-refuse-dir "a directory with no snapshot" 1 "manifest.json" --restore "$T/nothing"
else
	fail "snap-refuse: no snapshot to refuse restores of (the first scenario failed)"
fi
rm -rf "$T"
