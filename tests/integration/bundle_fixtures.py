"""Releases, hubs and bundles for the bundle tests: release B signed like A, a hub with
A installed and cached, and B bundled on another hub."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.installed import installed_version
from picohub.repository import INRELEASE
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update import apply
from picohub.update.cache import Fetched
from picohub.update.cli import main
from picohub.update.plan import Plan
from picohub_release.build import Build
from picohub_release.repository import KEYRING, Repository
from picohub_release.signing import Signer
from tests.integration.repo_fixtures import hub_settings, make_repository

PACKAGES = RELEASE_PACKAGES
INDEX = ("Packages", "Packages.gz")


@pytest.fixture(scope="module")
def repo_b(
    release_b: Build, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    return make_repository(release_b, tmp_path_factory.mktemp("b") / "repo", signer)


def cache_release(cache: Path, repository: Repository, packages: tuple[str, ...]) -> Path:
    """``releases/VERSION`` as ``picohub-update fetch`` leaves it: the signed index and
    the packages that changed."""
    target = cache / "releases" / repository.version
    target.mkdir(parents=True)
    for name in (INRELEASE, *INDEX):
        shutil.copyfile(repository.directory / name, target / name)
    for deb in repository.directory.glob("*.deb"):
        if deb.name.split("_", 1)[0] in packages:
            shutil.copyfile(deb, target / deb.name)
    return target


def snapshot(directory: Path) -> dict[str, str]:
    """Every file and folder under ``directory`` with its SHA-256."""
    return {
        str(path.relative_to(directory)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        )
        for path in sorted(directory.rglob("*"))
    }


@dataclass
class Installs:
    """What was installed (release, packages, the version installed before) and whether
    the install could have rolled back."""

    calls: list[tuple[Fetched, list[str], str | None]]


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> Installs:
    """apply_bundle's install step with apt (its simulation too) and the health check
    left out."""
    recorded = Installs([])

    def install(
        fetched: Fetched, packages: list[str], keyring: Path, settings: Settings, **_: object
    ) -> None:
        before = installed_version("picohub", settings.dpkg_admin_dir)
        recorded.calls.append((fetched, list(packages), before))

    monkeypatch.setattr(apply, "plan_install", lambda *args, **kwargs: Plan(()))
    monkeypatch.setattr(apply, "install", install)
    monkeypatch.setattr(apply, "wait_healthy", lambda version, timeout: None)
    return recorded


@pytest.fixture
def device(tmp_path: Path, repository: Repository, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A hub with all of release A installed and cached (as an update to A leaves it),
    trusting the release key."""
    settings = hub_settings(
        tmp_path / "hub",
        repository.directory / KEYRING,
        monkeypatch,
        **dict.fromkeys(PACKAGES, repository.version),
    )
    cache_release(settings.cache_dir, repository, PACKAGES)
    return settings


@pytest.fixture
def bundle_b(
    tmp_path: Path,
    repo_b: Repository,
    repository: Repository,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """Release B bundled with ``picohub-update bundle`` on another hub that fetched it."""
    other = tmp_path / "other-cache"
    cache_release(other, repo_b, PACKAGES)
    made = tmp_path / "usb" / f"picohub-{repo_b.version}.tar"
    made.parent.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PICOHUB_CACHE_DIR", str(other))
        patch.setenv("PICOHUB_ARCHIVE_KEYRING", str(repository.directory / KEYRING))
        assert main(["bundle", repo_b.version, str(made)]) == ExitCode.OK
    said = capsys.readouterr().out
    assert said.startswith(f"release {repo_b.version}: InRelease, Packages, Packages.gz, ")
    assert f"({made.stat().st_size} bytes) in {made}" in said
    return made


def members(bundle: Path) -> list[str]:
    with tarfile.open(bundle) as archive:
        return archive.getnames()


def rewritten(bundle: Path, target: Path, change: dict[str, bytes | None]) -> Path:
    """``bundle`` with members replaced (bytes) or left out (None), in the same order."""
    with tarfile.open(bundle) as source, tarfile.open(target, "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name in change:
                replaced = change[member.name]
                if replaced is None:
                    continue
                data = replaced
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def deb_of(repository: Repository, package: str) -> Path:
    return next(repository.directory.glob(f"{package}_*.deb"))
