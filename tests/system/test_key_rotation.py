"""A change of release key, the documented way, on a booted bookworm.

Release A ships picohub-archive-keyring with K1 and is signed by K1. The changeover
release N ships K1 and K2 and is signed by both; N+1 ships K2 alone and is signed by K2.
A hub on A that skipped N is told to install N first; a hub that installed N takes N+1;
from then on a release signed by K1 (the removed key) alone is refused, and the hub is
left as it was. A rollback from N+1 goes back to N, which K2 still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from picohub.process import run
from picohub_release.build import Build, build_debs
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import Signer
from tests.conftest import SOURCE, need_tools, next_version
from tests.integration.repo_fixtures import make_signer, stop_agents
from tests.system.conftest import point_updater_at, serve_releases
from tests.system.container import Container
from tests.system.journeys import apt_install, device_ids, healthy_version, heartbeat

KEYRING_ON_HUB = "/usr/share/keyrings/picohub-archive-keyring.gpg"


@dataclass(frozen=True)
class Keys:
    old: Signer  # K1, retired by the changeover
    new: Signer  # K2

    def keyring(self, path: Path, *signers: Signer) -> Path:
        """A binary keyring of ``signers``' public keys (packets simply follow each other)."""
        path.write_bytes(b"".join(signer.public_key(armor=False) for signer in signers))
        return path


@dataclass(frozen=True)
class Releases:
    a: Build  # keyring K1, signed by K1
    changeover: Build  # keyring K1 + K2, signed by both
    after: Build  # keyring K2, signed by K2
    forged: Build  # signed by K1 alone, after K1 was removed
    repositories: dict[str, Repository]

    def published(self, *builds: Build) -> list[tuple[str, Path]]:
        """The tags and repositories of ``builds``, the last one latest."""
        return [(f"v{b.version}", self.repositories[b.version].directory) for b in builds]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    need_tools("gpg", "gpgv", "dpkg-buildpackage")
    base = tmp_path_factory.mktemp("rotation-keys")
    yield Keys(make_signer(base / "k1"), make_signer(base / "k2"))
    stop_agents()


def _changeover_signer(keys: Keys, home: Path) -> Signer:
    """The release tool's signer during the changeover: one gpg home holding both secret
    keys (the older first), as ``signer_from_environment`` makes it from the CI secret."""
    home.mkdir(mode=0o700)
    for signer in (keys.old, keys.new):
        secret = signer.gpg.export_keys(signer.fingerprint, secret=True, expect_passphrase=False)
        run(["gpg", "--homedir", home, "--batch", "--import"], input_text=secret, timeout=60)
    both = make_signer(home)
    assert both.fingerprints == (keys.old.fingerprint, keys.new.fingerprint)
    return both


@pytest.fixture(scope="module")
def releases(
    keys: Keys, current_version: str, tmp_path_factory: pytest.TempPathFactory
) -> Releases:
    base = tmp_path_factory.mktemp("rotation")
    both = _changeover_signer(keys, base / "both")
    plan = (
        ("a", 0, (keys.old,), keys.old),
        ("changeover", 1, (keys.old, keys.new), both),
        ("after", 2, (keys.new,), keys.new),
        ("forged", 3, (keys.old,), keys.old),
    )
    builds: dict[str, Build] = {}
    repositories: dict[str, Repository] = {}
    for name, step, pinned, signer in plan:
        keyring = keys.keyring(base / f"{name}.gpg", *pinned)
        build = build_debs(
            SOURCE,
            base / name / "dist",
            base / name / "work",
            version=next_version(current_version, step),
            keyring=keyring,
        )
        builds[name] = build
        repositories[build.version] = write_repository(
            build.debs, base / name / "repo", signer, version=build.version
        )
    return Releases(**builds, repositories=repositories)


@pytest.fixture(scope="module")
def hub(container: Container, releases: Releases) -> Build:
    """A hub on A (trusting K1 alone), with one device registered."""
    apt_install(container, releases.a)
    assert healthy_version(container) == releases.a.version
    assert heartbeat(container, "pico-loft", "1.0.0")[0] == 200
    return releases.a


