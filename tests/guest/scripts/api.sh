# The control plane's guest (tests/guest/cases/90-api.sh). busybox acpid
# acts on the ACPI power button (the button and evdev modules make it
# KEY_POWER on /dev/input/event*; acpid's default map runs
# /etc/acpi/PWRF/00000080). Meanwhile numbered records ("record N", 4 KiB,
# space-padded, as records.sh writes them) go in batches of 16 to two
# disks, RECORDS (virtio-blk) and RECORDS2 (NVMe); each batch is flushed on
# both (fsync) before ACK=<records so far> UP=<uptime> is printed, and the
# writing is paced to last until the host presses the power button. Then
# the script ends and /init syncs and powers off: a clean shutdown.
. /lib/blk-lib.sh
dev() { for d in /sys/block/vd* /sys/block/nvme*n1; do [ "$(cat "$d/serial" "$d/device/serial" 2>/dev/null | tr -d ' ')" = "$1" ] && echo "${d##*/}"; done; }
# pci DEV: the PCI address of the function behind a block device.
pci() { readlink -f "/sys/block/$1" | grep -o '[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-7]' | tail -1; }

grep -q 'Name="Power Button"' /proc/bus/input/devices && echo POWER_BUTTON_INPUT=1
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\ntouch /tmp/power-button\n' >/etc/acpi/PWRF/00000080
chmod 755 /etc/acpi/PWRF/00000080
# No action or map file: acpid's built-in defaults (KEY_POWER -> PWRF).
acpid -d -c /etc/acpi -a /etc/acpid.none -M /etc/acpi.none -p /tmp/acpid.pid 2>/tmp/acpid.log &
acpid=$!
sleep 1
kill -0 $acpid 2>/dev/null && echo ACPID=running

R=$(dev RECORDS) N=$(dev RECORDS2)
echo "DEVS=$R,$N"
echo "PCI_BLK=$(pci "$R")"
echo "PCI_NVME=$(pci "$N")"
echo "CLOCKSOURCE=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
batches=$(($(cat /sys/block/"$R"/size) / 128))
b=0
while [ $b -lt $batches ] && [ ! -e /tmp/power-button ]; do
	if ! records_batch $b "$R" "$N"; then
		echo "IOERR=$b"
		break
	fi
	b=$((b + 1))
	echo "ACK=$((b * 16)) UP=$(cut -d' ' -f1 /proc/uptime)"
	sleep 0.1
done
[ $b -eq $batches ] && echo RECORDS_FULL=1
# Out of room or failed: the power button is still the way out.
t=0
while [ ! -e /tmp/power-button ] && [ $t -lt 1200 ]; do sleep 0.25; t=$((t + 1)); done
if [ -e /tmp/power-button ]; then echo POWER_BUTTON=1; else echo POWER_BUTTON=0; fi
echo "ACPID_LOG=$(tr '\n' ' ' </tmp/acpid.log)"
kill $acpid 2>/dev/null || true
