#!/usr/bin/env python3
"""Live-migration benchmark driver: bench/migrate runs this where guests can
run (directly on a hardware-KVM machine, or inside the test host via
tools/vmrun), once it has put a bridge (HOST_IP/24) and two taps on it.

Each round, each VMM (iovirt; QEMU -M pc) boots the same kernel + initramfs,
whose /test.sh runs bench/migrate-heartbeat: a UDP datagram to HOST_IP every
1 ms with a sequence number, from a virtio-net NIC on a tap (no vhost). Two
migrations over TCP on 127.0.0.1 follow, each to a new process of the same
VMM (on the other tap, as a second host on the same bridge would be):

  idle   the guest only beats;
  dirty  then it also rewrites --dirty-mb MiB flat out (tests/guest/dirtier.c,
         started by a datagram "DIRTY" from here), and the VM that arrived
         in the idle migration moves on.

Both VMMs get the same bandwidth cap and downtime limit, and auto-converge
alike (iovirt's default; QEMU's capability). Measured per migration:

  gap_ms        the longest gap between the arrivals here of consecutive
                datagrams, from the last one before the migration started
                to the first one after it completed: the downtime the
                guest's peers see (kernel receive timestamps)
  lost          sequence numbers over that span (and AFTER_S past it) that
                never arrived; dups: arrivals of one twice
  clock_ms      the longest step of the guest's own clock between two
                consecutive datagrams (whether the guest saw the pause as time)
  total_s       the migrate command's start -> completed, polled every POLL_S
                (iovirt: PUT vm.send-migration, GET vm.migration; QEMU: QMP
                migrate, query-migrate)
  downtime_ms   the VMM's own figure (vm.migration downtime_ms; query-migrate
  vmm_total_s   downtime) and total time (total_ms; total-time)
  pages, zero   pages sent with data (pages_sent; ram.normal) and as zero
                (zero_pages; ram.duplicate); per GiB of guest RAM in the table
  wire_bytes    bytes sent (bytes_sent, everything; ram.transferred, RAM only)
  passes        passes over memory (pass; ram.dirty-sync-count)
  throttle      the highest auto-converge throttle seen (throttle_pct;
                cpu-throttle-percentage)

Rounds are interleaved, the first VMM alternating, so drift of the host hits
both alike; the table gives medians and the ratios iovirt/QEMU (below 1:
iovirt better). With --results-tsv the ratios are appended there as rows of
bench/results/results.tsv (date, where, commit, benchmark, metric, ratio,
note), which bench/chart draws.
"""
import argparse
import itertools
import os
import shlex
import socket
import struct
import sys
import threading
import time

# benchlib sits beside this file, wherever it is run or loaded from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, Qmp, Vmm, api_get, api_put, fmt, med, note_lines, parse_size,
                      qemu_version, ratio, size_name, write_report)

HOST_IP = "10.99.0.1"
GUEST_IP = "10.99.0.2"
QEMU = "qemu-pc"                # the peer's name in the table
VMMS = ("iovirt", QEMU)
WORKLOADS = ("idle", "dirty")
MARK_READY = "IOVIRT-BENCH-READY"
MARK_DIRTY = "IOVIRT-BENCH-DIRTY"
POLL_S = 0.05                   # migration status polls, both VMMs
SETTLE_S = 2.0                  # beats flowing this long before the idle migration
DIRTY_WARMUP_S = 3.0            # the dirtier running this long before its migration
AFTER_S = 0.5                   # arrivals kept past the first one after completion
METRICS = ("gap_ms", "lost", "downtime_ms", "total_s", "vmm_total_s", "passes",
           "pages", "zero", "wire_bytes", "throttle")
# Linux's values, where Python's socket module lacks the names.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


# --------------------------------------------------------- the heartbeat --

