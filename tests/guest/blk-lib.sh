# Block checks shared by the guest scripts (tests/guest/scripts/blk.sh,
# vhost-user-blk.sh, api.sh, snapshot.sh, migrate.sh), at /lib/blk-lib.sh in
# every guest image; and the TCP transfer snapshot.sh and migrate.sh run
# across the host's pauses.

# blk_driver DEV: DRIVER=the Linux driver bound to DEV's device.
blk_driver() {
	local drv=/sys/block/$1/device/driver
	[ -e "$drv" ] || drv=/sys/block/$1/device/device/driver
	echo "DRIVER=$(basename "$(readlink -f "$drv")")"
}

# blk_roundtrip DEV MB: MB MiB of random data written to DEV (O_DIRECT),
# read back after dropping the page cache: WROTE_SHA= and READ_SHA=.
blk_roundtrip() {
	dd if=/dev/urandom of=/tmp/rand bs=1M count="$2" 2>/dev/null
	echo "WROTE_SHA=$(sha256sum /tmp/rand | cut -d' ' -f1)"
	dd if=/tmp/rand of=/dev/$1 bs=1M oflag=direct 2>/dev/null && sync
	rm -f /tmp/rand
	echo 3 > /proc/sys/vm/drop_caches
	echo "READ_SHA=$(dd if=/dev/$1 bs=1M count="$2" 2>/tmp/read.err | sha256sum | cut -d' ' -f1)"
	# What the host needs to say where a mismatch is: dd's own report and
	# a short hash of every MiB (served from the page cache just filled).
	echo "READ_DD=$(tr '\n' ' ' </tmp/read.err)"
	local i map=
	for i in $(seq 0 $(($2 - 1))); do
		map="$map$(dd if=/dev/$1 bs=1M skip="$i" count=1 2>/dev/null | md5sum | cut -c1-8) "
	done
	echo "READ_MAP=$map"
}

# blk_readonly DEV: RO_FLAG= (the kernel's read-only flag), RO_SHA= (the
# whole device), RO_WRITE=refused|accepted (a 4 KiB direct write).
blk_readonly() {
	echo "RO_FLAG=$(cat /sys/block/$1/ro)"
	echo "RO_SHA=$(dd if=/dev/$1 bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)"
	if dd if=/dev/zero of=/dev/$1 bs=4k count=1 oflag=direct 2>/dev/null; then
		echo RO_WRITE=accepted
	else
		echo RO_WRITE=refused
	fi
}

# records_batch B DEV...: batch B of the numbered records ("record N",
# 4 KiB each, space-padded; 16 a batch, N from B*16) written at its place
# on every DEV with O_DIRECT and fsync. The host side checks them in the
# images (tests/guest/cases/90-api.sh, 95-snapshot.sh). False on an I/O error.
records_batch() {
	local b=$1 i dev
	shift
	i=$((b * 16))
	while [ $i -lt $((b * 16 + 16)) ]; do printf '%-4095s\n' "record $i"; i=$((i + 1)); done >/tmp/batch
	for dev in "$@"; do
		dd if=/tmp/batch of=/dev/"$dev" bs=64k seek="$b" oflag=direct conv=fsync 2>/dev/null || return 1
	done
}

# tcp_blob_start PORT PAUSE: eth0 up as 10.99.0.2/24 (PING_OUT=ok when the
# host at 10.99.0.1 answers), 8 MiB of random data (SENT_SHA=), sent to
# 10.99.0.1:PORT in 64 chunks PAUSE seconds apart, in the background
# (TCP_DONE=1 when nc succeeds; $! is its pid).
tcp_blob_start() {
	ip link set eth0 up
	ip addr add 10.99.0.2/24 dev eth0
	ping -c 3 -W 5 10.99.0.1 >/dev/null 2>&1 && echo "PING_OUT=ok"
	dd if=/dev/urandom of=/tmp/blob bs=128k count=64 2>/dev/null
	echo "SENT_SHA=$(sha256sum /tmp/blob | cut -d' ' -f1)"
	(
		i=0
		while [ $i -lt 64 ]; do
			dd if=/tmp/blob bs=128k skip=$i count=1 2>/dev/null
			i=$((i + 1))
			sleep "$2"
		done | nc 10.99.0.1 "$1" && echo "TCP_DONE=1"
	) &
}
