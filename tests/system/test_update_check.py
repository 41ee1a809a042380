"""``picohub-update check`` and ``fetch`` as installed by the picohub package, on a booted
bookworm (Debian's python3-requests 2.28 and gpgv), against a local server that answers
like GitHub, running in the container's own network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from picohub_release.build import Build
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from tests.conftest import SOURCE
from tests.system.container import Container
from tests.system.journeys import apt_install, healthy_version

PORT = 8000


def _repository(build: Build, factory: pytest.TempPathFactory) -> Repository:
    # Signed by the key the test builds pin in picohub (the local throwaway key).
    signer = local_signer(LOCAL_KEY_DIR)
    return write_repository(
        build.debs, factory.mktemp("repo") / "repo", signer, version=build.version
    )


@pytest.fixture(scope="module")
def github(
    container: Container,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    repo_a = _repository(release_a, tmp_path_factory)
    repo_b = _repository(release_b, tmp_path_factory)
    server = subprocess.Popen(
        [
            "nsenter",
            f"--net=/proc/{container.leader}/ns/net",
            "--",
            sys.executable,
            "-m",
            "tests.fakegithub",
            "--port",
            str(PORT),
            "--no-token",
            "--release",
            f"v{release_a.version}={repo_a.directory}",
            "--release",
            f"v{release_b.version}={repo_b.directory}",
        ],
        cwd=SOURCE,
        env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once it listens
        assert url == f"http://127.0.0.1:{PORT}", url
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def hub(container: Container, release_a: Build, github: str) -> Build:
    apt_install(container, release_a)
    assert healthy_version(container) == release_a.version
    container.sh(
        f"printf '[github]\\ndownload_url = {github}\\napi_url = {github}/api\\n'"
        " > /etc/picohub/update.conf"
    )
    return release_a


def test_check_reports_the_newer_release(
    container: Container, hub: Build, release_b: Build
) -> None:
    result = container.run(["picohub-update", "check"], check=False)
    assert result.returncode == 100, result.stderr
    assert f"release {release_b.version} is available" in result.stdout
    again = container.run(["picohub-update", "check", "--json"], check=False)
    answer = json.loads(again.stdout)
    assert answer["not_modified"] is True  # the conditional request cost nothing
    assert {c["package"] for c in answer["changes"]} == {
        "picohub",
        "picohub-web",
        "picohub-firmware",
    }


def test_fetch_verifies_into_the_cache_and_installs_nothing(
    container: Container, hub: Build, release_b: Build
) -> None:
    result = container.run(["picohub-update", "fetch"], check=False)
    assert result.returncode == 0, result.stderr
    cached = f"/var/cache/picohub/releases/{release_b.version}"
    listing = container.run(["ls", cached]).stdout.split()
    assert sorted(name for name in listing if name.endswith(".deb")) == sorted(
        deb.name for deb in release_b.debs
    )
    status = json.loads(container.run(["picohub-update", "status", "--json"]).stdout)
    assert (status["phase"], status["target"]) == ("downloaded", release_b.version)
    assert healthy_version(container) == hub.version  # nothing installed yet

    # What fetch verified is what apt installs (the apply step of a later release).
    container.sh(f"apt-get install --yes {cached}/*.deb")
    assert healthy_version(container) == release_b.version
