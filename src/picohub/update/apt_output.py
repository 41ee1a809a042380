"""What went wrong, from apt-get's output: the lines a person needs, in one message.

apt says why an install is impossible on lines of their own (`` picohub : Depends: X but
it is not installable``), not on its ``E:`` lines, which only say that it gave up. The
updater installs from a private sources list holding the release alone, so a release that
needs a Debian package the hub does not have cannot be installed from it: the message says
which package, and that apt must install it first.
"""

from __future__ import annotations

import re

# apt's error, warning and fetch-failure lines (bookworm's apt 2.6 and trixie's 3.0 alike).
_PROBLEM_PREFIXES = ("E:", "W:", "Err:")
# " picohub : Depends: python3-foo (>= 1) but it is not installable"
_UNMET = re.compile(r"^ (?P<package>\S+) : (?:Pre-)?Depends: (?P<needed>[^\s(|]+).*$")


def apt_failure(output: str) -> str:
    """The problem lines of apt's ``output`` (stdout and stderr), unmet dependencies
    first; a dependency no source offers gets a sentence on what to do."""
    lines = output.splitlines()
    unmet = [match for line in lines if (match := _UNMET.match(line))]
    problems = [line.strip() for line in lines if line.startswith(_PROBLEM_PREFIXES)]
    said = [match[0].strip() for match in unmet] + problems
    missing = sorted(
        {match["needed"] for match in unmet if match[0].endswith("is not installable")}
    )
    if missing:
        names = " ".join(missing)
        said.append(
            f"(the release needs {', '.join(missing)}, which this hub does not have and the "
            f"release does not bring: install it first with: sudo apt install {names}; "
            "then update again)"
        )
    return " ".join(said)
