#!/usr/bin/env python3
"""Firmware boot benchmark driver: bench/firmware runs this where guests can
run (directly on a hardware-KVM machine, or inside the test host via
tools/vmrun).

Each row boots the same kernel and initramfs with 512 MiB and 1 vCPU:
directly (iovirt --kernel, QEMU -M pc -kernel), or through Debian's SeaBIOS
(bios-256k.bin for both VMMs) and GRUB from a tools/mkbootdisk disk on
virtio-blk, NVMe or IDE, or from its ISO on the CD-ROM. Per run:

  init_ms   VMM process start -> the guest's /init marker IOVIRT-INIT on the
            VMM's stdout (the serial console)
  grub_ms   VMM process start -> GRUB's "Booting `iovirt guest'" line (the
            firmware's POST and boot, GRUB's own loading; firmware rows only)
  exit_s    VMM process start -> VMM exit (the guest powers off at once)

Rounds alternate: each round runs every row once, starting one row further
each time, so drift of the host and the slow first boot of a fresh test host
hit every row alike. A row that fails is reported with its console and
stderr and left out of later rounds; the other rows go on. The table gives
medians, the firmware's cost over direct boot within each VMM, and the
ratios iovirt/QEMU per boot medium.

Every run is appended to --results (JSON lines) as it ends, and the runs
found there are not run again: when the test host freezes (QEMU 7.2's TCG
does, under firmware boots too), bench/firmware starts a fresh one and the
benchmark goes on where it stopped.
"""
import argparse
import os
import shlex
import sys
import time

# benchlib sits beside this file, wherever it is run or loaded from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Vmm, fmt, load_runs, med, note_lines,  # noqa: E402
                      qemu_version, ratio, record_run, write_report)

MARK_INIT = "IOVIRT-INIT"
MARK_GRUB = "Booting `iovirt guest'"
MARK_EXIT = "IOVIRT-TEST-EXIT="
MEDIA = ("kernel", "virtio", "nvme", "ide", "cdrom")


