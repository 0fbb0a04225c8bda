# A block device with the guest's stock driver (virtio_blk or nvme).
# Disks are found by serial: virtio-blk shows it per disk, NVMe per controller.
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
S=$(dev SCRATCH) R=$(dev RODATA) E=$(dev EXTFS) D=$(dev DISCARD)
echo "DEVS=$S,$R,$E,$D"
echo "SCRATCH_SECTORS=$(cat /sys/block/$S/size)"
echo "QUEUES=$(ls -d /sys/block/$S/mq/* | wc -l)"
MB=${MB:-64}
dd if=/dev/urandom of=/tmp/rand bs=1M count=$MB 2>/dev/null
echo "WROTE_SHA=$(sha256sum /tmp/rand | cut -d' ' -f1)"
dd if=/tmp/rand of=/dev/$S bs=1M oflag=direct 2>/dev/null && sync
echo 3 > /proc/sys/vm/drop_caches
echo "READ_SHA=$(dd if=/dev/$S bs=1M count=$MB 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "RO_FLAG=$(cat /sys/block/$R/ro)"
echo "RO_SHA=$(dd if=/dev/$R bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)"
drv=/sys/block/$S/device/driver; [ -e "$drv" ] || drv=/sys/block/$S/device/device/driver
echo "DRIVER=$(basename "$(readlink -f "$drv")")"
if dd if=/dev/zero of=/dev/$R bs=4k count=1 oflag=direct 2>/dev/null; then echo RO_WRITE=accepted; else echo RO_WRITE=refused; fi
mkdir -p /mnt/e
if mount -t ext4 /dev/$E /mnt/e; then
	for f in f1 f2 f3; do
		dd if=/dev/urandom of=/mnt/e/$f bs=64k count=8 2>/dev/null
		echo "EXT_$f=$(sha256sum /mnt/e/$f | cut -d' ' -f1)"
	done
	umount /mnt/e && echo EXT_UMOUNT=ok
fi
echo "DISCARD_MAX=$(cat /sys/block/$D/queue/discard_max_bytes)"
blkdiscard /dev/$D && echo DISCARD=ok
sync
grep -E 'virtio[0-9]+-(req|config)|IO-APIC.*virtio' /proc/interrupts | head -3 | sed 's/^/IRQ: /'
echo "MSI_IRQS=$(grep -c 'PCI-MSI' /proc/interrupts)"
