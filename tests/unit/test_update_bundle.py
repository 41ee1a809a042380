"""Offline bundles as files: what ``pack`` writes, and what ``unpack`` refuses before it
writes anything (links, devices, directories, paths, duplicates, too many or too big
members, a file that is not a plain or not a whole tar)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from picohub.errors import ExitCode, PicohubError, UsageError
from picohub.update import fetch
from picohub.update.bundle import MAX_MEMBERS, BundleError, pack, unpack
from picohub.update.cli import main

FILES = {
    "InRelease": b"-----BEGIN PGP SIGNED MESSAGE-----\nVersion: 1.2.3\n",
    "Packages": b"Package: picohub\nVersion: 1.2.3\n",
    "Packages.gz": gzip.compress(b"Package: picohub\n", mtime=0),
    "picohub_1.2.3_all.deb": bytes(range(256)) * 701,  # several tar blocks, not aligned
}
LIMIT = 1 << 20


def _repository(directory: Path) -> Path:
    directory.mkdir()
    for name, data in FILES.items():
        (directory / name).write_bytes(data)
    return directory


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    """A tar file of exactly these members, made with tarfile (as an attacker could)."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            if data is None:
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _good(name: str = "InRelease") -> tuple[tarfile.TarInfo, bytes]:
    return _member(name), FILES[name]


def _unpack_fails(bundle: Path, target: Path, match: str, max_bytes: int = LIMIT) -> None:
    target.mkdir(exist_ok=True)
    with pytest.raises(BundleError, match=match):
        unpack(bundle, target, max_bytes=max_bytes)
    assert list(target.iterdir()) == []  # nothing written


# -- the round trip ----------------------------------------------------------------------


def test_a_packed_bundle_unpacks_to_the_same_files(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    (source / "SHA256SUMS").write_text("not packed\n")
    bundle = tmp_path / "b.tar"

    size = pack(source, list(FILES), bundle, mtime=1_700_000_000)

    assert bundle.stat().st_size == size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "repo"]  # no temporary
    with tarfile.open(bundle) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == list(FILES)  # flat, in the order given
    assert all(m.isreg() and m.mode == 0o644 and m.uid == 0 for m in members)
    assert {m.mtime for m in members} == {1_700_000_000}

    target = tmp_path / "out"
    target.mkdir()
    assert unpack(bundle, target, max_bytes=LIMIT) == tuple(FILES)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == FILES


def test_the_same_files_give_the_same_bundle(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    pack(source, list(FILES), tmp_path / "one.tar", mtime=5)
    pack(source, list(FILES), tmp_path / "two.tar", mtime=5)
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    target = tmp_path / "precious"
    target.write_text("keep me")
    with pytest.raises(UsageError, match="exists; picohub-update does not overwrite it"):
        pack(source, list(FILES), target)
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "repo"]


def test_a_file_that_appears_while_packing_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _repository(tmp_path / "repo")
    target = tmp_path / "b.tar"
    real_add = tarfile.TarFile.addfile

    def meanwhile(self: tarfile.TarFile, *args: object, **kwargs: object) -> None:
        target.write_text("written by someone else")
        real_add(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarFile, "addfile", meanwhile)
    with pytest.raises(UsageError, match="does not overwrite it"):
        pack(source, list(FILES), target)
    assert target.read_text() == "written by someone else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "repo"]


