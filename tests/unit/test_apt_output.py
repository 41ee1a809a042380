"""The message of a failed apt-get: what apt said, and what to do about a dependency the
hub lacks. The outputs are apt's own, captured on bookworm (apt 2.6) and trixie (3.0)."""

from __future__ import annotations

from picohub.update.apt_output import apt_failure

IMPOSSIBLE = """\
Reading package lists...
Building dependency tree...
Reading state information...
Some packages could not be installed. This may mean that you have
requested an impossible situation or if you are using the unstable
distribution that some required packages have not yet been created
or been moved out of Incoming.
The following information may help to resolve the situation:

The following packages have unmet dependencies:
 picohub : Depends: python3-zeroconf (>= 0.47) but it is not installable
E: Unable to correct problems, you have held broken packages.
"""

TRIXIE_EXTRA = """\
E: The following information from --solver 3.0 may provide additional context:
   Unable to satisfy dependencies. Reached two conflicting decisions:
   1. picohub:amd64=1.1.0 is selected for install
   2. picohub:amd64 Depends python3-zeroconf (>= 0.47)
      but none of the choices are installable:
      [no choices]
"""


def test_a_missing_dependency_is_named_with_what_to_do() -> None:
    for output in (IMPOSSIBLE, IMPOSSIBLE + TRIXIE_EXTRA):
        said = apt_failure(output)
        assert said.startswith(
            "picohub : Depends: python3-zeroconf (>= 0.47) but it is not installable "
            "E: Unable to correct problems, you have held broken packages."
        )
        assert "install it first with: sudo apt install python3-zeroconf;" in said


def test_errors_and_warnings_are_kept_and_progress_dropped() -> None:
    output = (
        "Reading package lists...\n"
        "W: Some index files failed to download. They have been ignored.\n"
        "Err:1 file:/var/cache/picohub/releases/1.1.0 ./ InRelease\n"
        "E: dpkg was interrupted, you must manually run 'dpkg --configure -a'\n"
    )
    assert apt_failure(output) == (
        "W: Some index files failed to download. They have been ignored. "
        "Err:1 file:/var/cache/picohub/releases/1.1.0 ./ InRelease "
        "E: dpkg was interrupted, you must manually run 'dpkg --configure -a'"
    )


def test_a_dependency_that_is_installable_but_held_gets_no_advice() -> None:
    output = (
        " picohub : Depends: gunicorn (>= 20) but it is not going to be installed\n"
        "E: Unable to correct problems, you have held broken packages.\n"
    )
    said = apt_failure(output)
    assert said.startswith("picohub : Depends: gunicorn (>= 20) but it is not going")
    assert "sudo apt install" not in said


def test_nothing_recognised_is_an_empty_message() -> None:
    assert apt_failure("Reading package lists...\n") == ""
