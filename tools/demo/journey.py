"""Putting it together: the whole journey, from the builds to the update, then cleaned up."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from picohub_release.versions import changelog_version
from tests.conftest import SOURCE, next_version
from tests.fakegithub import FakeGitHub
from tests.system.container import Container
from tests.system.rootfs import ensure_root, root_path
from tools.demo.cleanup import remove_work, shielded
from tools.demo.preflight import preflight
from tools.demo.settings import OWNER, REPO, SERVER_PORT, TOKEN, WEB
from tools.demo.steps import build_release, healthz, install_release, point_updater_at, publish, say
from tools.demo.update import update_from_the_web


def _lan_address() -> str | None:
    """This machine's address on the LAN (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def wait_for_ctrl_c(container: Container, password: str) -> None:
    say("\n--keep: the container and the server keep running.")
    say(f"  log in on the page with the admin password: {password}")
    say(f"  a shell in the stand-in Pi: nsenter --target={container.leader} --all -- su -")
    say(f"  press Ctrl-C here (or kill {os.getpid()}) to stop both and clean up")
    while container.leader is not None and Path(f"/proc/{container.leader}").exists():
        time.sleep(1)
    say("the container has stopped")


def demo(keep: bool) -> int:
    preflight()
    version = changelog_version(SOURCE)
    target = next_version(version)
    if not (root_path("bookworm") / ".complete").exists():
        say("==> building the Debian bookworm root with debootstrap (once; a few minutes)")
    root = ensure_root("bookworm")
    work = Path(tempfile.mkdtemp(prefix="picohub-demo-"))
    with ExitStack() as cleanup:
        container = Container(root, work / "container", private_network=False)
        cleanup.callback(remove_work, work, container)
        with shielded():
            say(f"==> building release 1 ({version}, this tree) and release 2 ({target})")
            _, first = build_release(work, "release-1", None)
            _, second = build_release(work, "release-2", target)

            server = FakeGitHub(OWNER, REPO, TOKEN, port=SERVER_PORT)
            cleanup.callback(server.stop)
            server.start()
            say(f"==> publishing both to the GitHub-like server at {server.download_base}")
            publish(first, server, SOURCE)
            stamped = work / "release-2" / "work" / "picohub"  # the notes of release 2
            publish(second, server, stamped if stamped.is_dir() else SOURCE)

            say("==> booting Debian bookworm (the stand-in Pi) on this machine's network")
            cleanup.callback(container.stop)
            container.start()
            say(f"==> installing release {version} with apt from its GitHub release")
            install_release(container, server, first)
            say(f"    /healthz through nginx: {healthz()}")

            say(f"==> updating to {target} from the web API, as the page does")
            point_updater_at(container, server)
            result = update_from_the_web(container, version, target)
            say(f"\nThe hub runs picohub {healthz()}. The frontend:")
            say(f"  {WEB}/  (on this machine)")
            if (address := _lan_address()) is not None:
                say(f"  http://{address}:8780/  (from the LAN)")
            if not keep:
                say("  (gone with the container in a moment: run with --keep to look at it)")
            else:
                password = container.run(["picohub", "admin-password", "show"]).stdout.strip()
                try:
                    wait_for_ctrl_c(container, password)
                except KeyboardInterrupt:
                    say("")
    return result
