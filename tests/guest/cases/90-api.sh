# The control plane (issue 20) on a real guest: a virtio-blk and an NVMe
# disk, --api-socket, and the guest writing numbered records with fsync to
# both (tests/guest/scripts/api.sh). While it writes: vmm.ping and vm.info
# through curl --unix-socket and iovirt ctl agree; vm.info lists the disks
# with their kind, I/O model and the PCI address the guest sees; a pause
# stops the guest (no record, no console output, no disk counter moves for
# 3 s; its kvm-clock does not count the pause) and a resume continues the
# same boot; the counters grow with the I/O and iovirt stat --once shows
# the queues the guest used; a second iovirt on the same socket is refused
# in one line; the power button shuts the guest down cleanly (acpid in the
# guest), iovirt exits 0 and removes the socket, and every acknowledged
# record is in both images.
T=/tmp/iovirt-api
rm -rf "$T" && mkdir -p "$T"
SOCK=$T/api.sock
truncate -s 64M "$T/blk.img"
truncate -s 64M "$T/nvme.img"
name=api
log=$OUT/api.log
build/iovirt run --kernel "$KERNEL" --initrd "$OUT/api.img" --cmdline "$CMDLINE" \
	--cpus 2 --memory 384M --disk "$T/blk.img,serial=RECORDS" \
	--disk "$T/nvme.img,if=nvme,serial=RECORDS2" --api-socket "$SOCK" </dev/null >"$log" 2>&1 &
pid=$!

ctl() { timeout 30 build/iovirt ctl "$SOCK" "$@"; }
get() { timeout 30 curl -sS --unix-socket "$SOCK" "http://localhost/api/v1/$1"; }
# py FILE EXPR: EXPR evaluated by python3 on the JSON in FILE (as j).
py() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
same_json() {
	[ -s "$1" ] && [ -s "$2" ] &&
		[ "$(python3 -m json.tool --sort-keys "$1")" = "$(python3 -m json.tool --sort-keys "$2")" ]
}
# acked: the last ACK the guest printed before the console's last line (0
# before the first): the console is written a byte at a time, and a last
# line still being written ("ACK=10" of 1072) would read as a smaller one.
acked() {
	local v
	v=$(sed -n '$!s/^ACK=\([0-9]*\).*/\1/p' "$log" | tail -1)
	echo "${v:-0}"
}
# up_at N: the guest's uptime when it acknowledged N records.
up_at() { sed -n "s/^ACK=$1 UP=\([0-9.]*\).*/\1/p" "$log" | tr -d '\r' | tail -1; }
# dev_info ID: "kind io_model pci" of device ID in $T/info.json.
dev_info() {
	py "$T/info.json" "' '.join(str(d.get(k)) for d in j['devices'] if d.get('id') == '$1' for k in ('kind', 'io_model', 'pci'))"
}
# counters FILE: vm.counters into FILE; then count FILE DEVICE [NAME]:
# NAME (every counter without one) summed over DEVICE's scopes.
counters() { get vm.counters >"$1"; }
count() {
	py "$1" "sum(v for s in j['devices']['$2'].values() for k, v in s.items() if '${3-}' in ('', k))"
}
# one_line FILE PATTERN: FILE is one line, and it matches PATTERN.
one_line() { [ "$(wc -l <"$1")" = 1 ] && grep -Eq "$2" "$1"; }
# refused STATUS FILE PATTERN: status 1, and FILE one line matching PATTERN.
refused() { [ "$1" -eq 1 ] && one_line "$2" "$3"; }
# gt A B: both are numbers, A > B.
gt() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" -gt "$2" ]; }
# records_in N IMG: IMG starts with the first N records as api.sh writes them.
records_in() {
	local i
	for ((i = 0; i < $1; i++)); do printf '%-4095s\n' "record $i"; done >"$T/expected"
	[ "$1" -gt 0 ] && cmp -s -n $(($1 * 4096)) "$T/expected" "$2"
}
# ack_sequence_whole: the ACKs go 16, 32, 48, ... with none missing or repeated
# (one run of the writer: nothing restarted it).
ack_sequence_whole() {
	sed -n 's/^ACK=\([0-9]*\).*/\1/p' "$log" | tr -d '\r' |
		awk '$1 != NR * 16 { bad = 1 } END { exit bad || NR == 0 }'
}
one_boot() { [ "$(grep -c IOVIRT-INIT "$log")" = 1 ] && ack_sequence_whole; }

