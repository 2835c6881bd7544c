"""`rota hawkbit`: the hawkBit DDI client against a DDI server on
127.0.0.1 (hawkbit_server.py). Each test checks what reached the server
(feedback, attributes, the token on every request) and what reached the
device (slot bytes, the bootloader's primary)."""
import hashlib
import os
import pathlib
import random

import pytest

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


def write_conf(tmp_path, ddi, **over):
    keys = {"hawkbit_server": f"127.0.0.1:{ddi.port}", "ssl": "false", "tenant_id": ddi.tenant,
            "target_name": ddi.target, "auth_token": ddi.token,
            "bundle_download_location": str(tmp_path / "dl" / "bundle.raucb"), "retry_wait": "1",
            "connect_timeout": "5", "timeout": "20"}
    keys.update(over)
    (tmp_path / "dl").mkdir(exist_ok=True)
    lines = ["[client]"] + [f"{k} = {v}" for k, v in keys.items() if v is not None]
    lines += ["", "[device]", "hw_revision = 2", "mac_address = 00:11:22:33:44:55"]
    p = tmp_path / "hawkbit.conf"
    p.write_text("\n".join(lines) + "\n")
    return p


def hawkbit(system, conf, ok=True):
    return system.rota("hawkbit", "--run-once", conf, ok=ok)


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
    ({"tenant_id": "a/b"}, "may not contain '/'"),
])
def test_config_errors(system, ddi, tmp_path, over, match):
    r = hawkbit(system, write_conf(tmp_path, ddi, **over), ok=False)
    assert r.returncode == 1
    assert match in r.error_line(), r.error_line()
    assert ddi.requests == []
