# The block-device checks shared by the virtio-blk and NVMe cases (sourced
# by tests/guest/cases/*). blk_setup DIR makes the four images; blk_checks
# NAME DIR DRIVER DEVPATTERN checks what tests/guest/scripts/blk.sh printed
# in $log against them.
blk_setup() {
	local t=$1
	mkdir -p "$t"
	truncate -s 96M "$t/scratch.img"
	dd if=/dev/urandom of="$t/ro.img" bs=1M count=8 status=none
	truncate -s 64M "$t/ext.img" && mkfs.ext4 -q -F "$t/ext.img"
	dd if=/dev/urandom of="$t/discard.img" bs=1M count=32 status=none
	ro_sha=$(sha256sum "$t/ro.img" | cut -d' ' -f1)
	discard_kb_before=$(du -k "$t/discard.img" | cut -f1)
}

# roundtrip_checks NAME IMAGE: what blk_roundtrip (blk-lib.sh) printed in
# $log against IMAGE; a mismatch names the MiB that differ and dd's report.
roundtrip_checks() {
	local name=$1 img=$2 wrote read why=
	wrote=$(text "$log" WROTE_SHA) read=$(text "$log" READ_SHA)
	if [ -n "$wrote" ] && [ "$wrote" != "$read" ]; then
		local i=0 h differ=
		for h in $(text "$log" READ_MAP); do
			[ "$h" = "$(dd if="$img" bs=1M skip=$i count=1 status=none | md5sum | cut -c1-8)" ] ||
				differ="$differ $i"
			i=$((i + 1))
		done
		why=" [MiB differing from the image:${differ:- none}; dd: $(text "$log" READ_DD)]"
	fi
	check "$name" "64 MiB read back after drop_caches match what was written$why" \
		[ -n "$wrote" -a "$wrote" = "$read" ]
	check "$name" "the image file holds the same 64 MiB" \
		[ "$wrote" = "$(head -c 64M "$img" | sha256sum | cut -d' ' -f1)" ]
}

# counter_sum DEVICE NAME: NAME summed over every line of DEVICE's --counters
# report in $log (the device's own line and each queue's).
counter_sum() {
	tr -d '\r' <"$log" | awk -v d="$1" -v n="$2" '
		$1 == "counters:" && $2 == d {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == n) s += kv[2] } }
		END { print s + 0 }'
}

# counters_checks NAME DEVICE: what the guest's 64 MiB round trip on its
# first disk (DEVICE, e.g. virtio-blk0) must show in the --counters report,
# and KVM's own statistics next to it.
counters_checks() {
	local name=$1 dev=$2 mib=$((64 * 1024 * 1024))
	local wrote read reqs kicks irqs
	check "$name" "counters: the report has $dev's lines" \
		grep -q "^counters: $dev " "$log"
	wrote=$(counter_sum "$dev" bytes_in) read=$(counter_sum "$dev" bytes_out)
	reqs=$(counter_sum "$dev" requests) kicks=$(counter_sum "$dev" kicks)
	irqs=$(counter_sum "$dev" interrupts)
	check "$name" "counters: $dev took at least the 64 MiB written ($wrote bytes in)" \
		[ "$wrote" -ge "$mib" ]
	check "$name" "counters: $dev gave at least the 64 MiB read back ($read bytes out)" \
		[ "$read" -ge "$mib" ]
	check "$name" "counters: $dev requests, kicks and interrupts counted ($reqs, $kicks, $irqs)" \
		[ "$reqs" -ge 128 -a "$kicks" -gt 0 -a "$irqs" -gt 0 ]
	check "$name" "counters: $dev refused nothing, failed nothing" \
		[ "$(counter_sum "$dev" rejected)" = 0 -a "$(counter_sum "$dev" errors)" = 0 ]
	if grep -q "no binary statistics" "$log"; then
		skip "$name" "counters: KVM's statistics (this kernel has no KVM_GET_STATS_FD)"
	else
		check "$name" "counters: KVM's statistics per vCPU ($(counter_sum kvm exits) exits)" \
			[ "$(counter_sum kvm exits)" -gt 0 ]
	fi
}

blk_checks() {
	local name=$1 t=$2 driver=$3 pattern=$4
	check "$name" "boots with four disks, powers off (status $status)" [ "$status" -eq 0 ]
	check "$name" "the guest's $driver driver is bound" [ "$(text "$log" DRIVER)" = "$driver" ]
	check "$name" "the four disks are found by serial ($(text "$log" DEVS))" \
		matches "$(text "$log" DEVS)" "^$pattern,$pattern,$pattern,$pattern\$"
	check "$name" "scratch disk size is 96 MiB" [ "$(value "$log" SCRATCH_SECTORS)" = $((96 * 2048)) ]
	check "$name" "one queue per vCPU" [ "$(value "$log" QUEUES)" = 2 ]
	roundtrip_checks "$name" "$t/scratch.img"
	check "$name" "the guest reads what the host wrote (read-only disk)" \
		[ "$(text "$log" RO_SHA)" = "$ro_sha" ]
	check "$name" "read-only disk is read-only in the guest" [ "$(value "$log" RO_FLAG)" = 1 ]
	check "$name" "writes to the read-only disk are refused" [ "$(text "$log" RO_WRITE)" = refused ]
	check "$name" "read-only image unchanged" [ "$(sha256sum "$t/ro.img" | cut -d' ' -f1)" = "$ro_sha" ]
	check "$name" "ext4 unmounted cleanly in the guest" grep -q EXT_UMOUNT=ok "$log"
	check "$name" "e2fsck -n finds the guest's ext4 clean" e2fsck -fn "$t/ext.img" >/dev/null 2>&1
	local f
	for f in f1 f2 f3; do
		check "$name" "ext4 file $f read on the host matches the guest's" \
			[ "$(debugfs -R "cat /$f" "$t/ext.img" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$(text "$log" "EXT_$f")" ]
	done
	local after
	after=$(du -k "$t/discard.img" | cut -f1)
	check "$name" "discard offered and done" grep -q DISCARD=ok "$log"
	check "$name" "discard freed the image's blocks (${discard_kb_before} KiB -> ${after} KiB)" \
		[ "$after" -lt $((discard_kb_before / 4)) ]
	check "$name" "interrupts arrive by MSI-X" in_range "$(value "$log" MSI_IRQS)" 1 1000
}

# durable_boot NAME DIR IOVIRT-ARGS...: the guest writes a token with fsync,
# iovirt is killed with SIGKILL, the token must be in DIR/scratch.img.
durable_boot() {
	local name=$1 t=$2; shift 2
	log=$OUT/$name.log
	build/iovirt run --kernel "$KERNEL" --initrd "$OUT/durable.img" --cmdline "$CMDLINE" \
		--memory 384M "$@" </dev/null >"$log" 2>&1 &
	local pid=$! token
	for _ in $(seq 240); do grep -q '^TOKEN=' "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	token=$(text "$log" TOKEN)
	check "$name" "guest flushed a token" [ -n "$token" ]
	check "$name" "token is in the image after SIGKILL" \
		[ -n "$token" -a "$(dd if="$t/scratch.img" bs=512 skip=4096 count=1 status=none | tr -d ' ')" = "$token" ]
}
