#!/usr/bin/env python3
"""Boot benchmark driver: bench/boot runs this where guests can run (directly
on a hardware-KVM machine, or inside the test host via tools/vmrun).

Five VMMs boot the same kernel, initramfs, memory and command line:

  iovirt         iovirt's defaults (--boot-trace on)
  iovirt-vmlinux the same, given the kernel's vmlinux (iovirt extract-vmlinux,
                 run once before the benchmark) instead of the bzImage
  iovirt-before  iovirt as it booted before issue 24: --kernel-decompress
                 guest --i8042 on (the bzImage decompresses itself)
  qemu-microvm   QEMU -M microvm (qboot firmware loads the bzImage)
  qemu-pc        QEMU -M pc (SeaBIOS, linuxboot_dma)

for each kernel (--kernel NAME=PATH, e.g. generic and cloud) and each vCPU
count (--cpus). One (kernel, cpus) pair is a block; within a block runs are
interleaved: round r boots every VMM once, starting one VMM further each
round, so drift of the host and the slow first boot of a fresh test host hit
every VMM alike. Per run:

  first_ms  VMM process start -> the first byte on its stdout (the console)
  init_ms   VMM process start -> the guest's /init marker IOVIRT-INIT
  exit_s    VMM process start -> VMM exit (start-to-poweroff: /init loads its
            modules, idles 2 s in /test.sh, then powers off)
  off_ms    the guest's IOVIRT-TEST-EXIT line -> VMM exit (the poweroff path)
  over_mib  VMM memory overhead: the largest RssAnon + RssFile sampled from
            /proc/PID/status while the guest idles. Guest RAM is a memfd for
            every VMM (iovirt --shared-memory; QEMU memory-backend-memfd), so
            it is RssShmem and left out.
  ram_mib   RssShmem then: the guest RAM the guest touched
  trace     iovirt's --boot-trace lines (phase, ms since iovirt's main())

The tables give medians. Every run is appended to --results as it ends and
runs found there are not run again: when the test host freezes, bench/boot
starts a fresh one that goes on where this one stopped.
"""
import argparse
import os
import re
import shlex
import struct
import sys
import time

# benchlib sits beside this file, wherever it is run or loaded from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Vmm, fmt, load_runs, med, note_lines,  # noqa: E402
                      qemu_version, ratio, record_run, write_report)

MARK_INIT = "IOVIRT-INIT"
MARK_IDLE = "IOVIRT-BENCH-IDLE"
MARK_EXIT = "IOVIRT-TEST-EXIT="
SAMPLE_S = 0.1
TRACE_RE = re.compile(r"^boot-trace: (\S+)\s+.*?\bat\s+([0-9.]+) ms")
VMMS = ("iovirt", "iovirt-vmlinux", "iovirt-before", "qemu-microvm", "qemu-pc")
METRICS = ("first_ms", "init_ms", "exit_s", "off_ms", "over_mib", "ram_mib")
# The bzImage payload's first bytes (setup header payload_offset) -> its
# compression (arch/x86/boot/compressed/Makefile).
PAYLOAD_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                 (b"\x02\x21\x4c\x18", "lz4"), (b"\x5d\x00", "lzma"), (b"BZh", "bzip2"),
                 (b"\x89LZO", "lzo"))


