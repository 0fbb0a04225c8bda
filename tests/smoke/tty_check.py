"""Runs iovirt on a pseudo-terminal and checks that the terminal's settings
are the same afterwards: after a start-up error (initrd too big), and after
the user quits a running VM with Ctrl-A x (exit status 0)."""
import os, pty, sys, termios, time

iovirt, kernel, huge_initrd = sys.argv[1:4]

def run_on_pty(args, keys=None, wait=3.0):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(iovirt, [iovirt] + args)
    before = termios.tcgetattr(fd)
    out = b""
    deadline = time.time() + 60
    sent = False
    start = time.time()
    while True:
        if keys and not sent and time.time() - start > wait:
            os.write(fd, keys)
            sent = True
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise SystemExit("iovirt did not exit: " + out.decode(errors="replace")[-500:])
        try:
            import select
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                out += os.read(fd, 4096)
        except OSError:
            pass
    after = termios.tcgetattr(fd)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), before, after, out

code, before, after, out = run_on_pty(
    ["run", "--kernel", kernel, "--initrd", huge_initrd, "--memory", "128M"])
if code != 1:
    raise SystemExit(f"error path: exit {code}, want 1: {out!r}")
if before != after:
    raise SystemExit("error path: terminal settings changed")

code, before, after, out = run_on_pty(
    ["run", "--kernel", kernel, "--memory", "128M"], keys=b"\x01x")
if code != 0:
    raise SystemExit(f"Ctrl-A x: exit {code}, want 0: {out[-300:]!r}")
if before != after:
    raise SystemExit("Ctrl-A x: terminal settings not restored")
print("terminal restored")
