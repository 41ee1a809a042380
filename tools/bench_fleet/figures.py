"""The fleet benchmark's arithmetic: what was measured over the short polling time, worked
out at hawkBit's default one, and what the GitHub timer costs beside it. Pure functions
of the records (tested in tests/unit/test_bench_fleet.py)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DAY_S = 86_400


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer as the server saw them: bytes on the wire at the
    HTTP level (request line, headers and body each way; not TCP or TLS)."""

    at: float  # time.monotonic() when the answer was sent
    controller: str | None  # None: the Management API, or not a controller's path
    kind: str  # see kind_of
    status: int
    received: int
    sent: int

    @property
    def total(self) -> int:
        return self.received + self.sent


_KINDS = {
    ("configData", False): "config-data",
    ("deploymentBase", False): "deployment",
    ("deploymentBase", True): "feedback",
    ("cancelAction", False): "cancel",
    ("cancelAction", True): "cancel-feedback",
    ("softwaremodules", False): "artifact",
}


def kind_of(method: str, path: str, tenant: str) -> str:
    """What a request is: poll, config-data, deployment, feedback, cancel,
    cancel-feedback, artifact, management or other."""
    parts = [unquote(part) for part in urlsplit(path).path.strip("/").split("/")]
    if parts[:2] == ["rest", "v1"]:
        return "management"
    if parts[:3] != [tenant, "controller", "v1"] or len(parts) < 4:
        return "other"
    rest = parts[4:]
    if not rest:
        return "poll" if method == "GET" else "other"
    return _KINDS.get((rest[0], rest[2:] == ["feedback"]), "other")


def parse_sleep(text: str) -> int:
    """Seconds of a hawkBit polling time, ``HH:MM:SS``."""
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    if not (0 <= minutes < 60 and 0 <= seconds < 60 and hours >= 0):
        raise ValueError(f"not a polling time: {text!r}")
    return hours * 3600 + minutes * 60 + seconds


def polls_per_s(hubs: int, sleep_s: float) -> float:
    """The expected poll rate of ``hubs`` polling every ``sleep_s`` (the +-10 % jitter
    averages out)."""
    return hubs / sleep_s


@dataclass(frozen=True)
class Load:
    """The idle polling load over a window."""

    controllers: int
    window_s: float
    requests: int
    polls: int
    bytes: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.window_s

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.window_s

    @property
    def bytes_per_poll(self) -> float:
        return self.bytes / self.polls if self.polls else 0.0

    @property
    def per_hub_per_s(self) -> float:
        return self.requests_per_s / self.controllers

    @property
    def mean_interval_s(self) -> float:
        """How long a controller waited between polls, on average."""
        return self.controllers * self.window_s / self.polls if self.polls else 0.0

    @property
    def requests_per_poll(self) -> float:
        return self.requests / self.polls if self.polls else 0.0

    @property
    def bytes_per_request(self) -> float:
        return self.bytes / self.requests if self.requests else 0.0


def load(exchanges: Iterable[Exchange], start: float, end: float, controllers: int) -> Load:
    """The DDI requests answered in [start, end) (the Management API left out)."""
    chosen = [e for e in exchanges if start <= e.at < end and e.controller is not None]
    return Load(
        controllers=controllers,
        window_s=end - start,
        requests=len(chosen),
        polls=sum(e.kind == "poll" for e in chosen),
        bytes=sum(e.total for e in chosen),
    )


@dataclass(frozen=True)
class ReleaseBytes:
    """What one controller exchanged for one release, polls left out (they are the
    polling load): the artifact's transfer and the DDI overhead beside it."""

    artifact: int  # artifact GETs: request, headers and body
    deployment: int  # deploymentBase GETs
    feedback: int  # feedback POSTs
    config_data: int  # the attributes sent again after the install

    @property
    def overhead(self) -> int:
        return self.deployment + self.feedback + self.config_data

    @property
    def total(self) -> int:
        return self.artifact + self.overhead


def release_bytes(exchanges: Iterable[Exchange], controller: str, since: float) -> ReleaseBytes:
    mine = [e for e in exchanges if e.controller == controller and e.at >= since]

    def of(*kinds: str) -> int:
        return sum(e.total for e in mine if e.kind in kinds)

    return ReleaseBytes(
        artifact=of("artifact"),
        deployment=of("deployment"),
        feedback=of("feedback"),
        config_data=of("config-data"),
    )


@dataclass(frozen=True)
class GroupTimes:
    """One rollout group, in seconds from its start: when its last member first fetched
    its deployment (the wait for polls) and when the group finished."""

    members: int
    last_fetch_s: float | None
    finished_s: float | None
    longest_work_s: float | None  # the slowest member, first fetch to closing feedback


def group_times(
    exchanges: Sequence[Exchange],
    members: Sequence[str],
    started: float,
    finished: float | None,
) -> GroupTimes:
    wanted = set(members)
    first_fetch: dict[str, float] = {}
    closed: dict[str, float] = {}
    for e in exchanges:
        if e.controller not in wanted or e.at < started:
            continue
        if e.kind == "deployment":
            first_fetch.setdefault(e.controller, e.at)
        elif e.kind == "feedback":
            closed[e.controller] = e.at  # the last feedback is the closing one
    works = [closed[c] - first_fetch[c] for c in first_fetch if c in closed]
    return GroupTimes(
        members=len(members),
        last_fetch_s=max(first_fetch.values()) - started if first_fetch else None,
        finished_s=None if finished is None else finished - started,
        longest_work_s=max(works) if works else None,
    )


def group_bound_at(sleep_s: float, longest_work_s: float, jitter: float) -> float:
    """The longest a group takes at polling time ``sleep_s``: its last member polls at
    most ``(1 + jitter) * sleep_s`` after the group starts, then takes its work."""
    return (1 + jitter) * sleep_s + longest_work_s


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class GithubTimer:
    """The cost of ``hubs`` on the daily timer: one conditional asset request per check
    (a 304 when nothing is new), no API call; spread by the timer's random delay."""

    hubs: int
    checks_per_day: int
    spread_s: float

    @property
    def requests_per_day(self) -> int:
        return self.hubs * self.checks_per_day

    @property
    def requests_per_s(self) -> float:
        return self.requests_per_day / DAY_S

    @property
    def peak_requests_per_s(self) -> float:
        """While the random delays spread the day's checks (all timers fire at midnight,
        each hub after its own fixed delay of up to ``spread_s``)."""
        return self.requests_per_day / self.spread_s

    api_calls: int = 0


@dataclass(frozen=True)
class HawkbitPolling:
    """The cost of ``hubs`` polling hawkBit every ``sleep_s``: the requests a poll takes
    and the bytes a request, as measured. A device polls every ``sleep_s`` on average
    (its +-10 % jitter is symmetric once the polling time is over 11 s; at the bench's
    10 s, picohub's floor of 10 s cuts the lower half off, so the measured interval is
    about 10.25 s and the measured rate is not scaled by 10/300 but rebuilt from this)."""

    hubs: int
    sleep_s: float
    requests_per_poll: float
    bytes_per_request: float

    @property
    def requests_per_s(self) -> float:
        return polls_per_s(self.hubs, self.sleep_s) * self.requests_per_poll

    @property
    def requests_per_day(self) -> float:
        return self.requests_per_s * DAY_S

    @property
    def bytes_per_s(self) -> float:
        return self.requests_per_s * self.bytes_per_request

    @property
    def bytes_per_hub_per_day(self) -> float:
        return self.requests_per_day / self.hubs * self.bytes_per_request
