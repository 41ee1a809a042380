"""The picohub .deb as built by the real dpkg-buildpackage: lintian, contents,
reproducibility, and the build refusing versions a release cannot carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian.debfile import DebFile

from picohub.errors import PicohubError, UsageError
from picohub.process import run
from picohub_release.build import Build, build_debs
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
    (deb,) = release_a.debs
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