def rows(a):
    """(name, VMM, medium, command) of every row, in table order."""
    mem_mib = a.memory.rstrip("M")
    iovirt_fw = [a.iovirt, "run", "--firmware", "bios", "--memory", a.memory, "--cpus", "1"]
    qemu = [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", "host", "-smp", "1", "-m", mem_mib,
            "-nographic", "-nic", "none", "-no-reboot"]
    qemu_fw = qemu + ["-bios", a.bios]
    disk = a.disk
    out = [
        ("iovirt-kernel", "iovirt", "kernel",
         [a.iovirt, "run", "--kernel", a.kernel, "--initrd", a.initrd, "--cmdline", a.cmdline,
          "--memory", a.memory, "--cpus", "1"]),
        ("iovirt-virtio", "iovirt", "virtio", iovirt_fw + ["--disk", f"{disk},if=virtio,boot=on"]),
        ("iovirt-nvme", "iovirt", "nvme", iovirt_fw + ["--disk", f"{disk},if=nvme,boot=on"]),
        ("iovirt-ide", "iovirt", "ide", iovirt_fw + ["--disk", f"{disk},if=ide,boot=on"]),
        ("iovirt-cdrom", "iovirt", "cdrom", iovirt_fw + ["--cdrom", a.iso]),
        ("qemu-kernel", "qemu", "kernel",
         qemu + ["-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline]),
        ("qemu-virtio", "qemu", "virtio", qemu_fw + ["-drive", f"file={disk},if=virtio,format=raw"]),
        ("qemu-nvme", "qemu", "nvme", qemu_fw + ["-drive", f"file={disk},if=none,id=d0,format=raw",
                                                 "-device", "nvme,drive=d0,serial=fw0"]),
        ("qemu-ide", "qemu", "ide", qemu_fw + ["-drive", f"file={disk},if=ide,format=raw"]),
        ("qemu-cdrom", "qemu", "cdrom", qemu_fw + ["-cdrom", a.iso, "-boot", "d"]),
    ]
    if a.rows:
        want = set(a.rows.split(","))
        unknown = want - {r[0] for r in out}
        if unknown:
            raise SystemExit(f"bench/firmware: unknown rows {', '.join(sorted(unknown))} "
                             f"(rows: {', '.join(r[0] for r in out)})")
        out = [r for r in out if r[0] in want]
    return out


def run_once(name, cmd, timeout, workdir):
    """Boots once; a dict of metrics, or one with 'error' and 'detail'."""
    res = {"init_ms": None, "grub_ms": None, "exit_s": None, "error": None, "detail": []}
    try:
        vm = Vmm(cmd, os.path.join(workdir, f"{name}.err"))
    except BenchError as e:
        res["error"] = str(e)
        return res
    deadline = vm.t0 + timeout
    try:
        _, t_init = vm.console.wait_for(lambda t: MARK_INIT in t, deadline, MARK_INIT)
        res["init_ms"] = (t_init - vm.t0) * 1000.0
        with vm.console.cond:
            grub = [t for t, text in vm.console.lines if MARK_GRUB in text]
        if grub:
            res["grub_ms"] = (grub[0] - vm.t0) * 1000.0
        vm.console.wait_for(lambda t: MARK_EXIT in t, deadline, MARK_EXIT)
        res["exit_s"] = vm.wait_poweroff(deadline) - vm.t0
    except BenchError as e:
        res["error"] = str(e)
        res["detail"] = vm.failure_detail()
    finally:
        vm.close()
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--disk", required=True, help="tools/mkbootdisk's disk image")
    p.add_argument("--iso", required=True, help="tools/mkbootdisk's ISO")
    p.add_argument("--iovirt", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--bios", default="/usr/share/seabios/bios-256k.bin")
    p.add_argument("--memory", default="512M")
    p.add_argument("--cmdline", default="console=ttyS0 quiet panic=-1",
                   help="the direct rows' command line: what the images' grub.cfg gives")
    p.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    p.add_argument("--work", required=True, help="a directory for the VMMs' stderr")
    p.add_argument("--out", required=True)
    p.add_argument("--emulated", action="store_true")
    p.add_argument("--kernel-name", default="")
    p.add_argument("--results", required=True, help="runs so far (JSON lines), appended to")
    p.add_argument("--note", action="append", default=[], help="a line for the report")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: the report of the runs in --results")
    a = p.parse_args()

    table = rows(a)
    done = load_runs(a.results, ("round", "row"))
    results = {r[0]: [] for r in table}
    failed = {}
    t_start = time.monotonic()
    for rnd in range(a.runs):
        order = table[rnd % len(table):] + table[:rnd % len(table)]
        for name, _, _, cmd in order:
            if name in failed:
                continue
            res = done.get((rnd, name))
            if res is None and a.report_only:
                continue
            was = " (recorded before)" if res is not None else ""
            if res is None:
                res = run_once(name, cmd, a.timeout, a.work)
                record_run(a.results, res, round=rnd, row=name)
            results[name].append(res)
            if res["error"]:
                failed[name] = res
                print(f"bench: {name} run {rnd + 1}: FAILED: {res['error']}{was}", file=sys.stderr)
                for line in res["detail"]:
                    print(f"bench:   {line}", file=sys.stderr)
            else:
                print(f"bench: {name} run {rnd + 1}/{a.runs}: init {res['init_ms']:.0f} ms"
                      + (f" (GRUB at {res['grub_ms']:.0f} ms)" if res["grub_ms"] else "")
                      + f", exit {res['exit_s']:.1f} s{was}", file=sys.stderr, flush=True)
    total = time.monotonic() - t_start

    meds = {}
    for name, _, _, _ in table:
        good = [x for x in results[name] if not x["error"]]
        meds[name] = {k: med([x[k] for x in good]) for k in ("init_ms", "grub_ms", "exit_s")}
        meds[name]["n"] = len(good)

    def direct_of(vmm):
        m = meds.get(f"{vmm}-kernel")
        return m["init_ms"] if m else None

    out = [f"iovirt firmware boot benchmark: median of {a.runs} alternating rounds "
           f"({time.strftime('%Y-%m-%d %H:%M:%S')})"]
    out += note_lines(a.emulated)
    out += [f"NOTE: {n}" for n in a.note]
    ran = sum(len(v) for v in results.values())
    if a.report_only:
        out.append(f"NOTE: the benchmark stopped early: the {ran} runs recorded")
    out.append(f"guest: {a.kernel_name or a.kernel}, initrd {os.path.basename(a.initrd)}, "
               f"{a.memory} RAM, 1 vCPU, QEMU {qemu_version(a.qemu)} -M pc")
    out.append(f"firmware: {a.bios} for both VMMs; GRUB from tools/mkbootdisk "
               f"({os.path.basename(a.disk)}, {os.path.basename(a.iso)})")
    out.append(f"kernel command line: \"{a.cmdline}\" (GRUB adds BOOT_IMAGE=)")
    out.append("init    = VMM process start -> 'IOVIRT-INIT' (first line of the guest's /init)")
    out.append("grub    = VMM process start -> GRUB's \"Booting `iovirt guest'\" line")
    out.append("fw cost = init - the same VMM's direct kernel boot (init)")
    out.append("exit s  = VMM process start -> VMM exit (the guest powers off at once)")
    out.append("")
    hdr = f"{'row':<15} {'n':>2} {'init ms':>9} {'grub ms':>9} {'fw cost ms':>11} {'exit s':>7}"
    out.append(hdr)
    out.append("-" * len(hdr))
    for name, vmm, medium, _ in table:
        m = meds[name]
        cost = None
        if medium != "kernel" and m["init_ms"] is not None and direct_of(vmm) is not None:
            cost = m["init_ms"] - direct_of(vmm)
        status = "  FAILED" if name in failed else ""
        out.append(f"{name:<15} {m['n']:>2} {fmt(m['init_ms'], '9.0f')} {fmt(m['grub_ms'], '9.0f')} "
                   f"{fmt(cost, '11.0f')} {fmt(m['exit_s'], '7.1f')}{status}")
    out.append("")
    for medium in MEDIA:
        io, qe = meds.get(f"iovirt-{medium}"), meds.get(f"qemu-{medium}")
        if io is None or qe is None:
            continue
        out.append(f"ratio iovirt/qemu {medium:<7} init {fmt(ratio(io['init_ms'], qe['init_ms']), '6.2f')}"
                   + ("" if medium == "kernel" else
                      f"   grub {fmt(ratio(io['grub_ms'], qe['grub_ms']), '6.2f')}"))
    out.append("")
    out.append("per run (init ms):")
    for name, _, _, _ in table:
        runs = "  ".join("FAIL" if x["error"] else f"{x['init_ms']:.0f}" for x in results[name])
        out.append(f"  {name:<15} {runs}")
    for name, res in failed.items():
        out.append("")
        out.append(f"{name} FAILED: {res['error']}")
        out.extend(f"  {line}" for line in res["detail"])
    out.append("")
    out.append("commands:")
    for name, _, _, cmd in table:
        out.append(f"  {name}: " + " ".join(shlex.quote(c) for c in cmd))
    out.append("")
    out.append(f"benchmark loop took {total:.0f} s (in its last test host)")
    write_report(a.out, "\n".join(out) + "\n")
    # Every iovirt row must have worked; a QEMU row that fails is reported.
    bad = [n for n, vmm, _, _ in table if vmm == "iovirt" and meds[n]["n"] == 0]
    if bad:
        print(f"bench/firmware: iovirt rows failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
