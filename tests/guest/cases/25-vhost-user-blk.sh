# virtio-blk on a vhost-user backend (--disk vhost-user=SOCKET): QEMU's
# qemu-storage-daemon (Debian's qemu-system-common) serves three images;
# iovirt keeps the PCI transport and hands the queues over at DRIVER_OK.
# The guest's virtio_blk driver must see the backend's disks (size,
# read-only, discard, two queues) and the data must be in the image files.
. tests/guest/blk-checks.sh
T=/tmp/iovirt-vub
rm -rf "$T" && mkdir -p "$T"
truncate -s 96M "$T/scratch.img"
dd if=/dev/urandom of="$T/ro.img" bs=1M count=8 status=none
dd if=/dev/urandom of="$T/discard.img" bs=1M count=32 status=none
ro_sha=$(sha256sum "$T/ro.img" | cut -d' ' -f1)
discard_kb_before=$(du -k "$T/discard.img" | cut -f1)
export_opts=addr.type=unix
qemu-storage-daemon \
	--blockdev "driver=file,node-name=scratch,filename=$T/scratch.img" \
	--blockdev "driver=file,node-name=ro,filename=$T/ro.img,read-only=on" \
	--blockdev "driver=file,node-name=discard,filename=$T/discard.img,discard=unmap" \
	--export "type=vhost-user-blk,id=e1,node-name=scratch,$export_opts,addr.path=$T/scratch.sock,writable=on,num-queues=2" \
	--export "type=vhost-user-blk,id=e2,node-name=ro,$export_opts,addr.path=$T/ro.sock" \
	--export "type=vhost-user-blk,id=e3,node-name=discard,$export_opts,addr.path=$T/discard.sock,writable=on" \
	>"$OUT/vub-qsd.log" 2>&1 &
qsd=$!
for _ in $(seq 60); do [ -S "$T/discard.sock" ] && break; sleep 0.5; done
check vub "qemu-storage-daemon serves the three exports" [ -S "$T/scratch.sock" -a -S "$T/ro.sock" -a -S "$T/discard.sock" ]

boot vub vhost-user-blk --cpus 2 --memory 384M --verbose \
	--disk "vhost-user=$T/scratch.sock" --disk "vhost-user=$T/ro.sock" --disk "vhost-user=$T/discard.sock"
check vub "boots with three vhost-user disks, powers off (status $status)" [ "$status" -eq 0 ]
check vub "the guest's virtio_blk driver is bound" [ "$(text "$log" DRIVER)" = virtio_blk ]
check vub "the three disks have the backend's sizes ($(text "$log" DEVS))" \
	matches "$(text "$log" DEVS)" '^vd[a-z],vd[a-z],vd[a-z]$'
check vub "two queues, as the backend exports them" [ "$(value "$log" QUEUES)" = 2 ]
roundtrip_checks vub "$T/scratch.img"
check vub "the guest reads the read-only image" [ "$(text "$log" RO_SHA)" = "$ro_sha" ]
check vub "the read-only export is read-only in the guest" [ "$(value "$log" RO_FLAG)" = 1 ]
check vub "writes to it are refused" [ "$(text "$log" RO_WRITE)" = refused ]
check vub "read-only image unchanged" [ "$(sha256sum "$T/ro.img" | cut -d' ' -f1)" = "$ro_sha" ]
after=$(du -k "$T/discard.img" | cut -f1)
check vub "discard reaches the backend (${discard_kb_before} KiB -> ${after} KiB)" \
	[ "$after" -lt $((discard_kb_before / 4)) ]
check vub "interrupts by MSI-X" in_range "$(value "$log" MSI_IRQS)" 1 1000
relayed=$(sed -n 's/.*vhost-user, queues 0-1: \([0-9]*\) interrupts relayed.*/\1/p' "$log" | tr -d '\r' | head -1)
check vub "MSI-X: the backend signals the vectors' irqfds itself (0 relayed by iovirt)" [ "$relayed" = 0 ]
kill "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null

