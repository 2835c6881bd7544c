"""Artifact repositories (install-and-runtime.md §9, system-conf.md §9a):
`[artifacts.<repo>]` directories of `files` or `trees`, filled by
`[image.<repo>/<name>]` images beside the A/B slots. Each test checks the
repository on disk: instances `.artifact-<name>-<sha256>`, the relative
links that make them active, what pruning leaves, and that a failed install
changes no link."""
import hashlib
import io
import json
import os
import pathlib
import random
import tarfile

import pytest

from conftest import run
from system_fixture import bundle, system  # noqa: F401 (fixtures)
from system_fixture import random_image

IMG = 64 * 1024


def blob(seed, n=16384):
    """Incompressible bytes: a bundle's squashfs must exceed 4 KiB."""
    return random.Random(seed).randbytes(n)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tar_bytes(files):
    """A .tar.gz holding {relative path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def repos(system, tmp_path):
    """A `files` repo "apps" and a `trees` repo "trees"."""
    apps, trees = tmp_path / "repo-apps", tmp_path / "repo-trees"
    apps.mkdir()
    trees.mkdir()
    system.write_conf(sections=f"""
        [artifacts.apps]
        path={apps}
        type=files
        description=Applications

        [artifacts.trees]
        path={trees}
        type=trees
    """)
    return {"apps": apps, "trees": trees}


@pytest.fixture
def rootfs(tmp_path):
    return random_image(tmp_path / "rootfs.img", IMG, 3)


def active(repo, name):
    """The instance a link makes active: (its digest, its path), or None."""
    link = repo / name
    if not link.is_symlink():
        return None
    target = os.readlink(link)
    assert not os.path.isabs(target) and "/" not in target, f"link must be relative to the repo: {target}"
    prefix = f".artifact-{name}-"
    assert target.startswith(prefix), target
    return target[len(prefix):], repo / target


def entries(repo):
    return sorted(p.name for p in repo.iterdir())


def test_files_and_trees_installed_beside_the_slot(system, bundle, repos, rootfs):
    app = b"#!/bin/sh\necho hello\n" * 100
    tree = tar_bytes({"bin/tool": b"tool v1\n", "etc/tool.conf": b"x=1\n"})
    b = bundle({"rootfs": ("rootfs.img", rootfs), "apps/hello": ("hello.bin", app),
                "trees/tool": ("tool.tar.gz", tree)})
    r = system.install(b)
    assert "Updating artifact 'hello' in repo 'apps'" in r.stdout + r.stderr
    digest, path = active(repos["apps"], "hello")
    assert digest == sha256(app) and path.read_bytes() == app
    digest, path = active(repos["trees"], "tool")
    assert digest == sha256(tree)  # a tree is named after its archive's digest
    assert (path / "bin/tool").read_bytes() == b"tool v1\n"
    assert (path / "etc/tool.conf").read_bytes() == b"x=1\n"
    assert (repos["apps"] / "hello").read_bytes() == app  # usable through the link
    assert entries(repos["apps"]) == [f".artifact-hello-{sha256(app)}", "hello"]
    # the slot was installed too, and artifacts have no slot status
    assert system.device("rootfs.1").read_bytes()[:IMG] == rootfs
    assert system.primary() == "B"
    assert not any(s.startswith("slot.apps") for s in system.status().sections())


def test_new_version_replaces_link_and_prunes_old_instance(system, bundle, repos, rootfs):
    v1, v2 = blob(1), blob(2)
    system.install(bundle({"apps/hello": ("hello.bin", v1)}))
    old = active(repos["apps"], "hello")[1]
    system.install(bundle({"apps/hello": ("hello.bin", v2)}))
    digest, path = active(repos["apps"], "hello")
    assert digest == sha256(v2) and path.read_bytes() == v2
    assert not old.exists()
    assert entries(repos["apps"]) == [f".artifact-hello-{sha256(v2)}", "hello"]


def test_same_artifact_is_reused(system, bundle, repos):
    app = blob(3)
    system.install(bundle({"apps/hello": ("hello.bin", app)}))
    inode = active(repos["apps"], "hello")[1].stat().st_ino
    r = system.install(bundle({"apps/hello": ("hello.bin", app)}, version="2.0"))
    assert "Reusing artifact image in repo 'apps'" in r.stdout + r.stderr, r.stdout + r.stderr
    assert active(repos["apps"], "hello")[1].stat().st_ino == inode  # not written again


def test_artifacts_missing_from_bundle_are_deactivated_per_repo(system, bundle, repos):
    a, c = blob(4), blob(5)
    tree = tar_bytes({"f": b"1"})
    system.install(bundle({"apps/a": ("a.bin", a), "apps/c": ("c.bin", c), "trees/t": ("t.tar.gz", tree)}))
    # the next bundle ships only "a" for apps, nothing for trees
    system.install(bundle({"apps/a": ("a.bin", a)}, version="2.0"))
    assert active(repos["apps"], "a")[0] == sha256(a)
    assert active(repos["apps"], "c") is None
    assert not any(e.startswith(".artifact-c-") for e in entries(repos["apps"]))  # pruned
    assert active(repos["trees"], "t")[0] == sha256(tree)  # a repo the bundle does not mention stays


def test_prune_removes_strays_and_keeps_instances_in_use(system, bundle, repos):
    apps = repos["apps"]
    app = blob(6)
    unused = apps / (".artifact-old-" + "ab" * 32)
    unused.write_bytes(b"old instance nobody links to")
    busy = apps / (".artifact-busy-" + "cd" * 32)
    busy.write_bytes(b"open by a running app")
    (apps / "junk.txt").write_text("not a link")
    (apps / (".artifact-x-" + "ef" * 32 + ".tmp")).mkdir()  # an interrupted install's
    (apps / ".link-x").symlink_to("nowhere")
    with open(busy, "rb"):
        r = system.install(bundle({"apps/hello": ("hello.bin", app)}))
        assert "Skipping removal of artifact 'busy'" in r.stdout + r.stderr, r.stdout + r.stderr
    assert entries(apps) == sorted([busy.name, f".artifact-hello-{sha256(app)}", "hello"])
    # no longer open: the next install removes it
    system.install(bundle({"apps/hello": ("hello.bin", app)}, version="2"))
    assert entries(apps) == sorted([f".artifact-hello-{sha256(app)}", "hello"])


def test_unreferenced_instance_is_never_reused(system, bundle, repos):
    """Only what a link points at is trusted: an instance nobody links to
    (left by a failed install, or put there) is pruned before planning, so
    the bundle's image is copied afresh even if the name and digest match."""
    app = blob(16)
    forged = repos["apps"] / f".artifact-hello-{sha256(app)}"
    forged.write_bytes(b"not what the digest says")
    r = system.install(bundle({"apps/hello": ("hello.bin", app)}))
    assert "Copying artifact image to repo 'apps'" in r.stdout + r.stderr
    assert active(repos["apps"], "hello")[1].read_bytes() == app

