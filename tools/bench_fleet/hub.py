"""The one real hub: a booted bookworm with release 1 installed by apt, following the
bench's server as a hawkBit target (picohub-hawkbit.service); and the two releases, the
second as the signed offline bundle a hawkBit artifact is."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from picohub.update.bundle import write_bundle
from picohub_release.build import Build, build_debs
from picohub_release.repository import KEYRING, write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import changelog_version
from tests.conftest import SOURCE, next_version
from tests.system.container import Container
from tests.system.journeys import healthy_version
from tools.bench_fleet.settings import DEBS_IN_CONTAINER, SERVICE

log = logging.getLogger("bench-fleet")
UNITS = (SERVICE, "picohub-update.service")


@dataclass(frozen=True)
class Releases:
    old: Build  # installed with apt
    new: Build  # assigned through hawkBit, as its bundle
    bundle: Path


def build_releases(work: Path) -> Releases:
    """Release 1 from the tree, release 2 the tree one version later (every package
    changes), its repository signed with the local key test builds pin, packed as the
    offline bundle ``picohub-update bundle`` writes."""
    new_version = next_version(changelog_version(SOURCE))
    with ThreadPoolExecutor(max_workers=2) as pool:
        old = pool.submit(build_debs, SOURCE, work / "r1" / "dist", work / "r1" / "work")
        new = pool.submit(
            build_debs, SOURCE, work / "r2" / "dist", work / "r2" / "work", version=new_version
        )
        old_build, new_build = old.result(), new.result()
    repository = write_repository(
        new_build.debs, work / "repo2", local_signer(LOCAL_KEY_DIR), version=new_build.version
    )
    bundle = work / f"picohub-{new_build.version}.bundle.tar"
    write_bundle(repository.directory, repository.directory / KEYRING, bundle)
    return Releases(old_build, new_build, bundle)


class Hub:
    def __init__(self, container: Container, releases: Releases) -> None:
        self.container = container
        self.releases = releases
        machine_id = container.run(["cat", "/etc/machine-id"]).stdout.strip()
        self.controller_id = f"picohub-{machine_id[:16]}"  # hawkbit_service.controller_id

    def install_release_1(self) -> str:
        """apt-get install of release 1's .debs (a downgrade after a round); the version
        /healthz then says."""
        c = self.container
        c.run(["systemctl", "stop", SERVICE], check=False)  # not there before the first
        debs = [
            c.put(deb, f"{DEBS_IN_CONTAINER}/{self.releases.old.version}")
            for deb in self.releases.old.debs
        ]
        apt = ["apt-get", "install", "--yes", "--no-install-recommends", "--allow-downgrades"]
        c.run([*apt, *debs], timeout=600)
        c.run(["systemctl", "stop", SERVICE])
        # Every round from the same state: nothing of release 2 cached (tools.bench's reset).
        cached = ("hawkbit", "releases", "index", "apt")
        c.run(["rm", "-rf", *[f"/var/cache/picohub/{name}" for name in cached]])
        c.run(["rm", "-f", "/var/lib/picohub-update/hawkbit.json"])
        return healthy_version(c, timeout=60)

    def follow(self, url: str, token: str) -> str:
        """update.conf's [fleet] at ``url``, the token, the service restarted; returns the
        journal cursor from before the restart."""
        c = self.container
        cursor = c.journal_cursor()
        c.sh(
            f"umask 077 && printf '%s\\n' {token} > /etc/picohub/hawkbit.token && "
            f"printf '[fleet]\\nfleet = hawkbit\\nhawkbit_url = {url}\\n'"
            " > /etc/picohub/update.conf"
        )
        c.run(["systemctl", "restart", SERVICE])
        return cursor

    def stop(self) -> None:
        self.container.run(["systemctl", "stop", SERVICE], check=False)

    def version(self) -> str | None:
        try:
            return healthy_version(self.container, timeout=30)
        except TimeoutError:
            return None

    def log_lines(self, cursor: str) -> list[str]:
        """What the agent and the updater logged since ``cursor``."""
        lines = []
        for unit in UNITS:
            for message in self.container.journal_messages(cursor, _SYSTEMD_UNIT=unit):
                lines.append(f"{unit}: {message}")
        return lines
