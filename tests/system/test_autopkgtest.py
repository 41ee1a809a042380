"""picohub's own DEP-8 tests (debian/tests) run by Debian's autopkgtest, as Debian's CI runs
a package's tests, in a booted bookworm and a booted trixie.

autopkgtest runs inside the booted container with its ``null`` runner (the testbed is
the machine autopkgtest runs on, with systemd as PID 1: what ``isolation-machine`` asks
for). It is given the packages under test (release B, ``--no-built-binaries``: it builds
nothing) and the source tree, and installs the packages with apt as it would anywhere.
The upgrade test also gets two signed releases, A (the previous one) and B (the one under
test), as the release tool publishes them (see debian/tests/upgrade).

The container has no network: autopkgtest and what it needs beyond the cached root are
downloaded once from the root's own mirror, by the root's apt in a chroot on an overlay
of it, and kept in .cache/autopkgtest beside the root they were resolved against.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.process import run
from picohub_release.build import Build, stage
from picohub_release.repository import write_repository
from picohub_release.signing import LOCAL_KEY_DIR, local_signer
from picohub_release.versions import stamp_version
from tests.conftest import SOURCE
from tests.system.container import Container, booted
from tests.system.distributions import Distribution
from tests.system.rootfs import CACHE as ROOTS

TESTS = ("smoke", "upgrade", "remove-purge")  # debian/tests/control, in its order
# autopkgtest, and dpkg-dev for the dpkg-source it runs on the unbuilt source tree.
TOOLS = ("autopkgtest", "dpkg-dev")
CACHE = SOURCE / ".cache" / "autopkgtest"
ARCHIVES = Path("var/cache/apt/archives")
WORK = "/root/autopkgtest"  # in the container
WHEN = "Tue, 24 Nov 2026 12:00:00 +0000"  # a fixed changelog date, as the test builds'
ARTIFACTS = SOURCE / "tests" / "artifacts" / "autopkgtest"


def tool_debs(root: Path, scratch: Path) -> list[Path]:
    """The .debs of TOOLS and of what they need beyond ``root``: downloaded (once) by the
    root's apt, from the mirror it names, in a chroot on an overlay of the root."""
    cache = CACHE / root.name
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download, however many test workers
        marker, wanted = cache / ".complete", " ".join(TOOLS) + "\n"
        if not marker.exists() or marker.read_text(encoding="utf-8") != wanted:
            for stale in CACHE.iterdir():  # of roots since rebuilt (another recipe)
                if stale.is_dir() and not (ROOTS / stale.name).exists():
                    shutil.rmtree(stale)
            shutil.rmtree(cache, ignore_errors=True)
            overlay = Container(root, scratch)
            overlay.mount()
            try:
                run(
                    ["chroot", overlay.root, "apt-get", "install", "--download-only", "--yes",
                     "-qq", "--no-install-recommends", *TOOLS],
                    env={"DEBIAN_FRONTEND": "noninteractive"},
                    timeout=900,
                )  # fmt: skip
                cached = {deb.name for deb in (root / ARCHIVES).glob("*.deb")}
                cache.mkdir()
                for deb in (overlay.root / ARCHIVES).glob("*.deb"):
                    if deb.name not in cached:
                        shutil.copy2(deb, cache / deb.name)
                marker.write_text(wanted, encoding="utf-8")
            finally:
                overlay.stop()
    return sorted(cache.glob("*.deb"))


