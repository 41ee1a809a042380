"""The release cache, ``/var/cache/picohub``: the one module that knows its layout.

    .lock                   one updater at a time (check, fetch, bundle, apply, rollback...)
    releases/VERSION/       a verified release: InRelease, its indexes, some of its .debs
    copies/VERSION/         a rollback copy of an installed release, repacked on this hub
                            (picohub.update.rollback_copy; pinned in root's state)
    index/latest/, index/vVERSION/   the last fetched InRelease and indexes, per tag
    api/                    the GitHub API's last answers and their ETags
    apt/                    apt's private sources list and lists folder (lists.source:
                            what apt last brought the lists up to date from)
    plan.json               apt's last simulation of an install, and the digest of what
                            it read (picohub.update.plan)
    incoming/               an uploaded bundle, root's copy (settings.incoming_dir)
    .bundle-*               scratch folders of a bundle being opened

A cached release is trusted no more than a downloaded one: :meth:`ReleaseCache.load`
verifies it again against the pinned keyring every time.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import PicohubError, UsageError
from picohub.files import flock_within
from picohub.repository import RepositoryError, verify_repository
from picohub.settings import Settings
from picohub.update.rollback_copy import copy_dir, load_copy, remove_copies
from picohub.versions import is_release_version, tag_of

log = logging.getLogger(__name__)

# The index of the latest release (no tag asked for); other indexes are named by their tag.
LATEST_INDEX = "latest"
SCRATCH_PREFIX = ".bundle-"


class CacheBusy(UsageError):
    """Another updater holds the cache's lock."""


@dataclass(frozen=True)
class Fetched:
    """A verified release in the cache: its version, folder and the .debs it holds."""

    version: str
    directory: Path
    debs: tuple[Path, ...]
    downloaded_bytes: int
    # A rollback copy made on this hub (picohub.update.rollback_copy), not a signed release.
    copy: bool = False

    def package_versions(self) -> dict[str, str]:
        """Each cached package's version, from its file name (NAME_VERSION_ARCH.deb; our
        versions have no epoch). A release may hold packages of earlier versions: those
        that did not change in it."""
        versions = {}
        for deb in self.debs:
            name, version, _arch = deb.name.removesuffix(".deb").split("_")
            versions[name] = version
        return versions


@dataclass(frozen=True)
class ReleaseCache:
    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.cache_dir

    # -- the layout ------------------------------------------------------------------------

    def release_dir(self, version: str) -> Path:
        if not is_release_version(version):
            raise RepositoryError(f"the release's version {version!r} is not a plain version")
        return self.root / "releases" / version

    def index_dir(self, tag: str | None) -> Path:
        """Where the index of the release ``tag`` (None: the latest) is fetched to."""
        return self.root / "index" / (tag or LATEST_INDEX)

    @property
    def api_dir(self) -> Path:
        return self.root / "api"

    @property
    def apt_dir(self) -> Path:
        return self.root / "apt"

    @property
    def plan_file(self) -> Path:
        return self.root / "plan.json"

    def new_scratch(self) -> Path:
        """A new, empty folder in the cache (a bundle being opened); left only by a crash."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.root))

    def remove_scratch(self) -> None:
        """Scratch folders a run that was cut off left behind."""
        if self.root.is_dir():
            for stale in self.root.glob(f"{SCRATCH_PREFIX}*"):
                shutil.rmtree(stale, ignore_errors=True)

    # -- releases ----------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """The cached releases' versions (rollback copies too: what a rollback may go back
        to), oldest first."""
        names = {
            d.name
            for folder in (self.root / "releases", self.root / "copies")
            for d in (folder.iterdir() if folder.is_dir() else ())
            if d.is_dir() and is_release_version(d.name)
        }
        return sorted(names, key=Version)

    def has(self, version: str) -> bool:
        return is_release_version(version) and self.release_dir(version).is_dir()

    def newest_older_than(self, version: str | None) -> str | None:
        if version is None:
            return None
        older = [v for v in self.versions() if Version(v) < Version(version)]
        return older[-1] if older else None

    def load(self, version: str, packages: Iterable[str] = (), *, copies: bool = False) -> Fetched:
        """The cached release ``version``, verified again (signature, its Version, every
        cached file's size and SHA-256), with each of ``packages``; PicohubError if not.
        ``copies``: to go back to it, a rollback copy made on this hub serves when the
        release itself is not cached (never to go forward: only for a rollback)."""
        directory = self.release_dir(version)
        if copies and not directory.is_dir() and copy_dir(self.settings, version).is_dir():
            return self._load_copy(version, packages)
        if not directory.is_dir():
            raise PicohubError(f"release {version} is not in the cache")
        verified = verify_repository(directory, self.settings.archive_keyring, partial=True)
        if verified.release.fields.get("Version") != version:
            raise RepositoryError(f"the cached index of release {version} is of another release")
        present = {path.name for path in verified.present}
        entries = {entry.package: entry for entry in verified.packages}
        lacking = [p for p in packages if p not in entries or entries[p].filename not in present]
        if lacking:
            raise PicohubError(f"the cache has no {', '.join(lacking)} of release {version}")
        return Fetched(version, directory, verified.present, 0)

    def _load_copy(self, version: str, packages: Iterable[str]) -> Fetched:
        """The rollback copy of release ``version`` made on this hub, checked against its
        pin, with each of ``packages``."""
        directory, debs = load_copy(self.settings, version)
        copy = Fetched(version, directory, debs, 0, copy=True)
        lacking = [p for p in packages if p not in copy.package_versions()]
        if lacking:
            raise PicohubError(f"release {version}'s rollback copy has no {', '.join(lacking)}")
        return copy

    def prune(self, keep: Iterable[str]) -> None:
        """Drop cached releases other than ``keep``, and the indexes of the releases dropped
        (the latest release's index stays: its ETag makes the next check a 304)."""
        kept = set(keep)
        remove_copies(self.settings, kept)
        releases = self.root / "releases"
        for directory in releases.iterdir() if releases.is_dir() else ():
            if directory.name not in kept:
                log.info("removing cached release %s", directory.name)
                shutil.rmtree(directory)
        indexes = self.root / "index"
        kept_indexes = {LATEST_INDEX, *(tag_of(version) for version in kept)}
        for directory in indexes.iterdir() if indexes.is_dir() else ():
            if directory.name not in kept_indexes:
                shutil.rmtree(directory)

    # -- one updater at a time -----------------------------------------------------------------

    @contextmanager
    def lock(self, wait_s: float = 0.0) -> Iterator[None]:
        """Hold the cache's lock; wait up to ``wait_s`` for another holder to finish. So a
        check from the web never rewrites an index an update is reading, nor prunes its
        packages."""
        self.root.mkdir(parents=True, exist_ok=True)
        with flock_within(self.root / ".lock", wait_s) as held:
            if not held:
                raise CacheBusy(
                    "another picohub-update (an update, a check or a fetch) is using "
                    f"the cache {self.root}",
                    hint="wait for it to finish: picohub-update status",
                )
            yield


def cache_lock(settings: Settings, wait_s: float = 0.0) -> AbstractContextManager[None]:
    """The cache's lock (:meth:`ReleaseCache.lock`)."""
    return ReleaseCache(settings).lock(wait_s)
