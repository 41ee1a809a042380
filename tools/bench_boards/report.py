"""The boards' samples summed up (the windows, the downloads checked, nginx's own count)
and the table printed."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import Any

from picohub.firmware.manifest import Manifest
from tools.bench_boards.boards import Plan
from tools.bench_boards.settings import P99_LIMIT, WARMUP_S
from tools.bench_boards.stats import Beat, failures, goal_met, latencies, ratio, within

# nginx's combined format: address - user [time] "request" status bytes ...
ACCESS_LINE = re.compile(r'(\S+) \S+ \S+ \[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+)')


def summarize(
    raw: dict[str, Any], manifest: Manifest, access: str, errors: str, plan: Plan
) -> dict[str, Any]:
    beats = [Beat(*row) for row in raw["beats"]]
    started, ended = raw["downloads_started"], raw["downloads_ended"]
    idle = within(beats, raw["start"] + WARMUP_S, started)
    during = within(beats, started, ended)
    after = within(beats, ended, raw["stopped"])
    idle_figures, during_figures = latencies(idle), latencies(during)
    p99_ratio = ratio(during_figures["p99_s"], idle_figures["p99_s"])
    downloads = raw["downloads"]
    failed: Counter[str] = Counter(f"heartbeat {kind}" for kind in failures(beats).elements())
    for download in downloads:
        failed.update(download_failures(download, manifest))
    complete = [d for d in downloads if not download_failures(d, manifest)]
    spans = [d["ended"] - d["started"] for d in complete]
    in_progress = [
        sum(1 for d in downloads if d["started"] <= b.sent < (d["ended"] or ended)) for b in during
    ]
    total_failed = sum(failed.values())
    return {
        "heartbeats": {
            "sent": len(beats),
            "idle": {**idle_figures, "window_s": started - raw["start"] - WARMUP_S},
            "during": {
                **during_figures,
                "window_s": ended - started,
                "sent_while_all_downloading": sum(n == len(downloads) for n in in_progress),
                "downloads_in_progress_median": (
                    statistics.median(in_progress) if in_progress else None
                ),
            },
            "after": {**latencies(after), "window_s": raw["stopped"] - ended},
            "p99_ratio": p99_ratio,
        },
        "downloads": {
            "boards": len(downloads),
            "complete_and_verified": len(complete),
            "bytes_received": sum(d["received"] for d in downloads),
            "duration_median_s": statistics.median(spans) if spans else None,
            "duration_max_s": max(spans, default=None),
        },
        "nginx": served(access, errors),
        "midway": raw.get("midway", {}),
        "failed": total_failed,
        "failures": dict(sorted(failed.items())),
        "goal": {"p99_limit": P99_LIMIT, "met": goal_met(total_failed, p99_ratio, P99_LIMIT)},
    }


def download_failures(download: dict[str, Any], manifest: Manifest) -> list[str]:
    """The failed requests of one downloading board, by kind: its manifest request
    without a 200; its image request without a 200, read short or long, or with a hash
    other than the manifest's (the first of these that applies). A board asks for the
    image even after a manifest answer other than 200 (two requests, two failures), not
    after no answer at all (the image was never asked for)."""
    status, error, received = download["status"], download["error"], download["received"]
    if download["manifest_status"] == 0:
        return [f"manifest {error}"]
    failed = (
        [] if download["manifest_status"] == 200 else [f"manifest {download['manifest_status']}"]
    )
    checks = (
        (status == 0, f"image {error}"),
        (status != 200, f"image {status}"),
        (received < manifest.size, "image short read"),
        (received > manifest.size, "image long read"),
        (download["sha256"] != manifest.sha256, "image sha256 mismatch"),
        (error is not None, f"image {error}"),
    )
    image = next((problem for bad, problem in checks if bad), None)
    return failed if image is None else [*failed, image]


def served(access: str, errors: str) -> dict[str, Any]:
    """What nginx logged: requests by path and status, the client addresses, the image's
    bytes it sent (in 200 and 206 answers), and its error log's lines (connections
    limited, upstream failures)."""
    statuses: Counter[str] = Counter()
    addresses: dict[str, set[str]] = {}
    image_bytes = 0
    for line in access.splitlines():
        match = ACCESS_LINE.match(line)
        if match is None:
            continue
        client, method, path, status, sent = match.groups()
        statuses[f"{method} {_kind(path)} {status}"] += 1
        addresses.setdefault(_kind(path), set()).add(client)
        if path == "/api/firmware/image" and status in ("200", "206"):
            image_bytes += int(sent)
    error_lines = [line for line in errors.splitlines() if line.strip()]
    return {
        "requests": dict(sorted(statuses.items())),
        "client_addresses": {kind: len(seen) for kind, seen in sorted(addresses.items())},
        "image_bytes_sent": image_bytes,
        "error_log_lines": len(error_lines),
        "error_log_first": error_lines[:5],
    }


# The TCP states of /proc/net/tcp (include/net/tcp_states.h) a served socket is in.
TCP_STATES = {
    "01": "established",
    "04": "fin_wait1",
    "05": "fin_wait2",
    "06": "time_wait",
    "07": "close",
    "08": "close_wait",
    "09": "last_ack",
    "0B": "closing",
}


def connections(proc_net_tcp: str, port: int) -> dict[str, Any]:
    """nginx's side of the IPv4 connections to ``port`` in a /proc/PID/net/tcp table: how
    many in each state, from how many client addresses, and the bytes still queued in
    their send buffers (written by nginx, not yet acknowledged by the board). A socket
    nginx has closed while its queue still drains is in fin_wait1."""
    states: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    queued = 0
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        if state not in TCP_STATES or int(local.split(":")[1], 16) != port:
            continue  # a board's own side, or the listening socket
        states[TCP_STATES[state]] += 1
        host = bytes.fromhex(remote.split(":")[0])[::-1]  # little-endian on x86 and arm
        clients[".".join(str(octet) for octet in host)] += 1
        queued += int(queues.split(":")[0], 16)
    return {
        "states": dict(sorted(states.items())),
        "client_addresses": len(clients),
        "most_from_one_address": max(clients.values(), default=0),
        "send_queue_bytes": queued,
    }


def _kind(path: str) -> str:
    if path.startswith("/api/devices/") and path.endswith("/heartbeat"):
        return "heartbeat"
    return {"/api/firmware/image": "image", "/api/firmware/manifest": "manifest"}.get(path, path)


def table(summary: dict[str, Any], plan: Plan) -> str:
    hb = summary["heartbeats"]
    idle, during, after = hb["idle"], hb["during"], hb["after"]
    dl = summary["downloads"]
    rows = [
        ("heartbeats", "idle", f"during {plan.downloaders} downloads", "idle after (check)"),
        ("window", *(f"{w['window_s']:.1f} s" for w in (idle, during, after))),
        ("answered", *(str(w["count"]) for w in (idle, during, after))),
        ("latency p50", *(_ms(w["p50_s"]) for w in (idle, during, after))),
        ("latency p99", *(_ms(w["p99_s"]) for w in (idle, during, after))),
        ("latency max", *(_ms(w["max_s"]) for w in (idle, during, after))),
    ]
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)) for row in rows]
    p99_ratio = hb["p99_ratio"]
    nginx = summary["nginx"]
    lines += [
        "",
        f"p99 during / idle (before): {'-' if p99_ratio is None else f'{p99_ratio:.2f}'} "
        f"(goal <= {summary['goal']['p99_limit']:.0f})",
        f"downloads: {dl['complete_and_verified']} of {dl['boards']} complete with the "
        f"manifest's sha256; {dl['bytes_received']} bytes received, nginx sent "
        f"{nginx['image_bytes_sent']} image bytes; each took "
        f"{_s(dl['duration_median_s'])} (median), {_s(dl['duration_max_s'])} (max)",
        _midway(summary["midway"]),
        f"failed requests: {summary['failed']}"
        + "".join(f"\n  {kind}: {count}" for kind, count in summary["failures"].items()),
        f"client addresses nginx saw: {nginx['client_addresses']}; its error log: "
        f"{nginx['error_log_lines']} lines",
        f"goal (0 failed, p99 <= {summary['goal']['p99_limit']:.0f} x idle): "
        + ("met" if summary["goal"]["met"] else "NOT met"),
    ]
    return "\n".join(lines)


def _midway(seen: dict[str, Any]) -> str:
    if not seen:
        return "halfway through the downloads: not looked at"
    return (
        f"halfway through the downloads nginx's sockets: {seen['states']} from "
        f"{seen['client_addresses']} addresses (at most {seen['most_from_one_address']} from "
        f"one), {seen['send_queue_bytes']} bytes in their send queues"
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"
