"""A small hawkBit DDI server for the tests (the real one is a Java service
that cannot be installed here): the controller endpoints rota's client uses
(poll, configData, deploymentBase and cancelAction with their feedback) and
artifact downloads with Range support, on 127.0.0.1. It checks the target
token on every request (downloads too, unless told otherwise: an external
artifact store), validates feedback and configData bodies as hawkBit does,
and records every request and every JSON body it accepted."""
import hashlib
import http.server
import json
import re
import ssl
import threading

EXECUTIONS = {"closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download"}
FINISHED = {"success", "failure", "none"}


class DdiServer:
    def __init__(self, tenant="DEFAULT", target="dev-1", token="s3cret", tls=None):
        """tls: (certificate file, key file) to serve HTTPS instead of HTTP."""
        self.tenant, self.target, self.token = tenant, target, token
        self.requests = []        # (method, path, headers dict)
        self.feedback = []        # (kind, action id, body), accepted ones only
        self.attributes = []      # configData bodies
        self.deployment = None    # dict: see deploy()
        self.cancel = None        # (cancel id, stop id)
        self.want_config = False
        self.sleep = "00:00:02"   # config.polling.sleep in the poll reply
        self.poll_body = None     # bytes: the poll reply instead of the usual one
        self.link_base = None     # where the poll reply's links point (default: here)
        self.downloads_need_token = True
        self.fail_feedback = {}   # execution or first detail -> how many such feedbacks to refuse (HTTP 500)
        self.on_refused = None    # called when a feedback is refused
        self.fail_config = 0      # how many configData PUTs to refuse (HTTP 500)
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
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- what the server offers ----

    def deploy(self, action_id, filename, data, sha256=None, size=None, download="forced", update="forced",
               window=None, artifacts=None, download_base=None):
        """download/update: forced, attempt or skip; window: None, "available"
        or "unavailable"; artifacts: the chunks' artifacts instead of the one
        bundle (a list of lists of filenames); download_base: where the
        download link points (another server: an external artifact store)."""
        self.deployment = {"id": str(action_id), "filename": filename, "data": data,
                           "sha256": sha256 or hashlib.sha256(data).hexdigest(),
                           "size": len(data) if size is None else size, "download": download, "update": update,
                           "window": window, "artifacts": artifacts, "download_base": download_base}

    def host(self, filename, data):
        """Serves data at /download/filename (an artifact store for another server's links)."""
        self.deployment = {"id": "0", "filename": filename, "data": data}

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
        path = h.path.split("?", 1)[0]
        if path.startswith("/download/") and method == "GET" and not self.downloads_need_token:
            return self._download(h)
        if self.token and h.headers.get("Authorization") != f"TargetToken {self.token}":
            return self._reply(h, 401, b'{"message":"unauthorized"}')
        ctl = f"/{self.tenant}/controller/v1/{self.target}"
        if path.startswith("/download/") and method == "GET":
            return self._download(h)
        if path == ctl and method == "GET":
            if self.poll_body is not None:
                return self._reply(h, 200, self.poll_body)
            return self._json(h, self._poll_reply(ctl))
        if path == f"{ctl}/configData" and method == "PUT":
            return self._config_data(h, body)
        m = re.fullmatch(re.escape(ctl) + r"/(deploymentBase|cancelAction)/(\w+)(/feedback)?", path)
        if m and method == "POST" and m.group(3):
            return self._feedback(h, m.group(1), m.group(2), body)
        if m and method == "GET" and m.group(1) == "deploymentBase" and self.deployment:
            return self._json(h, self._deployment_reply())
        if m and method == "GET" and m.group(1) == "cancelAction" and self.cancel:
            return self._json(h, {"id": self.cancel[0], "cancelAction": {"stopId": self.cancel[1]}})
        return self._reply(h, 404, b'{"message":"not found"}')

    def _config_data(self, h, body):
        data = json.loads(body)
        if not isinstance(data.get("data"), dict) or not data["data"]:  # hawkBit: @NotEmpty
            return self._reply(h, 400, b'{"message":"data must not be empty"}')
        if self.fail_config:
            self.fail_config -= 1
            return self._reply(h, 500, b'{"message":"refused"}')
        self.attributes.append(data)
        self.want_config = False
        return self._reply(h, 200)

    def _feedback(self, h, kind, action, body):
        f = json.loads(body)
        status = f.get("status", {})
        if status.get("execution") not in EXECUTIONS or status.get("result", {}).get("finished") not in FINISHED:
            return self._reply(h, 400, b'{"message":"invalid feedback"}')
        details = status.get("details") or [""]
        for key in (status["execution"], details[0]):
            if self.fail_feedback.get(key):
                self.fail_feedback[key] -= 1
                if self.on_refused:
                    self.on_refused()
                return self._reply(h, 500, b'{"message":"refused"}')
        self.feedback.append((kind, action, f))
        if kind == "deploymentBase" and status["execution"] in ("closed", "downloaded"):
            self.deployment = None
        if kind == "cancelAction":
            self.cancel = None
        return self._reply(h, 200)

    def _poll_reply(self, ctl):
        links = {}
        base = self.link_base or self.base
        if self.want_config:
            links["configData"] = {"href": f"{base}{ctl}/configData"}
        if self.cancel:
            links["cancelAction"] = {"href": f"{base}{ctl}/cancelAction/{self.cancel[0]}"}
        elif self.deployment:
            links["deploymentBase"] = {"href": f"{base}{ctl}/deploymentBase/{self.deployment['id']}?c=-12345"}
        return {"config": {"polling": {"sleep": self.sleep}}, "_links": links}

    def _artifact(self, filename):
        d = self.deployment
        url = f"{d['download_base'] or self.base}/download/{filename}"
        return {"filename": filename, "size": d["size"],
                "hashes": {"sha1": hashlib.sha1(d["data"]).hexdigest(), "md5": hashlib.md5(d["data"]).hexdigest(),
                           "sha256": d["sha256"]},
                # hawkBit offers both; an https server here serves https only,
                # so a client taking the plain http link with ssl=true fails.
                "_links": {"download": {"href": url}, "download-http": {"href": url.replace("https://", "http://")},
                           "md5sum-http": {"href": url + ".MD5SUM"}}}

    def _deployment_reply(self):
        d = self.deployment
        chunks = d["artifacts"] or [[d["filename"]]]
        deployment = {"download": d["download"], "update": d["update"], "chunks": [
            {"part": "os", "name": f"rootfs{i}", "version": "1.0", "artifacts": [self._artifact(f) for f in files]}
            for i, files in enumerate(chunks)]}
        if d["window"]:
            deployment["maintenanceWindow"] = d["window"]
        return {"id": d["id"], "deployment": deployment}

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

    def downloads(self):
        """The paths of the bundle downloads, in order."""
        return [p for m, p, h in self.requests if p.startswith("/download/")]

    def polls(self):
        return [p for m, p, h in self.requests if m == "GET" and p == f"/{self.tenant}/controller/v1/{self.target}"]

    def feedback_states(self, kind="deploymentBase"):
        """(execution, finished, details) of each feedback of that kind, in order."""
        return [(f["status"]["execution"], f["status"]["result"]["finished"], f["status"].get("details", []))
                for k, _, f in self.feedback if k == kind]
