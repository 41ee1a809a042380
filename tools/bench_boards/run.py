"""One run: the packages built (or taken), a bookworm booted with the hub installed by apt,
the 2 MiB image installed, the boards let loose, the report written."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from picohub.errors import PicohubError
from picohub.firmware.manifest import IMAGE_NAME, MANIFEST_NAME, Manifest, make_manifest, to_json
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import BOARDS
from picohub.process import run
from picohub_release.build import build_debs
from tests.conftest import SOURCE
from tests.system.container import Container, wait_for
from tests.system.journeys import healthy_version
from tools.bench.report import machine
from tools.bench_boards.boards import Plan
from tools.bench_boards.report import connections, summarize, table
from tools.bench_boards.settings import (
    DEBS_IN_CONTAINER,
    FIRMWARE_BOARD,
    FIRMWARE_DIR,
    FIRMWARE_VERSION,
    MTU,
    PACKAGES,
    PAYLOAD_BYTES,
    SETTLE_S,
    WEB_PORT,
)
from tools.preflight import booted_bookworm

log = logging.getLogger("bench-boards")
ACCESS_LOG = "/var/log/nginx/access.log"
ERROR_LOG = "/var/log/nginx/error.log"


def run_bench_boards(
    plan: Plan, out: Path, debs: Path | None, mtu: int | None = MTU
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="picohub-bench-boards-") as temporary:
        work = Path(temporary)
        packages = _packages(work, debs)
        log.info("booting bookworm")
        with booted_bookworm(work) as container:
            if mtu:
                _set_mtu(container, mtu)
            version = _install(container, packages)
            manifest = _install_image(container, version)
            log.info(
                "firmware %s: %d bytes, sha256 %s", manifest.image, manifest.size, manifest.sha256
            )
            about = machine(container)
            container.run(["truncate", "--size=0", ACCESS_LOG, ERROR_LOG])
            log.info(
                "%d boards sending heartbeats; after %.0f s, %d boards downloading at %d B/s "
                "(about %.0f s each)",
                plan.boards,
                plan.idle_s,
                plan.downloaders,
                plan.rate,
                manifest.size / plan.rate,
            )
            midway: dict[str, Any] = {}
            look = threading.Timer(
                plan.idle_s + manifest.size / plan.rate / 2,
                lambda: midway.update(_sockets(container)),
            )
            look.start()
            try:
                raw = _let_loose(container, plan, manifest)
            finally:
                look.cancel()
            raw["midway"] = midway
            access = container.run(["cat", ACCESS_LOG]).stdout
            errors = container.run(["cat", ERROR_LOG]).stdout
            about["load_average_after"] = os.getloadavg()
    summary = summarize(raw, manifest, access, errors, plan)
    report = {
        "machine": about,
        "picohub": version,
        "plan": asdict(plan),
        "loopback_mtu": mtu or 65536,
        "firmware": {"image": manifest.image, "size": manifest.size, "sha256": manifest.sha256},
        "summary": summary,
        "raw": raw,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(table(summary, plan))
    print(f"\nwrote {out}")
    return report


def _packages(work: Path, debs: Path | None) -> list[Path]:
    if debs is None:
        log.info("building the packages from the tree")
        return list(build_debs(SOURCE, work / "dist", work / "build").debs)
    found = [next(iter(sorted(debs.glob(f"{package}_*.deb"))), None) for package in PACKAGES]
    missing = [package for package, deb in zip(PACKAGES, found, strict=True) if deb is None]
    if missing:
        raise PicohubError(
            f"{debs} has no .deb of {', '.join(missing)}",
            hint="make debs writes them into dist/",
        )
    return [path for path in found if path is not None]


def _set_mtu(container: Container, mtu: int) -> None:
    """The container's loopback, the boards' way to the hub, with a Wi-Fi MTU."""
    log.info("the container's loopback MTU set to %d", mtu)
    net = f"--net=/proc/{container.leader}/ns/net"
    run(["nsenter", net, "--", "ip", "link", "set", "dev", "lo", "mtu", str(mtu)])


def _install(container: Container, packages: list[Path]) -> str:
    """apt-get install of the local .debs, as the README says; the version /healthz says."""
    paths = [container.put(deb, DEBS_IN_CONTAINER) for deb in packages]
    log.info("installing %s with apt", ", ".join(deb.name for deb in packages))
    container.run(["apt-get", "install", "--yes", "--no-install-recommends", *paths], timeout=600)
    version = healthy_version(container, timeout=60)
    # The install's aftermath (units starting, journald, the page cache) out of the way:
    # the first heartbeats after it were measured up to 5 x slower than later idle ones.
    wait_for(
        lambda: not container.run(["systemctl", "list-jobs", "--no-legend"]).stdout.strip(),
        timeout=60,
        what="systemd's jobs to end",
    )
    time.sleep(SETTLE_S)
    return version


def _install_image(container: Container, package_version: str) -> Manifest:
    """The 2 MiB image and its manifest in place of the packaged ones (read per request)."""
    board = BOARDS[FIRMWARE_BOARD]
    data = generate_test_image(board, FIRMWARE_VERSION, PAYLOAD_BYTES)
    manifest = make_manifest(
        data,
        board,
        firmware_version=FIRMWARE_VERSION,
        package_version=package_version,
        test_image=True,
    )
    folder = container.root / FIRMWARE_DIR.lstrip("/")
    (folder / IMAGE_NAME).write_bytes(data)
    (folder / MANIFEST_NAME).write_text(to_json(manifest), encoding="utf-8")
    status, offered = container.http("GET", "http://127.0.0.1:8780/api/firmware/manifest")
    if status != 200 or offered.get("sha256") != manifest.sha256:
        raise PicohubError(f"the hub does not offer the bench's image: {status} {offered}")
    return manifest


def _sockets(container: Container) -> dict[str, Any]:
    """nginx's connections halfway through the downloads, read from the host."""
    table = Path(f"/proc/{container.leader}/net/tcp").read_text(encoding="ascii")
    return {"at": time.monotonic(), **connections(table, WEB_PORT)}


def _let_loose(container: Container, plan: Plan, manifest: Manifest) -> dict[str, Any]:
    """The boards, in the container's network namespace, as one host process."""
    deadline = plan.idle_s + manifest.size / plan.rate * 3 + plan.tail_s + 120
    result = run(
        [
            "nsenter",
            f"--net=/proc/{container.leader}/ns/net",
            "--",
            sys.executable,
            "-m",
            "tools.bench_boards.boards",
        ],
        env={"PYTHONPATH": f"{SOURCE / 'src'}:{SOURCE}"},
        cwd=SOURCE,
        timeout=deadline,
        input_text=json.dumps(asdict(plan)),
    )
    raw: dict[str, Any] = json.loads(result.stdout)
    return raw
