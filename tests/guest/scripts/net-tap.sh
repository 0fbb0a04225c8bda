# virtio-net on a tap the test made inside the test host: ping both ways
# and a TCP transfer each way (host->guest: large GSO frames into the
# receive buffers). The guest->host one runs on the last CPU: with one
# queue pair per CPU its frames leave by the last transmitq, and the
# host's replies come back on the last receiveq.
ip link set eth0 up
ip addr add 10.99.0.2/24 dev eth0
ping -c 3 -W 5 10.99.0.1 >/dev/null 2>&1 && echo "PING_OUT=ok"
echo "READY"
sleep 5
dd if=/dev/urandom of=/tmp/blob bs=1M count=16 2>/dev/null
echo "SENT_SHA=$(sha256sum /tmp/blob | cut -d' ' -f1)"
taskset -c $(($(nproc) - 1)) nc 10.99.0.1 18090 < /tmp/blob
rm -f /tmp/blob
# Queue pairs in use, and the interrupts of the last pair's receiveq.
pairs=$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)
last_rxq_irqs() {
	awk -v q="-input.$((pairs - 1))" 'substr($NF, length($NF) - length(q) + 1) == q {
		s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts
}
echo "QUEUES=$pairs"
echo "LAST_RXQ_IRQS=$(last_rxq_irqs)"
# With more than one pair, the host->guest transfer runs on one: the
# driver turns the others off (ethtool -L eth0 combined 1), and the last
# receiveq must get nothing more.
if [ "$pairs" -gt 1 ]; then
	set-channels eth0 1 && echo "CHANNELS=1"
fi
nc -l -p 18091 > /tmp/in &
sleep 1
echo "LISTENING_IN"
wait
echo "GOT_IN_SHA=$(sha256sum /tmp/in | cut -d' ' -f1)"
echo "OFFLOADS=$(offloads eth0)"
[ "$pairs" -gt 1 ] && echo "LAST_RXQ_IRQS_1PAIR=$(last_rxq_irqs)"
# The driver's own watchdog: a transmit the device left unfinished too long.
echo "TX_HANGS=$(dmesg | grep -c 'Tx Unit Hang')"
