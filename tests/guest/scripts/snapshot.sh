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
tcp_blob_start 18095 0.3
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
