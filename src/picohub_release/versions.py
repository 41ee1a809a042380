"""Which versions a release may carry, and where the source tree states its version."""

from __future__ import annotations

import re
from pathlib import Path

from debian.changelog import Changelog

from picohub.errors import UsageError

# GitHub renames asset files whose names contain these, and the apt index would then
# point at names that do not exist (README, "Versions").
FORBIDDEN_IN_VERSION = "~:+"
VERSION_SHAPE = re.compile(r"[0-9][0-9A-Za-z.\-]*")
PYTHON_VERSION_LINE = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)


def check_release_version(version: str) -> str:
    bad = sorted({char for char in version if char in FORBIDDEN_IN_VERSION})
    if bad:
        raise UsageError(
            f"version {version!r} contains {' '.join(repr(c) for c in bad)}",
            hint="GitHub renames asset names with '~', ':' or '+'; use digits, '.' and '-'",
        )
    if not VERSION_SHAPE.fullmatch(version):
        raise UsageError(
            f"version {version!r} is not a Debian version of digits, letters, '.' and '-'"
        )
    return version


def changelog_version(source_dir: Path) -> str:
    with (source_dir / "debian" / "changelog").open(encoding="utf-8") as handle:
        return str(Changelog(handle, max_blocks=1).version)


def python_version(source_dir: Path) -> str:
    text = (source_dir / "src" / "picohub" / "__init__.py").read_text(encoding="utf-8")
    match = PYTHON_VERSION_LINE.search(text)
    if match is None:
        raise UsageError("src/picohub/__init__.py has no __version__ line")
    return match.group(1)


def upstream_part(debian_version: str) -> str:
    """The upstream part of a Debian version: ``1.2.3-2`` gives ``1.2.3``."""
    return debian_version.rsplit("-", 1)[0] if "-" in debian_version else debian_version


def stamp_version(source_dir: Path, version: str, *, message: str, when: str) -> None:
    """Give a staged source tree a new changelog entry and the matching Python version.

    Used for test builds of a second release from the same commit; ``when`` is an RFC
    2822 date so the build stays reproducible.
    """
    check_release_version(version)
    path = source_dir / "debian" / "changelog"
    with path.open(encoding="utf-8") as handle:
        changelog = Changelog(handle)
    changelog.new_block(
        package=changelog.package,
        version=version,
        distributions=changelog.distributions,
        urgency=changelog.urgency,
        author=changelog.author,
        date=when,
    )
    changelog.add_change("")
    changelog.add_change(f"  * {message}")
    changelog.add_change("")
    path.write_text(str(changelog), encoding="utf-8")
    init = source_dir / "src" / "picohub" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    init.write_text(
        PYTHON_VERSION_LINE.sub(f'__version__ = "{upstream_part(version)}"', text),
        encoding="utf-8",
    )


def check_tag(tag: str, version: str) -> None:
    """A release is made only from the tag ``v<version of debian/changelog>``."""
    if tag != f"v{version}":
        raise UsageError(
            f"the tag {tag!r} does not match debian/changelog's version {version}",
            hint=f"tag the commit as v{version}, or add a changelog entry for {tag}",
        )


def changelog_notes(source_dir: Path) -> str:
    """The newest debian/changelog entry's changes, as release notes."""
    with (source_dir / "debian" / "changelog").open(encoding="utf-8") as handle:
        block = Changelog(handle, max_blocks=1)[0]
    lines = [line[2:] if line.startswith("  ") else line for line in block.changes()]
    return "\n".join(lines).strip() + "\n"
