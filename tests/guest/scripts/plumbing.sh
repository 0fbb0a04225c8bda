# The host's plumbing goes away under a running guest (80-faults): its
# console output is never read (a paused terminal, a stuck pipe) and its
# tap is deleted while it sends. The console is not read, so the guest
# records what it saw on its second disk, vdb, one line at a time.
rec() {
	printf '%s\n' "$*" >>/tmp/rec
	dd if=/tmp/rec of=/dev/vdb bs=4096 conv=sync,fsync 2>/dev/null
}
# 32 KiB of console output: eight times what the host's 4 KiB pipe holds.
# A console that blocks would stall the guest here.
i=0
while [ $i -lt 512 ]; do
	echo "console line $i: 0123456789012345678901234567890123456789012345"
	i=$((i + 1))
done
rec CONSOLE_DONE=1
# The disk still works while the console is stuck.
dd if=/dev/urandom of=/tmp/blob bs=1M count=4 2>/dev/null
dd if=/tmp/blob of=/dev/vda bs=1M conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
[ "$(sha256sum </tmp/blob)" = "$(dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | sha256sum)" ] &&
	rec DISK_OK=1
# The tap: reachable, then the host deletes it while the guest sends.
ip link set eth0 up
ip addr add 10.98.0.2/24 dev eth0
ping -c 3 -W 5 10.98.0.1 >/dev/null 2>&1 && rec PING_BEFORE=ok
rec TAP_CAN_GO=1
i=0
while [ $i -lt 20 ]; do
	ping -c 1 -W 1 10.98.0.1 >/dev/null 2>&1
	i=$((i + 1))
done
rec NET_DONE=1