class Heartbeat:
    """The guest's datagrams, received by a thread: (arrival time, sequence
    number, guest ns) in arrival order. Arrival times are the kernel's
    receive timestamps (CLOCK_REALTIME), so a busy host that runs this
    thread late does not stretch the gaps; time.time() is the same clock."""

    def __init__(self, addr, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Room for a burst while this thread waits for the CPU.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((addr, port))
        self.sock.settimeout(0.5)
        self.port = port
        self.lock = threading.Lock()
        self.arrivals = []
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        space = socket.CMSG_SPACE(16)
        while not self.closed:
            try:
                data, anc, _, _ = self.sock.recvmsg(64, space)
            except socket.timeout:
                continue
            except OSError:
                return
            t = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    t = sec + nsec / 1e9
            if t is None:
                t = time.time()
            if len(data) >= 16:
                seq, gns = struct.unpack("!QQ", data[:16])
                with self.lock:
                    self.arrivals.append((t, seq, gns))

    def reset(self):
        """A new guest: its numbers start again."""
        with self.lock:
            self.arrivals = []

    def received(self):
        with self.lock:
            return list(self.arrivals)

    def last_time(self):
        with self.lock:
            return self.arrivals[-1][0] if self.arrivals else None

    def command(self, text):
        """A datagram to the guest's heartbeat (from the port it beats to)."""
        self.sock.sendto(text.encode(), (GUEST_IP, self.port))

    def wait_after(self, t, extra, deadline, what):
        """Waits for an arrival later than t, then extra seconds more."""
        while True:
            last = self.last_time()
            if last is not None and last > t:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"no datagram from the guest {what}")
            time.sleep(0.05)
        time.sleep(extra)

    def close(self):
        self.closed = True
        self.thread.join(timeout=5)
        self.sock.close()


def gap_stats(arrivals, t0, t1, after_s=AFTER_S):
    """What the guest's peers saw of a migration from t0 to t1 (the clock of
    the arrival times): the span runs from the last arrival at or before t0
    (t0 itself if none) to the first one after t1. Returns gap_ms (the
    longest gap between consecutive arrivals in it) and gap_at_s (its start,
    from t0); lost and dups over the sequence numbers from the span's first
    arrival to the last one within after_s past its end; clock_ms, the
    longest step of the guest's clock between consecutive numbers there.
    None if nothing arrived after t1."""
    arr = sorted(arrivals)
    before = [a for a in arr if a[0] <= t0]
    inside = [a for a in arr if t0 < a[0] <= t1]
    later = [a for a in arr if a[0] > t1]
    if not later:
        return None
    end = later[0][0]
    span = ([before[-1]] if before else []) + inside + [later[0]]
    times = ([] if before else [t0]) + [a[0] for a in span]
    gap, gap_at = 0.0, None
    for x, y in zip(times, times[1:]):
        if y - x > gap:
            gap, gap_at = y - x, x - t0
    tail = [a for a in later if a[0] <= end + after_s]
    counted = span[:-1] + tail
    lo, hi = counted[0][1], max(a[1] for a in counted)
    seqs = [a[1] for a in arr if lo <= a[1] <= hi]
    unique = set(seqs)
    guest = {}
    for _, seq, gns in arr:
        if lo <= seq <= hi:
            guest.setdefault(seq, gns)
    steps = [guest[s + 1] - guest[s] for s in guest if s + 1 in guest]
    return {"gap_ms": gap * 1000.0, "gap_at_s": gap_at, "lost": (hi - lo + 1) - len(unique),
            "dups": len(seqs) - len(unique), "clock_ms": max(steps) / 1e6 if steps else None,
            "beats": len(unique)}


# ------------------------------------------------------------------ VMMs --

def iovirt_cmd(a, ctl, tap, url=None):
    cmd = [a.iovirt, "run", "--kernel", a.kernel, "--initrd", a.initrd,
           "--cmdline", a.cmdline, "--memory", size_name(a.mem_mib), "--cpus", "1",
           "--net", f"tap={tap},vhost=off", "--api-socket", ctl]
    return cmd + (["--incoming", url] if url else [])


def qemu_cmd(a, ctl, tap, url=None):
    cmd = [a.qemu, "-M", "pc", "-enable-kvm", "-cpu", "host", "-smp", "1",
           "-m", f"{a.mem_mib}M", "-nographic", "-no-reboot",
           "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline,
           "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off",
           "-device", "virtio-net-pci,netdev=n0",
           "-qmp", f"unix:{ctl},server=on,wait=off"]
    return cmd + (["-incoming", url] if url else [])


