# /test.sh of the bench/io-models guest (busybox sh; @FIO_RT@ is filled in
# by bench/io-models). One fio job, the same on every disk in turn: 4k
# random read, iodepth 32, direct. Which disk is which it tells by serial:
#   ide             an sd* (ata_piix, sd_mod) whose serial is IOMODEL-IDE
#                   (libata's VPD page 80h), else whose model is iovirt's
#                   "IOVIRT HARDDISK"
#   virtio-blk      a vd* whose serial is IOMODEL-VIRTIO (iovirt's own)
#   vhost-user-blk  any other vd* (qemu-storage-daemon gives none)
#   nvme            an nvme* controller whose serial is IOMODEL-NVME
#   vfio            an nvme* controller whose serial is pf0 (the test
#                   host's NVMe PF, passed through)
# Talks to bench/io-models over the console:
#   IOVIRT-BENCH-MARK <model>-start|<model>-end
#                        the host samples iovirt's counters when it sees
#                        this; the guest then waits 1 s, so the sample is
#                        taken before the next step starts (the end sample
#                        also before the results are printed)
#   BENCH-RESULT <model> key=value
#   BENCH-ERROR <model> text
# The ATA and SCSI disk modules come in /lib/io-models (bench/io-models
# adds them, in load order: the base image has none of them).
FIO_RT=@FIO_RT@
MODELS="ide virtio-blk nvme vhost-user-blk vfio"

mark() { echo "IOVIRT-BENCH-MARK $1"; sleep 1; }

# dev_of MODEL: the block device of that model (empty if it is not here).
dev_of() {
	for b in /sys/block/vd* /sys/block/nvme*n1 /sys/block/sd*; do
		[ -e "$b" ] || continue
		n=${b##*/}
		case $n in
		nvme*c*) continue ;;   # a multipath path, not the disk
		vd*) s=$(cat "$b/serial" 2>/dev/null)
			if [ "$s" = IOMODEL-VIRTIO ]; then m=virtio-blk; else m=vhost-user-blk; fi ;;
		nvme*) s=$(tr -d ' ' < "$b/device/serial" 2>/dev/null)
			case $s in IOMODEL-NVME) m=nvme ;; pf0) m=vfio ;; *) m= ;; esac ;;
		sd*) m=
			if grep -q IOMODEL-IDE "$b/device/vpd_pg80" 2>/dev/null; then
				m=ide
			else
				case $(cat "$b/device/model" 2>/dev/null) in "IOVIRT HARDDISK"*) m=ide ;; esac
			fi ;;
		esac
		[ "$m" = "$1" ] && { echo "/dev/$n"; return; }
	done
}

# ata_piix probes its ports in the background: up to 20 s for the disk.
if [ -f /lib/io-models/order ]; then
	while read -r m; do
		insmod "/lib/io-models/$m" 2>/dev/null   # a built-in or loaded one fails: fine
	done </lib/io-models/order
	i=0
	while [ $i -lt 40 ] && [ -z "$(dev_of ide)" ]; do sleep 0.5; i=$((i + 1)); done
else
	echo "BENCH-ERROR ide no /lib/io-models/order: the image has no ata_piix or sd_mod"
fi

# The engine: libaio, else io_uring (decided on the first disk).
ENGINE=
for model in $MODELS; do
	dev=$(dev_of "$model")
	if [ -z "$dev" ]; then
		echo "BENCH-RESULT $model absent=1"
		continue
	fi
	echo "BENCH-RESULT $model dev=$dev"
	mark "$model-start"
	for e in ${ENGINE:-libaio io_uring}; do
		fio --name="$model" --filename="$dev" --direct=1 --ioengine="$e" --rw=randread --bs=4k \
			--iodepth=32 --runtime="$FIO_RT" --time_based --thread \
			--output-format=terse --terse-version=3 >/tmp/fio.out 2>/tmp/fio.err
		rc=$?
		[ "$rc" -eq 0 ] && { ENGINE=$e; break; }
		[ -n "$ENGINE" ] && break
	done
	mark "$model-end"
	if [ "$rc" -ne 0 ]; then
		echo "BENCH-ERROR $model fio exited $rc: $(tail -n 3 /tmp/fio.err | tr '\n' ' ')"
		continue
	fi
	# Terse v3: 6 read KiB, 8 read IOPS, 9 read runtime (ms).
	awk -F';' -v m="$model" -v e="$ENGINE" '
		$1 == "3" {
			printf "BENCH-RESULT %s engine=%s iops=%s ios=%d runtime_ms=%s\n", m, e, $8, $6 / 4, $9
			found = 1
		}
		END { if (!found) print "BENCH-ERROR " m " no terse line in fio output" }
	' /tmp/fio.out
done
grep -E "virtio|nvme|ata_piix" /proc/interrupts | tr -s ' ' | sed 's/^/guest-irq: /'
# How the IDE disk was found and driven: its identity in sysfs and the
# transfer mode libata set (a DMA mode, or PIO if bus-master DMA failed).
dev=$(dev_of ide)
if [ -n "$dev" ]; then
	b=/sys/block/${dev#/dev/}/device
	echo "guest-ata: $dev vendor='$(cat "$b/vendor")' model='$(cat "$b/model")'" \
		"vpd_pg80_serial=$(grep -q IOMODEL-IDE "$b/vpd_pg80" 2>/dev/null && echo yes || echo no)"
	for x in /sys/class/ata_device/dev*; do   # the attached ones: class ata
		[ "$(cat "$x/class" 2>/dev/null)" = ata ] && echo "guest-ata: ${x##*/} $(cat "$x/xfer_mode")"
	done
	dmesg | grep -E "ata[0-9].*(configured for|DMA)" | sed 's/^/guest-ata: /'
fi
exit 0
