# What the guest sees: CPUs, memory, clocks, serial interrupts.
echo "NPROC=$(nproc)"
echo "MEMTOTAL_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
echo "DATE=$(date +%s)"
/bin/rtc-uie
echo "RTC_IRQS=$(awk '/rtc0/ {s=0; for (i=2; i<=NF && $i ~ /^[0-9]+$/; i++) s+=$i; print s}' /proc/interrupts)"
echo "TTYS0_IRQS=$(awk '/ttyS0/ {s=0; for (i=2; i<=NF && $i ~ /^[0-9]+$/; i++) s+=$i; print s}' /proc/interrupts)"
echo "PVPANIC=$(ls /sys/bus/platform/drivers/pvpanic-mmio 2>/dev/null | grep -c QEMU0001)"
