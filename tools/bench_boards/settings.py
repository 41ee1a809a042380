"""The board benchmark's fixed figures: addresses, the image, the waits. The counts and the
rate have command-line options; these do not."""

from __future__ import annotations

WEB_PORT = 8780  # nginx, picohub-web's site
HUB = "127.0.0.1"  # the container's loopback, reached from its network namespace
# Source addresses: every board its own, in 127.0.0.0/8 (all of it is the loopback's in
# the container's namespace), so nginx's 32 connections per client address apply per board.
HEARTBEAT_BLOCK = 1  # board-001 ... from 127.1.0.1 on
DOWNLOAD_BLOCK = 2  # dl-board-001 ... from 127.2.0.1 on

BOARDS = 50
DOWNLOADERS = 50
RATE = 64 * 1024  # bytes/s per downloading board: a Pico W on middling Wi-Fi
HEARTBEAT_PERIOD_S = 1.0  # one heartbeat per board per second, the boards spread over it
IDLE_S = 30.0  # phase 1, heartbeats only
WARMUP_S = 5.0  # the start of phase 1 left out of its figures (first heartbeats register)
TAIL_S = 10.0  # heartbeats alone again after the last download ended: a check of idle
SETTLE_S = 10.0  # quiet after apt's install (its jobs done) before the boards start

# The image: a pico2_w test image of 1 MiB payload is a UF2 of 2 MiB and one block.
FIRMWARE_BOARD = "pico2_w"
PAYLOAD_BYTES = 1024 * 1024
FIRMWARE_VERSION = "1.1.0"  # offered; the boards report 1.0.0
BOARD_VERSION = "1.0.0"
FIRMWARE_DIR = "/usr/share/picohub/firmware"

# The MTU of the container's loopback, which the boards reach the hub through: Wi-Fi's
# 1500, not the loopback's 65536, whose 64 KiB segments let the kernel take a whole 2 MiB
# image into one socket's send buffer at once, so nginx would be done with every
# download (and limit_conn no longer count it) before the board has read a tenth of it.
MTU = 1500
CHUNK = 4096  # read a flash sector's worth, then pause to keep to the rate
RECEIVE_BUFFER = 16 * 1024  # a small TCP window, as lwIP's on a Pico W
HEARTBEAT_TIMEOUT_S = 10.0
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation
P99_LIMIT = 2.0  # the goal: p99 during downloads at most this many times idle's

PACKAGES = ("picohub", "picohub-web", "picohub-firmware", "picohub-archive-keyring")
DEBS_IN_CONTAINER = "/root/bench-boards"
TOOLS = ("systemd-nspawn", "nsenter", "ip", "debootstrap", "dpkg-buildpackage", "git")


def address(block: int, index: int) -> str:
    """The source address of board ``index`` (0-based) of ``block``."""
    return f"127.{block}.{index // 250}.{index % 250 + 1}"
