"""bench/snapshot.py without a VMM: its table from fake runs (medians, the
ratios iovirt/QEMU, a skipped size, a failed run), the console logic on a
fake process's output (READY, TICKs, the first TICK above the last), its QMP
client against a fake QMP server (getfd passes the fd, the MIGRATION event
ends the wait) and its API client against a fake HTTP server.

    python3 tests/tools/test_bench_snapshot.py
"""
import http.server
import importlib.util
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("bench_snapshot",
                                              os.path.join(ROOT, "bench", "snapshot.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def run(snap, read, mapped, disk_mib, app_mib, error=None):
    r = {"snap_s": snap, "read_s": read, "disk_kib": disk_mib * 1024.0,
         "apparent_kib": app_mib * 1024.0, "last_tick": 7, "read_s_tick": 8}
    if mapped is not None:
        r["map_s"] = mapped
    if error:
        r["error"] = error
        r["detail"] = ["console | TICK=7"]
    return r


META = {"runs": 3, "date": "2026-12-07 00:00:00", "emulated": True, "kernel": "vmlinuz X",
        "initrd": "snapshot.img", "cmdline": "console=ttyS0", "fill_mb": 64, "tick_ms": 20,
        "work": "/tmp/w", "work_fs": "tmpfs", "qemu_version": "7.2", "qemu_channel": "fd"}


class Table(unittest.TestCase):
    def report(self):
        results = {512: {
            "iovirt": [run(0.2, 1.0, 0.8, 70, 512), run(0.4, 3.0, 0.4, 70, 512),
                       run(0.3, 2.0, 0.6, 70, 512)],
            "qemu-pc": [run(0.6, 4.0, None, 66, 66), run(0.8, 2.0, None, 66, 66),
                        run(9.0, 9.0, None, 99, 99, error="QMP migrate: boom")]}}
        skipped = {2048: "100 MiB free in /tmp/w, two snapshots of 2G need 4160 MiB"}
        return bench.render(META, [512, 2048], results, skipped).splitlines()

    def row(self, lines, label):
        for line in lines:
            if line.startswith(label):
                return line[len(label):].split()
        raise AssertionError(f"no row {label!r}")

    def test_medians_per_vmm(self):
        lines = self.report()
        # n, snapshot, read, map, on disk, apparent, disk/RAM
        self.assertEqual(self.row(lines, "512M  iovirt "),
                         ["3", "0.300", "2.000", "0.600", "70.0", "512.0", "13.7%"])
        # the failed run is left out of QEMU's medians; it has no map restore
        self.assertEqual(self.row(lines, "512M  qemu-pc "),
                         ["2", "0.700", "3.000", "n/a", "66.0", "66.0", "12.9%"])

    def test_ratios_iovirt_over_qemu(self):
        r = self.row(self.report(), "512M  snapshot ")
        self.assertEqual(r, ["0.43", "restore", "read", "0.67", "restore", "map", "0.20",
                             "on", "disk", "1.06"])

    def test_skipped_size_and_failure_are_said(self):
        lines = self.report()
        self.assertIn("2G    skipped: 100 MiB free in /tmp/w, two snapshots of 2G need 4160 MiB",
                      lines)
        self.assertIn("512M qemu-pc FAILED: QMP migrate: boom", lines)
        self.assertTrue(any(x.strip().startswith("512M  qemu-pc") and "FAIL" in x for x in lines))

    def test_sizes(self):
        self.assertEqual(bench.parse_size("512M"), 512)
        self.assertEqual(bench.parse_size("2g"), 2048)
        self.assertEqual(bench.parse_size("768"), 768)
        self.assertRaises(ValueError, bench.parse_size, "0M")
        self.assertRaises(ValueError, bench.parse_size, "2T")
        self.assertEqual(bench.size_name(2048), "2G")
        self.assertEqual(bench.size_name(512), "512M")


class ConsoleLogic(unittest.TestCase):
    def test_ticks_before_and_after(self):
        # A serial console: CRLF, a kernel line, a line cut by the pause.
        before = ("printf 'boot\\r\\nIOVIRT-BENCH-READY\\r\\nTICK=1\\r\\nTICK=2\\r\\n"
                  "TICK=3\\r\\nTICK=4\\r\\nTIC'; exec sleep 30")
        # The restored process goes on with the rest of that line first.
        after = "printf 'K=5\\r\\nTICK=2\\r\\n'; sleep 0.5; printf 'TICK=5\\r\\n'; exec sleep 30"
        with tempfile.TemporaryDirectory() as d:
            with bench.Vmm(["sh", "-c", before], os.path.join(d, "err")) as vm:
                deadline = time.monotonic() + 10
                bench.wait_running(vm, deadline)
                last = bench.drain_last_tick(vm, deadline)
                self.assertEqual(last, 4)
            with bench.Vmm(["sh", "-c", after], os.path.join(d, "err")) as vm:
                secs, n = bench.wait_new_tick(vm, last, time.monotonic() + 10)
                self.assertEqual(n, 5)
                self.assertGreater(secs, 0.45)      # not "K=5", not TICK=2

    def test_output_ending_early_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            with bench.Vmm(["sh", "-c", "echo TICK=1"], os.path.join(d, "err")) as vm:
                with self.assertRaises(bench.BenchError):
                    bench.wait_new_tick(vm, 1, time.monotonic() + 10)

    def test_disk_usage_counts_blocks_not_holes(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "ram"), "wb") as f:
                f.truncate(8 << 20)             # a hole
                f.write(b"x" * 4096)
            alloc, apparent = bench.disk_usage(d)
            self.assertEqual(apparent, 8 * 1024)
            self.assertLess(alloc, 1024)


class FakeQmp(threading.Thread):
    """Greets, answers every command, passes on the fd getfd sent, and ends
    a migrate with MIGRATION events (status given)."""

    def __init__(self, path, status="completed"):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.status = status
        self.commands = []
        self.fd_data = None

    def run(self):
        c, _ = self.srv.accept()
        c.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
        buf = b""
        while True:
            msg, fds, _, _ = socket.recv_fds(c, 65536, 4)
            if not msg:
                return
            for fd in fds:
                os.write(fd, b"state")
                os.close(fd)
                self.fd_data = True
            buf += msg
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = json.loads(line)
                self.commands.append(cmd)
                if cmd["execute"] == "migrate":
                    c.sendall(b'{"return": {}}\r\n'
                              b'{"event": "MIGRATION", "data": {"status": "active"}}\r\n')
                    c.sendall(json.dumps({"event": "MIGRATION",
                                          "data": {"status": self.status}}).encode() + b"\r\n")
                elif cmd["execute"] == "query-status":
                    c.sendall(b'{"event": "STOP"}\r\n{"return": {"status": "paused"}}\r\n')
                else:
                    c.sendall(b'{"return": {}}\r\n')


class QmpClient(unittest.TestCase):
    def qmp(self, status):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "qmp.sock")
        srv = FakeQmp(path, status)
        srv.start()
        proc = subprocess.Popen(["sleep", "30"])
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)

        class Alive:
            def alive(self):
                return proc.poll() is None
        return bench.Qmp(path, time.monotonic() + 10, Alive()), srv, d.name

    def test_getfd_migrate_and_status(self):
        q, srv, d = self.qmp("completed")
        fd = os.open(os.path.join(d, "snap"), os.O_WRONLY | os.O_CREAT, 0o600)
        q.cmd("getfd", {"fdname": "snap"}, fds=[fd])
        os.close(fd)
        q.cmd("migrate", {"uri": "fd:snap"})
        q.wait_migration()
        self.assertEqual(q.cmd("query-status")["status"], "paused")
        q.close()
        self.assertEqual([c["execute"] for c in srv.commands],
                         ["qmp_capabilities", "getfd", "migrate", "query-status"])
        with open(os.path.join(d, "snap"), "rb") as f:
            self.assertEqual(f.read(), b"state")

    def test_failed_migration_raises(self):
        q, _, _ = self.qmp("failed")
        q.cmd("migrate", {"uri": "fd:snap"})
        with self.assertRaisesRegex(bench.BenchError, "failed"):
            q.wait_migration()
        q.close()


