# /test.sh of the bench/virtio and bench/passthrough guest (busybox sh;
# @FIO_RT@, @NET_T@ and @JOBS@ -- the steps to run: fio job names and
# "net" -- are filled in by bench/guest-image). Talks to bench/virtio.py over
# the console:
#   IOVIRT-BENCH-MARK <name> <the "cpu" line of /proc/stat>
#                              the host samples the VM's KVM counters when
#                              it sees this (and keeps the guest's own CPU
#                              time); the guest then sleeps 0.5 s so the
#                              sample is taken before the next step starts
#   BENCH-RESULT key=value     a result
#   BENCH-ERROR text           a step failed (the host reports it)
FIO_RT=@FIO_RT@
NET_T=@NET_T@
JOBS="@JOBS@"
# none: the guest's scheduler places fio and iperf3; irq: each runs on the
# CPU that takes its device's interrupt (block: the request queue's; net:
# the receive queue's), the same rule in every VMM.
PIN=@PIN@
# The guest's TCP sends frames of at least this many segments (empty: the
# kernel's default; see BENCH_TSO_SEGS in bench/virtio).
TSO_SEGS=@TSO_SEGS@
wanted() { case " $JOBS " in *" $1 "*) return 0 ;; esac; return 1; }
# virtio-blk or NVMe, whichever the VMM gave.
for DEV in /dev/vda /dev/nvme0n1; do [ -b $DEV ] && break; done
HOST=10.99.1.1

mark() { echo "IOVIRT-BENCH-MARK $1 $(head -n 1 /proc/stat)"; sleep 0.5; }
res() { echo "BENCH-RESULT $1"; }
err() { echo "BENCH-ERROR $*"; }

[ -b $DEV ] || err "no /dev/vda or /dev/nvme0n1 (disk missing?)"

# For post-mortems of odd runs (the console is kept in build/bench/): where
# the interrupts went, and kernel warnings.
postmortem() {
    grep -E "virtio|nvme|eth|LOC|RES|CAL|TLB" /proc/interrupts | tr -s ' ' |
        sed 's/^/guest-irq: /'
    dmesg | grep -i -E "warn|error|timeout|stall|took too long|unstable|lockup" |
        tail -n 20 | sed 's/^/guest-dmesg: /'
}
trap postmortem EXIT

# irq_cpu ERE: the CPU that takes the first interrupt whose /proc/interrupts
# line matches ERE (empty if none does).
irq_cpu() {
    n=$(grep -E "$1" /proc/interrupts | head -n 1 | cut -d: -f1 | tr -d ' ')
    [ -n "$n" ] || return 0
    cut -d, -f1 /proc/irq/"$n"/effective_affinity_list 2>/dev/null | cut -d- -f1
}

