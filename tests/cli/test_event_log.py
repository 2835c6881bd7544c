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


def test_message_ids_and_fields(system, bundle, img, tmp_path):
    """Each record kind has its MESSAGE_ID and exactly its fields (§11)."""
    log = tmp_path / "all.json"
    with_logs(system, f"[log.j]\nfilename={log}\nformat=json\n")
    system.fails("install", bundle({"rootfs": ("rootfs.img", img)}, compatible="other"), match="Compatible mismatch")
    system.rota("status", "mark-good")
    system.rota("status", "mark-bad", "other")
    extra = {"TS", "MESSAGE", "MESSAGE_ID", "PRIORITY", "GLIB_DOMAIN", "RAUC_EVENT_TYPE"}
    got = [(r["MESSAGE"].split(":")[0], r.get("MESSAGE_ID"), sorted(set(r) - extra)) for r in json_records(log)]
    txn8 = got[0][0].split()[1]
    assert got == [
        (f"Installation {txn8} started", "b05410e8a93345389cd061aab1e9516d", ["TRANSACTION_ID"]),
        (f"Installation {txn8} rejected", "60bea7e4fea549ccad68af457308b13a",
         ["BUNDLE_DESCRIPTION", "BUNDLE_HASH", "BUNDLE_VERSION", "TRANSACTION_ID"]),
        ("Marked slot rootfs.0 as good", "3304e15a7a9a447885eb208ba7ae3a05", ["SLOT_BOOTNAME", "SLOT_NAME"]),
        ("Marked slot rootfs.1 as bad", "ccb0e584a47043d7a5316994bce77ae5", ["SLOT_BOOTNAME", "SLOT_NAME"]),
    ], got
    assert {r["GLIB_DOMAIN"] for r in json_records(log)} == {"rauc-event"}


def test_full_custom_handler_install_records(system, bundle, img, tmp_path):
    """A bundle's own [handler] does the writing: started and succeeded are
    logged, with the bundle's fields, and no slot update or mark by rota."""
    log = tmp_path / "h.json"
    with_logs(system, f"[log.h]\nfilename={log}\nformat=json\n")
    b = bundle({"rootfs": ("rootfs.img", img)}, version="7.1",
               files={"handler.sh": ("#!/bin/sh\nexit 0\n", 0o755)}, extra="[handler]\nfilename=handler.sh\n")
    system.install(b)
    recs = json_records(log)
    assert [r["RAUC_EVENT_TYPE"] for r in recs] == ["install", "install"], recs
    assert recs[1]["MESSAGE"].endswith(" succeeded") and recs[1]["BUNDLE_VERSION"] == "7.1"


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


def test_rotation_with_one_file_starts_it_anew(system, bundle, img, tmp_path):
    log = tmp_path / "r.log"
    with_logs(system, f"[log.r]\nfilename={log}\nformat=short\nmax-size=100\nmax-files=1\n")
    system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("r.log")) == ["r.log"]
    assert log.stat().st_size <= 100 and log.read_text().endswith("succeeded\n")


def test_unwritable_log_does_not_fail_the_install(system, bundle, img, tmp_path):
    good = tmp_path / "good.log"
    with_logs(system, f"[log.bad]\nfilename={tmp_path}/missing/dir/x.log\n\n[log.good]\nfilename={good}\nformat=short\n")
    r = system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert system.primary() == "B"
    assert r.stderr.count("event log [log.bad]") == 1, r.stderr  # once, then disabled
    assert "succeeded" in good.read_text()


def test_failed_install_records_carry_empty_bundle_fields(system, tmp_path):
    """A bundle that cannot be opened still gives the outcome record its
    bundle fields (§11: "same" as succeeded), empty."""
    log, readable = tmp_path / "inst.json", tmp_path / "inst.log"
    with_logs(system, f"[log.j]\nfilename={log}\nformat=json\nevents=install\n\n"
                      f"[log.r]\nfilename={readable}\nevents=install\n")
    garbage = tmp_path / "garbage.raucb"
    garbage.write_bytes(b"\0" * 8192)
    system.fails("install", garbage, match="")
    started, failed = json_records(log)
    assert failed["MESSAGE"].startswith(failed["TRANSACTION_ID"][:8].join(["Installation ", " failed: "]))
    assert failed["MESSAGE_ID"] == "c48141f7fd49443aafff862b4809168f"
    assert (failed["BUNDLE_HASH"], failed["BUNDLE_DESCRIPTION"], failed["BUNDLE_VERSION"]) == ("", "", "")
    assert "BUNDLE_HASH" not in started  # "started" has the transaction ID only
    # readable: fields in the record's order, hash and version before the transaction
    tail = readable.read_text().split(" failed: ", 1)[1].split("\n", 1)[1]
    assert re.fullmatch(r" {22}bundle hash: \n {22}bundle version: \n {22}transaction ID: \S+\n", tail), tail


