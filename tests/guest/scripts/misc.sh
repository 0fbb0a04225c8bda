# virtio-console (hvc0 over a UNIX socket) and virtio-rng.
echo "RNG=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "RNG_BYTES=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c)"
echo "RNG_DISTINCT=$(dd if=/dev/hwrng bs=16 count=2 2>/dev/null | od -An -tx1 | tr -s ' \n' '\n\n' | sort -u | wc -l)"
echo "hello-from-hvc0" > /dev/hvc0
read -r line < /dev/hvc0
echo "HVC_IN=$line"