@pytest.fixture(scope="module")
def testbed(
    distribution: Distribution, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """A booted container of the distribution (each the run selects), with autopkgtest
    installed."""
    root = distribution.root()
    debs = tool_debs(root, tmp_path_factory.mktemp(f"download-{distribution.name}"))
    with booted(root, tmp_path_factory.mktemp(f"autopkgtest-{distribution.name}")) as machine:
        machine.run(["grep", "-qx", f"VERSION_CODENAME={distribution.suite}", "/etc/os-release"])
        # Into apt's own cache, as if apt had downloaded them: it installs them from there.
        for deb in debs:
            machine.put(deb, f"/{ARCHIVES}")
        machine.run(
            ["apt-get", "install", "--yes", "--no-install-recommends", "--no-download", *TOOLS],
            timeout=600,
        )
        yield machine


def _copy_in(machine: Container, source: Path, directory: str) -> str:
    target = machine.root / directory.lstrip("/")
    shutil.copytree(source, target)
    return directory


def _summary(machine: Container, output: str) -> dict[str, str]:
    """Each test's result from autopkgtest's summary file ("NAME RESULT [DETAIL]")."""
    text = _read(machine, f"{output}/summary")
    return {line.split()[0]: line.split()[1] for line in text.splitlines() if line.strip()}


def _isolation(machine: Container) -> list[str]:
    """What autopkgtest is told of the testbed: a machine of its own, booted with systemd
    as PID 1, which the tests may change as they like (isolation-machine). autopkgtest
    5.28 (bookworm) assumes that of every null testbed; later null runners declare no
    isolation, and telling trixie's 5.49 (--fake-capability=isolation-machine) trips an
    assertion in it (downtmp_mktemp), so it is told to run those tests anyway."""
    usage = machine.run(["autopkgtest-virt-null", "--help"]).stdout
    declares = "--fake-capability" not in usage
    return [] if declares else ["--ignore-restrictions=isolation-machine"]


def _suite(machine: Container) -> str:
    return machine.run(["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"]).stdout.strip()


def _read(machine: Container, path: str) -> str:
    file = machine.root / path.lstrip("/")
    return file.read_text(encoding="utf-8", errors="replace") if file.exists() else ""


def test_debian_tests_pass_under_autopkgtest(
    testbed: Container,
    release_a: Build,
    release_b: Build,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    signer = local_signer(LOCAL_KEY_DIR)  # the key the test builds' keyrings hold
    releases = {
        name: write_repository(
            build.debs, tmp_path_factory.mktemp("repo") / "repo", signer, version=build.version
        ).directory
        for name, build in (("previous", release_a), ("under-test", release_b))
    }
    previous = _copy_in(testbed, releases["previous"], f"{WORK}/previous")
    under_test = _copy_in(testbed, releases["under-test"], f"{WORK}/under-test")
    debs = [testbed.put(deb, f"{WORK}/debs") for deb in release_b.debs]
    # The unbuilt source of the packages under test: the tree git knows, stamped with
    # release B's version as its build was.
    source = stage(SOURCE, testbed.root / WORK.lstrip("/"))
    stamp_version(source, release_b.version, message="The release under test.", when=WHEN)
    output = f"{WORK}/output"

    result = testbed.run(
        [
            "autopkgtest", "--no-built-binaries", f"--output-dir={output}",
            *_isolation(testbed),
            f"--env=PICOHUB_PREVIOUS_RELEASE={previous}",
            f"--env=PICOHUB_RELEASE_UNDER_TEST={under_test}",
            *debs, f"{WORK}/{source.name}/", "--", "null",
        ],
        check=False,
        timeout=1500,
    )  # fmt: skip
    # Kept for a look after the run, beside the fault campaign's table: autopkgtest's log,
    # each test's output and the summary (not the packages).
    kept = ARTIFACTS / _suite(testbed)
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(
        testbed.root / output.lstrip("/"), kept, ignore=shutil.ignore_patterns("binaries")
    )
    summary = _summary(testbed, output)
    failed = [name for name in TESTS if summary.get(name) != "PASS"]
    log = "".join(
        f"\n--- {name}-{stream} ---\n{text[-4000:]}"
        for name in failed
        for stream in ("stdout", "stderr")
        if (text := _read(testbed, f"{output}/{name}-{stream}"))
    )
    log = log or result.stdout[-6000:] + result.stderr[-4000:]
    assert summary == dict.fromkeys(TESTS, "PASS"), log
    # 0: every test passed (2 would be: some skipped, 4: some failed).
    assert result.returncode == 0, log
