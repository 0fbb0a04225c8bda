# A guest kernel panic must end iovirt with a non-zero status.
echo 1 > /proc/sys/kernel/sysrq
echo "PANICKING"
echo c > /proc/sysrq-trigger
