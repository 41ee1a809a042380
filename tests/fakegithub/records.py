"""The fake's records: releases, assets, the request log and the rate-limit budgets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSONType = dict[str, Any]

UNAUTHORIZED_LIMIT = 60
AUTHORIZED_LIMIT = 5000
WINDOW = 3600.0  # GitHub's primary rate limit is per hour
DOCS = "https://docs.github.com/rest"


@dataclass
class AssetRecord:
    id: int
    name: str
    label: str | None
    content_type: str
    data: bytes
    created_at: float
    updated_at: float
    download_count: int = 0
    # GitHub computes an upload's digest after the answer: reads answering null are left.
    digest_pending: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass
class ReleaseRecord:
    id: int
    tag_name: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    created_at: float
    published_at: float | None
    target_commitish: str = "main"
    immutable: bool = False  # locked at publish, when the repository asks for it
    assets: list[AssetRecord] = field(default_factory=list)

    def asset(self, name: str) -> AssetRecord | None:
        return next((asset for asset in self.assets if asset.name == name), None)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # without the query string
    query: str
    status: int
    authorized: bool
    kind: str  # "api", "upload" or "download"


@dataclass
class Budget:
    limit: int
    remaining: int
    reset: float
    retry_after: int | None = None
    status: int = 403

    def refresh(self, now: float) -> None:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + WINDOW
            self.retry_after = None
            self.status = 403


def github_asset_name(name: str) -> str:
    """The name GitHub gives an uploaded file (it renames special characters)."""
    renamed = re.sub(r"[^A-Za-z0-9._-]", ".", name).strip(".")
    return renamed or "default"


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == wanted:
            return True
    return False
