# virtio-blk disks served by a vhost-user backend (qemu-storage-daemon),
# found by size: the backend gives every disk the same serial.
bysize() { for d in /sys/block/vd*; do [ "$(cat "$d/size")" = "$1" ] && echo "${d##*/}"; done; }
S=$(bysize 196608) R=$(bysize 16384) D=$(bysize 65536)
echo "DEVS=$S,$R,$D"
echo "QUEUES=$(ls -d /sys/block/$S/mq/* | wc -l)"
. /lib/blk-lib.sh
blk_driver "$S"
blk_roundtrip "$S" 64
blk_readonly "$R"
blkdiscard /dev/$D && echo DISCARD=ok
sync
echo "MSI_IRQS=$(grep -c 'PCI-MSI' /proc/interrupts)"
