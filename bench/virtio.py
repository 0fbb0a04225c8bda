#!/usr/bin/env python3
"""virtio I/O benchmark driver: bench/virtio runs this where guests can run
(directly on a hardware-KVM machine, or inside the test host via tools/vmrun),
after it made the tap device and the disk image.

`measure` does one round: for each VMM (iovirt, QEMU -M pc) it boots the guest of
bench/virtio-guest.sh with one virtio-blk disk (the raw image) and one
virtio-net NIC (the tap), and collects:

  - the guest's results (`BENCH-RESULT key=value` lines on the console):
    fio IOPS / KiB/s / I/O count per job, iperf3 Mbit/s per direction;
  - KVM's per-VM counters from debugfs (/sys/kernel/debug/kvm/<pid>-<fd>/),
    sampled whenever the guest prints `IOVIRT-BENCH-MARK <name>` (it sleeps
    0.5 s after each mark, so the sample lands before the next step). The
    delta between <job>-start and <job>-end, divided by the job's I/O count,
    is "exits per I/O". The window is the whole fio process (start-up, the
    time-based job, exit) plus the rest of the 0.5 s sleep after the start mark
    and the end mark's console line: a few idle/console exits on top of the
    job's own, the same for both VMMs (the idle row shows their rate).

An iperf3 server runs here on 10.99.1.1 for the round. The round's results
go to a JSON file; `report` makes the table (medians over rounds, ratios) from
those files, on the machine that started the benchmark.
"""
import argparse
import glob
import json
import os
import re
import select
import shlex
import signal
import statistics
import subprocess
import sys
import time

MARK = re.compile(rb"IOVIRT-BENCH-MARK (\S+)(?: cpu ([0-9 ]+))?")
# /proc/stat's "cpu" fields (USER_HZ ticks), as the guest saw them.
GUEST_CPU = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
USER_HZ = 100
RESULT = re.compile(rb"BENCH-RESULT (\S+?)=(.*)")
ERROR = re.compile(rb"BENCH-ERROR (.*)")
EXIT = re.compile(rb"IOVIRT-TEST-EXIT=(\d+)")
KVM_DEBUGFS = "/sys/kernel/debug/kvm"

FIO_JOBS = [  # name, label, main metric
    ("randread-qd1", "fio 4k randread qd1", "iops"),
    ("randread-qd32", "fio 4k randread qd32", "iops"),
    ("seqread", "fio 1M seqread qd32", "mb_s"),
    ("seqwrite", "fio 1M seqwrite qd32", "mb_s"),
]
NET_JOBS = [("tx", "iperf3 guest->host"), ("rx", "iperf3 host->guest (-R)")]


def kvm_dir(pid, current):
    """The debugfs directory of pid's VM: the one with the most exits (a VMM
    may have made and closed a throwaway VM)."""
    if current and os.path.isdir(current):
        return current
    best, best_exits = None, -1
    for d in glob.glob(f"{KVM_DEBUGFS}/{pid}-*"):
        try:
            with open(f"{d}/exits") as f:
                n = int(f.read())
        except (OSError, ValueError):
            continue
        if n > best_exits:
            best, best_exits = d, n
    return best


CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_group(comm):
    """Threads of one kind share a name but for a number: vcpu0/vcpu1,
    "CPU 0/KVM"/"CPU 1/KVM"."""
    return re.sub(r"\s*\d+", "", comm).strip() or "?"


