# Emulated NVMe with the guest's stock nvme driver: the virtio-blk data
# checks, flush durability after SIGKILL, a filesystem NVMe wrote read back
# through virtio-blk, the INTx path, and shadow doorbells (Doorbell Buffer
# Config) cutting the doorbell writes per command.
T=/tmp/iovirt-nvme
. tests/guest/blk-checks.sh
blk_setup "$T"

nvme_disks() {
	echo --disk "$T/scratch.img,if=nvme,serial=SCRATCH${1-}" \
		--disk "$T/ro.img,if=nvme,readonly,serial=RODATA${1-}" \
		--disk "$T/ext.img,if=nvme,serial=EXTFS${1-}" \
		--disk "$T/discard.img,if=nvme,serial=DISCARD,aio=threads${1-}"
}
# doorbells LOG: "commands doorbell-writes-to-iovirt doorbell-writes-in-KVM"
# summed over the controllers (iovirt --verbose prints them at exit).
doorbells() {
	sed -n 's/.*nvme[0-9]*: [0-9]* commands (\([0-9]*\) I\/O), doorbell writes: \([0-9]*\) to iovirt, \([0-9]*\) in KVM.*/\1 \2 \3/p' "${1-}" |
		awk '{c += $1; u += $2; k += $3} END {print c + 0, u + 0, k + 0}'
}
# per_command "C U K": (U + K) / C with two decimals, as an integer x100.
per_command() { echo "${1-}" | awk '{ if ($1 > 0) printf "%d", ($2 + $3) * 100 / $1; else print -1 }'; }

# shellcheck disable=SC2046 # the disk options are words on purpose
boot nvme blk --cpus 2 --memory 512M --verbose --counters $(nvme_disks)
blk_checks nvme "$T" nvme 'nvme[0-9]n1'
counters_checks nvme nvme0
shadow=$(doorbells "$log")
echo "nvme: I/O commands, doorbell writes to iovirt, in KVM (shadow doorbells on): $shadow"

# The ext4 NVMe just wrote, read through virtio-blk; and NVMe flush
# durability after SIGKILL.
durable_boot nvme-durable "$T" --disk "$T/scratch.img,if=nvme,serial=SCRATCH" \
	--disk "$T/ext.img,serial=EXTFS"
for f in f1 f2 f3; do
	check nvme-durable "virtio-blk reads ext4 file $f as NVMe wrote it" \
		[ -n "$(text "$log" "CROSS_$f")" -a "$(text "$log" "CROSS_$f")" = "$(text "$OUT/nvme.log" "EXT_$f")" ]
done

# INTx (pci=nomsi) with shadow doorbells hidden: data still moves, and the
# driver rings more doorbells per command without them.
CMDLINE_SAVED=$CMDLINE
CMDLINE="$CMDLINE pci=nomsi"
# shellcheck disable=SC2046
boot nvme-nomsi blk-small --cpus 2 --memory 384M --verbose $(nvme_disks ,shadow-doorbells=off)
CMDLINE=$CMDLINE_SAVED
wrote=$(text "$log" WROTE_SHA)
check nvme-nomsi "pci=nomsi: 8 MiB round trip over INTx" [ -n "$wrote" -a "$wrote" = "$(text "$log" READ_SHA)" ]
check nvme-nomsi "pci=nomsi: no MSI interrupts in use" [ "$(value "$log" MSI_IRQS)" = 0 ]
plain=$(doorbells "$log")
echo "nvme: I/O commands, doorbell writes to iovirt, in KVM (shadow doorbells off): $plain"
with=$(per_command "$shadow") without=$(per_command "$plain")
check nvme "shadow doorbells in use: doorbell writes per 100 I/O commands $with with, $without without" \
	[ "$with" -ge 0 -a "$without" -gt 0 -a "$with" -lt "$without" ]
check nvme "without shadow doorbells every doorbell write exits to iovirt" \
	[ "$(echo "$plain" | cut -d' ' -f3)" = 0 ]
rm -rf "$T"
