#!/usr/bin/env bash
# Bad user input: each case must give exactly one line on stderr naming the
# thing and the reason, the documented exit status, and leave nothing behind
# (terminal settings restored). Uses the real guest kernel where the check is
# about a real bzImage; none of these cases runs guest code.
set -uo pipefail
IOVIRT=${1:?usage: cli.sh build/iovirt}
cd "$(dirname "$0")/../.."
KERNEL=build/guest/vmlinuz
INITRD=build/guest/initrd.img
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0 failed=0 skipped=0
# skip WHAT: a case this machine cannot run; counted, never passed.
skip() { skipped=$((skipped + 1)); echo "skip $*"; }

# expect NAME STATUS PATTERN CMD...: exit status and one stderr line matching.
expect() {
	local name=$1 want=$2 pattern=$3; shift 3
	[ "$1" = run ] && { shift; set -- "$IOVIRT" run "$@"; }
	# The time limit guards against a case that wrongly starts the guest.
	timeout 30 "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	local got=$? lines
	lines=$(wc -l <"$TMP/err")
	if [ "$got" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qE -- "$pattern" "$TMP/err"; then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: status $got (want $want), $lines stderr lines, want /$pattern/:"
		sed 's/^/     /' "$TMP/err"
	fi
}


# Files.
expect "missing kernel" 1 'kernel /nonexistent/vmlinuz: No such file' run --kernel /nonexistent/vmlinuz
head -c 100000 /dev/urandom >"$TMP/random.bin"
expect "kernel that is not a bzImage" 1 "kernel $TMP/random.bin: .*not a bzImage|too small" run --kernel "$TMP/random.bin"
expect "kernel that is a directory" 1 "kernel $TMP: not a regular file" run --kernel "$TMP"
if [ -f "$KERNEL" ]; then
	# The same kernel claiming boot protocol 2.05.
	cp "$KERNEL" "$TMP/old.bzImage"
	printf '\x05\x02' | dd of="$TMP/old.bzImage" bs=1 seek=$((0x206)) conv=notrunc status=none
	expect "boot protocol too old" 1 "boot protocol 2.05 is too old" run --kernel "$TMP/old.bzImage"
	expect "missing initrd" 1 "initrd /nonexistent/initrd: No such file" \
		run --kernel "$KERNEL" --initrd /nonexistent/initrd
	truncate -s 200M "$TMP/huge.initrd"
	expect "kernel + initrd larger than --memory" 1 "initrd .*do not fit in --memory 128 MiB" \
		run --kernel "$KERNEL" --initrd "$TMP/huge.initrd" --memory 128M
	expect "kernel larger than --memory" 1 "kernel .*needs [0-9]+ MiB of RAM to boot, --memory is 32 MiB" \
		run --kernel "$KERNEL" --memory 32M
	long=$(head -c 70000 /dev/zero | tr '\0' x)
	expect "command line too long" 1 "--cmdline: 70000 bytes is longer than kernel" \
		run --kernel "$KERNEL" --cmdline "$long"
else
	skipped=$((skipped + 5)) # six cases, one line
	skip "6 real-kernel cases: $KERNEL not built (tests/guest/run builds it)"
fi

# Hugepages asked for but none reserved (only checkable where none are).
if [ -f "$KERNEL" ] && [ "$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)" = 0 ]; then
	expect "--hugepages with none reserved" 1 "--memory: cannot allocate 128 MiB of guest RAM from hugepages" \
		run --kernel "$KERNEL" --memory 128M --hugepages
fi

# Disks and NICs (the device is created before the guest runs any code).
if [ -f "$KERNEL" ]; then
	expect "missing disk image" 1 "/nonexistent.img: No such file or directory" \
		run --kernel "$KERNEL" --disk /nonexistent.img
	head -c 1000 /dev/zero >"$TMP/odd.img"
	expect "disk image not a multiple of 512" 1 "odd.img: size 1000 is not a multiple of 512" \
		run --kernel "$KERNEL" --disk "$TMP/odd.img"
	truncate -s 1M "$TMP/locked.img"
	# A first iovirt holds the image; the second must refuse it.
	"$IOVIRT" run --kernel "$KERNEL" --memory 256M --disk "$TMP/locked.img" </dev/null >/dev/null 2>&1 &
	holder=$!
	for _ in $(seq 100); do
		ls -l "/proc/$holder/fd" 2>/dev/null | grep -q locked.img && break
		sleep 0.1
	done
	expect "disk image in use by another iovirt" 1 "locked.img: locked by another process" \
		run --kernel "$KERNEL" --disk "$TMP/locked.img"
	kill -TERM "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
	expect "bad disk option" 1 "--disk .*unknown option 'bogus'" run --kernel "$KERNEL" --disk "$TMP/locked.img,bogus"
	expect "serial too long" 1 "serial=.* is longer than 20" \
		run --kernel "$KERNEL" --disk "$TMP/locked.img,serial=123456789012345678901"
	expect "vhost-user disk with no backend" 1 \
		"vhost-user socket /nonexistent.sock: No such file or directory" \
		run --kernel "$KERNEL" --disk vhost-user=/nonexistent.sock
	expect "vhost-user disk with an option" 1 "vhost-user disk takes only reconnect=SECONDS: 'readonly' is the backend's" \
		run --kernel "$KERNEL" --disk vhost-user=/tmp/x.sock,readonly
	expect "vhost-user disk, bad reconnect" 1 "reconnect wants seconds from 0 .never. to 3600, got 'soon'" \
		run --kernel "$KERNEL" --disk vhost-user=/tmp/x.sock,reconnect=soon
	expect "vhost-user disk without a path" 1 "missing the vhost-user socket path" \
		run --kernel "$KERNEL" --disk vhost-user=
	expect "bad MAC" 1 "mac=zz:00:00:00:00:01 is not a unicast MAC" \
		run --kernel "$KERNEL" --net user,mac=zz:00:00:00:00:01
	expect "bad hostfwd" 1 "hostfwd" run --kernel "$KERNEL" --net user,hostfwd=tcp::notaport-:22
	expect "bad console" 1 "--console serial: only 'virtio" run --kernel "$KERNEL" --console serial
fi

# Options.
expect "--memory too small" 1 "--memory: 16 MiB is too small" run --kernel "$KERNEL" --memory 16M
expect "--memory not a size" 1 "--memory lots: not a size" run --kernel "$KERNEL" --memory lots
expect "--memory not whole MiB" 1 "--memory: must be a whole number of MiB" run --kernel "$KERNEL" --memory 33000K
expect "--cpus 0" 1 "--cpus 0: must be a number from 1 to 64" run --kernel "$KERNEL" --cpus 0
expect "--cpus 65" 1 "--cpus 65: must be a number from 1 to 64" run --kernel "$KERNEL" --cpus 65
expect "no --kernel" 2 "--kernel \\(or --firmware, or --restore\\) is required" run --memory 512M
# Firmware boot: the image and the options that do not go with it.
expect "missing firmware" 1 "--firmware /nonexistent/bios.bin: No such file" \
	run --firmware /nonexistent/bios.bin
head -c 4096 /dev/urandom >"$TMP/tiny.bin"
expect "firmware too small" 1 "--firmware $TMP/tiny.bin: smaller than 64 KiB" run --firmware "$TMP/tiny.bin"
truncate -s 32M "$TMP/huge.bin"
expect "firmware too large" 1 "--firmware $TMP/huge.bin: larger than 16 MiB" run --firmware "$TMP/huge.bin"
truncate -s 100000 "$TMP/odd.bin"
expect "firmware not whole 64 KiB" 1 "--firmware $TMP/odd.bin: not a multiple of 64 KiB" \
	run --firmware "$TMP/odd.bin"
expect "--firmware with --kernel" 2 "--firmware: .*--kernel, --initrd and --cmdline are for direct kernel boot" \
	run --firmware bios --kernel "$KERNEL"
expect "--firmware with --cmdline" 2 "--firmware: .*are for direct kernel boot" \
	run --firmware bios --cmdline quiet
# Snapshots: what --restore and --paused refuse before anything is built.
expect "--restore with no snapshot there" 1 "--restore: /nonexistent/snap/manifest.json: No such file" \
	run --restore /nonexistent/snap
expect "--restore memory= neither read nor map" 1 "--restore: memory=copy: must be read or map" \
	run --restore /nonexistent/snap,memory=copy
expect "--paused without --api-socket" 2 "--paused: needs --api-socket" run --kernel "$KERNEL" --paused
expect "unknown option" 2 "--frobnicate: unknown option" run --kernel "$KERNEL" --frobnicate
expect "unknown command" 2 "frobnicate: unknown command" "$IOVIRT" frobnicate
# The boot switches and extract-vmlinux.
expect "--kernel-decompress neither host nor guest" 1 "--kernel-decompress qemu: must be host or guest" \
	run --kernel "$KERNEL" --kernel-decompress qemu
expect "--i8042 neither on nor off" 1 "--i8042 yes: must be on or off" run --kernel "$KERNEL" --i8042 yes
expect "extract-vmlinux without its arguments" 2 "extract-vmlinux: usage" "$IOVIRT" extract-vmlinux
expect "extract-vmlinux of a file that is no bzImage" 1 "kernel $TMP/random.bin: .*not a bzImage|too small" \
	"$IOVIRT" extract-vmlinux "$TMP/random.bin" "$TMP/vmlinux"
if [ -f "$KERNEL" ]; then
	# A payload cut short: the loader says so in one line rather than
	# falling back to the guest's decompressor.
	head -c 3000000 "$KERNEL" >"$TMP/cut.bzImage"
	expect "kernel whose payload is cut short" 1 "kernel $TMP/cut.bzImage: its payload .*runs past the end" \
		run --kernel "$TMP/cut.bzImage"
	if "$IOVIRT" extract-vmlinux "$KERNEL" "$TMP/vmlinux" && [ "$(head -c 4 "$TMP/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] &&
		! compgen -G "$TMP/vmlinux.tmp.*" >/dev/null; then
		passed=$((passed + 1)); echo "ok   extract-vmlinux writes the guest kernel's vmlinux (an ELF)"
	else
		failed=$((failed + 1)); echo "FAIL extract-vmlinux of $KERNEL"
	fi
	# A vmlinux cut short is refused in one line, before anything runs.
	head -c 1000000 "$TMP/vmlinux" >"$TMP/cut.vmlinux"
	expect "vmlinux cut short" 1 "kernel $TMP/cut.vmlinux: not an x86-64 vmlinux \\(a segment runs past the end" \
		run --kernel "$TMP/cut.vmlinux"
else
	skip "extract-vmlinux of the guest kernel: no $KERNEL"
fi

# SR-IOV management: user errors that look the same on any host. A malformed
# address is a bad value (status 1, like --memory lots), a missing argument
# is usage (2).
expect "sriov without a subcommand" 2 "sriov: missing subcommand" "$IOVIRT" sriov
expect "sriov enable without arguments" 2 "sriov enable: usage: iovirt sriov enable PF N" "$IOVIRT" sriov enable
expect "sriov enable on a missing device" 1 "0000:ff:1f.7: no such PCI device" "$IOVIRT" sriov enable 0000:ff:1f.7 2
expect "sriov vf with a malformed address" 1 "zz: not a PCI address" "$IOVIRT" sriov vf zz 0
if [ -e /sys/bus/pci/devices/0000:00:00.0 ] && [ ! -e /sys/bus/pci/devices/0000:00:00.0/sriov_totalvfs ]; then
	expect "sriov enable on a device without SR-IOV" 1 "PF 0000:00:00.0 is not SR-IOV capable" \
		"$IOVIRT" sriov enable 0000:00:00.0 1
else
	skip "sriov enable on a device without SR-IOV: no 0000:00:00.0 without SR-IOV here"
fi

# The control plane's client: what ctl refuses before any request, so no
# iovirt need listen (a missing argument is usage, a bad value 1).
expect "ctl migrate without a URL" 2 "iovirt ctl: migrate needs URL" \
	"$IOVIRT" ctl "$TMP/api.sock" migrate
expect "ctl migrate with a bad --bandwidth" 1 "migrate: --bandwidth 10X: not a size in bytes/s" \
	"$IOVIRT" ctl "$TMP/api.sock" migrate tcp:localhost:4444 --bandwidth 10X
expect "ctl migrate, --bandwidth without a value" 2 "--bandwidth needs a value" \
	"$IOVIRT" ctl "$TMP/api.sock" migrate tcp:localhost:4444 --bandwidth

# Passthrough: bad --device values, and devices iovirt cannot take (a device
# on no driver or a host driver is refused before anything is mapped).
expect "--device with a malformed address" 1 "'zz:00.0' is not a PCI address" \
	run --kernel "$KERNEL" --device vfio=zz:00.0
expect "--device with a bad vf" 1 "vf wants a VF index" run --kernel "$KERNEL" --device vfio=01:00.0,vf=x
expect "--device with an unknown option" 1 "unknown option 'foo=1' \(vfio=BDF, vf=N\)" \
	run --kernel "$KERNEL" --device vfio=01:00.0,foo=1
expect "--device that is not vfio" 1 "only 'vfio=BDF\[,vf=N\]' is supported" \
	run --kernel "$KERNEL" --device nvme=1
expect "--device on a missing device" 1 "0000:ff:1f.7: no such PCI device" \
	run --kernel "$KERNEL" --device vfio=0000:ff:1f.7
dev=$(ls /sys/bus/pci/devices 2>/dev/null | head -n1)
if [ -n "$dev" ] && [ "$(basename "$(readlink "/sys/bus/pci/devices/$dev/driver" 2>/dev/null)")" != vfio-pci ]; then
	expect "--device not bound to vfio-pci" 1 "$dev: bound to .*, not vfio-pci" \
		run --kernel "$KERNEL" --device "vfio=$dev"
else
	skip "--device not bound to vfio-pci: no PCI device off vfio-pci here"
fi
expect "--device vf= on a missing PF" 1 "0000:ff:1f.7" \
	run --kernel "$KERNEL" --device vfio=0000:ff:1f.7,vf=0

# /dev/kvm missing, and not permitted (root is needed to stage both).
if [ "$(id -u)" -eq 0 ]; then
	expect "no /dev/kvm" 1 "/dev/kvm: not found" \
		unshare --mount sh -c "mount -t tmpfs none /dev && exec $IOVIRT run --kernel $KERNEL"
	expect "no permission on /dev/kvm" 1 "/dev/kvm: permission denied" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$IOVIRT" run --kernel "$KERNEL"
else
	skip "no /dev/kvm, no permission on /dev/kvm: not root"
fi

# On a terminal: raw mode must be undone on an error path and on Ctrl-A x.
if [ -f "$KERNEL" ] && command -v python3 >/dev/null; then
	if python3 tests/smoke/tty_check.py "$IOVIRT" "$KERNEL" "$TMP/huge.initrd" >"$TMP/tty" 2>&1; then
		passed=$((passed + 1)); echo "ok   terminal restored after an error and after Ctrl-A x"
	else
		failed=$((failed + 1)); echo "FAIL terminal handling:"; sed 's/^/     /' "$TMP/tty"
	fi
else
	skip "terminal restored after an error and after Ctrl-A x: needs $KERNEL and python3"
fi

echo "cli: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
