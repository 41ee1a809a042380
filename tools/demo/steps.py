"""The steps before the update: build and publish both releases, install release 1."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

from picohub.process import run
from picohub_release.build import Build, build_debs
from picohub_release.repository import KEYRING, Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import SOURCE
from tests.fakegithub import FakeGitHub
from tests.system.container import Container, wait_for
from tools.demo.settings import (
    APT_DIST,
    KEYRING_IN_CONTAINER,
    OWNER,
    PACKAGES,
    REPO,
    TOKEN,
    WEB,
)


def say(text: str) -> None:
    print(text, flush=True)


def build_release(work: Path, label: str, version: str | None) -> tuple[Build, Repository]:
    """Build the packages (``version``: a later test release of this tree) and write them
    as a repository signed by the local key the builds pin."""
    started = time.monotonic()
    build = build_debs(SOURCE, work / label / "dist", work / label / "work", version=version)
    signer = local_signer(LOCAL_KEY_DIR)
    repository = write_repository(build.debs, work / label / "repo", signer, version=build.version)
    say(
        f"    {label}: picohub {build.version}, {len(build.debs)} packages, "
        f"signed by {signer.fingerprint} ({time.monotonic() - started:.0f} s)"
    )
    return build, repository


def publish(repository: Repository, server: FakeGitHub, notes_from: Path) -> None:
    """The release tool's publish, as the release workflow runs it."""
    result = run(
        [
            sys.executable, "-m", "picohub_release", "publish", repository.directory,
            "--github-repo", f"{OWNER}/{REPO}", "--tag", f"v{repository.version}",
            "--api-url", server.api_url, "--source", notes_from,
        ],
        env={"GITHUB_TOKEN": TOKEN, "PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}"},
        cwd=SOURCE,
        timeout=300,
    )  # fmt: skip
    say(f"    {result.stdout.strip()}")


def release_url(server: FakeGitHub, version: str) -> str:
    return f"{server.download_base}/{OWNER}/{REPO}/releases/download/v{version}/"


def install_release(container: Container, server: FakeGitHub, repository: Repository) -> None:
    """apt install the three packages from the published release, as a Pi would.

    Only our source is updated, so nothing comes from a Debian mirror: the Debian packages
    they need (nginx, gunicorn, Flask...) come from the lists and archives cached in the
    test root (``rootfs.PRELOAD``).
    """
    keyring = container.put(repository.directory / KEYRING, KEYRING_IN_CONTAINER)
    source = f"deb [signed-by={keyring}] {release_url(server, repository.version)} {APT_DIST}\n"
    listing = "/etc/apt/sources.list.d/picohub.list"
    (container.root / listing.lstrip("/")).write_text(source, encoding="utf-8")
    say(f"    {listing}: {source.strip()}")
    updated = container.run(
        [
            "apt-get", "update", "-q",
            "-o", f"Dir::Etc::SourceList={listing}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", "APT::Get::List-Cleanup=false",
        ],
        timeout=120,
    )  # fmt: skip
    for line in (updated.stdout + updated.stderr).splitlines():
        if line.startswith(("W:", "E:", "N:")):
            say(f"    apt-get update: {line}")
    container.run(
        ["apt-get", "install", "--yes", "--no-install-recommends", "-q", *PACKAGES], timeout=600
    )


def healthz(timeout: float = 60) -> str:
    """The version /healthz reports through nginx, once it answers."""

    def answer() -> str | None:
        try:
            reply = requests.get(f"{WEB}/healthz", timeout=5)
        except requests.RequestException:
            return None
        return str(reply.json()["version"]) if reply.status_code == 200 else None

    version: str = wait_for(answer, timeout=timeout, interval=0.5, what="/healthz on port 8780")
    return version


def point_updater_at(container: Container, server: FakeGitHub) -> None:
    config = f"[github]\ndownload_url = {server.download_base}\napi_url = {server.api_url}\n"
    (container.root / "etc/picohub/update.conf").write_text(config, encoding="utf-8")
