#!/usr/bin/env python3
"""bench/passthrough's measuring (inside the test host; see bench/passthrough).

  passthrough.py measure --name N --runs R --timeout S --out F.json -- CMD...
      boots CMD (a VMM with the bench guest) R times with bench/virtio.py's
      run_once: fio IOPS and KVM exit counters per job
  passthrough.py native --dev /dev/nvme0n1 --runtime S --runs R --out F.json
      the same fio jobs on the test host itself
  passthrough.py report --dir D --out TXT ...
      the table: medians, and the ratios the issue asks for
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import virtio  # noqa: E402  (run_once, med, fmt)

JOBS = [("randread-qd1", "4k randread qd1", 1), ("randread-qd32", "4k randread qd32", 32)]
CONFIGS = [
    ("native", "the test host's own nvme driver, no VM"),
    ("iovirt-pf", "iovirt --device vfio=PF (direct assignment)"),
    ("qemu-pf", "QEMU -device vfio-pci,host=PF"),
    ("iovirt-vf", "iovirt --device vfio=PF,vf=0 (shared assignment, SR-IOV)"),
    ("qemu-vf", "QEMU -device vfio-pci,host=VF0"),
    ("iovirt-emu", "iovirt emulated NVMe on a file on the PF's ext4, cache=none"),
    ("iovirt-virtio", "iovirt virtio-blk on the same file, cache=none"),
]
RATIOS = [("iovirt-pf", "native"), ("iovirt-pf", "qemu-pf"), ("iovirt-vf", "qemu-vf"),
          ("iovirt-vf", "native"), ("iovirt-emu", "iovirt-pf"), ("iovirt-virtio", "iovirt-pf")]


def measure(a, cmd):
    runs = []
    for r in range(a.runs):
        res = virtio.run_once(cmd, a.timeout)
        m = res["m"]
        line = ", ".join(f"{label} {virtio.fmt(m.get(f'{j}.iops'), '.0f', 1)} IOPS "
                         f"({virtio.fmt(m.get(f'{j}.exits_per_io'), '.2f', 1)} exits/IO)"
                         for j, label, _ in JOBS)
        print(f"bench: {a.name} run {r + 1}/{a.runs}: "
              f"{'FAILED: ' + res['error'] if res['error'] else line}", file=sys.stderr, flush=True)
        for e in res["errors"]:
            print(f"bench:   guest: {e}", file=sys.stderr)
        if res["error"] or res["errors"]:
            for l in res.get("console_tail", []):
                print(f"bench:   | {l}", file=sys.stderr)
        runs.append({"error": res["error"], "m": m})
    with open(a.out, "w") as f:
        json.dump({"name": a.name, "cmd": cmd, "runs": runs}, f)


def native(a):
    runs = []
    for r in range(a.runs):
        m = {}
        for job, label, qd in JOBS:
            p = subprocess.run(["fio", f"--name={job}", f"--filename={a.dev}", "--direct=1",
                                "--ioengine=libaio", "--rw=randread", "--bs=4k",
                                f"--iodepth={qd}", f"--runtime={a.runtime}", "--time_based",
                                "--thread", "--output-format=terse", "--terse-version=3"],
                               capture_output=True, text=True)
            iops = None
            for line in p.stdout.splitlines():
                f = line.split(";")
                if f[0] == "3" and len(f) > 8:
                    iops = float(f[7])
            m[f"{job}.iops"] = iops
        print(f"bench: native run {r + 1}/{a.runs}: " +
              ", ".join(f"{label} {virtio.fmt(m[f'{j}.iops'], '.0f', 1)} IOPS"
                        for j, label, _ in JOBS), file=sys.stderr, flush=True)
        runs.append({"error": None, "m": m})
    with open(a.out, "w") as f:
        json.dump({"name": "native", "cmd": ["fio", a.dev], "runs": runs}, f)


def report(a):
    data = {}
    for name, _ in CONFIGS:
        path = os.path.join(a.dir, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                data[name] = json.load(f)
    meds = {}
    for name, d in data.items():
        good = [r["m"] for r in d["runs"] if not r["error"]]
        keys = set().union(*(m.keys() for m in good)) if good else set()
        meds[name] = {k: virtio.med([m.get(k) for m in good]) for k in keys}
        meds[name]["n"] = len(good)
    out = [f"iovirt passthrough benchmark: median of {a.runs} run(s), "
           f"{time.strftime('%Y-%m-%d %H:%M:%S')}",
           "NOTE: inside the software-emulated test host (QEMU TCG, 1 CPU, nested KVM, an",
           "      emulated IOMMU and QEMU's emulated SR-IOV NVMe): absolute numbers are far",
           "      below real hardware; compare ratios within this run only.",
           f"guest: 512M, 2 vCPUs; fio in the guest (libaio, direct=1, 4k randread, "
           f"{a.fio_runtime} s per job) on /dev/nvme0n1 or /dev/vda",
           "exits: KVM debugfs per-VM counters between the guest's job markers, per I/O;",
           "       to VMM = io_exits + mmio_exits (exits iovirt/QEMU had to handle)", ""]
    for name, what in CONFIGS:
        n = meds.get(name, {}).get("n", 0)
        out.append(f"  {name:<14} {what} ({n} ok)")
    out.append("")
    names = [n for n, _ in CONFIGS if n in meds]
    w = 26
    out.append(f"{'metric':<{w}}" + "".join(f" {n:>13}" for n in names))
    out.append("-" * (w + 14 * len(names)))
    rows = []
    for job, label, _ in JOBS:
        rows += [(f"{label} IOPS", f"{job}.iops", ".0f"),
                 (f"  exits/IO", f"{job}.exits_per_io", ".2f"),
                 (f"  to VMM/IO", f"{job}.user_per_io", ".3f"),
                 (f"  irq inj/IO", f"{job}.irq_injections_per_io", ".2f")]
    for label, key, spec in rows:
        out.append(f"{label:<{w}}" + "".join(f" {virtio.fmt(meds[n].get(key), spec, 13)}"
                                             for n in names))
    out.append("")
    out.append(f"{'ratio (IOPS)':<{w}}" + "".join(f" {job:>14}" for job, _, _ in JOBS))
    for num, den in RATIOS:
        if num not in meds or den not in meds:
            continue
        cells = []
        for job, _, _ in JOBS:
            nv, dv = meds[num].get(f"{job}.iops"), meds[den].get(f"{job}.iops")
            cells.append(virtio.fmt(nv / dv if nv is not None and dv else None, ".2f", 14))
        out.append(f"{num + '/' + den:<{w}}" + " ".join(cells))
    out.append("")
    out.extend(virtio.breakdown_table(meds, [n for n in names if n != "native"], w))
    out.append("commands:")
    for name in names:
        out.append(f"  {name}: " + " ".join(data[name]["cmd"]))
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0 if meds.get("iovirt-pf", {}).get("n") else 1


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["measure", "native", "report"])
    p.add_argument("--name")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--out", required=True)
    p.add_argument("--dev")
    p.add_argument("--runtime", default="6")
    p.add_argument("--dir")
    p.add_argument("--fio-runtime", default="?")
    a = p.parse_args(argv)
    if a.mode == "measure":
        measure(a, cmd)
    elif a.mode == "native":
        native(a)
    else:
        return report(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
