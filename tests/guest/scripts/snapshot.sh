# The snapshot/restore guest (tests/guest/cases/95-snapshot.sh). Three
# things go on at once while the host pauses, snapshots, kills and restores
# iovirt under it: numbered records ("record N", 4 KiB, space-padded, as
# api.sh writes them) in batches of 16 to the virtio-blk disk and the NVMe
# disk, each batch flushed on both before ACK=<records> UP=<uptime>
# WALL=<date +%s> is printed; a TCP transfer of 8 MiB to the host over the
# tap, paced over ~20 s; and the clocks, in every ACK line. It ends after
# BATCHES batches and the transfer, and powers off.
. /lib/blk-lib.sh
BATCHES=${BATCHES:-60}
R=$(ls -d /sys/block/vd* 2>/dev/null | head -1) R=${R##*/}
N=$(ls -d /sys/block/nvme*n1 2>/dev/null | head -1) N=${N##*/}
echo "DEVS=$R,$N"
echo "NIC_DRIVER=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
echo "CLOCKSOURCE=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
ip link set eth0 up
ip addr add 10.99.0.2/24 dev eth0
ping -c 3 -W 5 10.99.0.1 >/dev/null 2>&1 && echo "PING_OUT=ok"
dd if=/dev/urandom of=/tmp/blob bs=128k count=64 2>/dev/null
echo "SENT_SHA=$(sha256sum /tmp/blob | cut -d' ' -f1)"
(
	i=0
	while [ $i -lt 64 ]; do
		dd if=/tmp/blob bs=128k skip=$i count=1 2>/dev/null
		i=$((i + 1))
		sleep 0.3
	done | nc 10.99.0.1 18095 && echo "TCP_DONE=1"
) &
sender=$!
echo "SENDING"
b=0
while [ $b -lt "$BATCHES" ]; do
	if ! records_batch $b "$R" "$N"; then
		echo "IOERR=$b"
		break
	fi
	b=$((b + 1))
	echo "ACK=$((b * 16)) UP=$(cut -d' ' -f1 /proc/uptime) WALL=$(date +%s)"
	sleep 0.2
done
wait $sender
echo "TCP_STATUS=$?"
echo "CLOCKSOURCE_END=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
dmesg | grep -iE 'clocksource|clock.*unstable|watchdog' | tail -3 | sed 's/^/GUEST_DMESG=/'
