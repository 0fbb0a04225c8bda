# virtio-blk: data round trip, ext4, read-only, discard, serial, multiqueue,
# durability after SIGKILL, and the INTx path (pci=nomsi).
T=/tmp/iovirt-blk
. tests/guest/blk-checks.sh
blk_setup "$T"

boot blk blk --cpus 2 --memory 512M --counters \
	--disk "$T/scratch.img,serial=SCRATCH" --disk "$T/ro.img,readonly,serial=RODATA" \
	--disk "$T/ext.img,serial=EXTFS" --disk "$T/discard.img,serial=DISCARD,aio=threads"
blk_checks blk "$T" virtio_blk 'vd[a-z]'
counters_checks blk virtio-blk0

# Durability: data flushed by the guest is in the image after SIGKILL.

durable_boot durable "$T" --disk "$T/scratch.img,serial=SCRATCH"

# INTx: the same data path with MSI disabled in the guest.
CMDLINE_SAVED=$CMDLINE
CMDLINE="$CMDLINE pci=nomsi"
boot nomsi blk-small --memory 384M \
	--disk "$T/scratch.img,serial=SCRATCH" --disk "$T/ro.img,readonly,serial=RODATA" \
	--disk "$T/ext.img,serial=EXTFS" --disk "$T/discard.img,serial=DISCARD"
CMDLINE=$CMDLINE_SAVED
wrote=$(text "$log" WROTE_SHA)
check nomsi "pci=nomsi: 8 MiB round trip over INTx" [ -n "$wrote" -a "$wrote" = "$(text "$log" READ_SHA)" ]
check nomsi "pci=nomsi: no MSI interrupts in use" [ "$(value "$log" MSI_IRQS)" = 0 ]

# merge=off: every request its own backend I/O (thread pool), same data.
boot nomerge blk-small --memory 384M \
	--disk "$T/scratch.img,serial=SCRATCH,merge=off,aio=threads" --disk "$T/ro.img,readonly,serial=RODATA" \
	--disk "$T/ext.img,serial=EXTFS" --disk "$T/discard.img,serial=DISCARD"
wrote=$(text "$log" WROTE_SHA)
check nomerge "merge=off: 8 MiB round trip" [ -n "$wrote" -a "$wrote" = "$(text "$log" READ_SHA)" ]
check nomerge "merge=off: the 8 MiB are in the image" \
	[ "$wrote" = "$(head -c 8M "$T/scratch.img" | sha256sum | cut -d' ' -f1)" ]
rm -rf "$T"
