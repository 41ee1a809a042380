from __future__ import annotations

from pathlib import Path

import pytest

from picohub.errors import PicohubError
from tests.system.rootfs import host_mirror


def _sources(tmp_path: Path, deb822: str = "", one_line: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True)
    if deb822:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(deb822)
    if one_line:
        (tmp_path / "sources.list").write_text(one_line)
    return tmp_path


def test_the_mirror_comes_from_a_deb822_source(tmp_path: Path) -> None:
    apt = _sources(
        tmp_path,
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n",
    )
    assert host_mirror("bookworm", apt) == "http://mirror.example/debian"


def test_the_mirror_comes_from_a_one_line_source(tmp_path: Path) -> None:
    apt = _sources(tmp_path, one_line="deb [arch=amd64] http://old.example/debian bookworm main\n")
    assert host_mirror("bookworm", apt) == "http://old.example/debian"


def test_no_debian_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICOHUB_TEST_MIRROR", raising=False)
    apt = _sources(tmp_path, one_line="deb http://archive.ubuntu.example/ubuntu noble main\n")
    with pytest.raises(PicohubError, match="no apt source on this machine serves Debian bookworm"):
        host_mirror("bookworm", apt)


def test_another_suite_comes_from_the_mirror_of_the_hosts_own_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PICOHUB_TEST_MIRROR", raising=False)
    apt = _sources(tmp_path / "apt", one_line="deb http://mirror.example/debian bookworm main\n")
    (tmp_path / "os-release").write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    assert host_mirror("trixie", apt) == "http://mirror.example/debian"
