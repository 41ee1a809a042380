"""The fleet benchmark's table, from the report :mod:`tools.bench_fleet.run` writes."""

from __future__ import annotations

from typing import Any


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f} kB"


def table(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        f"Fleet benchmark: release {report['releases']['old']} -> {report['releases']['new']}, "
        f"bundle {report['releases']['bundle_bytes']} bytes; polling time asked "
        f"{settings['measured_sleep']} (measured), {settings['default_sleep']} (hawkBit's "
        "default, derived)",
        "",
        f"{'controllers':>11} | {'req/s measured':>14} | {'interval':>8} | {'B/poll':>6} | "
        f"{'req/s at 5 min':>14} | {'B/s at 5 min':>12} | {'group 1':>8} | {'all done':>8} | "
        f"{'bound at 5 min':>14} | hub",
        "-" * 129,
    ]
    for r in report["rounds"]:
        idle, derived, rollout, hub = r["idle"], r["at_default_sleep"], r["rollout"], r["hub"]
        groups = rollout["groups"]
        bound = sum(g["bound_at_default_s"] or 0 for g in groups)
        hub_text = "ok" if hub["ok"] else f"FAILED: {hub['problem']}"
        if hub["ok"] and hub["action"] is not None:
            hub_text = (
                f"ok, {hub['version_before']} -> {hub['version_after']} "
                f"at {hub['action']['closed_s']:.1f} s"
            )
        lines.append(
            f"{r['controllers']:>11} | {idle['requests_per_s']:>14.2f} | "
            f"{idle['mean_interval_s']:>6.2f} s | "
            f"{idle['bytes_per_poll']:>6.0f} | {derived['requests_per_s']:>14.3f} | "
            f"{derived['bytes_per_s']:>12.0f} | {_s(groups[0]['done_s']):>6} s | "
            f"{_s(groups[1]['done_s']):>6} s | {bound / 60:>10.1f} min | {hub_text}"
        )
    lines.append("")
    lines.append("Bytes per hub per release (polls left out), artifact + DDI overhead:")
    for r in report["rounds"]:
        b = r["release_bytes"]
        sim = b["simulated_median"]
        hub = b["hub"]
        hub_text = "-" if hub is None else f"{hub['total']} = {hub['artifact']} + {hub['overhead']}"
        lines.append(
            f"  {r['controllers']:>5} controllers: hub {hub_text}; simulated median "
            f"{_s(sim['total'], 0)} = {_s(sim['artifact'], 0)} + {_s(sim['overhead'], 0)}"
        )
    lines.append("")
    for r in report["rounds"]:
        groups = r["rollout"]["groups"]
        parts = [
            f"group {i + 1} ({g['members']}): last fetch {_s(g['last_fetch_s'])} s, "
            f"slowest work {_s(g['longest_work_s'])} s, done {_s(g['done_s'])} s"
            for i, g in enumerate(groups)
        ]
        f = r["fleet"]
        lines.append(
            f"  {r['controllers']:>5}: " + "; ".join(parts) + f"; polls {f['polls']}, errors "
            f"{f['errors']}, worst lateness {f['worst_lateness_s']:.2f} s"
        )
    fleet = report["fleet_of"]
    h, g = fleet["hawkbit"], fleet["github_timer"]
    lines += [
        "",
        f"{fleet['hubs']} hubs (per-hub rate and size from the round of "
        f"{fleet['measured_in_round_of']}):",
        f"  hawkBit at {h['sleep_s']} s: {h['requests_per_s']:.1f} requests/s, "
        f"{h['requests_per_day']:.0f} a day, {_kb(h['bytes_per_s'])}/s; "
        f"{_kb(h['bytes_per_hub_per_day'])} per hub a day",
        f"  GitHub on the daily timer: {g['requests_per_day']} conditional requests a day "
        f"({g['requests_per_s']:.3f}/s on average, {g['peak_requests_per_s']:.2f}/s over the "
        f"timer's 4 h spread), {g['api_calls']} API calls",
    ]
    return "\n".join(lines)
