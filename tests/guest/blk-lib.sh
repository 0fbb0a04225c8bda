# Block checks shared by the guest scripts (tests/guest/scripts/blk.sh,
# vhost-user-blk.sh), at /lib/blk-lib.sh in every guest image.

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
