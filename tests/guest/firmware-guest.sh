# The guest of tests/guest/cases/97-firmware.sh, booted by SeaBIOS and GRUB
# from a disk (tools/mkbootdisk) or a CD: it says what it booted from and
# reads it back. Its scenario comes from the kernel command line GRUB
# passed (grub.cfg on the image):
#   iovirt.fwcase=NAME    echoed as FW_CASE= (the image's own grub.cfg ran)
#   iovirt.fwmedia=disk   the ext4 partition holding /boot/vmlinuz: mounted,
#                         its files hashed, 4 MiB written to /written
#   iovirt.fwmedia=cd     /dev/sr0: mounted (iso9660), its files hashed
#   iovirt.fwmedia=none   nothing to find (a direct kernel boot, for its ACPI)
#   iovirt.fwticks=N      at the end: FW_SNAP_READY, then FW_TICK=1..N a second
#                         apart (a snapshot is taken and restored meanwhile)
#   iovirt.fwreboot=1     (disk) the first boot leaves /rebooted on the
#                         partition and reboots; the next one says so
# Always: the CPUs it runs on and the hashes of the ACPI tables that hold no
# addresses (DSDT, MADT, MCFG), to compare with a direct kernel boot's.
# The ATA, SCSI disk, CD-ROM and ISO 9660 modules come with this image, in
# /lib/fw-modules (the group adds them: the base image has none of them).
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^iovirt\.$1=//p" | tail -1; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
echo "FW_CASE=$(arg fwcase)"
echo "FW_CMDLINE=$(cat /proc/cmdline)"
echo "FW_NCPUS=$(grep -c ^processor /proc/cpuinfo)"
for t in DSDT APIC MCFG; do
	echo "ACPI_${t}_SHA=$(sha "/sys/firmware/acpi/tables/$t")"
done
if [ -f /lib/fw-modules/order ]; then
	while read -r m; do
		insmod "/lib/fw-modules/$m" 2>/dev/null   # a built-in or loaded one fails: fine
	done </lib/fw-modules/order
fi

# pci_driver DEV: the driver of the PCI function DEV hangs off.
pci_driver() {
	local d
	d=$(readlink -f "/sys/block/$1/device")
	while [ -n "$d" ] && [ "$d" != / ]; do
		if [ "$(basename "$(readlink -f "$d/subsystem" 2>/dev/null)")" = pci ]; then
			basename "$(readlink -f "$d/driver" 2>/dev/null)"
			return
		fi
		d=$(dirname "$d")
	done
}

# wait_for TEST...: up to 20 s for a device to show (ATA probes in the
# background after insmod).
wait_for() {
	local i=0
	while [ $i -lt 40 ]; do "$@" && return 0; sleep 0.5; i=$((i + 1)); done
	return 1
}

# boot_part: the partition whose ext4 holds /boot/vmlinuz (mounted at /mnt/b).
boot_part() {
	local p
	mkdir -p /mnt/b
	for p in /sys/class/block/*; do
		[ -f "$p/partition" ] || continue
		mount -t ext4 "/dev/${p##*/}" /mnt/b 2>/dev/null || continue
		[ -f /mnt/b/boot/vmlinuz ] && { echo "${p##*/}"; return 0; }
		umount /mnt/b
	done
	return 1
}

case $(arg fwmedia) in
disk)
	part=$(wait_for boot_part)
	disk=$(basename "$(dirname "$(readlink -f "/sys/class/block/$part")")")
	if [ "$(arg fwreboot)" = 1 ]; then
		if [ -f /mnt/b/rebooted ]; then
			echo "FW_REBOOTED=yes"
		else
			echo first >/mnt/b/rebooted && sync && umount /mnt/b
			echo "FW_REBOOTING"
			reboot -f
			sleep 30
		fi
	fi
	echo "BOOT_PART=$part"
	echo "BOOT_DISK=$disk"
	echo "BOOT_PCI_DRIVER=$(pci_driver "$disk")"
	echo "MBR_SHA=$(dd if="/dev/$disk" bs=512 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
	echo "KERNEL_SHA=$(sha /mnt/b/boot/vmlinuz)"
	echo "INITRD_SHA=$(sha /mnt/b/boot/initrd.img)"
	dd if=/dev/urandom of=/mnt/b/written bs=1M count=4 2>/dev/null && sync
	echo "WRITTEN_SHA=$(sha /mnt/b/written)"
	umount /mnt/b && echo BOOT_UMOUNT=ok
	;;
cd)
	wait_for test -b /dev/sr0 && echo SR0=present
	echo "SR0_SECTORS=$(cat /sys/block/sr0/size 2>/dev/null)"
	echo "CD_PCI_DRIVER=$(pci_driver sr0)"
	mkdir -p /mnt/cd
	if mount -t iso9660 -o ro /dev/sr0 /mnt/cd; then
		echo "KERNEL_SHA=$(sha /mnt/cd/boot/vmlinuz)"
		echo "INITRD_SHA=$(sha /mnt/cd/boot/initrd.img)"
		echo "BLOB_SHA=$(sha /mnt/cd/data/blob)"
		umount /mnt/cd && echo CD_UMOUNT=ok
	fi
	;;
none) ;;
*)
	echo "FW_MEDIA=unknown ($(arg fwmedia))"
	;;
esac
ticks=$(arg fwticks)
if [ -n "$ticks" ]; then
	echo FW_SNAP_READY
	i=0
	while [ "$i" -lt "$ticks" ]; do
		sleep 1
		i=$((i + 1))
		echo "FW_TICK=$i"
	done
fi
