"""JSON from outside the hub: parsed as usual, refused with a reason past the bounds."""

from __future__ import annotations

import json
import time

import pytest

from picohub import jsontext


def test_ordinary_json_is_parsed_as_the_standard_library_does() -> None:
    text = '{"a": [1, -2.5e3, "x[{\\"]", {"b": null}], "c": true}'
    assert jsontext.loads(text) == {"a": [1, -2500.0, 'x[{"]', {"b": None}], "c": True}
    assert jsontext.loads(b'"\\u00e9t\\u00e9"') == "été"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [[{}]]}', 4),
        ('["]]]]", "[[[["]', 1),  # brackets in strings do not count
        ('["\\\\", ["\\""]]', 2),  # nor do escaped quotes end a string
    ],
)
def test_nesting_is_measured_outside_strings(text: str, depth: int) -> None:
    assert jsontext.nesting(text) == depth


def test_the_deepest_nesting_allowed_parses_and_one_more_is_refused() -> None:
    deepest = "[" * jsontext.MAX_DEPTH + "]" * jsontext.MAX_DEPTH
    assert jsontext.loads(deepest) == json.loads(deepest)
    with pytest.raises(jsontext.JsonRefused, match=r"nested 17 levels deep; at most 16"):
        jsontext.loads("[" + deepest + "]")


def test_nesting_deeper_than_python_can_recurse_is_refused_not_raised() -> None:
    with pytest.raises(jsontext.JsonRefused, match="nested 100000 levels"):
        jsontext.loads('{"a":' * 100_000 + "1" + "}" * 100_000)


@pytest.mark.parametrize(
    "number", ["9" * 33, "-" + "9" * 32, "1." + "0" * 31, "1e" + "9" * 31, "9" * 5000]
)
def test_a_number_too_long_is_refused_with_its_length(number: str) -> None:
    with pytest.raises(jsontext.JsonRefused, match=f"a number of {len(number)} characters"):
        jsontext.loads(f'{{"n": {number}}}')


def test_the_longest_number_allowed_parses() -> None:
    assert jsontext.loads("9" * jsontext.MAX_NUMBER_CHARS) == int("9" * jsontext.MAX_NUMBER_CHARS)


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
def test_a_number_beyond_a_float_is_refused(number: str) -> None:
    with pytest.raises(jsontext.JsonRefused, match=f"the number {number} is out of range"):
        jsontext.loads(f"[{number}]")


def test_an_unterminated_string_of_quotes_costs_one_pass() -> None:
    """A failing string match retried at every quote costs their square: 16 KiB of \\"
    took seconds of CPU per request (a Pi's two workers, stalled by anyone on the LAN)."""
    body = '{"firmware_version": "' + '\\"' * 8000
    started = time.process_time()
    with pytest.raises(jsontext.JsonRefused, match="Unterminated string"):
        jsontext.loads(body)
    # Milliseconds here against seconds before: a bound far from both.
    assert time.process_time() - started < 0.5
    assert jsontext.nesting('["a\\"]", [1]]') == 2
    assert jsontext.nesting('["unterminated [[[') == 1


@pytest.mark.parametrize("name", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(name: str) -> None:
    with pytest.raises(jsontext.JsonRefused, match=f"{name} is not a JSON number"):
        jsontext.loads(f"[{name}]")


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [(b"\xff", "not UTF-8"), (b"{", "not valid JSON"), (b"[1,]", "not valid JSON"), (b"", "JSON")],
)
def test_malformed_text_is_refused_as_json_refused(raw: bytes, complaint: str) -> None:
    with pytest.raises(jsontext.JsonRefused, match=complaint):
        jsontext.loads(raw)
