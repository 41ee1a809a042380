"""Release versions and the tags that name them: the one place that knows their form.

A release's version is a plain Debian version without epoch, ``~`` or ``+`` (GitHub
renames assets with those characters); its tag is ``v`` + the version. Versions compare
the Debian way (``debian_support.Version``), never as strings.
"""

from __future__ import annotations

import re

from debian.debian_support import Version

# Also what keeps a version out of paths and URLs: no "/", no "..", no spaces.
VERSION = re.compile(r"[0-9][0-9A-Za-z.-]{0,63}")


def is_release_version(text: object) -> bool:
    return isinstance(text, str) and VERSION.fullmatch(text) is not None


def tag_of(version: str) -> str:
    """The release tag of ``version`` (``1.2.3`` gives ``v1.2.3``)."""
    return f"v{version}"


def version_of_tag(tag: str) -> str | None:
    """The version a release tag names (``v1.2.3`` gives ``1.2.3``); None for any other tag."""
    version = tag.removeprefix("v")
    if version == tag or not is_release_version(version):
        return None
    return version


def is_older(version: str, than: str | None) -> bool:
    """Whether ``version`` is older than ``than`` (never, when ``than`` is None)."""
    return than is not None and Version(version) < Version(than)


def newest(versions: list[str]) -> str | None:
    return max(versions, key=Version) if versions else None
