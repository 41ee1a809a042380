from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from picohub.errors import UsageError
from picohub_release.versions import (
    changelog_version,
    check_release_version,
    python_version,
    stamp_version,
    upstream_part,
)
from tests.conftest import SOURCE, next_version


def test_the_python_version_matches_the_changelog() -> None:
    assert python_version(SOURCE) == upstream_part(changelog_version(SOURCE))


@pytest.mark.parametrize("version", ["1.0~rc1", "1:1.0", "1.0+git1"])
def test_versions_github_would_rename_are_refused(version: str) -> None:
    with pytest.raises(UsageError, match="GitHub renames"):
        check_release_version(version)


@pytest.mark.parametrize("version", ["1.0", "0.1.0", "2.3.4-1"])
def test_plain_versions_are_accepted(version: str) -> None:
    assert check_release_version(version) == version


def test_stamping_adds_a_changelog_entry_and_sets_the_python_version(tmp_path: Path) -> None:
    (tmp_path / "debian").mkdir()
    shutil.copy(SOURCE / "debian" / "changelog", tmp_path / "debian" / "changelog")
    (tmp_path / "src" / "picohub").mkdir(parents=True)
    shutil.copy(SOURCE / "src" / "picohub" / "__init__.py", tmp_path / "src" / "picohub")
    new = next_version(changelog_version(SOURCE))

    stamp_version(tmp_path, new, message="Test.", when="Tue, 24 Nov 2026 12:00:00 +0000")

    assert changelog_version(tmp_path) == new
    assert python_version(tmp_path) == new
    text = (tmp_path / "debian" / "changelog").read_text()
    assert text.count("picohub (") == 2  # the old entry is kept below the new one
