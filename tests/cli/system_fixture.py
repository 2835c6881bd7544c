"""A file-backed A/B target system for the install suites: system.conf, slot
files, a kernel command line file, a real grubenv (grub-editenv), a data
directory with central.raucs, and helpers to build bundles for it."""
import configparser
import os
import pathlib
import random
import shutil
import subprocess
import textwrap

import pytest

from conftest import run, signer_args

COMPATIBLE = "rota-it"
SLOT_SIZE = 1024 * 1024


def grub_list(path):
    """The variables of a grubenv, read with the real grub-editenv."""
    out = subprocess.run(["grub-editenv", str(path), "list"], capture_output=True, text=True, check=True).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def grub_primary(env, bootnames=("A", "B")):
    """RAUC's grub semantics: first bootname in ORDER with OK=1 and TRY=0."""
    for bn in env.get("ORDER", "").split():
        if bn in bootnames and env.get(f"{bn}_OK") == "1" and env.get(f"{bn}_TRY") == "0":
            return bn
    return None


def parse_keyfile(path):
    """Parses a GKeyFile-style file strictly (duplicates, junk lines fail)."""
    cp = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    cp.optionxform = str
    cp.read_string(pathlib.Path(path).read_text())
    return cp


def random_image(path, size, seed):
    data = random.Random(seed).randbytes(size)
    pathlib.Path(path).write_bytes(data)
    return data


class System:
    """One target system below root. Slots are plain files (raw by default)."""

    def __init__(self, root, pki):
        self.root = pathlib.Path(root)
        self.pki = pki
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "system.conf"
        self.cmdline = self.root / "cmdline"
        self.grubenv = self.root / "grubenv"
        self.data = self.root / "data"
        self.mnt = self.root / "mnt"
        self.slots = {}
        self.boot("A")
        self.reset_grub()

    # ---- setup ----

    def slot_file(self, name, size=SLOT_SIZE, fill=b"\0"):
        p = self.root / f"{name}.img"
        p.write_bytes(fill * size)
        return p

    def reset_grub(self, order="A B"):
        if self.grubenv.exists():
            self.grubenv.unlink()
        subprocess.run(["grub-editenv", str(self.grubenv), "create"], check=True)
        subprocess.run(["grub-editenv", str(self.grubenv), "set", f"ORDER={order}", "A_OK=1", "A_TRY=0", "B_OK=1",
                        "B_TRY=0"], check=True)

    def boot(self, bootname):
        self.cmdline.write_text(f"console=ttyS0 rauc.slot={bootname} quiet\n")

    def write_conf(self, system_extra="", sections="", slots=None, bootloader="grub", keyring=True):
        """slots: {"rootfs.0": {"device": path, "bootname": "A", ...}}; default: raw A/B."""
        if slots is None:
            slots = {"rootfs.0": {"device": self.slot_file("rootfs.0"), "bootname": "A"},
                     "rootfs.1": {"device": self.slot_file("rootfs.1"), "bootname": "B"}}
        self.slots = {n: dict(v) for n, v in slots.items()}
        lines = ["[system]", f"compatible={COMPATIBLE}", f"bootloader={bootloader}", f"mountprefix={self.mnt}",
                 f"data-directory={self.data}"]
        if bootloader == "grub":
            lines.append(f"grubenv={self.grubenv}")
        lines += [textwrap.dedent(system_extra).strip(), ""]
        if keyring:
            lines += ["[keyring]", f"path={self.pki / 'keyring.pem'}", ""]
        lines += [textwrap.dedent(sections).strip(), ""]
        for name, keys in slots.items():
            lines.append(f"[slot.{name}]")
            keys = dict(keys)
            keys.setdefault("type", "raw")
            lines += [f"{k}={v}" for k, v in keys.items()]
            lines.append("")
        self.conf.write_text("\n".join(lines))
        return self.conf

    def device(self, slot):
        return pathlib.Path(self.slots[slot]["device"])

    # ---- running ----

    def env(self, extra=None):
        return {"ROTA_CMDLINE_FILE": str(self.cmdline), **(extra or {})}

    def rota(self, *args, ok=True, env=None):
        return run(f"--conf={self.conf}", *args, ok=ok, env=self.env(env))

    def fails(self, *args, match, env=None):
        r = self.rota(*args, ok=False, env=env)
        assert r.returncode == 1, f"exit {r.returncode}, stdout: {r.stdout}\nstderr: {r.stderr}"
        line = r.error_line()
        assert match in line, f"{match!r} not in {line!r}"
        return r

    def install(self, bundle, *args, ok=True, env=None):
        return self.rota("install", *args, bundle, ok=ok, env=env)

    # ---- inspecting ----

    def grub(self):
        return grub_list(self.grubenv)

    def primary(self):
        return grub_primary(self.grub())

    def status(self):
        return parse_keyfile(self.data / "central.raucs")

    def slot_status(self, slot):
        st = self.status()
        return dict(st[f"slot.{slot}"]) if st.has_section(f"slot.{slot}") else {}


@pytest.fixture
def system(tmp_path, pki):
    s = System(tmp_path / "sys", pki)
    s.write_conf()
    return s


class BundleMaker:
    """Builds bundles from an input dir with manifest, images and hook files."""

    def __init__(self, root, pki):
        self.root = pathlib.Path(root)
        self.pki = pki
        self.n = 0

    def __call__(self, images, version="1.0", compatible=COMPATIBLE, fmt="verity", extra="", files=None,
                 hooks_file=None, name=None, image_keys=None):
        """images: {slotclass: (filename, bytes)}; files: {name: (text, mode)};
        image_keys: {slotclass: "hooks=pre-install;post-install\\n"}."""
        self.n += 1
        d = self.root / f"in{self.n}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        lines = ["[update]", f"compatible={compatible}"]
        if version is not None:
            lines.append(f"version={version}")
        lines.append("")
        if fmt:
            lines += ["[bundle]", f"format={fmt}", ""]
        if hooks_file:
            lines += ["[hooks]", f"filename={hooks_file}", ""]
        for sclass, (filename, data) in images.items():
            src = d / filename
            if isinstance(data, (str, pathlib.Path)) and pathlib.Path(data).exists():
                os.link(data, src) if os.stat(data).st_dev == os.stat(d).st_dev else shutil.copy(data, src)
            else:
                src.write_bytes(data)
            lines += [f"[image.{sclass}]", f"filename={filename}"]
            if image_keys and sclass in image_keys:
                lines.append(image_keys[sclass].strip())
            lines.append("")
        for fname, (text, mode) in (files or {}).items():
            p = d / fname
            p.write_text(textwrap.dedent(text).lstrip())
            p.chmod(mode)
        (d / "manifest.raucm").write_text("\n".join(lines) + "\n" + textwrap.dedent(extra))
        out = self.root / (name or f"b{self.n}.raucb")
        run("bundle", *signer_args(self.pki), d, out)
        return out


@pytest.fixture
def bundle(tmp_path, pki):
    return BundleMaker(tmp_path / "bundles", pki)
