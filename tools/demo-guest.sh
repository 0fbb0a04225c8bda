# The demo guest's /test.sh (tools/demo builds it into the image): shows what
# a Debian kernel sees of iovirt's devices and does a little real I/O on each.
# Every line starts with "demo:" so the host side (and tests/demo/run) can
# pick them out of the console; KEY=value pairs are what the tests check.

say() { echo "demo: $*"; }

# The machine: vCPUs and memory.
say "kernel $(uname -r), CPUS=$(nproc), MEM_MIB=$(($(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024))"
say "clock: $(date -u '+%Y-%m-%d %H:%M:%S') UTC; CMOS RTC $(/bin/rtc-uie | grep UIE)"

# PCI: what the guest enumerated, with the driver that bound each function.
pci_name() {
	case $1 in
	0x1b36:0x0008) echo "host bridge" ;;
	0x1af4:0x1041) echo "virtio-net" ;;
	0x1af4:0x1042) echo "virtio-blk" ;;
	0x1af4:0x1043) echo "virtio-console" ;;
	0x1af4:0x1044) echo "virtio-rng" ;;
	0x8086:0x100e) echo "e1000 (82540EM)" ;;
	0x1b36:0x0010) echo "NVMe controller" ;;
	*) echo "$1" ;;
	esac
}
for d in /sys/bus/pci/devices/*; do
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
	say "pci $(basename "$d") $(pci_name "$(cat "$d/vendor"):$(cat "$d/device")"), driver ${drv:-none}"
done

# The disk: its size and serial, then 8 MiB written, flushed, dropped from
# the page cache and read back.
if [ -b /dev/vda ]; then
	sectors=$(cat /sys/block/vda/size)
	say "disk vda: DISK_MIB=$((sectors / 2048)) serial=$(cat /sys/block/vda/serial 2>/dev/null)"
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
	dd if=/tmp/pattern of=/dev/vda bs=1M conv=fsync 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	want=$(sha256sum </tmp/pattern | cut -d' ' -f1)
	got=$(dd if=/dev/vda bs=1M count=8 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	if [ "$want" = "$got" ]; then say "disk vda: wrote 8 MiB, flushed, read it back: DISK_IO=ok"
	else say "disk vda: read back differs: DISK_IO=bad"; fi
else
	say "disk: no /dev/vda: DISK_IO=missing"
fi

# The NIC: its driver, a DHCP lease from user-mode networking, a ping of
# the gateway (iovirt's slirp answers it; nothing leaves this machine).
cat >/tmp/dhcp.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "${router%% *}"
exit 0
EOS
chmod +x /tmp/dhcp.sh
if [ -e /sys/class/net/eth0 ]; then
	ip link set eth0 up
	udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 >/dev/null 2>&1
	say "nic eth0: driver=$(basename "$(readlink /sys/class/net/eth0/device/driver)")" \
		"mac=$(cat /sys/class/net/eth0/address) DHCP_ADDR=$(ip -4 addr show eth0 | awk '/inet / {print $2}')"
	gw=$(ip route | awk '/^default/ {print $3}')
	if [ -n "$gw" ] && ping -c 2 -W 5 "$gw" >/dev/null 2>&1; then say "nic eth0: gateway $gw answers ping: PING=ok"
	else say "nic eth0: no answer from the gateway: PING=bad"; fi
else
	say "nic: no eth0: DHCP_ADDR="
fi

# The entropy source.
rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
bytes=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c)
say "rng: RNG=${rng:-none}, read RNG_BYTES=$bytes bytes from /dev/hwrng"

say "powering off"
