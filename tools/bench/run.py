"""One run of the bench: build, boot, every variant round by round, the report written."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.system.conftest import point_updater_at, serve_releases
from tools.bench.agents import Agent
from tools.bench.releases import build_releases
from tools.bench.report import machine, summarize, table
from tools.bench.settings import (
    LEAD_S,
    PROBE_PERIOD_S,
    PROBE_TIMEOUT_S,
    RELAY_PORT,
    TAIL_S,
    VARIANTS,
)
from tools.bench.variants import Bench
from tools.preflight import booted_bookworm

log = logging.getLogger("bench")


def run_bench(runs: int, out: Path, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="picohub-bench-") as temporary, ExitStack() as stack:
        work = Path(temporary)
        log.info("building release 1 from the tree and release 2 (only picohub changes)")
        releases = build_releases(work)
        log.info("booting bookworm; releases %s and %s", releases.old.version, releases.new.version)
        container = stack.enter_context(booted_bookworm(work))
        served = [(f"v{r.version}", r.directory) for r in (releases.old_repo, releases.new_repo)]
        stack.enter_context(serve_releases(container, served))
        probe = Agent(container, "probe")
        stack.callback(probe.close)
        relay = Agent(container, "relay")
        stack.callback(relay.close)
        bench = Bench(container, releases, probe, relay, f"http://127.0.0.1:{RELAY_PORT}")
        bench.install_release_1()
        point_updater_at(container, bench.updater_url)
        results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
        about = machine(container)
        for round_ in range(runs):
            order = variants[round_ % len(variants) :] + variants[: round_ % len(variants)]
            for variant in order:
                if not bench.clean:
                    bench.reset()
                log.info("round %d of %d: %s", round_ + 1, runs, variant)
                result = getattr(bench, f"run_{variant}")()
                bench.clean = bench.clean and variant == "restart"
                result["round"] = round_ + 1
                results[variant].append(result)
                log.info("  %s", _one_line(result))
        about["load_average_after"] = os.getloadavg()
    summary = summarize(results)
    report = {
        "machine": about,
        "releases": {"old": releases.old.version, "new": releases.new.version},
        "settings": {
            "runs": runs,
            "variants": list(variants),
            "probe_period_s": PROBE_PERIOD_S,
            "probe_timeout_s": PROBE_TIMEOUT_S,
            "lead_s": LEAD_S,
            "tail_s": TAIL_S,
        },
        "summary": summary,
        "runs": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(table(summary, results))
    print(f"\nwrote {out}")
    return report


def _one_line(result: dict[str, Any]) -> str:
    total = result["total_s"]
    return (
        f"total {'-' if total is None else f'{total:.2f}'} s, failed {result['failed']}, "
        f"longest gap {result['longest_gap_s']:.3f} s, worst latency "
        f"{result['worst_latency_s']:.3f} s, app start {result['app_start_s']}"
    )
