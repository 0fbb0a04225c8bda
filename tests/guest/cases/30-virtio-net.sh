# virtio-net: user-mode networking (DHCP, TCP to a host server through the
# slirp gateway, hostfwd into the guest), a tap inside the test host, and a
# multiqueue tap with two queue pairs on two vCPUs; the last two again with
# the kernel's vhost-net moving the frames, and vhost with INTx (pci=nomsi).
. tests/guest/net-checks.sh
net_user_case net-user virtio_net 52:54:00:ab:cd:01 18022 ""
net_tap_case net-tap iovt0 ""
net_tap_case net-tap-mq iovt2 "" 2
net_tap_case net-tap-vhost iovt3 ",vhost=on"
net_tap_case net-tap-vhost-mq iovt4 ",vhost=on" 2
CMDLINE_SAVED=$CMDLINE
CMDLINE="$CMDLINE pci=nomsi"
net_tap_case net-tap-vhost-intx iovt5 ",vhost=on"
CMDLINE=$CMDLINE_SAVED
