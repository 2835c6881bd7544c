"""`rota hawkbit`: the hawkBit DDI client against a DDI server on
127.0.0.1 (hawkbit_server.py). Each test checks what reached the server
(feedback, attributes, the token on every request) and what reached the
device (slot bytes, the bootloader's primary)."""
import hashlib
import os
import pathlib
import random
import subprocess
import time

import pytest

from conftest import ROTA
from hawkbit_server import DdiServer
from system_fixture import bundle, system  # noqa: F401 (fixtures)

IMG = 256 * 1024


@pytest.fixture
def ddi():
    s = DdiServer()
    yield s
    s.stop()


@pytest.fixture
def img(tmp_path):
    return random.Random(21).randbytes(IMG)


def write_conf(tmp_path, ddi, device=("hw_revision = 2", "mac_address = 00:11:22:33:44:55"), **over):
    keys = {"hawkbit_server": f"127.0.0.1:{ddi.port}", "ssl": "false", "tenant_id": ddi.tenant,
            "target_name": ddi.target, "auth_token": ddi.token,
            "bundle_download_location": str(tmp_path / "dl" / "bundle.raucb"), "retry_wait": "1",
            "connect_timeout": "5", "timeout": "20"}
    keys.update(over)
    (tmp_path / "dl").mkdir(exist_ok=True)
    lines = ["[client]"] + [f"{k} = {v}" for k, v in keys.items() if v is not None]
    lines += ["", "[device]", *device]
    p = tmp_path / "hawkbit.conf"
    p.write_text("\n".join(lines) + "\n")
    return p


def hawkbit(system, conf, ok=True):
    return system.rota("hawkbit", "--run-once", conf, ok=ok)


