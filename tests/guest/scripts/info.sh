# What the guest sees: CPUs, memory, clocks, serial interrupts.
echo "NPROC=$(nproc)"
echo "MEMTOTAL_KB=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
echo "DATE=$(date +%s)"
/bin/rtc-uie
echo "RTC_IRQS=$(awk '/rtc0/ {s=0; for (i=2; i<=NF && $i ~ /^[0-9]+$/; i++) s+=$i; print s}' /proc/interrupts)"
echo "TTYS0_IRQS=$(awk '/ttyS0/ {s=0; for (i=2; i<=NF && $i ~ /^[0-9]+$/; i++) s+=$i; print s}' /proc/interrupts)"
echo "PVPANIC=$(ls /sys/bus/platform/drivers/pvpanic-mmio 2>/dev/null | grep -c QEMU0001)"
# The keyboard controller (--i8042) and the driver that took its keyboard.
echo "KBD_PORT=$(ls -d /sys/bus/serio/devices/serio0 2>/dev/null | grep -c serio0)"
echo "KBD_DRIVER=$(basename "$(readlink /sys/bus/serio/devices/serio0/driver 2>/dev/null)" 2>/dev/null)"
# Where the kernel runs: at its link address unless KASLR moved it.
echo "KTEXT=$(awk '$3 == "_text" {print $1}' /proc/kallsyms)"
