"""``check``: is there a newer release, and which of the installed packages would change?

The routine check costs no API call: it fetches the latest release's ``InRelease`` asset
conditionally (the last ETag and date are remembered), verifies it against the pinned
keyring before reading anything from it, then reads ``Packages`` through its signed hash.
Which tag a pre-release channel checks, and the release notes, come from the API:
:func:`picohub.update.releases.check_channel` wraps this check with both.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

import requests
from debian.debian_support import Version

from picohub.files import rename_into_place, write_atomically
from picohub.installed import installed_versions
from picohub.repository import (
    INRELEASE,
    PACKAGES,
    PackageEntry,
    RepositoryError,
    SignedRelease,
    UnknownSignerError,
    read_packages,
    read_release,
    safe_filename,
    verify_signed_text,
)
from picohub.settings import CORE_PACKAGES, RELEASE_PACKAGES, Settings
from picohub.update import signers
from picohub.update.cache import ReleaseCache
from picohub.update.config import UpdateConfig
from picohub.update.download import fetch_file
from picohub.update.failures import looks_like_a_web_page, web_page_instead
from picohub.update.http import DownloadError, Limits, fetch_conditional
from picohub.update.phasing import Phasing, phasing_of, read_machine_id
from picohub.update.timefloor import TimeFloor, release_date
from picohub.versions import tag_of

log = logging.getLogger(__name__)

# An InRelease is a few kilobytes; anything near this is not one.
MAX_INRELEASE_BYTES = 1 << 20


@dataclass(frozen=True)
class Change:
    package: str
    installed: str | None
    offered: str


@dataclass(frozen=True)
class CheckResult:
    version: str  # the release's version (its Release file's Version field)
    base_url: str
    index_dir: Path  # the verified InRelease and the index files it lists
    index_files: tuple[str, ...]
    packages: tuple[PackageEntry, ...]
    changes: tuple[Change, ...]
    not_modified: bool  # the server answered 304 to the conditional request
    # The release's notes from the API (picohub.update.releases), when asked for and had.
    notes: str | None = None
    # Why the release's Date is not believed (picohub.update.timefloor): not installed
    # automatically.
    date_refusal: str | None = None
    # How the release is phased for this hub (picohub.update.phasing); None: not phased.
    phasing: Phasing | None = None

    @property
    def update_available(self) -> bool:
        return bool(self.changes)


def remembered(path: Path) -> dict[str, str]:
    """A small JSON object this updater wrote (empty when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {key: str(value) for key, value in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def check(
    config: UpdateConfig,
    settings: Settings,
    session: requests.Session,
    *,
    tag: str | None = None,
    allow_older: bool = False,
) -> CheckResult:
    """Fetch and verify the release's index; compare it with what dpkg has installed."""
    base_url = config.release_url(tag)
    index_dir = ReleaseCache(settings).index_dir(tag)
    index_dir.mkdir(parents=True, exist_ok=True)
    memory = index_dir / "conditional.json"
    # A new index waits beside the kept one, under its own name (messages name it).
    kept, candidate = (
        index_dir / INRELEASE,
        index_dir.with_name(f"{index_dir.name}.new") / INRELEASE,
    )
    candidate.parent.mkdir(exist_ok=True)
    validators = remembered(memory) if kept.exists() else {}
    fetched = fetch_conditional(
        session,
        base_url + INRELEASE,
        kept,
        limits=Limits(max_bytes=MAX_INRELEASE_BYTES),
        etag=validators.get("etag"),
        last_modified=validators.get("last_modified"),
        candidate=candidate,
    )
    try:
        if fetched.path is not None:
            _refuse_a_web_page(fetched.path)
        release, version = _read_verified(fetched.path or kept, settings, tag)
        date = release_date(release.fields.get("Date"))
        floor = TimeFloor(settings)
        date_refusal = None if date is None else floor.observe(date, config.max_future)
        if tag is None:
            # The latest release must be fresh and never go back, by version or by date
            # (an implausible date is not remembered: it would refuse every later one).
            _refuse_expired(release, version, date, floor.now())
            _never_backwards(settings.update_newest_seen, version, None if date_refusal else date)
        # Every index file it lists (apt, reading the cache later, wants them all), each
        # no bigger than, and exactly as, the signed index says.
        for entry in release.files.values():
            fetch_file(
                session,
                base_url + safe_filename(entry.name),
                index_dir / entry.name,
                size=entry.size,
                sha256=entry.sha256,
                limits=Limits(max_bytes=entry.size),
            )
        if fetched.path is not None:
            # Only a new index that passed every check above replaces the kept one.
            rename_into_place(candidate, kept)
            conditional = {"etag": fetched.etag, "last_modified": fetched.last_modified}
            write_atomically(memory, json.dumps({k: v for k, v in conditional.items() if v}))
    finally:
        candidate.unlink(missing_ok=True)  # refused: the kept index stays as it was
        with contextlib.suppress(OSError):
            candidate.parent.rmdir()
    packages = tuple(read_packages((index_dir / PACKAGES).read_text(encoding="utf-8")))
    changes = changes_from(packages, settings, allow_older=allow_older)
    return CheckResult(
        version=version,
        base_url=base_url,
        index_dir=index_dir,
        index_files=tuple(release.files),
        packages=packages,
        changes=changes,
        not_modified=fetched.status == "not-modified",
        date_refusal=date_refusal,
        phasing=phasing_of(packages, version, read_machine_id(settings.machine_id)),
    )


def _refuse_a_web_page(candidate: Path) -> None:
    """A captive portal answers every address with its page: say so, not "unsigned"."""
    with candidate.open("rb") as stream:
        head = stream.read(512)
    if looks_like_a_web_page(head):
        message, hint = web_page_instead(f"the release's {INRELEASE}")
        raise DownloadError(message, hint=hint)


def _read_verified(path: Path, settings: Settings, tag: str | None) -> tuple[SignedRelease, str]:
    """The signed index at ``path``, verified against the pinned keyring and checked to
    be the release asked for (and, for the latest, not older than one seen before).
    Verified on every check, 304 or not: a file on disk is trusted no more than a new one."""
    try:
        fingerprint, text = verify_signed_text(path, settings.archive_keyring)
    except UnknownSignerError as error:
        raise signers.explain(error, settings) from error
    signers.remember(settings, fingerprint)
    release = read_release(text, fingerprint)
    version = release.fields.get("Version")
    if not version:
        raise RepositoryError("the signed index has no Version field")
    if tag is not None and tag_of(version) != tag:
        raise RepositoryError(f"asked for release {tag}, but its signed index is release {version}")
    if PACKAGES not in release.files:
        raise RepositoryError("the signed index does not list Packages")
    return release, version


def _refuse_expired(
    release: SignedRelease, version: str, date: datetime | None, floor: datetime
) -> None:
    """A latest release past its ``Valid-Until`` (judged against the time floor, not the
    clock alone) is refused: a network that keeps serving an old signed index would
    otherwise freeze the hub on it without a word. A cached release (a rollback, the
    recovery at boot) never depends on it: only the check of the latest does."""
    valid_until = release_date(release.fields.get("Valid-Until"))
    if valid_until is None or valid_until >= floor:
        return
    signed = f"{date:%Y-%m-%d %H:%M} UTC" if date is not None else "its signing"
    raise RepositoryError(
        f"the release channel has not been re-signed since {signed}: the latest release, "
        f"{version}, expired on {valid_until:%Y-%m-%d %H:%M} UTC "
        f"({(floor - valid_until).days} days ago)",
        hint="a network or mirror may be holding newer releases back; if the channel is "
        "only quiet, its owner must publish it again (the release tool's --valid-for)",
    )


def _never_backwards(memory: Path, version: str, date: datetime | None) -> None:
    """The latest release never goes back, by version or, for the same or an older
    version, by the date it was signed: an old signed index served as the latest (a
    replay) would otherwise keep the hub on old releases without a word."""
    seen = remembered(memory)
    seen_version, seen_date = seen.get("version"), release_date(seen.get("date"))
    withdrawn = (
        f"if release {seen_version} was withdrawn on purpose, publish a newer one "
        f"(or delete {memory})"
    )
    if seen_version and Version(version) < Version(seen_version):
        raise RepositoryError(
            f"the latest release offered is {version}, older than release {seen_version} "
            "offered before",
            hint=f"a server replaying an old release keeps the hub from updating; {withdrawn}",
        )
    newer = not seen_version or Version(version) > Version(seen_version)
    if not newer and date is not None and seen_date is not None and date < seen_date:
        raise RepositoryError(
            f"the latest release offered, {version}, was signed on {date:%Y-%m-%d %H:%M} UTC, "
            f"before the signature of release {seen_version} seen before "
            f"({seen_date:%Y-%m-%d %H:%M} UTC): an old signature replayed",
            hint=f"a server replaying an old release keeps the hub from updating; {withdrawn}",
        )
    if newer or (date is not None and (seen_date is None or date > seen_date)):
        kept = {"version": version} | ({"date": format_datetime(date)} if date else {})
        write_atomically(memory, json.dumps(kept) + "\n")


def changes_from(
    packages: tuple[PackageEntry, ...], settings: Settings, *, allow_older: bool
) -> tuple[Change, ...]:
    """The installed release packages whose offered version differs (is newer, unless
    ``allow_older``: an explicit rollback)."""
    offered = {entry.package: entry.version for entry in packages}
    installed = installed_versions(RELEASE_PACKAGES, settings.dpkg_admin_dir)
    changes = []
    for package in RELEASE_PACKAGES:
        have, want = installed[package], offered.get(package)
        if want is None:
            continue
        # picohub and its keyring are always part of an update; the others only when
        # installed.
        if have is None and package not in CORE_PACKAGES:
            continue
        newer = have is None or Version(want) > Version(have)
        older = have is not None and Version(want) < Version(have)
        if newer or (allow_older and older):
            changes.append(Change(package, have, want))
    return tuple(changes)
