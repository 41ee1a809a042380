"""The whole release path as CI runs it: the release tool writes and signs the repository,
publishes it to (a local server answering like) GitHub, and what a device downloads from
the published release verifies against the release key."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from debian.debfile import DebFile

from picohub.repository import verify_repository
from picohub_release.__main__ import main
from picohub_release.build import Build
from picohub_release.firmware_key import local_firmware_key
from picohub_release.release import make_release
from picohub_release.repository import KEYRING
from picohub_release.versions import changelog_notes
from tests.conftest import SOURCE, need_tools
from tests.fakegithub import FakeGitHub
from tests.integration.repo_fixtures import make_repository, make_signer


def test_a_release_is_published_and_a_device_can_verify_what_it_downloads(
    release_a: Build,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    need_tools("gpg", "gpgv")
    repository = make_repository(release_a, tmp_path / "repo", make_signer(tmp_path / "key"))
    tag = f"v{release_a.version}"
    with FakeGitHub(token="ci-token") as github:
        monkeypatch.setenv("GITHUB_TOKEN", "ci-token")
        argv = ["publish", str(repository.directory), "--github-repo", "picohub/picohub"]
        code = main([*argv, "--tag", tag, "--api-url", github.api_url])
        assert code == 0, capsys.readouterr().err
        assert "ci-token" not in capsys.readouterr().out

        (release,) = github.releases
        assert (release.tag_name, release.draft) == (tag, False)
        assert release.body == changelog_notes(SOURCE)
        assert {a.name for a in release.assets} == {p.name for p in repository.assets}

        # A device downloads the release's assets (not API calls) and verifies them.
        device = tmp_path / "device"
        device.mkdir()
        for asset in repository.assets:
            url = f"{github.download_base}/picohub/picohub/releases/latest/download/{asset.name}"
            answer = requests.get(url, timeout=10)
            assert answer.status_code == 200
            (device / asset.name).write_bytes(answer.content)
    verified = verify_repository(device, repository.directory / KEYRING)
    assert {p.version for p in verified.packages} == {release_a.version}


def test_publishing_without_a_token_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    (tmp_path / "InRelease").write_text("x")
    with FakeGitHub() as github:
        argv = ["publish", str(tmp_path), "--github-repo", "picohub/picohub", "--tag", "v1"]
        assert main([*argv, "--api-url", github.api_url]) == 2
        assert github.requests_log == []
    assert "error:" in capsys.readouterr().err


def test_a_malformed_repository_name_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", str(tmp_path), "--github-repo", "picohub", "--tag", "v1"]
    assert main(argv) == 2
    assert "is not OWNER/REPO" in capsys.readouterr().err


def test_verify_checks_a_published_release_by_its_url(
    release_a: Build, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tools("gpg", "gpgv")
    repository = make_repository(release_a, tmp_path / "repo", make_signer(tmp_path / "key"))
    keyring = str(repository.directory / KEYRING)
    with FakeGitHub() as github:
        github.add_release(
            f"v{release_a.version}", {p.name: p.read_bytes() for p in repository.assets}
        )
        url = f"{github.download_base}/picohub/picohub/releases/latest/download/"
        assert main(["verify", url, "--keyring", keyring]) == 0
        assert "repository verified" in capsys.readouterr().out

        # The same release with one package swapped for other bytes of the same size.
        deb = f"picohub_{release_a.version}_all.deb"
        (asset,) = [a for a in github.releases[0].assets if a.name == deb]
        asset.data = bytes(len(asset.data))
        assert main(["verify", url, "--keyring", keyring]) == 1
        assert "does not match the SHA-256" in capsys.readouterr().err


def test_the_release_pins_the_key_that_signs_it_in_the_keyring_package(tmp_path: Path) -> None:
    need_tools("gpg", "gpgv", "dpkg-buildpackage")
    signer = make_signer(tmp_path / "key")
    firmware_key = local_firmware_key(tmp_path / "firmware-key")
    made = make_release(
        SOURCE,
        tmp_path / "dist",
        tmp_path / "work",
        tmp_path / "repo",
        signer,
        firmware_key=firmware_key,
    )
    deb = next(p for p in made.repository.assets if p.name.startswith("picohub-archive-keyring_"))
    shipped = DebFile(str(deb)).data.get_content("usr/share/keyrings/picohub-archive-keyring.gpg")
    assert shipped == signer.public_key(armor=False)
    # What the device pins verifies the release it came in.
    pinned = tmp_path / "pinned.gpg"
    pinned.write_bytes(shipped)
    assert verify_repository(made.repository.directory, pinned).release.fingerprint == (
        signer.fingerprint
    )
    # The firmware manifest is signed with the release's firmware key.
    firmware = next(p for p in made.repository.assets if p.name.startswith("picohub-firmware_"))
    content = DebFile(str(firmware)).data
    public = serialization.load_pem_public_key(
        (tmp_path / "firmware-key" / "firmware-signing.pub.pem").read_bytes()
    )
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signature = content.get_content("usr/share/picohub/firmware/manifest.sig")
    manifest = content.get_content("usr/share/picohub/firmware/manifest.json")
    assert signature is not None and manifest is not None
    public.verify(signature, manifest, ec.ECDSA(hashes.SHA256()))  # raises if it does not
