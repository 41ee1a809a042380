"""Replacing a file atomically (:mod:`picohub.files`), on real files."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path

import pytest

from picohub.files import atomic_file, rename_into_place, write_atomically


class Boom(Exception):
    pass


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_write_atomically_writes_then_replaces_the_text(tmp_path: Path) -> None:
    target = tmp_path / "new" / "status.json"
    write_atomically(target, "first\n")
    assert target.read_text() == "first\n"
    write_atomically(target, "second, ünïcode\n")
    assert target.read_text(encoding="utf-8") == "second, ünïcode\n"
    assert _names(target.parent) == ["status.json"]


def test_the_mode_is_set_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_atomically(tmp_path / "public", "x", 0o644)
        with atomic_file(tmp_path / "secret", mode=0o600) as stream:
            stream.write(b"x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "public") == 0o644
    assert _mode(tmp_path / "secret") == 0o600


def test_a_replaced_file_gets_the_new_mode(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("old")
    target.chmod(0o666)
    write_atomically(target, "new", 0o600)
    assert (target.read_text(), _mode(target)) == ("new", 0o600)


def test_a_failure_inside_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old")
    with pytest.raises(Boom), atomic_file(target) as stream:
        stream.write(b"half of the new")
        raise Boom
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["status.json"]


def test_a_failure_inside_makes_no_file_where_there_was_none(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_file(tmp_path / "b.tar", overwrite=False) as stream:
        stream.write(b"half")
        raise Boom
    assert _names(tmp_path) == []


def test_the_temporary_name_has_the_prefix_and_suffix(tmp_path: Path) -> None:
    target = tmp_path / "bundle-1.tar"
    with atomic_file(target, prefix=".upload.", suffix=".tmp") as stream:
        (temporary,) = (path for path in tmp_path.iterdir() if path != target)
        assert temporary.name.startswith(".upload.")
        assert temporary.name.endswith(".tmp")
        stream.write(b"bytes")
    assert _names(tmp_path) == ["bundle-1.tar"]


def test_by_default_the_temporary_name_is_hidden_beside_the_target(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "status.json"):
        (temporary,) = tmp_path.iterdir()
        assert temporary.name.startswith(".status.json.")


def test_no_overwrite_makes_the_file_when_it_is_absent(tmp_path: Path) -> None:
    target = tmp_path / "b.tar"
    with atomic_file(target, mode=0o640, overwrite=False) as stream:
        stream.write(b"bundle")
    assert (target.read_bytes(), _mode(target), target.stat().st_nlink) == (b"bundle", 0o640, 1)
    assert _names(tmp_path) == ["b.tar"]


def test_no_overwrite_refuses_an_existing_file_and_leaves_it(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me")
    with pytest.raises(FileExistsError), atomic_file(target, overwrite=False) as stream:
        stream.write(b"other")
    assert target.read_text() == "keep me"
    assert _names(tmp_path) == ["precious"]


def test_no_overwrite_refuses_a_file_that_appears_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "secret_key"
    with pytest.raises(FileExistsError), atomic_file(target, overwrite=False) as stream:
        stream.write(b"mine")
        target.write_text("the other process's")
    assert target.read_text() == "the other process's"
    assert _names(tmp_path) == ["secret_key"]


def test_no_overwrite_refuses_a_dangling_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "b.tar"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError), atomic_file(target, overwrite=False):
        pass
    assert target.is_symlink()
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("present", [False, True])
def test_no_overwrite_without_hard_links_checks_then_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: bool
) -> None:
    def no_links(source: object, target: object) -> None:  # what vfat answers
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "b.tar"
    if present:
        target.write_text("keep me")
        with pytest.raises(FileExistsError), atomic_file(target, overwrite=False) as stream:
            stream.write(b"bundle")
        assert target.read_text() == "keep me"
    else:
        with atomic_file(target, overwrite=False) as stream:
            stream.write(b"bundle")
        assert target.read_bytes() == b"bundle"
    assert _names(tmp_path) == ["b.tar"]


def test_rename_into_place_replaces_the_target(tmp_path: Path) -> None:
    part = tmp_path / "a.deb.part"
    part.write_bytes(b"new")
    (tmp_path / "a.deb").write_bytes(b"old")
    rename_into_place(part, tmp_path / "a.deb")
    assert (tmp_path / "a.deb").read_bytes() == b"new"
    assert _names(tmp_path) == ["a.deb"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_the_owner_is_set(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    owner = (nobody.pw_uid, nobody.pw_gid)
    write_atomically(tmp_path / "credential.json", "{}", 0o640, owner=owner)
    with atomic_file(tmp_path / "b.tar", owner=owner, overwrite=False) as stream:
        stream.write(b"bundle")
    for name in ("credential.json", "b.tar"):
        info = (tmp_path / name).stat()
        assert (info.st_uid, info.st_gid) == owner
    assert _mode(tmp_path / "credential.json") == 0o640