class Guest:
    """One VMM process of the benchmark's machine, on a tap; a source (it
    boots) or a destination (waits for the migration at url). A subclass
    says how to start it (cmd) and how it migrates: prepare (the settings,
    before the clock starts), migrate (the command), status, cancel."""

    def __init__(self, a, name, tap, url=None):
        self.a = a
        self.name = name
        self.ctl = os.path.join(a.work, f"{name}.sock")
        if os.path.lexists(self.ctl):
            os.unlink(self.ctl)
        self.vm = Vmm(self.cmd(a, self.ctl, tap, url), os.path.join(a.work, f"{name}.err"))

    def close(self):
        self.vm.close()

    def detail(self):
        return [f"{self.name}: {line}" for line in self.vm.failure_detail()]


class IovirtGuest(Guest):
    cmd = staticmethod(iovirt_cmd)

    def wait_incoming(self, deadline):
        """Waits until it listens (its API says Created)."""
        while True:
            try:
                if api_get(self.ctl, "vm.info", 10).get("state") == "Created":
                    return
            except (BenchError, ValueError):
                pass
            if not self.vm.alive():
                raise BenchError(f"{self.name}: iovirt --incoming exited")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: iovirt --incoming not Created in time")
            time.sleep(0.1)

    def prepare(self):
        pass            # the settings go with the command

    def migrate(self, url):
        a = self.a
        api_put(self.ctl, "vm.send-migration",
                {"destination_url": url, "downtime_ms": a.downtime_ms, "bandwidth": a.bandwidth,
                 "auto_converge": a.auto_converge}, 60)

    def status(self):
        """(state: active|completed|failed, the figures, the error if any)."""
        st = api_get(self.ctl, "vm.migration", 10)
        state = st.get("state")
        if state not in ("active", "completed"):
            state = "failed"
        return state, {
            "downtime_ms": st.get("downtime_ms"), "vmm_total_s": st.get("total_ms", 0) / 1000.0,
            "passes": st.get("pass"), "pages": st.get("pages_sent"),
            "zero": st.get("zero_pages"), "wire_bytes": st.get("bytes_sent"),
            "throttle": st.get("throttle_pct", 0)}, st.get("error", st.get("state"))

    def cancel(self):
        try:
            api_put(self.ctl, "vm.migration-cancel", None, 10)
        except BenchError:
            pass


class QemuGuest(Guest):
    cmd = staticmethod(qemu_cmd)

    def __init__(self, a, name, tap, url=None):
        self.qmp = None
        super().__init__(a, name, tap, url)

    def connect(self, deadline):
        if self.qmp is None:
            self.qmp = Qmp(self.ctl, deadline, self.vm)
        self.qmp.deadline = deadline
        return self.qmp

    def wait_incoming(self, deadline):
        qmp = self.connect(deadline)
        while qmp.cmd("query-status").get("status") != "inmigrate":
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: QEMU -incoming not inmigrate in time")
            time.sleep(0.1)

    def prepare(self):
        a = self.a
        qmp = self.connect(time.monotonic() + a.mig_timeout + 60)
        qmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": a.auto_converge}]})
        qmp.cmd("migrate-set-parameters", {"max-bandwidth": a.bandwidth,
                                           "downtime-limit": a.downtime_ms})

    def migrate(self, url):
        self.qmp.cmd("migrate", {"uri": url})

    def status(self):
        st = self.qmp.cmd("query-migrate")
        s = st.get("status", "none")
        # "none" only before the command took: active, as the rest
        state = ("completed" if s == "completed" else
                 "failed" if s in ("failed", "cancelled") else "active")
        ram = st.get("ram", {})
        total = st.get("total-time")
        return state, {
            "downtime_ms": st.get("downtime"),
            "vmm_total_s": total / 1000.0 if total is not None else None,
            "passes": ram.get("dirty-sync-count"), "pages": ram.get("normal"),
            "zero": ram.get("duplicate"), "wire_bytes": ram.get("transferred"),
            "throttle": st.get("cpu-throttle-percentage", 0)}, st.get("error-desc", s)

    def cancel(self):
        try:
            self.qmp.cmd("migrate_cancel")
        except (BenchError, OSError, ValueError):
            pass

    def close(self):
        if self.qmp:
            self.qmp.close()
        super().close()


KINDS = {"iovirt": IovirtGuest, QEMU: QemuGuest}


# ----------------------------------------------------------- a migration --

