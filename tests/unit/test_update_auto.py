"""Automatic runs' state: the administrator's hold, the skip after a rollback, the
history they leave, and the commands that set a hold."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from picohub.errors import UsageError
from picohub.settings import Settings
from picohub.update import auto
from picohub.update.auto import AutomaticRun, read_last_run, skipped_because
from picohub.update.available import Available
from picohub.update.check import Change
from picohub.update.cli import main
from picohub.update.history import Entry, History
from picohub.update.holds import Hold, Holds, parse_until
from picohub.update.http import DownloadError, ServerError
from picohub.update.journal import Origin
from picohub.update.phasing import Phasing
from picohub.update.policy import Action, Policy, decide
from tests.unit.conftest import closed_port

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def hub(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PICOHUB_UPDATE_STATE_DIR", str(tmp_path / "update"))
    return replace(settings, update_state_dir=tmp_path / "update")


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("12h", NOW + timedelta(hours=12)),
        ("1d", NOW + timedelta(days=1)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2026-12-24T18:00+00:00", datetime(2026, 12, 24, 18, 0, tzinfo=UTC)),
    ],
)
def test_a_holds_end_is_a_duration_or_a_date(text: str, end: datetime) -> None:
    assert parse_until(text, NOW) == end


def test_a_date_without_zone_is_local_time() -> None:
    local = datetime(2026, 12, 24).astimezone()
    assert parse_until("2026-12-24", NOW) == local.astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("soon", "is not a hold's end"),
        ("0d", "is not a hold's end"),
        ("2026-12-01", "has passed"),
        ("2028-01-01", "within 366 days"),
        ("0001-01-01", "is not a hold's end"),
    ],
)
def test_a_bad_end_is_refused_naming_the_forms(text: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint) as caught:
        parse_until(text, NOW)
    assert caught.value.hint


def test_a_hold_is_in_force_until_its_end(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "hold.json")
    assert holds.current(NOW) is None
    holds.hold(NOW + timedelta(days=1), by="shell")
    held = holds.current(NOW)
    assert held is not None and held.until == "2026-12-03T12:00:00Z" and held.by == "shell"
    assert holds.current(NOW + timedelta(days=1)) is None
    assert holds.release() is True
    assert holds.release() is False


def test_a_hold_without_end_lasts_until_released(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "hold.json")
    holds.hold(None, by="page")
    held = holds.current(NOW + timedelta(days=3650))
    assert held is not None and held.description == "held until released"


def test_a_damaged_hold_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "hold.json"
    path.write_text("{not json")
    held = Holds(path).current(NOW)
    assert isinstance(held, Hold) and held.until is None


def test_the_app_can_read_the_hold(tmp_path: Path) -> None:
    path = tmp_path / "hold.json"
    Holds(path).hold(None, by="shell")
    assert path.stat().st_mode & 0o777 == 0o644


def test_hold_and_release_hold_commands(hub: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hold", "--until", "1d"]) == 0
    assert "automatic updates are held until" in capsys.readouterr().out
    held = Holds(hub.update_hold).current(datetime.now(UTC))
    assert held is not None and held.by == "shell"
    assert main(["release-hold"]) == 0
    assert "the hold is released" in capsys.readouterr().out
    assert Holds(hub.update_hold).current(datetime.now(UTC)) is None


def test_a_bad_hold_changes_nothing(hub: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hold", "--until", "yesterday"]) == 2
    assert "is not a hold's end" in capsys.readouterr().err
    assert not hub.update_hold.exists()


def _attempt(version: str, origin: str, result: str, kind: str = "update") -> Entry:
    return Entry("2026-12-02T03:00:00Z", origin, kind, "1.0.0", version, result, "broken", 9.0, 10)


def test_a_rolled_back_release_is_skipped_until_it_is_installed_by_hand(hub: Settings) -> None:
    history = History(hub.update_history)
    assert skipped_because(hub, "2.0.0") is None
    history.append(_attempt("2.0.0", "timer", "rolled-back"))
    reason = skipped_because(hub, "2.0.0")
    assert reason is not None
    assert "automatic install on 2026-12-02T03:00:00Z was rolled back" in reason
    # An automatic run's own entries about it change nothing.
    history.append(_attempt("2.0.0", "timer", "done", kind="check"))
    assert skipped_because(hub, "2.0.0") is not None
    # A newer release is not skipped.
    assert skipped_because(hub, "2.1.0") is None
    # The administrator installed it by hand: it may go again.
    history.append(_attempt("2.0.0", "page", "done"))
    assert skipped_because(hub, "2.0.0") is None


def test_a_release_rolled_back_on_request_is_skipped(hub: Settings) -> None:
    history = History(hub.update_history)
    history.append(_attempt("2.0.0", "network", "done"))
    # As converge ends a requested rollback: rolled-back, healthy on the older release.
    history.append(Entry("2026-12-02T04:00:00Z", "page", "rollback", "2.0.0", "1.0.0",
                         "rolled-back", "rolled back to 1.0.0 on request", 30.0, 0))  # fmt: skip
    reason = skipped_because(hub, "2.0.0")
    assert reason == "it was rolled back on request on 2026-12-02T04:00:00Z"
    # A rollback that failed leaves the release as it was.
    history.append(Entry("2026-12-02T05:00:00Z", "page", "rollback", "2.0.0", None,
                         "failed", "no older release is cached", 1.0, 0))  # fmt: skip
    assert skipped_because(hub, "2.0.0") is None
    history.append(_attempt("2.0.0", "shell", "done"))
    assert skipped_because(hub, "2.0.0") is None


def test_a_release_whose_plan_was_refused_is_skipped_until_accepted_by_hand(
    hub: Settings,
) -> None:
    history = History(hub.update_history)
    refused = (
        "nothing was changed: release 2.0.0 would also install python3-yaml 6.0 (from "
        "Debian:12.15/oldstable) (read the list; to accept it, from a shell: sudo "
        "picohub-update apply 2.0.0 --accept-new-dependencies)"
    )
    history.append(Entry("2026-12-02T03:00:00Z", "timer", "update", "1.0.0", "2.0.0",
                         "failed", refused, 2.0, 10))  # fmt: skip
    reason = skipped_because(hub, "2.0.0")
    assert reason == f"its install on 2026-12-02T03:00:00Z was refused ({refused})"
    assert skipped_because(hub, "2.1.0") is None
    history.append(_attempt("2.0.0", "shell", "done"))
    assert skipped_because(hub, "2.0.0") is None


def test_a_download_that_failed_is_retried(hub: Settings) -> None:
    History(hub.update_history).append(_attempt("2.0.0", "network", "failed"))
    assert skipped_because(hub, "2.0.0") is None


def test_repeated_outcomes_fold_into_one_entry(tmp_path: Path) -> None:
    history = History(tmp_path / "history.json")
    first = Entry(
        "2026-12-01T00:10:00Z", "timer", "check", "1.0.0", None, "done", "up to date", 1.0, 0
    )
    history.append(first, fold_repeat=True)
    history.append(replace(first, at="2026-12-02T00:10:00Z"), fold_repeat=True)
    assert [e.at for e in history.read()] == ["2026-12-02T00:10:00Z"]
    # The network's run saying the same folds too.
    history.append(replace(first, origin="network", at="2026-12-02T08:00:00Z"), fold_repeat=True)
    assert [(e.origin, e.at) for e in history.read()] == [("network", "2026-12-02T08:00:00Z")]
    history.append(replace(first, message="release 2.0.0 is available"), fold_repeat=True)
    assert len(history.read()) == 2


def test_the_last_run_reads_what_it_wrote(hub: Settings) -> None:
    assert read_last_run(hub) is None
    run = AutomaticRun("2026-12-02T03:00:00Z", "network", "wait", "waits", "2.0.0")
    hub.update_automatic.parent.mkdir(parents=True)
    hub.update_automatic.write_text(json.dumps(run.to_json()))
    assert read_last_run(hub) == run


def test_a_second_automatic_run_at_once_adds_nothing(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = replace(hub, update_config=hub.update_state_dir / "absent.conf")
    monkeypatch.setattr(auto, "RUN_WAIT_S", 0.2)
    with auto._one_at_a_time(here, 0) as first:
        assert first
        # The timer and the dispatcher at once: the second neither checks nor records.
        assert auto.run_automatic(here, Origin.NETWORK) == 0
    assert read_last_run(here) is None
    assert History(here.update_history).read() == []


def test_a_bad_rule_is_recorded_and_fails_the_run(hub: Settings) -> None:
    here = replace(hub, update_config=hub.update_state_dir / "update.conf")
    here.update_state_dir.mkdir(parents=True)
    here.update_config.write_text("[update]\nautomatic = sometimes\n")
    with pytest.raises(UsageError, match="automatic must be one of"):
        auto.run_automatic(here, Origin.TIMER)
    run = read_last_run(here)
    assert run is not None and run.action == "error" and "sometimes" in run.message
    assert [e.result for e in History(here.update_history).read()] == ["failed"]


def test_off_records_that_it_is_off_once(hub: Settings) -> None:
    here = replace(hub, update_config=hub.update_state_dir / "update.conf")
    here.update_state_dir.mkdir(parents=True)
    here.update_config.write_text("[update]\nautomatic = off\n")
    for _ in range(3):
        assert auto.run_automatic(here, Origin.TIMER) == 0
    entries = History(here.update_history).read()
    assert [e.message for e in entries] == ["automatic updates are off (automatic = off)"]


def test_only_the_timer_and_the_network_start_automatic_runs(hub: Settings) -> None:
    with pytest.raises(UsageError, match="origin is one of"):
        auto.run_automatic(hub, Origin.PAGE)


def test_a_release_whose_date_is_doubted_reaches_the_decision(hub: Settings) -> None:
    doubt = "it is dated 2099-01-01 00:00 UTC, more than 365 days after the hub's time floor"
    change = Change("picohub", "0.1.0", "2.0.0")
    offered = Available("2.0.0", (change,), None, "2026-12-02T12:00:00Z", date_refusal=doubt)
    found = auto.circumstances(hub, offered, NOW)
    assert found.date_refusal == doubt
    assert decide(Policy(), found).action is Action.NOTIFY
    # Read back as the page and the next run read it.
    assert Available.from_json(offered.to_json()) == offered


def test_a_phased_release_whose_turn_has_not_come_reaches_the_decision(hub: Settings) -> None:
    change = Change("picohub", "0.1.0", "2.0.0")
    waiting = Available("2.0.0", (change,), None, "2026-12-02T12:00:00Z", phasing=Phasing(20, 57))
    found = auto.circumstances(hub, waiting, NOW)
    assert found.not_this_hubs_turn == Phasing(20, 57).why_not
    decision = decide(Policy(), found)
    assert decision.action is Action.NOTIFY  # not even downloaded
    assert "not this hub's turn yet (bucket 57, the release is at 20%)" in decision.reason
    # Its turn came: installed as any other.
    taken = replace(waiting, phasing=Phasing(20, 3))
    assert auto.circumstances(hub, taken, NOW).not_this_hubs_turn is None


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(1, timedelta(minutes=5)), (2, timedelta(minutes=10)), (4, timedelta(minutes=40)),
     (8, timedelta(hours=6)), (100, timedelta(hours=6))],
)  # fmt: skip
def test_failed_checks_back_off_doubling_up_to_six_hours(failures: int, wait: timedelta) -> None:
    assert auto.retry_after(failures, NOW) == NOW + wait


def test_a_rate_limit_waits_as_long_as_the_server_asks() -> None:
    asked = NOW + timedelta(hours=1)
    assert auto.retry_after(1, NOW, asked) == asked
    assert auto.retry_after(1, NOW, NOW - timedelta(hours=1)) == NOW + timedelta(minutes=5)


class _Busy(BaseHTTPRequestHandler):
    """GitHub having a bad day: every request a 503."""

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def busy_github() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _pointed_at(hub: Settings, url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    here = replace(hub, update_config=hub.update_state_dir / "update.conf")
    here.update_state_dir.mkdir(parents=True)
    here.update_config.write_text(f"[github]\ndownload_url = {url}\napi_url = {url}/api\n")
    monkeypatch.setattr(auto, "is_running", lambda: False)  # no update unit on this host
    return here


def test_a_run_github_turns_away_makes_the_next_runs_wait(
    hub: Settings, busy_github: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _pointed_at(hub, busy_github, monkeypatch)
    with pytest.raises(ServerError, match="answered 503"):
        auto.run_automatic(here, Origin.NETWORK)
    first = read_last_run(here)
    assert first is not None and (first.action, first.failures) == ("error", 1)
    assert first.retry_at is not None
    # The next network event, a minute later: it does not even ask.
    assert auto.run_automatic(here, Origin.NETWORK) == 0
    assert read_last_run(here) == first
    assert len(History(here.update_history).read()) == 1
    # Once the wait is over it asks, and waits twice as long after another refusal.
    past = replace(first, retry_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    here.update_automatic.write_text(json.dumps(past.to_json()))
    with pytest.raises(ServerError):
        auto.run_automatic(here, Origin.TIMER)
    second = read_last_run(here)
    assert second is not None and second.failures == 2 and second.retry_at is not None
    waited = datetime.fromisoformat(second.retry_at) - datetime.fromisoformat(second.at)
    assert timedelta(minutes=9) < waited <= timedelta(minutes=11)


def test_a_network_that_went_away_does_not_delay_the_next_online_event(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _pointed_at(hub, f"http://127.0.0.1:{closed_port()}", monkeypatch)
    for _ in range(2):  # each event tries: the network may be back
        with pytest.raises(DownloadError, match="refused the connection"):
            auto.run_automatic(here, Origin.NETWORK)
    last = read_last_run(here)
    assert last is not None and (last.failures, last.retry_at) == (0, None)
