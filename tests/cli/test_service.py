"""`rota service` on a private dbus-daemon (session bus, as RAUC's tests do
with DBUS_STARTER_BUS_TYPE=session): every method, property and signal of
de.pengutronix.rauc.Installer, driven with gdbus, busctl and python3-dbus;
progress that is monotonic, fine-grained and ends at 100; one install at a
time; installs that outlive their client; LastError; SIGTERM during an
install; rota's CLI as client; and Debian's `rauc` CLI as a real client."""
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

dbus = pytest.importorskip("dbus")
dbus_glib = pytest.importorskip("dbus.mainloop.glib")
GLib = pytest.importorskip("gi.repository.GLib")

from conftest import ROTA  # noqa: E402
from system_fixture import COMPATIBLE, BundleMaker, System, system  # noqa: E402,F401

NAME = "de.pengutronix.rauc"
IFACE = "de.pengutronix.rauc.Installer"
CODE30 = "org.gtk.GDBus.UnmappedGError.Quark._g_2dio_2derror_2dquark.Code30"
BIG = 256 * 1024 * 1024

dbus_glib.DBusGMainLoop(set_as_default=True)

if not shutil.which("dbus-daemon"):
    pytest.skip("dbus-daemon not installed", allow_module_level=True)


# ---- the private bus ----

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Bus:
    def __init__(self, tmp):
        conf = tmp / "session.conf"
        conf.write_text(BUS_CONF.format(dir=tmp))
        self.proc = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.address
        self.env = {"DBUS_SESSION_BUS_ADDRESS": self.address, "DBUS_STARTER_BUS_TYPE": "session"}
        self.conn = dbus.bus.BusConnection(self.address)

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def bus(tmp_path):
    d = tmp_path / "bus"
    d.mkdir()
    b = Bus(d)
    yield b
    b.stop()


# ---- the service ----

