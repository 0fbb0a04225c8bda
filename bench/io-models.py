#!/usr/bin/env python3
"""The table of bench/io-models, from what its --direct run left in DIR:
meta.txt, info.json (vm.info), console.log (the guest's BENCH-RESULT
lines), MODEL-start/-end.json (vm.counters), .iovirt-stat and .qsd-stat
(/proc/PID/stat), MODEL.stat (iovirt stat --once) and notes.txt.

    bench/io-models.py DIR      the table and the raw stat outputs on stdout
"""
import json
import os
import re
import sys

# (name in the guest script, the device kind in vm.info, label)
MODELS = [
    ("ide", "ide", "emulated IDE (PIIX3, ATA, bus-master DMA)"),
    ("nvme", "nvme", "emulated NVMe"),
    ("virtio-blk", "virtio-blk", "virtio-blk"),
    ("vhost-user-blk", "vhost-user-blk", "vhost-user-blk"),
    ("vfio", "vfio-pci", "VFIO (NVMe PF)"),
]
# I/O models whose data path is not iovirt's: its kicks, interrupts and
# requests of theirs are not counted by iovirt.
NOT_ON_DATA_PATH = ("vhost-user", "vfio")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_kv(path):
    kv = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    kv[k] = v
    return kv


def guest_results(console):
    """{model: {key: value}} from the console's BENCH-RESULT lines, and the
    BENCH-ERROR and guest-ata lines (how libata drives the IDE disk)."""
    res, errors = {}, []
    with open(console, errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            m = re.match(r"BENCH-RESULT (\S+) (.*)$", line)
            if m:
                for kv in m.group(2).split():
                    k, _, v = kv.partition("=")
                    res.setdefault(m.group(1), {})[k] = v
            elif line.startswith(("BENCH-ERROR", "guest-ata:")):
                errors.append(line)
    return res, errors


def device_total(counters, dev):
    """Every counter of device dev summed over its scopes (the device's own
    line and its queues')."""
    total = {}
    for scope in counters.get("devices", {}).get(dev, {}).values():
        for k, v in scope.items():
            total[k] = total.get(k, 0) + v
    return total


def scope_deltas(a, b, dev, keys):
    """Per scope of device dev other than its own line (an IDE channel,
    a queue): the change of each of keys between samples a and b."""
    sa = a.get("devices", {}).get(dev, {})
    return {scope: {k: c.get(k, 0) - sa.get(scope, {}).get(k, 0) for k in keys}
            for scope, c in sorted(b.get("devices", {}).get(dev, {}).items()) if scope}


def kvm_exits(counters):
    return sum(s.get("exits", 0) for name, s in counters.get("kvm", {}).items()
               if name.startswith("vcpu"))


def host_cpu_s(stat_path, clk_tck):
    """utime + stime - guest_time of /proc/PID/stat, in seconds: the host
    CPU of the process, the time its vCPUs spent in the guest left out."""
    try:
        with open(stat_path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After "pid (comm)": state is field 3, so field N is fields[N - 3].
    utime, stime, guest = int(fields[11]), int(fields[12]), int(fields[40])
    return (utime + stime - guest) / clk_tck


def disk_rows(stat_text, dev_id):
    """iovirt stat's table cut to the disk in use: its title, the device
    header and the rows of dev_id, and KVM's lines (the other devices are
    idle: their rows are all zeros)."""
    keep, kvm = [], False
    for line in stat_text.rstrip("\n").splitlines():
        words = line.split()
        kvm = kvm or line.startswith("KVM ")
        if kvm or not words or words[0] in ("iovirt", "DEVICE", dev_id):
            keep.append(line)
    return "\n".join(keep)


def compare(name, a, b):
    """'name R (a vs b)'; without R where b is (near) zero, as the exits
    of a device whose doorbells KVM takes (ioeventfds)."""
    if a is None or b is None:
        return f"{name} n/a"
    digits = {"IOPS": 0, "CPU-us/IO": 1}.get(name, 2)
    both = f"{a:.{digits}f} vs {b:.{digits}f}"
    return f"{name} {a / b:.2f}x ({both})" if b >= 0.005 else f"{name} {both}"


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def main(d):
    meta = read_kv(os.path.join(d, "meta.txt"))
    clk_tck = int(meta.get("clk_tck", "100"))
    info = load_json(os.path.join(d, "info.json")) or {}
    res, errors = guest_results(os.path.join(d, "console.log"))
    notes = []
    if os.path.exists(os.path.join(d, "notes.txt")):
        with open(os.path.join(d, "notes.txt")) as f:
            notes = [line.rstrip("\n") for line in f if line.strip()]

    print(f"bench/io-models: one guest (2 vCPUs, 512M) with every disk; in it fio, "
          f"4k random read, iodepth 32, direct=1, {meta.get('fio_rt', '?')} s per disk, "
          f"engine {next((r['engine'] for r in res.values() if 'engine' in r), '?')}; "
          f"on {meta.get('where', '?')}.")
    print("Per I/O: the counter's change between the markers around the job over fio's "
          "I/O count. EXITS: guest accesses that reached iovirt; KICKS, IRQS, REQS: "
          "iovirt's kicks, raised interrupts, completed requests (IDE: bus-master DMA starts, "
          "ATA commands, both channels); KVM: exits of all vCPUs; "
          "CPU: the iovirt process's host CPU time, its vCPU threads' time in KVM (exits, "
          "halt polling) included, the time they ran the guest left out, in microseconds.")
    print()
    present = [m for m in MODELS if res.get(m[0]) and not res[m[0]].get("absent")]
    w = max([len("I/O MODEL")] + [len(label) for _, _, label in present])
    hdr = f"{'I/O MODEL':<{w}} {'DEVICE':<28} {'IOPS':>8} {'EXITS/IO':>9} {'KICKS/IO':>9} " \
          f"{'IRQS/IO':>8} {'REQS/IO':>8} {'KVM/IO':>7} {'CPU-us/IO':>9}"
    print(hdr)
    raw, rows = [], {}
    for model, kind, label in present:
        r = res[model]
        dev = next((x for x in info.get("devices", []) if x.get("kind") == kind), {})
        dev_id, io_model = dev.get("id", "?"), dev.get("io_model", "?")
        a = load_json(os.path.join(d, f"{model}-start.json"))
        b = load_json(os.path.join(d, f"{model}-end.json"))
        ios = int(r.get("ios", 0))
        if not (a and b and ios):
            print(f"{label:<{w}} {dev_id:<28} {r.get('iops', 'n/a'):>8}  (no samples or no I/O: "
                  f"see the console)")
            continue
        ta, tb = device_total(a, dev_id), device_total(b, dev_id)
        delta = {k: tb.get(k, 0) - ta.get(k, 0) for k in tb}

        def per_io(k, ours=True):
            return delta.get(k, 0) / ios if ours else None
        on_path = io_model not in NOT_ON_DATA_PATH
        kvm = (kvm_exits(b) - kvm_exits(a)) / ios if b.get("kvm") else None
        ca = host_cpu_s(os.path.join(d, f"{model}-start.iovirt-stat"), clk_tck)
        cb = host_cpu_s(os.path.join(d, f"{model}-end.iovirt-stat"), clk_tck)
        cpu = (cb - ca) * 1e6 / ios if ca is not None and cb is not None else None
        print(f"{label:<{w}} {dev_id + ' (' + io_model + ')':<28} {float(r['iops']):>8.0f} "
              f"{fmt(per_io('exits')):>9} {fmt(per_io('kicks', on_path)):>9} "
              f"{fmt(per_io('interrupts', on_path)):>8} {fmt(per_io('requests', on_path)):>8} "
              f"{fmt(kvm):>7} {fmt(cpu, 1):>9}")
        rows[model] = {"IOPS": float(r["iops"]), "exits/IO": per_io("exits"),
                       "IRQs/IO": per_io("interrupts", on_path), "KVM/IO": kvm, "CPU-us/IO": cpu}
        if model == "vhost-user-blk":
            qa = host_cpu_s(os.path.join(d, f"{model}-start.qsd-stat"), clk_tck)
            qb = host_cpu_s(os.path.join(d, f"{model}-end.qsd-stat"), clk_tck)
            if qa is not None and qb is not None:
                notes.append(f"vhost-user-blk: the backend (qemu-storage-daemon) used "
                             f"{(qb - qa) * 1e6 / ios:.1f} us of host CPU per I/O, not in "
                             f"iovirt's CPU column")
        if model == "ide":
            # The table sums both channels; the disk is the primary master.
            keys = ("requests", "kicks", "interrupts", "bytes_out")
            per = scope_deltas(a, b, dev_id, keys)
            notes.append(f"ide: per channel over {ios} I/Os: " + "; ".join(
                f"{scope} " + ", ".join(f"{c[k]} {k}" for k in keys)
                for scope, c in per.items()) + ". A channel runs one command at a "
                "time (ata_piix queues none), so fio's iodepth 32 is 1 at the device; "
                "the guest-ata lines say which transfer mode libata chose")
        if not on_path:
            seen = {k: delta.get(k, 0) for k in ("kicks", "interrupts", "requests")}
            notes.append(f"{model}: iovirt is not on its data path, so kicks, interrupts and "
                         f"requests are n/a (iovirt counted {seen['kicks']} kicks, "
                         f"{seen['interrupts']} interrupts, {seen['requests']} requests "
                         f"over {ios} I/Os); EXITS are the accesses that still trap into it")
        stat = os.path.join(d, f"{model}.stat")
        if os.path.exists(stat):
            with open(stat) as f:
                raw.append((label, dev_id, disk_rows(f.read(), dev_id)))
    print()
    for base in ("virtio-blk", "nvme"):
        if "ide" in rows and base in rows:
            print(f"IDE over {base}: " + ", ".join(
                compare(k, rows["ide"][k], v) for k, v in rows[base].items()))
    for n in notes + errors:
        print(n)
    for label, dev_id, text in raw:
        print()
        print(f"---- iovirt stat SOCKET --once --interval 3, during the {label} job: "
              f"the rows of {dev_id} and KVM's")
        print(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/io-models.py DIR")
    main(sys.argv[1])
