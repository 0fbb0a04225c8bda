# A guest kernel panic with its virtio-net NIC up on vhost-net (35-vhost-net):
# iovirt must stop the running vhost rings at teardown and exit 3.
ip link set eth0 up
echo "NIC_DRIVER=$(basename "$(readlink /sys/class/net/eth0/device/driver)")"
echo "NIC_UP=$(cat /sys/class/net/eth0/operstate)"
echo 1 > /proc/sys/kernel/sysrq
echo "PANICKING"
echo c > /proc/sysrq-trigger
