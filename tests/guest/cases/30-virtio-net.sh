# virtio-net: user-mode networking (DHCP, TCP to a host server through the
# slirp gateway, hostfwd into the guest), a tap inside the test host, and a
# multiqueue tap with two queue pairs on two vCPUs (vhost-net: 35-vhost-net).
. tests/guest/net-checks.sh
net_user_case net-user virtio_net 52:54:00:ab:cd:01 18022 ""
net_tap_case net-tap iovt0 ""
net_tap_case net-tap-mq iovt2 "" 2
