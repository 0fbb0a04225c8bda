# Numbered records for the durability checks (tests/guest/cases/80-faults.sh):
# batches of 16 4 KiB records ("record N", space-padded) written in order to
# the RECORDS disk, each batch flushed (fsync) before ACK=<records so far>
# is printed. The first failure prints IOERR=<batch> and ends the writing;
# then a GOOD disk, if any, must still work.
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
R=$(dev RECORDS) G=$(dev GOOD)
echo "DEVS=$R,$G"
batches=$(($(cat /sys/block/$R/size) / 128))
b=0
while [ $b -lt $batches ]; do
	i=$((b * 16))
	while [ $i -lt $((b * 16 + 16)) ]; do printf '%-4095s\n' "record $i"; i=$((i + 1)); done >/tmp/batch
	if ! dd if=/tmp/batch of=/dev/$R bs=64k seek=$b oflag=direct conv=fsync 2>/dev/null; then
		echo "IOERR=$b"
		break
	fi
	b=$((b + 1))
	echo "ACK=$((b * 16))"
done
[ $b -eq $batches ] && echo RECORDS_FULL=1
if [ -n "$G" ]; then
	dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null
	dd if=/tmp/r of=/dev/$G bs=1M oflag=direct conv=fsync 2>/dev/null &&
		[ "$(dd if=/dev/$G bs=1M count=1 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/r)" ] &&
		echo OTHER_DISK=ok
fi
