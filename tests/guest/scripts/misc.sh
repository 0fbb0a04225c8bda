# virtio-console (hvc0 over a UNIX socket) and virtio-rng.
echo "RNG=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "RNG_BYTES=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c)"
echo "RNG_DISTINCT=$(dd if=/dev/hwrng bs=16 count=2 2>/dev/null | od -An -tx1 | tr -s ' \n' '\n\n' | sort -u | wc -l)"
# Keep hvc0 open across both directions: input that arrives while no one
# has the tty open is discarded by the tty layer.
exec 3<>/dev/hvc0
stty -F /dev/hvc0 -echo 2>/dev/null
echo "hello-from-hvc0" >&3
read -r line <&3
echo "HVC_IN=$line"
exec 3<&-
