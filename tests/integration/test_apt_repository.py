"""Real apt reads the release tool's repository over HTTP from a private apt root, with
``signed-by`` pointing at the release key, and refuses it when anything is tampered with."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from picohub.process import run
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import Signer
from tests.conftest import need, need_tools
from tests.integration.repo_fixtures import (
    copy_repository,
    make_repository,
    make_signer,
    served,
)


@pytest.fixture(scope="module", autouse=True)
def _apt_as_root() -> None:
    need_tools("apt-get")
    need(os.geteuid() == 0, "apt-get needs root, even in a private apt root")


class PrivateApt:
    """apt with every directory of its own, and only our repository as a source."""

    def __init__(self, root: Path, url: str, keyring: Path) -> None:
        self.root = root
        for folder in (
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "download",
        ):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "var/lib/dpkg/status").touch()
        (root / "etc/apt/sources.list.d/picohub.list").write_text(
            f"deb [signed-by={keyring}] {url} ./\n"
        )
        self.config = root / "apt.conf"
        self.config.write_text(
            f'Dir "{root}/";\n'
            f'Dir::State::status "{root}/var/lib/dpkg/status";\n'
            'APT::Sandbox::User "root";\n'
            'Debug::NoLocking "true";\n'
            'Acquire::Languages "none";\n'
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(
            ["apt-get", "-q", *args],
            env={"APT_CONFIG": str(self.config)},
            cwd=self.root / "download",
            check=False,
            timeout=120,
        )


def _apt(tmp_path: Path, url: str, keyring: Path) -> PrivateApt:
    return PrivateApt(tmp_path / "apt", url, keyring)


def test_apt_updates_and_downloads_from_the_signed_repository(
    repository: Repository, release_a: Build, tmp_path: Path
) -> None:
    keyring = repository.directory / KEYRING
    with served(repository.directory) as url:
        apt = _apt(tmp_path, url, keyring)
        update = apt("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "W:" not in update.stdout + update.stderr
        download = apt(
            "download", "picohub", "picohub-web", "picohub-firmware", "picohub-archive-keyring"
        )
        assert download.returncode == 0, download.stderr
        install = apt("install", "--download-only", "--yes", "picohub-firmware")
        assert install.returncode == 0, install.stderr
    for deb in release_a.debs:
        assert (apt.root / "download" / deb.name).read_bytes() == deb.read_bytes()
    archived = apt.root / "var/cache/apt/archives" / release_a.deb("picohub-firmware").name
    assert archived.read_bytes() == release_a.deb("picohub-firmware").read_bytes()


def test_apt_reads_a_phased_repository_and_installs_its_version_when_asked(
    release_a: Build, signer: Signer, tmp_path: Path
) -> None:
    phased = write_repository(
        release_a.debs, tmp_path / "repo", signer, version=release_a.version, phase=0
    )
    with served(phased.directory) as url:
        apt = _apt(tmp_path, url, phased.directory / KEYRING)
        update = apt("update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "W:" not in update.stdout + update.stderr
        shown = run(
            ["apt-cache", "show", "picohub-firmware"],
            env={"APT_CONFIG": str(apt.config)},
            check=False,
        )
        assert "Phased-Update-Percentage: 0" in shown.stdout, shown.stdout + shown.stderr
        # As picohub installs, by version: apt does not phase that (a phase of 0 included).
        wanted = f"picohub-firmware={release_a.version}"
        install = apt("install", "--download-only", "--yes", wanted)
        assert install.returncode == 0, install.stdout + install.stderr
    archived = apt.root / "var/cache/apt/archives" / release_a.deb("picohub-firmware").name
    assert archived.read_bytes() == release_a.deb("picohub-firmware").read_bytes()


def test_apt_refuses_a_tampered_packages_index(repository: Repository, tmp_path: Path) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    text = (copy / "Packages").read_text().replace("Version: ", "Version: 9", 1)
    (copy / "Packages").write_text(text)
    (copy / "Packages.gz").write_bytes(gzip.compress(text.encode()))
    with served(copy) as url:
        apt = _apt(tmp_path, url, repository.directory / KEYRING)
        update = apt("update")
    output = update.stdout + update.stderr
    assert update.returncode != 0
    assert "Hash Sum mismatch" in output or "File has unexpected size" in output, output


def test_apt_refuses_a_tampered_deb(repository: Repository, tmp_path: Path) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    deb = next(copy.glob("picohub_*.deb"))
    data = bytearray(deb.read_bytes())
    data[-1] ^= 0xFF
    deb.write_bytes(bytes(data))
    with served(copy) as url:
        apt = _apt(tmp_path, url, repository.directory / KEYRING)
        assert apt("update").returncode == 0
        download = apt("download", "picohub")
    assert download.returncode != 0
    assert "Hash Sum mismatch" in download.stdout + download.stderr
    assert not list((apt.root / "download").glob("picohub_*.deb"))


def test_apt_refuses_a_repository_signed_by_another_key(
    release_a: Build, repository: Repository, tmp_path: Path
) -> None:
    foreign = make_repository(
        release_a, tmp_path / "foreign", make_signer(tmp_path / "other-gnupg")
    )
    with served(foreign.directory) as url:
        apt = _apt(tmp_path, url, repository.directory / KEYRING)
        update = apt("update")
        download = apt("download", "picohub")
    output = update.stdout + update.stderr
    assert update.returncode != 0
    assert "NO_PUBKEY" in output or "not signed" in output, output
    assert download.returncode != 0  # nothing from it was taken into the lists
