"""bench/io-models.py's table: per-I/O ratios from two vm.counters samples
(every scope of the device summed) over fio's I/O count, KVM's exits of
the vCPUs only, iovirt's host CPU without guest time, and n/a for the
counts that are not iovirt's (vhost-user, vfio).

    python3 tests/tools/test_bench_io_models.py
"""
import contextlib
import importlib.util
import io
import json
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("bench_io_models",
                                              os.path.join(ROOT, "bench", "io-models.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def counters(kicks, irqs, reqs, exits, vcpu_exits, vub_exits=0):
    return {"devices": {
        "virtio-blk0": {"": {"exits": exits, "interrupts": 1},
                        "q0": {"kicks": kicks, "interrupts": irqs, "requests": reqs}},
        "vhost-user-blk0": {"": {"exits": vub_exits}, "q0": {"kicks": 0}}},
        "kvm": {"vm": {"exits": 999999}, "vcpu0": {"exits": vcpu_exits}, "vcpu1": {"exits": 50}}}


def proc_stat(utime, stime, guest):
    # pid (comm) then fields 3..44; utime 14, stime 15, guest_time 43.
    f = ["0"] * 42
    f[11], f[12], f[40] = str(utime), str(stime), str(guest)
    return "42 (iovirt run) " + " ".join(f) + "\n"


class Table(unittest.TestCase):
    def report(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d = tmp.name

        def put(name, text):
            with open(os.path.join(d, name), "w") as f:
                f.write(text if isinstance(text, str) else json.dumps(text))
        put("meta.txt", "fio_rt=8\nwhere=here\nclk_tck=100\n")
        put("info.json", {"devices": [
            {"id": "virtio-blk0", "kind": "virtio-blk", "io_model": "virtio"},
            {"id": "vhost-user-blk0", "kind": "vhost-user-blk", "io_model": "vhost-user"}]})
        put("console.log", "BENCH-RESULT nvme absent=1\r\n"
            "BENCH-RESULT virtio-blk engine=libaio iops=1000 ios=8000 runtime_ms=8000\r\n"
            "BENCH-RESULT vhost-user-blk engine=libaio iops=3000 ios=24000 runtime_ms=8000\r\n")
        put("virtio-blk-start.json", counters(10, 10, 10, 3, 100))
        put("virtio-blk-end.json", counters(4010, 6010, 8010, 803, 16100))
        put("virtio-blk-start.iovirt-stat", proc_stat(100, 50, 60))
        put("virtio-blk-end.iovirt-stat", proc_stat(300, 90, 180))  # 1.2 s host CPU
        put("virtio-blk.stat", "iovirt stat S: rates over 3.00 s\nDEVICE QUEUE ...\n"
            "nvme0 q1 0\nvirtio-blk0 q0 1000\n\nKVM EXITS/s\nvcpu0 5\n")
        put("vhost-user-blk-start.json", counters(0, 0, 0, 0, 100, vub_exits=7))
        put("vhost-user-blk-end.json", counters(0, 0, 0, 0, 48100, vub_exits=31))
        put("vhost-user-blk-start.iovirt-stat", proc_stat(300, 90, 180))
        put("vhost-user-blk-end.iovirt-stat", proc_stat(400, 90, 280))  # all guest time
        put("vhost-user-blk-start.qsd-stat", proc_stat(0, 0, 0))
        put("vhost-user-blk-end.qsd-stat", proc_stat(120, 0, 0))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            bench.main(d)
        return buf.getvalue().splitlines()

    def row(self, lines, label):
        for line in lines:
            if line.startswith(label):
                return line[len(label):].split()
        raise AssertionError(f"no row {label!r}")

    def test_iovirt_model_per_io(self):
        r = self.row(self.report(), "virtio-blk ")
        # device (model), IOPS, exits, kicks, irqs, reqs, KVM, CPU-us
        self.assertEqual(r[:2], ["virtio-blk0", "(virtio)"])
        self.assertEqual(r[2:], ["1000", "0.10", "0.50", "0.75", "1.00", "2.00", "150.0"])

    def test_not_iovirt_counts_are_na(self):
        lines = self.report()
        r = self.row(lines, "vhost-user-blk ")
        self.assertEqual(r[2:], ["3000", "0.00", "n/a", "n/a", "n/a", "2.00", "0.0"])
        self.assertTrue(any("qemu-storage-daemon) used 50.0 us" in x for x in lines))

    def test_absent_model_has_no_row_and_raw_stat_is_cut_to_the_disk(self):
        lines = self.report()
        self.assertFalse(any(x.startswith("emulated NVMe") for x in lines))
        self.assertIn("virtio-blk0 q0 1000", lines)
        self.assertIn("vcpu0 5", lines)
        self.assertNotIn("nvme0 q1 0", lines)


if __name__ == "__main__":
    unittest.main()
