"""Every path and setting the device code uses, in one object tests can point elsewhere.

Defaults are the Debian locations. The environment can override each one (the service
unit does not need to; tests and development do).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "picohub"
# The release keys a hub trusts, in a package of their own (Debian's pattern:
# debian-archive-keyring), so that a release can bring the next key before it is used.
KEYRING_PACKAGE = "picohub-archive-keyring"
# The packages a release consists of; the system page shows each one's installed version.
RELEASE_PACKAGES = (PACKAGE, "picohub-web", "picohub-firmware", KEYRING_PACKAGE)
# Those every hub has: each is part of every update, installed or not before.
CORE_PACKAGES = (PACKAGE, KEYRING_PACKAGE)
# The app's listening sockets: the loopback port and nginx's Unix socket. Stopping the app
# means stopping both, or a request on either starts it again.
APP_SOCKETS = ("picohub.socket", "picohub-proxy.socket")


@dataclass(frozen=True)
class Settings:
    state_dir: Path = Path("/var/lib/picohub")
    cache_dir: Path = Path("/var/cache/picohub")
    dpkg_admin_dir: Path = Path("/var/lib/dpkg")
    # The updater's own state (root's): its status file and what it remembers between runs.
    update_state_dir: Path = Path("/var/lib/picohub-update")
    update_config: Path = Path("/etc/picohub/update.conf")
    # The release keys, shipped in picohub-archive-keyring: never taken from the network.
    archive_keyring: Path = Path("/usr/share/keyrings/picohub-archive-keyring.gpg")
    # Installed by picohub-firmware: the image and its manifest, served to the boards.
    firmware_dir: Path = Path("/usr/share/picohub/firmware")
    # Largest request body the API accepts; a heartbeat is a few hundred bytes.
    max_request_bytes: int = 16 * 1024
    # Boards the registry keeps: heartbeats are unauthenticated, so a LAN client making up
    # ids must not fill the SD card. A hub serves tens of boards; a new one past the bound
    # is refused until the administrator removes one (DELETE /api/devices/ID).
    max_devices: int = 1000
    # The administrator password in clear, for root's eyes only (``picohub admin-password
    # show``): root:root 0600 in a folder only root may change. The app reads only the hash.
    admin_password_file: Path = Path("/etc/picohub/admin-password")
    # The unprivileged user the app runs as (picohub.sysusers); it owns the password's hash.
    service_user: str = PACKAGE
    # The root-owned update trigger (picohub-update-trigger.socket) the app asks to act.
    update_trigger_socket: Path = Path("/run/picohub-update/trigger.sock")
    # What tells the hub's time floor how late it is at least (picohub.update.timefloor):
    # systemd-timesyncd's clock file, and the installed picohub's changelog.
    timesync_clock: Path = Path("/var/lib/systemd/timesync/clock")
    installed_changelog: Path = Path("/usr/share/doc/picohub/changelog.gz")  # a native package
    # The hub's own apt sources and the lists apt last fetched for them: an install's plan
    # is simulated over them beside the release (picohub.update.plan).
    apt_sources_list: Path = Path("/etc/apt/sources.list")
    apt_sources_parts: Path = Path("/etc/apt/sources.list.d")
    apt_lists: Path = Path("/var/lib/apt/lists")
    # systemd's machine id: a phased release's bucket comes from it (picohub.update.phasing).
    machine_id: Path = Path("/etc/machine-id")
    # How firmware images roll out to the boards (INI, [rollout]: canaries,
    # healthy_heartbeats); read on every request, optional (picohub.firmware.rollout).
    firmware_rollout_config: Path = Path("/etc/picohub/firmware.conf")
    # The Debian release a hub reports to hawkBit (VERSION_CODENAME).
    os_release: Path = Path("/etc/os-release")

    @property
    def database(self) -> Path:
        return self.state_dir / "picohub.db"

    @property
    def admin_credential(self) -> Path:
        """The administrator password's scrypt hash (picohub:picohub 0600): the app reads it."""
        return self.state_dir / "admin.json"

    @property
    def secret_key_file(self) -> Path:
        """The key that signs the session cookies, made by the app on its first start."""
        return self.state_dir / "secret_key"

    @property
    def upload_dir(self) -> Path:
        """Where the app puts an uploaded bundle for the update trigger to take."""
        return self.state_dir / "uploads"

    @property
    def incoming_dir(self) -> Path:
        """Root's copy of an uploaded bundle, out of the app's reach; removed once applied."""
        return self.cache_dir / "incoming"

    @property
    def update_status(self) -> Path:
        return self.update_state_dir / "status.json"

    @property
    def update_journal(self) -> Path:
        """The transaction journal (root's): what the current or last update set out to do."""
        return self.update_state_dir / "journal.json"

    @property
    def update_history(self) -> Path:
        """One entry per transaction that ended, the newest last (the app shows it)."""
        return self.update_state_dir / "history.json"

    @property
    def update_snapshots(self) -> Path:
        """The app's database as it was before the current or last update: not in the
        cache, whose files may be deleted at any time, since nothing can make it again."""
        return self.update_state_dir / "snapshots"

    @property
    def update_newest_seen(self) -> Path:
        """The newest release ever offered as the latest (it never goes back)."""
        return self.update_state_dir / "newest-seen.json"

    @property
    def update_signers_seen(self) -> Path:
        """The release keys this hub has accepted a release from: one signing a release
        after the keyring dropped it was retired, not new."""
        return self.update_state_dir / "signers-seen.json"

    @property
    def update_time_floor(self) -> Path:
        """The latest moment the hub knows has passed (it only moves forward)."""
        return self.update_state_dir / "time-floor.json"

    @property
    def update_available(self) -> Path:
        """The last check's answer (root writes it, the app shows it)."""
        return self.update_state_dir / "available.json"

    @property
    def update_hold(self) -> Path:
        """An administrator's hold on automatic installs (root writes it, the app shows it)."""
        return self.update_state_dir / "hold.json"

    @property
    def update_automatic(self) -> Path:
        """What the last automatic run found and did (root writes it, the app shows it)."""
        return self.update_state_dir / "automatic.json"

    @property
    def hawkbit_state(self) -> Path:
        """The hawkBit action whose install was handed to the updater (root's, 0600):
        the service reports its result after the restart the update brings."""
        return self.update_state_dir / "hawkbit.json"

    @property
    def hawkbit_cache(self) -> Path:
        """Where a hawkBit deployment's artifacts are downloaded (a folder per action)."""
        return self.cache_dir / "hawkbit"

    @property
    def firmware_manifest(self) -> Path:
        return self.firmware_dir / "manifest.json"

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            state_dir=Path(env.get("PICOHUB_STATE_DIR", defaults.state_dir)),
            cache_dir=Path(env.get("PICOHUB_CACHE_DIR", defaults.cache_dir)),
            dpkg_admin_dir=Path(env.get("PICOHUB_DPKG_ADMIN_DIR", defaults.dpkg_admin_dir)),
            firmware_dir=Path(env.get("PICOHUB_FIRMWARE_DIR", defaults.firmware_dir)),
            update_state_dir=Path(env.get("PICOHUB_UPDATE_STATE_DIR", defaults.update_state_dir)),
            update_config=Path(env.get("PICOHUB_UPDATE_CONFIG", defaults.update_config)),
            archive_keyring=Path(env.get("PICOHUB_ARCHIVE_KEYRING", defaults.archive_keyring)),
            admin_password_file=Path(
                env.get("PICOHUB_ADMIN_PASSWORD_FILE", defaults.admin_password_file)
            ),
            service_user=env.get("PICOHUB_SERVICE_USER", defaults.service_user),
            update_trigger_socket=Path(
                env.get("PICOHUB_UPDATE_TRIGGER_SOCKET", defaults.update_trigger_socket)
            ),
            machine_id=Path(env.get("PICOHUB_MACHINE_ID", defaults.machine_id)),
            os_release=Path(env.get("PICOHUB_OS_RELEASE", defaults.os_release)),
            firmware_rollout_config=Path(
                env.get("PICOHUB_FIRMWARE_ROLLOUT_CONFIG", defaults.firmware_rollout_config)
            ),
        )
