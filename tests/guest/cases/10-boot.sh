# The foundation: CPUs, memory, clocks, legacy devices, exit statuses.
# What the guest sees, with 1 and 2 vCPUs; the 1-vCPU guest boots the way
# iovirt boots by default (the kernel decompressed by iovirt, no keyboard
# controller), the 2-vCPU one the other way (the bzImage's own decompressor,
# the i8042), so both settings of each boot switch pass every check here.
for cpus in 1 2; do
	name=info-cpus$cpus
	mem_mib=$((256 * cpus + 128))
	boot_opts=()
	[ "$cpus" = 2 ] && boot_opts=(--kernel-decompress guest --i8042 on)
	boot "$name" info --cpus "$cpus" --memory "${mem_mib}M" --boot-trace "${boot_opts[@]}"
	check "$name" "poweroff ends iovirt with status 0 (got $status)" [ "$status" -eq 0 ]
	if [ "$cpus" = 1 ]; then
		check "$name" "no keyboard controller: the guest found no serio port" \
			[ "$(value "$log" KBD_PORT)" = 0 ]
		check "$name" "kernel decompressed by iovirt runs at its link address (_text $(text "$log" KTEXT))" \
			[ "$(text "$log" KTEXT)" = ffffffff81000000 ]
	else
		check "$name" "--i8042 on: the guest's atkbd drives the keyboard (driver '$(text "$log" KBD_DRIVER)')" \
			[ "$(text "$log" KBD_DRIVER)" = atkbd ]
	fi
	# --boot-trace: iovirt's phases in order, then init's code on port 0x80.
	trace=$(grep -ao "boot-trace: [a-z0-9-]*" "$log" | awk '{print $2}' | tr '\n' ' ')
	check "$name" "--boot-trace lists the phases in order ($trace)" \
		matches "$trace" "^options vm-created devices kvm-probed kernel-loaded vcpu-entry guest-first-io .*guest-0x60 $"
	grep -ao "boot-trace: .* at *[0-9.]* ms" "$log" | sed 's/.* at *//; s/ ms$//' >"$OUT/$name.trace"
	check "$name" "--boot-trace times only grow ($(tr '\n' ' ' <"$OUT/$name.trace"))" \
		awk 'NR > 1 && $1 < last { bad = 1 } { last = $1 } END { exit bad || NR == 0 }' "$OUT/$name.trace"
	check "$name" "guest counts $cpus CPUs" [ "$(value "$log" NPROC)" = "$cpus" ]
	memkb=$(value "$log" MEMTOTAL_KB)
	check "$name" "MemTotal ${memkb:-?} kB is within what the kernel keeps of ${mem_mib} MiB" \
		in_range "$memkb" $((mem_mib * 1024 * 80 / 100)) $((mem_mib * 1024))
	gdate=$(value "$log" DATE)
	check "$name" "guest date is within 10 s of the host's" in_range "$gdate" $((host_end - 10)) "$host_end"
	rtc=$(value "$log" RTC_EPOCH)
	check "$name" "RTC time is within 10 s of the host's" in_range "$rtc" $((host_end - 10)) "$host_end"
	check "$name" "RTC update interrupts arrive" [ "$(value "$log" RTC_UIE_IRQS)" = 2 ]
	check "$name" "ttyS0 interrupts count (${ttys:=$(value "$log" TTYS0_IRQS)})" in_range "$ttys" 1 100000000
	unset ttys
	check "$name" "pvpanic device bound by the guest's driver" [ "$(value "$log" PVPANIC)" = 1 ]
done

# Guest RAM from hugetlbfs (reserve 2 MiB pages for it first).
echo 200 >/proc/sys/vm/nr_hugepages
( while sleep 1; do
	free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
	rsvd=$(awk '/^HugePages_Rsvd/ {print $2}' /proc/meminfo)
	[ "$free" -lt 200 ] || [ "$rsvd" -gt 0 ] && echo "HUGEPAGES_USED=1" >"$OUT/hugepages.seen"
done ) &
sampler=$!
rm -f "$OUT/hugepages.seen"
# This boot also takes a vmlinux (ELF) as its kernel: iovirt extract-vmlinux
# writes the one inside the bzImage, and iovirt run enters it directly.
bzimage=$KERNEL
build/iovirt extract-vmlinux "$KERNEL" "$OUT/vmlinux" && KERNEL=$OUT/vmlinux
boot hugepages info --memory 384M --hugepages
KERNEL=$bzimage
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
cat "$OUT/hugepages.seen" >>"$log" 2>/dev/null
check hugepages "extract-vmlinux wrote the bzImage's vmlinux (an ELF)" \
	[ "$(head -c 4 "$OUT/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]
check hugepages "boots the vmlinux and powers off on hugepages (status $status)" [ "$status" -eq 0 ]
check hugepages "the vmlinux runs at its link address (_text $(text "$log" KTEXT))" \
	[ "$(text "$log" KTEXT)" = ffffffff81000000 ]
rm -f "$OUT/vmlinux"
check hugepages "guest counts its memory" in_range "$(value "$log" MEMTOTAL_KB)" $((384 * 1024 * 80 / 100)) $((384 * 1024))
check hugepages "guest RAM came from hugepages" grep -q "HUGEPAGES_USED=" "$log"
echo 0 >/proc/sys/vm/nr_hugepages

boot panic panic --memory 384M
check panic "guest panic ends iovirt with status 3 (got $status)" [ "$status" -eq 3 ]
check panic "iovirt says the guest panicked" grep -q "guest kernel panicked" "$log"

boot reboot reboot --memory 384M --shared-memory
check reboot "guest reboot ends iovirt with status 0 (got $status)" [ "$status" -eq 0 ]
check reboot "the guest got to reboot" grep -q REBOOTING "$log"

# --reboot restarts the VM; SIGTERM then stops iovirt cleanly (status 1,
# one line saying so).
log=$OUT/reboot-restart.log
build/iovirt run --kernel "$KERNEL" --initrd "$OUT/reboot.img" --cmdline "$CMDLINE" \
	--memory 384M --reboot </dev/null >"$log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	[ "$(grep -c REBOOTING "$log")" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
check reboot-restart "the guest booted again after reboot" [ "$(grep -c REBOOTING "$log")" -ge 2 ]
check reboot-restart "iovirt said it restarted the VM" grep -q "restarting the VM" "$log"
kill -TERM "$pid" 2>/dev/null
wait "$pid"; status=$?
check reboot-restart "SIGTERM ends iovirt with status 1 (got $status)" [ "$status" -eq 1 ]
check reboot-restart "iovirt says it was stopped by a signal" grep -q "stopped by a signal" "$log"

# The smoke payloads again, on a KVM that runs ring 0 for real: the triple
# fault must be reported as such.
if IOVIRT_SMOKE_STRICT=1 timeout 120 build/smoke/smoke >"$OUT/smoke-strict.log" 2>&1; then
	ok "smoke: payloads incl. triple fault on nested KVM"
else
	fail "smoke: payloads on nested KVM"
	# cmocka's verdicts first: a failed test leaks, and the leak report
	# would fill the tail.
	grep -E '^\[ +(ERROR|LINE|FAILED) ' "$OUT/smoke-strict.log" | head -20
	tail -5 "$OUT/smoke-strict.log"
fi

