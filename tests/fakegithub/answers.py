"""The JSON answers of the fake's REST API, in GitHub's shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakegithub.records import DOCS, JSONType


def validation_failed(
    resource: str, code: str, field_name: str, detail: str | None = None
) -> JSONType:
    """GitHub's 422 answer; a ``custom`` error carries its own ``message``."""
    error: JSONType = {"resource": resource, "code": code, "field": field_name}
    if detail is not None:
        error["message"] = detail
    return {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}


def json_object(raw: bytes) -> JSONType | None:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def message(text: str) -> JSONType:
    return {"message": text, "documentation_url": DOCS}


NOT_FOUND = message("Not Found")


@dataclass
class Answer:
    status: int
    payload: Any = None  # JSON, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