for _ in $(seq 240); do
	[ "$(acked)" -gt 0 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
check $name "the guest writes records to both disks (ACK $(acked))" [ "$(acked)" -gt 0 ]
check $name "the API socket is there, mode 0600" [ -S "$SOCK" -a "$(stat -c %a "$SOCK" 2>/dev/null)" = 600 ]

# ---- the same answers through curl and iovirt ctl ----
get vmm.ping >"$T/ping-curl.json"
ctl ping --json >"$T/ping-ctl.json"
check $name "vmm.ping: curl --unix-socket and iovirt ctl --json give the same answer" \
	same_json "$T/ping-curl.json" "$T/ping-ctl.json"
check $name "vmm.ping names this iovirt's pid ($pid)" [ "$(py "$T/ping-curl.json" "j['pid']")" = "$pid" ]
check $name "iovirt ctl ping says the version" \
	[ "$(ctl ping)" = "iovirt $(py "$T/ping-curl.json" "j['version']") (pid $pid)" ]
get vm.info >"$T/info.json"
ctl info --json >"$T/info-ctl.json"
check $name "vm.info: curl --unix-socket and iovirt ctl --json give the same answer" \
	same_json "$T/info.json" "$T/info-ctl.json"
check $name "vm.info: Running, 2 vCPUs, 384 MiB" \
	[ "$(py "$T/info.json" "(j['state'], j['cpus'], j['memory'])")" = "('Running', 2, 402653184)" ]
blk=$(dev_info virtio-blk0) nvme=$(dev_info nvme0)
pci_blk=$(text "$log" PCI_BLK) pci_nvme=$(text "$log" PCI_NVME)
check $name "vm.info: virtio-blk0 is virtio-blk, virtio, at the guest's $pci_blk ($blk)" \
	[ -n "$pci_blk" -a "$blk" = "virtio-blk virtio $pci_blk" ]
check $name "vm.info: nvme0 is nvme, emulated, at the guest's $pci_nvme ($nvme)" \
	[ -n "$pci_nvme" -a "$nvme" = "nvme emulated $pci_nvme" ]
check $name "vm.info: the serial port is emulated, not on PCI ($(dev_info serial0))" \
	[ "$(dev_info serial0)" = "serial emulated None" ]
ctl info >"$T/info.txt"
check $name "iovirt ctl info: a table line per disk" \
	[ "$(awk '($1 == "virtio-blk0" && $3 == "virtio") || ($1 == "nvme0" && $3 == "emulated")' "$T/info.txt" | wc -l)" = 2 ]

# ---- pause: the guest stops; resume: the same run goes on ----
counters "$T/c-before.json"
ctl pause
st=$?
check $name "iovirt ctl pause: status 0 (got $st)" [ "$st" -eq 0 ]
paused_at=$(date +%s.%N)
check $name "vm.info says Paused" [ "$(get vm.info | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')" = Paused ]
sleep 0.2
a0=$(acked) l0=$(wc -c <"$log")
counters "$T/c-paused0.json"
sleep 3
a1=$(acked) l1=$(wc -c <"$log")
counters "$T/c-paused1.json"
check $name "paused: no record acknowledged for 3 s (ACK $a0 -> $a1)" [ "$a0" = "$a1" ]
check $name "paused: nothing on the guest's console for 3 s ($l0 -> $l1 bytes)" [ "$l0" = "$l1" ]
for d in virtio-blk0 nvme0; do
	c0=$(count "$T/c-paused0.json" $d) c1=$(count "$T/c-paused1.json" $d)
	check $name "paused: $d's counters did not move for 3 s (sum $c0 -> $c1)" [ -n "$c0" -a "$c0" = "$c1" ]
done
ctl pause 2>"$T/pause2.err"
st=$?
check $name "a second pause is refused: status 1, one line saying 409 ($(tr -d '\n' <"$T/pause2.err"))" \
	refused "$st" "$T/pause2.err" "^iovirt ctl: $SOCK: vm.pause: HTTP 409"
ctl resume
st=$?
check $name "iovirt ctl resume: status 0 (got $st)" [ "$st" -eq 0 ]
echo "api: paused for $(awk -v a="$paused_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
check $name "vm.info says Running again" [ "$(ctl info | awk '$1 == "state" {print $2}')" = Running ]
for _ in $(seq 60); do [ "$(acked)" -gt "$a1" ] && break; sleep 0.5; done
check $name "resumed: the guest acknowledges records again (ACK $a1 -> $(acked))" [ "$(acked)" -gt "$a1" ]
check $name "resumed: the same boot (one IOVIRT-INIT, ACKs in one unbroken sequence)" \
	one_boot
# The first record after the resume was written across the pause: in guest
# time, about as long as any other batch if kvm-clock stopped with it.
cs=$(text "$log" CLOCKSOURCE)
gap=$(awk -v a="$(up_at "$a1")" -v b="$(up_at $((a1 + 16)))" \
	'BEGIN { if (a == "" || b == "") print -1; else printf "%.2f", b - a }')
echo "api: the guest's uptime across the pause advanced $gap s (clocksource ${cs:-?})"
if [ "$cs" = kvm-clock ]; then
	check $name "paused: the guest's clock stopped too (its uptime advanced $gap s over a pause of 3 s or more)" \
		awk -v g="$gap" 'BEGIN { exit !(g >= 0 && g < 2.5) }'
else
	skip "$name: the guest's clock across a pause: clocksource ${cs:-unknown}, not kvm-clock (the TSC runs on)"
fi

# ---- counters grow with the I/O; iovirt stat shows the queues ----
counters "$T/c-after.json"
for d in virtio-blk0 nvme0; do
	r0=$(count "$T/c-before.json" $d requests) r1=$(count "$T/c-after.json" $d requests)
	b0=$(count "$T/c-before.json" $d bytes_in) b1=$(count "$T/c-after.json" $d bytes_in)
	check $name "vm.counters: $d's requests grow with the guest's writes ($r0 -> $r1)" \
		gt "$r1" "$r0"
	check $name "vm.counters: $d's bytes_in grow by a 64 KiB batch or more ($b0 -> $b1)" \
		gt "$b1" "$((${b0:-0} + 65535))"
done
ctl counters >"$T/counters.txt"
check $name "iovirt ctl counters: a line for an NVMe I/O queue that did requests" \
	grep -Eq '^counters: nvme0 q[1-9][0-9]* .* requests=[1-9]' "$T/counters.txt"
timeout 60 build/iovirt stat "$SOCK" --once --interval 2 >"$T/stat.txt" 2>&1
st=$?
sed 's/^/api: stat: /' "$T/stat.txt"
check $name "iovirt stat --once: status 0 (got $st)" [ "$st" -eq 0 ]
# DEVICE QUEUE EXITS/s KICKS/s IRQS/s IOPS ...: the queues the guest wrote on.
check $name "iovirt stat --once shows virtio-blk0's queue with requests/s" \
	awk '$1 == "virtio-blk0" && $2 ~ /^q[0-9]+$/ && $6 > 0 { ok = 1 } END { exit !ok }' "$T/stat.txt"
check $name "iovirt stat --once shows an NVMe I/O queue with requests/s" \
	awk '$1 == "nvme0" && $2 ~ /^q[1-9][0-9]*$/ && $6 > 0 { ok = 1 } END { exit !ok }' "$T/stat.txt"
check $name "iovirt stat --once: NVMe's doorbell exits per I/O on its device line" \
	awk '$1 == "nvme0" && $2 == "-" && $9 ~ /^[0-9.]+$/ { ok = 1 } END { exit !ok }' "$T/stat.txt"
check $name "iovirt stat --once shows KVM's exits for both vCPUs" \
	[ "$(grep -Ec '^vcpu[01] +[0-9]+' "$T/stat.txt")" = 2 ]

# ---- a second iovirt on the same socket ----
timeout 120 build/iovirt run --kernel "$KERNEL" --initrd "$OUT/api.img" --cmdline "$CMDLINE" \
	--memory 256M --api-socket "$SOCK" </dev/null >"$T/second.log" 2>&1
st=$?
check $name "a second iovirt on the same --api-socket exits 1 (got $st)" [ "$st" -eq 1 ]
check $name "... with one line naming the socket ($(tr -d '\r\n' <"$T/second.log"))" \
	one_line "$T/second.log" "$SOCK"
check $name "... before its guest ran" [ "$(grep -c IOVIRT-INIT "$T/second.log")" = 0 ]
check $name "the first iovirt still answers on it" ctl ping

# ---- the power button: a clean shutdown ----
ctl power-button
st=$?
check $name "iovirt ctl power-button: status 0 (got $st)" [ "$st" -eq 0 ]
for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$pid" 2>/dev/null; then
	echo "---- $name: still running 120 s after the power button; last lines:"; tail -20 "$log"
	kill -KILL "$pid"
fi
wait "$pid"
status=$?
check $name "the guest saw the power button (acpid ran its action)" grep -q '^POWER_BUTTON=1' "$log"
check $name "the guest shut down cleanly: its script ran to the end, then poweroff" \
	grep -q '^IOVIRT-TEST-EXIT=0' "$log"
check $name "iovirt exits 0 after the guest powered off (got $status)" [ "$status" -eq 0 ]
check $name "the socket is removed at exit" [ ! -e "$SOCK" ]
ctl ping 2>"$T/gone.err"
st=$?
check $name "iovirt ctl on it now: status 1, one line ($(tr -d '\n' <"$T/gone.err"))" \
	refused "$st" "$T/gone.err" "no such socket"
n=$(acked)
check $name "every acknowledged record ($n) is in the virtio-blk image" records_in "$n" "$T/blk.img"
check $name "every acknowledged record ($n) is in the NVMe image" records_in "$n" "$T/nvme.img"
check $name "no I/O error in the guest" [ -z "$(value "$log" IOERR)" ]
rm -rf "$T"