def sample_proc(pid):
    """The VMM's CPU use: the whole process's user+system time (threads
    that exited included), and per thread kind the time on a CPU and the
    time runnable but waiting for one (schedstat; live threads only), and
    how the time on a CPU divides: in the guest (a vCPU thread's guest
    time), VMM user code, kernel (stat, in clock ticks)."""
    vals = {}
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        vals["proc.cpu_us"] = (int(fields[11]) + int(fields[12])) * 1_000_000 // CLK_TCK
    except (OSError, ValueError, IndexError):
        return vals
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as f:
                group = thread_group(f.read())
            with open(f"{task}/schedstat") as f:
                run_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            with open(f"{task}/stat") as f:
                t = f.read().rsplit(")", 1)[1].split()
            # utime includes guest_time (a vCPU thread's time in the guest).
            utime, stime, gtime = int(t[11]), int(t[12]), int(t[40])
        except (OSError, ValueError, IndexError):
            continue
        tick = 1_000_000 // CLK_TCK
        for k, v in ((f"proc.{group}.run_us", run_ns // 1000),
                     (f"proc.{group}.wait_us", wait_ns // 1000),
                     (f"proc.{group}.guest_us", gtime * tick),
                     (f"proc.{group}.user_us", (utime - gtime) * tick),
                     (f"proc.{group}.sys_us", stime * tick)):
            vals[k] = vals.get(k, 0) + v
    return vals


def sample(d, pid=None):
    """Every counter of the VM's debugfs directory: exits, io_exits,
    mmio_exits and irq_injections feed the main table, all of them the
    breakdown that says where the exits went; and the VMM's CPU time
    (sample_proc)."""
    vals = sample_proc(pid) if pid else {}
    if not d:
        return vals or None
    try:
        names = os.listdir(d)
    except OSError:
        return vals or None
    for c in names:
        # Only the counters: mmu_rmaps_stat walks every memslot's rmaps
        # under the MMU lock on each read (slow in the test host, and the
        # runs that hung were sampling it).
        if c == "mmu_rmaps_stat":
            continue
        try:
            with open(f"{d}/{c}") as f:
                vals[c] = int(f.read())
        except (OSError, ValueError):
            pass
    return vals or None


def guest_cpu(fields):
    """The guest's own CPU time at a mark, in us, by kind (user, system,
    idle, irq, softirq, steal...): where the guest's vCPUs spent the job."""
    if not fields:
        return {}
    ticks = [int(x) for x in fields.split()]
    return {f"guest.{k}_us": t * 1_000_000 // USER_HZ for k, t in zip(GUEST_CPU, ticks)}


def kernel_stack(pid):
    """State and kernel stack of a process that will not die."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/stack") as f:
            stack = " < ".join(l.split()[-1] for l in f.read().splitlines()[:8])
        return f"state {state}, stack {stack}"
    except (OSError, IndexError):
        return "state unknown"


def clean(data):
    text = data.decode("utf-8", "replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r", "", text)


def run_once(cmd, timeout, console_log=None):
    """Boots once; returns {'results', 'marks', 'errors', 'error', ...}.
    The whole console goes to console_log when given (for post-mortems:
    guest warnings, timing of each line)."""
    res = {"results": {}, "marks": {}, "errors": [], "error": None, "wall_s": None}
    buf = b""
    t0 = res["t0"] = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as e:
        res["error"] = f"cannot start {cmd[0]}: {e}"
        derive(res)
        return res
    fd = proc.stdout.fileno()
    kdir = None
    done = False
    pending = b""
    try:
        while not done:
            if time.monotonic() - t0 > timeout:
                res["error"] = f"timed out after {timeout:.0f}s"
                break
            r, _, _ = select.select([fd], [], [], 1.0)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if b"IOVIRT-INIT" in line and "init_s" not in res:
                    res["init_s"] = time.monotonic() - t0
                m = MARK.search(line)
                if m:
                    kdir = kvm_dir(proc.pid, kdir)
                    vals = sample(kdir, proc.pid) or {}
                    vals.update(guest_cpu(m.group(2)))
                    res["marks"][m.group(1).decode()] = (time.monotonic(), vals or None)
                    continue
                m = RESULT.search(line)
                if m:
                    res["results"][m.group(1).decode()] = m.group(2).decode().strip()
                    continue
                m = ERROR.search(line)
                if m:
                    res["errors"].append(m.group(1).decode("utf-8", "replace").strip())
                    continue
                m = EXIT.search(line)
                if m:
                    res["guest_exit"] = int(m.group(1))
                    done = True
        if res["error"] is None:
            try:
                proc.wait(timeout=30)
                res["wall_s"] = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                res["error"] = "guest finished but the VMM did not exit"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Never block the whole benchmark on one VMM stuck in the
                # kernel: say where it is and go on.
                stuck = f"pid {proc.pid} survives SIGKILL for 60 s: {kernel_stack(proc.pid)}"
                res["error"] = f"{res['error']}; {stuck}" if res["error"] else stuck
        # The rest of the console, bounded: a child that kept the pipe
        # open must not hang the drain.
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 1.0)
                if not r:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        proc.stdout.close()
    if console_log:
        try:
            with open(console_log, "w") as f:
                f.write(clean(buf))
        except OSError:
            pass
    if res["error"] is None and "guest_exit" not in res:
        res["error"] = f"exited {proc.returncode} without the guest's IOVIRT-TEST-EXIT line"
    if res["error"] is None and proc.returncode != 0:
        res["error"] = f"exited {proc.returncode}"
    res["kvm_dir"] = kdir
    if res["error"] or res["errors"]:
        res["console_tail"] = [l for l in clean(buf).splitlines() if l.strip()][-20:]
    derive(res)
    return res


def delta(marks, name, counter):
    a, b = marks.get(f"{name}-start"), marks.get(f"{name}-end")
    if not a or not b or not a[1] or not b[1]:
        return None
    if counter == "user":           # exits to the VMM: port I/O + MMIO
        if not all(k in a[1] and k in b[1] for k in ("io_exits", "mmio_exits")):
            return None
        return (b[1]["io_exits"] + b[1]["mmio_exits"]) - (a[1]["io_exits"] + a[1]["mmio_exits"])
    if counter not in a[1] or counter not in b[1]:
        return None
    return b[1][counter] - a[1][counter]


def breakdown(m, marks, key, units, mark=None):
    """m[key.counter.<c>] = counter c's change per unit over the job."""
    a, b = marks.get(f"{mark or key}-start"), marks.get(f"{mark or key}-end")
    if not units or not a or not b or not a[1] or not b[1]:
        return
    for c in b[1]:
        if c in a[1] and b[1][c] >= a[1][c]:
            m[f"{key}.counter.{c}"] = (b[1][c] - a[1][c]) / units


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def derive(res):
    """Per-run metrics from the guest results and the counter samples."""
    r, marks = res["results"], res["marks"]
    m = {}
    for name, _, _ in FIO_JOBS:
        iops = num(r.get(f"fio.{name}.iops"))
        kib = num(r.get(f"fio.{name}.kib_s"))
        ios = num(r.get(f"fio.{name}.ios"))
        m[f"{name}.iops"] = iops
        m[f"{name}.mb_s"] = kib * 1024 / 1e6 if kib is not None else None
        for c in ("exits", "user", "irq_injections"):
            d = delta(marks, name, c)
            m[f"{name}.{c}_per_io"] = d / ios if d is not None and ios else None
        breakdown(m, marks, name, ios)
    for name, _ in NET_JOBS:
        mbit = num(r.get(f"net.{name}.mbit_s"))
        mbytes = num(r.get(f"net.{name}.mbytes"))
        m[f"net.{name}.gbit_s"] = mbit / 1000 if mbit is not None else None
        m[f"net.{name}.retr"] = num(r.get(f"net.{name}.retr"))
        for c in ("exits", "user", "irq_injections"):
            d = delta(marks, name, c)
            m[f"net.{name}.{c}_per_mb"] = d / mbytes if d is not None and mbytes else None
        breakdown(m, marks, f"net.{name}", mbytes, mark=name)
    # How KVM maps guest RAM at the end (a VM whose RAM got no huge pages
    # runs slower everywhere: more and longer nested page walks).
    last = max((v for v in marks.values() if v[1]), key=lambda v: v[0], default=None)
    for size in ("4k", "2m", "1g"):
        m[f"vm.pages_{size}"] = last[1].get(f"pages_{size}") if last else None
    a, b = marks.get("idle-start"), marks.get("idle-end")
    if a and b and a[1] and b[1] and "exits" in a[1]:
        m["idle.exits_per_s"] = (b[1]["exits"] - a[1]["exits"]) / (b[0] - a[0])
    else:
        m["idle.exits_per_s"] = None
    res["m"] = m


def breakdown_table(meds, names, w):
    """Where the exits went: per job, every KVM counter that moved by at
    least 0.5 per unit in some VMM (medians)."""
    out = ["exit breakdown: KVM debugfs counters per I/O (fio) or per MB (iperf3), "
           "those >= 0.5 in some VMM;",
           "  proc.*: the VMM's CPU time in us (cpu = user+system of the process; per thread",
           "  kind: run = on a CPU, wait = runnable, waiting for one; of the run, in clock",
           "  ticks: guest = running the guest, user = VMM code, sys = kernel); guest.*: the guest's",
           "  own CPU time in us by kind, all vCPUs (its /proc/stat)"]
    jobs = [(n, l.replace("fio ", "")) for n, l, _ in FIO_JOBS] + \
           [(f"net.{n}", "net " + ("guest->host" if n == "tx" else "host->guest"))
            for n, _ in NET_JOBS]
    for key, label in jobs:
        prefix = f"{key}.counter."
        counters = sorted({k[len(prefix):] for n in names for k in meds[n]
                           if k.startswith(prefix)})
        lines = []
        for c in counters:
            vals = [meds[n].get(prefix + c) for n in names]
            if c == "exits" or not any(v is not None and v >= 0.5 for v in vals):
                continue
            lines.append(f"  {c:<{w - 2}}" + "".join(f" {fmt(v, '.2f', 12)}" for v in vals))
        if lines:
            out.append(f"{label:<{w}}" + "".join(f" {n:>12}" for n in names))
            out.extend(lines)
    out.append("")
    return out


def paired_table(rounds, ratios, w):
    """Per-round ratios: both VMMs of a round ran in the same test host
    boot, and a slow boot slows both, so the median of these pairs is less
    at the mercy of one boot than the ratio of two medians taken over
    different boots. Also how many rounds went each VMM's way."""
    rows = [(f"{label} {'IOPS' if metric == 'iops' else 'MB/s'}", f"{name}.{metric}", True)
            for name, label, metric in FIO_JOBS]
    rows += [(f"{label} Gbit/s", f"net.{name}.gbit_s", True) for name, label in NET_JOBS]
    rows += [(f"exits/IO {label.replace('fio ', '')}", f"{name}.exits_per_io", False)
             for name, label, _ in FIO_JOBS]
    rows += [(f"exits/MB net {'guest->host' if name == 'tx' else 'host->guest'}",
              f"net.{name}.exits_per_mb", False) for name, _ in NET_JOBS]
    out = []
    for rlabel, num_name, den_name in ratios:
        out.append(f"paired, {rlabel} within each round (same test host): median, rounds in "
                   f"{num_name}'s favour, and the per-round ratios")
        for label, key, higher_better in rows:
            pairs = []
            for r in rounds:
                nres, dres = r["results"].get(num_name), r["results"].get(den_name)
                if not nres or not dres or nres["error"] or dres["error"]:
                    continue
                nv, dv = nres["m"].get(key), dres["m"].get(key)
                if nv is not None and dv:
                    pairs.append(nv / dv)
            if not pairs:
                out.append(f"  {label:<{w - 2}} n/a")
                continue
            wins = sum(1 for x in pairs if (x >= 1.0 if higher_better else x <= 1.0))
            out.append(f"  {label:<{w - 2}} {statistics.median(pairs):5.2f}   {wins} of "
                       f"{len(pairs)}   (" + " ".join(f"{x:.2f}" for x in pairs) + ")")
    return out


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec, width):
    if v is None:
        return format("n/a", f">{width}")
    return format(format(v, spec), f">{width}")


def build_vmms(a, p):
    """[(name, model, command)] and the ratio columns [(label, num, den)]."""
    vmms = []
    q_tap = f",queues={a.net_queues}" if int(a.net_queues) > 1 else ""
    vhost = ",vhost=on" if a.net_vhost == "on" else ""
    q_tap += vhost
    for model in a.models.split(","):
        if model == "virtio":
            io_disk, io_nic = "", ""
            q_disk, q_nic = f"virtio-blk-pci,drive=d0,num-queues={a.queues}", "virtio-net-pci"
            suffix = ""
            io_nic = vhost
            if int(a.net_queues) > 1:
                io_nic += f",queues={a.net_queues}"
                q_nic += f",mq=on,vectors={2 * int(a.net_queues) + 2}"
        elif model == "emulated":
            io_disk, io_nic = ",if=nvme", ",model=e1000"
            q_disk, q_nic = f"nvme,drive=d0,serial=bench,max_ioqpairs={a.queues}", "e1000"
            suffix = "-emu"
        else:
            p.error(f"unknown model {model} (virtio, emulated)")
        vmms.append((f"iovirt{suffix}", model, [
            a.iovirt, "run", "--kernel", a.kernel, "--initrd", a.initrd,
            "--cmdline", a.cmdline, "--memory", a.memory, "--cpus", a.cpus,
            "--disk", f"{a.disk},cache={a.cache},aio={a.aio},queues={a.queues}{io_disk}",
            "--net", f"tap={a.tap}{io_nic}"]))
        vmms.append((f"qemu{suffix or '-pc'}", model, [
            # debug-threads: named threads, for the per-thread CPU split
            a.qemu, "-name", "bench,debug-threads=on",
            "-enable-kvm", "-cpu", "host", "-M", "pc", "-m", a.memory,
            "-smp", a.cpus, "-nographic", "-no-reboot", "-nic", "none",
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline,
            "-drive", f"file={a.disk},if=none,id=d0,format=raw,cache={a.cache},aio={a.aio}",
            "-device", q_disk,
            "-netdev", f"tap,id=n0,ifname={a.tap},script=no,downscript=no{q_tap}",
            # romfile=: no iPXE ROM (not installed; Linux is booted directly)
            "-device", f"{q_nic},netdev=n0,romfile="]))
    # Ratio columns: iovirt / QEMU per model, and what emulation costs iovirt.
    ratios = [(f"{i}/{q}", i, q) for (i, mi, _), (q, mq, _) in zip(vmms[0::2], vmms[1::2])]
    if len(vmms) == 4:
        ratios.append(("emu/virtio", vmms[2][0], vmms[0][0]))
    # Variants: iovirt's virtio run with other disk options, side by side;
    # another binary (@PATH) runs in every model measured.
    for v in a.iovirt_variant:
        vname, _, opts = v.partition(":")
        if not re.fullmatch(r"[a-z0-9-]{1,12}", vname) or not opts:
            p.error(f"--iovirt-variant {v}: want NAME:DISKOPTS or NAME:--OPTION[,--OPTION] (NAME: a-z, 0-9, -)")
        models = [m for m in a.models.split(",") if opts.startswith("@") or m == "virtio"]
        if not models:
            p.error(f"--iovirt-variant {v}: disk and option variants need the virtio model")
        for model in models:
            suffix = "-emu" if model == "emulated" else ""
            qemu = f"qemu{suffix or '-pc'}"
            base = next(cmd for n, m, cmd in vmms if m == model and n == f"iovirt{suffix}")
            if opts.startswith("@"):
                # another iovirt binary, the same command line
                cmd = [opts[1:]] + base[1:]
            elif opts.startswith("--"):
                # iovirt options (e.g. --shared-memory), comma-separated
                cmd = base[:2] + opts.split(",") + base[2:]
            else:
                cmd = [c + "," + opts if c.startswith(a.disk + ",") else c for c in base]
            vmms.append((f"iovirt{suffix}-{vname}", model, cmd))
            ratios.append((f"{vname}{suffix}/{qemu}", f"iovirt{suffix}-{vname}", qemu))
            if opts.startswith("@"):
                ratios.append((f"iovirt{suffix}/{vname}", f"iovirt{suffix}", f"iovirt{suffix}-{vname}"))
    return vmms, ratios


def measure(argv):
    """One round: every VMM once (in the order given, reversed on even
    rounds so neither VMM always runs first after the host booted); the
    results go to --json for `report`."""
    p = argparse.ArgumentParser(prog="virtio.py measure")
    p.add_argument("--round", type=int, default=1)
    # The run's settings (None: required); they also head the report.
    for flag, default in (("--kernel", None), ("--kernel-name", ""), ("--initrd", None),
                          ("--iovirt", None), ("--qemu", "qemu-system-x86_64"),
                          ("--memory", "512M"), ("--cpus", "2"),
                          ("--cmdline", "console=ttyS0 panic=-1 quiet"), ("--disk", None),
                          ("--disk-fs", "?"), ("--disk-mb", "?"), ("--cache", "writeback"),
                          ("--aio", "threads"), ("--queues", "1"), ("--net-queues", "1"),
                          ("--net-vhost", "off"),
                          ("--tap", None),
                          ("--fio-runtime", "?"), ("--net-time", "?")):
        p.add_argument(flag, required=default is None, default=default)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--json", required=True, help="where this round's results go")
    p.add_argument("--console-dir", required=True)
    p.add_argument("--emulated", action="store_true")
    p.add_argument("--models", default="virtio")
    p.add_argument("--iovirt-variant", action="append", default=[], metavar="NAME:DISKOPTS",
                   help="also measure iovirt (virtio) with these extra --disk options, "
                        "e.g. nomerge:merge=off")
    a = p.parse_args(argv)
    vmms, ratios = build_vmms(a, p)
    order = vmms if a.round % 2 else list(reversed(vmms))

    server_log = open(os.path.join(a.console_dir, f"iperf3-server-{a.round}.log"), "w")
    server = subprocess.Popen(["iperf3", "-s", "-B", "10.99.1.1"], stdin=subprocess.DEVNULL,
                              stdout=server_log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    results = {}
    t_start = time.monotonic()
    try:
        for name, _, cmd in order:
            res = run_once(cmd, a.timeout,
                           os.path.join(a.console_dir, f"{name}-{a.round}.log"))
            results[name] = res
            m = res["m"]
            if res["error"]:
                print(f"bench: {name} round {a.round}: FAILED: {res['error']}", file=sys.stderr)
            else:
                print(f"bench: {name} round {a.round} ({res['wall_s']:.0f} s): "
                      f"qd1 {fmt(m['randread-qd1.iops'], '.0f', 1)} IOPS, "
                      f"qd32 {fmt(m['randread-qd32.iops'], '.0f', 1)} IOPS, "
                      f"seq r/w {fmt(m['seqread.mb_s'], '.1f', 1)}/"
                      f"{fmt(m['seqwrite.mb_s'], '.1f', 1)} MB/s, "
                      f"net tx/rx {fmt(m['net.tx.gbit_s'], '.3f', 1)}/"
                      f"{fmt(m['net.rx.gbit_s'], '.3f', 1)} Gbit/s, "
                      f"exits/IO qd1 {fmt(m['randread-qd1.exits_per_io'], '.2f', 1)}",
                      file=sys.stderr, flush=True)
            if res["marks"]:
                tl = " ".join(f"{k}@{v[0] - res['t0']:.0f}" for k, v in res["marks"].items())
                print(f"bench:   timeline (s): init@{res.get('init_s', 0):.0f} {tl}",
                      file=sys.stderr)
            for e in res["errors"]:
                print(f"bench:   guest: {e}", file=sys.stderr)
            if res["error"] or res["errors"]:
                for l in res.get("console_tail", []):
                    print(f"bench:   | {l}", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()
    meta = {k: getattr(a, k) for k in ("models", "emulated", "kernel", "kernel_name", "memory",
                                        "cpus", "cmdline", "disk", "disk_fs", "disk_mb", "cache",
                                        "aio", "queues", "net_queues", "net_vhost", "tap", "fio_runtime",
                                        "net_time")}
    meta["vmms"], meta["ratios"] = vmms, ratios
    meta["order"] = [n for n, _, _ in order]
    keep = ("m", "results", "errors", "error", "console_tail", "wall_s", "marks", "t0")
    round_out = {"round": a.round, "meta": meta, "loop_s": time.monotonic() - t_start,
                 "results": {n: {k: r.get(k) for k in keep} for n, r in results.items()}}
    with open(a.json + ".tmp", "w") as f:
        json.dump(round_out, f)
    os.replace(a.json + ".tmp", a.json)
    return 0


def report(argv):
    """The table: medians over the rounds' JSON files, iovirt/QEMU ratios."""
    p = argparse.ArgumentParser(prog="virtio.py report")
    p.add_argument("--out", required=True)
    p.add_argument("--rounds-wanted", type=int, default=0,
                   help="rounds asked for (the missing ones are reported)")
    p.add_argument("--note", action="append", default=[], help="a line for the header")
    p.add_argument("rounds", nargs="*", help="round JSON files (measure --json)")
    a = p.parse_args(argv)
    rounds = []
    for path in a.rounds:
        try:
            with open(path) as f:
                rounds.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"bench: {path}: unreadable ({e}); left out", file=sys.stderr)
    if not rounds:
        print("bench: no round finished; nothing to report", file=sys.stderr)
        return 1
    rounds.sort(key=lambda x: x["round"])
    meta = rounds[0]["meta"]
    vmms = [tuple(v) for v in meta["vmms"]]
    ratios = [tuple(r) for r in meta["ratios"]]
    names = [n for n, _, _ in vmms]
    results = {n: [r["results"][n] for r in rounds if n in r["results"]] for n in names}
    nruns = len(rounds)

    def good(name):
        return [x for x in results[name] if not x["error"]]

    meds = {}
    for name in names:
        g = good(name)
        keys = set().union(*(x["m"].keys() for x in g)) if g else set()
        meds[name] = {k: med([x["m"].get(k) for x in g]) for k in keys}
        meds[name]["n"] = len(g)

    def info(name, key):
        for x in good(name):
            if key in x["results"]:
                return x["results"][key]
        return "?"

    out = []
    out.append(f"iovirt I/O benchmark ({meta['models']}): median of {nruns} rounds, every VMM "
               f"once per round (order alternating), {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if meta["emulated"]:
        out.append("NOTE: measured inside the software-emulated test host (QEMU TCG with nested")
        out.append("      KVM, 1 CPU, see docs/TESTHOST.md), a fresh test host per round:")
        out.append("      absolute numbers are far below real hardware. Compare the")
        out.append("      iovirt/QEMU ratios only.")
    else:
        out.append("NOTE: measured directly on this machine's hardware KVM.")
    out.extend(a.note)
    out.append(f"guest: {meta['kernel_name'] or meta['kernel']}, busybox initramfs + fio + iperf3, "
               f"{meta['memory']} RAM, {meta['cpus']} vCPUs, cmdline \"{meta['cmdline']}\"")
    out.append(f"disk:  raw image, {meta['disk_mb']} MiB of zero-filled pages on {meta['disk_fs']} "
               f"({meta['disk']}); every VMM cache={meta['cache']} aio={meta['aio']}, "
               f"{meta['queues']} queue(s) (virtio-blk queues / NVMe I/O queue pairs)")
    out.append(f"net:   a tap, {meta.get('net_queues', '1')} virtio-net queue pair(s) in every VMM "
               f"(more than one: a multiqueue tap; QEMU mq=on); vhost-net "
               f"{meta.get('net_vhost', 'off')} in every VMM")
    out.append(f"models: virtio = virtio-blk-pci + virtio-net-pci; emulated = NVMe + e1000 "
               f"(iovirt if=nvme,model=e1000; QEMU -device nvme / -device e1000)")
    first = names[0]
    out.append(f"fio:   {info(first, 'fio_version')} in the guest on /dev/vda or /dev/nvme0n1, "
               f"engine " + " / ".join(f"{info(n, 'fio_engine')} ({n})" for n in names) +
               f", direct=1, time_based {meta['fio_runtime']} s per job, one job (numjobs=1)")
    datapath = ("the host kernel's vhost-net in both VMMs" if meta.get("net_vhost") == "on"
                else "userspace NIC models (QEMU without vhost)")
    out.append(f"net:   tap {meta['tap']} (host 10.99.1.1/24, guest 10.99.1.2), {datapath}; "
               f"TCP senders' tcp_min_tso_segs {info(first, 'tso_segs')}; "
               f"iperf3 server on the host, client in the guest, "
               f"{meta['net_time']} s per direction; rate = the receiver's")
    out.append("exits: KVM's per-VM debugfs counters (/sys/kernel/debug/kvm/<pid>-<fd>/), sampled at")
    out.append("       console markers before and after each job; window = the fio/iperf3 process")
    out.append("       plus <0.5 s of idle sleep and one console line. exits = all VM exits (kernel-")
    out.append("       handled ones included: ioeventfd kicks, APIC, HLT...); to VMM = io_exits +")
    out.append("       mmio_exits (exits KVM hands to the VMM's userspace); irq inj = irq_injections.")
    out.append("       Per I/O for fio (I/Os = bytes done / block size), per MB moved for iperf3.")
    out.append("VMM CPU: user+system time of the VMM process (/proc/PID/stat) over the same window.")
    out.append("higher is better for rates, lower is better for exits; ratios as the column heads")
    out.append("")

    rows = []   # (label, key, spec)
    for name, label, metric in FIO_JOBS:
        unit = "IOPS" if metric == "iops" else "MB/s"
        rows.append((f"{label} {unit}", f"{name}.{metric}", ".0f" if metric == "iops" else ".1f"))
    for name, label in NET_JOBS:
        rows.append((f"{label} Gbit/s", f"net.{name}.gbit_s", ".3f"))
        rows.append((f"  TCP retransmits", f"net.{name}.retr", ".0f"))
    rows.append(None)
    for name, label, _ in FIO_JOBS:
        short = label.replace("fio ", "")
        rows.append((f"exits/IO {short}", f"{name}.exits_per_io", ".2f"))
        rows.append((f"  to VMM/IO", f"{name}.user_per_io", ".3f"))
        rows.append((f"  irq inj/IO", f"{name}.irq_injections_per_io", ".2f"))
        rows.append((f"  VMM CPU us/IO", f"{name}.counter.proc.cpu_us", ".0f"))
    for name, label in NET_JOBS:
        short = "net " + ("guest->host" if name == "tx" else "host->guest")
        rows.append((f"exits/MB {short}", f"net.{name}.exits_per_mb", ".1f"))
        rows.append((f"  to VMM/MB", f"net.{name}.user_per_mb", ".2f"))
        rows.append((f"  irq inj/MB", f"net.{name}.irq_injections_per_mb", ".1f"))
        rows.append((f"  VMM CPU us/MB", f"net.{name}.counter.proc.cpu_us", ".0f"))
    rows.append(("idle exits/s (2 s, no I/O)", "idle.exits_per_s", ".0f"))
    rows.append(("guest RAM in 4k pages (KVM, at end)", "vm.pages_4k", ".0f"))
    rows.append(("guest RAM in 2M pages (KVM, at end)", "vm.pages_2m", ".0f"))

    w = 36
    hdr = f"{'metric':<{w}}" + "".join(f" {n:>12}" for n in names) + \
        "".join(f" {r[0]:>{max(12, len(r[0]))}}" for r in ratios)
    missing = f" (of {a.rounds_wanted} asked for)" if a.rounds_wanted > nruns else ""
    out.append(f"rounds: {nruns}{missing}; runs ok: " +
               ", ".join(f"{n} {meds[n]['n']}/{len(results[n])}" for n in names))
    out.append(hdr)
    out.append("-" * len(hdr))
    for row in rows:
        if row is None:
            out.append("")
            continue
        label, key, spec = row
        line = f"{label:<{w}}" + "".join(f" {fmt(meds[n].get(key), spec, 12)}" for n in names)
        for rlabel, num_name, den_name in ratios:
            nv, dv = meds[num_name].get(key), meds[den_name].get(key)
            line += f" {fmt(nv / dv if nv is not None and dv else None, '.2f', max(12, len(rlabel)))}"
        out.append(line)
    out.append("")
    out.extend(paired_table(rounds, ratios, w))
    out.append("")
    out.extend(breakdown_table(meds, names, w))
    out.append("per round (qd1 IOPS / qd32 IOPS / seqread MB/s / seqwrite MB/s / tx Gbit/s / rx Gbit/s"
               " | KVM's 4k/2M pages of guest RAM at the end):")
    for name in names:
        cells = []
        for x in results[name]:
            if x["error"]:
                cells.append("FAIL")
                continue
            m = x["m"]
            cells.append("/".join([fmt(m["randread-qd1.iops"], ".0f", 1),
                                   fmt(m["randread-qd32.iops"], ".0f", 1),
                                   fmt(m["seqread.mb_s"], ".1f", 1),
                                   fmt(m["seqwrite.mb_s"], ".1f", 1),
                                   fmt(m["net.tx.gbit_s"], ".3f", 1),
                                   fmt(m["net.rx.gbit_s"], ".3f", 1)]) +
                         f"|{fmt(m.get('vm.pages_4k'), '.0f', 1)}/{fmt(m.get('vm.pages_2m'), '.0f', 1)}")
        out.append(f"  {name:<10} " + "  ".join(cells))
    jobs = [n for n, _, _ in FIO_JOBS] + [n for n, _ in NET_JOBS]
    out.append(f"where the guest ran each job (pin={info(first, 'pin')}): irqN = the CPU taking the "
               "device's interrupt, onN:K = the job seen on CPU N in K one-second samples")
    for name in names:
        for x in results[name]:
            if x["error"]:
                continue
            cells = [f"{j}={x['results'][f'place.{j}']}" for j in jobs
                     if x["results"].get(f"place.{j}")]
            if cells:
                out.append(f"  {name:<10} " + "; ".join(cells))
    for name in names:
        errs = sorted({e for x in results[name] for e in x["errors"]})
        for e in errs:
            out.append(f"{name} guest error: {e}")
    for r in rounds:
        for name, res in r["results"].items():
            if res["error"]:
                out.append("")
                out.append(f"{name} round {r['round']} FAILED: {res['error']}; last console lines:")
                out.extend(f"  | {l}" for l in res.get("console_tail") or [])
    out.append("")
    out.append("commands:")
    for name, _, cmd in vmms:
        out.append(f"  {name}: " + " ".join(shlex.quote(c) for c in cmd))
    out.append("")
    out.append("measuring took " + ", ".join(f"{r['loop_s']:.0f}" for r in rounds) +
               " s per round (test host boots not counted)")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(a.out + ".tmp", a.out)
    sys.stdout.write(text)
    return 0 if meds[first]["n"] > 0 else 1


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("measure", "report"):
        print("usage: virtio.py measure ARGS... | virtio.py report --out FILE ROUND.json...",
              file=sys.stderr)
        return 2
    return (measure if sys.argv[1] == "measure" else report)(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
