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
