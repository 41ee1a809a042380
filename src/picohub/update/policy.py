"""The owner's rules for automatic updates (``[automatic]`` in ``update.conf``), and what
an automatic run may do under them: a pure function of the rules and the circumstances,
so every combination is unit-tested without a clock, a network or a hub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum


class Mode(StrEnum):
    OFF = "off"  # no automatic run checks at all
    NOTIFY = "notify"  # check, and show what is available
    DOWNLOAD = "download"  # check and download; a person installs
    INSTALL = "install"  # check, download and install (the default)


@dataclass(frozen=True)
class Window:
    """When an automatic run may install, in local time; ``start == end`` is any time.
    A window that ends before it starts spans midnight (``22:00-04:00``)."""

    start: time = time(0, 0)
    end: time = time(0, 0)

    @property
    def always(self) -> bool:
        return self.start == self.end

    def __str__(self) -> str:
        return "any" if self.always else f"{self.start:%H:%M}-{self.end:%H:%M}"

    @classmethod
    def parse(cls, text: str) -> Window:
        """``any`` or ``HH:MM-HH:MM``; ValueError naming what is wrong otherwise."""
        if text.strip().lower() == "any":
            return cls()
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"window must be 'any' or HH:MM-HH:MM (local time), not {text!r}")
        start, end = (_clock(part.strip(), text) for part in parts)
        if start == end:
            raise ValueError(f"window {text!r} is empty; write 'any' for any time")
        return cls(start, end)

    def contains(self, moment: datetime) -> bool:
        if self.always:
            return True
        now = moment.time().replace(second=0, microsecond=0)
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_opening(self, moment: datetime) -> datetime:
        """The next time the window opens after ``moment`` (``moment`` itself when open)."""
        if self.contains(moment):
            return moment
        opening = datetime.combine(moment.date(), self.start, moment.tzinfo)
        return opening if opening > moment else opening + timedelta(days=1)


ANY_TIME = Window()


def _clock(part: str, whole: str) -> time:
    hours, _, minutes = part.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        raise ValueError(f"window {whole!r}: {part!r} is not a time of day as HH:MM")
    try:
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"window {whole!r}: {part!r} is not a time of day ({exc})") from exc


@dataclass(frozen=True)
class Policy:
    mode: Mode = Mode.INSTALL
    window: Window = ANY_TIME
    # On a metered connection (NetworkManager's Metered): check only, unless allowed.
    metered_downloads: bool = False


@dataclass(frozen=True)
class Circumstances:
    """What an automatic run found: the check's answer and the hub's state."""

    now: datetime  # local time
    version: str | None  # the release offered, when it changes something here
    cached: bool = False  # that release is downloaded and verified already
    held_until: str | None = None  # an administrator's hold, and its end ("" for no end)
    skipped_because: str | None = None  # its automatic install was rolled back: why
    date_refusal: str | None = None  # its date is not believed (picohub.update.timefloor)
    metered: bool = False
    # It is phased and this hub's turn has not come (picohub.update.phasing): why.
    not_this_hubs_turn: str | None = None


class Action(StrEnum):
    NOTHING = "nothing"  # off, or up to date
    NOTIFY = "notify"  # show what is available, download nothing
    DOWNLOAD = "download"  # download and verify, install later (or by hand)
    WAIT = "wait"  # downloaded; install when the window opens
    INSTALL = "install"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    # For WAIT: when the window opens, local time.
    wake_at: datetime | None = None


def decide(policy: Policy, found: Circumstances) -> Decision:
    """What an automatic run does: the first rule that applies wins."""
    rules = (
        _off,
        _up_to_date,
        _skipped,
        _not_this_hubs_turn,
        _dated_implausibly,
        _notify_only,
        _metered,
        _held,
    )
    for rule in (*rules, _download_only):
        decision = rule(policy, found)
        if decision is not None:
            return decision
    if not policy.window.contains(found.now):
        opening = policy.window.next_opening(found.now)
        return Decision(
            Action.WAIT,
            f"release {found.version} is downloaded; it is installed when the maintenance"
            f" window {policy.window} opens ({opening:%Y-%m-%d %H:%M})",
            opening,
        )
    return Decision(Action.INSTALL, f"installing release {found.version}")


def _off(policy: Policy, _found: Circumstances) -> Decision | None:
    if policy.mode is Mode.OFF:
        return Decision(Action.NOTHING, "automatic updates are off (automatic = off)")
    return None


def _up_to_date(_policy: Policy, found: Circumstances) -> Decision | None:
    if found.version is None:
        return Decision(Action.NOTHING, "up to date")
    return None


def _skipped(_policy: Policy, found: Circumstances) -> Decision | None:
    if found.skipped_because is None:
        return None
    return Decision(
        Action.NOTIFY,
        f"release {found.version} is skipped: {found.skipped_because}; it is installed"
        " automatically again only once a newer release appears (install it by hand to retry)",
    )


def _not_this_hubs_turn(_policy: Policy, found: Circumstances) -> Decision | None:
    """A phased release reaches the hubs whose bucket is below its percentage: the others
    neither download nor install it automatically (a person still may)."""
    if found.not_this_hubs_turn is None:
        return None
    return Decision(
        Action.NOTIFY,
        f"release {found.version} is not installed automatically: {found.not_this_hubs_turn}"
        " (install it by hand to take it now)",
    )


def _dated_implausibly(_policy: Policy, found: Circumstances) -> Decision | None:
    if found.date_refusal is None:
        return None
    return Decision(
        Action.NOTIFY,
        f"release {found.version} is not installed automatically: {found.date_refusal}"
        " (install it by hand if that date is right)",
    )


def _notify_only(policy: Policy, found: Circumstances) -> Decision | None:
    if policy.mode is Mode.NOTIFY:
        return Decision(Action.NOTIFY, f"release {found.version} is available (automatic = notify)")
    return None


def _metered(policy: Policy, found: Circumstances) -> Decision | None:
    if found.metered and not policy.metered_downloads and not found.cached:
        return Decision(
            Action.NOTIFY,
            f"release {found.version} is available; not downloaded on a metered connection"
            " (metered_downloads = no)",
        )
    return None


def _held(_policy: Policy, found: Circumstances) -> Decision | None:
    if found.held_until is None:
        return None
    until = f" until {found.held_until}" if found.held_until else ""
    return Decision(
        Action.DOWNLOAD,
        f"release {found.version} is downloaded, not installed: updates are held{until}",
    )


def _download_only(policy: Policy, found: Circumstances) -> Decision | None:
    if policy.mode is Mode.DOWNLOAD:
        return Decision(
            Action.DOWNLOAD,
            f"release {found.version} is downloaded; install it from the page"
            " (automatic = download)",
        )
    return None