def kernel_info(path):
    """'6.1.0-57-amd64, xz payload 7.7 MiB' from a bzImage's setup header."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
            size = os.fstat(f.fileno()).st_size
            if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
                return "not a bzImage"
            ver = "?"
            ptr, = struct.unpack_from("<H", data, 0x20e)
            if ptr and 0x200 + ptr < len(data):
                ver = data[0x200 + ptr:].split(b" ", 1)[0].split(b"\0", 1)[0].decode("ascii", "replace")
            setup = (data[0x1f1] or 4) + 1
            off, length = struct.unpack_from("<II", data, 0x248)
            start = setup * 512 + off
            if start + 8 > size:
                return f"{ver}, payload out of the file"
            f.seek(start)
            head = f.read(8)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    comp = next((name for magic, name in PAYLOAD_MAGIC if head.startswith(magic)), "unknown")
    return f"{ver}, {comp} payload {length / 1048576:.1f} MiB"


def read_status(pid):
    """RssAnon/RssFile/RssShmem of pid in KiB, or None if it is gone."""
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("RssAnon", "RssFile", "RssShmem"):
                    vals[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return vals if len(vals) == 3 else None


def read_trace(errlog):
    """[[phase, ms], ...] from iovirt's --boot-trace lines on its stderr."""
    trace = []
    try:
        with open(errlog, errors="replace") as f:
            for line in f:
                m = TRACE_RE.match(line)
                if m:
                    trace.append([m.group(1), float(m.group(2))])
    except OSError:
        pass
    return trace


def sample_idle(vm, start, deadline):
    """Samples the VMM's memory every SAMPLE_S until the guest's exit line:
    ((anon + file, shmem) KiB at the largest sample, the line's time)."""
    best = None
    while True:
        st = read_status(vm.proc.pid)
        if st and (best is None or st["RssAnon"] + st["RssFile"] > best[0]):
            best = (st["RssAnon"] + st["RssFile"], st["RssShmem"])
        try:
            _, t_exit = vm.console.wait_for(lambda t: MARK_EXIT in t,
                                            min(deadline, time.monotonic() + SAMPLE_S),
                                            MARK_EXIT, start)
            return best, t_exit
        except BenchError:
            if vm.console.eof or time.monotonic() >= deadline:
                raise


def run_once(cmd, timeout, errlog):
    """Boots once; a dict of metrics, or one with 'error' and 'detail'."""
    res = dict.fromkeys(METRICS)
    res.update(trace=[], first_line=None, error=None, detail=[])
    try:
        vm = Vmm(cmd, errlog)
    except BenchError as e:
        res["error"] = str(e)
        return res
    deadline = vm.t0 + timeout
    try:
        i, t_init = vm.console.wait_for(lambda t: MARK_INIT in t, deadline, MARK_INIT)
        res["init_ms"] = (t_init - vm.t0) * 1000.0
        res["first_ms"] = (vm.console.first_data - vm.t0) * 1000.0
        res["first_line"] = next((t for t in vm.console.texts() if t), "")[:60]
        i, _ = vm.console.wait_for(lambda t: MARK_IDLE in t, deadline, MARK_IDLE, i)
        best, t_exit = sample_idle(vm, i, deadline)
        if best:
            res["over_mib"], res["ram_mib"] = best[0] / 1024.0, best[1] / 1024.0
        t_end = vm.wait_poweroff(deadline)
        res["exit_s"] = t_end - vm.t0
        res["off_ms"] = (t_end - t_exit) * 1000.0
    except BenchError as e:
        res["error"] = str(e)
        res["detail"] = vm.failure_detail()
    finally:
        vm.close()
    res["trace"] = read_trace(errlog)
    return res


def vmm_commands(a, kname, kernel, cpus):
    """(name, command) of each VMM booting kernel with cpus vCPUs."""
    mem = a.memory
    iovirt = [a.iovirt, "run", "--kernel", kernel, "--initrd", a.initrd, "--cmdline", a.cmdline,
              "--memory", mem, "--cpus", str(cpus),
              # memfd RAM like QEMU's below, so guest RAM is RssShmem in both
              "--shared-memory", "--boot-trace"]
    qemu = [a.qemu, "-enable-kvm", "-cpu", "host", "-smp", str(cpus), "-m", mem,
            "-object", f"memory-backend-memfd,id=ram,size={mem}",
            "-nographic", "-nic", "none", "-no-reboot",
            "-kernel", kernel, "-initrd", a.initrd, "-append", a.cmdline]
    return [
        ("iovirt", iovirt),
        # the same kernel's vmlinux, written once by iovirt extract-vmlinux
        ("iovirt-vmlinux", [x if x != kernel else os.path.join(a.vmlinux_dir, f"vmlinux-{kname}")
                            for x in iovirt]),
        ("iovirt-before", iovirt + ["--kernel-decompress", "guest", "--i8042", "on"]),
        # microvm: its default firmware (qboot, bios-microvm.bin) loads the
        # bzImage through fw_cfg; no option ROMs (-nic none leaves no NIC
        # anyway), the ISA serial port for console=ttyS0, the RTC for the clock.
        ("qemu-microvm", qemu[:1] + [
            "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,memory-backend=ram"] + qemu[1:]),
        ("qemu-pc", qemu[:1] + ["-M", "pc,memory-backend=ram"] + qemu[1:]),
    ]