# Reconnection: the backend process is killed and a new one started while
# the guest has the disk unbound (its rings back with iovirt); iovirt
# connects to the new process (reconnect=1, the default) and the rebound
# disk reads what was written through the old one. (Rings that run when the
# backend goes can go to a new process only with its in-flight log,
# INFLIGHT_SHMFD, which Debian's qemu-storage-daemon 7.2 does not keep:
# that case is the unit tier's, test_vhost_user's backend_restart.)
vub_serve() {
	rm -f "$T/r.sock"
	qemu-storage-daemon --blockdev "driver=file,node-name=r,filename=$T/r.img" \
		--export "type=vhost-user-blk,id=r,node-name=r,$export_opts,addr.path=$T/r.sock,writable=on" \
		>>"$OUT/vub-qsd.log" 2>&1 &
	qsd=$!
	for _ in $(seq 60); do [ -S "$T/r.sock" ] && break; sleep 0.5; done
}
truncate -s 64M "$T/r.img"
vub_serve
log=$OUT/vub-reconnect.log
timeout 300 build/iovirt run --kernel "$KERNEL" --initrd "$OUT/vub-reconnect.img" --cmdline "$CMDLINE" \
	--memory 384M --verbose --disk "vhost-user=$T/r.sock" </dev/null >"$log" 2>&1 &
vm=$!
for _ in $(seq 480); do grep -q '^UNBOUND=' "$log" && break; kill -0 "$vm" 2>/dev/null || break; sleep 0.5; done
unbound=$(text "$log" UNBOUND)
kill -KILL "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null
sleep 2
vub_serve
wait "$vm"; status=$?
check vubr "the guest unbound the disk ($unbound), the backend was killed and started again" [ -n "$unbound" ]
check vubr "boots, powers off (status $status)" [ "$status" -eq 0 ]
check vubr "iovirt saw the backend go and looks for it every second" \
	grep -q "hung up; connecting again every 1 s" "$log"
check vubr "iovirt connected to the new backend process" \
	grep -q "reconnected to the vhost-user backend at $T/r.sock" "$log"
check vubr "the disk is back in the guest after rebinding ($(text "$log" REBOUND))" \
	matches "$(text "$log" REBOUND)" '^vd[a-z]$'
first=$(text "$log" FIRST_SHA)
check vubr "16 MiB written through the old process read back through the new one" \
	[ -n "$first" -a "$first" = "$(text "$log" AGAIN_SHA)" ]
wrote=$(text "$log" WROTE_SHA)
check vubr "8 MiB round trip through the new process, in the image file" \
	[ -n "$wrote" -a "$wrote" = "$(text "$log" READ_SHA)" -a \
	  "$wrote" = "$(head -c 8M "$T/r.img" | sha256sum | cut -d' ' -f1)" ]
check vubr "one reconnection counted" grep -q "vhost-user, queues 0-0: .* 1 reconnections" "$log"
kill "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null

# The backend killed while the guest reads from its disk, with no
# in-flight log to hand its rings to a new process: the device asks for a
# reset (NEEDS_RESET in the status the guest reads), iovirt does not stop,
# and the guest's other disk (iovirt's own virtio-blk) keeps working.
dd if=/dev/urandom of="$T/native.img" bs=1M count=8 status=none
vub_serve
log=$OUT/vub-gone.log
timeout 300 build/iovirt run --kernel "$KERNEL" --initrd "$OUT/vub-gone.img" --cmdline "$CMDLINE" \
	--memory 384M --verbose --disk "vhost-user=$T/r.sock" --disk "$T/native.img,readonly" \
	</dev/null >"$log" 2>&1 &
vm=$!
for _ in $(seq 480); do grep -q '^READING=' "$log" && break; kill -0 "$vm" 2>/dev/null || break; sleep 0.5; done
reading=$(text "$log" READING)
sleep 1
kill -KILL "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null
wait "$vm"; status=$?
check vubg "the backend was killed while the guest read from its disk ($reading)" [ -n "$reading" ]
check vubg "iovirt kept running; the guest powered off (status $status)" [ "$status" -eq 0 ]
check vubg "one line says why: no in-flight log to hand the rings over" \
	grep -q "hung up (it keeps no in-flight log" "$log"
vub_status=$(text "$log" VUB_STATUS)
needs_reset_bit() { [ -n "$1" ] && [ $(($1 & 0x40)) -ne 0 ]; }
check vubg "the guest reads NEEDS_RESET in the disk's device status ($vub_status)" \
	needs_reset_bit "$vub_status"
check vubg "the other disk still reads what its image holds" \
	[ "$(text "$log" NATIVE_SHA)" = "$(sha256sum "$T/native.img" | cut -d' ' -f1)" ]
rm -rf "$T"