def migrate(a, src, dst, url, hb, res):
    """Migrates src to dst (which waits at url) and fills res."""
    src.prepare()
    t0m, t0 = time.monotonic(), time.time()
    src.migrate(url)
    deadline = t0m + a.mig_timeout
    throttle = 0
    while True:
        state, figures, why = src.status()
        throttle = max(throttle, figures.get("throttle") or 0)
        if state == "completed":
            break
        if state == "failed":
            raise BenchError(f"migration failed: {why}")
        if time.monotonic() > deadline:
            src.cancel()
            raise BenchError(f"migration not completed in {a.mig_timeout:.0f} s (pass "
                             f"{figures.get('passes')}, throttle {throttle}%): cancelled")
        time.sleep(POLL_S)
    t1m, t1 = time.monotonic(), time.time()
    res["total_s"] = t1m - t0m
    res.update(figures)
    res["throttle"] = max(throttle, figures.get("throttle") or 0)
    hb.wait_after(t1, AFTER_S, t1m + a.timeout, f"after the migration to {dst.name}")
    stats = gap_stats(hb.received(), t0, t1)
    if stats is None:
        raise BenchError("the guest's datagrams went missing")   # (wait_after saw one)
    res.update(stats)


def wait_beating(vm, hb, deadline):
    """The guest is up and its datagrams arrive."""
    vm.vm.console.wait_for(lambda t: t == MARK_READY, deadline, MARK_READY)
    hb.wait_after(0, SETTLE_S, deadline, f"at {HOST_IP}:{hb.port} (the bridge, the tap)")
    last = hb.last_time()
    if last is None or time.time() - last > 1.0:
        raise BenchError("the guest's datagrams stopped")


def start_dirtier(a, vm, hb):
    """Asks the guest's heartbeat to start the dirtier; waits for its word."""
    deadline = time.monotonic() + a.timeout
    start = len(vm.vm.console.texts())
    while True:
        hb.command("DIRTY")
        try:
            vm.vm.console.wait_for(lambda t: t.startswith(MARK_DIRTY), time.monotonic() + 2.0,
                                   MARK_DIRTY, start)
            break
        except BenchError:
            if time.monotonic() > deadline or not vm.vm.alive():
                raise
    time.sleep(DIRTY_WARMUP_S)


def dirtier_trouble(vm):
    """The dirtier's complaint on the console (a page it found stale), if any."""
    bad = [t for t in vm.vm.console.texts() if t.startswith("MEMBAD=") or "DIRTIER-EXITED" in t]
    return "; ".join(bad) or None


def run_vmm(a, vmm, ports, hb, results, r):
    """One round of vmm: boot, the idle migration, the dirty one. Appends one
    result for each workload to results[wl][vmm]."""
    kind = KINDS[vmm]
    guests = []
    res = {wl: {} for wl in WORKLOADS}
    hb.reset()
    wl = WORKLOADS[0]
    try:
        src = kind(a, f"{vmm}-{r}-a", a.taps[0])
        guests.append(src)
        wait_beating(src, hb, src.vm.t0 + a.timeout)
        for i, wl in enumerate(WORKLOADS):
            if wl == "dirty":
                start_dirtier(a, src, hb)
            url = f"tcp:127.0.0.1:{next(ports)}"
            dst = kind(a, f"{vmm}-{r}-{'bc'[i]}", a.taps[(i + 1) % 2], url)
            guests.append(dst)
            dst.wait_incoming(dst.vm.t0 + a.timeout)
            migrate(a, src, dst, url, hb, res[wl])
            if wl == "dirty":
                trouble = dirtier_trouble(dst)
                if trouble:
                    raise BenchError(f"the guest's dirtier stopped: {trouble}")
            src.close()
            guests.remove(src)
            src = dst
    except (BenchError, OSError, ValueError) as e:
        # OSError: a socket or a file; ValueError: a reply that is not JSON.
        res[wl]["error"] = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
        res[wl]["detail"] = [line for g in guests for line in g.detail()]
        for later in WORKLOADS[WORKLOADS.index(wl) + 1:]:
            res[later]["error"] = f"not run ({wl} failed)"
    finally:
        for g in guests:
            g.close()
    for w in WORKLOADS:
        results[w][vmm].append(res[w])
    return res


# ----------------------------------------------------------------- table --

def medians(runs):
    """Medians over the runs that did not fail."""
    good = [r for r in runs if not r.get("error")]
    m = {k: med([r.get(k) for r in good]) for k in METRICS}
    m["n"] = len(good)
    return m