class Service:
    def __init__(self, system, bus, log, env=None):
        self.system, self.bus, self.log = system, bus, log
        env = {**os.environ, **system.env(), **bus.env, **(env or {})}
        self.proc = subprocess.Popen([str(ROTA), f"--conf={system.conf}", "service"], env=env,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not bus.conn.name_has_owner(NAME):
            assert self.proc.poll() is None, f"service exited: {log.read_text()}"
            assert time.time() < deadline, "service did not take its name"
            time.sleep(0.05)
        self.obj = bus.conn.get_object(NAME, "/")
        self.iface = dbus.Interface(self.obj, IFACE)
        self.props = dbus.Interface(self.obj, "org.freedesktop.DBus.Properties")

    def prop(self, name):
        return self.props.Get(IFACE, name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


@pytest.fixture
def service(system, bus, tmp_path):
    s = Service(system, bus, tmp_path / "service.log")
    yield s
    s.stop()


class Recorder:
    """Property changes and Completed signals, in arrival order."""

    def __init__(self, bus):
        self.events = []
        self.completed = []
        self.matches = [
            bus.conn.add_signal_receiver(self._props, "PropertiesChanged", "org.freedesktop.DBus.Properties",
                                         path="/"),
            bus.conn.add_signal_receiver(self._completed, "Completed", IFACE, path="/"),
        ]

    def _props(self, iface, changed, invalidated):
        for k, v in changed.items():
            if k == "Progress":
                v = (int(v[0]), str(v[1]), int(v[2]))
            else:
                v = str(v)
            self.events.append((k, v))

    def _completed(self, result):
        self.events.append(("Completed", int(result)))
        self.completed.append(int(result))

    def pump(self, seconds=0.0):
        ctx = GLib.MainContext.default()
        end = time.time() + seconds
        while True:
            while ctx.pending():
                ctx.iteration(False)
            if time.time() >= end:
                return
            time.sleep(0.01)

    def wait(self, cond, timeout=300):
        deadline = time.time() + timeout
        while not cond():
            assert time.time() < deadline, f"timeout; events: {self.events[-10:]}"
            self.pump(0.02)
        self.pump(0.2)

    def wait_completed(self, timeout=300):
        """Until Completed and the Operation=idle sent with it have both
        arrived (waiting for the event, not for a fixed time: a loaded
        machine may deliver idle later than any pause)."""
        self.wait(lambda: self.completed and self.values("Operation")[-1:] == ["idle"], timeout)
        return self.completed[-1]

    def progress(self):
        return [v for k, v in self.events if k == "Progress"]

    def values(self, name):
        return [v for k, v in self.events if k == name]


@pytest.fixture
def recorder(bus):
    return Recorder(bus)


@pytest.fixture
def maker(tmp_path, pki):
    return BundleMaker(tmp_path / "bundles", pki)


def gdbus(bus, *args, ok=True):
    p = subprocess.run(["gdbus", *args], capture_output=True, text=True, env={**os.environ, **bus.env}, timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def gdbus_call(bus, method, *args, ok=True):
    return gdbus(bus, "call", "--session", "--dest", NAME, "--object-path", "/", "--method", f"{IFACE}.{method}",
                 *args, ok=ok)


def small_bundle(maker, data=None, **kw):
    return maker({"rootfs": ("rootfs.img", data or os.urandom(65536))}, **kw)


def sha256_of(path, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = size
        while left:
            b = f.read(min(left, 1 << 20))
            assert b
            h.update(b)
            left -= len(b)
    return h.hexdigest()


@pytest.fixture(scope="module")
def big_image(tmp_path_factory):
    """256 MiB that squashfs compresses well: every 64-byte line distinct."""
    p = tmp_path_factory.mktemp("big") / "rootfs.img"
    line = 64
    with open(p, "wb") as f:
        per = 1 << 20
        for block in range(BIG // per):
            f.write(b"".join(b"%016x%047d\n" % (block * per + i, 0) for i in range(0, per, line)))
    assert p.stat().st_size == BIG
    return p


@pytest.fixture
def big_system(tmp_path, pki):
    """A/B raw slots large enough for the big image (sparse files)."""
    s = System(tmp_path / "bigsys", pki)
    slots = {}
    for name, bn in (("rootfs.0", "A"), ("rootfs.1", "B")):
        p = s.root / f"{name}.img"
        with open(p, "wb") as f:
            f.truncate(BIG)
        slots[name] = {"device": p, "bootname": bn}
    s.write_conf(slots=slots)
    return s


@pytest.fixture
def big_bundle(big_system, big_image, tmp_path, pki):
    return BundleMaker(tmp_path / "bigbundles", pki)({"rootfs": ("rootfs.img", big_image)})


@pytest.fixture
def big_service(big_system, bus, tmp_path):
    s = Service(big_system, bus, tmp_path / "service.log")
    yield s
    s.stop()


# ---- interface, properties, plain methods ----

def test_introspection_lists_the_whole_interface(service, bus):
    out = gdbus(bus, "introspect", "--session", "--dest", NAME, "--object-path", "/").stdout
    for member in ("Install(in  s source)", "InstallBundle(in  s source,", "in  a{sv} args", "Info(in  s bundle,",
                   "InspectBundle(", "out a{sv} info", "Mark(in  s state,", "in  s slot_identifier",
                   "GetSlotStatus(out a(sa{sv}) slot_status_array)", "GetArtifactStatus(out aa{sv} artifacts)",
                   "GetPrimary(out s primary)", "Completed(i result)", "readonly s Operation",
                   "readonly s LastError", "readonly (isi) Progress", "readonly s Compatible",
                   "readonly s Variant", "readonly s BootSlot"):
        assert member in out, f"{member!r} missing in:\n{out}"
    # busctl reads the same description
    out = subprocess.run(["busctl", f"--address={bus.address}", "introspect", NAME, "/", IFACE],
                         capture_output=True, text=True, check=True).stdout
    assert ".InstallBundle" in out and "sa{sv}" in out and ".Progress" in out and "(isi)" in out


def test_properties_initial_values(service):
    all_props = service.props.GetAll(IFACE)
    assert str(all_props["Operation"]) == "idle"
    assert str(all_props["LastError"]) == ""
    assert str(all_props["Compatible"]) == COMPATIBLE
    assert str(all_props["Variant"]) == ""
    assert str(all_props["BootSlot"]) == "A"
    assert tuple(all_props["Progress"]) == (0, "", 0)
    assert service.prop("BootSlot") == "A"


def test_get_slot_status_primary_and_artifacts(service, system, bus):
    slots = {str(n): {str(k): v for k, v in d.items()} for n, d in service.iface.GetSlotStatus()}
    assert set(slots) == {"rootfs.0", "rootfs.1"}
    a, b = slots["rootfs.0"], slots["rootfs.1"]
    assert (a["class"], a["type"], a["bootname"], a["state"], a["boot-status"]) == ("rootfs", "raw", "A", "booted",
                                                                                   "good")
    assert b["state"] == "inactive" and b["bootname"] == "B"
    assert a["device"] == str(system.device("rootfs.0"))
    assert service.iface.GetPrimary() == "rootfs.0"
    assert list(service.iface.GetArtifactStatus()) == []
    # the same through gdbus's own type printing
    out = gdbus_call(bus, "GetSlotStatus").stdout
    assert "'rootfs.1'" in out and "'bootname': <'B'>" in out


def test_mark_methods(service, system):
    name, message = service.iface.Mark("active", "other")
    assert (name, message) == ("rootfs.1", "marked slot(s) rootfs.1 as active")
    assert system.primary() == "B"
    assert service.iface.GetPrimary() == "rootfs.1"
    name, message = service.iface.Mark("good", "booted")
    assert name == "rootfs.0" and "as good" in message
    name, message = service.iface.Mark("bad", "rootfs.1")
    assert name == "rootfs.1"
    assert system.grub()["B_OK"] == "0"
    with pytest.raises(dbus.DBusException) as e:
        service.iface.Mark("good", "foo")
    assert e.value.get_dbus_name() == CODE30
    assert "foo" in e.value.get_dbus_message()


def test_mark_errors_are_rauc_s(service, system):
    """Mark's failures carry RAUC's messages (mark_run(), checked against
    rauc 1.8's service): the identifier is resolved first, an unknown state
    is named as sent (the "mark-" prefix is the CLI's), and there is no
    default identifier: "" marks nothing."""
    def mark_error(state, identifier):
        with pytest.raises(dbus.DBusException) as e:
            service.iface.Mark(state, identifier)
        assert e.value.get_dbus_name() == CODE30
        return e.value.get_dbus_message()

    assert mark_error("foo", "booted") == "unknown subcommand foo"
    assert mark_error("foo", "nonsense") == "Invalid slot name format: 'nonsense'"
    assert mark_error("good", "rootfs.7") == "No slot with class rootfs and name rootfs.7 found"
    assert mark_error("good", "rootfs.0.x") == "Invalid slot name format: 'rootfs.0.x'"
    before = system.grub()
    for state in ("good", "bad", "active"):
        assert mark_error(state, "") == "Invalid slot name format: ''"
    assert system.grub() == before


def test_rota_mark_unknown_state_same_with_and_without_service(system, bus, tmp_path):
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        via_service = rota_client(system, bus, "status", "mark-foo")
    finally:
        svc.stop()
    in_process = rota_client(system, bus, f"--conf={system.conf}", "status", "mark-foo")
    for p in (via_service, in_process):
        assert p.returncode == 1
        assert p.stderr.splitlines()[-1] == "rota: unknown subcommand mark-foo", p.stderr


def test_info_and_inspect_bundle(service, bus, maker):
    b = small_bundle(maker, version="2.5")
    assert tuple(service.iface.Info(str(b))) == (COMPATIBLE, "2.5")
    info = service.iface.InspectBundle(str(b), dbus.Dictionary({}, signature="sv"))
    assert len(str(info["manifest-hash"])) == 64
    assert info["update"]["compatible"] == COMPATIBLE and info["update"]["version"] == "2.5"
    assert info["bundle"]["format"] == "verity" and "verity-hash" in info["bundle"]
    (img,) = info["images"]
    assert img["slot-class"] == "rootfs" and img["filename"] == "rootfs.img" and int(img["size"]) == 65536
    assert list(img["hooks"]) == []
    assert dict(info["meta"]) == {}
    # file:// URIs are accepted, unknown keys and wrong types are not
    assert service.iface.Info(f"file://{b}")[0] == COMPATIBLE
    for args in ({"foo": True}, {"tls-no-verify": "yes"}, {"ignore-compatible": True}):
        with pytest.raises(dbus.DBusException) as e:
            service.iface.InspectBundle(str(b), dbus.Dictionary(args, signature="sv"))
        assert e.value.get_dbus_message() == f"Unsupported key: {next(iter(args))}"
        assert e.value.get_dbus_name() == CODE30
    # a bundle that does not exist: the call fails with the reason
    p = gdbus_call(bus, "Info", "/nonexistent.raucb", ok=False)
    assert p.returncode != 0 and CODE30 in p.stderr


def test_install_bundle_unsupported_key_fails_the_call(service, maker):
    b = small_bundle(maker)
    with pytest.raises(dbus.DBusException) as e:
        service.iface.InstallBundle(str(b), dbus.Dictionary({"frobnicate": True}, signature="sv"))
    assert e.value.get_dbus_message() == "Unsupported key: frobnicate"
    assert service.prop("Operation") == "idle"


# ---- installing ----

def test_install_signals_and_properties(service, system, recorder, maker):
    data = os.urandom(100 * 1024)
    b = small_bundle(maker, data=data)
    service.iface.InstallBundle(str(b), dbus.Dictionary({"ignore-compatible": False, "transaction-id":
                                                          "9d1c07a2-2b9b-4a49-8d6a-6f0c4d3e0e11"}, signature="sv"))
    assert recorder.wait_completed() == 0
    names = [k for k, _ in recorder.events]
    # Operation goes installing → idle, Completed comes before idle
    assert recorder.values("Operation") == ["installing", "idle"]
    assert names.index("Completed") < len(names) - 1 - names[::-1].index("Operation")
    prog = recorder.progress()
    assert prog[0] == (0, "Installing", 1)
    assert prog[-1] == (100, "Installing done.", 1)
    assert ("Determining slot states", 2) in [(m, d) for _, m, d in prog]
    assert any(m == "Copying image to rootfs.1" and d == 3 for _, m, d in prog)
    pcts = [p for p, _, _ in prog]
    assert pcts == sorted(pcts)
    assert tuple(service.prop("Progress")) == (100, "Installing done.", 1)
    assert service.prop("LastError") == ""
    assert system.device("rootfs.1").read_bytes()[:len(data)] == data
    assert system.primary() == "B"
    st = {str(n): d for n, d in service.iface.GetSlotStatus()}["rootfs.1"]
    assert st["installed.transaction"] == "9d1c07a2-2b9b-4a49-8d6a-6f0c4d3e0e11"
    assert st["bundle.compatible"] == COMPATIBLE and int(st["installed.count"]) == 1


def test_deprecated_install_method(service, system, recorder, maker):
    b = small_bundle(maker)
    gdbus_call(service.bus, "Install", str(b))
    assert recorder.wait_completed() == 0
    assert system.primary() == "B"


def test_failed_install_sets_last_error_and_service_keeps_serving(service, system, recorder, maker):
    bad = small_bundle(maker, compatible="other-device")
    service.iface.InstallBundle(str(bad), dbus.Dictionary({}, signature="sv"))
    assert recorder.wait_completed() == 1
    last_error = service.prop("LastError")
    assert "other-device" in last_error or "compatible" in last_error.lower()
    assert recorder.values("LastError") == ["", last_error]
    # LastError is announced before Completed, as RAUC does
    names = [k for k, _ in recorder.events]
    assert names.index("Completed") > len(names) - 1 - names[::-1].index("LastError")
    assert recorder.progress()[-1][:2] == (100, "Installing failed.")  # as RAUC: over either way
    assert service.prop("Operation") == "idle"
    assert system.primary() == "A"
    # still serving; the next installation clears LastError and succeeds
    assert service.iface.GetPrimary() == "rootfs.0"
    good = small_bundle(maker)
    service.iface.InstallBundle(str(good), dbus.Dictionary({}, signature="sv"))
    recorder.completed.clear()
    assert recorder.wait_completed() == 0
    assert service.prop("LastError") == ""
    assert system.primary() == "B"


def test_autoinstall_when_the_service_starts(system, bus, recorder, maker, tmp_path):
    """[autoinstall] path: a bundle there is installed once the service owns
    its name, with Completed like any other install."""
    data = os.urandom(64 * 1024)
    b = small_bundle(maker, data=data)
    system.write_conf(sections=f"[autoinstall]\npath={b}\n")
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        assert recorder.wait_completed() == 0
        assert system.device("rootfs.1").read_bytes()[:len(data)] == data
        assert system.primary() == "B"
        assert svc.prop("Operation") == "idle"
        assert f"Autoinstall of {b}" in (tmp_path / "service.log").read_text()
    finally:
        svc.stop()


def test_autoinstall_without_a_bundle_does_nothing(system, bus, maker, tmp_path):
    missing = tmp_path / "usb" / "update.raucb"
    system.write_conf(sections=f"[autoinstall]\npath={missing}\n")
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        assert svc.prop("Operation") == "idle"
        assert svc.iface.GetPrimary() == "rootfs.0"
        assert f"No bundle at autoinstall path {missing}" in (tmp_path / "service.log").read_text()
        assert "unknown section [autoinstall]" not in (tmp_path / "service.log").read_text()
    finally:
        svc.stop()


def test_missing_bundle_completes_with_failure(service, recorder):
    service.iface.InstallBundle("/nonexistent/x.raucb", dbus.Dictionary({}, signature="sv"))
    assert recorder.wait_completed() == 1
    assert service.prop("LastError")


def wait_for_copy(recorder, slot="rootfs.1", timeout=300):
    recorder.wait(lambda: any(m == f"Copying image to {slot}" for _, m, _ in recorder.progress()), timeout)


def test_progress_is_monotonic_fine_grained_and_ends_at_100(big_service, big_system, big_bundle, big_image,
                                                             recorder):
    big_service.iface.InstallBundle(str(big_bundle), dbus.Dictionary({}, signature="sv"))
    assert recorder.wait_completed(600) == 0
    prog = recorder.progress()
    pcts = [p for p, _, _ in prog]
    assert pcts == sorted(pcts), "progress went backwards"
    assert prog[-1] == (100, "Installing done.", 1)
    assert pcts.count(100) == 1
    copy = [p for p, m, d in prog if m == "Copying image to rootfs.1" and d == 3]
    # The copy (write, then read-back) of the 256 MiB image is reported at
    # least every 1 % of the image in each pass: 200+ updates, and the
    # install's percentage never jumps by more than one point meanwhile.
    print(f"{len(prog)} progress updates, {len(copy)} while copying ({copy[0]}..{copy[-1]} %)")
    assert len(copy) >= 200, f"only {len(copy)} updates while copying"
    assert all(b - a <= 1 for a, b in zip(copy, copy[1:]))
    assert copy[-1] - copy[0] >= 50  # the copy is most of the install
    assert sha256_of(big_system.device("rootfs.1"), BIG) == sha256_of(big_image, BIG)
    assert big_system.primary() == "B"


def test_second_install_is_refused_while_one_runs(big_service, big_system, big_bundle, bus, recorder):
    big_service.iface.InstallBundle(str(big_bundle), dbus.Dictionary({}, signature="sv"))
    wait_for_copy(recorder)
    with pytest.raises(dbus.DBusException) as e:
        big_service.iface.InstallBundle(str(big_bundle), dbus.Dictionary({}, signature="sv"))
    assert e.value.get_dbus_name() == CODE30
    assert e.value.get_dbus_message() == "Already processing a different method"
    for call in (lambda: big_service.iface.GetSlotStatus(), lambda: big_service.iface.GetPrimary(),
                 lambda: big_service.iface.Mark("good", "booted")):
        with pytest.raises(dbus.DBusException) as e:
            call()
        assert e.value.get_dbus_message() == "already processing a different method"
    # properties stay readable
    assert big_service.prop("Operation") == "installing"
    assert recorder.wait_completed(600) == 0
    assert recorder.completed == [0]
    assert big_system.primary() == "B"


def test_client_disconnect_does_not_stop_install(big_service, big_system, big_bundle, bus, recorder):
    # gdbus starts the installation and disconnects right after the call returns
    gdbus_call(bus, "InstallBundle", str(big_bundle), "{}")
    wait_for_copy(recorder)
    assert recorder.wait_completed(600) == 0
    assert big_system.primary() == "B"
    # rota's client killed while it follows an installation: the service finishes it
    big_system.reset_grub()
    env = {**os.environ, **big_system.env(), **bus.env}
    cli = subprocess.Popen([str(ROTA), "install", str(big_bundle)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    recorder.completed.clear()
    recorder.events.clear()
    wait_for_copy(recorder)
    cli.kill()
    cli.wait()
    assert recorder.wait_completed(600) == 0
    assert big_system.primary() == "B"
    assert big_service.proc.poll() is None


def test_sigterm_during_install_leaves_booted_slot_primary(big_service, big_system, big_bundle, recorder):
    big_service.iface.InstallBundle(str(big_bundle), dbus.Dictionary({}, signature="sv"))
    wait_for_copy(recorder)
    assert big_system.primary() == "A"
    big_service.proc.send_signal(signal.SIGTERM)
    big_service.proc.wait(30)
    assert recorder.completed == []
    assert big_system.primary() == "A"
    assert big_system.grub()["A_OK"] == "1"
    assert "booted slot stays primary" in big_service.log.read_text()


SLOW_INSTALL_HOOK = """\
#!/bin/sh
[ "$1" = slot-install ] || exit 1
echo $$ > "$HOOK_PID.tmp" && mv "$HOOK_PID.tmp" "$HOOK_PID"
exec sleep 120
"""


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        return "zombie" not in pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_sigterm_during_hook_stops_it_and_removes_staged_files(system, bus, maker, tmp_path):
    """An install hook still running when the service is told to stop goes
    with it (it could otherwise go on writing the slot), and the staging
    directory (which holds the image for the hook) is removed."""
    b = maker({"rootfs": ("rootfs.img", os.urandom(256 * 1024))}, hooks_file="hook.sh",
              files={"hook.sh": (SLOW_INSTALL_HOOK, 0o755)}, image_keys={"rootfs": "hooks=install"})
    tmp, pidfile = tmp_path / "tmp", tmp_path / "hook.pid"
    tmp.mkdir()
    svc = Service(system, bus, tmp_path / "service.log", env={"TMPDIR": str(tmp), "HOOK_PID": str(pidfile)})
    try:
        svc.iface.InstallBundle(str(b), dbus.Dictionary({}, signature="sv"))
        deadline = time.time() + 60
        while not pidfile.exists():
            assert time.time() < deadline, "the hook never started"
            time.sleep(0.05)
        hook = int(pidfile.read_text())
        assert list(tmp.glob("rota-bundle-*/rootfs.img")), "the image is staged for the hook"
        svc.proc.send_signal(signal.SIGTERM)
        svc.proc.wait(30)
        deadline = time.time() + 10
        while alive(hook):
            assert time.time() < deadline, "the hook outlived the service"
            time.sleep(0.05)
        assert list(tmp.iterdir()) == []
        assert system.primary() == "A"
    finally:
        svc.stop()


def test_sigterm_when_idle_exits_cleanly(service, bus):
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(30) == 0
    assert not bus.conn.name_has_owner(NAME)


def test_second_service_cannot_take_the_name(service, system, bus, tmp_path):
    env = {**os.environ, **system.env(), **bus.env}
    p = subprocess.run([str(ROTA), f"--conf={system.conf}", "service"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1
    assert f"Failed to obtain name {NAME} on session bus" in p.stderr


def test_configurable_bus_name(system, bus, tmp_path):
    env = {**os.environ, **system.env(), **bus.env}
    proc = subprocess.Popen([str(ROTA), f"--conf={system.conf}", "--bus-name=org.example.Rota", "service"], env=env)
    try:
        deadline = time.time() + 20
        while not bus.conn.name_has_owner("org.example.Rota"):
            assert time.time() < deadline
            time.sleep(0.05)
        obj = dbus.Interface(bus.conn.get_object("org.example.Rota", "/"), IFACE)
        assert obj.GetPrimary() == "rootfs.0"
        # the client finds it through the environment
        p = subprocess.run([str(ROTA), "--debug", "status", "mark-good"], env={**env, "ROTA_BUS_NAME":
                                                                               "org.example.Rota"},
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "rota status: marked slot(s) rootfs.0 as good" in p.stdout
        assert "Using the service org.example.Rota" in p.stderr
    finally:
        proc.terminate()
        proc.wait(30)


# ---- rota's CLI as a client ----

def rota_client(system, bus, *args, env=None):
    return subprocess.run([str(ROTA), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **system.env(), **bus.env, **(env or {})})


def test_rota_install_as_client(service, system, bus, maker):
    b = small_bundle(maker)
    p = rota_client(system, bus, "--debug", "install", str(b))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "installing"
    assert "  0% Installing" in lines
    assert "100% Installing done." in lines
    assert lines[-2:] == ["idle", f"Installing `{b}` succeeded"]
    assert "Using the service de.pengutronix.rauc on the session bus" in p.stderr
    assert system.primary() == "B"


def test_rota_install_as_client_failure(service, system, bus, maker):
    b = small_bundle(maker, compatible="other-device")
    p = rota_client(system, bus, "install", str(b))
    assert p.returncode == 1
    assert any(l.startswith("LastError: ") and "other-device" in l for l in p.stdout.splitlines())
    assert f"Installing `{b}` failed" in p.stderr
    assert system.primary() == "A"


def test_rota_install_as_client_busy_is_dbus_error(big_service, big_system, big_bundle, bus, recorder):
    big_service.iface.InstallBundle(str(big_bundle), dbus.Dictionary({}, signature="sv"))
    wait_for_copy(recorder)
    p = rota_client(big_system, bus, "install", str(big_bundle))
    assert p.returncode == 2
    assert "Failed to contact rota service: Already processing a different method" in p.stderr
    assert recorder.wait_completed(600) == 0


def test_rota_install_client_ctrl_c(big_service, big_system, big_bundle, bus, recorder):
    env = {**os.environ, **big_system.env(), **bus.env}
    cli = subprocess.Popen([str(ROTA), "install", str(big_bundle)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    wait_for_copy(recorder)
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == 3, err
    assert "Ctrl+C pressed" in err
    assert recorder.wait_completed(600) == 0
    assert big_system.primary() == "B"


def test_rota_mark_as_client(service, system, bus):
    p = rota_client(system, bus, "status", "mark-active", "other")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "rota status: marked slot(s) rootfs.1 as active\n"
    assert system.primary() == "B"
    p = rota_client(system, bus, "mark-bad", "other")
    assert p.returncode == 0, p.stderr
    p = rota_client(system, bus, "status", "mark-good", "nonsense")
    assert p.returncode == 1
    assert p.stderr.startswith("rota: ") and "nonsense" in p.stderr


def test_cli_without_service_works_in_process(system, bus, maker):
    b = small_bundle(maker)
    p = rota_client(system, bus, "--debug", f"--conf={system.conf}", "install", str(b))
    assert p.returncode == 0, p.stderr
    assert "working in-process" in p.stderr
    assert f"Installing `{b}` succeeded" in p.stdout
    assert system.primary() == "B"


# ---- `rota status`: the same output from the service and in-process ----

STATUS_FORMS = [(fmt, detailed) for fmt in ("readable", "shell", "json", "json-pretty") for detailed in (False, True)]


@pytest.fixture
def rich_system(tmp_path, pki):
    """Everything status can show: parent and child slots, a slot without
    bootname, a description, a variant and a system version."""
    s = System(tmp_path / "richsys", pki)
    handler = s.root / "system-info.sh"
    handler.write_text("#!/bin/sh\necho RAUC_SYSTEM_VERSION=4.2.1\n")
    handler.chmod(0o755)
    slots = {
        "rootfs.0": {"device": s.slot_file("rootfs.0"), "bootname": "A", "description": "root file system A"},
        "rootfs.1": {"device": s.slot_file("rootfs.1"), "bootname": "B"},
        "appfs.0": {"device": s.slot_file("appfs.0"), "parent": "rootfs.0"},
        "appfs.1": {"device": s.slot_file("appfs.1"), "parent": "rootfs.1"},
        "bootloader.0": {"device": s.slot_file("bootloader.0")},
    }
    s.write_conf(system_extra="variant-name=board-x", sections=f"[handlers]\nsystem-info={handler}", slots=slots)
    return s


def rota_status(system, bus, mode, *args):
    """`rota --debug status ARGS`, checking that it worked in the given mode."""
    p = rota_client(system, bus, f"--conf={system.conf}", "--debug", "status", *args)
    assert p.returncode == 0, p.stderr
    if mode == "service":
        assert f"Using the service {NAME} on the session bus" in p.stderr
        assert "working in-process" not in p.stderr
    else:
        assert "working in-process" in p.stderr
    return p


def rota_status_all_forms(system, bus, mode):
    return {(fmt, detailed): rota_status(system, bus, mode, f"--output-format={fmt}",
                                         *(["--detailed"] if detailed else [])).stdout
            for fmt, detailed in STATUS_FORMS}


def primary_warnings(stderr):
    return [l[l.index("Failed getting primary slot"):] for l in stderr.splitlines()
            if "Failed getting primary slot" in l]


def test_rota_status_is_the_same_from_the_service_and_in_process(rich_system, bus, maker, tmp_path):
    import json
    system = rich_system
    b = maker({"rootfs": ("rootfs.img", os.urandom(65536)), "appfs": ("appfs.img", os.urandom(32768))},
              version="2.0")
    system.install(b, "--transaction-id=0f3a5f8e-6c0a-4d1e-9d55-2b1b4d7c9a10")  # slot status for --detailed
    system.rota("status", "mark-bad", "rootfs.0")  # boot status "bad" next to "good"
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        via_service = rota_status_all_forms(system, bus, "service")
    finally:
        svc.stop()
    in_process = rota_status_all_forms(system, bus, "in-process")
    for form in STATUS_FORMS:
        assert via_service[form] == in_process[form], f"{form}:\n{via_service[form]}\n---\n{in_process[form]}"
    # what both show is the whole state, not two equally empty outputs
    text = in_process["readable", True]
    for line in ("Variant:        board-x", "System Version: 4.2.1", "Booted from:    rootfs.0 (A)",
                 "Activated: rootfs.1 (B)", "      description: root file system A", "      boot status: bad",
                 "              version=2.0", "              transaction=0f3a5f8e-6c0a-4d1e-9d55-2b1b4d7c9a10",
                 "          status=ok"):
        assert line in text.splitlines(), f"{line!r} missing in:\n{text}"
    assert "\n   " in text and "[appfs.1]" in text  # children indented under their parents
    j = json.loads(in_process["json", True])
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert list(slots) == ["rootfs.0", "rootfs.1", "appfs.0", "appfs.1", "bootloader.0"]
    assert (j["variant"], j["system_version"], j["booted"], j["boot_primary"]) == ("board-x", "4.2.1", "A",
                                                                                  "rootfs.1")
    assert slots["appfs.1"]["parent"] == "rootfs.1" and slots["bootloader.0"]["bootname"] is None
    assert slots["bootloader.0"]["boot_status"] is None and slots["rootfs.0"]["boot_status"] == "bad"
    st = slots["appfs.1"]["slot_status"]
    assert (st["bundle"]["compatible"], st["bundle"]["version"], len(st["bundle"]["hash"])) == (COMPATIBLE, "2.0", 64)
    assert st["checksum"]["size"] == 32768
    assert st["installed"]["count"] == 1 and st["status"] == "ok"
    assert "slot_status" not in json.loads(in_process["json", False])["slots"][0]["rootfs.0"]


def test_rota_status_without_primary_warns_in_both_modes(system, bus, tmp_path):
    import json
    subprocess.run(["grub-editenv", str(system.grubenv), "set", "A_OK=0", "B_OK=0"], check=True)
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        via_service = rota_status(system, bus, "service", "--output-format=json")
    finally:
        svc.stop()
    in_process = rota_status(system, bus, "in-process", "--output-format=json")
    assert via_service.stdout == in_process.stdout
    assert json.loads(in_process.stdout)["boot_primary"] is None
    warnings = primary_warnings(in_process.stderr)
    assert len(warnings) == 1 and "No good slot" in warnings[0], in_process.stderr
    assert primary_warnings(via_service.stderr) == warnings


# ---- Debian's rauc CLI as a client ----

rauc_missing = pytest.mark.skipif(not shutil.which("rauc"), reason="rauc not installed")


@rauc_missing
def test_rauc_status_shows_rota_slots(service, system, bus):
    p = subprocess.run(["rauc", "status", "--detailed"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **bus.env})
    assert p.returncode == 0, p.stderr
    assert f"Compatible:  {COMPATIBLE}" in p.stdout or COMPATIBLE in p.stdout
    assert "Booted from: rootfs.0 (A)" in p.stdout
    assert "[rootfs.0]" in p.stdout and "[rootfs.1]" in p.stdout
    assert "Activated: rootfs.0 (A)" in p.stdout
    p = subprocess.run(["rauc", "status", "--output-format=json"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **bus.env})
    assert p.returncode == 0, p.stderr
    import json
    j = json.loads(p.stdout)
    assert j["compatible"] == COMPATIBLE and j["booted"] == "A" and j["boot_primary"] == "rootfs.0"
    slots = {k: v for s in j["slots"] for k, v in s.items()}
    assert slots["rootfs.1"]["bootname"] == "B" and slots["rootfs.0"]["state"] == "booted"


@rauc_missing
def test_rauc_status_json_agrees_with_rota_status(rich_system, bus, tmp_path):
    import json
    svc = Service(rich_system, bus, tmp_path / "service.log")
    try:
        p = subprocess.run(["rauc", "status", "--output-format=json"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, **bus.env})
        assert p.returncode == 0, p.stderr
        rauc = json.loads(p.stdout)
        rota = json.loads(rota_status(rich_system, bus, "service", "--output-format=json").stdout)
    finally:
        svc.stop()

    def slots(j):
        return {k: (v["state"], v["bootname"], v["parent"]) for s in j["slots"] for k, v in s.items()}

    assert slots(rauc) == slots(rota)
    assert len(slots(rota)) == 5
    for key in ("compatible", "variant", "booted", "boot_primary"):
        assert rauc[key] == rota[key], key


@rauc_missing
def test_rauc_install_installs_through_rota(service, system, bus, maker):
    data = os.urandom(80 * 1024)
    b = small_bundle(maker, data=data)
    p = subprocess.run(["rauc", "install", str(b)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **bus.env})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "100% Installing done." in p.stdout
    assert f"Installing `{b}` succeeded" in p.stdout
    assert system.device("rootfs.1").read_bytes()[:len(data)] == data
    assert system.primary() == "B"
    p = subprocess.run(["rauc", "status", "mark-good", "other"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **bus.env})
    assert p.returncode == 0, p.stderr
    assert "rootfs.1" in p.stdout


@rauc_missing
def test_rauc_mark_error_through_rota(service, system, bus):
    """What `rauc status mark-good <unknown slot>` prints against RAUC's own
    service (1.8), and marks nothing."""
    before = system.grub()
    p = subprocess.run(["rauc", "status", "mark-good", "rootfs.7"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **bus.env})
    assert p.returncode == 1
    assert "rauc mark: No slot with class rootfs and name rootfs.7 found" in p.stderr, p.stderr
    assert system.grub() == before


@rauc_missing
def test_rauc_install_failure_through_rota(service, system, bus, maker):
    b = small_bundle(maker, compatible="other-device")
    p = subprocess.run(["rauc", "install", str(b)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **bus.env})
    assert p.returncode == 1
    assert "LastError:" in p.stdout + p.stderr
    assert f"Installing `{b}` failed" in p.stdout + p.stderr
    assert system.primary() == "A"


# ---- streaming through the service ----

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web(tmp_path):
    """nginx serving tmp/www on 127.0.0.1 (as the streaming suite runs it)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        pytest.skip("nginx not installed (scripts/install-deps.sh)")
    d, root, port = tmp_path / "nginx", tmp_path / "www", free_port()
    d.mkdir()
    root.mkdir()
    (d / "nginx.conf").write_text(f"""
user root;
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    log_format hdr '$status $http_range "$http_x_rota_test"';
    access_log {d}/access.log hdr;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen([nginx, "-c", str(d / "nginx.conf"), "-p", str(d)], stderr=subprocess.DEVNULL)
    import socket
    deadline = time.time() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None and time.time() < deadline, "nginx did not start"
        time.sleep(0.05)
    proc.root, proc.url, proc.log = root, f"http://127.0.0.1:{port}", d / "access.log"
    yield proc
    proc.terminate()
    proc.wait(10)


def test_install_from_http_url_through_the_service(service, system, recorder, maker, web):
    data = os.urandom(300 * 1024)
    b = small_bundle(maker, data=data, version="3.1")
    shutil.copy(b, web.root / "u.raucb")
    url = f"{web.url}/u.raucb"
    info = service.iface.InspectBundle(url, dbus.Dictionary({"http-headers": dbus.Array(["X-Rota-Test: inspect"],
                                                                                        signature="s")},
                                                            signature="sv"))
    assert info["update"]["version"] == "3.1"
    service.iface.InstallBundle(url, dbus.Dictionary({"http-headers": dbus.Array(["X-Rota-Test: install"],
                                                                                 signature="s")},
                                                     signature="sv"))
    assert recorder.wait_completed() == 0, service.prop("LastError")
    assert system.device("rootfs.1").read_bytes()[:len(data)] == data
    assert system.primary() == "B"
    log = web.log.read_text()
    assert '"X-Rota-Test: inspect"' not in log  # nginx logs the value only
    assert '"inspect"' in log and '"install"' in log


def test_rota_install_url_as_client(service, system, bus, maker, web):
    b = small_bundle(maker)
    shutil.copy(b, web.root / "c.raucb")
    p = rota_client(system, bus, "install", f"{web.url}/c.raucb")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"Installing `{web.url}/c.raucb` succeeded" in p.stdout
    assert system.primary() == "B"


# ---- the progress bar on a terminal ----

@pytest.mark.skipif(not shutil.which("script"), reason="script (util-linux) not installed")
@pytest.mark.parametrize("mode", ["service", "in-process"])
def test_progress_bar_on_a_terminal(mode, system, bus, tmp_path, maker, request):
    if mode == "service":
        request.getfixturevalue("service")
    b = small_bundle(maker, data=os.urandom(2 << 20))
    env = {**os.environ, **system.env(), **bus.env}
    cmd = f"{ROTA} --conf={system.conf} install {b}"
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, env=env, timeout=300)
    out = p.stdout.decode()  # bytes: text mode would turn \r into \n
    assert p.returncode == 0, out
    assert "\r\x1b[K[" in out and "] 100%" in out  # redrawn in place
    assert "#" * 24 in out
    assert f"Installing `{b}` succeeded" in out
    assert "  0% Installing\n" not in out.replace("\r", "")  # no plain lines


# ---- rota's statistics interface ----

def stats_prop(service):
    return service.props.Get("io.github.rota.Statistics", "LastInstall")


def test_statistics_of_a_streamed_adaptive_install(service, system, recorder, maker, web):
    """io.github.rota.Statistics.LastInstall keeps what the last install
    downloaded and which chunks it reused, next to RAUC's interface."""
    assert dict(stats_prop(service)) == {}
    old = os.urandom(256 * 1024)
    new = old[:200 * 1024] + os.urandom(56 * 1024)
    system.device("rootfs.0").write_bytes(old + system.device("rootfs.0").read_bytes()[len(old):])
    b = maker({"rootfs": ("rootfs.img", new)}, image_keys={"rootfs": "adaptive=block-hash-index;"})
    shutil.copy(b, web.root / "a.raucb")
    url = f"{web.url}/a.raucb"
    service.iface.InstallBundle(url, dbus.Dictionary({}, signature="sv"))
    assert recorder.wait_completed() == 0, service.prop("LastError")
    assert system.device("rootfs.1").read_bytes()[:len(new)] == new
    st = stats_prop(service)
    assert st["source"] == url and st["streamed"]
    assert st["requests"] >= 1 and st["bytes-downloaded"] > 0
    assert st["bytes-downloaded"] < len(new)  # the reused chunks were not fetched
    (img,) = st["images"]
    assert img["slot"] == "rootfs.1" and img["image"] == "rootfs.img"
    assert img["chunks"] == len(new) // 4096
    assert img["from-active"] == 200 * 1024 // 4096
    assert img["from-bundle"] == 56 * 1024 // 4096


def test_artifacts_through_the_service(system, bus, maker, tmp_path):
    """An artifact installed through the service shows in GetArtifactStatus
    and in `rota status` as a client (both read from the service)."""
    import hashlib as _h
    import json as _json
    import random as _r
    repo = tmp_path / "repo-apps"
    repo.mkdir()
    system.write_conf(sections=f"[artifacts.apps]\npath={repo}\ntype=files\ndescription=Apps\n")
    app = _r.Random(5).randbytes(16384)
    b = maker({"apps/hello": ("hello.bin", app)})
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        p = rota_client(system, bus, "install", str(b))
        assert p.returncode == 0, p.stderr
        digest = _h.sha256(app).hexdigest()
        assert os.readlink(repo / "hello") == f".artifact-hello-{digest}"
        repos = svc.iface.GetArtifactStatus()
        assert len(repos) == 1
        r = repos[0]
        assert (str(r["name"]), str(r["type"]), str(r["path"]), str(r["description"])) == ("apps", "files", str(repo), "Apps")
        [art] = r["artifacts"]
        assert str(art["name"]) == "hello"
        assert [(str(i["checksum"]), [str(x) for x in i["references"]]) for i in art["instances"]] == [(digest, [""])]
        out = rota_client(system, bus, "status").stdout
        assert "=== Artifact Repo States ===" in out and f"checksum: {digest}" in out
        j = _json.loads(rota_client(system, bus, "status", "--output-format=json").stdout)
        assert j["artifact-repositories"][0]["artifacts"][0]["instances"][0]["checksum"] == digest
    finally:
        svc.stop()


def test_hawkbit_streams_through_the_service(system, bus, maker, tmp_path):
    """`rota hawkbit` with a service running installs through it: the
    service streams the bundle with the target token it was handed in
    InstallBundle's http-headers, and the server gets the result."""
    from hawkbit_server import DdiServer
    ddi = DdiServer()
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        data = os.urandom(65536)
        ddi.deploy(3, "update.raucb", pathlib.Path(small_bundle(maker, data)).read_bytes())
        conf = tmp_path / "hawkbit.conf"
        conf.write_text(f"[client]\nhawkbit_server=127.0.0.1:{ddi.port}\nssl=false\ntenant_id={ddi.tenant}\n"
                        f"target_name={ddi.target}\nauth_token={ddi.token}\nstream_bundle=true\n")
        p = rota_client(system, bus, "hawkbit", "--run-once", str(conf))
        assert p.returncode == 0, p.stderr
        assert "Using the service" in p.stderr or p.stdout.splitlines()[0] == "installing", p.stdout + p.stderr
        assert ddi.feedback_states()[-1][:2] == ("closed", "success")
        downloads = [h for m, path, h in ddi.requests if path.startswith("/download/")]
        assert downloads and all(h.get("Authorization") == f"TargetToken {ddi.token}" and "Range" in h for h in downloads)
        assert system.primary() == "B"
        assert sha256_of(system.device("rootfs.1"), len(data)) == hashlib.sha256(data).hexdigest()
    finally:
        svc.stop()
        ddi.stop()


def test_hawkbit_fails_when_the_result_does_not_reach_the_server(system, bus, maker, tmp_path):
    """The service installs, the server refuses the closing feedback: the
    run failed (the action is still open), exit status 1, not the
    installation's 0."""
    from hawkbit_server import DdiServer
    ddi = DdiServer()
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        ddi.deploy(4, "update.raucb", pathlib.Path(small_bundle(maker)).read_bytes())
        ddi.fail_feedback = {"closed": 1}
        conf = tmp_path / "hawkbit.conf"
        conf.write_text(f"[client]\nhawkbit_server=127.0.0.1:{ddi.port}\nssl=false\ntenant_id={ddi.tenant}\n"
                        f"target_name={ddi.target}\nauth_token={ddi.token}\nstream_bundle=true\n")
        p = rota_client(system, bus, "hawkbit", "--run-once", str(conf))
        assert p.returncode == 1, p.stderr
        assert "/feedback: HTTP status 500" in p.stderr.splitlines()[-1], p.stderr
        assert system.primary() == "B"
    finally:
        svc.stop()
        ddi.stop()


def test_service_start_and_install_are_logged(system, bus, maker, tmp_path):
    """[log.*] files get the service's start and the installs it runs."""
    import re as _re
    log = tmp_path / "events.log"
    system.write_conf(sections=f"[log.svc]\nfilename={log}\nformat=short\nevents=service;install\n")
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        p = rota_client(system, bus, "install", str(small_bundle(maker)))
        assert p.returncode == 0, p.stderr
        msgs = [l.split(": ", 1)[1] for l in log.read_text().splitlines()]
        assert msgs[0] == "Service started"
        assert _re.fullmatch(r"Installation \S{8} started", msgs[1]) and msgs[2].endswith("succeeded"), msgs
        assert len(msgs) == 3  # no writeslot or mark records in this log
    finally:
        svc.stop()


def test_boot_events_follow_the_boot_id(system, bus, tmp_path):
    """With a central status file the service records this boot's ID: the
    first start in a boot logs "Booted into <slot>", a restart in the same
    boot only "Service restarted"."""
    log = tmp_path / "boot.log"
    system.write_conf(sections=f"[log.b]\nfilename={log}\nevents=boot;service\n")
    boot_id = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()

    def start_and_stop():
        svc = Service(system, bus, tmp_path / "service.log")
        svc.stop()

    start_and_stop()
    text = log.read_text()
    assert " Booted into rootfs.0 (A)\n" in text, text
    assert f"boot ID: {boot_id}" in text and "bundle hash: unknown" in text
    assert text.rstrip().endswith("Service started")
    assert system.status()["system"]["boot-id"] == boot_id
    start_and_stop()
    assert log.read_text()[len(text):].rstrip().endswith(": Service restarted")
    assert log.read_text().count("Booted into") == 1
    # as if rebooted: another boot ID on record
    central = system.data / "central.raucs"
    central.write_text(central.read_text().replace(boot_id, "0" * 8 + boot_id[8:]))
    start_and_stop()
    assert log.read_text().count("Booted into rootfs.0 (A)") == 2


# ---- polling ([polling], de.pengutronix.rauc.Poller) ----

POLLER = "de.pengutronix.rauc.Poller"
FAST_POLLING = {"ROTA_POLL_TIME_SCALE": "100"}  # interval 60 s → 0.6 s, tick 0.1 s, Poll() 0.3 s


def polling_conf(system, tmp_path, url, extra="", version="1.0", slots=None):
    h = tmp_path / "system-info.sh"
    h.write_text(f"#!/bin/sh\necho RAUC_SYSTEM_VERSION={version}\n")
    h.chmod(0o755)
    system.write_conf(sections=f"[handlers]\nsystem-info={h}\n\n[polling]\nurl={url}\ninterval-sec=60\n{extra}\n",
                      slots=slots)


def served_bundle(maker, version):
    from hawkbit_server import DdiServer
    ddi = DdiServer(token=None)
    ddi.deploy(1, "b.raucb", pathlib.Path(small_bundle(maker, version=version)).read_bytes())
    return ddi, f"{ddi.base}/download/b.raucb"


def poller_status(svc):
    return {str(k): v for k, v in svc.props.Get(POLLER, "Status").items()}


def wait_for(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_polling_installs_a_higher_version_and_reboots(system, bus, maker, tmp_path):
    ddi, url = served_bundle(maker, "2.0")
    rebooted = tmp_path / "rebooted"
    polling_conf(system, tmp_path, url, f"install-criteria=higher-semver\nreboot-criteria=updated-slots\n"
                                        f"reboot-cmd=touch {rebooted}")
    svc = Service(system, bus, tmp_path / "service.log", env=FAST_POLLING)
    try:
        time.sleep(1.5)  # a few intervals: no poll before the booted slot is marked good
        assert int(poller_status(svc)["attempt-count"]) == 0
        svc.iface.Mark("good", "booted")
        wait_for(rebooted.exists, "the reboot command")
        assert system.primary() == "B"
        st = poller_status(svc)
        assert bool(st["update-available"]) is True
        assert str(st["summary"]) == "update candidate found: higher semantic version"
        assert len(str(st["attempted-hash"])) == 64
        assert str(st["manifest"]["manifest-hash"]) == str(st["attempted-hash"])
        assert int(st["recent-error-count"]) == 0 and int(st["attempt-count"]) >= 1
        assert int(svc.props.Get(POLLER, "NextPoll")) == 0  # no polls after the reboot started
    finally:
        svc.stop()
        ddi.stop()


def test_polling_same_version_is_no_candidate(system, bus, maker, tmp_path):
    ddi, url = served_bundle(maker, "1.0")
    polling_conf(system, tmp_path, url, "install-criteria=higher-semver")
    svc = Service(system, bus, tmp_path / "service.log", env=FAST_POLLING)
    try:
        svc.iface.Mark("good", "booted")
        wait_for(lambda: int(poller_status(svc)["attempt-count"]) >= 2, "two polls")
        st = poller_status(svc)
        assert str(st["summary"]) == "no update candidate available" and not bool(st["update-available"])
        assert str(st["attempted-hash"]) == ""
        assert system.primary() == "A"
        assert int(svc.props.Get(POLLER, "NextPoll")) > 0
    finally:
        svc.stop()
        ddi.stop()


def test_polling_waits_for_inhibit_files_and_counts_errors(system, bus, maker, tmp_path):
    # A 404 fails at once; a closed port would be retried with backoff (the
    # service ignores ROTA_HTTP_RETRY_DELAY_MS), taking ~15 s per poll on
    # a timeout of 30 and delaying the stop, which waits for the fetch.
    from hawkbit_server import DdiServer
    ddi = DdiServer(token=None)
    inhibit = tmp_path / "inhibit"
    inhibit.write_text("")
    polling_conf(system, tmp_path, f"{ddi.base}/download/nothing.raucb", f"inhibit-files={inhibit}")
    svc = Service(system, bus, tmp_path / "service.log", env=FAST_POLLING)
    try:
        svc.iface.Mark("good", "booted")
        time.sleep(1.5)
        assert int(poller_status(svc)["attempt-count"]) == 0
        inhibit.unlink()
        wait_for(lambda: int(poller_status(svc)["recent-error-count"]) >= 2, "two failed polls")
        st = poller_status(svc)
        assert "not found" in str(st["last-error-message"]) and int(st["last-success-time"]) == 0
    finally:
        svc.stop()
        ddi.stop()


def test_poller_interface_only_with_polling(service):
    xml = dbus.Interface(service.obj, "org.freedesktop.DBus.Introspectable").Introspect()
    assert POLLER not in xml and IFACE in xml
    with pytest.raises(dbus.DBusException):
        dbus.Interface(service.obj, POLLER).Poll()


def test_poll_method_brings_the_next_poll_forward(system, bus, maker, tmp_path):
    """Poll() schedules a poll in about 30 s (0.3 s scaled), much sooner
    than the interval."""
    ddi, url = served_bundle(maker, "1.0")
    polling_conf(system, tmp_path, url, "interval-sec=6000")  # 60 s scaled: no poll on its own here
    svc = Service(system, bus, tmp_path / "service.log", env=FAST_POLLING)
    try:
        svc.iface.Mark("good", "booted")
        poller = dbus.Interface(svc.obj, POLLER)
        assert POLLER in dbus.Interface(svc.obj, "org.freedesktop.DBus.Introspectable").Introspect()
        before = int(svc.props.Get(POLLER, "NextPoll"))
        poller.Poll()
        assert int(svc.props.Get(POLLER, "NextPoll")) < before
        wait_for(lambda: int(poller_status(svc)["attempt-count"]) == 1, "the requested poll", timeout=10)
    finally:
        svc.stop()
        ddi.stop()


def test_polling_needs_a_system_version(system, bus, tmp_path):
    system.write_conf(sections="[polling]\nurl=http://127.0.0.1:9/b.raucb\ninterval-sec=60\n")
    p = subprocess.run([str(ROTA), f"--conf={system.conf}", "service"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **system.env(), **bus.env})
    assert p.returncode == 1
    assert "system version not provided via system-info handler" in p.stderr


@pytest.mark.parametrize("section, match", [
    ("[polling]\ninterval-sec=60", "[polling] url: Polling URL must be set"),
    ("[polling]\nurl=ftp://x/b.raucb", "[polling] url: Polling URL must use HTTP(S)"),
    ("[polling]\nurl=http://x/b\ninterval-sec=59", "[polling] interval-sec: '59' is not an integer >= 60"),
    ("[polling]\nurl=http://x/b\ninterval-sec=60\nmax-interval-sec=60", "max-interval-sec: must be larger than interval-sec"),
    ("[polling]\nurl=http://x/b\ninstall-criteria=always;sometimes",
     "Unsupported list item 'sometimes' for key 'install-criteria' in [polling]"),
    ("[polling]\nurl=http://x/b\ncandidate-criteria=always",
     "Unsupported list item 'always' for key 'candidate-criteria' in [polling]"),
])
def test_polling_config_errors(system, section, match):
    system.write_conf(sections=section)
    p = subprocess.run([str(ROTA), f"--conf={system.conf}", "status"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **system.env()})
    assert p.returncode == 1 and match in p.stderr, p.stderr


def test_marks_through_the_service_are_logged_once(system, bus, tmp_path):
    """`rota status mark-*` with the service running is carried out (and
    logged) by the service alone; prevent-late-fallback's mark-bad of the
    other slot is logged too."""
    log = tmp_path / "mark.log"
    system.write_conf(system_extra="prevent-late-fallback=true\n",
                      sections=f"[log.m]\nfilename={log}\nformat=short\nevents=mark\n")
    svc = Service(system, bus, tmp_path / "service.log")
    try:
        p = rota_client(system, bus, "status", "mark-good")
        assert p.returncode == 0, p.stderr
        p = rota_client(system, bus, "status", "mark-active", "other")
        assert p.returncode == 0, p.stderr
        msgs = [l.split(": ", 1)[1] for l in log.read_text().splitlines()]
        assert msgs == ["Marked slot rootfs.0 as good", "Marked slot rootfs.1 as bad",
                        "Marked slot rootfs.1 as active"], msgs
    finally:
        svc.stop()


def test_polling_reboots_only_when_a_slot_was_written(system, bus, maker, tmp_path):
    """reboot-criteria=updated-slots looks at what the installation wrote:
    a target slot that already holds the image (install-same=false) is
    skipped, so the polled install succeeds without a reboot."""
    ddi, url = served_bundle(maker, "2.0")
    bundle_file = tmp_path / "same.raucb"
    bundle_file.write_bytes(ddi.deployment["data"])
    rebooted = tmp_path / "rebooted"
    slots = {"rootfs.0": {"device": system.slot_file("rootfs.0"), "bootname": "A"},
             "rootfs.1": {"device": system.slot_file("rootfs.1"), "bootname": "B", "install-same": "false"}}
    polling_conf(system, tmp_path, url, f"install-criteria=higher-semver\nreboot-criteria=updated-slots\n"
                                        f"reboot-cmd=touch {rebooted}", slots=slots)
    system.install(bundle_file)  # rootfs.1 holds 2.0 already
    system.reset_grub()          # still running A
    svc = Service(system, bus, tmp_path / "service.log", env=FAST_POLLING)
    try:
        svc.iface.Mark("good", "booted")
        wait_for(lambda: str(poller_status(svc)["attempted-hash"]) != "" and svc.prop("Operation") == "idle"
                 and int(svc.props.Get(POLLER, "NextPoll")) > 0, "the polled installation")
        time.sleep(0.5)
        assert not rebooted.exists()
        assert "Skipping slot rootfs.1" in (tmp_path / "service.log").read_text()
    finally:
        svc.stop()
        ddi.stop()
