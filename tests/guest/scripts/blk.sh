# A block device with the guest's stock driver (virtio_blk or nvme).
# Disks are found by serial: virtio-blk shows it per disk, NVMe per controller.
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
S=$(dev SCRATCH) R=$(dev RODATA) E=$(dev EXTFS) D=$(dev DISCARD)
echo "DEVS=$S,$R,$E,$D"
echo "SCRATCH_SECTORS=$(cat /sys/block/$S/size)"
echo "QUEUES=$(ls -d /sys/block/$S/mq/* | wc -l)"
. /lib/blk-lib.sh
blk_roundtrip "$S" "${MB:-64}"
blk_readonly "$R"
blk_driver "$S"
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
