"""The two releases the bench updates between: only picohub changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from picohub_release.build import Build, build_debs
from picohub_release.repository import Repository, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import changelog_version
from tests.conftest import SOURCE, next_version


@dataclass
class Releases:
    old: Build
    new: Build  # only its picohub package is used
    old_repo: Repository
    new_repo: Repository


def build_releases(work: Path) -> Releases:
    """Release 1 from the tree; release 2 with only picohub changed (see tools.bench)."""
    new_version = next_version(changelog_version(SOURCE))
    with ThreadPoolExecutor(max_workers=2) as pool:
        old_build = pool.submit(build_debs, SOURCE, work / "r1" / "dist", work / "r1" / "work")
        new_build = pool.submit(
            build_debs, SOURCE, work / "r2" / "dist", work / "r2" / "work", version=new_version
        )
        old, new = old_build.result(), new_build.result()
    signer = local_signer(LOCAL_KEY_DIR)  # the key test builds pin in picohub
    old_repo = write_repository(old.debs, work / "repo1", signer, version=old.version)
    mixed = [new.deb("picohub"), old.deb("picohub-web"), old.deb("picohub-firmware")]
    new_repo = write_repository(mixed, work / "repo2", signer, version=new.version)
    return Releases(old, new, old_repo, new_repo)
