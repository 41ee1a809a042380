"""The cache keeps the release being installed and the installed one, nothing else."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from picohub.settings import Settings
from picohub.update.fetch import prune
from tests.unit.conftest import fake_dpkg


def _names(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_a_third_release_leaves_the_cache_with_the_new_and_the_installed_one(
    settings: Settings, tmp_path: Path
) -> None:
    hub = replace(settings, dpkg_admin_dir=fake_dpkg(tmp_path / "dpkg-b", picohub="1.1.0"))
    for version in ("0.9.0", "1.0.0", "1.1.0", "1.2.0"):
        (hub.cache_dir / "releases" / version).mkdir(parents=True)
        (hub.cache_dir / "releases" / version / f"picohub_{version}_all.deb").write_bytes(b"!")
        (hub.cache_dir / "index" / f"v{version}").mkdir(parents=True)
    (hub.cache_dir / "index" / "latest").mkdir()

    prune(hub, keep={"1.2.0"})

    assert _names(hub.cache_dir / "releases") == {"1.1.0", "1.2.0"}
    # The latest release's index keeps its ETag, for the next check's 304.
    assert _names(hub.cache_dir / "index") == {"latest", "v1.1.0", "v1.2.0"}


def test_an_empty_cache_is_left_alone(settings: Settings) -> None:
    prune(settings, keep={"1.2.0"})
    assert not settings.cache_dir.exists()
