"""Publish a release on GitHub: a draft first, published only once every asset is verified.

Safe to run again after any failure: an existing draft for the tag is reused, assets that are
already there with the right sha256 are kept, stale or broken ones replaced, strays removed.
A published release is never changed: with exactly the same assets it is returned as it is
(so a re-run of a finished release is a no-op), with others it is refused.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from debian.debian_support import Version

from picohub.errors import PicohubError, UsageError
from picohub_release.github import JSON, MAX_WAIT, GitHubClient, GitHubRepo

log = logging.getLogger(__name__)

T = TypeVar("T")

# GitHub may answer an upload before it has its digest: reads again, after 1, 2, 4, 8 s.
DIGEST_READS = 4
DIGEST_WAIT = 1.0

# GitHub renames asset files with other characters, and the apt index would then name files
# that do not exist; so such a name is refused before anything is uploaded.
ASSET_NAME = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")

_TYPES_BY_NAME = {
    "Release.gpg": "application/pgp-signature",
    "InRelease": "text/plain",
    "Release": "text/plain",
    "Packages": "text/plain",
    "SHA256SUMS": "text/plain",
}
_TYPES_BY_SUFFIX = {
    ".deb": "application/vnd.debian.binary-package",
    ".gz": "application/gzip",
    ".xz": "application/x-xz",
    ".zip": "application/zip",
    ".gpg": "application/pgp-signature",
    ".asc": "application/pgp-signature",
    ".sig": "application/pgp-signature",
    ".json": "application/json",
    ".txt": "text/plain",
    ".uf2": "application/octet-stream",
}


@dataclass(frozen=True)
class AssetInfo:
    name: str
    size: int
    digest: str  # "sha256:<hex>", as GitHub gives it


@dataclass(frozen=True)
class Release:
    id: int
    tag: str
    html_url: str
    draft: bool
    assets: tuple[AssetInfo, ...]


@dataclass(frozen=True)
class _LocalAsset:
    path: Path
    info: AssetInfo


def content_type(name: str) -> str:
    """The media type an asset is uploaded with (GitHub stores and serves it as given)."""
    if name in _TYPES_BY_NAME:
        return _TYPES_BY_NAME[name]
    suffix = Path(name).suffix
    if "keyring" in name and suffix in (".gpg", ".asc"):
        return "application/pgp-keys"
    return _TYPES_BY_SUFFIX.get(suffix, "application/octet-stream")


def sha256_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return f"sha256:{hashlib.file_digest(stream, 'sha256').hexdigest()}"


def _local_assets(paths: Sequence[Path]) -> list[_LocalAsset]:
    if not paths:
        raise UsageError("a release needs at least one asset")
    assets: dict[str, _LocalAsset] = {}
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        if ASSET_NAME.fullmatch(path.name) is None:
            raise UsageError(
                f"{path.name}: GitHub would rename this asset",
                hint="asset names may use only letters, digits, '.', '_' and '-' "
                "(no '~', ':' or '+' in versions)",
            )
        if path.name in assets:
            raise UsageError(f"two assets are named {path.name}: {assets[path.name].path}, {path}")
        info = AssetInfo(path.name, path.stat().st_size, sha256_digest(path))
        assets[path.name] = _LocalAsset(path, info)
    return list(assets.values())


def _asset_info(asset: Mapping[str, Any]) -> AssetInfo:
    return AssetInfo(str(asset["name"]), int(asset["size"]), str(asset.get("digest") or ""))


def _to_release(release: Mapping[str, Any]) -> Release:
    assets = sorted((_asset_info(asset) for asset in release["assets"]), key=lambda a: a.name)
    return Release(
        id=int(release["id"]),
        tag=str(release["tag_name"]),
        html_url=str(release["html_url"]),
        draft=bool(release["draft"]),
        assets=tuple(assets),
    )


def _differences(remote: Iterable[Mapping[str, Any]], local: Sequence[_LocalAsset]) -> list[str]:
    """What differs between a release's assets and the local files, in words (none: same)."""
    theirs = {str(asset["name"]): asset for asset in remote}
    ours = {asset.info.name: asset.info for asset in local}
    changes = [f"{name} is missing" for name in sorted(ours.keys() - theirs.keys())]
    changes += [f"{name} is not in this release" for name in sorted(theirs.keys() - ours.keys())]
    for name in sorted(ours.keys() & theirs.keys()):
        asset = theirs[name]
        if asset.get("state", "uploaded") != "uploaded":
            changes.append(f"{name} is not completely uploaded")
        elif not asset.get("digest"):
            changes.append(f"{name} has no digest on GitHub")
        elif asset["digest"] != ours[name].digest or asset["size"] != ours[name].size:
            changes.append(f"{name} differs ({asset['digest']}, here {ours[name].digest})")
    return changes