def test_failed_artifact_changes_no_link(system, bundle, repos, rootfs):
    """The second artifact fails while extracting: the first one's new
    instance is written but never activated (and pruned right away, not left
    taking space), nothing half-written stays, and the booted slot remains
    primary."""
    v1, v2 = blob(7), blob(8)
    system.install(bundle({"apps/hello": ("hello.bin", v1)}))
    system.reset_grub()
    bad = bundle({"rootfs": ("rootfs.img", rootfs), "apps/hello": ("hello.bin", v2),
                  "trees/tool": ("tool.tar", b"not a tar archive" + blob(9))}, version="2")
    system.fails("install", bad, match="Failed to install artifact trees/tool: ")
    assert active(repos["apps"], "hello")[0] == sha256(v1)
    assert active(repos["trees"], "tool") is None
    assert entries(repos["trees"]) == []
    assert entries(repos["apps"]) == [f".artifact-hello-{sha256(v1)}", "hello"]
    assert system.primary() == "A"


def test_trees_repo_refuses_non_tar_before_writing(system, bundle, repos, rootfs):
    before = system.grub()
    b = bundle({"rootfs": ("rootfs.img", rootfs), "trees/tool": ("tool.bin", blob(10))})
    system.fails("install", b, match="Artifact image 'trees/tool' (tool.bin) for repo 'trees' of type 'trees' must be a tar archive")
    assert system.grub() == before
    assert system.device("rootfs.1").read_bytes() == b"\0" * len(system.device("rootfs.1").read_bytes())


