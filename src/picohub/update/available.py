"""The last check's answer, kept for the web app: which release is available, its notes,
and which packages it would change. Written by root, readable by the app."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from picohub.files import write_atomically
from picohub.settings import Settings
from picohub.update.check import CheckResult
from picohub.update.status import now


def describe(result: CheckResult) -> str:
    if not result.update_available:
        return f"up to date: release {result.version} changes nothing installed here"
    changes = ", ".join(
        f"{c.package} {c.installed or '(not installed)'} -> {c.offered}" for c in result.changes
    )
    return f"release {result.version} is available: {changes}"


def record_check(settings: Settings, result: CheckResult) -> dict[str, Any]:
    available = {
        "version": result.version,
        "update_available": result.update_available,
        "changes": [asdict(change) for change in result.changes],
        "notes": result.notes,
        "message": describe(result),
        "checked_at": now(),
    }
    write_atomically(settings.update_available, json.dumps(available, indent=2) + "\n")
    return available


def read_available(settings: Settings) -> dict[str, Any] | None:
    """The last check's answer, or None when there was none (or it cannot be read)."""
    try:
        data = json.loads(settings.update_available.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
