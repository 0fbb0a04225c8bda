"""The guest tier's rerun of the groups a crashed test host left
(tests/guest/resume.sh), driven through bash with a fake launcher in place
of tools/vmrun: it plays scenarios.sh (results and .done files per group)
and "crashes" (exit 125) where a plan says.

    python3 tests/tools/test_guest_resume.py
"""
import os
import subprocess
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Invocation N of the launcher reads plan line N: GROUP=ok|fail|crash words.
# ok/fail: the group runs to its end with one ok or FAIL line; crash: the
# group gets one ok line, then the test host dies (exit 125). Each call's
# groups are logged to calls. The word exit=N ends the call with N after
# its groups.
LAUNCHER = textwrap.dedent("""\
    #!/usr/bin/env bash
    shift   # tests/guest/scenarios.sh
    n=$(( $(wc -l < "$DIR/calls") + 1 ))
    echo "$*" >> "$DIR/calls"
    plan=$(sed -n "${n}p" "$DIR/plan")
    for g in "$@"; do
        what=$(printf '%s\\n' $plan | sed -n "s/^$g=//p")
        : > "$RESULTS_DIR/$g"; rm -f "$RESULTS_DIR/$g.done"
        case $what in
        ok)    echo "ok   $g: x" >> "$RESULTS_DIR/$g" ;;
        fail)  echo "FAIL $g: x" >> "$RESULTS_DIR/$g" ;;
        crash) echo "ok   $g: x" >> "$RESULTS_DIR/$g"; exit 125 ;;
        esac
        touch "$RESULTS_DIR/$g.done"
    done
    end=$(printf '%s\n' $plan | sed -n "s/^exit=//p")
    [ -z "$end" ] || exit "$end"
    grep -q '^FAIL' "$RESULTS_DIR"/* 2>/dev/null && exit 1
    exit 0
    """)


class Resume(unittest.TestCase):
    def run_plan(self, groups, plan, attempts=3):
        with tempfile.TemporaryDirectory() as d:
            results = os.path.join(d, "results")
            os.mkdir(results)
            with open(os.path.join(d, "plan"), "w") as f:
                f.write("\n".join(plan) + "\n")
            open(os.path.join(d, "calls"), "w").close()
            launcher = os.path.join(d, "launch")
            with open(launcher, "w") as f:
                f.write(LAUNCHER)
            os.chmod(launcher, 0o755)
            script = (f'. {ROOT}/tests/guest/resume.sh; '
                      f'resuming {" ".join(groups)} -- {launcher}')
            env = dict(os.environ, DIR=d, RESULTS_DIR=results,
                       ATTEMPTS=str(attempts))
            p = subprocess.run(["bash", "-c", script], env=env, text=True,
                               capture_output=True, timeout=30)
            with open(os.path.join(d, "calls")) as f:
                calls = f.read().split("\n")[:-1]
            return p.returncode, calls, p.stdout

    def test_no_crash_runs_once(self):
        rc, calls, _ = self.run_plan(["a", "b"], ["a=ok b=ok"])
        self.assertEqual((rc, calls), (0, ["a b"]))

    def test_failure_without_crash_fails(self):
        rc, calls, _ = self.run_plan(["a", "b"], ["a=fail b=ok"])
        self.assertEqual((rc, calls), (1, ["a b"]))

    def test_crash_reruns_only_unfinished_groups(self):
        rc, calls, out = self.run_plan(["a", "b", "c"],
                                       ["a=ok b=crash", "b=ok c=ok"])
        self.assertEqual((rc, calls), (0, ["a b c", "b c"]))
        # b's partial run is replaced by its rerun: 3 checks, not 4.
        self.assertIn("guest: the groups ran in 2 test host(s)", out)
        self.assertIn("guest: 3 passed, 0 failed, 0 skipped", out)

    def test_failure_before_crash_still_fails(self):
        rc, calls, out = self.run_plan(["a", "b"], ["a=fail b=crash", "b=ok"])
        self.assertEqual((rc, calls), (1, ["a b", "b"]))
        self.assertIn("1 passed, 1 failed", out)

    def test_gives_up_after_attempts(self):
        rc, calls, _ = self.run_plan(["a", "b"], ["a=crash"] * 2 + ["a=ok"],
                                     attempts=2)
        self.assertEqual((rc, calls), (125, ["a b", "a b"]))

    def test_crash_after_last_group_does_not_rerun(self):
        # The test host died after every group finished (e.g. at power-off).
        rc, calls, out = self.run_plan(["a"], ["a=ok exit=125", "a=ok"])
        self.assertEqual((rc, calls), (0, ["a"]))
        self.assertIn("guest: the groups ran in 1 test host(s)", out)
        self.assertIn("guest: 1 passed, 0 failed, 0 skipped", out)
        rc, calls, _ = self.run_plan(["a"], ["a=fail exit=125", "a=ok"])
        self.assertEqual((rc, calls), (1, ["a"]))


if __name__ == "__main__":
    unittest.main()
