"""Issue #19's board benchmark: does a hub serving its firmware image to many boards on
slow Wi-Fi still answer the other boards' heartbeats promptly?

Run it as root: ``python -m tools.bench_boards [--boards 50] [--downloaders 50]
[--rate 65536] [--idle 30] [--mtu 1500] [--one-address] [--debs dist]
[--out bench/boards.json]``. It prints a table and writes every figure and every raw
sample to ``--out``. The goal is 0 failed requests and a heartbeat p99 during the
downloads at most 2 x the idle p99 of the same run; the table says whether it was met
(the exit code does not: it is a benchmark).

The hub. One bookworm container booted with systemd (tests.system.container), picohub,
picohub-web, picohub-firmware and picohub-archive-keyring installed with ``apt-get
install ./*.deb``, built from
the tree as ``make debs`` builds them (or taken from ``--debs``). The packaged firmware is
replaced by a 2 MiB image: a pico2_w test image (picohub.firmware.testimage) of 1 MiB
payload, 4097 UF2 blocks, 2,097,664 bytes, firmware version 1.1.0, with its manifest
(picohub.firmware.manifest), written into /usr/share/picohub/firmware/. The app reads
both per request; the bench checks that /api/firmware/manifest offers it. After the
install, systemd's jobs are waited for and 10 s more, so the install's aftermath is not
measured as idle.

The boards. One host process in the container's network namespace (the container has a
private network, loopback only), a thread per board, each board with its own source
address in 127.0.0.0/8, all of which is the loopback's there: heartbeat boards from
127.1.0.1 on, downloading boards from 127.2.0.1 on. nginx limits each client address to
32 connections (``limit_conn``, 429 beyond): from one address 50 downloads would be
refused; from one address each, every board is the single client a real board is
(``--one-address`` sends every download from 127.0.0.1, to see the 429s). The loopback's
MTU is set to Wi-Fi's 1500 (``--mtu``; 0 leaves 65536): with 64 KiB segments the kernel
takes a whole 2 MiB image into the socket's send buffer at once, nginx closes the
connection, and the download no longer occupies nginx at all (nor counts in limit_conn).

- Heartbeat boards (board-001 ...): ``POST /api/devices/<id>/heartbeat`` with
  ``{"firmware_version": "1.0.0", "uptime_s": N}`` once a second each, on a new
  connection each time (a board's Wi-Fi sleeps between reports), the boards spread evenly
  over the second: 50 requests a second to the app. Latency: from before connecting to
  the whole answer read; timeout 10 s.
- Downloading boards (dl-board-001 ...), all started together after the idle phase:
  ``GET /api/firmware/manifest``, then ``GET /api/firmware/image`` (the whole image, 200)
  on one blocking socket with a 16 KiB receive buffer (a small TCP window, as a Pico W's
  lwIP has), read 4 KiB at a time (a flash sector) with pauses that keep to ``--rate``
  bytes/s (64 KiB/s: about 32 s for the image). What it read is hashed and compared with
  the manifest's size and sha256.

The phases, in one run: phase 1, heartbeats only for ``--idle`` seconds (the first 5 s,
while the boards register, not counted); phase 2, the downloads start and the heartbeats
go on, until the last download ends; then 10 s more of heartbeats alone. Heartbeat
latencies are split by when each was sent: idle (phase 1), during (phase 2), and idle
after (a check of the idle figures; the goal compares with phase 1). Halfway through the
downloads the container's /proc/net/tcp is read from the host: nginx's sockets on port
8780 by state, their client addresses, and the bytes queued in their send buffers.

Failed requests, by kind: a heartbeat without a 200 (its status, or its error when no
answer came: a refused connection, a timeout), a manifest without a 200, an image without
a 200, read short, or with another sha256. A 429 is a failure. nginx's own access log is
read back for the bytes it sent of the image and its requests by status, and its error
log for lines such as connections limited.
"""