def mem_name(mib):
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def per_gib(pages, mib):
    return pages * 1024.0 / mib if pages is not None else None


def mib_of(nbytes):
    return nbytes / 2**20 if nbytes is not None else None


# (label, median key, unit) of the ratios: the table's and results.tsv's.
RATIOS = (("downtime the guest sees", "gap_ms", "ms"),
          ("downtime the VMM reports", "downtime_ms", "ms"),
          ("total migration time", "total_s", "s"),
          ("pages sent per GiB of RAM", "pages_gib", ""),
          ("bytes on the wire", "wire_mib", "MiB"))


def summary(results, mem_mib):
    """Medians per workload and VMM, with the per-GiB and MiB figures."""
    ms = {}
    for wl in WORKLOADS:
        for vmm in VMMS:
            m = ms[wl, vmm] = medians(results[wl][vmm])
            m["pages_gib"] = per_gib(m["pages"], mem_mib)
            m["wire_mib"] = mib_of(m["wire_bytes"])
    return ms


def render(meta, results):
    ms = summary(results, meta["mem_mib"])
    out = [f"iovirt live-migration benchmark: median of {meta['runs']} runs per VMM and workload "
           f"(interleaved), {meta['date']}"]
    out += note_lines(meta.get("emulated"))
    out += [
        f"guest: {meta['kernel']}, initrd {meta['initrd']}, {size_name(meta['mem_mib'])} RAM,"
        f" 1 vCPU, cmdline \"{meta['cmdline']}\";",
        "       virtio-net (no vhost) on a tap, each VMM process its own tap on one bridge"
        f" ({HOST_IP}/24);",
        "       it sends this host a UDP datagram every 1 ms; dirty: it also rewrites"
        f" {meta['dirty_mb']} MiB",
        "       flat out (tests/guest/dirtier.c)",
        "migration: TCP on 127.0.0.1 to a new process of the same VMM, cap"
        f" {meta['bandwidth'] / 2**20:g} MiB/s, downtime",
        f"       limit {meta['downtime_ms']} ms, auto-converge"
        f" {'on' if meta['auto_converge'] else 'off'}; the VM that arrived in the idle migration",
        "       moves on in the dirty one. iovirt: vm.send-migration, vm.migration polled;",
        f"       QEMU {meta['qemu_version']} -M pc: migrate-set-parameters max-bandwidth and"
        " downtime-limit,",
        "       the auto-converge capability, migrate, query-migrate polled (both every"
        f" {POLL_S * 1000:.0f} ms)",
        "guest gap = longest gap between arrivals here of consecutive datagrams, from the last",
        "            before the migration to the first after it (the downtime the guest's peers see)",
        f"lost      = sequence numbers in that span (and {AFTER_S:g} s past it) never received",
        "VMM down  = the VMM's own downtime (vm.migration downtime_ms; query-migrate downtime)",
        "total s   = migrate started -> completed, as polled; VMM total s the VMM's own",
        "pages/GiB = pages sent with data (pages_sent; ram.normal) per GiB of guest RAM; passes:",
        "            pass; ram.dirty-sync-count; wire MiB: bytes_sent; ram.transferred (RAM only)",
        "thr %     = the highest auto-converge throttle seen",
        "",
    ]
    hdr = (f"{'workload':<8} {'VMM':<8} {'n':>2} {'guest gap ms':>12} {'lost':>5} "
           f"{'VMM down ms':>11} {'total s':>8} {'VMM total s':>11} {'passes':>6} "
           f"{'pages/GiB':>9} {'wire MiB':>8} {'thr %':>5}")
    out += [hdr, "-" * len(hdr)]
    for wl in WORKLOADS:
        for vmm in VMMS:
            m = ms[wl, vmm]
            out.append(f"{wl:<8} {vmm:<8} {m['n']:>2} {fmt(m['gap_ms'], '12.1f')} "
                       f"{fmt(m['lost'], '5.0f')} {fmt(m['downtime_ms'], '11.0f')} "
                       f"{fmt(m['total_s'], '8.2f')} {fmt(m['vmm_total_s'], '11.2f')} "
                       f"{fmt(m['passes'], '6.0f')} {fmt(m['pages_gib'], '9.0f')} "
                       f"{fmt(m['wire_mib'], '8.1f')} {fmt(m['throttle'], '5.0f')}")
    out += ["", f"ratio iovirt/{QEMU} (below 1: iovirt better):"]
    for wl in WORKLOADS:
        io, q = ms[wl, "iovirt"], ms[wl, QEMU]
        cells = [f"{short} {fmt(ratio(io[key], q[key]), '5.2f')}" for short, key in
                 (("guest gap", "gap_ms"), ("VMM down", "downtime_ms"), ("total", "total_s"),
                  ("pages", "pages_gib"), ("wire", "wire_mib"))]
        out.append(f"  {wl:<6} " + "   ".join(cells))
    out += ["", "per run (guest gap ms at s after the start, lost, dups, the guest clock's step;"
            " VMM down ms; total s; passes; throttle):"]
    for wl in WORKLOADS:
        for vmm in VMMS:
            for i, r in enumerate(results[wl][vmm]):
                if r.get("error"):
                    cell = f"FAILED: {r['error']}"
                else:
                    cell = (f"{fmt(r.get('gap_ms'), '.1f')} at {fmt(r.get('gap_at_s'), '.2f')} s, "
                            f"lost {r.get('lost')}, dups {r.get('dups')}, clock "
                            f"{fmt(r.get('clock_ms'), '.0f')} ms; {fmt(r.get('downtime_ms'), '.0f')}"
                            f" ms; {fmt(r.get('total_s'), '.2f')} s; {r.get('passes')} passes;"
                            f" {r.get('throttle')}%")
                out.append(f"  {wl:<6} {vmm:<8} {i + 1}: {cell}")
    for wl in WORKLOADS:
        for vmm in VMMS:
            for i, r in enumerate(results[wl][vmm]):
                if r.get("detail"):
                    out += ["", f"{wl} {vmm} run {i + 1} FAILED: {r['error']}"]
                    out += [f"  {line}" for line in r["detail"]]
    if meta.get("commands"):
        out += ["", "commands (the destinations add --incoming URL; -incoming URL):"]
        out += [f"  {name}: {cmd}" for name, cmd in meta["commands"]]
    if meta.get("loop_s") is not None:
        out += ["", f"benchmark loop took {meta['loop_s']:.0f} s"]
    return "\n".join(out) + "\n"


