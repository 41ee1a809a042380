"""JSON from outside the hub (a request body, a trigger request), parsed within bounds.

Python's parser recurses once per nesting level and turns any run of digits into an
int: a body nested thousands deep raises RecursionError, and an integer of thousands of
digits a ValueError of its own (Python's limit on int digits). Both would be a 500 (or no
answer at all). Here the nesting is measured before parsing, and numbers, ``NaN`` and
``Infinity`` are refused while parsing, each with a message naming what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Everything the hub is sent nests two or three levels deep.
MAX_DEPTH = 16
# A number's text: a 64-bit integer has at most 20 characters, a float's repr 24.
MAX_NUMBER_CHARS = 32

# A string, or an unterminated one up to the end: the match never fails, so a text of
# many quotes costs one pass (a failing match retried at every quote costs their square).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonRefused(ValueError):
    """Text that is not JSON the hub accepts; the message names what is wrong."""


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` (UTF-8 when bytes), refusing what is malformed, nested deeper than
    ``max_depth``, a number longer than MAX_NUMBER_CHARS, or NaN and Infinity."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"not UTF-8: {exc}") from exc
    depth = nesting(text)
    if depth > max_depth:
        raise JsonRefused(f"nested {depth} levels deep; at most {max_depth}")
    try:
        return json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except JsonRefused:
        raise
    except ValueError as exc:  # json.JSONDecodeError among them
        raise JsonRefused(f"not valid JSON: {exc}") from exc


def nesting(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings aside)."""
    deepest = depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _number_text(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(
            f"a number of {len(text)} characters ({text[:12]}...); at most {MAX_NUMBER_CHARS}"
        )
    return text


def _int(text: str) -> int:
    return int(_number_text(text))


def _float(text: str) -> float:
    value = float(_number_text(text))
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")