class Daemon:
    """`rota hawkbit` polling in the background (no --run-once)."""

    def __init__(self, system, conf):
        self.proc = subprocess.Popen([str(ROTA), f"--conf={system.conf}", "hawkbit", str(conf)],
                                     env={**os.environ, **system.env()}, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def wait_for(self, condition, timeout=60):
        deadline = time.time() + timeout
        while not condition():
            assert self.proc.poll() is None, self.stop()
            assert time.time() < deadline, f"timed out: {self.stop()}"
            time.sleep(0.1)

    def stop(self):
        """Stops it; its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=30)[1]


def assert_token_everywhere(ddi):
    assert ddi.requests
    for method, path, headers in ddi.requests:
        assert headers.get("Authorization") == f"TargetToken {ddi.token}", (method, path)


def test_download_install_and_feedback(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)})
    data = pathlib.Path(b).read_bytes()
    ddi.want_config = True
    ddi.deploy(7, "update.raucb", data)
    conf = write_conf(tmp_path, ddi)
    r = hawkbit(system, conf)
    assert system.device("rootfs.1").read_bytes()[:IMG] == img
    assert system.primary() == "B"
    assert ddi.attributes == [{"mode": "merge", "data": {"hw_revision": "2", "mac_address": "00:11:22:33:44:55"}}]
    states = ddi.feedback_states()
    assert [s[:2] for s in states] == [("proceeding", "none"), ("proceeding", "none"), ("closed", "success")], states
    assert [f[1] for f in ddi.feedback] == ["7", "7", "7"]
    downloads = [p for m, p, h in ddi.requests if p.startswith("/download/")]
    assert downloads == ["/download/update.raucb"]  # one plain GET of the whole bundle
    assert_token_everywhere(ddi)
    assert not (tmp_path / "dl" / "bundle.raucb").exists()  # removed after the install
    assert "succeeded" in r.stdout


def test_streamed_install(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(8, "update.raucb", pathlib.Path(b).read_bytes())
    conf = write_conf(tmp_path, ddi, stream_bundle="true", bundle_download_location=None)
    hawkbit(system, conf)
    assert system.device("rootfs.1").read_bytes()[:IMG] == img
    assert system.primary() == "B"
    ranged = [h for m, p, h in ddi.requests if p.startswith("/download/")]
    assert ranged and all("Range" in h for h in ranged)  # streamed: range requests only, by the helper
    assert_token_everywhere(ddi)
    assert ddi.feedback_states()[-1][:2] == ("closed", "success")
    assert not any((tmp_path / "dl").iterdir())


def test_wrong_sha256_is_reported_and_nothing_installed(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(9, "update.raucb", pathlib.Path(b).read_bytes(), sha256="ab" * 32)
    before = system.grub()
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1
    assert "deployment 9 failed: update.raucb: sha256" in r.error_line(), r.error_line()
    execution, finished, details = ddi.feedback_states()[-1]
    assert (execution, finished) == ("closed", "failure")
    assert "does not match the server's" in details[0]
    assert system.grub() == before and system.primary() == "A"
    assert not (tmp_path / "dl" / "bundle.raucb").exists()


def test_failed_install_is_reported(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)}, compatible="other-board")
    ddi.deploy(10, "update.raucb", pathlib.Path(b).read_bytes())
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1
    execution, finished, details = ddi.feedback_states()[-1]
    assert (execution, finished) == ("closed", "failure")
    assert "Compatible mismatch" in details[0], details
    assert system.primary() == "A"


def test_cancel_is_acknowledged(system, ddi, tmp_path):
    ddi.cancel = ("11", "7")
    hawkbit(system, write_conf(tmp_path, ddi))
    assert ddi.feedback_states("cancelAction")[0][:2] == ("closed", "success")
    assert [f[1] for f in ddi.feedback] == ["11"]
    assert system.primary() == "A"


def test_nothing_to_do(system, ddi, tmp_path):
    hawkbit(system, write_conf(tmp_path, ddi))
    assert [(m, p.split("?")[0]) for m, p, _ in ddi.requests] == [("GET", f"/{ddi.tenant}/controller/v1/{ddi.target}")]
    assert ddi.feedback == [] and ddi.attributes == []


def test_wrong_token_fails_clearly(system, ddi, tmp_path):
    r = hawkbit(system, write_conf(tmp_path, ddi, auth_token="wrong"), ok=False)
    assert r.returncode == 1
    assert f"GET http://127.0.0.1:{ddi.port}/{ddi.tenant}/controller/v1/{ddi.target}: HTTP status 401" in r.error_line()


def test_server_down_fails_clearly(system, tmp_path):
    dead = DdiServer()
    port = dead.port
    dead.stop()
    conf = write_conf(tmp_path, dead)
    r = hawkbit(system, conf, ok=False)
    assert r.returncode == 1
    assert f"127.0.0.1:{port}" in r.error_line() and "Could" in r.error_line(), r.error_line()


@pytest.mark.parametrize("over, match", [
    ({"target_name": None}, "[client] target_name: missing (required)"),
    ({"gateway_token": "x"}, "[client] auth_token: set either auth_token or gateway_token, not both"),
    ({"bundle_download_location": None}, "[client] bundle_download_location: required unless stream_bundle=true"),
    ({"ssl": "maybe"}, "[client] ssl: must be true or false"),
    ({"retry_wait": "soon"}, "[client] retry_wait: must be a number"),
    ({"tenant_id": "a/b"}, "[client] tenant_id: may not contain"),
])
def test_config_errors(system, ddi, tmp_path, over, match):
    r = hawkbit(system, write_conf(tmp_path, ddi, **over), ok=False)
    assert r.returncode == 1
    assert match in r.error_line(), r.error_line()
    assert ddi.requests == []


# ---- what the deployment asks for: download and update handling ----

def test_maintenance_window_is_waited_for(system, bundle, ddi, img, tmp_path):
    """update=skip with the window unavailable: nothing downloaded, installed
    or reported; once the window opens (update=forced) the bundle goes in."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    data = pathlib.Path(b).read_bytes()
    ddi.deploy(20, "update.raucb", data, update="skip", window="unavailable")
    conf = write_conf(tmp_path, ddi)
    r = hawkbit(system, conf)
    assert "maintenance window" in r.stderr, r.stderr
    assert ddi.downloads() == [] and ddi.feedback == []
    assert system.primary() == "A"
    ddi.deploy(20, "update.raucb", data, download="attempt", update="attempt", window="available")
    hawkbit(system, conf)
    assert ddi.feedback_states()[-1][:2] == ("closed", "success")
    assert system.primary() == "B"


def test_download_skip_waits(system, ddi, tmp_path):
    ddi.deploy(21, "update.raucb", b"x" * 100, download="skip", update="skip")
    hawkbit(system, write_conf(tmp_path, ddi))
    assert ddi.downloads() == [] and ddi.feedback == []
    assert system.primary() == "A"


@pytest.mark.parametrize("stream", [False, True])
def test_download_only_is_downloaded_not_installed(system, bundle, ddi, img, tmp_path, stream):
    """A download-only assignment (update=skip, no maintenance window): the
    bundle is downloaded and checked, reported as downloaded, not installed."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(22, "update.raucb", pathlib.Path(b).read_bytes(), update="skip")
    over = {"stream_bundle": "true", "bundle_download_location": None} if stream else {}
    hawkbit(system, write_conf(tmp_path, ddi, **over))
    assert ddi.downloads() == ["/download/update.raucb"]
    assert ddi.feedback_states()[-1][:2] == ("downloaded", "success"), ddi.feedback_states()
    assert system.primary() == "A"
    assert not any((tmp_path / "dl").iterdir())


@pytest.mark.parametrize("artifacts", [[["a.raucb", "b.raucb"]], [["a.raucb"], ["b.raucb"]], [[]]])
def test_not_exactly_one_artifact_is_refused(system, ddi, tmp_path, artifacts):
    """rota installs one bundle per deployment: more (or none) is reported as
    a failure rather than installing just the first."""
    ddi.deploy(23, "a.raucb", b"x" * 100, artifacts=artifacts)
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1
    assert "exactly one" in r.error_line(), r.error_line()
    assert ddi.feedback_states()[-1][:2] == ("closed", "failure")
    assert ddi.downloads() == [] and system.primary() == "A"


@pytest.mark.parametrize("size_delta", [-1, 1])
def test_wrong_size_is_reported(system, ddi, tmp_path, size_delta):
    data = b"x" * 1000
    ddi.deploy(24, "update.raucb", data, size=len(data) + size_delta)
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1
    want = "more bytes than the server announced" if size_delta < 0 else f"got 1000 bytes, the server announced 1001"
    assert want in r.error_line(), r.error_line()
    assert ddi.feedback_states()[-1][:2] == ("closed", "failure")
    assert not (tmp_path / "dl" / "bundle.raucb").exists()


def test_failed_download_names_the_link_and_status(system, ddi, tmp_path):
    ddi.deploy(33, "update.raucb", b"x" * 100, artifacts=[["gone.raucb"]])
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert f"download of {ddi.base}/download/gone.raucb failed: HTTP status 404" in r.error_line(), r.error_line()
    assert ddi.feedback_states()[-1][:2] == ("closed", "failure")


# ---- a re-offered action; the poll interval ----

@pytest.mark.parametrize("good", [True, False])
def test_reoffered_action_is_reported_again_not_reinstalled(system, bundle, ddi, img, tmp_path, good):
    """The closing feedback is refused once: the server offers the action
    again, and rota repeats the feedback instead of installing again."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    data = pathlib.Path(b).read_bytes()
    ddi.deploy(25, "update.raucb", data, sha256=None if good else "ab" * 32)
    ddi.sleep = "00:00:01"
    ddi.fail_feedback = {"closed": 1}
    d = Daemon(system, write_conf(tmp_path, ddi))
    try:
        d.wait_for(lambda: any(s[0] == "closed" for s in ddi.feedback_states()))
    finally:
        err = d.stop()
    assert ddi.downloads() == ["/download/update.raucb"], err
    assert [s[:2] for s in ddi.feedback_states() if s[0] == "closed"] == [("closed", "success" if good else "failure")]
    assert system.primary() == ("B" if good else "A")


def test_cancel_of_a_done_action_is_rejected(system, bundle, ddi, img, tmp_path):
    """Installed, the result refused, then the operator cancels: the
    cancellation is rejected (it is installed), the result sent again."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(34, "update.raucb", pathlib.Path(b).read_bytes())
    ddi.sleep = "00:00:01"
    ddi.fail_feedback = {"closed": 1}
    ddi.on_refused = lambda: setattr(ddi, "cancel", ("34", "34"))
    d = Daemon(system, write_conf(tmp_path, ddi))
    try:
        d.wait_for(lambda: ddi.deployment is None)
    finally:
        err = d.stop()
    assert ddi.feedback_states("cancelAction") == [("rejected", "none", ["the action is done already"])], err
    assert [s[:2] for s in ddi.feedback_states() if s[0] == "closed"] == [("closed", "success")]
    assert ddi.downloads() == ["/download/update.raucb"]
    assert system.primary() == "B"


def test_zero_poll_interval_does_not_spin(system, ddi, tmp_path):
    ddi.sleep = "00:00:00"
    d = Daemon(system, write_conf(tmp_path, ddi, retry_wait="0"))
    time.sleep(2.5)
    d.stop()
    assert 1 <= len(ddi.polls()) <= 4, len(ddi.polls())


# ---- where the token goes ----

@pytest.mark.parametrize("stream", [False, True])
def test_token_not_sent_to_another_host(system, bundle, ddi, img, tmp_path, stream):
    """A download link to an artifact store elsewhere gets no target token."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    data = pathlib.Path(b).read_bytes()
    store = DdiServer()
    try:
        store.downloads_need_token = False
        store.host("update.raucb", data)
        ddi.deploy(26, "update.raucb", data, download_base=store.base)
        over = {"stream_bundle": "true", "bundle_download_location": None} if stream else {}
        hawkbit(system, write_conf(tmp_path, ddi, **over))
    finally:
        store.stop()
    assert store.downloads() and ddi.downloads() == []
    assert all("Authorization" not in h for m, p, h in store.requests), store.requests
    assert_token_everywhere(ddi)
    assert system.primary() == "B"


def test_send_download_authentication_false(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.downloads_need_token = False
    ddi.deploy(27, "update.raucb", pathlib.Path(b).read_bytes())
    hawkbit(system, write_conf(tmp_path, ddi, send_download_authentication="false"))
    downloads = [h for m, p, h in ddi.requests if p.startswith("/download/")]
    assert downloads and all("Authorization" not in h for h in downloads)
    assert system.primary() == "B"


def test_links_to_another_server_are_refused(system, ddi, tmp_path):
    other = DdiServer()
    try:
        ddi.link_base = other.base
        ddi.deploy(28, "update.raucb", b"x" * 100)
        r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    finally:
        other.stop()
    assert r.returncode == 1
    assert f"deploymentBase link {other.base}/" in r.error_line() and "another server" in r.error_line(), r.error_line()
    assert other.requests == []


# ---- untrusted replies ----

def test_deeply_nested_reply_fails_cleanly(system, ddi, tmp_path):
    """json-glib parses recursively: a reply nested deep enough would overflow
    the stack (rota may run as root)."""
    ddi.poll_body = b"[" * 200000 + b"]" * 200000
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1, r.stderr[-500:]
    assert "nested deeper than" in r.error_line(), r.error_line()


# ---- attributes ----

def test_no_attributes_configured(system, bundle, ddi, img, tmp_path):
    """hawkBit refuses an empty configData: with no [device] keys nothing is
    sent, and the deployment still goes in."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.want_config = True
    ddi.deploy(29, "update.raucb", pathlib.Path(b).read_bytes())
    hawkbit(system, write_conf(tmp_path, ddi, device=()))
    assert not any(m == "PUT" for m, p, h in ddi.requests)
    assert system.primary() == "B"


def test_refused_attributes_do_not_block_deployments(system, bundle, ddi, img, tmp_path):
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.want_config = True
    ddi.fail_config = 1
    ddi.deploy(30, "update.raucb", pathlib.Path(b).read_bytes())
    r = hawkbit(system, write_conf(tmp_path, ddi), ok=False)
    assert r.returncode == 1
    assert "configData: HTTP status 500" in r.error_line(), r.error_line()
    assert ddi.feedback_states()[-1][:2] == ("closed", "success")
    assert system.primary() == "B"


# ---- the download location ----

def test_download_removed_when_the_server_goes_away(system, bundle, ddi, img, tmp_path):
    """The server refuses the progress report after the download: nothing is
    installed, nothing left behind; the next poll does it all again."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(31, "update.raucb", pathlib.Path(b).read_bytes())
    ddi.fail_feedback = {"Installing": 1}
    conf = write_conf(tmp_path, ddi)
    r = hawkbit(system, conf, ok=False)
    assert "HTTP status 500" in r.error_line(), r.error_line()
    assert not any((tmp_path / "dl").iterdir())
    assert system.primary() == "A"
    hawkbit(system, conf)
    assert system.primary() == "B"


def test_leftover_download_is_removed(system, ddi, tmp_path):
    conf = write_conf(tmp_path, ddi)
    (tmp_path / "dl" / "bundle.raucb").write_bytes(b"partial")
    hawkbit(system, conf)
    assert not (tmp_path / "dl" / "bundle.raucb").exists()


@pytest.mark.parametrize("mode, ok", [(0o777, False), (0o1777, True), (0o755, True)])
def test_download_directory_must_be_ours(system, bundle, ddi, img, tmp_path, mode, ok):
    """Another user able to swap the file between its check and its
    installation: refused, unless the directory is sticky (as /tmp)."""
    b = bundle({"rootfs": ("rootfs.img", img)})
    ddi.deploy(32, "update.raucb", pathlib.Path(b).read_bytes())
    conf = write_conf(tmp_path, ddi)
    (tmp_path / "dl").chmod(mode)
    r = hawkbit(system, conf, ok=ok)
    if not ok:
        assert f"{tmp_path / 'dl'}: writable by other users" in r.error_line(), r.error_line()
        assert ddi.feedback_states()[-1][:2] == ("closed", "failure")
    assert system.primary() == ("B" if ok else "A")


def test_daemon_installs_one_deployment_after_another(system, bundle, ddi, tmp_path):
    """In-process installations take system.conf along: the second one of a
    long-running client needs it as much as the first."""
    imgs = [random.Random(s).randbytes(IMG) for s in (31, 32)]
    bundles = [pathlib.Path(bundle({"rootfs": ("rootfs.img", i)})).read_bytes() for i in imgs]
    ddi.sleep = "00:00:01"
    ddi.deploy(40, "first.raucb", bundles[0])
    d = Daemon(system, write_conf(tmp_path, ddi))
    try:
        d.wait_for(lambda: ddi.deployment is None)
        ddi.deploy(41, "second.raucb", bundles[1])
        d.wait_for(lambda: ddi.deployment is None)
    finally:
        err = d.stop()
    assert [(f[1], f[2]["status"]["result"]["finished"]) for f in ddi.feedback if f[2]["status"]["execution"] == "closed"] \
        == [("40", "success"), ("41", "success")], err
    assert system.device("rootfs.1").read_bytes()[:IMG] == imgs[1]


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 (not in any trust store)."""
    cert, key = tmp_path / "ddi.crt", tmp_path / "ddi.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_https_server_and_download_link(system, bundle, img, tmp_path, tls_files):
    """ssl=true talks HTTPS and takes the artifact's https `download` link
    (the plain `download-http` one would fail against this server)."""
    ddi = DdiServer(tls=tls_files)
    try:
        ddi.deploy(12, "update.raucb", pathlib.Path(bundle({"rootfs": ("rootfs.img", img)})).read_bytes())
        hawkbit(system, write_conf(tmp_path, ddi, ssl="true", ssl_verify="false"))
        assert system.primary() == "B"
        assert ddi.feedback_states()[-1][:2] == ("closed", "success")
        assert [p for m, p, h in ddi.requests if p.startswith("/download/")] == ["/download/update.raucb"]
    finally:
        ddi.stop()


def test_https_server_certificate_is_verified_by_default(system, tmp_path, tls_files):
    ddi = DdiServer(tls=tls_files)
    try:
        r = hawkbit(system, write_conf(tmp_path, ddi, ssl="true", ssl_verify=None), ok=False)
        assert r.returncode == 1
        assert "certificate" in r.error_line().lower(), r.error_line()
        assert ddi.requests == []  # no request got through the handshake
    finally:
        ddi.stop()
