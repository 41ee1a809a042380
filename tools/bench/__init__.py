"""Issue #7's benchmark: how picohub's update compares with two simpler ways to update the
same packages, measured on one booted bookworm container, in one run.

Run it as root: ``python -m tools.bench [--runs N] [--out bench/results.json]``. It prints
a table of medians (with min and max) and writes every figure and every raw sample to
``--out``. It is a benchmark, not a test: nothing here passes or fails on a number.

The releases. Release 1 is this tree (the version of ``debian/changelog``); release 2 is
the same tree stamped one version later, and only its ``picohub`` package is used: the
repository of release 2 holds picohub 2 beside the *same* picohub-web and picohub-firmware
.debs as release 1, so only picohub changes between the two. Both are signed with the local
key that test builds pin, and served by ``tests.fakegithub`` (``serve_releases``, release 2
the latest) in the container's network namespace. The updater reaches it through a small
relay on port 8001 that records every HTTP exchange, so "bytes downloaded" is counted on the
wire, independently of the updater's own bookkeeping.

The variants, each run ``--runs`` times, interleaved round by round (the order rotates
every round, so no variant always follows another), all from the same state: release 1
installed (``apt-get install --allow-downgrades --reinstall`` of picohub 1, which also
undoes the naive variant's file swap that dpkg knows nothing of), picohub.socket and
picohub.service active, the updater's cache empty:

- ``restart``: the baseline, ``systemctl restart picohub.service``. Its "app start" (from
  the new main process's exec, as systemd records it, to the first answer it gives) is
  the app's own start time the unavailability windows are compared with.
- ``picohub``: exactly what the frontend does: log in through nginx, POST
  /api/system/update (the newest release). The updater runs in ``picohub-update.service``.
  The cache is emptied before every run, so each run is the first update of a hub
  installed with apt: it downloads release 2's index and picohub .deb, and release 1's
  index and picohub .deb, the copy a rollback would install (a hub that updated before
  has that copy cached already). Both are listed separately.
- ``automatic``: an automatic install in the maintenance window of a release downloaded
  ahead (issue #16). First an automatic run outside the window (update.conf's window
  opens an hour later) checks, downloads and verifies release 2 and the rollback copy of
  release 1, simulates apt's plan, and arms the window's timer. Then the window opens:
  update.conf says any time (as the rules say at the window's time), and the trigger is
  what the timer starts at its time, ``picohub-update-window.service``: it starts the
  automatic run in the transient unit ``picohub-update.service``, which decides there
  and installs. Compared with ``apt``: the hub should pay only dpkg and the handover
  (goal: at most 1.0 x apt's total). What the window's run fetches is listed (nothing:
  it asks nothing of the network). The updater's log lines are kept with their times.
- ``naive``: the seed design before the Debian packages: stop, replace the files, start.
  The seed ran this from a subprocess of the app; here a root shell script runs in its own
  transient unit, because a child of picohub.service would be killed by the stop it asks
  for (and the app runs unprivileged, with NoNewPrivileges=yes, so it could not run
  systemctl at all): this is the naive design's best case. It stops picohub.socket too,
  since with the socket listening the next request would start the old code again, and
  "replaces the files": the program files of picohub_2.deb are unpacked over / with tar
  (``--keep-directory-symlink``: plain ``dpkg-deb -x`` replaces merged /usr's /lib symlink
  with a folder and breaks the system; ``/etc`` left alone, as the seed never replaced its
  configuration; /etc/picohub/update.conf points the updater at the bench's server).
  dpkg's database still says release 1, and /healthz reports dpkg's version, so the new
  code answers with the old version number (``healthz_version``, a flaw of that design):
  for this variant "the new version answers" means the first answer after the new main
  process started (systemd's ExecMainStartTimestamp; the old process had stopped before
  it). The swapped .py files no longer match the bytecode py3compile wrote for release 1
  (30 modules stale), and the app cannot write ``__pycache__`` (ProtectSystem=strict), so
  it compiles them at every start; the figures include that.
- ``apt``: ``apt-get install ./picohub_2.deb`` with the service stopped before unpacking,
  as a package built with ``--no-restart-after-upgrade`` does. Stopping only the service
  would not stop it under socket activation (the next request starts the old code while
  dpkg unpacks), so the socket is stopped as well; postinst starts both again. It runs in
  a transient unit too (peak RSS is polled the same way).
- ``apt_live``: the same ``apt-get install`` with nothing stopped first: the package's
  postinst hands over to the new version by itself, as under the updater. What picohub's
  automatic run costs over apt alone, on the same package.

naive, apt and apt_live get the .deb on the container's disk beforehand: their total time
has no check, download or verification in it, picohub's has all three.

The measurements:

- A probe sends ``GET /healthz`` through nginx (port 8780) every 20 ms on a wall-clock
  schedule, each request on its own connection in its own thread (a slow answer does not
  delay the next request), timeout 2 s per socket operation. It runs in the container's
  network namespace as a separate host process (``agent_main``), so it competes with the
  bench for nothing but the CPU. Each sample: when it was due, sent, answered; status
  (0: no HTTP answer: refused, reset or timed out); the version /healthz reported.
- From the trigger until the probe stops (1 s after the new version answered and the
  update's unit ended): requests failed (anything but 200), the longest gap between two
  successful answers (from the last one before the trigger), the worst latency, and the
  total time: trigger to the first answer from the new version. systemd's timestamps of
  picohub.service split the app's own part of the window: its last stop (ActiveExit to
  InactiveEnter) and its last start (ExecMainStart to the first answer after it).
- Peak RSS: the unit's processes are read from its cgroup every 10 ms (from the host) and
  each one's VmHWM kept; the "updater" figure is the unit's main process (the Python
  ``picohub-update``; ``sh`` for naive; ``apt-get`` for apt), the largest process of the
  unit is reported beside it. A process that lives less than 10 ms can be missed.
- The no-change check: after each picohub run (release 2 installed), ``picohub-update
  check --json`` twice, timed by bash inside the container; the second is the figure,
  with its ``not_modified`` (a 304) and the requests it made.

All clocks are CLOCK_MONOTONIC: the container shares the host's (systemd-nspawn makes no
time namespace), so the probe's times, the bench's and systemd's unit timestamps compare.
"""
