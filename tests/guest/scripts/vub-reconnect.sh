# A vhost-user disk whose backend process is restarted while the guest has
# the disk unbound (the device reset, its rings back with iovirt): iovirt
# connects to the new process, and the disk works again once rebound.
D=$(ls -d /sys/block/vd* | head -n 1); D=${D##*/}
pci=$(basename "$(readlink -f /sys/block/$D/device/..)")
dd if=/dev/urandom of=/tmp/first bs=1M count=16 2>/dev/null
echo "FIRST_SHA=$(sha256sum /tmp/first | cut -d' ' -f1)"
dd if=/tmp/first of=/dev/$D bs=1M oflag=direct 2>/dev/null && sync
rm -f /tmp/first
echo "$pci" > /sys/bus/pci/drivers/virtio-pci/unbind && echo "UNBOUND=$pci"
# The host kills the backend now and starts a new one 2 s later; iovirt
# looks for it every second.
sleep 10
echo "$pci" > /sys/bus/pci/drivers/virtio-pci/bind
for _ in $(seq 50); do ls -d /sys/block/vd* >/dev/null 2>&1 && break; sleep 0.2; done
D=$(ls -d /sys/block/vd* 2>/dev/null | head -n 1); D=${D##*/}
echo "REBOUND=$D"
[ -n "$D" ] || exit 0
echo 3 > /proc/sys/vm/drop_caches
echo "AGAIN_SHA=$(dd if=/dev/$D bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)"
. /lib/blk-lib.sh
blk_roundtrip "$D" 8
