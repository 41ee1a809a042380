"""Issue #18's fleet benchmark: what a fleet of hubs polling a hawkBit server costs the
server, what one release costs per hub, and how long a rollout of two groups takes.

Run it as root: ``python -m tools.bench_fleet [--controllers 100,1000]
[--out bench/fleet.json]``. It prints a table and writes every figure to ``--out``. It is
a benchmark: nothing passes or fails on a number.

The server: tests.fakehawkbit (DDI and the Management API's rollouts), started in the
network namespace of a booted bookworm container (tests.picoboard.netns), with every
exchange counted on its side (tools.bench_fleet.server): bytes at the HTTP level, request
line, headers and bodies each way (no TCP or TLS overhead). It asks for a polling time of
00:00:10 (config.polling.sleep), the shortest picohub honours as asked.

The controllers, per round (``--controllers``, one round each): N simulated controllers
(sim-0000 ...) and one real hub. The simulated ones run picohub's own device code in
process (tools.bench_fleet.fleet: hawkbit_poll.Device, a no-op install); the hub is the
container: release 1 (this tree) installed by apt, update.conf's [fleet] pointing at the
server, picohub-hawkbit.service restarted (its controller id picohub-<machine id>).

A round: every controller's first poll spread over the polling time; after 12 s (every
one has polled once and sent its attributes), the idle load is measured for 30 s:
requests/s, bytes a poll. Then a rollout of release 2 (this tree one version later, every
package; the artifact is its signed offline bundle, as ``picohub-update bundle`` writes
it) to everyone in two groups: 50 % (the hub sorts first, so it is in group 1) and the
rest; success condition 100 % (group 2 starts when group 1 has all finished, the hub's
install included), error condition 0 % with PAUSE. Timed from the rollout's start: when
group 1 and group 2 finished, and per group when its last member first fetched the
deployment (the wait for polls) and its slowest member's work (first fetch to closing
feedback). Bytes per hub per release: everything a controller exchanged after the start
but its polls (the artifact, the deployment, the feedback, its attributes again).

The rollout over, every controller polls once more (12 s), so the attributes a
controller sends after its install are counted too. Before each round the hub is put back
on release 1 by apt with the updater's caches emptied, so each round's install is a first.

At hawkBit's default polling time (00:05:00): hubs / 300 s polls a second, times the
requests a poll took and the bytes a request, as measured (not the measured rate times
10/300: at 10 s picohub's floor of 10 s cuts the lower half of its +-10 % jitter off, so a
controller polled every 10.25 s on average; at 300 s the jitter is symmetric). A group
takes at most 1.1 x 300 s (its last member's poll) plus its slowest member's work. The
figures for 10,000 hubs use the requests a poll and the bytes a request of the largest
round; GitHub's on the daily timer are arithmetic from docs/updater.md: one conditional
request a check, no API call.

If the hub fails (its install, its registration, no result within 420 s), the round goes
on without it: its action is closed as failed on its behalf (the rollout pauses and is
resumed), and the report says what failed with the hub's log lines.
"""
