"""What apt's simulation says it would do, and which plans the updater refuses. The outputs
are apt's own: bookworm's apt 2.6 and trixie's 3.0."""

from __future__ import annotations

import pytest

from picohub.update.plan import Action, PlanRefused, Verb, judge, parse_simulation

BOOKWORM = """\
NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
The following packages will be REMOVED:
  systemd-timesyncd
The following packages will be upgraded:
  appstream
Remv systemd-timesyncd [252.39-1~deb12u2]
Inst appstream [0.16.1-2] (0.16.1-2+b1 Debian:12.15/oldstable [amd64])
Inst picohub [0.1.0] (0.2.0 localhost [all])
Inst chrony (4.3-2+deb12u3 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Conf appstream (0.16.1-2+b1 Debian:12.15/oldstable [amd64])
Conf picohub (0.2.0 localhost [all])
Conf chrony (4.3-2+deb12u3 Debian:12.15/oldstable [amd64])
"""
TRIXIE = """\
Inst picohub-web [0.2.0] (0.1.0 localhost [all])
Inst javascript-common (12+nmu1 Debian:13.8/stable [all])
Purg systemd-timesyncd [257.13-1~deb13u1]
Conf javascript-common (12+nmu1 Debian:13.8/stable [all])
"""


def test_bookworms_plan_is_read_in_order() -> None:
    assert parse_simulation(BOOKWORM) == [
        Action(Verb.REMOVE, "systemd-timesyncd", None, ""),
        Action(Verb.UPGRADE, "appstream", "0.16.1-2+b1", "Debian:12.15/oldstable"),
        Action(Verb.UPGRADE, "picohub", "0.2.0", "localhost"),
        Action(
            Verb.INSTALL,
            "chrony",
            "4.3-2+deb12u3",
            "Debian:12.15/oldstable, Debian-Security:12/oldstable-security",
        ),
    ]


def test_trixies_plan_is_read_with_downgrades_and_purges() -> None:
    assert parse_simulation(TRIXIE) == [
        Action(Verb.DOWNGRADE, "picohub-web", "0.1.0", "localhost"),
        Action(Verb.INSTALL, "javascript-common", "12+nmu1", "Debian:13.8/stable"),
        Action(Verb.REMOVE, "systemd-timesyncd", None, ""),
    ]


def _judge(output: str, *, accept: bool = False, depends: tuple[str, ...] = ()) -> list[str]:
    plan = judge(
        parse_simulation(output), "0.2.0", {"picohub": "0.2.0"}, depends,
        accept_new_dependencies=accept,
    )  # fmt: skip
    return [str(action) for action in plan.others]


def test_picohubs_own_packages_go_through_whatever_they_do() -> None:
    assert (
        _judge("Inst picohub [0.1.0] (0.2.0 localhost [all])\nRemv picohub-firmware [0.1]\n") == []
    )


def test_everything_else_is_refused_with_its_list_and_the_way_to_accept_it() -> None:
    with pytest.raises(PlanRefused) as refused:
        _judge(BOOKWORM)
    assert refused.value.message == (
        "release 0.2.0 would also remove systemd-timesyncd, upgrade appstream 0.16.1-2+b1 "
        "(from Debian:12.15/oldstable), install chrony 4.3-2+deb12u3 (from "
        "Debian:12.15/oldstable, Debian-Security:12/oldstable-security)"
    )
    assert refused.value.hint is not None
    assert "sudo picohub-update apply 0.2.0 --accept-new-dependencies" in refused.value.hint
    assert len(_judge(BOOKWORM, accept=True)) == 3


def test_an_upgrade_of_what_the_installed_release_depends_on_needs_no_acceptance() -> None:
    upgrade = "Inst appstream [0.16.1-2] (0.16.1-2+b1 Debian:12.15/oldstable [amd64])\n"
    assert _judge(upgrade, depends=("appstream",)) == [
        "upgrade appstream 0.16.1-2+b1 (from Debian:12.15/oldstable)"
    ]
    # A downgrade or a new install of it is still the administrator's call.
    with pytest.raises(PlanRefused):
        _judge(
            "Inst appstream (0.16.1-2+b1 Debian:12.15/oldstable [amd64])\n", depends=("appstream",)
        )


def test_a_package_from_the_releases_own_index_is_never_accepted() -> None:
    stowaway = "Inst stowaway (6.6.6 localhost [all])\n"
    for accept in (False, True):
        with pytest.raises(PlanRefused, match=r"stowaway 6\.6\.6 from its own index"):
            judge(
                parse_simulation(stowaway), "0.2.0", {"stowaway": "6.6.6"}, (),
                accept_new_dependencies=accept,
            )  # fmt: skip


def test_a_long_list_names_the_first_ten_and_how_many_more() -> None:
    output = "".join(f"Inst lib{n} (1.{n} Debian:12.15/oldstable [amd64])\n" for n in range(25))
    with pytest.raises(PlanRefused) as refused:
        _judge(output)
    said = refused.value.message
    assert "install lib9 1.9 (from" in said and "lib10" not in said
    assert said.endswith("and 15 more (the unit's journal lists them all)")
