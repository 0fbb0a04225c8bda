#!/usr/bin/env python3
"""Snapshot benchmark driver: bench/snapshot runs this where guests can run
(directly on a hardware-KVM machine, or inside the test host via tools/vmrun).

For each guest RAM size and each round, iovirt and QEMU (-M pc) boot the same
kernel + initramfs, whose /test.sh fills BENCH_FILL_MB of the guest's /tmp
with random data, prints IOVIRT-BENCH-READY, then spins printing TICK=<n>.
Once a few TICKs came the VM is paused and saved, the VMM killed, and the
snapshot resumed in a new process:

  snap_s     paused VM -> snapshot complete. iovirt: PUT vm.snapshot on its
             API socket until the reply; QEMU: QMP `migrate` to the file
             (fd: or exec:cat) until the MIGRATION event says completed.
             Both asked from here, so neither counts a client process start.
  read_s     VMM process start -> the first TICK=n with n above every TICK
  map_s      printed before the pause. iovirt twice: --restore DIR (RAM read
             in) and --restore DIR,memory=map (mapped copy-on-write); QEMU
             once: -incoming defer, migrate-incoming from the file, `cont`
             once the incoming side has loaded (it stays paused, since the
             source was paused: the cont is part of its time).
  disk_kib   the snapshot's allocated blocks (du); apparent_kib its sizes

The guest's TICK loop spins instead of sleeping: QEMU's guest clock stands
still while stopped but iovirt's advances (its clock policy), so a sleeping
guest would wake at once under iovirt and only at the end of its sleep under
QEMU. A spin resumes where it was under both.

Rounds are interleaved (each round both VMMs, the first one alternating) so
drift of the host hits both alike; the table gives medians and the ratios
iovirt/QEMU. Every snapshot lives in --work and is removed after its round.
"""
import argparse
import os
import re
import shlex
import sys
import time

# benchlib sits beside this file, wherever it is run or loaded from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Qmp, Vmm, api_put, fmt, med, note_lines, parse_size,
                      qemu_version, ratio, remove, size_name, write_report)

MARK_READY = "IOVIRT-BENCH-READY"
TICK_RE = re.compile(r"^TICK=(\d+)$")
TICKS_BEFORE_PAUSE = 3      # TICKs seen after READY before the pause
QUIET_S = 0.3               # console silence that ends the drain after a pause
QEMU = "qemu-pc"            # the peer's name in the table
METRICS = ("snap_s", "read_s", "map_s", "disk_kib", "apparent_kib")


def tick_of(line):
    m = TICK_RE.match(line)
    return int(m.group(1)) if m else None


def wait_running(vm, deadline):
    """Waits for READY and TICKS_BEFORE_PAUSE TICKs after it."""
    i, _ = vm.console.wait_for(lambda t: t == MARK_READY, deadline, MARK_READY)
    for _ in range(TICKS_BEFORE_PAUSE):
        i, _ = vm.console.wait_for(lambda t: tick_of(t) is not None, deadline, "TICK", i + 1)


def drain_last_tick(vm, deadline):
    """After a pause: the last TICK the guest printed (its console drained)."""
    vm.console.wait_quiet(QUIET_S, deadline)
    ticks = [n for n in map(tick_of, vm.console.texts()) if n is not None]
    last = max(ticks) if ticks else None
    if last is None:
        raise BenchError("no TICK before the pause")
    return last


def wait_new_tick(vm, last, deadline):
    """Seconds from the VMM's start to the first TICK above last, and its n."""
    i, t = vm.console.wait_for(lambda s: (tick_of(s) or 0) > last, deadline,
                               f"TICK above {last} (the guest running again)")
    return t - vm.t0, tick_of(vm.console.lines[i][1])


def disk_usage(path):
    """(allocated KiB, apparent KiB) of a file or a directory tree."""
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    alloc = apparent = 0
    for p in paths:
        st = os.lstat(p)
        alloc += st.st_blocks * 512
        apparent += st.st_size
    return alloc / 1024.0, apparent / 1024.0


# ------------------------------------------------------------------ iovirt --

def iovirt_boot_cmd(a, mib, sock):
    return [a.iovirt, "run", "--kernel", a.kernel, "--initrd", a.initrd,
            "--cmdline", a.cmdline, "--memory", size_name(mib), "--cpus", "1",
            "--api-socket", sock]