def _trusted(container: Container) -> set[str]:
    """The fingerprints in the hub's keyring, as gpg reads the installed file (the hub has
    gpgv alone, so the host's gpg reads it)."""
    installed = container.root / KEYRING_ON_HUB.lstrip("/")
    listing = run(["gpg", "--show-keys", "--with-colons", installed], timeout=60).stdout
    return {line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")}


def _state(container: Container) -> tuple[str, str, list[str]]:
    """What must not change when a release is refused: the packages dpkg has, the
    keyring's bytes and the hub's devices."""
    packages = container.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status} ${Version}\\n", "picohub*"]
    ).stdout
    keyring = container.run(["sha256sum", KEYRING_ON_HUB]).stdout
    return packages, keyring, device_ids(container)


def _updater(container: Container, *argv: str) -> tuple[int, str]:
    done = container.run(["picohub-update", *argv], check=False, timeout=900)
    return done.returncode, done.stdout + done.stderr


def _apply(container: Container, *argv: str) -> None:
    code, output = _updater(container, *argv, "--wait")
    status = container.run(["picohub-update", "status"], check=False).stdout
    assert code == 0, output + status


def test_a_hub_that_skipped_the_changeover_is_told_to_install_it_first(
    container: Container, hub: Build, releases: Releases, keys: Keys
) -> None:
    assert _trusted(container) == {keys.old.fingerprint}
    before = _state(container)
    with serve_releases(container, releases.published(hub, releases.after)) as url:
        point_updater_at(container, url)
        code, output = _updater(container, "check")
        assert code != 0
        assert keys.new.fingerprint in output, output
        assert "install the release that brought the new key first" in output, output
        code, output = _updater(container, "apply", "--wait")
        assert code != 0 and keys.new.fingerprint in output, output
    assert _state(container) == before
    assert healthy_version(container) == hub.version


def test_the_changeover_release_brings_the_new_key(
    container: Container, hub: Build, releases: Releases, keys: Keys
) -> None:
    published = releases.published(hub, releases.changeover, releases.after)
    with serve_releases(container, published) as url:
        point_updater_at(container, url)
        _apply(container, "apply", releases.changeover.version)
    assert healthy_version(container) == releases.changeover.version
    assert _trusted(container) == {keys.old.fingerprint, keys.new.fingerprint}
    version = container.run(["dpkg-query", "-W", "-f=${Version}", "picohub-archive-keyring"])
    assert version.stdout == releases.changeover.version
    assert device_ids(container) == ["pico-loft"]


def test_the_release_signed_by_the_new_key_alone_is_taken_and_the_old_key_dropped(
    container: Container, hub: Build, releases: Releases, keys: Keys
) -> None:
    published = releases.published(hub, releases.changeover, releases.after)
    with serve_releases(container, published) as url:
        point_updater_at(container, url)
        _apply(container, "apply")
    assert healthy_version(container) == releases.after.version
    assert _trusted(container) == {keys.new.fingerprint}
    assert device_ids(container) == ["pico-loft"]


def test_a_release_signed_by_the_removed_key_is_refused(
    container: Container, hub: Build, releases: Releases, keys: Keys
) -> None:
    before = _state(container)
    published = releases.published(hub, releases.changeover, releases.after, releases.forged)
    with serve_releases(container, published) as url:
        point_updater_at(container, url)
        # The hub accepted K1's signatures before: it says the key was retired, not new.
        for argv in (["check"], ["apply", releases.forged.version, "--wait"]):
            code, output = _updater(container, *argv)
            assert code != 0 and keys.old.fingerprint in output, output
            assert "retired" in output and "install the release" not in output, output
    assert _state(container) == before
    assert healthy_version(container) == releases.after.version


def test_a_rollback_after_the_changeover_goes_back_to_the_release_signed_by_both(
    container: Container, hub: Build, releases: Releases, keys: Keys
) -> None:
    # From the cache: no network is needed, and K2 verifies the changeover release.
    _apply(container, "rollback")
    assert healthy_version(container) == releases.changeover.version
    assert _trusted(container) == {keys.old.fingerprint, keys.new.fingerprint}
    assert device_ids(container) == ["pico-loft"]
