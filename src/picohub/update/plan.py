"""Before an install: what apt would do, and a refusal of a plan that asks for more than
picohub.

apt simulates the install over the verified release and the hub's own sources, against
the hub's dpkg database. The plan may install, upgrade or remove picohub's own packages,
and upgrade a Debian package the installed release already depends on. Anything else (a
new package, a removal, an upgrade of something picohub never needed) is refused before
anything changes, unless the administrator accepted it from a shell after reading the
list. A package the release's own index offers that is not one of picohub's is refused
always: a release brings picohub's packages only, and the updater downloads no other.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from debian.debian_support import Version

from picohub.errors import PicohubError
from picohub.files import write_atomically
from picohub.installed import installed_dependencies
from picohub.repository import PACKAGES, read_packages
from picohub.settings import RELEASE_PACKAGES, Settings
from picohub.update.apt_inputs import plan_digest
from picohub.update.cache import Fetched, ReleaseCache
from picohub.update.packages import simulate

log = logging.getLogger(__name__)

# A refusal names this many actions; the unit's journal has them all.
LISTED = 10
# "Inst sl [5.01] (5.02-1+b1 Debian:12.15/oldstable [amd64]) []": the old version only
# for a package dpkg has; apt 2.6 (bookworm) and 3.0 (trixie) alike.
_INSTALL = re.compile(
    r"^Inst (?P<package>\S+)(?: \[(?P<old>[^\]]*)\])? \((?P<new>\S+)(?P<origin>.*?) \[[^\]]*\]\)"
)
# "Remv nginx-light [1.22.1-9]", "Purg ..."
_REMOVE = re.compile(r"^(?:Remv|Purg) (?P<package>\S+)(?: \[(?P<old>[^\]]*)\])?")


class Verb(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    REMOVE = "remove"


@dataclass(frozen=True)
class Action:
    """One package apt would change: to ``version`` (None for a removal) from ``origin``
    (apt's label of the source, e.g. ``Debian:12.15/oldstable``)."""

    verb: Verb
    package: str
    version: str | None
    origin: str

    def __str__(self) -> str:
        if self.verb is Verb.REMOVE:
            return f"remove {self.package}"
        origin = self.origin or "the hub's sources"
        return f"{self.verb} {self.package} {self.version} (from {origin})"


# What every refusal of a plan says, and what the automatic runs know one by.
WOULD_ALSO = " would also "


def is_refused_plan(message: str) -> bool:
    """Whether a transaction's end ``message`` is a refused plan."""
    return WOULD_ALSO in message


class PlanRefused(PicohubError):
    """The release would change packages that are not picohub's (the transaction it ends
    says that nothing was changed)."""


def parse_simulation(output: str) -> list[Action]:
    """The packages ``apt-get --simulate install`` says it would change, in its order."""
    actions = []
    for line in output.splitlines():
        if match := _INSTALL.match(line):
            old, new = match["old"], match["new"]
            verb = (
                Verb.INSTALL
                if old is None
                else Verb.DOWNGRADE
                if Version(new) < Version(old)
                else Verb.UPGRADE
            )
            actions.append(Action(verb, match["package"], new, match["origin"].strip()))
        elif match := _REMOVE.match(line):
            actions.append(Action(Verb.REMOVE, match["package"], None, ""))
    return actions


@dataclass(frozen=True)
class Plan:
    """What installing a release takes beyond picohub's packages."""

    others: tuple[Action, ...]

    @property
    def needs_hub_sources(self) -> bool:
        """Whether apt needs the hub's own sources to carry it out."""
        return bool(self.others)


def plan_install(
    fetched: Fetched,
    packages: Sequence[str],
    settings: Settings,
    *,
    downgrade: bool,
    accept_new_dependencies: bool,
) -> Plan:
    """Simulate installing ``packages`` of the fetched release and judge the plan: what it
    takes beyond picohub's packages, or :class:`PlanRefused` before anything changed."""
    actions = simulated(fetched, packages, settings, downgrade=downgrade)
    index = read_packages((fetched.directory / PACKAGES).read_text(encoding="utf-8"))
    return judge(
        actions,
        fetched.version,
        {entry.package: entry.version for entry in index},
        installed_dependencies(RELEASE_PACKAGES, settings.dpkg_admin_dir),
        accept_new_dependencies=accept_new_dependencies,
    )


def simulated(
    fetched: Fetched, packages: Sequence[str], settings: Settings, *, downgrade: bool
) -> list[Action]:
    """What apt would do to install ``packages`` of the fetched release: simulated, or
    what the last simulation said when nothing apt reads has changed since (the same
    :func:`~picohub.update.apt_inputs.plan_digest`). So an automatic run simulates when it
    downloads a release, and the maintenance window's install does not pay for it again;
    the judgment of the plan is made afresh each time. The answer is kept in the cache,
    where only root writes."""
    record = ReleaseCache(settings).plan_file
    digest = plan_digest(fetched, packages, settings, downgrade=downgrade)
    kept = _read_simulation(record)
    if kept is not None and kept[0] == digest:
        log.info(
            "apt's plan for release %s is as simulated before: nothing it reads has changed",
            fetched.version,
        )
        return kept[1]
    record.unlink(missing_ok=True)
    actions = parse_simulation(simulate(fetched, packages, settings, downgrade=downgrade))
    kept_form = {
        "digest": digest,
        "release": fetched.version,
        "actions": [
            {"verb": a.verb.value, "package": a.package, "version": a.version, "origin": a.origin}
            for a in actions
        ],
    }
    write_atomically(record, json.dumps(kept_form, indent=1) + "\n", 0o600)
    return actions


def _read_simulation(record: Path) -> tuple[str, list[Action]] | None:
    """The digest and actions a simulation left; None when there is none that reads."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return str(data["digest"]), [
            Action(
                Verb(a["verb"]),
                str(a["package"]),
                None if a["version"] is None else str(a["version"]),
                str(a["origin"]),
            )
            for a in data["actions"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def judge(
    actions: Sequence[Action],
    version: str,
    release_index: Mapping[str, str],
    dependencies: Collection[str],
    *,
    accept_new_dependencies: bool,
) -> Plan:
    """The plan of installing release ``version``, or :class:`PlanRefused` naming what it
    would also do. ``release_index`` holds the packages the release's signed index offers
    (name: version), ``dependencies`` the packages the installed release depends on."""
    others = tuple(a for a in actions if a.package not in RELEASE_PACKAGES)
    carried = [
        a for a in others if a.version is not None and release_index.get(a.package) == a.version
    ]
    if carried:
        raise PlanRefused(
            f"release {version}{WOULD_ALSO}install {_listed(carried, origin=False)} from its "
            f"own index, which is not one of picohub's packages ({', '.join(RELEASE_PACKAGES)})",
            hint="a picohub release brings only picohub's packages; ask its publisher for one "
            "without it",
        )
    foreign = [a for a in others if not (a.verb is Verb.UPGRADE and a.package in dependencies)]
    if foreign and not accept_new_dependencies:
        raise PlanRefused(
            f"release {version}{WOULD_ALSO}{_listed(foreign, origin=True)}",
            hint="read the list; to accept it, from a shell: "
            f"sudo picohub-update apply {version} --accept-new-dependencies",
        )
    return Plan(others)


def _listed(actions: Sequence[Action], *, origin: bool) -> str:
    """The actions, the first LISTED of them when there are more (all of them logged)."""
    said = [str(a) if origin else f"{a.package} {a.version}" for a in actions]
    if len(said) <= LISTED:
        return ", ".join(said)
    log.warning("the whole plan: %s", ", ".join(said))
    more = len(said) - LISTED
    return f"{', '.join(said[:LISTED])} and {more} more (the unit's journal lists them all)"
