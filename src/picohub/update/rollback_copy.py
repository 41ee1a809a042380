"""A rollback copy of the installed release, made on the hub from its installed packages.

A hub installed from the release's .debs (``apt install ./picohub_*.deb``) has no copy of
its release in the cache, and an update from a bundle or from hawkBit brings only the new
one: without a copy, a first such update that fails has nothing to go back to. So before
it installs, the transaction repacks the packages it is about to change, as dpkg
installed them, into .debs: the maintainer scripts and control data from dpkg's database,
each file checked against dpkg's md5sums (a file changed on disk means no copy, and the
update goes on without a rollback, as before). A conffile the administrator changed is
left out: going back keeps it as it is. They are indexed as a flat repository with an
unsigned ``Release``, whose SHA-256 is pinned in root's state.

No key signs it: no key for it exists off the hub, and one on the hub would prove no more
than root's own files do. :func:`load_copy` trusts a copy only through that pin (the
``Release`` matching it, then each file the sizes and SHA-256s it lists), and apt reads it
as ``[trusted=yes]`` for that reason. A copy is only ever of the installed release, so it
serves to go back, never to go forward.

    /var/cache/picohub/copies/VERSION/          Release, Packages, the repacked .debs
    /var/lib/picohub-update/copies/VERSION      the SHA-256 of that Release (root's, 0600)
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from debian.deb822 import Deb822, Packages, Release

from picohub.errors import PicohubError
from picohub.files import fsync_directory, write_atomically
from picohub.installed import installed_versions, unfinished_packages
from picohub.process import run
from picohub.repository import PACKAGES, RepositoryError, read_release, sha256_of, verify_indexed
from picohub.settings import Settings

log = logging.getLogger(__name__)

RELEASE = "Release"
# Control fields of dpkg's status that belong to the installed state, not to the package.
_STATE_FIELDS = ("Status", "Conffiles", "Config-Version")
# The maintainer scripts and control files dpkg keeps for a package, as a .deb has them.
_CONTROL_FILES = (
    "preinst", "postinst", "prerm", "postrm", "config", "templates", "triggers", "md5sums",
)  # fmt: skip


class CopyError(PicohubError):
    """No rollback copy can be made, or the one in the cache is not what was made."""


def copy_dir(settings: Settings, version: str) -> Path:
    return settings.cache_dir / "copies" / version


def pin_file(settings: Settings, version: str) -> Path:
    return settings.update_state_dir / "copies" / version


def make_copy(settings: Settings, version: str, packages: Sequence[str]) -> Path:
    """Repack ``packages`` as installed (picohub at ``version``) into the copy of release
    ``version``, replacing an earlier one, and pin it; its folder. CopyError if a package
    is not installed whole or a file of it differs from what dpkg installed."""
    found = installed_versions(packages, settings.dpkg_admin_dir)
    installed = {package: version for package, version in found.items() if version}
    unfinished = unfinished_packages(packages, settings.dpkg_admin_dir)
    missing = [p for p in packages if p not in installed or p in unfinished]
    if missing:
        raise CopyError(f"{', '.join(missing)} is not installed whole")
    target = copy_dir(settings, version)
    building = target.with_name(f".{version}.new")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True, mode=0o755)
    try:
        repacked = [_repack(name, installed[name], building, settings) for name in packages]
        _index(building, version, repacked)
        # On disk before the pin: a power cut during the install that follows must find
        # the copy whole, not a pin over empty files.
        for path in building.iterdir():
            _fsync(path)
        fsync_directory(building)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        fsync_directory(target.parent)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    pin = pin_file(settings, version)
    pin.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(pin, sha256_of(target / RELEASE) + "\n", 0o600)
    log.info("made a rollback copy of release %s: %s as installed", version, ", ".join(packages))
    return target


def load_copy(settings: Settings, version: str) -> tuple[Path, tuple[Path, ...]]:
    """The copy of release ``version``, checked against its pin: its folder and .debs."""
    directory = copy_dir(settings, version)
    try:
        pinned = pin_file(settings, version).read_text(encoding="utf-8").strip()
    except OSError:
        raise CopyError(f"the rollback copy of release {version} has no pin") from None
    release_path = directory / RELEASE
    if not release_path.is_file() or sha256_of(release_path) != pinned:
        raise CopyError(f"the rollback copy of release {version} is not the one made here")
    release = read_release(release_path.read_text(encoding="utf-8"), fingerprint="")
    if release.fields.get("Version") != version:
        raise RepositoryError(f"the rollback copy's Release is not of release {version}")
    return directory, verify_indexed(directory, release).present


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_copies(settings: Settings, keep: set[str]) -> None:
    """Drop the copies (and pins) of releases other than ``keep``."""
    for folder in (settings.cache_dir / "copies", settings.update_state_dir / "copies"):
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.name not in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def _repack(package: str, version: str, out: Path, settings: Settings) -> tuple[Path, Deb822]:
    """One installed package as a .deb in ``out``, and its control data: dpkg-repack's
    way, for our packages."""
    info = settings.dpkg_admin_dir / "info"
    status = _status(package, settings)
    tree = out / f".tree-{package}"
    control_dir = tree / "DEBIAN"
    control_dir.mkdir(parents=True)
    control_dir.chmod(0o755)  # dpkg-deb wants 0755 to 0775, whatever the umask
    control = Deb822({k: v for k, v in status.items() if k not in _STATE_FIELDS})
    (control_dir / "control").write_text(control.dump(), encoding="utf-8")
    conffiles = _conffiles(status.get("Conffiles", ""))
    for name in _CONTROL_FILES:
        script = info / f"{package}.{name}"
        if script.is_file():
            shutil.copy2(script, control_dir / name)
    sums = _md5sums(info / f"{package}.md5sums")
    listing = (info / f"{package}.list").read_text(encoding="utf-8").splitlines()
    paths = [line for line in listing if line not in ("", "/.")]
    holders = {str(Path(line).parent) for line in paths}  # folders with listed entries
    kept_conffiles = []
    for listed in paths:
        if listed in conffiles:
            md5, obsolete = conffiles[listed]
            if obsolete or not _as_shipped(Path(listed), md5):
                # Changed (or deleted) by the administrator, or no longer the package's:
                # left out, so going back keeps it as it is, and dpkg, which would take
                # this content for the package's own, does not replace it unasked later.
                log.info("the rollback copy leaves out %s, changed since it was installed", listed)
                continue
            kept_conffiles.append(listed)
        folder = listed in holders
        _copy_entry(Path(listed), tree, sums.get(listed.lstrip("/")), package, folder=folder)
    if kept_conffiles:
        (control_dir / "conffiles").write_text("\n".join(kept_conffiles) + "\n", "utf-8")
    deb = out / f"{package}_{version}_{status['Architecture']}.deb"
    run(["dpkg-deb", "-Zgzip", "--build", tree, deb], timeout=600)
    shutil.rmtree(tree)
    return deb, control


# The words dpkg may put after a conffile's checksum in its status.
_CONFFILE_FLAGS = ("obsolete", "remove-on-upgrade", "newconffile")


def _conffiles(field: str) -> dict[str, tuple[str, bool]]:
    """dpkg's Conffiles field: each path (spaces and all), its checksum, and whether it
    is obsolete (no longer shipped by the package)."""
    found = {}
    for line in field.splitlines():
        words = line.split()
        flags = []
        while words and words[-1] in _CONFFILE_FLAGS:
            flags.append(words.pop())
        rest = " ".join(words)
        path, _, md5 = rest.rpartition(" ")
        if path:
            found[path] = (md5, "obsolete" in flags)
    return found


def _status(package: str, settings: Settings) -> Deb822:
    shown = run(
        ["dpkg-query", f"--admindir={settings.dpkg_admin_dir}", "--status", package], timeout=60
    )
    return Deb822(shown.stdout)


def _md5sums(path: Path) -> dict[str, str]:
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else ():
        digest, _, name = line.partition("  ")
        if name:
            sums[name] = digest
    return sums


def _copy_entry(path: Path, tree: Path, md5: str | None, package: str, *, folder: bool) -> None:
    """``path`` into ``tree`` as it is on disk (owner, mode, link), checked against dpkg's
    md5sum when it has one. ``folder``: the package lists entries inside ``path``."""
    target = tree / str(path).lstrip("/")
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise CopyError(f"{path} of {package} is missing") from None
    if md5 is not None and not stat.S_ISREG(info.st_mode):
        raise CopyError(f"{path} of {package} is no longer the file dpkg installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISDIR(info.st_mode) or (folder and path.is_dir()):
        # A folder the package ships, even where the system made it a link since (/lib
        # on a merged /usr): the package's own entries are inside it.
        info = path.stat()
        target.mkdir(exist_ok=True)
    elif stat.S_ISLNK(info.st_mode):
        target.symlink_to(path.readlink())
    elif stat.S_ISREG(info.st_mode):
        if md5 is not None and _md5_of(path) != md5:
            raise CopyError(f"{path} of {package} differs from what dpkg installed")
        shutil.copy2(path, target)
    else:
        raise CopyError(f"{path} of {package} is not a file, a folder or a link")
    os.lchown(target, info.st_uid, info.st_gid)
    if not stat.S_ISLNK(info.st_mode):
        target.chmod(stat.S_IMODE(info.st_mode))


def _as_shipped(conffile: Path, md5: str) -> bool:
    try:
        return conffile.is_file() and _md5_of(conffile) == md5
    except OSError:
        return False


def _md5_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _index(folder: Path, version: str, repacked: Sequence[tuple[Path, Deb822]]) -> None:
    """Packages and an unsigned Release over the ``repacked`` .debs (with the control data
    each was packed with), as a flat repository."""
    paragraphs = []
    for deb, control in repacked:
        paragraph = Packages(control)
        paragraph["Filename"] = deb.name
        paragraph["Size"] = str(deb.stat().st_size)
        paragraph["SHA256"] = sha256_of(deb)
        paragraphs.append(paragraph.dump())
    (folder / PACKAGES).write_text("\n".join(paragraphs), encoding="utf-8")
    release = Release()
    release["Origin"] = "picohub rollback copy"
    release["Label"] = "picohub rollback copy"
    release["Version"] = version
    release["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
    packages = folder / PACKAGES
    release["SHA256"] = [  # type: ignore[assignment]  # python-debian's multivalued field
        {"sha256": sha256_of(packages), "size": str(packages.stat().st_size), "name": PACKAGES}
    ]
    (folder / RELEASE).write_text(release.dump(), encoding="utf-8")