class UnixHTTPServer(socketserver.UnixStreamServer):
    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


class ApiClient(unittest.TestCase):
    def serve(self, status):
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                n = int(self.headers.get("Content-Length", 0))
                seen.append((self.path, self.rfile.read(n)))
                body = b'{"error": "not paused"}' if status >= 300 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, *a):
                pass
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "api.sock")
        srv = UnixHTTPServer(path, Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return path, seen

    def test_snapshot_request(self):
        path, seen = self.serve(204)
        bench.api_put(path, "vm.pause", None, 5)
        bench.api_put(path, "vm.snapshot", {"destination_url": "file:///tmp/s"}, 5)
        self.assertEqual(seen[0], ("/api/v1/vm.pause", b""))
        self.assertEqual(seen[1][0], "/api/v1/vm.snapshot")
        self.assertEqual(json.loads(seen[1][1]), {"destination_url": "file:///tmp/s"})

    def test_refusal_raises_with_the_reply(self):
        path, _ = self.serve(409)
        with self.assertRaisesRegex(bench.BenchError, "vm.snapshot: HTTP 409: .*not paused"):
            bench.api_put(path, "vm.snapshot", {"destination_url": "file:///tmp/s"}, 5)


if __name__ == "__main__":
    sys.exit(unittest.main())