def _find_release(releases: Sequence[JSON], tag: str) -> tuple[JSON | None, list[JSON]]:
    """The published release for ``tag``, if any, and its drafts (newest first)."""
    matching = [release for release in releases if release.get("tag_name") == tag]
    published = next((release for release in matching if not release.get("draft")), None)
    return published, [release for release in matching if release.get("draft")]


def _draft_for(
    client: GitHubClient, drafts: list[JSON], *, tag: str, title: str, notes: str, pre: bool
) -> JSON:
    """The newest draft for the tag, the others deleted; or a new draft."""
    for extra in drafts[1:]:
        log.info("deleting an extra draft release %s for %s", extra["id"], tag)
        client.delete_release(int(extra["id"]))
    if drafts:
        log.info("reusing draft release %s for %s", drafts[0]["id"], tag)
        return drafts[0]
    log.info("creating draft release %s", tag)
    return client.create_release(tag=tag, name=title, body=notes, draft=True, prerelease=pre)


def _tag_version(tag: object) -> Version | None:
    try:
        return Version(str(tag).removeprefix("v"))
    except ValueError:
        return None


def _higher_release(tag: str, releases: Iterable[JSON]) -> str | None:
    """The tag of a published full release of a higher version than ``tag``, if any.

    GitHub makes every newly published release "latest" unless told otherwise, and the
    hubs follow "latest": a hotfix of an older line published after a newer release (or
    an old tag's job run again) would offer every hub a downgrade, which they refuse, and
    hide the newer release from them.
    """
    ours = _tag_version(tag)
    if ours is None:
        raise UsageError(f"the tag {tag!r} is not v<version>")
    higher = [
        (version, str(release["tag_name"]))
        for release in releases
        if not release.get("draft") and not release.get("prerelease")
        if (version := _tag_version(release.get("tag_name"))) is not None and version > ours
    ]
    return max(higher)[1] if higher else None


def _settled(
    answer: T,
    read_again: Callable[[], T],
    ready: Callable[[T], bool],
    what: str,
    sleep: Callable[[float], None],
) -> T:
    """``answer``, or a later ``read_again()`` once ``ready``: GitHub may give an asset's
    digest as null right after its upload, so it is read again a few times, waiting
    longer each time, before the caller gives up."""
    for attempt in range(DIGEST_READS):
        if ready(answer):
            break
        wait = DIGEST_WAIT * 2**attempt
        log.info("GitHub has no digest for %s yet; reading it again in %.0f s", what, wait)
        sleep(wait)
        answer = read_again()
    return answer