def run_iovirt(a, mib, tag, res):
    sock = os.path.join(a.work, "iovirt.sock")
    snap = os.path.join(a.work, f"iovirt-{tag}")
    remove(sock)
    remove(snap)
    try:
        with Vmm(iovirt_boot_cmd(a, mib, sock), os.path.join(a.work, "iovirt.err")) as vm:
            res["_vm"] = vm
            deadline = vm.t0 + a.timeout
            wait_running(vm, deadline)
            api_put(sock, "vm.pause", None, a.timeout)
            last = drain_last_tick(vm, deadline)
            t0 = time.monotonic()
            api_put(sock, "vm.snapshot", {"destination_url": "file://" + os.path.abspath(snap)},
                    a.timeout)
            res["snap_s"] = time.monotonic() - t0
            res["disk_kib"], res["apparent_kib"] = disk_usage(snap)
            res["last_tick"] = last
        for key, suffix in (("read_s", ""), ("map_s", ",memory=map")):
            cmd = [a.iovirt, "run", "--restore", snap + suffix]
            with Vmm(cmd, os.path.join(a.work, "iovirt-restore.err")) as vm:
                res["_vm"] = vm
                res[key], res[key + "_tick"] = wait_new_tick(vm, last, vm.t0 + a.timeout)
        res.pop("_vm", None)
    finally:
        remove(snap)
        remove(sock)


# -------------------------------------------------------------------- QEMU --

def qemu_boot_cmd(a, mib, qsock):
    return [a.qemu, "-M", "pc", "-enable-kvm", "-cpu", "host", "-smp", "1",
            "-m", f"{mib}M", "-nographic", "-nic", "none", "-no-reboot",
            "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline,
            "-qmp", f"unix:{qsock},server=on,wait=off"]


EVENTS_ON = {"capabilities": [{"capability": "events", "state": True}]}


