# The live-migration guest (tests/guest/cases/96-migrate.sh). While the
# host migrates it from one iovirt to another and back, several times, it
# keeps four things going: numbered records ("record N", 4 KiB) in batches
# of 16 written to the virtio-blk and the NVMe disk with O_DIRECT and
# fsync, each batch read back from both (READBAD=<batch> if what comes
# back differs: read data is written into guest RAM by the device model,
# so a page the migration missed shows here), then ACK=<records>
# UP=<uptime> WALL=<date +%s>; a TCP transfer of 8 MiB to the host over
# the tap, paced over ~40 s; and /bin/dirtier, which rewrites DIRTY_MIB
# MiB of its own memory in rounds and checks each page still holds the
# round before (MEMCHECK=ok, or MEMBAD=). It goes on until the host opens
# TCP port 18098 (a connection there is the host's "stop": the guest never
# knows how long the migrations take), or BATCHES batches at most.
. /lib/blk-lib.sh
BATCHES=${BATCHES:-3000}
DIRTY_MIB=${DIRTY_MIB:-24}
R=$(ls -d /sys/block/vd* 2>/dev/null | head -1) R=${R##*/}
N=$(ls -d /sys/block/nvme*n1 2>/dev/null | head -1) N=${N##*/}
echo "DEVS=$R,$N"
echo "NIC_DRIVER=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
tcp_blob_start 18096 0.6
sender=$!
/bin/dirtier "$DIRTY_MIB" 100000 /tmp/stop-dirtier >/tmp/dirtier.out 2>&1 &
dirtier=$!
echo "SENDING"
b=0
while [ $b -lt "$BATCHES" ] && ! nc -w 2 10.99.0.1 18098 </dev/null >/dev/null 2>&1; do
	if ! records_batch $b ${R:+"$R"} ${N:+"$N"}; then
		echo "IOERR=$b"
		break
	fi
	for dev in $R $N; do
		dd if=/dev/"$dev" of=/tmp/back bs=64k skip=$b count=1 iflag=direct 2>/dev/null
		cmp -s /tmp/back /tmp/batch || echo "READBAD=$b on $dev"
	done
	b=$((b + 1))
	echo "ACK=$((b * 16)) UP=$(cut -d' ' -f1 /proc/uptime) WALL=$(date +%s)"
	sleep 0.2
done
touch /tmp/stop-dirtier
wait $dirtier
echo "DIRTIER_STATUS=$?"
cat /tmp/dirtier.out
wait $sender
echo "TCP_STATUS=$?"
