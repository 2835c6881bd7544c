"""A fault-injecting HTTP reverse proxy for the streaming tests.

It forwards GET requests (with their Range and auth headers) to an upstream
server and, from request number `at` on (1-based; request 1 is rota's tail
request), misbehaves as `mode` says. "once" faults hit only request `at`;
the others hit every request from `at` on. Runs in a thread of the test.
"""
import http.client
import http.server
import socket
import struct
import threading
import time

ONCE = {"reset", "truncate", "stall", "503", "unterminated"}
MODES = ONCE | {"none", "full200", "wrong-range", "redirect-loop", "swap", "hold", "503-always", "huge-total"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        proxy = self.server.proxy
        n = proxy.count_request(self.headers)
        mode = proxy.mode
        hit = n == proxy.at if mode in ONCE else n >= proxy.at
        if not hit:
            mode = "none"
        if mode == "redirect-loop":
            return self.reply(302, {"Location": self.path}, b"")
        if mode in ("503", "503-always"):
            return self.reply(503, {}, b"busy")
        if mode == "stall":
            time.sleep(proxy.stall_seconds)
        if mode == "hold":
            proxy.held.set()
            proxy.release.wait(60)
        path = proxy.swap_path if mode == "swap" else self.path
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("range", "authorization")}
        if mode == "full200":
            headers.pop("Range", None)
            headers.pop("range", None)
        conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        out = {k: v for k, v in resp.getheaders() if k.lower() in ("content-range", "etag", "last-modified")}
        if mode == "wrong-range" and "Content-Range" in out:
            unit, rest = out["Content-Range"].split(" ", 1)
            span, total = rest.split("/")
            a, b = (int(x) for x in span.split("-"))
            out["Content-Range"] = f"{unit} {a + 4096}-{b + 4096}/{total}"
        if mode == "huge-total" and "Content-Range" in out:
            # the tail of a bundle of 2^62 bytes, consistent with itself
            total = 2**62
            out["Content-Range"] = f"bytes {total - len(body)}-{total - 1}/{total}"
        if mode == "reset":
            return self.reset_midway(resp.status, out, body)
        if mode == "unterminated":
            return self.chunked_without_end(resp.status, out, body)
        if mode == "truncate":
            return self.reply(resp.status, out, body, send=len(body) // 2)
        self.reply(resp.status, out, body)

    def reply(self, status, headers, body, send=None):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if send is None else body[:send])
        if send is not None:
            self.close_connection = True

    def chunked_without_end(self, status, headers, body):
        """All of body as one chunk, then the connection closes without the
        last (empty) chunk: every byte arrived, the reply is still broken."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n" % len(body) + body + b"\r\n")
        self.wfile.flush()
        self.close_connection = True

    def reset_midway(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class FaultProxy:
    def __init__(self, upstream_port, mode="none", at=2, swap_path=None, stall_seconds=8):
        assert mode in MODES, mode
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = mode
        self.at = at
        self.swap_path = swap_path
        self.stall_seconds = stall_seconds
        self.requests = 0
        self.seen_headers = []  # per request in arrival order: {lowercased name: value}
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.proxy = self
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count_request(self, headers=None):
        with self._lock:
            self.requests += 1
            self.seen_headers.append({k.lower(): v for k, v in (headers or {}).items()})
            return self.requests

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
