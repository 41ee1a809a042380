"""The picohub .deb as built by the real dpkg-buildpackage: lintian, contents,
reproducibility, and the build refusing versions a release cannot carry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from debian.debfile import DebFile

from picohub.errors import PicohubError, UsageError
from picohub.firmware.manifest import from_json
from picohub.firmware.uf2 import board, validate
from picohub.process import run
from picohub_release.build import Build, build_debs
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import SOURCE, need_tools


def _members(deb: Path) -> list[str]:
    return DebFile(str(deb)).data.tgz().getnames()


def test_lintian_is_clean(release_a: Build) -> None:
    need_tools("lintian")
    result = run(["lintian", "--fail-on", "error,warning", *release_a.debs], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_ships_the_app_units_and_user_but_not_the_release_tool(
    release_a: Build,
) -> None:
    deb = release_a.deb("picohub")
    names = _members(deb)
    for wanted in (
        "./lib/systemd/system/picohub.service",
        "./lib/systemd/system/picohub.socket",
        "./usr/lib/sysusers.d/picohub.conf",
        "./usr/lib/python3/dist-packages/picohub/web/wsgi.py",
    ):
        assert wanted in names
    assert not [name for name in names if "picohub_release" in name or "__pycache__" in name]
    control = DebFile(str(deb)).debcontrol()
    assert control["Architecture"] == "all"
    depends = control["Depends"]
    assert "python3-flask" in depends and "gunicorn" in depends
    assert "systemd" in depends  # systemd-sysusers creates the user in postinst
    # The release keys are the keyring package's alone, and picohub cannot go without them.
    assert "picohub-archive-keyring" in depends
    assert not [name for name in names if "/keyrings/" in name]


def test_the_keyring_package_holds_the_release_keys_and_nothing_else(
    release_a: Build,
) -> None:
    package = DebFile(str(release_a.deb("picohub-archive-keyring")))
    members = package.data.tgz().getmembers()
    files = [m.name for m in members if m.isfile() and not m.name.startswith("./usr/share/doc/")]
    assert files == ["./usr/share/keyrings/picohub-archive-keyring.gpg"]
    control = package.debcontrol()
    assert (control["Architecture"], control["Multi-Arch"]) == ("all", "foreign")
    keyring = package.data.get_content("usr/share/keyrings/picohub-archive-keyring.gpg")
    assert keyring == local_signer(LOCAL_KEY_DIR).public_key(armor=False)
    scripts = ("preinst", "postinst", "prerm", "postrm")
    assert not [name for name in scripts if package.control.has_file(name)]


def test_the_web_package_ships_the_site_and_hashed_assets(release_a: Build) -> None:
    deb = release_a.deb("picohub-web")
    names = _members(deb)
    assert "./etc/nginx/sites-available/picohub" in names
    assert "./usr/share/picohub/web/index.html" in names
    assert [n for n in names if n.startswith("./usr/share/picohub/web/assets/app.")]
    assert "./usr/share/picohub/web/assets/app.js" not in names
    assert "/etc/nginx/sites-available/picohub" in DebFile(str(deb)).control.get_content(
        "conffiles", encoding="utf-8"
    )
    depends = DebFile(str(deb)).debcontrol()["Depends"]
    assert "nginx" in depends and f"picohub (>= {release_a.version})" in depends


def test_the_firmware_package_ships_an_image_its_manifest_describes(release_a: Build) -> None:
    package = DebFile(str(release_a.deb("picohub-firmware")))
    content = package.data.get_content("usr/share/picohub/firmware/firmware.uf2")
    manifest = from_json(
        package.data.get_content("usr/share/picohub/firmware/manifest.json", encoding="utf-8")
    )
    assert manifest.size == len(content)
    assert manifest.sha256 == hashlib.sha256(content).hexdigest()
    assert manifest.package_version == release_a.version
    assert manifest.test_image  # no real image was given to this build
    validate(content, board(manifest.board))
    # Upgrading the firmware alone must not touch the app: no maintainer scripts.
    scripts = ("preinst", "postinst", "prerm", "postrm", "triggers")
    assert not [name for name in scripts if package.control.has_file(name)]


def test_two_builds_of_the_same_tree_are_byte_identical(release_a: Build, tmp_path: Path) -> None:
    again = build_debs(SOURCE, tmp_path / "dist", tmp_path / "work")
    assert [deb.name for deb in again.debs] == [deb.name for deb in release_a.debs]
    for first, second in zip(release_a.debs, again.debs, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_a_version_github_would_rename_is_refused_before_building(tmp_path: Path) -> None:
    need_tools("git")
    with pytest.raises(UsageError, match="GitHub renames"):
        build_debs(SOURCE, tmp_path / "dist", tmp_path / "work", version="9.9~rc1")
    assert not (tmp_path / "dist").exists()


def test_a_python_version_that_disagrees_with_the_changelog_is_refused(tmp_path: Path) -> None:
    need_tools("git")
    # A copy of the tree whose __version__ was bumped without a changelog entry.
    copy = tmp_path / "tree"
    run(["git", "clone", "-q", "--no-hardlinks", SOURCE, copy])
    init = copy / "src" / "picohub" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9'))
    with pytest.raises(PicohubError, match="debian/changelog says"):
        build_debs(copy, tmp_path / "dist", tmp_path / "work")