def run_qemu(a, mib, tag, res):
    qsock = os.path.join(a.work, "qmp.sock")
    snap = os.path.join(a.work, f"qemu-{tag}.mig")
    remove(qsock)
    remove(snap)
    try:
        with Vmm(qemu_boot_cmd(a, mib, qsock), os.path.join(a.work, "qemu.err")) as vm:
            res["_vm"] = vm
            deadline = vm.t0 + a.timeout
            wait_running(vm, deadline)
            qmp = Qmp(qsock, deadline, vm)
            try:
                qmp.cmd("migrate-set-capabilities", EVENTS_ON)
                qmp.cmd("stop")
                last = drain_last_tick(vm, deadline)
                if a.qemu_channel == "fd":
                    fd = os.open(snap, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    try:
                        qmp.cmd("getfd", {"fdname": "snap"}, fds=[fd])
                    finally:
                        os.close(fd)
                    uri = "fd:snap"
                else:
                    uri = f"exec:cat > {shlex.quote(snap)}"
                t0 = time.monotonic()
                qmp.cmd("migrate", {"uri": uri})
                qmp.wait_migration()
                res["snap_s"] = time.monotonic() - t0
            finally:
                qmp.close()
            res["last_tick"] = last
        res["disk_kib"], res["apparent_kib"] = disk_usage(snap)
        fd = os.open(snap, os.O_RDONLY)
        try:
            uri = f"fd:{fd}" if a.qemu_channel == "fd" else f"exec:cat {shlex.quote(snap)}"
            cmd = qemu_boot_cmd(a, mib, qsock) + ["-incoming", "defer"]
            remove(qsock)
            with Vmm(cmd, os.path.join(a.work, "qemu-restore.err"), pass_fds=(fd,)) as vm:
                os.close(fd)
                fd = -1
                res["_vm"] = vm
                deadline = vm.t0 + a.timeout
                qmp = Qmp(qsock, deadline, vm)
                try:
                    qmp.cmd("migrate-set-capabilities", EVENTS_ON)
                    qmp.cmd("migrate-incoming", {"uri": uri})
                    qmp.wait_migration()
                    res["loaded_s"] = time.monotonic() - vm.t0
                    # The source was paused, so the destination stays paused
                    # (not inmigrate any more once loaded): go on with cont.
                    while True:
                        status = qmp.cmd("query-status").get("status")
                        if status == "running":
                            break
                        if status != "inmigrate":
                            qmp.cmd("cont")
                            break
                        if time.monotonic() > deadline:
                            raise BenchError("QEMU stayed inmigrate")
                        time.sleep(0.005)
                finally:
                    qmp.close()
                res["read_s"], res["read_s_tick"] = wait_new_tick(vm, last, deadline)
        finally:
            if fd >= 0:
                os.close(fd)
        res.pop("_vm", None)
    finally:
        remove(snap)
        remove(qsock)


# ------------------------------------------------------------------- table --

def medians(runs):
    """Medians over the runs that did not fail (a failed run's numbers are
    only in its line of the per-run list)."""
    good = [r for r in runs if not r.get("error")]
    m = {k: med([r.get(k) for r in good]) for k in METRICS}
    m["n"] = len(good)
    return m


def render(meta, sizes, results, skipped):
    """The report. sizes: MiB in order; results[mib][vmm]: run dicts;
    skipped[mib]: why that size was not measured."""
    out = [f"iovirt snapshot benchmark: median of {meta['runs']} runs per VMM and size "
           f"(interleaved), {meta['date']}"]
    out += note_lines(meta.get("emulated"))
    out += [
        f"guest: {meta['kernel']}, initrd {meta['initrd']}, 1 vCPU, cmdline \"{meta['cmdline']}\";",
        f"       its /tmp holds {meta['fill_mb']} MiB of random data, then it spins printing"
        f" TICK=n (~{meta['tick_ms']} ms apart)",
        f"snapshots in {meta['work_fs']} ({meta['work']}); QEMU {meta['qemu_version']},"
        f" -M pc, migration over {meta['qemu_channel']}:",
        "snapshot s = paused VM -> snapshot done: iovirt PUT vm.snapshot (API socket) until its",
        "             reply; QEMU QMP migrate to the file until the MIGRATION event 'completed'",
        "restore s  = VMM process start -> first TICK above the last one before the pause;",
        "             iovirt --restore DIR (read: RAM read in; map: memory=map, copy-on-write);",
        "             QEMU -incoming defer, migrate-incoming, cont once loaded (one way only)",
        "on disk    = allocated blocks (du) of the snapshot; apparent = its files' sizes",
        "",
    ]
    hdr = (f"{'RAM':<5} {'VMM':<8} {'n':>2} {'snapshot s':>10} {'restore read s':>14} "
           f"{'restore map s':>13} {'on disk MiB':>11} {'apparent MiB':>12} {'disk/RAM':>8}")
    out += [hdr, "-" * len(hdr)]
    ratios = []
    for mib in sizes:
        if mib in skipped:
            out.append(f"{size_name(mib):<5} skipped: {skipped[mib]}")
            continue
        ms = {}
        for vmm in ("iovirt", QEMU):
            m = ms[vmm] = medians(results[mib][vmm])
            disk = m["disk_kib"] / 1024.0 if m["disk_kib"] is not None else None
            app = m["apparent_kib"] / 1024.0 if m["apparent_kib"] is not None else None
            share = ratio(disk, mib)
            pct = f"{share * 100:7.1f}%" if share is not None else f"{'n/a':>8}"
            out.append(f"{size_name(mib):<5} {vmm:<8} {m['n']:>2} {fmt(m['snap_s'], '10.3f')} "
                       f"{fmt(m['read_s'], '14.3f')} {fmt(m['map_s'], '13.3f')} "
                       f"{fmt(disk, '11.1f')} {fmt(app, '12.1f')} {pct}")
        io, q = ms["iovirt"], ms[QEMU]
        ratios.append(f"{size_name(mib):<5} snapshot {fmt(ratio(io['snap_s'], q['snap_s']), '5.2f')}"
                      f"   restore read {fmt(ratio(io['read_s'], q['read_s']), '5.2f')}"
                      f"   restore map {fmt(ratio(io['map_s'], q['read_s']), '5.2f')}"
                      f"   on disk {fmt(ratio(io['disk_kib'], q['disk_kib']), '5.2f')}")
    out += ["", f"ratio iovirt/{QEMU} (below 1: iovirt faster, or its snapshot smaller;"
            " both restores against QEMU's one):"]
    out += ratios or ["  (no size measured)"]
    out += ["", "per run (snapshot s / restore read s / restore map s, first TICK after the restore):"]
    for mib in sizes:
        if mib in skipped:
            continue
        for vmm in ("iovirt", QEMU):
            cells = []
            for r in results[mib][vmm]:
                if r.get("error"):
                    cells.append("FAIL")
                    continue
                cells.append("/".join(fmt(r.get(k), ".3f") for k in ("snap_s", "read_s", "map_s"))
                             + f" (TICK {r.get('last_tick')}->{r.get('read_s_tick')})")
            out.append(f"  {size_name(mib):<5} {vmm:<8} " + "  ".join(cells))
    for mib in sizes:
        for vmm in ("iovirt", QEMU):
            for r in results.get(mib, {}).get(vmm, []):
                if r.get("error"):
                    out += ["", f"{size_name(mib)} {vmm} FAILED: {r['error']}"]
                    out += [f"  {line}" for line in r.get("detail", [])]
    if meta.get("commands"):
        out += ["", f"commands ({meta['commands_size']} shown; iovirt restores:"
                " run --restore DIR[,memory=map]):"]
        out += [f"  {name}: {cmd}" for name, cmd in meta["commands"]]
    if meta.get("loop_s") is not None:
        out += ["", f"benchmark loop took {meta['loop_s']:.0f} s"]
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------- main --

def room_for(work, mib):
    """None if work has room for two snapshots of a guest of mib MiB
    (each at most its RAM), else why not."""
    st = os.statvfs(work)
    free_mib = st.f_bavail * st.f_frsize / 2**20
    need = 2 * mib + 64
    if free_mib >= need:
        return None
    return (f"{free_mib:.0f} MiB free in {work}, two snapshots of {size_name(mib)} need "
            f"{need} MiB (give the test host more --mem via IOVIRT_TESTHOST_ARGS, or "
            f"BENCH_SNAPSHOT_TMP)")


def fs_type(path):
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sizes", default="512M,2G")
    p.add_argument("--kernel", required=True)
    p.add_argument("--kernel-name", default="")
    p.add_argument("--initrd", required=True)
    p.add_argument("--iovirt", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--qemu-channel", choices=("fd", "exec"), default="fd")
    p.add_argument("--cmdline", default="console=ttyS0 panic=-1 quiet")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per boot or restore")
    p.add_argument("--fill-mb", type=int, default=64)
    p.add_argument("--tick-ms", type=int, default=20)
    p.add_argument("--work", required=True, help="where the snapshots go (removed after each)")
    p.add_argument("--out", required=True)
    p.add_argument("--emulated", action="store_true")
    a = p.parse_args(argv)
    sizes = [parse_size(s) for s in a.sizes.replace(",", " ").split()]

    skipped = {}
    for mib in sizes:
        why = room_for(a.work, mib)
        if why:
            skipped[mib] = why
            print(f"bench: {size_name(mib)} skipped: {why}", file=sys.stderr, flush=True)
    results = {mib: {"iovirt": [], QEMU: []} for mib in sizes}
    runners = {"iovirt": run_iovirt, QEMU: run_qemu}
    failed = set()              # (mib, vmm): not run again after a failure
    t_start = time.monotonic()
    for mib in sizes:
        if mib in skipped:
            continue
        for r in range(a.runs):
            order = ("iovirt", QEMU) if r % 2 == 0 else (QEMU, "iovirt")
            for vmm in order:
                if (mib, vmm) in failed:
                    continue
                res = {}
                try:
                    runners[vmm](a, mib, f"{size_name(mib)}-{r + 1}", res)
                except (BenchError, OSError, ValueError) as e:
                    # OSError: a file or socket; ValueError: a reply that is
                    # not JSON. Either way this VMM's run, not the benchmark.
                    res["error"] = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
                    vm = res.pop("_vm", None)
                    res["detail"] = vm.failure_detail() if vm else []
                    failed.add((mib, vmm))
                results[mib][vmm].append(res)
                label = f"bench: {size_name(mib)} {vmm} run {r + 1}/{a.runs}"
                if res.get("error"):
                    print(f"{label}: FAILED: {res['error']}", file=sys.stderr)
                    for line in res["detail"]:
                        print(f"bench:   {line}", file=sys.stderr)
                else:
                    print(f"{label}: snapshot {res['snap_s']:.3f} s, restore read "
                          f"{res['read_s']:.3f} s" +
                          (f", map {res['map_s']:.3f} s" if "map_s" in res else "") +
                          f", {res['disk_kib'] / 1024:.1f} MiB on disk", file=sys.stderr, flush=True)

    msize = sizes[0]
    meta = {
        "runs": a.runs, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "emulated": a.emulated,
        "kernel": a.kernel_name or a.kernel, "initrd": os.path.basename(a.initrd),
        "cmdline": a.cmdline, "fill_mb": a.fill_mb, "tick_ms": a.tick_ms,
        "work": a.work, "work_fs": fs_type(os.path.realpath(a.work)),
        "qemu_version": qemu_version(a.qemu), "qemu_channel": a.qemu_channel,
        "loop_s": time.monotonic() - t_start,
        "commands_size": size_name(msize),
        "commands": [
            ("iovirt", " ".join(shlex.quote(c) for c in
                                iovirt_boot_cmd(a, msize, os.path.join(a.work, "iovirt.sock")))),
            (QEMU, " ".join(shlex.quote(c) for c in
                            qemu_boot_cmd(a, msize, os.path.join(a.work, "qmp.sock")))),
        ],
    }
    write_report(a.out, render(meta, sizes, results, skipped))
    # iovirt must have worked on every size measured; a QEMU failure is reported.
    ok = all(medians(results[m]["iovirt"])["n"] > 0 for m in sizes if m not in skipped)
    return 0 if ok and len(skipped) < len(sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
