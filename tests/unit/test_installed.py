"""What dpkg has installed, read with the real dpkg-query from a database written here."""

from __future__ import annotations

from pathlib import Path

from picohub.installed import installed_versions, unfinished_packages, unfinished_versions
from picohub.settings import RELEASE_PACKAGES


def _database(admin_dir: Path, states: dict[str, tuple[str, str]]) -> Path:
    """A dpkg database with each package in (status word, version)."""
    admin_dir.mkdir(parents=True)
    (admin_dir / "info").mkdir()
    paragraphs = [
        f"Package: {name}\nStatus: install {'reinstreq' if word == 'half-installed' else 'ok'}"
        f" {word}\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.org>\n"
        "Description: test\n"
        for name, (word, version) in states.items()
    ]
    (admin_dir / "status").write_text("\n".join(paragraphs), encoding="utf-8")
    return admin_dir


def test_a_power_cut_mid_unpack_shows_as_unfinished(tmp_path: Path) -> None:
    admin = _database(
        tmp_path / "dpkg",
        {
            "picohub": ("half-installed", "1.1.0"),
            "picohub-web": ("installed", "1.0.0"),
            "picohub-firmware": ("half-configured", "1.1.0"),
        },
    )
    assert unfinished_packages(RELEASE_PACKAGES, admin) == {
        "picohub": "half-installed",
        "picohub-firmware": "half-configured",
    }
    # Half-installed files are a mix of two versions: no version is reported for them.
    assert installed_versions(RELEASE_PACKAGES, admin) == {
        "picohub": None,
        "picohub-web": "1.0.0",
        "picohub-firmware": "1.1.0",
        "picohub-archive-keyring": None,
    }
    # The version dpkg names for what it left: its archive makes the package whole again.
    assert unfinished_versions(RELEASE_PACKAGES, admin) == {"1.1.0"}


def test_installed_and_absent_packages_are_settled(tmp_path: Path) -> None:
    admin = _database(
        tmp_path / "dpkg",
        {"picohub": ("installed", "1.0.0"), "picohub-web": ("config-files", "1.0.0")},
    )
    assert unfinished_packages(RELEASE_PACKAGES, admin) == {}
    assert unfinished_versions(RELEASE_PACKAGES, admin) == set()
    assert installed_versions(RELEASE_PACKAGES, admin)["picohub-web"] is None
