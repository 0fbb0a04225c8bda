# virtio-blk: data round trip, ext4, read-only, discard, serial, multiqueue,
# durability after SIGKILL, and the INTx path (pci=nomsi).
T=/tmp/iovirt-blk
mkdir -p "$T"
truncate -s 96M "$T/scratch.img"
dd if=/dev/urandom of="$T/ro.img" bs=1M count=8 status=none
ro_sha=$(sha256sum "$T/ro.img" | cut -d' ' -f1)
truncate -s 64M "$T/ext.img" && mkfs.ext4 -q -F "$T/ext.img"
dd if=/dev/urandom of="$T/discard.img" bs=1M count=32 status=none
discard_kb_before=$(du -k "$T/discard.img" | cut -f1)

boot blk blk --cpus 2 --memory 512M \
	--disk "$T/scratch.img,serial=SCRATCH" --disk "$T/ro.img,readonly,serial=RODATA" \
	--disk "$T/ext.img,serial=EXTFS" --disk "$T/discard.img,serial=DISCARD,aio=threads"
check blk "boots with four disks, powers off (status $status)" [ "$status" -eq 0 ]
check blk "the four disks are found by serial ($(text "$log" DEVS))" \
	matches "$(text "$log" DEVS)" '^vd[a-z],vd[a-z],vd[a-z],vd[a-z]$'
check blk "scratch disk size is 96 MiB" [ "$(value "$log" SCRATCH_SECTORS)" = $((96 * 2048)) ]
check blk "one queue per vCPU" [ "$(value "$log" QUEUES)" = 2 ]
wrote=$(text "$log" WROTE_SHA)
check blk "64 MiB read back after drop_caches match what was written" \
	[ -n "$wrote" -a "$wrote" = "$(text "$log" READ_SHA)" ]
check blk "the image file holds the same 64 MiB" \
	[ "$wrote" = "$(head -c 64M "$T/scratch.img" | sha256sum | cut -d' ' -f1)" ]
check blk "read-only disk is read-only in the guest" [ "$(value "$log" RO_FLAG)" = 1 ]
check blk "writes to the read-only disk are refused" [ "$(text "$log" RO_WRITE)" = refused ]
check blk "read-only image unchanged" [ "$(sha256sum "$T/ro.img" | cut -d' ' -f1)" = "$ro_sha" ]
check blk "ext4 unmounted cleanly in the guest" grep -q EXT_UMOUNT=ok "$log"
check blk "e2fsck -n finds the guest's ext4 clean" e2fsck -fn "$T/ext.img" >/dev/null 2>&1
for f in f1 f2 f3; do
	check blk "ext4 file $f read on the host matches the guest's" \
		[ "$(debugfs -R "cat /$f" "$T/ext.img" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$(text "$log" "EXT_$f")" ]
done
discard_kb_after=$(du -k "$T/discard.img" | cut -f1)
check blk "discard offered and done" grep -q DISCARD=ok "$log"
check blk "discard freed the image's blocks (${discard_kb_before} KiB -> ${discard_kb_after} KiB)" \
	[ "$discard_kb_after" -lt $((discard_kb_before / 4)) ]
check blk "interrupts arrive by MSI-X" in_range "$(value "$log" MSI_IRQS)" 1 1000

# Durability: data flushed by the guest is in the image after SIGKILL.

log=$OUT/durable.log
build/iovirt run --kernel "$KERNEL" --initrd "$OUT/durable.img" --cmdline "$CMDLINE" \
	--memory 384M --disk "$T/scratch.img,serial=SCRATCH" </dev/null >"$log" 2>&1 &
pid=$!
for _ in $(seq 240); do grep -q '^TOKEN=' "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
token=$(text "$log" TOKEN)
check durable "guest flushed a token" [ -n "$token" ]
check durable "token is in the image after SIGKILL" \
	[ -n "$token" -a "$(dd if="$T/scratch.img" bs=512 skip=4096 count=1 status=none | tr -d ' ')" = "$token" ]

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
rm -rf "$T"
