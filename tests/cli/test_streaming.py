"""Streaming: `rota info URL` and `rota install URL` against real nginx and
lighttpd on 127.0.0.1 (plain HTTP, HTTPS with a test CA, HTTPS demanding a
client certificate, basic auth), and through a fault-injecting proxy.
Recoverable faults must end in a correct install, the others in a clean
failure with the booted slot still primary. The servers are started by the
fixtures with generated configs, as root, not as system services."""
import base64
import hashlib
import os
import pathlib
import random
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROTA
from faultproxy import FaultProxy
from system_fixture import COMPATIBLE, BundleMaker, System

IMG_SIZE = 700 * 1024
USER, PASSWORD = "rota", "s3cret"
QUICK = {"ROTA_HTTP_LOW_SPEED_TIME": "2", "ROTA_HTTP_RETRY_DELAY_MS": "50"}

pytestmark = pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                                reason="nginx not installed (scripts/install-deps.sh)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerExited(RuntimeError):
    pass


def wait_port(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise ServerExited(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A test CA, a server certificate for 127.0.0.1 and a client certificate."""
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=rota streaming test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={'127.0.0.1' if name == 'server' else 'rota-device'}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    (d / "server-full.pem").write_text((d / "server.pem").read_text() + (d / "server.key").read_text())
    return d


class Servers:
    """nginx and lighttpd serving root: ports by name, access logs."""

    def __init__(self, base, root, certs):
        self.base, self.root, self.certs = base, root, certs
        # A port picked free can be taken before the server binds it (by
        # the ephemeral port of a client socket, wait_port's own included):
        # the server then exits at once, and new ports are picked.
        for attempt in range(3):
            self.ports = {k: free_port() for k in ("nginx", "nginx-tls", "nginx-mtls", "lighttpd", "lighttpd-tls",
                                                   "lighttpd-mtls")}
            self.procs = []
            try:
                self.start(base)
                return
            except ServerExited:
                self.stop()
                if attempt == 2:
                    raise
            except Exception:
                self.stop()
                raise

    def start(self, base):
        hashed = subprocess.run(["openssl", "passwd", "-apr1", PASSWORD], capture_output=True, text=True,
                                check=True).stdout.strip()
        (base / "htpasswd").write_text(f"{USER}:{hashed}\n")
        self.start_nginx()
        self.start_lighttpd()

    def start_nginx(self):
        d = self.base / "nginx"
        d.mkdir(exist_ok=True)
        c, p = self.certs, self.ports
        tls = f"ssl_certificate {c}/server.pem; ssl_certificate_key {c}/server.key;"
        common = f"root {self.root}; location /auth/ {{ auth_basic \"rota\"; auth_basic_user_file {self.base}/htpasswd; }}"
        (d / "nginx.conf").write_text(f"""
user root;
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    log_format proto '$server_protocol $status $http_range';
    server {{ listen 127.0.0.1:{p['nginx']}; {common} }}
    server {{ listen 127.0.0.1:{p['nginx-tls']} ssl http2; {tls} access_log {d}/tls.log proto; {common} }}
    server {{ listen 127.0.0.1:{p['nginx-mtls']} ssl; {tls}
             ssl_client_certificate {c}/ca.pem; ssl_verify_client on; {common} }}
}}
""")
        with open(d / "stderr.log", "w") as log:
            self.procs.append(subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)], stderr=log))
        self.wait_ports(("nginx", "nginx-tls", "nginx-mtls"), d)

    def start_lighttpd(self):
        d = self.base / "lighttpd"
        d.mkdir(exist_ok=True)
        c, p = self.certs, self.ports
        (d / "lighttpd.conf").write_text(f"""
