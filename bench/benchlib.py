"""What the benchmark drivers against QEMU share (bench/boot.py,
bench/snapshot.py, bench/migrate.py, bench/firmware.py): a VMM process with
its console read by a thread, iovirt's API socket, a QMP client, sizes, runs
recorded to survive a frozen test host, and the median/ratio/format helpers
of their tables. Imported from the bench/ directory (a script's own directory is the
first on sys.path)."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


class BenchError(Exception):
    pass


def parse_size(text):
    """'512M' / '2G' / '1024' (MiB) -> MiB."""
    m = re.fullmatch(r"([1-9][0-9]*)([MG]?)", text.strip().upper())
    if not m:
        raise ValueError(f"not a size (512M, 2G): {text!r}")
    return int(m.group(1)) * (1024 if m.group(2) == "G" else 1)


def size_name(mib):
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def clean_line(raw):
    """A console line -> text without CR and terminal escapes."""
    text = raw.decode("utf-8", "replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r", "", text).strip()


class Console:
    """The VMM's stdout (the guest's serial console), read by a thread; every
    complete line is kept with the time it arrived."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []          # (monotonic time, text)
        self.last_data = time.monotonic()
        self.first_data = None   # when the first byte came
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        partial = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            now = time.monotonic()
            with self.cond:
                self.last_data = now
                if chunk and self.first_data is None:
                    self.first_data = now
                if not chunk:
                    if partial:
                        self.lines.append((now, clean_line(partial)))
                    self.eof = True
                    self.cond.notify_all()
                    return
                parts = (partial + chunk).split(b"\n")
                partial = parts.pop()
                self.lines.extend((now, clean_line(p)) for p in parts)
                self.cond.notify_all()

    def wait_for(self, pred, deadline, what, start=0):
        """The index and time of the first line from index start that pred
        accepts; BenchError at the deadline or when the VMM's output ends."""
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i][1]):
                        return i, self.lines[i][0]
                    i += 1
                if self.eof:
                    raise BenchError(f"the VMM's output ended before {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"no {what} in time")
                self.cond.wait(min(left, 1.0))

    def wait_quiet(self, quiet, deadline):
        """Waits until no output came for quiet seconds (or the deadline)."""
        while True:
            with self.cond:
                idle = time.monotonic() - self.last_data
            if idle >= quiet or time.monotonic() >= deadline or self.eof:
                return
            time.sleep(quiet - idle)

    def texts(self):
        """Every line so far."""
        with self.cond:
            return [t for _, t in self.lines]

    def tail(self, n=15):
        with self.cond:
            return [t for _, t in self.lines if t][-n:]


class Vmm:
    """A VMM process with its console; killed (SIGKILL) on close."""

    def __init__(self, cmd, errlog, pass_fds=()):
        self.cmd = cmd
        self.errlog = errlog
        self.t0 = time.monotonic()
        with open(errlog, "wb") as err:
            try:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=err,
                                             pass_fds=pass_fds)
            except OSError as e:
                raise BenchError(f"cannot start {cmd[0]}: {e}") from e
        self.console = Console(self.proc)

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.console.thread.join(timeout=5)
        self.proc.stdout.close()

    def wait_poweroff(self, deadline):
        """Waits (at least 5 s) for the VMM to exit after the guest powered
        off; the time it exited. BenchError if it hangs or exits non-zero."""
        try:
            self.proc.wait(timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise BenchError("the guest powered off but the VMM did not exit") from None
        t_end = time.monotonic()
        if self.proc.returncode != 0:
            raise BenchError(f"the VMM exited {self.proc.returncode}")
        return t_end

    def failure_detail(self):
        lines = [f"console | {t}" for t in self.console.tail()]
        try:
            with open(self.errlog, "rb") as f:
                err = f.read().decode("utf-8", "replace").splitlines()[-8:]
            lines += [f"stderr  | {t}" for t in err]
        except OSError:
            pass
        if self.proc.poll() is not None:
            lines.append(f"exit status {self.proc.returncode}")
        return lines

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


# ---------------------------------------------------------- iovirt's API --

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api_call(sock, method, endpoint, body, timeout):
    """METHOD /api/v1/ENDPOINT on iovirt's API socket (what `iovirt ctl`
    sends): the reply's body as text; BenchError on a failure or an HTTP
    error status."""
    conn = UnixHTTP(sock, timeout)
    try:
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, f"/api/v1/{endpoint}", body=data, headers=headers)
        r = conn.getresponse()
        reply = r.read().decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as e:
        raise BenchError(f"{endpoint}: {e}") from e
    finally:
        conn.close()
    if r.status >= 300:
        raise BenchError(f"{endpoint}: HTTP {r.status}: {reply}")
    return reply


