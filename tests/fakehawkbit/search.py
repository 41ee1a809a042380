"""The Management API's searches over software: FIQL ``q`` of ``key==value`` clauses joined
by ``;`` (and), on ``name``, ``version``, ``type`` and ``id``; ``*`` is a wildcard; a value may
be double-quoted. hawkBit compares case-insensitively, as here. Paged with ``offset`` and
``limit`` as hawkBit pages (``content``, ``total``, ``size``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tests.fakehawkbit.rollouts import FilterError

T = TypeVar("T")
_CLAUSE = re.compile(r'(name|version|type|id)==("(?:[^"\\]|\\.)*"|[^;"]+)')


def _clauses(query: str) -> list[tuple[str, str]]:
    clauses = []
    for part in re.split(r";(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", query.strip()):
        found = _CLAUSE.fullmatch(part.strip())
        if found is None:
            raise FilterError(f"unsupported search query: {query!r}")
        key, value = found.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        clauses.append((key, value))
    return clauses


def search(items: Sequence[T], query: str | None, get: Callable[[T, str], str]) -> list[T]:
    """The ``items`` whose fields match every clause of ``query`` (all when it is None)."""
    if not query:
        return list(items)
    clauses = _clauses(query)
    return [
        item
        for item in items
        if all(fnmatch.fnmatchcase(get(item, key).lower(), value.lower()) for key, value in clauses)
    ]


def field(item: object, key: str) -> str:
    """A module's or a set's field by its search key."""
    return str(getattr(item, key))


def paged(content: list[Any], params: dict[str, list[str]]) -> dict[str, Any]:
    offset = int((params.get("offset") or ["0"])[0])
    limit = int((params.get("limit") or ["50"])[0])
    page = content[offset : offset + limit]
    return {"content": page, "total": len(content), "size": len(page)}
