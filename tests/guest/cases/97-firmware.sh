# Firmware boot (--firmware bios): Debian's SeaBIOS boots GRUB from a real
# disk image (tools/mkbootdisk: MBR, ext4 /boot, GRUB for BIOS) on
# virtio-blk, on NVMe and on IDE, and from an El Torito ISO on the CD-ROM
# (--cdrom); GRUB boots the guest kernel with the image's own command line
# (tests/guest/firmware-guest.sh reads its scenario from it). Each guest
# reaches its init, finds what it booted from with its own driver, reads
# the files back equal (and writes 4 MiB to the disk's ext4, checked in the
# image), and powers off: status 0. A disk with no boot sector ends iovirt
# non-zero with "no bootable device" within FW_NOBOOT_LIMIT seconds.
#
# IOVIRT_FW_VMM=qemu runs the same cases under QEMU -M pc with the same
# SeaBIOS and images: the control that tells a bad image or check from an
# iovirt failure (the no-boot case then only looks for SeaBIOS's message).
# Under iovirt also: a reboot through the firmware, the ACPI
# tables against a direct kernel boot's, and a snapshot of a firmware-booted
# IDE guest restored in a new process.
T=/tmp/iovirt-fw
# shellcheck source=tests/guest/records-lib.sh
. tests/guest/records-lib.sh
FW_VMM=${IOVIRT_FW_VMM:-iovirt}
FW_BIOS=/usr/share/seabios/bios-256k.bin
# SeaBIOS retries a failed boot after 60 s (etc/boot-fail-wait): iovirt must
# stop at its first "No bootable device", well before.
FW_NOBOOT_LIMIT=45
# SeaBIOS reads an ATA disk by PIO, a sector at a time. QEMU 7.2 makes each
# sector a block-layer request of its own: GRUB's 12 MiB of kernel and
# initramfs then take minutes in the software-emulated test host (iovirt:
# 25 s for the whole case there). The control's IDE boot gets this long.
FW_QEMU_IDE_LIMIT=1200
# GRUB puts console=ttyS0 first; the rest of the tier's command line follows.
FW_ARGS=${CMDLINE#console=ttyS0 }
# An ATA driver behind the IDE disk and the CD-ROM (ata_piix for a PIIX IDE
# function, as QEMU's -M pc has).
FW_ATA='^(ata_piix|ata_generic|pata_[a-z0-9]+)$'
rm -rf "$T" && mkdir -p "$T"

# fw_modules: the ATA, SCSI disk, CD-ROM and ISO 9660 modules (with what
# they depend on, in load order) into $T/mods, for the guest's
# /lib/fw-modules: tools/mkguest's base image carries none of them.
fw_modules() {
	local kdir=build/guest/kernel ver m kind path name deps
	ver=$(basename "$(compgen -G "$kdir/lib/modules/*" | head -n1)")
	mkdir -p "$T/mods" && : >"$T/mods/order"
	for m in ata_piix ata_generic sd_mod sr_mod isofs; do
		# A here-string, not <(...): the test host has no /dev/fd.
		deps=$(modprobe -d "$kdir" -S "$ver" --show-depends "$m" 2>/dev/null) || return 1
		while read -r kind path _; do
			[ "$kind" = insmod ] || continue
			name=$(basename "$path") && name=${name%.xz} && name=${name%.zst}
			grep -qx "$name" "$T/mods/order" && continue
			case $path in
			*.xz) xz -dc "$path" >"$T/mods/$name" ;;
			*.zst) zstd -qdc "$path" >"$T/mods/$name" ;;
			*) cp "$path" "$T/mods/$name" ;;
			esac || return 1
			echo "$name" >>"$T/mods/order"
		done <<<"$deps"
	done
	[ -s "$T/mods/order" ]
}

# fw_images: the guest's initramfs, a boot disk per disk case (each with
# its own command line), the ISO (with a 1 MiB blob at /data/blob) and a
# blank disk.
fw_images() {
	local files=() m c
	fw_modules || return 1
	while read -r m; do files+=(--file "$T/mods/$m:lib/fw-modules/$m"); done <"$T/mods/order"
	tools/mkguest --script tests/guest/firmware-guest.sh "${files[@]}" \
		--file "$T/mods/order:lib/fw-modules/order" --out "$T/initrd.img" >/dev/null || return 1
	for c in virtio nvme ide; do
		tools/mkbootdisk --initrd "$T/initrd.img" --disk "$T/$c.img" \
			--cmdline "$FW_ARGS iovirt.fwcase=$c iovirt.fwmedia=disk" >/dev/null || return 1
	done
	head -c 1M /dev/urandom >"$T/blob"
	tools/mkbootdisk --initrd "$T/initrd.img" --iso "$T/cd.iso" --file "$T/blob:data/blob" \
		--cmdline "$FW_ARGS iovirt.fwcase=cdrom iovirt.fwmedia=cd" >/dev/null || return 1
	tools/mkbootdisk --initrd "$T/initrd.img" --disk "$T/reboot.img" \
		--cmdline "$FW_ARGS iovirt.fwcase=reboot iovirt.fwmedia=disk iovirt.fwreboot=1" \
		>/dev/null || return 1
	tools/mkbootdisk --initrd "$T/initrd.img" --disk "$T/snap.img" \
		--cmdline "$FW_ARGS iovirt.fwcase=snapshot iovirt.fwmedia=disk iovirt.fwticks=20" \
		>/dev/null || return 1
	truncate -s 16M "$T/blank.img"
}

# shellcheck disable=SC2054 # commas inside QEMU option values
# fw_cmd MEDIA IMAGE: the VMM's command line in FWCMD, booting IMAGE from
# MEDIA (virtio, nvme, ide: a disk; cdrom: an ISO) with 512 MiB and 1 vCPU.
fw_cmd() {
	if [ "$FW_VMM" = qemu ]; then
		FWCMD=(qemu-system-x86_64 -M pc -accel kvm -m 512 -smp 1 -nographic -no-reboot
			-nic none -bios "$FW_BIOS")
		case $1 in
		virtio | ide) FWCMD+=(-drive "file=$2,if=$1,format=raw") ;;
		nvme) FWCMD+=(-drive "file=$2,if=none,id=d0,format=raw" -device nvme,drive=d0,serial=fw0) ;;
		cdrom) FWCMD+=(-cdrom "$2" -boot d) ;;
		esac
	else
		FWCMD=(build/iovirt run --firmware bios --memory 512M --cpus 1)
		case $1 in
		cdrom) FWCMD+=(--cdrom "$2") ;;
		*) FWCMD+=(--disk "$2,if=$1,boot=on") ;;
		esac
	fi
}

# fw_boot NAME MEDIA IMAGE: boots; sets $status, $log and $secs.
fw_boot() {
	local t0 limit=300
	[ "$2" = ide ] && [ "$FW_VMM" = qemu ] && limit=$FW_QEMU_IDE_LIMIT
	fw_cmd "$2" "$3"
	log=$OUT/fw-$1.log
	t0=$(date +%s)
	timeout "$limit" "${FWCMD[@]}" </dev/null >"$log" 2>&1
	status=$?
	secs=$(($(date +%s) - t0))
	if [ "$status" -eq 124 ]; then
		echo "---- fw-$1: timed out; last lines:"; tail -20 "$log"
	fi
	echo "fw-$1: $FW_VMM exited $status after $secs s"
}

# fw_common NAME: what every boot must show.
fw_common() {
	check "fw-$1" "SeaBIOS and GRUB boot the guest, which powers off (status $status)" [ "$status" -eq 0 ]
	check "fw-$1" "the guest's init ran its test to the end" grep -q IOVIRT-TEST-EXIT=0 "$log"
	check "fw-$1" "the kernel got the image's own command line (FW_CASE=$(text "$log" FW_CASE))" \
		[ "$(text "$log" FW_CASE)" = "$1" ]
	check "fw-$1" "the kernel is the one on the image" \
		[ "$(text "$log" KERNEL_SHA)" = "$(sha256sum <build/guest/vmlinuz | cut -d' ' -f1)" ]
	check "fw-$1" "the initramfs is the one on the image" \
		[ "$(text "$log" INITRD_SHA)" = "$(sha256sum <"$T/initrd.img" | cut -d' ' -f1)" ]
}

# fw_disk NAME DRIVER-REGEX: boots $T/NAME.img from NAME's interface.
fw_disk() {
	local name=$1 img=$T/$1.img written
	fw_boot "$name" "$name" "$img"
	fw_common "$name"
	check "fw-$name" "the boot partition is found ($(text "$log" BOOT_PART)) on a PCI function bound to $(text "$log" BOOT_PCI_DRIVER)" \
		matches "$(text "$log" BOOT_PCI_DRIVER)" "$2"
	check "fw-$name" "the guest reads the disk's MBR as it is in the image" \
		[ "$(text "$log" MBR_SHA)" = "$(head -c 512 "$img" | sha256sum | cut -d' ' -f1)" ]
	check "fw-$name" "the guest wrote to the boot partition and unmounted it" grep -q BOOT_UMOUNT=ok "$log"
	check "fw-$name" "e2fsck -n finds the partition clean" e2fsck -fn "$img?offset=1048576" >/dev/null 2>&1
	written=$(debugfs -R "cat /written" "$img?offset=1048576" 2>/dev/null | sha256sum | cut -d' ' -f1)
	check "fw-$name" "the 4 MiB the guest wrote are in the image" \
		[ -n "$(text "$log" WRITTEN_SHA)" -a "$(text "$log" WRITTEN_SHA)" = "$written" ]
}

# fw_sr0: the guest found /dev/sr0 behind an ATA driver.
fw_sr0() { [ "$(text "$log" SR0)" = present ] && matches "$(text "$log" CD_PCI_DRIVER)" "$FW_ATA"; }

fw_cdrom() {
	local sectors
	fw_boot cdrom cdrom "$T/cd.iso"
	fw_common cdrom
	check fw-cdrom "the guest sees /dev/sr0 on a PCI function bound to $(text "$log" CD_PCI_DRIVER)" fw_sr0
	sectors=$(value "$log" SR0_SECTORS)
	check fw-cdrom "the CD's size is the ISO's (${sectors:-?} sectors of 512 bytes)" \
		[ "$((${sectors:-0} * 512))" = "$(stat -c %s "$T/cd.iso")" ]
	check fw-cdrom "the file on the ISO reads back equal" \
		[ "$(text "$log" BLOB_SHA)" = "$(sha256sum <"$T/blob" | cut -d' ' -f1)" ]
	check fw-cdrom "the ISO unmounts" grep -q CD_UMOUNT=ok "$log"
}

# No boot sector: iovirt stops with SeaBIOS's message, non-zero, in time.
# QEMU never stops: there only the message is looked for.
fw_noboot() {
	local t0 pid
	fw_cmd virtio "$T/blank.img"
	log=$OUT/fw-noboot.log
	t0=$(date +%s)
	if [ "$FW_VMM" = qemu ]; then
		"${FWCMD[@]}" </dev/null >"$log" 2>&1 &
		pid=$!
		for _ in $(seq $((FW_NOBOOT_LIMIT * 2))); do
			grep -qi "no bootable device" "$log" && break
			sleep 0.5
		done
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
		check fw-noboot "SeaBIOS says no bootable device within ${FW_NOBOOT_LIMIT} s ($(($(date +%s) - t0)) s)" \
			grep -qi "no bootable device" "$log"
		return
	fi
	timeout "$FW_NOBOOT_LIMIT" "${FWCMD[@]}" </dev/null >"$log" 2>&1
	status=$?
	secs=$(($(date +%s) - t0))
	check fw-noboot "a disk with no boot sector: iovirt exits non-zero within ${FW_NOBOOT_LIMIT} s (status $status, $secs s)" \
		[ "$status" -ne 0 -a "$status" -ne 124 ]
	check fw-noboot "it says there is no bootable device" grep -qi "no bootable device" "$log"
}

# A reboot goes through the firmware again (--reboot makes a new machine):
# the first boot leaves a marker and reboots, the second finds it and
# powers off. One vCPU: with two, the second boot froze the test host
# (QEMU TCG) twice in a row, after SeaBIOS had woken the AP and Linux had
# run on both vCPUs in the first boot (FW_NCPUS=2); see docs/TESTING.md.
fw_reboot() {
	log=$OUT/fw-reboot.log
	timeout 600 build/iovirt run --firmware bios --memory 512M --cpus 1 --reboot \
		--disk "$T/reboot.img,boot=on" </dev/null >"$log" 2>&1
	status=$?
	check fw-reboot "the guest rebooted into SeaBIOS and GRUB again, then powered off (status $status)" \
		[ "$status" -eq 0 ]
	check fw-reboot "SeaBIOS ran twice ($(grep -c 'SeaBIOS (version' "$log") times)" \
		[ "$(grep -c 'SeaBIOS (version' "$log")" -eq 2 ]
	check fw-reboot "the first boot rebooted, the second found its marker" \
		grep -q FW_REBOOTED=yes "$log"
}

# The ACPI tables the firmware handed over are a direct kernel boot's: the
# ones that hold no addresses (DSDT, MADT, MCFG) are byte for byte the same
# as the guest sees them (FADT and XSDT differ in where the tables are).
# The same machine: a firmware boot has the i8042 by default, a direct one
# has not, so the direct boot asks for it.
fw_acpi() {
	local dlog=$OUT/fw-direct.log t
	timeout 300 build/iovirt run --kernel build/guest/vmlinuz --initrd "$T/initrd.img" \
		--cmdline "$CMDLINE iovirt.fwcase=direct iovirt.fwmedia=none" --memory 512M --cpus 1 \
		--i8042 on --disk "$T/blank.img" </dev/null >"$dlog" 2>&1
	check fw-acpi "a direct kernel boot of the same machine runs (status $?)" \
		grep -q IOVIRT-TEST-EXIT=0 "$dlog"
	for t in DSDT APIC MCFG; do
		check fw-acpi "the guest's $t through SeaBIOS is the direct boot's" \
			[ -n "$(text "$dlog" "ACPI_${t}_SHA")" -a \
			"$(text "$dlog" "ACPI_${t}_SHA")" = "$(text "$OUT/fw-virtio.log" "ACPI_${t}_SHA")" ]
	done
}

# A machine booted through the firmware snapshots and restores as any other
# (fw_cfg, the debug console and the IDE controller through the device
# contract; the image mapped again from --firmware): paused after the guest
# booted from its IDE disk, snapshotted, killed, restored in a new process,
# where the guest goes on counting where it stopped, with no second boot.
fw_snapshot() {
	local a=$OUT/fw-snap-a.log b=$OUT/fw-snap-b.log pid last
	build/iovirt run --firmware bios --memory 512M --cpus 1 --disk "$T/snap.img,if=ide,boot=on" \
		--api-socket "$T/a.sock" </dev/null >"$a" 2>&1 &
	pid=$!
	wait_for 600 grep -q FW_SNAP_READY "$a"
	wait_for 30 grep -q FW_TICK=2 "$a"
	ctl "$T/a.sock" pause >/dev/null
	ctl "$T/a.sock" snapshot "$T/snap" >/dev/null 2>"$T/snap.err"
	check fw-snapshot "a firmware-booted guest on IDE snapshots ($(tr -d '\n' <"$T/snap.err"))" \
		[ -s "$T/snap/manifest.json" ]
	check fw-snapshot "the manifest lists fw-cfg, the debug console and the IDE controller" \
		[ "$(py "$T/snap/manifest.json" "len([x for x in j['devices'] if x['id'] in ('fw-cfg', 'debugcon', 'ide0')])")" = 3 ]
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	last=$(value "$a" FW_TICK)
	timeout 300 build/iovirt run --restore "$T/snap" </dev/null >"$b" 2>&1
	status=$?
	local first
	first=$(sed -n 's/^FW_TICK=\([0-9]*\).*/\1/p' "$b" | head -1)
	check fw-snapshot "the restored guest runs to its end and powers off (status $status)" \
		grep -q IOVIRT-TEST-EXIT=0 "$b"
	check fw-snapshot "...with iovirt's status 0" [ "$status" -eq 0 ]
	check fw-snapshot "it goes on counting after tick ${last:-?} (first after the restore: ${first:-none})" \
		[ "${first:-0}" -gt "${last:-99}" ]
	check fw-snapshot "without booting again (no SeaBIOS banner after the restore)" \
		[ "$(grep -c 'SeaBIOS (version' "$b")" -eq 0 ]
	rm -rf "$T/snap"
}

t0=$(date +%s)
if fw_images; then
	ok "fw: tools/mkbootdisk built five boot disks and an ISO ($(($(date +%s) - t0)) s)"
	fw_disk virtio '^virtio-pci$'
	fw_disk nvme '^nvme$'
	fw_disk ide "$FW_ATA"
	fw_cdrom
	fw_noboot
	if [ "$FW_VMM" = iovirt ]; then
		fw_acpi
		fw_reboot
		fw_snapshot
	fi
else
	fail "fw: tools/mkbootdisk built five boot disks and an ISO"
fi
rm -rf "$T"