def test_a_failed_pack_leaves_no_file(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    with pytest.raises(PicohubError, match=r"picohub-web_1\.2\.3_all\.deb: No such file"):
        pack(source, [*FILES, "picohub-web_1.2.3_all.deb"], tmp_path / "b.tar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_a_name_that_is_not_plain_is_not_packed(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    with pytest.raises(BundleError, match="not a plain file name"):
        pack(source, ["../repo/InRelease"], tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()


# -- what opening refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "complaint"),
    [
        ((_member("../InRelease"), b"x"), r"'../InRelease' is not a plain file name"),
        ((_member("/etc/cron.d/evil"), b"x"), r"'/etc/cron.d/evil' is not a plain file name"),
        ((_member("sub/Packages"), b"x"), r"'sub/Packages' is not a plain file name"),
        ((_member(".hidden"), b"x"), r"'.hidden' is not a plain file name"),
        ((_member("evil\nname"), b"x"), r"is not a plain file name"),
        ((_member("Packages", tarfile.SYMTYPE, linkname="/etc/shadow"), None), "a symbolic link"),
        ((_member("Packages", tarfile.LNKTYPE, linkname="InRelease"), None), "a hard link"),
        ((_member("Packages", tarfile.CHRTYPE, devmajor=1, devminor=3), None), "a device"),
        ((_member("Packages", tarfile.BLKTYPE, devmajor=8, devminor=0), None), "a device"),
        ((_member("Packages", tarfile.FIFOTYPE), None), "a FIFO"),
        ((_member("debs", tarfile.DIRTYPE), None), "'debs' is a directory"),
        ((_member(".", tarfile.DIRTYPE), None), "is a directory"),
    ],
    ids=[
        "dotdot", "absolute", "subdir", "hidden", "newline", "symlink", "hardlink",
        "chardev", "blockdev", "fifo", "directory", "dot-directory",
    ],
)  # fmt: skip
def test_unsafe_members_are_refused_before_anything_is_written(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], complaint: str
) -> None:
    # A good member first: it must not be written either.
    bundle = _tar(tmp_path / "b.tar", _good(), member)
    _unpack_fails(bundle, tmp_path / "out", complaint)


def test_a_sparse_member_is_refused(tmp_path: Path) -> None:
    bundle = _tar(tmp_path / "b.tar", _good(), (_member("Packages", tarfile.GNUTYPE_SPARSE), None))
    _unpack_fails(bundle, tmp_path / "out", "'Packages' is a sparse file, not a regular file")


def test_a_duplicate_name_is_refused(tmp_path: Path) -> None:
    bundle = _tar(tmp_path / "b.tar", _good(), _good("Packages"), (_member("InRelease"), b"2nd"))
    _unpack_fails(bundle, tmp_path / "out", "has the member 'InRelease' twice")


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    members = [(_member(f"file{i}"), b"x") for i in range(MAX_MEMBERS + 1)]
    bundle = _tar(tmp_path / "b.tar", *members)
    _unpack_fails(bundle, tmp_path / "out", f"more than {MAX_MEMBERS} members")
    # exactly the limit is fine
    ok = _tar(tmp_path / "ok.tar", *members[:MAX_MEMBERS])
    (tmp_path / "ok").mkdir()
    assert len(unpack(ok, tmp_path / "ok", max_bytes=LIMIT)) == MAX_MEMBERS


def test_more_bytes_than_the_limit_are_refused_from_the_headers(tmp_path: Path) -> None:
    bundle = _tar(tmp_path / "b.tar", _good(), (_member("big.deb"), b"x" * 5000))
    limit = len(FILES["InRelease"]) + 4999
    _unpack_fails(bundle, tmp_path / "out", "holds more than", max_bytes=limit)
    (tmp_path / "ok").mkdir()
    assert unpack(bundle, tmp_path / "ok", max_bytes=limit + 1) == ("InRelease", "big.deb")


def test_a_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are not the packages you are looking for\n" * 40)
    _unpack_fails(text, tmp_path / "out", r"notes.txt is not a tar file")
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    _unpack_fails(empty, tmp_path / "out", r"empty.tar is not a tar file \(empty file\)")


def test_an_empty_tar_is_refused(tmp_path: Path) -> None:
    bundle = _tar(tmp_path / "b.tar")
    _unpack_fails(bundle, tmp_path / "out", "is not a tar file|is an empty tar file")


def test_a_compressed_bundle_is_refused_with_a_hint(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    plain = tmp_path / "b.tar"
    pack(source, list(FILES), plain)
    compressed = tmp_path / "b.tar.gz"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(BundleError, match="is gzip-compressed; a bundle is a plain tar") as caught:
        unpack(compressed, target, max_bytes=LIMIT)
    assert caught.value.hint is not None and "decompress it first" in caught.value.hint


# Where to cut a bundle of FILES, given where each member's (padded) data ends.
CUTS = {
    "in-the-first-header": (lambda ends: 300, "is not a tar file"),
    "in-a-header": (lambda ends: ends[2] + 100, "after its member 'Packages.gz'"),
    "at-a-member-boundary": (lambda ends: ends[2], "after its member 'Packages.gz'"),
    "in-the-data": (lambda ends: ends[3] - 700, "truncated or damaged after its member 'pico"),
    "in-the-padding": (lambda ends: ends[3] - 1, "unexpected end of data"),
    "without-the-end": (lambda ends: ends[3], "no end-of-archive marker"),
    "in-the-end": (lambda ends: ends[3] + 600, "no end-of-archive marker"),
}


@pytest.mark.parametrize("cut", CUTS)
def test_a_truncated_bundle_is_refused(tmp_path: Path, cut: str) -> None:
    source = _repository(tmp_path / "repo")
    whole = tmp_path / "whole.tar"
    pack(source, list(FILES), whole)
    with tarfile.open(whole) as archive:
        ends = [m.offset_data + -(-m.size // 512) * 512 for m in archive.getmembers()]
    where, complaint = CUTS[cut]
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(whole.read_bytes()[: where(ends)])
    _unpack_fails(truncated, tmp_path / "out", complaint)


def test_garbage_after_a_member_is_refused(tmp_path: Path) -> None:
    source = _repository(tmp_path / "repo")
    whole = tmp_path / "whole.tar"
    pack(source, list(FILES), whole)
    with tarfile.open(whole) as archive:
        second = archive.getmembers()[1].offset
    data = bytearray(whole.read_bytes())
    data[second : second + 512] = b"\xff" * 512  # a damaged header tarfile takes for the end
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    _unpack_fails(damaged, tmp_path / "out", "damaged after its member 'InRelease'")


def test_a_missing_bundle_is_a_clear_error(tmp_path: Path) -> None:
    _unpack_fails(tmp_path / "absent.tar", tmp_path / "out", "cannot read the bundle")


def test_a_bundle_that_is_not_a_regular_file_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.tar"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    _unpack_fails(fifo, tmp_path / "out", "pipe.tar is not a regular file")
    _unpack_fails(tmp_path, tmp_path / "out", "is not a regular file")


def test_free_space_is_checked_before_extracting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _repository(tmp_path / "repo")
    bundle = tmp_path / "b.tar"
    pack(source, list(FILES), bundle)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        fetch.shutil, "disk_usage", lambda _path: usage._replace(free=fetch.FREE_SPACE_MARGIN)
    )
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(PicohubError, match="not enough free space"):
        unpack(bundle, target, max_bytes=LIMIT)
    assert list(target.iterdir()) == []


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PICOHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PICOHUB_UPDATE_IN_UNIT", raising=False)
    return tmp_path


def test_apply_takes_a_version_or_a_bundle_not_both(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = device / "b.tar"
    bundle.write_bytes(b"")
    assert main(["apply", "1.2.3", "--bundle", str(bundle)]) == ExitCode.USAGE
    assert "give a VERSION or --bundle FILE, not both" in capsys.readouterr().err


def test_apply_refuses_a_missing_bundle_before_starting_the_unit(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", "--bundle", str(device / "absent.tar")]) == ExitCode.USAGE
    assert f"the bundle {device / 'absent.tar'} is not a file" in capsys.readouterr().err


def test_apply_passes_the_absolute_path_to_the_unit(
    device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []

    def start(argv: list[str], *, wait: bool) -> int:
        started.append([*argv, f"wait={wait}"])
        return 0

    monkeypatch.setattr("picohub.update.cli.start_in_unit", start)
    (device / "usb").mkdir()
    (device / "usb" / "b.tar").write_bytes(b"")
    monkeypatch.chdir(device)
    assert main(["apply", "--bundle", "usb/b.tar", "--wait"]) == ExitCode.OK
    bundle = str(device / "usb" / "b.tar")
    assert started == [["apply", "--origin=shell", "--bundle", bundle, "wait=True"]]


def test_bundle_of_a_release_not_in_the_cache_says_how_to_get_it(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bundle", "1.2.3", str(device / "b.tar")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "release 1.2.3 is not in the cache" in err
    assert "picohub-update fetch 1.2.3" in err
    assert not (device / "b.tar").exists()


def test_bundle_refuses_a_version_that_is_a_path(
    device: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bundle", "../../etc", str(device / "b.tar")])
    assert exited.value.code == ExitCode.USAGE
    assert "is not a release version" in capsys.readouterr().err
