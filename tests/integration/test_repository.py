"""The signed flat repository the release tool writes, checked as a device would."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from debian.deb822 import Packages, Release

from picohub.errors import PicohubError, UsageError
from picohub.process import run
from picohub.repository import RepositoryError, verify_repository, verify_signed_text
from picohub.update.bundle import write_bundle
from picohub_release.__main__ import main
from picohub_release.build import Build
from picohub_release.repository import KEYRING, SUMS, Repository, bundle_name, write_repository
from picohub_release.signing import Signer, local_signer, signer_from_environment
from picohub_release.versions import changelog_notes, check_tag
from tests.conftest import SOURCE
from tests.integration.repo_fixtures import (
    GNUPG_HOMES,
    copy_repository,
    make_repository,
    make_signer,
)


@pytest.fixture(scope="module")
def other_signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("other-key") / "gnupg")


def test_the_repository_verifies_with_the_release_key(
    repository: Repository, release_a: Build, signer: Signer
) -> None:
    verified = verify_repository(repository.directory, repository.directory / KEYRING)
    assert verified.release.fingerprint == signer.fingerprint
    assert sorted(p.package for p in verified.packages) == [
        "picohub",
        "picohub-archive-keyring",
        "picohub-firmware",
        "picohub-web",
    ]
    assert {p.version for p in verified.packages} == {release_a.version}
    assert all("/" not in p.filename for p in verified.packages)  # no "./" in a flat repo


def test_the_release_file_has_the_fixed_identity_and_no_components(
    repository: Repository,
) -> None:
    release = Release((repository.directory / "Release").read_text())
    assert (release["Origin"], release["Label"], release["Suite"], release["Codename"]) == (
        "picohub",
        "picohub",
        "stable",
        "picohub",
    )
    assert "Components" not in release and "Date" in release
    assert {entry["name"] for entry in release["SHA256"]} == {"Packages", "Packages.gz"}
    # InRelease signs exactly the Release file that stands beside it.
    assert release.dump() in (repository.directory / "InRelease").read_text()


def test_valid_for_writes_valid_until_that_long_after_the_date(
    repository: Repository, release_a: Build, signer: Signer, tmp_path: Path
) -> None:
    when = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    written = write_repository(
        release_a.debs,
        tmp_path / "repo",
        signer,
        version=release_a.version,
        date=when,
        valid_for=timedelta(days=7),
    )
    release = Release((written.directory / "Release").read_text())
    assert release["Date"] == "Tue, 01 Dec 2026 12:00:00 GMT"
    assert release["Valid-Until"] == "Tue, 08 Dec 2026 12:00:00 GMT"
    # Without it, none: the release then never expires.
    assert "Valid-Until" not in Release((repository.directory / "Release").read_text())


@pytest.mark.parametrize("days", ["0", "-3", "seven", "3651"])
def test_a_validity_that_is_not_a_number_of_days_is_refused(
    days: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["release", "--key", "local", "--valid-for", days])
    assert exited.value.code == 2
    assert f"{days!r} is not a whole number of days from 1 to 3650" in capsys.readouterr().err


def test_phase_writes_the_phased_percentage_into_every_signed_package_stanza(
    repository: Repository, release_a: Build, signer: Signer, tmp_path: Path
) -> None:
    written = write_repository(
        release_a.debs, tmp_path / "repo", signer, version=release_a.version, phase=20
    )
    stanzas = list(
        Packages.iter_paragraphs((written.directory / "Packages").read_text(), use_apt_pkg=False)
    )
    assert len(stanzas) == 4
    assert {stanza["Phased-Update-Percentage"] for stanza in stanzas} == {"20"}
    verified = verify_repository(written.directory, written.directory / KEYRING)
    assert {package.phase for package in verified.packages} == {20}
    # Not phased: no field, and every hub takes it.
    assert "Phased-Update-Percentage" not in (repository.directory / "Packages").read_text()
    plain = verify_repository(repository.directory, repository.directory / KEYRING)
    assert {package.phase for package in plain.packages} == {None}


def test_a_phase_of_zero_is_written_too(release_a: Build, signer: Signer, tmp_path: Path) -> None:
    written = write_repository(
        release_a.debs, tmp_path / "repo", signer, version=release_a.version, phase=0
    )
    verified = verify_repository(written.directory, written.directory / KEYRING)
    assert {package.phase for package in verified.packages} == {0}


@pytest.mark.parametrize("percent", ["-1", "101", "twenty", "20%", "2.5"])
def test_a_phase_that_is_not_a_percentage_is_refused(
    percent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["release", "--key", "local", "--phase", percent])
    assert exited.value.code == 2
    assert f"{percent!r} is not a whole percentage from 0 to 100" in capsys.readouterr().err


def test_write_repository_refuses_a_phase_out_of_range(
    release_a: Build, signer: Signer, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="0-100, not 101"):
        write_repository(
            release_a.debs, tmp_path / "repo", signer, version=release_a.version, phase=101
        )
    assert not (tmp_path / "repo").exists()


def test_sha256sums_covers_every_asset(repository: Repository) -> None:
    lines = (repository.directory / SUMS).read_text().splitlines()
    listed = {line.split("  ")[1] for line in lines}
    assert listed == {p.name for p in repository.directory.iterdir()} - {SUMS}
    # The file works with the standard tool a user would run by hand.
    run(["sha256sum", "--check", "--strict", "--quiet", SUMS], cwd=repository.directory)


def test_the_release_carries_its_offline_bundle_as_a_hub_would_pack_it(
    repository: Repository, tmp_path: Path
) -> None:
    asset = repository.directory / bundle_name(repository.version)
    assert asset in repository.assets
    # The same release gives the same bundle: the one write_bundle packs from the assets,
    # verified first, with the pinned key.
    packed = write_bundle(repository.directory, repository.directory / KEYRING, tmp_path / "b.tar")
    assert asset.read_bytes() == packed.path.read_bytes()
    assert packed.members[0] == "InRelease" and packed.version == repository.version


def test_a_tampered_packages_file_is_refused(repository: Repository, tmp_path: Path) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    text = (copy / "Packages").read_text().replace("Version: ", "Version: 9", 1)
    (copy / "Packages").write_text(text)
    (copy / "Packages.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(RepositoryError, match="Packages"):
        verify_repository(copy, copy / KEYRING)


def test_a_tampered_deb_is_refused(repository: Repository, tmp_path: Path) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    deb = next(copy.glob("picohub_*.deb"))
    data = bytearray(deb.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    deb.write_bytes(bytes(data))
    with pytest.raises(RepositoryError, match=r"picohub_.*does not match the SHA-256"):
        verify_repository(copy, copy / KEYRING)


def test_a_repository_signed_by_another_key_is_refused(
    release_a: Build, repository: Repository, other_signer: Signer, tmp_path: Path
) -> None:
    foreign = make_repository(release_a, tmp_path / "foreign", other_signer)
    with pytest.raises(RepositoryError, match="InRelease is not signed by a key in"):
        verify_repository(foreign.directory, repository.directory / KEYRING)


def test_the_verify_command_reports_a_tampered_repository(
    repository: Repository, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    for deb in copy.glob("picohub-web_*.deb"):
        deb.unlink()
    assert main(["verify", str(copy), "--keyring", str(copy / KEYRING)]) == 1
    assert "error: picohub-web_" in capsys.readouterr().err


def test_a_signing_failure_leaves_no_repository(
    release_a: Build, signer: Signer, tmp_path: Path
) -> None:
    broken = Signer(signer.gpg, "0" * 40)  # a key that is not there
    with pytest.raises(PicohubError, match=r"signing with key 0+ failed"):
        write_repository(release_a.debs, tmp_path / "repo", broken, version=release_a.version)
    assert not (tmp_path / "repo").exists()
    assert not (tmp_path / "repo.partial").exists()


def test_a_missing_ci_key_stops_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICOHUB_SIGNING_KEY", raising=False)
    with (
        pytest.raises(PicohubError, match="PICOHUB_SIGNING_KEY is empty"),
        signer_from_environment(),
    ):
        pass


def test_the_ci_key_is_imported_into_a_home_that_is_removed_afterwards(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    armoured = signer.gpg.export_keys(signer.fingerprint, secret=True, expect_passphrase=False)
    monkeypatch.setenv("PICOHUB_SIGNING_KEY", armoured)
    with signer_from_environment() as from_env:
        home = Path(from_env.gpg.gnupghome)
        assert from_env.fingerprint == signer.fingerprint
        assert "BEGIN PGP SIGNED MESSAGE" in from_env.clearsign("hello\n")
    assert not home.exists()


def test_builds_side_by_side_make_one_local_key(tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    GNUPG_HOMES.append(home)
    script = (
        "import sys; from pathlib import Path; from picohub_release.signing import "
        "local_signer; print(local_signer(Path(sys.argv[1])).fingerprint)"
    )
    env = {**os.environ, "PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}"}
    builds = [
        subprocess.Popen([sys.executable, "-c", script, home], stdout=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    fingerprints = {build.communicate(timeout=120)[0].strip() for build in builds}
    assert [build.returncode for build in builds] == [0, 0, 0]
    assert len(fingerprints) == 1
    assert len(local_signer(home).gpg.list_keys(secret=True)) == 1


def test_the_tag_must_equal_the_changelog_version() -> None:
    check_tag("v0.1.0", "0.1.0")
    with pytest.raises(UsageError, match="does not match debian/changelog"):
        check_tag("v0.1.1", "0.1.0")
    with pytest.raises(UsageError):
        check_tag("0.1.0", "0.1.0")


def test_release_notes_come_from_the_newest_changelog_entry() -> None:
    notes = changelog_notes(SOURCE)
    assert notes.startswith("* ") and "picohub (" not in notes


def test_a_partial_cache_is_verified_for_what_it_holds(
    repository: Repository, tmp_path: Path
) -> None:
    copy = copy_repository(repository.directory, tmp_path / "repo")
    next(copy.glob("picohub-web_*.deb")).unlink()
    with pytest.raises(RepositoryError, match=r"picohub-web_.* is missing"):
        verify_repository(copy, copy / KEYRING)
    verified = verify_repository(copy, copy / KEYRING, partial=True)
    assert sorted(p.name.split("_")[0] for p in verified.present) == [
        "picohub",
        "picohub-archive-keyring",
        "picohub-firmware",
    ]
    deb = next(copy.glob("picohub_*.deb"))
    deb.write_bytes(bytes(deb.stat().st_size))
    with pytest.raises(RepositoryError, match="does not match the SHA-256"):
        verify_repository(copy, copy / KEYRING, partial=True)


def test_a_signature_by_an_expired_key_is_refused(release_a: Build, tmp_path: Path) -> None:
    # A key made, and used, in 2020, valid for one day: expired ever since.
    home = tmp_path / "expired"
    home.mkdir(mode=0o700)
    past = ["--faked-system-time", "20200101T000000!"]
    user = "expired <expired@picohub.invalid>"
    run(["gpg", "--homedir", home, "--batch", *past, "--passphrase", "",
         "--quick-gen-key", user, "ed25519", "sign", "1d"])  # fmt: skip
    signer = make_signer(home)
    signer.gpg.options = past
    repository = write_repository(release_a.debs, tmp_path / "repo", signer, version="x")
    keyring = tmp_path / "expired.gpg"
    keyring.write_bytes(signer.public_key(armor=False))
    with pytest.raises(RepositoryError, match="InRelease is not signed by a key in"):
        verify_repository(repository.directory, keyring)


def test_a_key_made_after_the_hubs_clock_still_verifies(tmp_path: Path) -> None:
    """A Pi without a real-time clock can run behind the release key's creation (a key
    rotated in, a clock back at an old shutdown): gpgv calls that a time conflict, not a
    bad signature, and picohub judges time by its own floor."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    future = ["--faked-system-time", "20300101T000000!"]
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    run([*gpg, *future, "--passphrase", "", "--quick-gen-key", "future <f@example.org>",
         "ed25519", "sign", "never"], timeout=120)  # fmt: skip
    (tmp_path / "Release").write_text("Origin: picohub\n")
    signed = tmp_path / "InRelease"
    run([*gpg, *future, "--passphrase", "", "--clearsign", "--output", str(signed),
         str(tmp_path / "Release")], timeout=120)  # fmt: skip
    keyring = tmp_path / "keyring.gpg"
    run([*gpg, "--output", str(keyring), "--export"], timeout=60)
    run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, timeout=30)
    fingerprint, text = verify_signed_text(signed, keyring)
    assert text == "Origin: picohub\n" and len(fingerprint) == 40
