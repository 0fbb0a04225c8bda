# Write a token, flush it, announce it, then wait to be killed (SIGKILL).
# Disks are found by serial: virtio-blk shows it per disk, NVMe per controller.
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
S=$(dev SCRATCH)
# A filesystem another device model wrote, when one is attached.
X=$(dev EXTFS)
if [ -n "$X" ] && mkdir -p /mnt/x && mount -o ro -t ext4 /dev/$X /mnt/x; then
	for f in f1 f2 f3; do echo "CROSS_$f=$(sha256sum /mnt/x/$f | cut -d' ' -f1)"; done
	umount /mnt/x
fi
token="durable-$(cat /proc/sys/kernel/random/uuid)"
printf '%-512s' "$token" > /tmp/token
dd if=/tmp/token of=/dev/$S bs=512 seek=4096 conv=fsync 2>/dev/null && echo "TOKEN=$token"
sleep 600
