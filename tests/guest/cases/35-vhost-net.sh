# virtio-net on the host kernel's vhost-net (vhost=on): the tap cases of
# 30-virtio-net with the frames moved by the kernel, on one queue pair
# and on two (multiqueue tap, two vCPUs), and with INTx (pci=nomsi), where
# iovirt passes the interrupts on itself. A group of its own: a test host
# that freezes here reruns only these.
. tests/guest/net-checks.sh
net_tap_case net-tap-vhost iovt3 ",vhost=on"
net_tap_case net-tap-vhost-mq iovt4 ",vhost=on" 2
CMDLINE_SAVED=$CMDLINE
CMDLINE="$CMDLINE pci=nomsi"
net_tap_case net-tap-vhost-intx iovt5 ",vhost=on"
CMDLINE=$CMDLINE_SAVED

# A guest that panics with vhost-net running never resets the device:
# iovirt stops the rings at teardown, while the transport whose irqfds
# they signal is still whole (it once freed the transport first and then
# crashed, status 139, when a test host's guest double-faulted here).
modprobe tun 2>/dev/null
modprobe vhost_net 2>/dev/null
if ip tuntap add dev iovt6 mode tap 2>/dev/null; then
	ip link set iovt6 up
	boot vhost-panic vhost-panic --memory 384M --net tap=iovt6,vhost=on
	check vhost-panic "the guest's virtio_net driver had the NIC ($(text "$log" NIC_DRIVER))" \
		[ "$(text "$log" NIC_DRIVER)" = virtio_net ]
	check vhost-panic "the guest panicked" grep -q PANICKING "$log"
	check vhost-panic "a guest panic with vhost-net running ends iovirt with status 3 (got $status)" \
		[ "$status" -eq 3 ]
	ip link del iovt6
else
	fail "vhost-panic: cannot create a tap in the test host"
fi