# placement PID IRQ_CPU: once a second while PID runs, the CPU its busiest
# thread (the most CPU time so far: fio's job thread, not its helper) is
# on; prints "irqN onN:count ...". Where the work ran relative to the
# interrupt changes the guest's cost per I/O (a completion on another CPU
# takes an IPI and a wakeup there), so every run reports it.
placement() {
    pid=$1 cpu=$2
    # Shell builtins only (a fork a second would cost the guest CPU time
    # the measurement is about); until the process exits (a zombie: its
    # parent, this shell, reaps it at wait).
    while read -r st 2>/dev/null < /proc/$pid/stat; do
        st=${st##*) }
        [ "${st%% *}" = Z ] && break
        best=-1 on=
        for t in /proc/$pid/task/*; do
            read -r st 2>/dev/null < "$t/stat" || continue
            # After "pid (comm) ": utime, stime are fields 12, 13; the
            # CPU last run on is field 37.
            set -- ${st##*) }
            ticks=$((${12} + ${13}))
            shift 36
            [ "$ticks" -gt "$best" ] && best=$ticks on=$1
        done
        [ -n "$on" ] && echo "$on"
        sleep 1
    done | sort | uniq -c |
        awk -v irq="$cpu" 'BEGIN { printf "irq%s", irq } { printf " on%s:%s", $2, $1 } END { print "" }'
}

# The engine: libaio; if the first job fails with it, io_uring, then psync
# (no queue depth). Decided on the first job; a fallback's failed attempts
# fall into that job's exit window (reported as BENCH-ERROR lines).
ENGINE=

# fio_job NAME RW BS_KIB IODEPTH
fio_job() {
    name=$1 rw=$2 bskb=$3 qd=$4
    wanted "$name" || return 0
    pin=
    [ "$PIN" = irq ] && [ -n "$BLK_CPU" ] && pin=--cpus_allowed=$BLK_CPU
    mark "$name-start"
    for e in ${ENGINE:-libaio io_uring psync}; do
        fio --name="$name" --filename=$DEV --direct=1 --ioengine="$e" \
            --rw="$rw" --bs="${bskb}k" --iodepth="$qd" --runtime="$FIO_RT" --time_based \
            --thread --output-format=terse --terse-version=3 $pin >/tmp/fio.out 2>/tmp/fio.err &
        fpid=$!
        place=$(placement $fpid "$BLK_CPU")
        wait $fpid
        rc=$?
        [ $rc -eq 0 ] && break
        [ -n "$ENGINE" ] && break
        err "fio $name with engine $e exited $rc: $(tail -n 3 /tmp/fio.err | tr '\n' ' ')"
    done
    mark "$name-end"
    if [ $rc -ne 0 ]; then
        [ -n "$ENGINE" ] && err "fio $name exited $rc: $(tail -n 3 /tmp/fio.err | tr '\n' ' ')"
        return
    fi
    if [ -z "$ENGINE" ]; then
        ENGINE=$e
        res "fio_engine=$e"
        res "fio_version=$(awk -F';' '$1 == "3" { print $2; exit }' /tmp/fio.out)"
    fi
    res "place.$name=$place"
    # Terse v3: 6 read_kb, 7 read KiB/s, 8 read IOPS, 9 read runtime ms;
    # 47..50 the same for writes.
    awk -F';' -v n="$name" -v bs="$bskb" '
        $1 == "3" {
            kb = $6 + $47; bw = $7 + $48; iops = $8 + $49
            rt = ($9 > $50) ? $9 : $50
            printf "BENCH-RESULT fio.%s.iops=%s\n", n, iops
            printf "BENCH-RESULT fio.%s.kib_s=%s\n", n, bw
            printf "BENCH-RESULT fio.%s.ios=%d\n", n, kb / bs
            printf "BENCH-RESULT fio.%s.runtime_ms=%s\n", n, rt
            found = 1
        }
        END { if (!found) print "BENCH-ERROR fio " n ": no terse line in its output" }
    ' /tmp/fio.out
}

# Idle baseline: exits of a guest doing nothing for 2 s.
mark idle-start
sleep 2
mark idle-end
res "pin=$PIN"
# The CPU that takes the disk's request interrupts (virtio-blk's first
# request queue, the NVMe's first I/O queue).
BLK_CPU=$(irq_cpu 'req\.0$|nvme0q1$')
if [ -b $DEV ]; then
    fio_job randread-qd1 randread 4 1
    fio_job randread-qd32 randread 4 32
    fio_job seqread read 1024 32
    fio_job seqwrite write 1024 32
fi

# ---- network ----
wanted net || exit 0
IF=
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    IF=$n; break
done
if [ -z "$IF" ]; then
    err "no network interface (virtio-net missing?)"
    exit 0
fi
for ko in /lib/diag/inet_diag.ko /lib/diag/tcp_diag.ko; do
    [ -f $ko ] && insmod $ko 2>/dev/null
done
ip link set lo up
if [ -n "$TSO_SEGS" ]; then
    echo "$TSO_SEGS" > /proc/sys/net/ipv4/tcp_min_tso_segs || err "cannot set tcp_min_tso_segs"
fi
res "tso_segs=${TSO_SEGS:-default}"
ip link set "$IF" up
ip addr add 10.99.1.2/24 dev "$IF"
ok=
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    if ping -c 1 -W 1 $HOST >/dev/null 2>&1; then ok=1; break; fi
done
if [ -z "$ok" ]; then
    err "cannot ping $HOST over $IF"
    exit 0
fi

# The CPU that takes the NIC's receive interrupts (virtio-net's first
# receiveq; the e1000's one interrupt is named after the interface).
NET_CPU=$(irq_cpu "input\\.0\$| $IF\$")

# net_job NAME [-R]: iperf3 client; the receiver's line gives the rate.
net_job() {
    name=$1; shift
    mark "$name-start"
    nstat -n 2>/dev/null   # zero nstat's history: the next call gives this run's deltas
    pin=
    [ "$PIN" = irq ] && [ -n "$NET_CPU" ] && pin="-A $NET_CPU"
    iperf3 -c $HOST -t "$NET_T" -f m $pin "$@" >/tmp/iperf.out 2>&1 &
    pid=$!
    placement $pid "$NET_CPU" > /tmp/place.out &
    ppid_=$!
    # The connection's TCP state twice during the run (rtt, cwnd, what
    # limited the sender: rwnd_limited / sndbuf_limited / app_limited),
    # printed after the end mark: every console byte is a VM exit.
    : > /tmp/ss.out
    for t in 2 2; do
        sleep $t
        ss -tin dst $HOST 2>/dev/null | tr -s ' \t' ' ' | sed "s/^/guest-ss-$name: /" >> /tmp/ss.out
    done
    wait $pid
    rc=$?
    wait $ppid_
    mark "$name-end"
    res "place.$name=$(cat /tmp/place.out)"
    cat /tmp/ss.out
    nstat 2>/dev/null | grep -E "Tcp|Ip(In|Out)" | tr -s ' ' | sed "s/^/guest-nstat-$name: /"
    # Frames the NIC moved so far (a GSO frame counts once): bytes per frame.
    for c in rx_packets rx_bytes tx_packets tx_bytes; do
        echo "guest-nic-$name: $c $(cat /sys/class/net/$IF/statistics/$c)"
    done
    # Per second: rate, and for guest->host (the client sends) the
    # sender's retransmits and congestion window, for the console log.
    sed 's/^/guest-iperf3: /' /tmp/iperf.out
    if [ $rc -ne 0 ]; then
        err "iperf3 $name exited $rc: $(tail -n 3 /tmp/iperf.out | tr '\n' ' ')"
        return
    fi
    awk -v n="$name" '
        /sender/ && $(NF - 1) ~ /^[0-9]+$/ { retr = $(NF - 1) }
        /receiver/ {
            for (i = 2; i <= NF; i++) {
                if ($i == "Mbits/sec") mbit = $(i - 1)
                if ($i == "MBytes") mb = $(i - 1)
                if ($i == "GBytes") mb = $(i - 1) * 1024
                if ($i == "KBytes") mb = $(i - 1) / 1024
            }
            found = 1
        }
        END {
            if (!found) { print "BENCH-ERROR iperf3 " n ": no receiver line"; exit }
            printf "BENCH-RESULT net.%s.mbit_s=%s\n", n, mbit
            printf "BENCH-RESULT net.%s.mbytes=%s\n", n, mb
            if (retr != "") printf "BENCH-RESULT net.%s.retr=%s\n", n, retr
        }
    ' /tmp/iperf.out
}
net_job tx             # guest -> host
net_job rx -R          # host -> guest
exit 0
