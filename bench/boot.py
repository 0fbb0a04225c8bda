#!/usr/bin/env python3
"""Boot benchmark driver: bench/boot runs this where guests can run (directly
on a hardware-KVM machine, or inside the test host via tools/vmrun).

For each VMM (iovirt, QEMU -M microvm, QEMU -M pc) and each run it starts the
VMM on the same kernel + initramfs and measures:

  init_ms   time from just before the VMM process is started to the moment
            the guest's /init marker `IOVIRT-INIT` arrives on the VMM's stdout
  over_mib  VMM memory overhead: the largest RssAnon + RssFile sampled from
            /proc/PID/status while the guest sits idle (its /test.sh prints
            IOVIRT-BENCH-IDLE and sleeps). Guest RAM is a memfd for every VMM
            (iovirt's own; QEMU gets memory-backend-memfd), so it is counted
            in RssShmem and not in the overhead.
  ram_mib   RssShmem at the same time: guest RAM the guest has touched
  hwm_mib   VmHWM (peak total RSS, guest RAM included), last sample
  exit_s    time from start until the VMM process exited (guest poweroff)

Runs are interleaved (round r: every VMM once) so drift of the host hits all
VMMs alike; the table gives the median of each metric.
"""
import argparse
import os
import select
import shlex
import signal
import subprocess
import sys
import time

# benchlib sits beside this file, wherever it is run or loaded from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import fmt, med, ratio  # noqa: E402

MARK_INIT = b"IOVIRT-INIT"
MARK_IDLE = b"IOVIRT-BENCH-IDLE"
MARK_EXIT = b"IOVIRT-TEST-EXIT="
SAMPLE_S = 0.1


