# Disk faults (tests/guest/cases/80-faults.sh): the second half of FAULTY
# is dm-error on the host; GOOD is a plain image. Reads and writes there
# must fail, the first half and the other disk keep working.
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
F=$(dev FAULTY) G=$(dev GOOD)
echo "DEVS=$F,$G"
bad=$(($(cat /sys/block/$F/size) / 2 / 8)) # first 4 KiB block of the bad half
dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null
want=$(sha256sum /tmp/r | cut -d' ' -f1)
sha() { dd if=/dev/$1 bs=1M count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }
result() { if "$@" 2>/dev/null; then echo ok; else echo error; fi; }

echo "GOOD_HALF_WRITE=$(result dd if=/tmp/r of=/dev/$F bs=1M oflag=direct conv=fsync)"
[ "$(sha $F)" = "$want" ] && echo GOOD_HALF_READ=ok
# Read before writing: a write would leave the host's page cache holding it.
echo "BAD_READ=$(result dd if=/dev/$F of=/dev/null bs=4k skip=$bad count=1 iflag=direct)"
echo "BAD_WRITE=$(result dd if=/tmp/r of=/dev/$F bs=4k seek=$bad count=1 oflag=direct conv=fsync)"
# iovirt is still there, and its other disk unaffected.
echo "OTHER_WRITE=$(result dd if=/tmp/r of=/dev/$G bs=1M oflag=direct conv=fsync)"
[ "$(sha $G)" = "$want" ] && echo OTHER_READ=ok
echo FAULTS_DONE=1
