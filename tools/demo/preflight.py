"""Before anything starts: root, the tools, the ports the container will listen on."""

from __future__ import annotations

import re
import shutil
import socket

from picohub.errors import UsageError
from picohub.process import run
from tools.demo.settings import SERVER_PORT
from tools.preflight import need_root_and_tools

# The container shares this machine's network, so everything it listens on must be free.
PORTS = {
    SERVER_PORT: "the local GitHub-like server",
    8080: "picohub.socket (the app) in the container",
    8780: "the frontend (picohub-web's nginx site) in the container",
    80: "nginx's default site, which Debian's nginx enables when it is installed",
}
TOOLS = ("systemd-nspawn", "nsenter", "mount", "dpkg-buildpackage", "git", "gpg", "apt-get")


def _port_holder(port: int) -> str:
    """Who listens on ``port``, as ss names it (empty when it cannot tell)."""
    if shutil.which("ss") is None:
        return ""
    listing = run(["ss", "-Hltnp", f"sport = :{port}"], check=False).stdout
    names = sorted(set(re.findall(r'\("([^"]+)",pid=(\d+)', listing)))
    return ", ".join(f"{name} (pid {pid})" for name, pid in names)


def _port_busy(port: int) -> bool:
    families = [(socket.AF_INET, "0.0.0.0")]  # noqa: S104 (a probe, closed at once)
    if socket.has_ipv6:
        families.append((socket.AF_INET6, "::"))
    for family, address in families:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As servers bind: a listener blocks it, a connection in TIME_WAIT does not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == 98:  # EADDRINUSE
                    return True
                # No IPv6 on this machine: nothing can hold the port there.
    return False


def preflight() -> None:
    need_root_and_tools("demo", TOOLS)
    busy = []
    for port, what in PORTS.items():
        if _port_busy(port):
            holder = _port_holder(port)
            by = f" by {holder}" if holder else ""
            busy.append(f"port {port} is in use{by}; the demo needs it for {what}")
    if busy:
        raise UsageError(
            "; ".join(busy),
            hint="the container shares this machine's network: stop what listens there "
            "(an earlier demo still running with --keep?) and run the demo again",
        )
