"""bench/virtio.py's paired table: per-round ratios between the VMMs of one
round (one test host boot), their median, and how many rounds went the
numerator's way -- higher is better for rates, lower for exits.

    python3 tests/tools/test_bench_paired.py
"""
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_virtio",
                                                  os.path.join(ROOT, "bench", "virtio.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = load_bench()


def run(m, error=None):
    return {"m": m, "error": error}


def row(lines, label):
    for line in lines:
        if line.strip().startswith(label):
            return line.split(label, 1)[1].split()
    raise AssertionError(f"no row {label!r} in {lines}")


class PairedTable(unittest.TestCase):
    RATIOS = [("a/b", "a", "b")]

    def rounds(self):
        # qd1: a ahead in rounds 1 and 3 although b's median is higher;
        # exits: a lower (better) in round 2 only; round 4 failed for b.
        return [
            {"round": 1, "results": {"a": run({"randread-qd1.iops": 300,
                                               "randread-qd1.exits_per_io": 6.0}),
                                     "b": run({"randread-qd1.iops": 200,
                                               "randread-qd1.exits_per_io": 5.0})}},
            {"round": 2, "results": {"a": run({"randread-qd1.iops": 100,
                                               "randread-qd1.exits_per_io": 4.0}),
                                     "b": run({"randread-qd1.iops": 400,
                                               "randread-qd1.exits_per_io": 8.0})}},
            {"round": 3, "results": {"a": run({"randread-qd1.iops": 330,
                                               "randread-qd1.exits_per_io": 3.3}),
                                     "b": run({"randread-qd1.iops": 300,
                                               "randread-qd1.exits_per_io": 3.0})}},
            {"round": 4, "results": {"a": run({"randread-qd1.iops": 1000}),
                                     "b": run({}, error="timed out")}},
        ]

    def test_rates_and_exits(self):
        lines = bench.paired_table(self.rounds(), self.RATIOS, 36)
        qd1 = row(lines, "fio 4k randread qd1 IOPS")
        self.assertEqual(qd1[0], "1.10")                  # median of 1.5, 0.25, 1.1
        self.assertEqual(qd1[1:4], ["2", "of", "3"])      # the failed round left out
        exits = row(lines, "exits/IO 4k randread qd1")
        self.assertEqual(exits[0], "1.10")                # median of 1.2, 0.5, 1.1
        self.assertEqual(exits[1:4], ["1", "of", "3"])    # lower is better

    def test_rows_without_data(self):
        lines = bench.paired_table(self.rounds(), self.RATIOS, 36)
        self.assertEqual(row(lines, "fio 1M seqwrite qd32 MB/s"), ["n/a"])


if __name__ == "__main__":
    unittest.main()
