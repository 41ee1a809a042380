"""What apt is asked to install: each package at its version in the release, which may be
older than the release for a package that did not change in it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from picohub.repository import RepositoryError
from picohub.settings import Settings
from picohub.update import packages
from picohub.update.cache import Fetched

KEYRING = Path("/usr/share/keyrings/picohub-archive-keyring.gpg")


def _release(tmp_path: Path) -> Fetched:
    # Release 1.1.0 changed picohub only; picohub-web stayed at 1.0.0.
    debs = (
        tmp_path / "picohub_1.1.0_all.deb",
        tmp_path / "picohub-web_1.0.0_all.deb",
    )
    return Fetched("1.1.0", tmp_path, debs, 0)


def test_each_package_is_pinned_to_its_own_version(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Sequence[str]] = []
    monkeypatch.setattr(packages, "_apt", lambda args, **_: calls.append(args))
    fetched = _release(tmp_path)
    assert fetched.package_versions() == {"picohub": "1.1.0", "picohub-web": "1.0.0"}
    packages.install(fetched, ["picohub", "picohub-web"], KEYRING, settings, downgrade=True)
    update, install = calls
    assert update[-1] == "update"
    assert install[-2:] == ["picohub=1.1.0", "picohub-web=1.0.0"]
    assert "--allow-downgrades" in install


def test_a_package_the_release_does_not_hold_is_named(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packages, "_apt", lambda args, **_: None)
    with pytest.raises(RepositoryError, match=r"in the cache has no picohub-firmware"):
        packages.install(
            _release(tmp_path), ["picohub-firmware"], KEYRING, settings, downgrade=False
        )


def test_a_rollback_reinstalls_what_the_hub_has_or_left_half_done(
    settings: Settings, tmp_path: Path
) -> None:
    # picohub installed, picohub-web left half-installed by a failed update (dpkg wants
    # it reinstalled), picohub-firmware never installed on this hub.
    status = settings.dpkg_admin_dir / "status"
    status.write_text(
        status.read_text()
        + "\nPackage: picohub-web\nStatus: install reinstreq half-installed\nVersion: 1.5.0\n"
        "Architecture: all\nMaintainer: Test <test@example.org>\nDescription: test\n"
    )
    release = Fetched(
        "1.4.2",
        tmp_path,
        tuple(
            tmp_path / f"{name}_1.4.2_all.deb"
            for name in ("picohub", "picohub-web", "picohub-firmware")
        ),
        0,
    )
    assert packages.packages_on_hub(settings, release) == ["picohub", "picohub-web"]
