# The vhost-user backend is killed while the guest reads from its disk and
# keeps no in-flight log (qemu-storage-daemon 7.2): the disk's device asks
# for a reset, iovirt keeps running, the guest's other disk keeps working.
bysize() { for d in /sys/block/vd*; do [ "$(cat "$d/size")" = "$1" ] && echo "${d##*/}"; done; }
V=$(bysize 131072) N=$(bysize 16384)
echo "DEVS=$V,$N"
vdev=$(basename "$(readlink -f /sys/block/$V/device)")
dd if=/dev/$V of=/dev/null bs=4k iflag=direct count=100000000 2>/dev/null &
echo "READING=$vdev"
# The host kills the backend now.
for _ in $(seq 150); do
	[ $(( $(cat /sys/bus/virtio/devices/$vdev/status) & 0x40 )) -ne 0 ] && break
	sleep 0.2
done
echo "VUB_STATUS=$(cat /sys/bus/virtio/devices/$vdev/status)"
echo 3 > /proc/sys/vm/drop_caches
echo "NATIVE_SHA=$(dd if=/dev/$N bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)"