def test_unknown_repo_refused(system, bundle, repos):
    b = bundle({"nosuch/hello": ("hello.bin", blob(11))})
    system.fails("install", b, match="No target repo 'nosuch' for artifact image 'hello' found")


def test_missing_repo_directory_refused(system, bundle, repos):
    repos["apps"].rmdir()
    before = system.grub()
    b = bundle({"apps/hello": ("hello.bin", blob(12))})
    system.fails("install", b, match=f"Artifact repo 'apps': path '{repos['apps']}' is not an existing directory")
    assert system.grub() == before


@pytest.mark.parametrize("section, match", [
    ("[artifacts.a.b]\npath=/tmp\ntype=files", "Invalid artifacts repo format: [artifacts.a.b]"),
    ("[artifacts.a]\npath=/tmp\ntype=composefs",
     "[artifacts.a] type: Unsupported artifacts repo type 'composefs' for repo a selected in system config"),
    ("[artifacts.a]\npath=/tmp\ntype=files\nparent-class=rootfs",
     "[artifacts.a] parent-class: Parent slot classes are not yet supported for artifact repos"),
    ("[artifacts.a]\ntype=files", "[artifacts.a] path: missing (required)"),
    ("[artifacts.a]\npath=/tmp", "[artifacts.a] type: missing (required)"),
    ("[artifacts.rootfs]\npath=/tmp\ntype=files", "Existing slot class 'rootfs' cannot be used as artifact repo name!"),
])
def test_config_errors(system, section, match):
    system.write_conf(sections=section)
    r = system.rota("status", ok=False)
    assert r.returncode == 1
    assert match in r.error_line(), r.error_line()


def test_status_shows_repositories(system, bundle, repos):
    app = blob(6)
    system.install(bundle({"apps/hello": ("hello.bin", app)}))
    (repos["apps"] / (".artifact-hello-" + "ab" * 32)).write_bytes(b"inactive one")
    out = system.rota("status").stdout
    assert "=== Artifact Repo States ===" in out
    assert f"[apps] ({repos['apps']})" in out
    block = out[out.index("[apps]"):]
    assert "type: files" in block and "[hello]" in block
    assert f"checksum: {sha256(app)}" in block
    assert "[trees]" in out and "artifacts: (none)" in out[out.index("[trees]"):]
    j = json.loads(system.rota("status", "--output-format=json").stdout)
    by_name = {r["name"]: r for r in j["artifact-repositories"]}
    assert by_name["apps"]["type"] == "files" and by_name["apps"]["description"] == "Applications"
    inst = {i["checksum"]: i["references"] for a in by_name["apps"]["artifacts"] for i in a["instances"]}
    assert inst == {sha256(app): [""], "ab" * 32: []}
    assert by_name["trees"]["artifacts"] == []
    sh = dict(l.split("=", 1) for l in system.rota("status", "--output-format=shell").stdout.splitlines() if "=" in l)
    assert sh["RAUC_REPOS"] == "'1 2'"
    assert sh["RAUC_REPO_NAME_1"] == "'apps'" and sh["RAUC_REPO_TYPE_1"] == "'files'"
    assert sh["RAUC_REPO_ARTIFACT_NAME_1_1"] == "'hello'"
    actives = {sh[f"RAUC_REPO_ARTIFACT_INSTANCE_CHECKSUM_1_1_{i}"].strip("'"): sh[f"RAUC_REPO_ARTIFACT_INSTANCE_ACTIVE_1_1_{i}"]
               for i in (1, 2)}
    assert actives == {sha256(app): "'1'", "ab" * 32: "'0'"}


def test_no_repositories_no_artifact_section(system):
    """As RAUC (HEAD): readable has no section, shell still says
    RAUC_REPOS='' and json has an empty list."""
    assert "Artifact Repo" not in system.rota("status").stdout
    assert json.loads(system.rota("status", "--output-format=json").stdout)["artifact-repositories"] == []
    lines = system.rota("status", "--output-format=shell").stdout.splitlines()
    assert lines[-1] == "RAUC_REPOS=''"
    assert not any(line.startswith("RAUC_REPO_") for line in lines)


