# An NVMe controller passed through (the test host's PF or one of its VFs)
# with the guest's stock nvme driver. What to do comes on the kernel command
# line, offsets and sizes in MiB of the namespace:
#   iovirt.read=OFF:MB     print READ_SHA of that region
#   iovirt.write=OFF:MB    write random data there (O_DIRECT, then sync),
#                          print WROTE_SHA and, after drop_caches, READBACK_SHA
#   iovirt.phase2=OFF:N    then write N chunks of 1 MiB from OFF, a second
#                          apart, printing CHUNK_i=sha as each is on disk and
#                          PHASE2_SHA of all of them at the end (a test kills
#                          another guest meanwhile)
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^iovirt\.$1=//p" | tail -1; }
sha() { sha256sum "$@" | cut -d' ' -f1; }
# The first controller and its first namespace. The guest's nvme_core has
# multipath on, so /sys/block also lists the hidden path nvme0c0n1: take
# the block device node /dev/nvmeXn1.
c=$(ls /sys/class/nvme 2>/dev/null | head -1)
n=
[ -n "$c" ] && [ -b "/dev/${c}n1" ] && n=${c}n1
echo "NVME_DEV=$n"
if [ -z "$n" ]; then
	ls /sys/block | sed 's/^/BLOCK: /'
	for d in /sys/bus/pci/devices/*; do
		echo "PCIID: ${d##*/} $(cat "$d/vendor" "$d/device" "$d/class" | tr '\n' ' ') $(basename "$(readlink "$d/driver" 2>/dev/null)")"
	done
	dmesg | grep -iE 'nvme|pci|msi' | tail -40 | sed 's/^/DMESG: /'
	exit 1
fi
pci=$(basename "$(readlink -f "/sys/class/nvme/$c/device")")
echo "PCI=$pci"
echo "PCIID=$(cat "/sys/bus/pci/devices/$pci/vendor" "/sys/bus/pci/devices/$pci/device" | tr '\n' ' ')"
echo "DRIVER=$(basename "$(readlink -f "/sys/bus/pci/devices/$pci/driver")")"
echo "SECTORS=$(cat "/sys/block/$n/size")"
# I/O queues the driver set up ("nvme nvme0: 2/0/0 default/read/poll queues").
echo "QUEUES=$(dmesg | sed -n "s/.*nvme $c: \([0-9]*\)\/[0-9]*\/[0-9]* default\/read\/poll queues.*/\1/p" | tail -1)"
echo "MODEL=$(tr -d ' ' <"/sys/class/nvme/$c/model")"
r=$(arg read)
if [ -n "$r" ]; then
	echo "READ_SHA=$(dd if="/dev/$n" bs=1M skip="${r%:*}" count="${r#*:}" iflag=direct 2>/dev/null | sha)"
fi
w=$(arg write)
if [ -n "$w" ]; then
	dd if=/dev/urandom of=/tmp/w bs=1M count="${w#*:}" 2>/dev/null
	echo "WROTE_SHA=$(sha /tmp/w)"
	dd if=/tmp/w of="/dev/$n" bs=1M seek="${w%:*}" oflag=direct 2>/dev/null && sync && echo WRITE=ok
	echo 3 >/proc/sys/vm/drop_caches
	echo "READBACK_SHA=$(dd if="/dev/$n" bs=1M skip="${w%:*}" count="${w#*:}" 2>/dev/null | sha)"
	rm -f /tmp/w
fi
p=$(arg phase2)
if [ -n "$p" ]; then
	echo PHASE2=start
	off=${p%:*} i=0
	: >/tmp/p2
	while [ "$i" -lt "${p#*:}" ]; do
		dd if=/dev/urandom of=/tmp/c bs=1M count=1 2>/dev/null
		dd if=/tmp/c of="/dev/$n" bs=1M seek=$((off + i)) oflag=direct conv=fsync 2>/dev/null || break
		echo "CHUNK_$i=$(sha /tmp/c)"
		cat /tmp/c >>/tmp/p2
		i=$((i + 1))
		sleep 1
	done
	echo "PHASE2_CHUNKS=$i"
	echo "PHASE2_SHA=$(sha /tmp/p2)"
fi
# Interrupts: per-queue lines nvme0q0.., summed over CPUs; the vectors'
# kind from sysfs (the file msi_irqs/N says msi or msix).
grep -E 'nvme[0-9]+q[0-9]+' /proc/interrupts | sed 's/^/IRQ: /'
echo "NVME_IRQS=$(awk '/nvme[0-9]+q[0-9]+/ {for (i=2; i<=NF && $i ~ /^[0-9]+$/; i++) s+=$i} END {print s+0}' /proc/interrupts)"
echo "MSIX_VECTORS=$(cat "/sys/bus/pci/devices/$pci/msi_irqs/"* 2>/dev/null | grep -c '^msix$')"
echo "MSI_VECTORS=$(cat "/sys/bus/pci/devices/$pci/msi_irqs/"* 2>/dev/null | grep -c '^msi$')"
echo "INTX_LINES=$(grep -E 'nvme[0-9]+q[0-9]+' /proc/interrupts | grep -c 'IO-APIC')"
dmesg | grep -iE 'nvme.*(timeout|abort|reset|error|fail)' | head -5 | sed 's/^/DMESG: /'
sync