def _upload(
    client: GitHubClient, draft: JSON, asset: _LocalAsset, sleep: Callable[[float], None]
) -> None:
    info = asset.info
    log.info("uploading %s (%d bytes, %s)", info.name, info.size, info.digest)
    answer = client.upload_asset(
        draft, asset.path, name=info.name, content_type=content_type(info.name)
    )
    asset_id = int(answer["id"])
    answer = _settled(
        answer,
        lambda: client.get_asset(asset_id),
        lambda a: bool(a.get("digest")),
        info.name,
        sleep,
    )
    uploaded = _asset_info(answer)
    if not uploaded.digest:
        raise PicohubError(
            f"GitHub gave no digest for {info.name} after {DIGEST_READS + 1} reads",
            hint="run the publication again: the draft stays unpublished until it does",
        )
    if uploaded != info:
        raise PicohubError(
            f"GitHub stored {info.name} as {uploaded.name} with {uploaded.size} bytes and "
            f"{uploaded.digest or 'no digest'}; here it has {info.size} bytes and {info.digest}",
            hint="run the publication again: the draft stays unpublished until this matches",
        )


def _sync_assets(
    client: GitHubClient,
    draft: JSON,
    local: Sequence[_LocalAsset],
    sleep: Callable[[float], None],
) -> None:
    """Make the draft's assets exactly the local files."""
    existing = {str(asset["name"]): asset for asset in client.list_assets(int(draft["id"]))}
    wanted = {asset.info.name for asset in local}
    for name in sorted(existing.keys() - wanted):
        log.info("deleting %s from the draft: not part of this release", name)
        client.delete_asset(int(existing[name]["id"]))
    for asset in local:
        remote = existing.get(asset.info.name)
        if remote is not None and not _differences([remote], [asset]):
            log.info("keeping %s: already uploaded with the same sha256", asset.info.name)
            continue
        if remote is not None:
            log.info(
                "replacing %s: %s", asset.info.name, "; ".join(_differences([remote], [asset]))
            )
            client.delete_asset(int(remote["id"]))
        _upload(client, draft, asset, sleep)


def publish_release(
    repo: GitHubRepo,
    *,
    tag: str,
    title: str,
    notes: str,
    assets: Sequence[Path],
    prerelease: bool = False,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = MAX_WAIT,
) -> Release:
    """Publish ``assets`` as the release ``tag``; see the module docstring."""
    if not repo.token:
        raise UsageError(
            "publishing a release needs a GitHub token", hint="set GITHUB_TOKEN (contents: write)"
        )
    if not tag:
        raise UsageError("publishing a release needs a tag")
    local = _local_assets(assets)
    client = GitHubClient(repo, session=session, sleep=sleep, max_wait=max_wait)

    releases = client.list_releases()
    published, drafts = _find_release(releases, tag)
    if published is not None:
        changes = _differences(published["assets"], local)
        if changes:
            raise PicohubError(
                f"release {tag} is already published with other assets: {'; '.join(changes)}",
                hint="a published release is never changed; bump the version and tag again",
            )
        log.info("release %s is already published with these assets: nothing to do", tag)
        return _to_release(published)

    higher = _higher_release(tag, releases)
    draft = _draft_for(client, drafts, tag=tag, title=title, notes=notes, pre=prerelease)
    _sync_assets(client, draft, local, sleep)

    # Publish only what is verifiably complete: read the assets back once more.
    draft_id = int(draft["id"])
    listed = _settled(
        client.list_assets(draft_id),
        lambda: client.list_assets(draft_id),
        lambda assets: all(asset.get("digest") for asset in assets),
        f"the assets of draft release {tag}",
        sleep,
    )
    changes = _differences(listed, local)
    if changes:
        raise PicohubError(
            f"draft release {tag} is not complete after uploading: {'; '.join(changes)}",
            hint="run the publication again; the draft stays unpublished",
        )
    if higher is not None and not prerelease:
        log.warning("publishing %s without making it latest: %s is a higher version", tag, higher)
    log.info("publishing release %s", tag)
    fields = {
        "draft": False,
        "name": title,
        "body": notes,
        "prerelease": prerelease,
        # Sent either way: GitHub's default would make any newly published release latest.
        "make_latest": "false" if higher is not None or prerelease else "true",
    }
    release = _to_release(client.update_release(int(draft["id"]), fields))
    if release.draft:
        raise PicohubError(f"GitHub kept release {tag} a draft after publishing it")
    log.info("published %s: %s", tag, release.html_url)
    return release
