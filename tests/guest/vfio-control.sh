#!/usr/bin/env bash
# The control for the passthrough tests: QEMU itself passes the test host's
# devices to a second-level guest, so a failure of iovirt's passthrough can
# be told apart from a broken setup. Runs inside a --passthrough test host:
#
#   tools/mkguest --script tests/guest/scripts/vfio-nvme.sh --out build/guest-tests/vfio-nvme.img
#   tools/mkguest --script tests/guest/scripts/vfio-e1000e.sh --out build/guest-tests/vfio-e1000e.img
#   tools/testhost --passthrough -- tests/guest/vfio-control.sh [pf] [vf] [e1000e]
#
# Prints the test host's PCI devices (driver, IOMMU group), then for each
# device asked (default: pf) binds it to vfio-pci, boots QEMU with
# -device vfio-pci,host=BDF,rombar=0 and prints the guest's KEY=value lines,
# then gives the device back to its driver. Exit status 0 when every guest
# saw its device work. Uses only the sysfs files (not iovirt).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=build/guest-tests
PF=0000:01:00.0 NIC=0000:02:00.0
[[ ${IOVIRT_IN_TESTHOST:-} == 1 && -n ${IOVIRT_PT_DISK:-} ]] ||
	{ echo "vfio-control: run me inside tools/testhost --passthrough" >&2; exit 2; }
(($#)) || set -- pf

dev_driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
inventory() {
	local d
	for d in /sys/bus/pci/devices/*; do
		printf '%s %s:%s class %s driver %-10s group %s\n' "${d##*/}" \
			"$(sed 's/0x//' "$d/vendor")" "$(sed 's/0x//' "$d/device")" "$(cat "$d/class")" \
			"$(dev_driver "${d##*/}" || true)" "$(basename "$(readlink "$d/iommu_group" 2>/dev/null)" 2>/dev/null)"
	done
}
to_vfio() {
	local bdf=$1 drv
	drv=$(dev_driver "$bdf")
	[[ -n $drv ]] && echo "$bdf" >"/sys/bus/pci/drivers/$drv/unbind"
	echo vfio-pci >"/sys/bus/pci/devices/$bdf/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	echo "control: $bdf ${drv:-none} -> $(dev_driver "$bdf")"
}
from_vfio() {
	local bdf=$1 drv=$2
	echo "$bdf" >/sys/bus/pci/drivers/vfio-pci/unbind
	echo >"/sys/bus/pci/devices/$bdf/driver_override"
	[[ -n $drv ]] && echo "$bdf" >/sys/bus/pci/drivers_probe
	echo "control: $bdf back to $(dev_driver "$bdf" || echo none)"
}
# qemu_guest NAME BDF IMG CMDLINE-EXTRA
qemu_guest() {
	local name=$1 bdf=$2 img=$3 extra=$4 t0 rc
	t0=$(date +%s)
	timeout 180 qemu-system-x86_64 -enable-kvm -cpu host -m 512 -smp 1 -nographic -no-reboot \
		-nic none -kernel build/guest/vmlinuz -initrd "$OUT/$img.img" \
		-append "console=ttyS0 quiet panic=-1 $extra" \
		-device "vfio-pci,host=$bdf,rombar=0" </dev/null >"$OUT/control-$name.log" 2>&1
	rc=$?
	echo "control: $name: QEMU exit $rc after $(($(date +%s) - t0)) s; guest said:"
	grep -E '^[A-Z][A-Z0-9_]*[=:]' "$OUT/control-$name.log" | tr -d '\r' | sed 's/^/    /'
	return $rc
}

echo "control: kernel $(uname -r), cmdline: $(cat /proc/cmdline)"
echo "control: nvme_core multipath=$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)"
echo "control: modules: $(lsmod | awk 'NR > 1 {print $1}' | grep -E '^(kvm|vfio|nvme|e1000e|irqbypass)' | tr '\n' ' ')"
dmesg | grep -iE 'DMAR: (Intel|IOMMU enabled)|remapping' | head -3 | sed 's/^/control: dmesg: /'
inventory | sed 's/^/control: pci /'
fail=0
for what in "$@"; do
	case $what in
	pf)
		# The test host writes a region through its own nvme driver; the
		# guest must read the same bytes.
		dd if=/dev/urandom of=/tmp/pre bs=1M count=4 status=none
		dd if=/tmp/pre of=/dev/nvme0n1 bs=1M seek=4 oflag=direct status=none
		want=$(sha256sum </tmp/pre | cut -d' ' -f1)
		echo "control: image region 4-8 MiB after the host's write: $( [[ $(dd if="$IOVIRT_PT_DISK" bs=1M skip=4 count=4 status=none | sha256sum | cut -d' ' -f1) == "$want" ]] && echo same || echo DIFFERENT)"
		to_vfio $PF
		qemu_guest pf $PF vfio-nvme "iovirt.read=4:4 iovirt.write=8:4" || fail=1
		got=$(sed -n 's/^READ_SHA=//p' "$OUT/control-pf.log" | tr -d '\r')
		wrote=$(sed -n 's/^WROTE_SHA=//p' "$OUT/control-pf.log" | tr -d '\r')
		[[ $got == "$want" ]] && echo "control: pf: guest read the host's region" || { echo "control: pf: READ MISMATCH"; fail=1; }
		[[ -n $wrote && $(dd if="$IOVIRT_PT_DISK" bs=1M skip=8 count=4 status=none | sha256sum | cut -d' ' -f1) == "$wrote" ]] &&
			echo "control: pf: the guest's write is in the image" || { echo "control: pf: WRITE NOT IN IMAGE"; fail=1; }
		from_vfio $PF nvme
		;;
	vf)
		echo 0 >/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe
		echo 2 >/sys/bus/pci/devices/$PF/sriov_numvfs
		sleep 1
		for c in 1 2; do
			nvme virt-mgmt /dev/nvme0 -c $c -r 1 -a 8 -n 1 >/dev/null &&
			nvme virt-mgmt /dev/nvme0 -c $c -r 0 -a 8 -n 2 >/dev/null &&
			nvme virt-mgmt /dev/nvme0 -c $c -r 0 -a 9 -n 0 >/dev/null || echo "control: nvme virt-mgmt for controller $c failed"
		done
		inventory | grep '^0000:01' | sed 's/^/control: pci /'
		vf=$(basename "$(readlink /sys/bus/pci/devices/$PF/virtfn0)")
		to_vfio "$vf"
		qemu_guest vf "$vf" vfio-nvme "iovirt.write=16:4" || fail=1
		wrote=$(sed -n 's/^WROTE_SHA=//p' "$OUT/control-vf.log" | tr -d '\r')
		[[ -n $wrote && $(dd if="$IOVIRT_PT_DISK" bs=1M skip=16 count=4 status=none | sha256sum | cut -d' ' -f1) == "$wrote" ]] &&
			echo "control: vf: the guest's write is in the image" || { echo "control: vf: WRITE NOT IN IMAGE"; fail=1; }
		from_vfio "$vf" ""
		echo 0 >/sys/bus/pci/devices/$PF/sriov_numvfs
		;;
	e1000e)
		to_vfio $NIC
		qemu_guest e1000e $NIC vfio-e1000e "" || fail=1
		grep -q '^PING_GW=ok' "$OUT/control-e1000e.log" && echo "control: e1000e: lease and ping" || { echo "control: e1000e: NO PING"; fail=1; }
		from_vfio $NIC e1000e
		;;
	*) echo "vfio-control: unknown device '$what' (pf, vf, e1000e)" >&2; exit 2 ;;
	esac
done
exit $fail
