"""The host side of the guest network tests (loopback and the test host's
own tap only). Subcommands:
  serve PORT FILE           HTTP server on 127.0.0.1 serving FILE (background)
  recv ADDR PORT            accept one TCP connection, print sha256 of what came
  send LOG MARKER [ADDR:]PORT FILE
                            wait for MARKER in LOG, then send FILE to ADDR:PORT
                            (default address 127.0.0.1)
"""
import hashlib, http.server, socket, sys, time, functools

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

def serve(port, path):
    handler = functools.partial(Quiet, directory=path.rsplit("/", 1)[0])
    http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler).serve_forever()

def recv(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(1)
    s.settimeout(300)
    c, _ = s.accept()
    h = hashlib.sha256()
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
    print(h.hexdigest())

def send(log, marker, port, path):
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if marker in open(log, errors="replace").read():
                break
        except FileNotFoundError:
            pass
        time.sleep(0.5)
    else:
        sys.exit("marker never appeared")
    data = open(path, "rb").read()
    addr, _, port = port.rpartition(":")
    for _ in range(20):
        try:
            c = socket.create_connection((addr or "127.0.0.1", int(port)), timeout=30)
            break
        except OSError:
            time.sleep(0.5)
    else:
        sys.exit("cannot connect")
    c.sendall(data)
    c.close()

cmd = sys.argv[1]
{"serve": serve, "recv": recv, "send": send}[cmd](*sys.argv[2:])
