"""The test-host watchdog's two hang detectors (tools/testhost-watchdog)
against CPU and APIC states recorded from real hangs of QEMU 7.2 TCG
(tests/tools/watchdog/: a halted freeze, and a CPU spinning at one
instruction, two looks 2 s apart), and the same states changed the way a
live test host would differ: a detector that fires on those would kill
healthy test hosts.

    python3 tests/tools/test_testhost_watchdog.py
"""
import importlib.machinery
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_watchdog():
    path = os.path.join(ROOT, "tools", "testhost-watchdog")
    loader = importlib.machinery.SourceFileLoader("testhost_watchdog", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


wd = load_watchdog()


def record(name):
    with open(os.path.join(HERE, "watchdog", name)) as f:
        return f.read()


def split(text):
    """One look -> (registers, lapic), split where the lapic dump starts."""
    i = text.index("dumping local APIC state")
    return text[:i], text[i:]


class Frozen(unittest.TestCase):
    def setUp(self):
        self.regs, self.lapic = split(record("freeze.log"))

    def test_recorded_freeze(self):
        self.assertTrue(wd.frozen(self.regs, self.lapic))

    def test_running_cpu_is_not_frozen(self):
        self.assertFalse(wd.frozen(self.regs.replace("HLT=1", "HLT=0"), self.lapic))

    def test_armed_timer_is_not_frozen(self):
        lapic = self.lapic.replace("current_count = 0", "current_count = 1234")
        self.assertNotEqual(lapic, self.lapic)
        self.assertFalse(wd.frozen(self.regs, lapic))

    def test_nothing_pending_is_not_frozen(self):
        lapic = self.lapic.replace("IRR\t 236", "IRR\t (none)")
        self.assertNotEqual(lapic, self.lapic)
        self.assertFalse(wd.frozen(self.regs, lapic))


class Spinning(unittest.TestCase):
    def setUp(self):
        first, second = record("spin.log").split("=== second look")
        self.look1, self.look2 = split(first), split(second)

    def test_recorded_spin(self):
        self.assertEqual(wd.rip(self.look1[0]), "ffffffffb024a62d")
        self.assertTrue(wd.spinning(self.look1, self.look2))

    def test_moving_cpu_is_not_spinning(self):
        regs = self.look2[0].replace("RIP=ffffffffb024a62d", "RIP=ffffffffb024a631")
        self.assertNotEqual(regs, self.look2[0])
        self.assertFalse(wd.spinning(self.look1, (regs, self.look2[1])))

    def test_interrupt_taken_is_not_spinning(self):
        lapic = self.look2[1].replace("IRR\t 236", "IRR\t (none)")
        self.assertNotEqual(lapic, self.look2[1])
        self.assertFalse(wd.spinning(self.look1, (self.look2[0], lapic)))

    def test_timer_rearmed_is_not_spinning(self):
        lapic = self.look2[1].replace("current_count = 0", "current_count = 5000")
        self.assertNotEqual(lapic, self.look2[1])
        self.assertFalse(wd.spinning(self.look1, (self.look2[0], lapic)))

    def test_halted_freeze_is_not_a_spin(self):
        freeze = split(record("freeze.log"))
        self.assertFalse(wd.spinning(freeze, freeze))


if __name__ == "__main__":
    unittest.main(verbosity=1)
