"""A small hawkBit DDI server for the tests (the real one is a Java service
that cannot be installed here): the controller endpoints rota's client uses
(poll, configData, deploymentBase and cancelAction with their feedback) and
artifact downloads with Range support, on 127.0.0.1. It checks the target
token on every request and records every request and every JSON body."""
import hashlib
import http.server
import json
import re
import threading


class DdiServer:
    def __init__(self, tenant="DEFAULT", target="dev-1", token="s3cret"):
        self.tenant, self.target, self.token = tenant, target, token
        self.requests = []        # (method, path, headers dict)
        self.feedback = []        # (kind, action id, body)
        self.attributes = []      # configData bodies
        self.deployment = None    # dict: id, filename, data, sha256, size
        self.cancel = None        # (cancel id, stop id)
        self.want_config = False
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_PUT(self):
                server._handle(self, "PUT")

            def do_POST(self):
                server._handle(self, "POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- what the server offers ----

    def deploy(self, action_id, filename, data, sha256=None, size=None):
        self.deployment = {"id": str(action_id), "filename": filename, "data": data,
                           "sha256": sha256 or hashlib.sha256(data).hexdigest(),
                           "size": len(data) if size is None else size}

    # ---- handling ----

    def _reply(self, h, code, body=b"", ctype="application/hal+json", extra=None):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _json(self, h, obj):
        self._reply(h, 200, json.dumps(obj).encode())

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, h.path, dict(h.headers)))
        if h.headers.get("Authorization") != f"TargetToken {self.token}":
            return self._reply(h, 401, b'{"message":"unauthorized"}')
        path = h.path.split("?", 1)[0]
        ctl = f"/{self.tenant}/controller/v1/{self.target}"
        if path.startswith("/download/") and method == "GET":
            return self._download(h)
        if path == ctl and method == "GET":
            return self._json(h, self._poll_reply(ctl))
        if path == f"{ctl}/configData" and method == "PUT":
            self.attributes.append(json.loads(body))
            self.want_config = False
            return self._reply(h, 200)
        m = re.fullmatch(re.escape(ctl) + r"/(deploymentBase|cancelAction)/(\w+)(/feedback)?", path)
        if m and method == "POST" and m.group(3):
            self.feedback.append((m.group(1), m.group(2), json.loads(body)))
            if m.group(1) == "deploymentBase" and json.loads(body)["status"]["execution"] == "closed":
                self.deployment = None
            if m.group(1) == "cancelAction":
                self.cancel = None
            return self._reply(h, 200)
        if m and method == "GET" and m.group(1) == "deploymentBase" and self.deployment:
            return self._json(h, self._deployment_reply())
        if m and method == "GET" and m.group(1) == "cancelAction" and self.cancel:
            return self._json(h, {"id": self.cancel[0], "cancelAction": {"stopId": self.cancel[1]}})
        return self._reply(h, 404, b'{"message":"not found"}')

    def _poll_reply(self, ctl):
        links = {}
        if self.want_config:
            links["configData"] = {"href": f"{self.base}{ctl}/configData"}
        if self.cancel:
            links["cancelAction"] = {"href": f"{self.base}{ctl}/cancelAction/{self.cancel[0]}"}
        elif self.deployment:
            links["deploymentBase"] = {"href": f"{self.base}{ctl}/deploymentBase/{self.deployment['id']}?c=-12345"}
        return {"config": {"polling": {"sleep": "00:00:02"}}, "_links": links}

    def _deployment_reply(self):
        d = self.deployment
        url = f"{self.base}/download/{d['filename']}"
        return {"id": d["id"], "deployment": {"download": "forced", "update": "forced", "chunks": [
            {"part": "os", "name": "rootfs", "version": "1.0", "artifacts": [
                {"filename": d["filename"], "size": d["size"],
                 "hashes": {"sha1": hashlib.sha1(d["data"]).hexdigest(), "md5": hashlib.md5(d["data"]).hexdigest(),
                            "sha256": d["sha256"]},
                 "_links": {"download-http": {"href": url}, "md5sum-http": {"href": url + ".MD5SUM"}}}]}]}}

    def _download(self, h):
        d = self.deployment
        if not d or h.path != f"/download/{d['filename']}":
            return self._reply(h, 404)
        data = d["data"]
        rng = h.headers.get("Range")
        if not rng:
            return self._reply(h, 200, data, "application/octet-stream", {"Accept-Ranges": "bytes"})
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng)
        if m.group(1):  # a-b or a-
            a, b = int(m.group(1)), min(int(m.group(2) or len(data) - 1), len(data) - 1)
        else:  # -n: the last n bytes
            a, b = max(len(data) - int(m.group(2)), 0), len(data) - 1
        self._reply(h, 206, data[a:b + 1], "application/octet-stream",
                    {"Content-Range": f"bytes {a}-{b}/{len(data)}", "Accept-Ranges": "bytes"})

    def feedback_states(self, kind="deploymentBase"):
        """(execution, finished, details) of each feedback of that kind, in order."""
        return [(f["status"]["execution"], f["status"]["result"]["finished"], f["status"].get("details", []))
                for k, _, f in self.feedback if k == kind]