def trace_breakdown(runs):
    """[(phase, median at ms, median step ms)] over the runs' traces, in the
    order the phases happen; a step is the time since the phase before it in
    the same run (what iovirt prints after '+')."""
    order, ats, steps = [], {}, {}
    for res in runs:
        prev = 0.0
        for phase, at in res["trace"]:
            if phase not in ats:
                order.append(phase)
                ats[phase], steps[phase] = [], []
            ats[phase].append(at)
            steps[phase].append(at - prev)
            prev = at
    order.sort(key=lambda p: med(ats[p]))
    return [(p, med(ats[p]), med(steps[p])) for p in order]


def block_report(kname, kpath, cpus, results, failed):
    """The report lines of one (kernel, cpus) block."""
    out = [f"== {kname} kernel ({kernel_info(kpath)}), {cpus} vCPU{'s' if cpus > 1 else ''} =="]
    meds = {}
    for name in VMMS:
        good = [x for x in results[name] if not x["error"]]
        meds[name] = {k: med([x[k] for x in good]) for k in METRICS}
        meds[name]["n"] = len(good)
    hdr = (f"{'vmm':<14} {'n':>2} {'1st byte ms':>11} {'init ms':>9} {'exit s':>7} "
           f"{'poweroff ms':>11} {'overhead MiB':>12} {'guest RAM MiB':>13}")
    out += [hdr, "-" * len(hdr)]
    for name in VMMS:
        m = meds[name]
        out.append(f"{name:<14} {m['n']:>2} {fmt(m['first_ms'], '11.0f')} {fmt(m['init_ms'], '9.0f')} "
                   f"{fmt(m['exit_s'], '7.2f')} {fmt(m['off_ms'], '11.0f')} "
                   f"{fmt(m['over_mib'], '12.1f')} {fmt(m['ram_mib'], '13.1f')}"
                   + ("  FAILED" if name in failed else ""))
    out.append("first console line (first run):")
    for name in VMMS:
        line = next((x["first_line"] for x in results[name] if not x["error"]), None)
        if line is not None:
            out.append(f"  {name:<14} {line!r}")
    out.append("")
    out.append(f"{'ratio':<27} {'init':>6} {'exit':>6} {'overhead':>8}")
    for mine in ("iovirt", "iovirt-vmlinux", "iovirt-before"):
        for peer in ("qemu-pc", "qemu-microvm"):
            x, y = meds[mine], meds[peer]
            out.append(f"{mine + '/' + peer:<27} {fmt(ratio(x['init_ms'], y['init_ms']), '6.2f')} "
                       f"{fmt(ratio(x['exit_s'], y['exit_s']), '6.2f')} "
                       f"{fmt(ratio(x['over_mib'], y['over_mib']), '8.2f')}")
    x, y = meds["iovirt"], meds["iovirt-before"]
    out.append(f"{'iovirt/iovirt-before':<27} {fmt(ratio(x['init_ms'], y['init_ms']), '6.2f')} "
               f"{fmt(ratio(x['exit_s'], y['exit_s']), '6.2f')} "
               f"{fmt(ratio(x['over_mib'], y['over_mib']), '8.2f')}")
    out.append("")
    out.append("boot trace (ms since iovirt's main(); median at, median step from the phase before):")
    mine = ("iovirt", "iovirt-vmlinux", "iovirt-before")
    bd = {name: trace_breakdown([x for x in results[name] if not x["error"]]) for name in mine}
    phases = [p for p, _, _ in bd["iovirt-before"]]
    for name in mine:
        phases += [p for p, _, _ in bd[name] if p not in phases]
    out.append(f"  {'phase':<16}" + "".join(f" {n[:18]:>18} {'step':>8} " for n in mine).rstrip())
    for p in phases:
        row = f"  {p:<16}"
        for name in mine:
            at, step = next(((at, st) for q, at, st in bd[name] if q == p), (None, None))
            row += f" {fmt(at, '18.1f')} {fmt(step, '8.1f')} "
        out.append(row.rstrip())
    out.append(f"  {'IOVIRT-INIT':<16}" + "".join(f" {fmt(meds[n]['init_ms'], '18.1f')} {'':>8} "
                                                  for n in mine).rstrip() + "   (console, bench clock)")
    out.append("")
    out.append("per run (init ms / exit s / overhead MiB):")
    for name in VMMS:
        runs = "  ".join("FAIL" if x["error"] else
                         f"{x['init_ms']:.0f}/{x['exit_s']:.2f}/{fmt(x['over_mib'], '.1f')}"
                         for x in results[name])
        out.append(f"  {name:<14} {runs}")
    for name, res in failed.items():
        out.append("")
        out.append(f"{name} FAILED: {res['error']}")
        out.extend(f"  {line}" for line in res["detail"])
    return out, meds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--kernel", action="append", required=True, metavar="NAME=PATH",
                   help="a kernel to boot (repeat: one block each)")
    p.add_argument("--cpus", default="1,2", help="vCPU counts, comma-separated")
    p.add_argument("--initrd", required=True)
    p.add_argument("--iovirt", required=True)
    p.add_argument("--vmlinux-dir", required=True,
                   help="where vmlinux-NAME, each kernel's vmlinux, was extracted")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--memory", default="512M")
    p.add_argument("--cmdline", default="console=ttyS0 panic=-1 quiet")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--work", required=True, help="a directory for the VMMs' stderr")
    p.add_argument("--out", required=True)
    p.add_argument("--results", required=True, help="runs so far (JSON lines), appended to")
    p.add_argument("--emulated", action="store_true",
                   help="running inside the software-emulated test host")
    p.add_argument("--note", action="append", default=[], help="a line for the report")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: the report of the runs in --results")
    a = p.parse_args()

    kernels = [k.split("=", 1) for k in a.kernel]
    if any(len(k) != 2 for k in kernels):
        p.error("--kernel wants NAME=PATH")
    cpu_counts = [int(c) for c in a.cpus.split(",")]
    done = load_runs(a.results, ("kernel", "cpus", "round", "vmm"))

    t_start = time.monotonic()
    blocks = []
    for kname, kpath in kernels:
        for cpus in cpu_counts:
            vmms = vmm_commands(a, kname, kpath, cpus)
            results = {name: [] for name in VMMS}
            failed = {}
            for rnd in range(a.runs):
                for name, cmd in vmms[rnd % len(vmms):] + vmms[:rnd % len(vmms)]:
                    if name in failed:
                        continue
                    res = done.get((kname, cpus, rnd, name))
                    if res is None and a.report_only:
                        continue
                    was = " (recorded before)" if res is not None else ""
                    if res is None:
                        res = run_once(cmd, a.timeout, os.path.join(a.work, f"{name}.err"))
                        record_run(a.results, res, kernel=kname, cpus=cpus, round=rnd, vmm=name)
                    results[name].append(res)
                    tag = f"bench: {kname} {cpus}cpu {name} run {rnd + 1}/{a.runs}"
                    if res["error"]:
                        failed[name] = res
                        print(f"{tag}: FAILED: {res['error']}{was}", file=sys.stderr)
                        for line in res["detail"]:
                            print(f"bench:   {line}", file=sys.stderr)
                    else:
                        print(f"{tag}: init {res['init_ms']:.0f} ms, exit {res['exit_s']:.2f} s, "
                              f"overhead {fmt(res['over_mib'], '.1f')} MiB{was}",
                              file=sys.stderr, flush=True)
            blocks.append((kname, kpath, cpus, vmms, results, failed))
    total = time.monotonic() - t_start

    out = [f"iovirt boot benchmark (issue 24): median of {a.runs} interleaved rounds per "
           f"(kernel, vCPUs), {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    out += note_lines(a.emulated)
    out += [f"NOTE: {n}" for n in a.note]
    if a.report_only:
        out.append("NOTE: the benchmark stopped early: the report has the runs recorded")
    out.append(f"guest: initrd {os.path.basename(a.initrd)}, {a.memory} RAM, "
               f"cmdline \"{a.cmdline}\", QEMU {qemu_version(a.qemu)}")
    out.append("1st byte = VMM process start -> the first byte on the console (stdout)")
    out.append("init     = VMM process start -> 'IOVIRT-INIT' (first line of the guest's /init)")
    out.append("exit     = VMM process start -> VMM exit (start-to-poweroff: /init loads its")
    out.append("           modules, idles 2 s, powers off); poweroff = the guest's last line -> exit")
    out.append(f"overhead = max RssAnon+RssFile of the VMM process, sampled every {SAMPLE_S:g} s "
               "while the guest idles")
    out.append("           (guest RAM is a memfd for all: RssShmem, not counted)")
    out.append("iovirt-before = iovirt --kernel-decompress guest --i8042 on (the boot before issue 24)")
    out.append("iovirt-vmlinux = iovirt's defaults booting the vmlinux iovirt extract-vmlinux wrote")
    out.append("")
    summary = []
    body = []
    for kname, kpath, cpus, vmms, results, failed in blocks:
        lines, meds = block_report(kname, kpath, cpus, results, failed)
        body += lines + [""]
        mine = [meds[n] for n in ("iovirt", "iovirt-vmlinux", "iovirt-before")]
        cells = []
        for key in ("init_ms", "exit_s"):
            for m in mine:
                for peer in ("qemu-pc", "qemu-microvm"):
                    cells.append(fmt(ratio(m[key], meds[peer][key]), "6.2f"))
        summary.append(f"{kname:<8} {cpus:>4}  " + " ".join(cells[:6]) + "   " + " ".join(cells[6:]))
    out.append("summary: ratios of medians (below 1: faster than QEMU)")
    out.append(f"{'':<14}  {'init':^41}   {'exit (start-to-poweroff)':^41}".rstrip())
    heads = " ".join(f"{n:^13}" for n in ("iovirt", "vmlinux", "before"))
    out.append(f"{'':<14}  {heads}   {heads}".rstrip())
    out.append(f"{'kernel':<8} {'cpus':>4}  " + " ".join(f"{'/pc':>6} {'/micro':>6}" for _ in range(3))
               + "   " + " ".join(f"{'/pc':>6} {'/micro':>6}" for _ in range(3)))
    out += summary
    out.append("")
    out += body
    out.append(f"commands ({blocks[0][0]} kernel, {blocks[0][2]} vCPU; the other blocks change "
               "only the kernel and the vCPU count):")
    for name, cmd in blocks[0][3]:
        out.append(f"  {name}: " + " ".join(shlex.quote(c) for c in cmd))
    out.append("")
    out.append(f"benchmark loop took {total:.0f} s (in its last test host)")
    write_report(a.out, "\n".join(out) + "\n")
    # iovirt must have worked in every block; a peer that cannot boot is reported.
    bad = [f"{k} {c} vCPU" for k, _, c, _, results, _ in blocks
           if not any(not x["error"] for x in results["iovirt"])]
    if bad:
        print(f"bench/boot: iovirt never booted: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
