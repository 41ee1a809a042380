"""The rollback copy repacked from installed packages, with real dpkg-query and dpkg-deb on
a dpkg database made for the test (its package's files live under the test's folder):
made as installed, trusted only through its pin, refused when a file changed on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub.process import run
from picohub.repository import RepositoryError
from picohub.settings import Settings
from picohub.update.apply import _rollback_ready
from picohub.update.cache import ReleaseCache
from picohub.update.rollback_copy import CopyError, copy_dir, load_copy, make_copy, pin_file
from tests.conftest import need_tools

VERSION = "1.4.0"
PACKAGE = "picohub"
POSTINST = "#!/bin/sh\nset -e\necho configured\n"


def _md5(path: Path) -> str:
    return run(["md5sum", path]).stdout.split()[0]


@pytest.fixture
def hub(tmp_path: Path) -> Settings:
    """picohub 1.4.0 installed: a program, a folder, a link and a conffile, in a dpkg
    database of its own."""
    need_tools("dpkg-query", "dpkg-deb", "md5sum")
    root = tmp_path / "root"
    program = root / "usr" / "bin" / "picohub"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho 1.4.0\n")
    program.chmod(0o755)
    (root / "usr" / "bin" / "hub").symlink_to("picohub")
    # A link to a folder the package ships as a link, and a folder the system made a link
    # since (as /lib on a merged /usr) that holds the package's entries.
    (root / "usr" / "share" / "picohub").mkdir(parents=True)
    (root / "usr" / "share" / "doc").mkdir()
    (root / "usr" / "share" / "doc" / "picohub").symlink_to("../picohub")
    (root / "usr" / "lib" / "units").mkdir(parents=True)
    unit = root / "usr" / "lib" / "units" / "picohub.service"
    unit.write_text("[Service]\n")
    (root / "lib").symlink_to("usr/lib")
    conffile = root / "etc" / "picohub.conf"
    conffile.parent.mkdir()
    conffile.write_text("[update]\n")
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text(
        f"Package: {PACKAGE}\nStatus: install ok installed\nPriority: optional\n"
        f"Section: net\nMaintainer: picohub <m@picohub.org>\nArchitecture: all\n"
        f"Version: {VERSION}\nConffiles:\n {conffile} {_md5(conffile)}\n"
        "Description: the hub\n its app\n"
    )
    listed = [root, root / "usr", root / "usr" / "bin", program, root / "usr" / "bin" / "hub"]
    listed += [root / "etc", conffile, root / "usr" / "share", root / "usr" / "share" / "doc"]
    listed += [root / "usr" / "share" / "doc" / "picohub", root / "lib", root / "lib" / "units"]
    listed += [root / "lib" / "units" / "picohub.service"]
    (admin / "info" / f"{PACKAGE}.list").write_text("".join(f"{p}\n" for p in listed))
    relative = str(program).lstrip("/")
    (admin / "info" / f"{PACKAGE}.md5sums").write_text(f"{_md5(program)}  {relative}\n")
    postinst = admin / "info" / f"{PACKAGE}.postinst"
    postinst.write_text(POSTINST)
    postinst.chmod(0o755)
    return Settings(
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        dpkg_admin_dir=admin,
        update_state_dir=tmp_path / "update-state",
    )


def _contents(deb: Path) -> str:
    return run(["dpkg-deb", "--contents", deb]).stdout


def test_a_copy_is_the_installed_package_and_loads_as_a_rollback_target(hub: Settings) -> None:
    folder = make_copy(hub, VERSION, [PACKAGE])

    deb = folder / f"{PACKAGE}_{VERSION}_all.deb"
    fields = run(["dpkg-deb", "--field", deb, "Package", "Version", "Description"]).stdout
    assert fields.startswith(f"Package: {PACKAGE}\nVersion: {VERSION}\n")
    assert run(["dpkg-deb", "--info", deb, "postinst"]).stdout == POSTINST
    listing = _contents(deb)
    assert "/usr/bin/picohub\n" in listing and "/usr/bin/hub -> picohub" in listing
    assert "-rwxr-xr-x" in next(line for line in listing.splitlines() if "bin/picohub" in line)
    assert "picohub.conf" in listing  # the conffile, as shipped
    assert "/usr/share/doc/picohub -> ../picohub" in listing  # a link stays a link
    assert "/lib/units/picohub.service" in listing  # inside a folder the system linked
    assert next(line for line in listing.splitlines() if line.endswith("/lib/")).startswith("d")
    assert "picohub.conf" in run(["dpkg-deb", "--info", deb, "conffiles"]).stdout
    assert pin_file(hub, VERSION).stat().st_mode & 0o777 == 0o600

    loaded = ReleaseCache(hub).load(VERSION, [PACKAGE], copies=True)
    assert (loaded.copy, loaded.debs, loaded.package_versions()) == (
        True,
        (deb,),
        {PACKAGE: VERSION},
    )
    assert ReleaseCache(hub).newest_older_than("1.5.0") == VERSION
    with pytest.raises(PicohubError, match="rollback copy has no picohub-web"):
        ReleaseCache(hub).load(VERSION, [PACKAGE, "picohub-web"], copies=True)
    # Only to go back: an update (a load without copies) never installs a copy.
    with pytest.raises(PicohubError, match=f"release {VERSION} is not in the cache"):
        ReleaseCache(hub).load(VERSION)


def test_a_file_changed_since_dpkg_installed_it_means_no_copy(hub: Settings) -> None:
    status = (hub.dpkg_admin_dir / "info" / f"{PACKAGE}.list").read_text().splitlines()
    program = Path(next(line for line in status if line.endswith("/bin/picohub")))
    program.write_text("#!/bin/sh\necho edited\n")

    with pytest.raises(CopyError, match=f"{program} of picohub differs from what dpkg installed"):
        make_copy(hub, VERSION, [PACKAGE])
    assert not copy_dir(hub, VERSION).exists() and not pin_file(hub, VERSION).exists()
    assert list(copy_dir(hub, VERSION).parent.iterdir()) == []  # nothing half made


def test_a_conffile_the_administrator_changed_is_left_out(hub: Settings) -> None:
    status = (hub.dpkg_admin_dir / "info" / f"{PACKAGE}.list").read_text().splitlines()
    Path(next(line for line in status if line.endswith(".conf"))).write_text("[update]\nx=1\n")

    deb = make_copy(hub, VERSION, [PACKAGE]) / f"{PACKAGE}_{VERSION}_all.deb"

    assert "picohub.conf" not in _contents(deb)
    assert run(["dpkg-deb", "--info", deb, "conffiles"], check=False).returncode != 0


def test_a_package_not_installed_whole_means_no_copy(hub: Settings) -> None:
    with pytest.raises(CopyError, match="picohub-web is not installed whole"):
        make_copy(hub, VERSION, [PACKAGE, "picohub-web"])


def test_a_copy_is_trusted_only_through_its_pin(hub: Settings) -> None:
    folder = make_copy(hub, VERSION, [PACKAGE])
    deb = folder / f"{PACKAGE}_{VERSION}_all.deb"
    good = deb.read_bytes()
    deb.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(RepositoryError, match="does not match the SHA-256"):
        load_copy(hub, VERSION)
    deb.write_bytes(good)
    load_copy(hub, VERSION)

    (folder / "Release").write_text((folder / "Release").read_text() + "Suite: other\n")
    with pytest.raises(CopyError, match="is not the one made here"):
        load_copy(hub, VERSION)
    pin_file(hub, VERSION).unlink()
    with pytest.raises(CopyError, match="has no pin"):
        ReleaseCache(hub).load(VERSION, copies=True)


def test_pruning_drops_the_copies_of_releases_not_kept(hub: Settings) -> None:
    make_copy(hub, VERSION, [PACKAGE])
    ReleaseCache(hub).prune(keep={VERSION})
    assert copy_dir(hub, VERSION).is_dir() and pin_file(hub, VERSION).is_file()

    ReleaseCache(hub).prune(keep={"1.5.0"})
    assert not copy_dir(hub, VERSION).exists() and not pin_file(hub, VERSION).exists()
    assert ReleaseCache(hub).versions() == []


def test_a_conffile_no_longer_the_packages_is_left_out(hub: Settings) -> None:
    status = hub.dpkg_admin_dir / "status"
    status.write_text(status.read_text().replace("\nDescription", " obsolete\nDescription"))
    shown = run(["dpkg-query", f"--admindir={hub.dpkg_admin_dir}", "--status", PACKAGE])
    assert "picohub.conf " in shown.stdout and " obsolete\n" in shown.stdout

    deb = make_copy(hub, VERSION, [PACKAGE]) / f"{PACKAGE}_{VERSION}_all.deb"

    assert "picohub.conf" not in _contents(deb)


def test_a_rollback_copy_takes_the_place_of_a_cached_release_of_no_use(hub: Settings) -> None:
    """A partial or no longer verified release/VERSION (a fetch cut short) is replaced by
    the copy, which a rollback then installs."""
    broken = ReleaseCache(hub).release_dir(VERSION)
    broken.mkdir(parents=True)
    (broken / "InRelease").write_text("not signed\n")

    assert _rollback_ready(hub, VERSION, [PACKAGE])

    assert not broken.exists()
    assert ReleaseCache(hub).load(VERSION, [PACKAGE], copies=True).copy


def test_no_copy_of_a_release_whose_update_adds_a_package(hub: Settings) -> None:
    assert not _rollback_ready(hub, VERSION, [PACKAGE, "picohub-web"])
    assert not copy_dir(hub, VERSION).exists()
