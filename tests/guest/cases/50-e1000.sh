# The emulated e1000 (82540EM) with the guest's stock e1000 driver, on the
# same scenarios as virtio-net: user-mode networking (DHCP, TCP download
# from a host server, hostfwd in; the MAC comes from its EEPROM) and a tap
# inside the test host (ping both ways, 16 MiB guest->host).
. tests/guest/net-checks.sh
net_user_case e1000-user e1000 52:54:00:ab:cd:02 18023 ,model=e1000
net_tap_case e1000-tap iovt1 ,model=e1000