def tsv_rows(meta, results):
    """results.tsv's lines for this run: a comment that says how, then one
    row per ratio both VMMs have."""
    ms = summary(results, meta["mem_mib"])
    ram = mem_name(meta["mem_mib"])
    rows = []
    for wl in WORKLOADS:
        io, q = ms[wl, "iovirt"], ms[wl, QEMU]
        for label, key, unit in RATIOS:
            v = ratio(io[key], q[key])
            if v is None:
                continue
            spec = ".2f" if key == "total_s" else ".0f" if key != "wire_mib" else ".1f"
            note = f"{format(io[key], spec)} vs {format(q[key], spec)}{' ' + unit if unit else ''}"
            if key == "wire_mib":
                note += " (QEMU's RAM only)"
            rows.append("\t".join([meta["date"][:10], meta["where"], meta["commit"], "bench/migrate",
                                   f"{ram} guest {wl}, {label} (lower is better)",
                                   f"{v:.2f}", note]))
    if not rows:
        return []
    how = (f"# {meta['date'][:10]}, iovirt at {meta['commit']} against QEMU {meta['qemu_version']}"
           f" -M pc, BENCH_RUNS={meta['runs']} make bench-migrate:\n"
           f"# live migration over TCP on 127.0.0.1, {ram} guest, 1 vCPU, virtio-net on a tap,"
           f" cap {meta['bandwidth'] / 2**20:g} MiB/s,\n"
           f"# downtime limit {meta['downtime_ms']} ms, auto-converge"
           f" {'on' if meta['auto_converge'] else 'off'}; ratio = iovirt's median over QEMU's."
           " The guest sends a\n"
           "# UDP datagram every 1 ms (the downtime it sees: the longest gap between arrivals);"
           f" dirty: it also\n# rewrites {meta['dirty_mb']} MiB flat out.")
    return ["", how] + rows


# ------------------------------------------------------------------ main --