def test_mark_active_record_has_its_bundle_hash_field(system, tmp_path):
    log = tmp_path / "mark.json"
    with_logs(system, f"[log.m]\nfilename={log}\nformat=json\nevents=mark\n")
    system.rota("status", "mark-active", "other")
    rec, = json_records(log)
    assert rec["MESSAGE"] == "Marked slot rootfs.1 as active" and rec["MESSAGE_ID"] == "8b5e7435e1054d86858278e7544fe6da"
    assert (rec["SLOT_NAME"], rec["SLOT_BOOTNAME"], rec["BUNDLE_HASH"]) == ("rootfs.1", "B", "")


def test_prevent_late_fallback_logs_the_mark_bad_once(system, tmp_path):
    log = tmp_path / "mark.log"
    system.write_conf(system_extra="prevent-late-fallback=true\n",
                      sections=f"[log.m]\nfilename={log}\nformat=short\nevents=mark\n")
    system.rota("status", "mark-good")
    msgs = [l.split(": ", 1)[1] for l in log.read_text().splitlines()]
    assert msgs == ["Marked slot rootfs.0 as good", "Marked slot rootfs.1 as bad"], msgs


def test_skipped_slot_is_not_logged_as_updated(system, bundle, img, tmp_path):
    """As RAUC: "Updating slot" is logged for a slot that is written, not for
    one skipped because it holds the image already."""
    log = tmp_path / "w.log"
    system.write_conf(slots={
        "rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
        "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B", "install-same": "false"}},
        sections=f"[log.w]\nfilename={log}\nformat=short\nevents=writeslot\n")
    b = bundle({"rootfs": ("rootfs.img", img)})
    system.install(b)
    r = system.install(b)
    assert "Copying image skipped" in r.stdout
    assert [l.split(": ", 1)[1] for l in log.read_text().splitlines()] == ["Updating slot rootfs.1"]


def test_rotation_never_moves_a_directory(system, bundle, img, tmp_path):
    """A log path that is a directory fails the log; its size must not make
    rotation rename it away."""
    d = tmp_path / "logdir"
    d.mkdir()
    (d / "keep").write_text("x")
    with_logs(system, f"[log.d]\nfilename={d}\nmax-size=1\n")
    r = system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert (d / "keep").exists() and not (tmp_path / "logdir.1").exists()
    assert r.stderr.count("event log [log.d]") == 1, r.stderr


def test_failed_rotation_disables_the_log(system, bundle, img, tmp_path):
    """When <f> cannot be renamed to <f>.1 the log is disabled, rather than
    growing past max-size."""
    log = tmp_path / "r.log"
    log.write_text("x" * 150 + "\n")
    (tmp_path / "r.log.1").mkdir()
    (tmp_path / "r.log.1" / "in-the-way").write_text("")
    with_logs(system, f"[log.r]\nfilename={log}\nformat=short\nmax-size=200\nmax-files=2\n")
    r = system.install(bundle({"rootfs": ("rootfs.img", img)}))
    assert system.primary() == "B"
    assert r.stderr.count("event log [log.r]") == 1, r.stderr
    assert "cannot rotate" in r.stderr
    assert log.read_text() == "x" * 150 + "\n"


@pytest.mark.parametrize("section, match", [
    ("[log.a]\nformat=short", "[log.a] filename: missing (required)"),
    ("[log.a]\nfilename=/tmp/x\nevents=all;install", "[log.a] events: 'all' cannot be combined"),
    ("[log.a]\nfilename=/tmp/x\nevents=install;reboot", "[log.a] events: Unsupported event log type 'reboot'"),
    ("[log.a]\nfilename=/tmp/x\nformat=xml", "[log.a] format: Unsupported event log format 'xml'"),
    ("[log.a]\nfilename=/tmp/x\nmax-files=0", "[log.a] max-files"),
    ("[log.a]\nfilename=/tmp/x\nmax-files=1001", "[log.a] max-files: must be between 1 and 1000"),
    ("[log.a]\nfilename=/tmp/x\nmax-size=10MB", "[log.a] max-size: '10MB' is not a size"),
    ("[log.a]\nfilename=/tmp/x\nmax-size=ten", "[log.a] max-size: 'ten' is not a size"),
    ("[log.a]\nfilename=/tmp/x\nmax-size=-1", "[log.a] max-size: '-1' is not a size"),
])
def test_config_errors(system, section, match):
    system.write_conf(sections=section)
    r = system.rota("status", ok=False)
    assert r.returncode == 1
    assert match in r.error_line(), r.error_line()