REMOVE_REPO_HOOK = """\
#!/bin/sh
[ "$1" = slot-post-install ] && rmdir "$GONE_REPO"
exit 0
"""


def test_prune_failure_after_commit_still_activates(system, bundle, repos, rootfs):
    """Once the links have switched, the install goes on to activate the
    slot: a repository that cannot be pruned afterwards (here its directory
    vanished during the install) only warns, else the new artifacts would
    run with the old slot still primary."""
    app = blob(13)
    b = bundle({"rootfs": ("rootfs.img", rootfs), "apps/hello": ("hello.bin", app)}, hooks_file="hook.sh",
               files={"hook.sh": (REMOVE_REPO_HOOK, 0o755)}, image_keys={"rootfs": "hooks=post-install"})
    r = system.install(b, env={"GONE_REPO": str(repos["trees"])})
    assert not repos["trees"].exists()
    assert "Pruning after the install failed: Artifact repo 'trees'" in r.stderr, r.stderr
    assert active(repos["apps"], "hello")[0] == sha256(app)
    assert system.primary() == "B"


def test_planted_symlinks_are_removed_not_followed(system, bundle, repos, tmp_path):
    """Someone put symlinks where rota writes: an interrupted install's
    `.tmp` and an instance path, pointing outside the repository. They are
    removed as strays and replaced, and nothing outside is touched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    app, tree = blob(14), tar_bytes({"f": b"1"})
    (repos["trees"] / f".artifact-tool-{sha256(tree)}.tmp").symlink_to(outside)
    (repos["apps"] / f".artifact-hello-{sha256(app)}.tmp").symlink_to(outside / "precious")
    (repos["apps"] / f".artifact-hello-{sha256(app)}").symlink_to(outside)
    system.install(bundle({"apps/hello": ("hello.bin", app), "trees/tool": ("tool.tar.gz", tree)}))
    assert sorted(os.listdir(outside)) == ["precious"]
    assert (outside / "precious").read_text() == "keep"
    digest, path = active(repos["apps"], "hello")
    assert digest == sha256(app) and not path.is_symlink() and path.read_bytes() == app
    digest, path = active(repos["trees"], "tool")
    assert not path.is_symlink() and (path / "f").read_bytes() == b"1"
    assert entries(repos["apps"]) == [f".artifact-hello-{sha256(app)}", "hello"]


def tar_with(members):
    """An uncompressed tar of (kind, name, data-or-target) entries, after
    incompressible padding (a bundle's squashfs must exceed 4 KiB)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for kind, name, value in [("file", "pad", blob(15))] + members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tf.addfile(info, io.BytesIO(value))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = value
                tf.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("members", [
    [("sym", "evil", "{out}"), ("file", "evil/x", b"pwn")],
    [("sym", "evil", "../../../../../../../../{out}"), ("file", "evil/x", b"pwn")],
    [("file", "../x", b"pwn")],
    [("hard", "h", "../../../../../../../../{out}/kept")],
], ids=["absolute-symlink", "relative-symlink", "dotdot", "hardlink-out"])
def test_tree_cannot_write_outside_its_instance(system, bundle, repos, tmp_path, members):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept").write_text("keep")
    t = tar_with([(k, n, v.format(out=out) if isinstance(v, str) else v) for k, n, v in members])
    system.fails("install", bundle({"trees/tool": ("tool.tar", t)}), match="Failed to install artifact trees/tool: ")
    assert sorted(os.listdir(out)) == ["kept"] and (out / "kept").read_text() == "keep"
    assert os.stat(out / "kept").st_nlink == 1
    assert entries(repos["trees"]) == []


def test_too_long_artifact_name_refused_before_writing(system, bundle, repos, rootfs):
    """Instance names add 75 bytes to the artifact's name: one that would not
    fit a directory entry is refused while planning, before the slot is
    written."""
    name = "a" * 190
    before = system.grub()
    b = bundle({"rootfs": ("rootfs.img", rootfs), f"apps/{name}": ("app.bin", blob(13))})
    system.fails("install", b, match=f"Artifact name 'apps/{name}' is too long")
    assert system.grub() == before
    assert system.device("rootfs.1").read_bytes() == b"\0" * len(system.device("rootfs.1").read_bytes())
    assert entries(repos["apps"]) == []
