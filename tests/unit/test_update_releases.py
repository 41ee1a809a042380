"""Which release a channel follows, read from the API's list, and notes fit for a terminal:
the pure part of picohub.update.releases (the HTTP part is in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from picohub.update.config import Channel
from picohub.update.releases import (
    MAX_NOTES_BYTES,
    Release,
    ReleasesApi,
    clean_notes,
    newest_release,
    parse_releases,
)
from picohub.versions import version_of_tag

STABLE, PRERELEASE = Channel.STABLE, Channel.PRERELEASE


def _tag(releases: list[Release], channel: Channel) -> str | None:
    found = newest_release(releases, channel)
    return None if found is None else found.tag


@pytest.mark.parametrize("channel", list(Channel))
def test_no_releases_no_choice(channel: Channel) -> None:
    assert newest_release([], channel) is None


@pytest.mark.parametrize("channel", list(Channel))
def test_drafts_never_count(channel: Channel) -> None:
    releases = [
        Release("v3.0.0", draft=True),
        Release("v2.5.0", draft=True, prerelease=True),
        Release("v1.0.0"),
    ]
    assert _tag(releases, channel) == "v1.0.0"
    assert newest_release(releases[:2], channel) is None


def test_a_newer_prerelease_counts_only_on_the_prerelease_channel() -> None:
    releases = [Release("v1.3.0", prerelease=True), Release("v1.2.0"), Release("v1.1.0")]
    assert _tag(releases, PRERELEASE) == "v1.3.0"
    assert _tag(releases, STABLE) == "v1.2.0"


def test_a_stable_release_newer_than_every_prerelease_wins_on_both_channels() -> None:
    releases = [Release("v1.3.0"), Release("v1.2.90", prerelease=True)]
    assert _tag(releases, PRERELEASE) == _tag(releases, STABLE) == "v1.3.0"


def test_only_prereleases_leave_the_stable_channel_without_a_release() -> None:
    assert newest_release([Release("v1.0.0", prerelease=True)], STABLE) is None


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9", "1.10"),  # numbers, not strings
        ("1.9.9", "1.10.0"),
        ("2.0", "2.0.1"),
        ("1.2.90", "1.3.0"),  # how a pre-release sorts below its final release here
        ("2.0-1", "2.0-2"),  # Debian revisions
        ("2.0", "2.0a"),  # letters sort after the end of a version...
        ("2.0", "2.0-rc1"),  # ...so an "rc" suffix sorts after its final release
        ("2.0.0", "10.0.0"),
    ],
)
def test_versions_compare_the_debian_way_whatever_the_order_listed(older: str, newer: str) -> None:
    for releases in (
        [Release(f"v{older}"), Release(f"v{newer}")],
        [Release(f"v{newer}"), Release(f"v{older}")],
    ):
        assert _tag(releases, STABLE) == f"v{newer}"


def test_of_equal_versions_the_first_listed_wins() -> None:
    releases = [Release("v1.0", body="first"), Release("v1.00", body="second")]
    found = newest_release(releases, STABLE)
    assert found is not None and found.body == "first"


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "9.0.0",  # no v
        "V9.0.0",
        "v",
        "vv9.0.0",
        "v9.0.0~rc1",  # forbidden in release versions: GitHub renames such assets
        "v9.0.0+b1",
        "v1:9.0.0",
        "v9.0/../../x",
        "v.9",
        "firmware-9.0.0",
        "v" + "9" * 65,  # longer than a plain version may be
    ],
)
def test_tags_that_are_not_v_and_a_plain_version_are_ignored(tag: str) -> None:
    assert version_of_tag(tag) is None
    assert _tag([Release(tag), Release("v1.0.0")], PRERELEASE) == "v1.0.0"


@pytest.mark.parametrize(("tag", "version"), [("v1.2.3", "1.2.3"), ("v2.0-1", "2.0-1")])
def test_a_release_tag_names_its_version(tag: str, version: str) -> None:
    assert version_of_tag(tag) == version


def test_the_list_keeps_what_the_selection_needs_and_skips_the_malformed() -> None:
    data = [
        {"tag_name": "v1.1.0", "draft": False, "prerelease": True, "body": "notes", "id": 7},
        {"tag_name": "v1.0.0", "draft": False, "prerelease": False, "body": None},
        {"tag_name": "v1.0.1", "draft": "no", "prerelease": False},  # not a boolean
        {"tag_name": 5, "draft": False, "prerelease": False},
        {"draft": False, "prerelease": False},
        "v9.9.9",
        {"tag_name": "v0.9.0", "draft": True, "prerelease": False, "body": {"x": 1}},
    ]
    assert parse_releases(data) == (
        Release("v1.1.0", prerelease=True, body="notes"),
        Release("v1.0.0"),
        Release("v0.9.0", draft=True),
    )


@pytest.mark.parametrize("data", [{"message": "Not Found"}, "x", None, 3])
def test_an_answer_that_is_not_a_list_is_refused(data: object) -> None:
    with pytest.raises(ValueError, match="not a list of releases"):
        parse_releases(data)


def test_notes_lose_control_characters_but_keep_lines_and_tabs() -> None:
    body = "## 1.3\r\n\n- fix\tthis\x1b[31m red\x1b[0m\x07\r\n- and \x9bthat\x00\n"
    assert clean_notes(body) == "## 1.3\n\n- fix\tthis[31m red[0m\n- and that"


def test_no_notes_stay_none() -> None:
    assert clean_notes(None) is None


def test_notes_at_the_cap_are_kept_whole() -> None:
    body = "x" * MAX_NOTES_BYTES
    assert clean_notes(body) == body


def test_long_notes_are_cut_at_a_character_boundary_and_say_so() -> None:
    body = "é" * MAX_NOTES_BYTES  # two bytes each: the cap falls inside none of them
    notes = clean_notes("a" + body)
    assert notes is not None
    kept, _, marker = notes.rpartition("\n")
    assert kept == "a" + "é" * ((MAX_NOTES_BYTES - 1) // 2)
    assert marker == "[notes cut at 64 KiB; the release page has them all]"


def test_the_api_client_does_not_show_its_token() -> None:
    api = ReleasesApi("https://api.github.com", "o", "r", Path("/c"), token="ghp_secret")
    assert "ghp_secret" not in repr(api)
    assert "ghp_secret" not in repr(Release("v1.0.0", body="ghp_secret"))