def api_put(sock, endpoint, body, timeout):
    """PUT /api/v1/ENDPOINT: the reply's body as text."""
    return api_call(sock, "PUT", endpoint, body, timeout)


def api_get(sock, endpoint, timeout):
    """GET /api/v1/ENDPOINT: the reply's JSON."""
    return json.loads(api_call(sock, "GET", endpoint, None, timeout))


# -------------------------------------------------------------------- QMP --

class Qmp:
    """A QMP client on a UNIX socket: commands, and the events in between."""

    def __init__(self, path, deadline, vm):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if not vm.alive():
                    raise BenchError("QEMU exited before its QMP socket answered")
                if time.monotonic() > deadline:
                    raise BenchError(f"no QMP socket at {path} in time")
                time.sleep(0.01)
        self.sock = s
        self.buf = b""
        self.events = []
        self.deadline = deadline
        self._recv()                        # the greeting
        self.cmd("qmp_capabilities")

    def _recv(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BenchError("QMP: no answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise BenchError("QMP: QEMU closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, fds=()):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)
        while True:
            reply = self._recv()
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise BenchError(f"QMP {name}: {reply['error'].get('desc', reply['error'])}")
            elif "return" in reply:
                return reply["return"]

    def wait_migration(self):
        """Waits for the MIGRATION event that ends it: completed, or failed."""
        while True:
            while self.events:
                ev = self.events.pop(0)
                if ev.get("event") == "MIGRATION":
                    status = ev.get("data", {}).get("status")
                    if status == "completed":
                        return
                    if status in ("failed", "cancelled"):
                        raise BenchError(f"QEMU migration {status}")
            ev = self._recv()
            if "event" in ev:
                self.events.append(ev)

    def close(self):
        self.sock.close()


# ----------------------------------------------------------- recorded runs --

def load_runs(path, keys):
    """{tuple of the keys' values: run} of the runs recorded in path (JSON
    lines, see record_run), the keys taken out of each run."""
    done = {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    done[tuple(rec.pop(k) for k in keys)] = rec
                except (ValueError, KeyError):
                    pass            # a line cut short by a freeze
    except FileNotFoundError:
        pass
    return done


def record_run(path, res, **key):
    """Appends res with its key fields to path, on disk before it returns:
    a test host that freezes next loses no finished run."""
    with open(path, "a") as f:
        f.write(json.dumps(dict(res, **key)) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------ table --

def fmt(v, spec):
    if v is None:
        width = spec.split(".")[0]
        return format("n/a", f">{width}") if width else "n/a"
    return format(v, spec)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def qemu_version(qemu):
    try:
        out = subprocess.run([qemu, "-version"], capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"version (\S+)", out)
        return m.group(1) if m else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def note_lines(emulated):
    """The report's line on where it was measured."""
    if emulated:
        return ["NOTE: measured inside the software-emulated test host (QEMU TCG with nested",
                "      KVM, see docs/TESTHOST.md): absolute times are far slower than real",
                "      hardware. Compare the ratios, within this one run, only."]
    return ["NOTE: measured directly on this machine's hardware KVM."]


def write_report(path, text):
    """text to path (whole or not at all) and to stdout."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    sys.stdout.write(text)
