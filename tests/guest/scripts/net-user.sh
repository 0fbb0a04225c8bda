# A NIC on user-mode networking: DHCP, ping the gateway, TCP to the host, hostfwd in.
cat > /tmp/dhcp.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "${router%% *}"
exit 0
EOS
chmod +x /tmp/dhcp.sh
ip link set eth0 up
echo "MAC=$(cat /sys/class/net/eth0/address)"
echo "DRIVER=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 >/dev/null 2>&1
echo "LEASE=$(ip -4 addr show eth0 | awk '/inet / {print $2}')"
echo "CARRIER=$(cat /sys/class/net/eth0/carrier)"
ip route | sed 's/^/ROUTE: /'
ip link show eth0 | sed 's/^/LINK: /'
ping -c 2 -W 5 10.0.2.2 >/dev/null 2>&1 && echo PING_GW=ok
wget -q -O /tmp/got "http://10.0.2.2:18080/blob" && echo "GOT_SHA=$(sha256sum /tmp/got | cut -d' ' -f1)"
nc -l -p 8080 > /tmp/fwd &
sleep 1
echo "LISTENING"
wait
echo "FWD_SHA=$(sha256sum /tmp/fwd | cut -d' ' -f1)"