def read_status(pid):
    """RssAnon/RssFile/RssShmem/VmHWM of pid in KiB, or None if it is gone."""
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    vals[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return vals if len(vals) == 4 else None


def clean(data):
    """Console bytes -> printable text (drops CRs and terminal escapes)."""
    import re
    text = data.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r", "", text)
    return text


def run_once(cmd, timeout):
    """Boots once; returns a dict of metrics, or one with 'error' set."""
    res = {"init_ms": None, "over_mib": None, "ram_mib": None,
           "hwm_mib": None, "exit_s": None, "error": None}
    buf = b""
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as e:
        res["error"] = f"cannot start {cmd[0]}: {e}"
        return res
    fd = proc.stdout.fileno()
    state = "boot"          # boot -> init -> idle -> done
    best = None             # (anon+file, shmem) KiB at the max sample
    hwm = None
    next_sample = 0.0
    eof = False
    try:
        while True:
            now = time.monotonic()
            if now - t0 > timeout:
                res["error"] = f"timed out after {timeout}s in state '{state}'"
                break
            # Block on the console while booting (no polling that would steal
            # the test host's only CPU); tick for samples once idle.
            wait = SAMPLE_S if state == "idle" else 1.0
            if state == "idle":
                wait = max(0.0, min(wait, next_sample - now))
            if not eof:
                r, _, _ = select.select([fd], [], [], wait)
                if r:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        eof = True
                    else:
                        tnow = time.monotonic()
                        start = max(0, len(buf) - 32)
                        buf += chunk
                        if state == "boot" and MARK_INIT in buf[start:]:
                            res["init_ms"] = (tnow - t0) * 1000.0
                            state = "init"
                        if state == "init" and MARK_IDLE in buf:
                            state = "idle"
                            next_sample = tnow
                        if state in ("init", "idle") and MARK_EXIT in buf[start:]:
                            state = "done"
            else:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
            if state == "idle" and time.monotonic() >= next_sample:
                st = read_status(proc.pid)
                if st:
                    over = st["RssAnon"] + st["RssFile"]
                    if best is None or over > best[0]:
                        best = (over, st["RssShmem"])
                    hwm = st["VmHWM"]
                next_sample += SAMPLE_S
            if state == "done" or (eof and proc.poll() is not None):
                break
        if res["error"] is None:
            # The guest is powering off: give the VMM time to exit by itself.
            try:
                proc.wait(timeout=max(5.0, timeout - (time.monotonic() - t0)))
                res["exit_s"] = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                res["error"] = "guest finished but the VMM did not exit"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        # Drain what is left, for the failure report.
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        proc.stdout.close()
    if best:
        res["over_mib"] = best[0] / 1024.0
        res["ram_mib"] = best[1] / 1024.0
    if hwm:
        res["hwm_mib"] = hwm / 1024.0
    if res["error"] is None:
        if res["init_ms"] is None:
            res["error"] = f"exited {proc.returncode} without the {MARK_INIT.decode()} marker"
        elif best is None:
            res["error"] = f"exited {proc.returncode} before the idle phase was sampled"
        elif proc.returncode != 0:
            res["error"] = f"exited {proc.returncode}"
    if res["error"]:
        tail = [l for l in clean(buf).splitlines() if l.strip()][-15:]
        res["console_tail"] = tail
    return res


def vmm_commands(a):
    cmdline = a.cmdline
    mem = a.memory
    qemu_common = [
        a.qemu, "-enable-kvm", "-cpu", "host", "-smp", "1", "-m", mem,
        "-object", f"memory-backend-memfd,id=ram,size={mem}",
        "-nographic", "-nic", "none", "-no-reboot",
        "-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline,
    ]
    return [
        ("iovirt", [a.iovirt, "run", "--kernel", a.kernel, "--initrd", a.initrd,
                    "--cmdline", cmdline, "--memory", mem, "--cpus", "1",
                    # memfd RAM like QEMU's below, so guest RAM is RssShmem in both
                    "--shared-memory"]),
        # microvm: its default firmware (qboot, bios-microvm.bin) loads the
        # bzImage through fw_cfg; no option ROMs (-nic none leaves no NIC
        # anyway), the ISA serial port for console=ttyS0, the RTC for the clock.
        ("qemu-microvm", qemu_common[:1] + [
            "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,memory-backend=ram"]
            + qemu_common[1:]),
        ("qemu-pc", qemu_common[:1] + ["-M", "pc,memory-backend=ram"] + qemu_common[1:]),
    ]



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--iovirt", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--memory", default="512M")
    p.add_argument("--cmdline", default="console=ttyS0 panic=-1 quiet")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--out", required=True)
    p.add_argument("--emulated", action="store_true",
                   help="running inside the software-emulated test host")
    p.add_argument("--kernel-name", default="")
    a = p.parse_args()

    vmms = vmm_commands(a)
    results = {name: [] for name, _ in vmms}
    failed = {}             # name -> first failure (it is not retried)
    t_start = time.monotonic()
    for r in range(a.runs):
        for name, cmd in vmms:
            if name in failed:
                continue
            res = run_once(cmd, a.timeout)
            results[name].append(res)
            if res["error"]:
                failed[name] = res
                print(f"bench: {name} run {r + 1}: FAILED: {res['error']}", file=sys.stderr)
                for l in res.get("console_tail", []):
                    print(f"bench:   | {l}", file=sys.stderr)
            else:
                print(f"bench: {name} run {r + 1}/{a.runs}: init {res['init_ms']:.0f} ms, "
                      f"overhead {res['over_mib']:.1f} MiB, guest RAM {res['ram_mib']:.1f} MiB, "
                      f"exit {res['exit_s']:.1f} s", file=sys.stderr, flush=True)
    total = time.monotonic() - t_start

    def good(name):
        return [x for x in results[name] if not x["error"]]

    meds = {}
    for name, _ in vmms:
        g = good(name)
        meds[name] = {k: med([x[k] for x in g]) for k in
                      ("init_ms", "over_mib", "ram_mib", "hwm_mib", "exit_s")}
        meds[name]["n"] = len(g)

    out = []
    out.append(f"iovirt boot benchmark: median of {a.runs} runs per VMM "
               f"(interleaved), {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if a.emulated:
        out.append("NOTE: measured inside the software-emulated test host (QEMU TCG with nested")
        out.append("      KVM, see docs/TESTHOST.md): absolute times are far slower than real")
        out.append("      hardware. Compare the ratios, within this one run, only.")
    else:
        out.append("NOTE: measured directly on this machine's hardware KVM.")
    out.append(f"guest: {a.kernel_name or a.kernel}, initrd {os.path.basename(a.initrd)}, "
               f"{a.memory} RAM, 1 vCPU, cmdline \"{a.cmdline}\"")
    out.append("init     = VMM process start -> 'IOVIRT-INIT' (first line of the guest's /init) on its stdout")
    out.append("overhead = max RssAnon+RssFile of the VMM process, sampled every "
               f"{SAMPLE_S:g} s while the guest idles 2 s")
    out.append("           after init (guest RAM is a memfd for all three: RssShmem, not counted)")
    out.append("guest RAM= RssShmem at that sample (guest RAM the guest touched);"
               " VmHWM = peak total RSS")
    out.append("exit s   = VMM process start -> VMM exit (init, module loading, 2 s idle, poweroff)")
    out.append("")
    hdr = f"{'VMM':<14} {'n':>2} {'init ms':>9} {'overhead MiB':>13} {'guest RAM MiB':>14} {'VmHWM MiB':>10} {'exit s':>7}"
    out.append(hdr)
    out.append("-" * len(hdr))
    for name, _ in vmms:
        m = meds[name]
        out.append(f"{name:<14} {m['n']:>2} {fmt(m['init_ms'], '9.0f')} {fmt(m['over_mib'], '13.1f')} "
                   f"{fmt(m['ram_mib'], '14.1f')} {fmt(m['hwm_mib'], '10.1f')} {fmt(m['exit_s'], '7.1f')}")
    out.append("")
    io = meds["iovirt"]
    for peer in ("qemu-microvm", "qemu-pc"):
        pm = meds[peer]
        out.append(f"ratio iovirt/{peer:<13} init {fmt(ratio(io['init_ms'], pm['init_ms']), '6.2f')}   "
                   f"overhead {fmt(ratio(io['over_mib'], pm['over_mib']), '6.2f')}")
    out.append("")
    out.append("per run (init ms / overhead MiB):")
    for name, _ in vmms:
        runs = "  ".join("FAIL" if x["error"] else f"{x['init_ms']:.0f}/{x['over_mib']:.1f}"
                         for x in results[name])
        out.append(f"  {name:<14} {runs}")
    for name, res in failed.items():
        out.append("")
        out.append(f"{name} FAILED: {res['error']}; last console lines:")
        out.extend(f"  | {l}" for l in res.get("console_tail", []))
    out.append("")
    out.append("commands:")
    for name, cmd in vmms:
        out.append(f"  {name}: " + " ".join(shlex.quote(c) for c in cmd))
    out.append("")
    out.append(f"benchmark loop took {total:.0f} s")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(a.out + ".tmp", a.out)
    sys.stdout.write(text)
    # iovirt must have worked; a peer that cannot boot is reported, not fatal.
    return 0 if meds["iovirt"]["n"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
