"""Phased releases: which hubs take a release automatically, the same ones every time."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from picohub.repository import PackageEntry
from picohub.settings import Settings
from picohub.update.available import Available
from picohub.update.check import Change
from picohub.update.phasing import LAST_BUCKET, Phasing, bucket, phasing_of, read_machine_id
from picohub.update.policy import Action, Circumstances, Mode, Policy, decide

VERSION = "2.0.0"
AT_3 = datetime(2026, 12, 2, 3, 0, tzinfo=timezone(timedelta(hours=1)))
# 100 simulated hubs: machine ids as systemd writes them (32 hex digits), fixed so that
# the test means the same on every run.
MACHINES = [uuid.UUID(int=n * 0x9E3779B97F4A7C15 + 12345).hex for n in range(100)]


def entry(package: str = "picohub", phase: int | None = None) -> PackageEntry:
    return PackageEntry(package, VERSION, f"{package}_{VERSION}_all.deb", 1, "0" * 64, phase)


def taking(percentage: int, version: str = VERSION) -> set[str]:
    return {
        machine
        for machine in MACHINES
        if Phasing(percentage, bucket("picohub", version, machine)).included
    }


def test_a_release_at_20_percent_reaches_about_a_fifth_of_100_hubs() -> None:
    assert 20 - 6 <= len(taking(20)) <= 20 + 6


def test_the_same_hubs_take_it_every_time() -> None:
    assert taking(20) == taking(20)
    # Computed afresh, not remembered: the bucket is a pure function of its seed.
    first = [bucket("picohub", VERSION, machine) for machine in MACHINES]
    assert first == [bucket("picohub", VERSION, machine) for machine in MACHINES]
    # A stable hash (SHA-256), not Python's hash(), salted per process: a known value.
    assert bucket("picohub", "1.0.0", "0" * 32) == 29


def test_raising_the_percentage_only_adds_hubs() -> None:
    assert taking(20) <= taking(50) <= taking(100)


def test_each_release_picks_its_own_hubs() -> None:
    assert taking(20, "2.0.0") != taking(20, "2.0.1")


def test_no_hub_takes_a_halted_release_and_every_hub_takes_one_at_100_percent() -> None:
    assert taking(0) == set()
    assert taking(100) == set(MACHINES)


@pytest.mark.parametrize(
    ("percentage", "place", "included"),
    [(20, 19, True), (20, 20, False), (1, 0, True), (0, 0, False), (100, 99, True)],
)
def test_a_hub_takes_the_release_when_its_bucket_is_below_the_percentage(
    percentage: int, place: int, included: bool
) -> None:
    phasing = Phasing(percentage, place)
    assert phasing.included is included
    assert phasing.turn_at == place + 1
    assert (phasing.why_not is None) is included


def test_what_a_hub_says_when_its_turn_has_not_come() -> None:
    assert Phasing(20, 57).why_not == (
        "not this hub's turn yet (bucket 57, the release is at 20%); this hub's turn comes at 58%"
    )
    assert Phasing(0, 3).why_not == (
        "the release is halted (phased at 0%); this hub's turn comes at 4%"
    )


def test_a_release_without_the_field_is_not_phased() -> None:
    assert phasing_of([entry(), entry("picohub-web")], VERSION, "a" * 32) is None


def test_the_release_is_phased_at_its_lowest_percentage() -> None:
    phasing = phasing_of([entry(phase=50), entry("picohub-web", 20)], VERSION, "a" * 32)
    assert phasing == Phasing(20, bucket("picohub", VERSION, "a" * 32))


def test_a_hub_without_a_machine_id_is_in_the_last_bucket_and_says_so(tmp_path: Path) -> None:
    assert read_machine_id(tmp_path / "missing") is None
    (tmp_path / "empty").write_text("\n")
    assert read_machine_id(tmp_path / "empty") is None
    (tmp_path / "machine-id").write_text("b" * 32 + "\n")
    assert read_machine_id(tmp_path / "machine-id") == "b" * 32
    phasing = phasing_of([entry(phase=99)], VERSION, None)
    assert phasing == Phasing(99, LAST_BUCKET, machine_id_known=False)
    assert phasing is not None and phasing.why_not is not None
    assert "no /etc/machine-id: the last bucket" in phasing.why_not
    assert phasing_of([entry(phase=100)], VERSION, None) == Phasing(100, LAST_BUCKET, False)
    assert Phasing(100, LAST_BUCKET, False).included


def test_the_machine_id_path_is_a_setting() -> None:
    assert Settings().machine_id == Path("/etc/machine-id")
    assert Settings.from_environment({"PICOHUB_MACHINE_ID": "/x/id"}).machine_id == Path("/x/id")


def available(phasing: Phasing | None) -> Available:
    changes = (Change("picohub", "1.0.0", VERSION),)
    return Available(VERSION, changes, None, "2026-12-06T08:00:00+00:00", phasing=phasing)


def test_the_check_says_when_this_hubs_turn_comes_and_is_not_offered_here() -> None:
    waiting = available(Phasing(20, 57))
    assert waiting.update_available  # a person may still install it
    assert not waiting.offered_here  # check exits 0
    assert "this hub's turn comes at 58%" in waiting.message
    assert available(Phasing(20, 3)).offered_here
    assert available(None).offered_here


def test_the_phase_survives_the_file_the_page_reads() -> None:
    for phasing in (Phasing(20, 57), Phasing(100, LAST_BUCKET, False), None):
        record = available(phasing)
        written = json.loads(json.dumps(record.to_json()))
        assert Available.from_json(written) == record
    shown = available(Phasing(20, 57)).to_json()["phase"]
    assert shown == {
        "percentage": 20,
        "bucket": 57,
        "machine_id_known": True,
        "included": False,
        "turn_at": 58,
        "message": Phasing(20, 57).why_not,
    }


def test_an_older_answer_without_a_phase_still_reads() -> None:
    written = available(None).to_json()
    del written["phase"]
    assert Available.from_json(written).phasing is None


@pytest.mark.parametrize("mode", [Mode.INSTALL, Mode.DOWNLOAD, Mode.NOTIFY])
def test_an_automatic_run_neither_downloads_nor_installs_before_this_hubs_turn(
    mode: Mode,
) -> None:
    why = Phasing(20, 57).why_not
    found = Circumstances(now=AT_3, version=VERSION, not_this_hubs_turn=why)
    decision = decide(Policy(mode), found)
    assert decision.action is Action.NOTIFY
    assert f"release {VERSION} is not installed automatically: not this hub's turn yet" in (
        decision.reason
    )
    assert "bucket 57, the release is at 20%" in decision.reason


def test_a_halted_release_is_said_to_be_halted() -> None:
    found = Circumstances(now=AT_3, version=VERSION, not_this_hubs_turn=Phasing(0, 5).why_not)
    decision = decide(Policy(), found)
    assert decision.action is Action.NOTIFY
    assert "halted" in decision.reason


def test_a_hub_whose_turn_has_come_installs() -> None:
    found = Circumstances(now=AT_3, version=VERSION, not_this_hubs_turn=None)
    assert decide(Policy(), found).action is Action.INSTALL
