"""The release keys this hub has accepted releases from, to tell a retired key from a new one.

gpgv only says that a release is signed by a key the keyring lacks. After a key change
that is either the next key (the hub skipped the release that brought it: install that
first) or the key the keyring dropped (never again). The hub cannot list its keyring
(it has gpgv, not gpg), so it remembers the keys whose signatures it accepted.
"""

from __future__ import annotations

import json
import logging

from picohub.files import write_atomically
from picohub.repository import RepositoryError, UnknownSignerError
from picohub.settings import Settings

log = logging.getLogger(__name__)

# A hub sees one key, two during a change: the bound only keeps a damaged file small.
KEPT = 16


def seen(settings: Settings) -> list[str]:
    try:
        data = json.loads(settings.update_signers_seen.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(item) for item in data] if isinstance(data, list) else []


def remember(settings: Settings, fingerprint: str) -> None:
    """Note that a release signed by ``fingerprint`` verified against the keyring."""
    known = seen(settings)
    if fingerprint in known:
        return
    kept = [*known, fingerprint][-KEPT:]
    write_atomically(settings.update_signers_seen, json.dumps(kept) + "\n")


def explain(error: UnknownSignerError, settings: Settings) -> RepositoryError:
    """The refusal to show: a key this hub accepted before and no longer holds was
    retired by a key change, and is refused for good."""
    retired = [fingerprint for fingerprint in error.fingerprints if fingerprint in seen(settings)]
    if not retired:
        return error
    return RepositoryError(
        f"the release is signed only by {', '.join(retired)}, a release key this hub used "
        "to trust and that picohub's keyring no longer holds: the key was retired by a key "
        "change, and nothing it signs is accepted any more",
        hint="do not use this release; a genuine release is signed by the current key",
    )
