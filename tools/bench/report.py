"""The report: the figures summarized, the table printed, the machine described."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.system.container import Container


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


SUMMARY_FIELDS = (
    "total_s",
    "failed",
    "longest_gap_s",
    "worst_latency_s",
    "app_stop_s",
    "app_start_s",
    "app_ready_s",
    "unit_s",
    "service_starts",
)


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant, results in runs.items():
        figures: dict[str, Any] = {n: spread([r.get(n) for r in results]) for n in SUMMARY_FIELDS}
        memory = [r["memory"]["main_peak_rss_kib"] for r in results if "memory" in r]
        figures["updater_peak_rss_kib"] = spread(memory)
        if variant == "automatic":
            figures["window_downloaded_bytes"] = spread(
                [r["downloads"]["total_bytes"] for r in results]
            )
        if variant == "picohub":
            figures["downloaded_bytes"] = spread([r["downloads"]["total_bytes"] for r in results])
            figures["no_change_check_s"] = spread(
                [r["no_change_checks"][-1]["seconds"] for r in results]
            )
            figures["no_change_not_modified"] = [
                r["no_change_checks"][-1]["not_modified"] for r in results
            ]
        summary[variant] = figures
    return summary


def _cell(figure: dict[str, Any], scale: float = 1.0, digits: int = 2) -> str:
    if figure["median"] is None:
        return "-"
    m, lo, hi = (figure[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def _median(figure: dict[str, Any], digits: int = 2) -> str:
    return "-" if figure["median"] is None else f"{figure['median']:.{digits}f}"


def table(summary: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> str:
    head = (
        "variant",
        "total s",
        "failed",
        "longest gap s",
        "worst latency s",
        "app stop s",
        "app start s",
        "starts",
        "peak RSS MiB",
    )
    rows = [head]
    for variant, f in summary.items():
        rows.append(
            (
                variant,
                _cell(f["total_s"]),
                _cell(f["failed"], digits=0),
                _cell(f["longest_gap_s"]),
                _cell(f["worst_latency_s"]),
                _cell(f["app_stop_s"]),
                _cell(f["app_start_s"]),
                _cell(f["service_starts"], digits=0),
                _cell(f["updater_peak_rss_kib"], 1 / 1024, 1),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        "medians [min-max]. total: trigger to the first answer of the new version. app stop:"
        " systemd's last stop of picohub.service; app start: its last exec to the first"
        " answer; starts: of picohub.service. peak RSS: the main process (picohub-update,"
        " sh, apt-get)."
    )
    late = max(r["probe_late_max_s"] for results in runs.values() for r in results)
    sent = sum(r["requests"] for results in runs.values() for r in results)
    lines.append(f"probe: {sent} requests, the latest sent {late * 1000:.0f} ms after its time")
    if "picohub" in runs:
        lines += _picohub_lines(summary, runs["picohub"])
    if "automatic" in runs:
        lines.append(_steps_line("automatic", runs["automatic"]))
    if "automatic" in runs and "apt" in runs:
        lines.append(automatic_line(summary))
    return "\n".join(lines)


def _steps_line(variant: str, results: list[dict[str, Any]]) -> str:
    """The median time from the trigger to each step's log line."""
    steps = {step for r in results for step in r.get("steps", {})}
    medians = {
        s: statistics.median(r["steps"][s] for r in results if s in r["steps"]) for s in steps
    }
    return f"{variant}'s steps (median s from the trigger to the updater's log line): " + (
        ", ".join(f"{s} {medians[s]:.2f}" for s in sorted(medians, key=medians.__getitem__)) or "-"
    )


def _picohub_lines(summary: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    f = summary["picohub"]
    last = results[-1]["downloads"]
    again = any(r["downloads"]["other_packages_downloaded"] for r in results)
    lines = [
        f"picohub downloads: {_cell(f['downloaded_bytes'], 1, 0)} B of files per run "
        f"({last['wire_bytes']} B on the wire with HTTP headers, {last['api_requests']} API "
        f"requests); picohub-web or picohub-firmware downloaded: {'yes' if again else 'no'}"
    ]
    for release, what in (("latest", "the new release"), (None, "the installed one's")):
        files = [x for x in last["files"] if (x["release"] == "latest") == (release == "latest")]
        listed = ", ".join(f"{x['name']} {x['bytes']}" for x in files)
        lines.append(f"  {what}: {listed} = {sum(x['bytes'] for x in files)} B")
    checks = [r["no_change_checks"][-1] for r in results]
    lines.append(
        f"no-change check (the second of two): {_cell(f['no_change_check_s'], 1, 3)} s; "
        f"304: {sum(c['not_modified'] for c in checks)} of {len(checks)}; requests: "
        f"{'; '.join(checks[-1]['requests'])}"
    )
    lines.append(_steps_line("picohub", results))
    if "restart" in summary:
        base = summary["restart"]
        lines.append(
            f"aim: failed requests during a picohub update: {f['failed']['max']} in the worst "
            f"run (aim 0). Its longest gap {_median(f['longest_gap_s'])} s; the app's own "
            f"start {_median(base['app_start_s'])} s, its stop {_median(base['app_stop_s'])} s, "
            f"a plain restart's gap {_median(base['longest_gap_s'])} s (medians)"
        )
    return lines


def machine(container: Container) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").split()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    inside = container.run(
        [
            "sh",
            "-c",
            "cat /etc/debian_version; python3 --version; "
            "dpkg-query -W -f '${Package} ${Version}\\n' systemd gunicorn python3-flask nginx",
        ]
    ).stdout.splitlines()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_mib": int(meminfo[meminfo.index("MemTotal:") + 1]) // 1024,
        "kernel": platform.release(),
        "load_average": os.getloadavg(),
        "container_debian": inside[0],
        "container_software": inside[1:],
    }


def automatic_line(summary: dict[str, Any]) -> str:
    """The automatic install in the window against plain apt of the same .debs."""
    automatic, apt = summary["automatic"]["total_s"]["median"], summary["apt"]["total_s"]["median"]
    fetched = summary["automatic"]["window_downloaded_bytes"]
    line = (
        f"automatic (release downloaded ahead, from the window's run to the new version):"
        f" {_ratio(automatic, apt)} x apt's total (goal <= 1.0)"
    )
    if "apt_live" in summary:
        live = summary["apt_live"]["total_s"]["median"]
        line += f", {_ratio(automatic, live)} x apt_live's (apt with the app running)"
    return line + f"; {_cell(fetched, 1, 0)} B fetched in the window"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return "-" if not numerator or not denominator else f"{numerator / denominator:.2f}"
