"""The event log (install-and-runtime.md §11, system-conf.md [log.*]):
records of installs, slot updates, marks and service starts in the
configured files, each file getting only its event types in its format,
rotated by size. Each test reads the files."""
import json
import pathlib
import random
import re

import pytest

from system_fixture import bundle, system  # noqa: F401 (fixtures)

IMG = 64 * 1024
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def img():
    return random.Random(5).randbytes(IMG)


def with_logs(system, text):
    system.write_conf(sections=text)


def json_records(path):
    return [json.loads(l) for l in pathlib.Path(path).read_text().splitlines()]


def test_install_and_mark_records(system, bundle, img, tmp_path):
    all_log, inst_log = tmp_path / "all.log", tmp_path / "install.json"
    with_logs(system, f"[log.all]\nfilename={all_log}\n\n[log.inst]\nfilename={inst_log}\nevents=install\nformat=json\n")
    b = bundle({"rootfs": ("rootfs.img", img)}, version="4.2")
    system.install(b)
    text = all_log.read_text()
    lines = text.splitlines()
    started = [l for l in lines if re.fullmatch(TS + r": Installation [0-9a-f-]{8} started", l)]
    assert len(started) == 1, text
    txn8 = started[0].split()[2]
    order = [l.split(": ", 1)[1] for l in lines if re.match(TS + ": ", l)]
    assert order == [f"Installation {txn8} started", "Updating slot rootfs.1", "Marked slot rootfs.1 as active",
                     f"Installation {txn8} succeeded"], text
    assert re.search(r"\n {22}slot: rootfs\.1\n {22}bootname: B\n", text), text
    recs = json_records(inst_log)
    assert [r["MESSAGE"] for r in recs] == [f"Installation {txn8} started", f"Installation {txn8} succeeded"]
    done = recs[1]
    assert done["RAUC_EVENT_TYPE"] == "install" and done["MESSAGE_ID"] == "0163db5468ac4237b090d28490c301ed"
    assert done["TRANSACTION_ID"].startswith(txn8) and done["BUNDLE_VERSION"] == "4.2"
    info = json.loads(system.rota("info", "--output-format=json", b).stdout)
    assert done["BUNDLE_HASH"] == info["hash"]
    assert re.fullmatch(TS, done["TS"])
    assert f"                      transaction ID: {done['TRANSACTION_ID']}" in text
    # a mark from the command line
    system.rota("status", "mark-good")
    tail = all_log.read_text()[len(text):]
    assert re.fullmatch(TS + r": Marked slot rootfs\.0 as good\n {22}slot: rootfs\.0\n {22}bootname: A\n", tail), tail
    assert len(json_records(inst_log)) == 2  # marks are not install events


def test_rejected_install_record(system, bundle, img, tmp_path):
    log = tmp_path / "short.log"
    with_logs(system, f"[log.s]\nfilename={log}\nformat=short\nevents=install\n")
    system.fails("install", bundle({"rootfs": ("rootfs.img", img)}, compatible="other"), match="Compatible mismatch")
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(TS + r": Installation \S{8} rejected: Compatible mismatch: .*", lines[1]), lines


def test_relative_filename_is_below_data_directory(system, bundle, img):
    with_logs(system, "[log.rel]\nfilename=events.log\nevents=writeslot\nformat=short\n")
    system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert re.fullmatch(TS + r": Updating slot rootfs\.1\n", (system.data / "events.log").read_text())


def test_rotation(system, bundle, img, tmp_path):
    log = tmp_path / "r.log"
    with_logs(system, f"[log.r]\nfilename={log}\nformat=short\nmax-size=200\nmax-files=3\n")
    b = bundle({"rootfs": ("rootfs.img", img)})
    for _ in range(4):
        system.reset_grub()
        system.install(b)
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("r.log"))
    assert files == ["r.log", "r.log.1", "r.log.2"], files
    for p in files:
        size = (tmp_path / p).stat().st_size
        assert 0 < size <= 200, (p, size)
    # newest records last in r.log, older ones rotated, nothing lost between them but what fell off
    assert "succeeded" in log.read_text().splitlines()[-1]


def test_unwritable_log_does_not_fail_the_install(system, bundle, img, tmp_path):
    good = tmp_path / "good.log"
    with_logs(system, f"[log.bad]\nfilename={tmp_path}/missing/dir/x.log\n\n[log.good]\nfilename={good}\nformat=short\n")
    r = system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert system.primary() == "B"
    assert r.stderr.count("event log [log.bad]") == 1, r.stderr  # once, then disabled
    assert "succeeded" in good.read_text()


@pytest.mark.parametrize("section, match", [
    ("[log.a]\nformat=short", "[log.a] filename: missing (required)"),
    ("[log.a]\nfilename=/tmp/x\nevents=all;install", "[log.a] events: 'all' cannot be combined"),
    ("[log.a]\nfilename=/tmp/x\nevents=install;reboot", "[log.a] events: Unsupported event log type 'reboot'"),
    ("[log.a]\nfilename=/tmp/x\nformat=xml", "[log.a] format: Unsupported event log format 'xml'"),
    ("[log.a]\nfilename=/tmp/x\nmax-files=0", "[log.a] max-files"),
    ("[log.a]\nfilename=/tmp/x\nmax-files=1001", "[log.a] max-files: must be between 1 and 1000"),
])
def test_config_errors(system, section, match):
    system.write_conf(sections=section)
    r = system.rota("status", ok=False)
    assert r.returncode == 1
    assert match in r.error_line(), r.error_line()