def parse_args(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--kernel", required=True)
    p.add_argument("--kernel-name", default="")
    p.add_argument("--initrd", required=True)
    p.add_argument("--iovirt", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--cmdline", default="console=ttyS0 panic=-1 quiet")
    p.add_argument("--memory", default="512M")
    p.add_argument("--taps", required=True, help="TAP0,TAP1: on the bridge with HOST_IP")
    p.add_argument("--beat-port", type=int, default=18100, help="the guest image's UDP port")
    p.add_argument("--port-base", type=int, default=47100, help="migration ports from here")
    p.add_argument("--dirty-mb", type=int, default=64, help="what the guest image dirties")
    p.add_argument("--downtime-ms", type=int, default=300)
    p.add_argument("--bandwidth", type=int, default=128 << 20, help="bytes/s")
    p.add_argument("--auto-converge", choices=("on", "off"), default="on")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per boot or start")
    p.add_argument("--mig-timeout", type=float, default=300.0, help="seconds per migration")
    p.add_argument("--work", required=True, help="sockets and logs")
    p.add_argument("--out", required=True)
    p.add_argument("--results-tsv", default="", help="append the ratios here")
    p.add_argument("--where", default="", help="results.tsv's where")
    p.add_argument("--commit", default="unknown")
    p.add_argument("--emulated", action="store_true")
    a = p.parse_args(argv)
    a.mem_mib = parse_size(a.memory)
    a.taps = a.taps.split(",")
    if len(a.taps) != 2 or not all(a.taps):
        p.error("--taps wants TAP0,TAP1")
    if a.runs < 1 or a.bandwidth < 1 or a.downtime_ms < 1:
        p.error("--runs, --bandwidth and --downtime-ms want positive numbers")
    a.auto_converge = a.auto_converge == "on"
    return a


def main(argv=None):
    a = parse_args(argv)
    results = {wl: {vmm: [] for vmm in VMMS} for wl in WORKLOADS}
    ports = itertools.count(a.port_base)
    hb = Heartbeat(HOST_IP, a.beat_port)
    t_start = time.monotonic()
    try:
        for r in range(a.runs):
            for vmm in (VMMS if r % 2 == 0 else VMMS[::-1]):
                res = run_vmm(a, vmm, ports, hb, results, r + 1)
                for wl in WORKLOADS:
                    x = res[wl]
                    label = f"bench: {vmm} run {r + 1}/{a.runs} {wl}"
                    if x.get("error"):
                        print(f"{label}: FAILED: {x['error']}", file=sys.stderr)
                        for line in x.get("detail", []):
                            print(f"bench:   {line}", file=sys.stderr)
                    else:
                        print(f"{label}: guest gap {x['gap_ms']:.1f} ms (lost {x['lost']}), VMM "
                              f"downtime {x['downtime_ms']} ms, total {x['total_s']:.2f} s, "
                              f"{x['passes']} passes", file=sys.stderr, flush=True)
    finally:
        hb.close()
    meta = {
        "runs": a.runs, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "emulated": a.emulated,
        "kernel": a.kernel_name or a.kernel, "initrd": os.path.basename(a.initrd),
        "cmdline": a.cmdline, "mem_mib": a.mem_mib, "dirty_mb": a.dirty_mb,
        "bandwidth": a.bandwidth, "downtime_ms": a.downtime_ms, "auto_converge": a.auto_converge,
        "qemu_version": qemu_version(a.qemu), "loop_s": time.monotonic() - t_start,
        "where": a.where or ("test host (QEMU TCG, nested KVM)" if a.emulated else "hardware KVM"),
        "commit": a.commit,
        "commands": [(vmm, " ".join(shlex.quote(c) for c in KINDS[vmm].cmd(
            a, os.path.join(a.work, "a.sock"), a.taps[0]))) for vmm in VMMS],
    }
    write_report(a.out, render(meta, results))
    if a.results_tsv:
        rows = tsv_rows(meta, results)
        if rows:
            with open(a.results_tsv, "a") as f:
                f.write("\n".join(rows) + "\n")
            print(f"bench: {len(rows) - 2} ratios appended to {a.results_tsv}", file=sys.stderr)
    # iovirt must have migrated in every workload; a QEMU failure is reported.
    return 0 if all(medians(results[wl]["iovirt"])["n"] > 0 for wl in WORKLOADS) else 1


if __name__ == "__main__":
    sys.exit(main())
