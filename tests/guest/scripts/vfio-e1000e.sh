# An e1000e passed through with the guest's stock e1000e driver: DHCP from
# the test host's QEMU user-mode network, ping its gateway 10.0.2.2.
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "${router%% *}"
exit 0
EOS
chmod +x /tmp/dhcp.sh
i=
for d in /sys/class/net/*; do
	[ "$(basename "$(readlink -f "$d/device/driver" 2>/dev/null)")" = e1000e ] && i=${d##*/} && break
done
echo "IFACE=$i"
if [ -z "$i" ]; then
	for d in /sys/bus/pci/devices/*; do
		echo "PCIID: ${d##*/} $(cat "$d/vendor" "$d/device" "$d/class" | tr '\n' ' ') $(basename "$(readlink "$d/driver" 2>/dev/null)")"
	done
	dmesg | grep -iE 'e1000e|pci|msi' | tail -40 | sed 's/^/DMESG: /'
	exit 1
fi
pci=$(basename "$(readlink -f "/sys/class/net/$i/device")")
echo "PCI=$pci"
echo "DRIVER=$(basename "$(readlink -f "/sys/class/net/$i/device/driver")")"
echo "MAC=$(cat "/sys/class/net/$i/address")"
ip link set "$i" up
# The link comes up a moment after: give it a few seconds.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ "$(cat "/sys/class/net/$i/carrier" 2>/dev/null)" = 1 ] && break; sleep 1; done
echo "CARRIER=$(cat "/sys/class/net/$i/carrier")"
udhcpc -i "$i" -s /tmp/dhcp.sh -q -n -t 10 >/dev/null 2>&1
echo "LEASE=$(ip -4 addr show "$i" | awk '/inet / {print $2}')"
ping -c 3 -W 5 10.0.2.2 >/tmp/ping 2>&1 && echo PING_GW=ok
sed 's/^/PING: /' /tmp/ping
grep -E "$i" /proc/interrupts | sed 's/^/IRQ: /'
echo "NET_IRQS=$(awk -v i="$i" '$0 ~ i {for (k=2; k<=NF && $k ~ /^[0-9]+$/; k++) s+=$k} END {print s+0}' /proc/interrupts)"
echo "MSIX_VECTORS=$(cat "/sys/bus/pci/devices/$pci/msi_irqs/"* 2>/dev/null | grep -c '^msix$')"
dmesg | grep -iE 'e1000e.*(hang|error|fail|timeout)' | head -5 | sed 's/^/DMESG: /'