server.modules = ("mod_openssl", "mod_auth", "mod_authn_file")
server.document-root = "{self.root}"
server.bind = "127.0.0.1"
server.port = {p['lighttpd']}
server.errorlog = "{d}/error.log"
mimetype.assign = ("" => "application/octet-stream")
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{self.base}/htpasswd"
auth.require = ("/auth/" => ("method" => "basic", "realm" => "rota", "require" => "valid-user"))
$SERVER["socket"] == "127.0.0.1:{p['lighttpd-tls']}" {{
    ssl.engine = "enable"
    ssl.pemfile = "{c}/server.pem"
    ssl.privkey = "{c}/server.key"
}}
$SERVER["socket"] == "127.0.0.1:{p['lighttpd-mtls']}" {{
    ssl.engine = "enable"
    ssl.pemfile = "{c}/server.pem"
    ssl.privkey = "{c}/server.key"
    ssl.ca-file = "{c}/ca.pem"
    ssl.verifyclient.activate = "enable"
    ssl.verifyclient.enforce = "enable"
}}
""")
        with open(d / "stderr.log", "w") as log:
            self.procs.append(subprocess.Popen(["lighttpd", "-D", "-f", str(d / "lighttpd.conf")],
                                               stdout=subprocess.DEVNULL, stderr=log))
        self.wait_ports(("lighttpd", "lighttpd-tls", "lighttpd-mtls"), d)

    def wait_ports(self, names, d):
        """Waits for the last server's ports; if it exits, says why (its
        stderr and error log)."""
        try:
            for k in names:
                wait_port(self.ports[k], self.procs[-1])
        except ServerExited as e:
            logs = [f.read_text(errors="replace") for f in (d / "stderr.log", d / "error.log") if f.exists()]
            raise ServerExited(f"{e}: {' | '.join(l.strip() for l in logs)}") from None

    def url(self, server, path):
        scheme = "https" if "tls" in server else "http"
        return f"{scheme}://127.0.0.1:{self.ports[server]}{path}"

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory, pki):
    """Bundles under a web root (also below /auth/) and the running servers."""
    base = tmp_path_factory.mktemp("streaming")
    root = base / "www"
    (root / "auth").mkdir(parents=True)
    make = BundleMaker(base / "bundles", pki)
    rng = random.Random(7)
    images = {}
    for name, fmt in (("good", "verity"), ("other", "verity"), ("plain", "plain")):
        data = rng.randbytes(IMG_SIZE)
        images[name] = data
        b = make({"rootfs": ("rootfs.img", data)}, version="2.0", fmt=fmt, name=f"{name}.raucb")
        shutil.copy(b, root / b.name)
        shutil.copy(b, root / "auth" / b.name)
    # Another bundle of the same size, visibly another file to the server.
    past = time.time() - 3600
    os.utime(root / "other.raucb", (past, past))
    certs = make_certs(base / "certs")
    servers = Servers(base, root, certs)
    servers.images = images
    servers.www = root
    yield servers
    servers.stop()


@pytest.fixture
def system(tmp_path, pki):
    s = System(tmp_path / "sys", pki)
    s.write_conf()
    return s


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def assert_installed(system, site, result):
    """B holds the image, B is primary, statistics were printed."""
    data = site.images["good"]
    assert system.device("rootfs.1").read_bytes()[:len(data)] == data
    assert system.primary() == "B"
    assert "Streaming: downloaded" in result.stdout


def assert_untouched(system):
    assert system.primary() == "A"
    assert system.device("rootfs.0").read_bytes() == b"\0" * len(system.device("rootfs.0").read_bytes())


def tls_args(site, client=False):
    c = site.certs
    args = [f"--tls-ca={c / 'ca.pem'}"]
    if client:
        args += [f"--tls-cert={c / 'client.pem'}", f"--tls-key={c / 'client.key'}"]
    return args


# ---- servers and TLS modes ----

@pytest.mark.parametrize("server", ["nginx", "lighttpd"])
def test_install_plain_http(system, site, server):
    r = system.install(site.url(server, "/good.raucb"))
    assert_installed(system, site, r)


@pytest.mark.parametrize("server", ["nginx-tls", "lighttpd-tls"])
def test_install_https_test_ca(system, site, server):
    r = system.install(site.url(server, "/good.raucb"), *tls_args(site))
    assert_installed(system, site, r)


@pytest.mark.parametrize("server", ["nginx-mtls", "lighttpd-mtls"])
def test_install_https_client_certificate(system, site, server):
    r = system.install(site.url(server, "/good.raucb"), *tls_args(site, client=True))
    assert_installed(system, site, r)


@pytest.mark.parametrize("server", ["nginx-mtls", "lighttpd-mtls"])
def test_client_certificate_missing_fails_cleanly(system, site, server):
    system.fails("install", *tls_args(site), site.url(server, "/good.raucb"), match="127.0.0.1")
    assert_untouched(system)


def test_client_certificate_from_system_conf(system, site):
    c = site.certs
    system.write_conf(sections=f"[streaming]\ntls-cert={c / 'client.pem'}\ntls-key={c / 'client.key'}\n"
                               f"tls-ca={c / 'ca.pem'}\n")
    r = system.install(site.url("nginx-mtls", "/good.raucb"))
    assert_installed(system, site, r)


def test_unknown_ca_refused_and_no_verify_accepted(system, site):
    url = site.url("nginx-tls", "/good.raucb")
    system.fails("install", url, match="127.0.0.1")
    assert_untouched(system)
    r = system.install(url, "--tls-no-verify")
    assert_installed(system, site, r)


def test_https_uses_http2_with_nginx(system, site):
    log = site.base / "nginx" / "tls.log"
    before = log.read_text() if log.exists() else ""
    system.rota("info", "--keyring", system.pki / "keyring.pem", *tls_args(site),
                site.url("nginx-tls", "/good.raucb"))
    new = log.read_text()[len(before):]
    assert new.strip() and all(l.startswith("HTTP/2.0 206") for l in new.strip().splitlines()), new


@pytest.mark.parametrize("server", ["nginx", "lighttpd"])
def test_basic_auth_in_url_and_header(system, site, server):
    url = site.url(server, "/auth/good.raucb")
    system.fails("install", url, match="unauthorized (HTTP status 401)")
    assert_untouched(system)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    r = system.install(url, f"--http-header=Authorization: Basic {token}")
    assert_installed(system, site, r)
    system.reset_grub()
    r = system.install(url.replace("://", f"://{USER}:{PASSWORD}@"))
    assert_installed(system, site, r)
    assert PASSWORD not in r.stdout + r.stderr


# ---- encrypted crypt bundles ----

@pytest.fixture(scope="module")
def crypt_site(site, pki, tmp_path_factory):
    """An encrypted crypt bundle (recipient: the test signer) on the web root."""
    base = tmp_path_factory.mktemp("crypt")
    data = random.Random(11).randbytes(IMG_SIZE + 12345)
    b = BundleMaker(base, pki)({"rootfs": ("rootfs.img", data)}, version="2.0", fmt="crypt", name="crypt-in.raucb")
    enc = site.www / "crypt.raucb"
    subprocess.run([str(ROTA), "encrypt", f"--keyring={pki / 'keyring.pem'}", f"--to={pki / 'signer.cert.pem'}",
                    str(b), str(enc)], check=True, capture_output=True)
    return enc, data


def test_install_encrypted_crypt_bundle_streamed(system, site, crypt_site, pki):
    enc, data = crypt_site
    system.write_conf(sections=f"[encryption]\nkey={pki / 'signer.key.pem'}\ncert={pki / 'signer.cert.pem'}\n")
    proxy = FaultProxy(site.ports["nginx"])
    try:
        r = system.install(proxy.url("/crypt.raucb"))
        assert system.device("rootfs.1").read_bytes()[:len(data)] == data
        assert system.primary() == "B"
        assert "Streaming: downloaded" in r.stdout
        size = enc.stat().st_size
        assert proxy.requests <= size / (1 << 20) + 20
        assert proxy.seen_headers and all(h.get("range") for h in proxy.seen_headers)
    finally:
        proxy.close()


def test_encrypted_crypt_bundle_without_key_fails_cleanly(system, site, crypt_site):
    system.fails("install", site.url("nginx", "/crypt.raucb"),
                 match="Encrypted bundle detected, but no decryption key given")
    assert_untouched(system)


def test_info_encrypted_crypt_bundle_by_url(system, site, crypt_site, pki):
    r = system.rota("info", "--keyring", pki / "keyring.pem", f"--key={pki / 'signer.key.pem'}",
                    f"--cert={pki / 'signer.cert.pem'}", site.url("nginx-tls", "/crypt.raucb"), *tls_args(site))
    assert "Bundle Format:  crypt [encrypted CMS]" in r.stdout
    assert COMPATIBLE in r.stdout
    r = system.rota("info", "--keyring", pki / "keyring.pem", f"--key={pki / 'signer.key.pem'}",
                    site.url("lighttpd", "/crypt.raucb"))
    assert "Bundle Format:  crypt [encrypted CMS]" in r.stdout


# ---- info, refusals ----

def test_info_downloads_only_the_tail(system, site):
    proxy = FaultProxy(site.ports["nginx"])
    try:
        r = system.rota("info", "--keyring", system.pki / "keyring.pem", proxy.url("/good.raucb"))
        assert "Compatible:" in r.stdout and COMPATIBLE in r.stdout
        assert proxy.requests == 1
    finally:
        proxy.close()


# ---- automatic headers ([streaming] send-headers, RAUC_HTTP_*) ----

SEND_HEADERS = "boot-id;transaction-id;machine-id;system-version;serial;variant;uptime"


def test_send_headers_only_on_first_request(system, site, tmp_path):
    info = tmp_path / "system-info"
    info.write_text("#!/bin/sh\necho RAUC_SYSTEM_SERIAL=SN-0042\necho RAUC_SYSTEM_VERSION=1.2.3\n"
                    "echo RAUC_HTTP_CUSTOMER_ID=acme-7\necho RAUC_HTTP_Fleet=north\necho RAUC_OTHER=x\n")
    info.chmod(0o755)
    system.write_conf(system_extra="variant-name=board-x",
                      sections=f"[streaming]\nsend-headers={SEND_HEADERS}\n\n[handlers]\nsystem-info={info}\n")
    proxy = FaultProxy(site.ports["nginx"])
    txn = "0f6e9c1e-6b5f-4a52-9d34-2b8d3a0c7e11"
    try:
        r = system.install(proxy.url("/good.raucb"), f"--transaction-id={txn}")
        assert_installed(system, site, r)
        first, later = proxy.seen_headers[0], proxy.seen_headers[1:]
        assert later, "expected more than one request"
        boot_id = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert first["rauc-boot-id"] == boot_id
        assert first["rauc-transaction-id"] == txn
        if pathlib.Path("/etc/machine-id").exists() and pathlib.Path("/etc/machine-id").read_text().strip():
            assert first["rauc-machine-id"] == pathlib.Path("/etc/machine-id").read_text().strip()
        assert first["rauc-system-version"] == "1.2.3"
        assert first["rauc-serial"] == "SN-0042"
        assert first["rauc-variant"] == "board-x"
        uptime = float(first["rauc-uptime"])
        assert 0 < uptime <= float(pathlib.Path("/proc/uptime").read_text().split()[0]) + 1
        assert first["rauc-customer-id"] == "acme-7"
        assert first["rauc-fleet"] == "north"
        assert "rauc-other" not in first
        for h in later:
            assert not [k for k in h if k.startswith("rauc-")], h
    finally:
        proxy.close()


def test_info_sends_known_headers_only(system, site):
    """`info` has no transaction: RAUC-Transaction-ID is left out, not sent empty."""
    system.write_conf(sections=f"[streaming]\nsend-headers={SEND_HEADERS}\n")
    proxy = FaultProxy(site.ports["nginx"])
    try:
        system.rota("info", "--keyring", system.pki / "keyring.pem", proxy.url("/good.raucb"))
        first = proxy.seen_headers[0]
        assert "rauc-boot-id" in first and "rauc-uptime" in first
        assert "rauc-transaction-id" not in first
        assert "rauc-serial" not in first and "rauc-system-version" not in first
    finally:
        proxy.close()


def test_no_send_headers_by_default(system, site):
    proxy = FaultProxy(site.ports["nginx"])
    try:
        system.rota("info", "--keyring", system.pki / "keyring.pem", proxy.url("/good.raucb"))
        assert not [k for h in proxy.seen_headers for k in h if k.startswith("rauc-")]
    finally:
        proxy.close()


def test_plain_bundle_refused(system, site):
    system.fails("install", site.url("nginx", "/plain.raucb"),
                 match="Bundle format 'plain' not supported in streaming mode: its signature covers the whole payload")
    assert_untouched(system)


def test_extract_of_url_refused(system, site, tmp_path):
    system.fails("extract", "--keyring", system.pki / "keyring.pem", site.url("nginx", "/good.raucb"),
                 tmp_path / "out", match="Refused to verify remote bundle. Provide a local bundle instead.")


def test_missing_bundle_is_one_clear_line(system, site):
    line = system.fails("install", site.url("nginx", "/nope.raucb"), match="not found (HTTP status 404)")
    assert "/nope.raucb" in line.stderr
    assert_untouched(system)


# ---- faults ----

@pytest.mark.parametrize("mode", ["reset", "truncate", "503", "stall"])
def test_recoverable_faults_end_in_correct_install(system, site, mode):
    proxy = FaultProxy(site.ports["nginx"], mode=mode, at=3, stall_seconds=6)
    try:
        r = system.install(proxy.url("/good.raucb"), env=QUICK)
        assert_installed(system, site, r)
        assert "(0 retries)" not in r.stdout
    finally:
        proxy.close()


@pytest.mark.parametrize("mode,at,match", [
    ("full200", 2, "range requests not supported by server (HTTP status 200)"),
    ("wrong-range", 2, "server answered Content-Range"),
    ("redirect-loop", 1, "too many redirects"),
    ("swap", 3, "changed on the server"),
    ("503-always", 3, "(HTTP status 503) (retries exhausted)"),
])
def test_fatal_faults_fail_cleanly(system, site, mode, at, match):
    proxy = FaultProxy(site.ports["nginx"], mode=mode, at=at, swap_path="/other.raucb")
    try:
        r = system.fails("install", proxy.url("/good.raucb"), match=match, env=QUICK)
        assert f"127.0.0.1:{proxy.port}" in r.error_line()
        assert_untouched(system)
        if (system.data / "central.raucs").exists():
            assert system.slot_status("rootfs.1").get("status") != "ok"
    finally:
        proxy.close()


def test_all_bytes_then_broken_reply_is_used(system, site):
    """A reply whose bytes all arrived but whose chunked framing never ends
    (the connection just closes) is not retried: a retry would ask for an
    empty range, which servers refuse."""
    proxy = FaultProxy(site.ports["nginx"], mode="unterminated", at=3)
    try:
        r = system.install(proxy.url("/good.raucb"), env=QUICK)
        assert_installed(system, site, r)
        assert "(0 retries)" in r.stdout
    finally:
        proxy.close()


def test_absurd_bundle_size_refused(system, site):
    """The bundle size comes from the server's Content-Range: one of 2^62
    bytes is refused with one line before anything is sized by it."""
    proxy = FaultProxy(site.ports["nginx"], mode="huge-total", at=1)
    try:
        r = system.fails("install", proxy.url("/good.raucb"), env=QUICK,
                         match=f"server reports a bundle of {2**62} bytes, more than the {2**48} bytes rota accepts")
        assert f"127.0.0.1:{proxy.port}" in r.error_line()
        assert_untouched(system)
    finally:
        proxy.close()


def test_swap_with_other_size_detected(system, site):
    bigger = site.www / "bigger.raucb"
    bigger.write_bytes((site.www / "good.raucb").read_bytes() + b"\0" * 4096)
    proxy = FaultProxy(site.ports["nginx"], mode="swap", at=3, swap_path="/bigger.raucb")
    try:
        system.fails("install", proxy.url("/good.raucb"), match="bundle size changed on the server", env=QUICK)
        assert_untouched(system)
    finally:
        proxy.close()


def test_swap_with_same_size_detected_by_validators(system, site):
    copy = site.www / "good-copy.raucb"
    shutil.copy(site.www / "good.raucb", copy)
    past = time.time() - 7200
    os.utime(copy, (past, past))
    proxy = FaultProxy(site.ports["nginx"], mode="swap", at=3, swap_path="/good-copy.raucb")
    try:
        system.fails("install", proxy.url("/good.raucb"), match="bundle changed on the server during the session (ETag",
                     env=QUICK)
        assert_untouched(system)
    finally:
        proxy.close()


def test_request_count_within_budget(system, site):
    proxy = FaultProxy(site.ports["nginx"])
    try:
        r = system.install(proxy.url("/good.raucb"))
        assert_installed(system, site, r)
        size = (site.www / "good.raucb").stat().st_size
        assert proxy.requests <= size / (1 << 20) + 20
        assert f" in {proxy.requests} requests" in r.stdout
    finally:
        proxy.close()


# ---- privileges ----

def test_helper_output_cannot_pose_as_rota(system, site, tmp_path):
    """The helper gets no stdout, and its stderr reaches rota's only line by
    line, sanitized and marked as the helper's: a compromised helper cannot
    forge rota's output or send terminal escapes."""
    fake = tmp_path / "fake-helper"
    fake.write_text("#!/bin/sh\n"
                    "echo FORGED-STDOUT\n"
                    "printf '\\033[2Krota: Installation succeeded\\342\\200\\250rota: done\\n' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    r = system.rota("info", f"http://127.0.0.1:{site.ports['nginx']}/good.raucb", ok=False,
                    env={"ROTA_FETCH_HELPER": str(fake)})
    assert r.returncode == 1
    assert "FORGED-STDOUT" not in r.stdout + r.stderr
    assert "\x1b" not in r.stderr and "\u2028" not in r.stderr
    relayed = [line for line in r.stderr.splitlines() if "Installation succeeded" in line]
    assert relayed == ["rota-fetch:  [2Krota: Installation succeeded rota: done"], r.stderr


def helper_pids(parent):
    pids = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
        except OSError:
            continue
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        if fields.get("Name", "").strip() == "rota-fetch" and int(fields["PPid"]) == parent:
            pids.append((int(d.name), fields))
    return pids


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_helper_runs_unprivileged(system, site):
    proxy = FaultProxy(site.ports["nginx"], mode="hold", at=2)
    proc = subprocess.Popen([str(ROTA), f"--conf={system.conf}", "install",
                             proxy.url("/good.raucb")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **system.env()})
    try:
        assert proxy.held.wait(30), "rota never reached the data requests"
        helpers = helper_pids(proc.pid)
        assert len(helpers) == 1, helpers
        pid, fields = helpers[0]
        uids = fields["Uid"].split()
        gids = fields["Gid"].split()
        assert uids == ["65534"] * 4, fields["Uid"]
        assert gids == ["65534"] * 4, fields["Gid"]
        assert fields["NoNewPrivs"].strip() == "1"
        assert fields["CapEff"].strip() == "0000000000000000"
        assert fields["Groups"].split() in ([], ["65534"])
        proxy.release.set()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert system.primary() == "B"
    finally:
        proxy.release.set()
        if proc.poll() is None:
            proc.kill()
        proxy.close()
