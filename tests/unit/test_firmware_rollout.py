"""The rollout's decisions (picohub.firmware.rollout), without Flask or a database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from picohub.firmware.rollout import (
    BoardOta,
    BoardReport,
    BoardState,
    Hold,
    Offer,
    OtaReport,
    OtaResult,
    Rollout,
    RolloutConfig,
    RolloutConfigError,
    RolloutState,
    after_board_change,
    after_heartbeat,
    decide_offer,
    listed_state,
    offered_version,
    parse_config,
    promoted,
    read_config,
    reverted_elsewhere,
    start,
    with_configured_canaries,
)
from picohub.web.heartbeat import DEVICE_ID

NEW = "a" * 64
OLD = "b" * 64
CANARY = Rollout(NEW, "2.0.0", RolloutState.CANARY, ("pico-1",))
ROLLING = replace(CANARY, state=RolloutState.ROLLING)
HALTED = replace(CANARY, state=RolloutState.HALTED, halted_by="pico-1", halted_reason="hung")


# -- firmware.conf -----------------------------------------------------------------------


def test_no_file_and_an_empty_file_are_the_defaults(tmp_path: Path) -> None:
    assert read_config(tmp_path / "missing.conf") == RolloutConfig((), 3)
    assert parse_config("") == parse_config("[rollout]\n") == RolloutConfig((), 3)


def test_canaries_and_heartbeats_are_read() -> None:
    text = "# ours\n[rollout]\ncanaries = pico-lab  pico_2\n\tpico-lab\nhealthy_heartbeats = 10\n"
    assert parse_config(text) == RolloutConfig(("pico-lab", "pico_2"), 10)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[rollout]\nhealthy_heartbeats = 0", "healthy_heartbeats = '0' is not allowed"),
        ("[rollout]\nhealthy_heartbeats = 101", "a whole number from 1 to 100 (default 3)"),
        ("[rollout]\nhealthy_heartbeats = three", "healthy_heartbeats = 'three'"),
        ("[rollout]\nhealthy_heartbeats = 2.5", "healthy_heartbeats = '2.5'"),
        ("[rollout]\nhealthy_heartbeats = \uff13", "healthy_heartbeats = '\uff13'"),
        ("[rollout]\ncanaries = pico-1, pico-2", "'pico-1,' is not a board id"),
        ("[rollout]\ncanaries = -pico", "canaries = '-pico': '-pico' is not a board id"),
        ("[rollout]\ncanary = pico-1", "unknown key(s) canary in [rollout]; allowed: canaries"),
        ("[roll-out]\ncanaries = pico-1", "unknown section(s) roll-out; allowed: [rollout]"),
        ("canaries = pico-1", "is not an INI file"),
        ("[rollout]\ncanaries = a\ncanaries = b", "is not an INI file"),
    ],
)
def test_a_bad_config_names_key_value_and_rule(text: str, complaint: str) -> None:
    with pytest.raises(RolloutConfigError) as caught:
        parse_config(text, "/etc/picohub/firmware.conf")
    assert complaint in str(caught.value)
    assert "/etc/picohub/firmware.conf" in str(caught.value)


def test_an_unreadable_config_says_so(tmp_path: Path) -> None:
    (tmp_path / "firmware.conf").write_bytes(b"[rollout]\ncanaries = \xff\n")
    with pytest.raises(RolloutConfigError, match="cannot read"):
        read_config(tmp_path / "firmware.conf")


def test_canaries_follow_the_heartbeats_rule_for_board_ids() -> None:
    from picohub.firmware.rollout import BOARD_ID  # noqa: PLC0415

    assert DEVICE_ID is BOARD_ID


# -- starting, canaries ------------------------------------------------------------------


def test_a_rollout_starts_with_the_configured_canaries_or_none() -> None:
    configured = start(NEW, "2.0.0", RolloutConfig(("x", "y")))
    assert configured == Rollout(NEW, "2.0.0", RolloutState.CANARY, ("x", "y"))
    assert start(NEW, "2.0.0", None).canaries == ()


def test_configured_canaries_apply_while_canaries_are_tried() -> None:
    config = RolloutConfig(("pico-9",))
    assert with_configured_canaries(CANARY, config).canaries == ("pico-9",)
    assert with_configured_canaries(CANARY, RolloutConfig()) == CANARY  # keeps the picked one
    assert with_configured_canaries(CANARY, None) == CANARY  # a broken config
    assert with_configured_canaries(ROLLING, config) == ROLLING  # history by then


# -- offering ----------------------------------------------------------------------------


def test_the_first_board_asking_becomes_the_canary() -> None:
    nobody = replace(CANARY, canaries=())
    assert decide_offer(nobody, "pico-2", "1.0.0", None) == Offer(
        offered=True, becomes_canary=True, record_pending=True
    )


def test_others_wait_for_the_canaries() -> None:
    assert decide_offer(CANARY, "pico-2", "1.0.0", None) == Offer(False, Hold.WAITING)
    assert decide_offer(CANARY, "pico-1", "1.0.0", None) == Offer(True, record_pending=True)
    pending = BoardOta(BoardState.PENDING)
    assert decide_offer(CANARY, "pico-1", "1.0.0", pending) == Offer(True)


def test_rolling_offers_everyone() -> None:
    assert decide_offer(ROLLING, "pico-7", "1.0.0", None) == Offer(True, record_pending=True)


def test_halted_offers_no_one_and_a_reverted_board_never() -> None:
    assert decide_offer(HALTED, "pico-7", "1.0.0", None) == Offer(False, Hold.HALTED)
    assert decide_offer(HALTED, "pico-1", "1.0.0", None) == Offer(False, Hold.HALTED)
    reverted = BoardOta(BoardState.REVERTED, reason="hung")
    for rollout in (CANARY, ROLLING, HALTED, replace(CANARY, canaries=())):
        assert decide_offer(rollout, "pico-1", "1.0.0", reverted) == Offer(False, Hold.REVERTED)


def test_a_board_running_the_image_is_always_offered_it_and_nothing_recorded() -> None:
    for rollout in (CANARY, ROLLING, HALTED):
        assert decide_offer(rollout, "pico-5", "2.0.0", None) == Offer(True)


def test_a_board_that_never_reported_waits_for_its_first_heartbeat() -> None:
    assert decide_offer(ROLLING, "pico-5", None, None) == Offer(False, Hold.WAITING)
    assert decide_offer(replace(CANARY, canaries=()), "p", None, None) == Offer(False, Hold.WAITING)


# -- heartbeats --------------------------------------------------------------------------


def _beat(version: str, bought: bool | None = None, ota: OtaReport | None = None) -> BoardReport:
    return BoardReport(version, bought, ota)


def test_bought_heartbeats_on_the_image_count_in_a_row() -> None:
    first = after_heartbeat(BoardOta(BoardState.PENDING), _beat("2.0.0", True), CANARY)
    assert first == BoardOta(BoardState.BOUGHT, 1)
    second = after_heartbeat(first, _beat("2.0.0", True), CANARY)
    assert second == BoardOta(BoardState.BOUGHT, 2)
    on_trial = after_heartbeat(second, _beat("2.0.0", False), CANARY)
    assert on_trial == BoardOta(BoardState.TRYING, 0)
    # A board that does not say (no A/B partitions, older firmware) has nothing on trial.
    unsaid = after_heartbeat(first, _beat("2.0.0"), CANARY)
    assert unsaid == BoardOta(BoardState.BOUGHT, 2)


def test_a_board_running_the_image_unoffered_is_recorded() -> None:
    assert after_heartbeat(None, _beat("2.0.0", True), CANARY) == BoardOta(BoardState.BOUGHT, 1)


def test_ota_reports_about_the_image_set_the_state() -> None:
    pending = BoardOta(BoardState.PENDING)
    downloading = after_heartbeat(
        pending, _beat("1.0.0", True, OtaReport(NEW, OtaResult.DOWNLOADING)), CANARY
    )
    assert downloading == BoardOta(BoardState.DOWNLOADING)
    failed = OtaReport(NEW, OtaResult.FAILED, "hash mismatch")
    assert after_heartbeat(downloading, _beat("1.0.0", True, failed), CANARY) == BoardOta(
        BoardState.FAILED, 0, "hash mismatch"
    )
    bought = after_heartbeat(
        pending, _beat("2.0.0", False, OtaReport(NEW, OtaResult.BOUGHT)), CANARY
    )
    assert bought == BoardOta(BoardState.BOUGHT, 0)  # said bought, not yet healthy


def test_reports_about_other_images_change_nothing() -> None:
    pending = BoardOta(BoardState.PENDING, 0, "before")
    other = OtaReport(OLD, OtaResult.FAILED, "old news")
    assert after_heartbeat(pending, _beat("1.0.0", True, other), CANARY) == pending
    assert after_heartbeat(None, _beat("1.0.0", True, other), CANARY) is None
    assert after_heartbeat(None, _beat("1.0.0"), CANARY) is None


def test_reverted_is_for_good() -> None:
    reverted = after_heartbeat(
        BoardOta(BoardState.TRYING),
        _beat("1.0.0", True, OtaReport(NEW, OtaResult.REVERTED, "x")),
        CANARY,
    )
    assert reverted == BoardOta(BoardState.REVERTED, 0, "x")
    assert after_heartbeat(reverted, _beat("2.0.0", True), CANARY) == reverted


def test_a_revert_from_another_known_image_is_noticed() -> None:
    report = _beat("1.0.0", True, OtaReport(OLD, OtaResult.REVERTED))
    assert reverted_elsewhere(report, CANARY) == OLD
    assert (
        reverted_elsewhere(_beat("1.0.0", True, OtaReport(NEW, OtaResult.REVERTED)), CANARY) is None
    )
    assert (
        reverted_elsewhere(_beat("1.0.0", True, OtaReport(OLD, OtaResult.FAILED)), CANARY) is None
    )


# -- halting and promotion ---------------------------------------------------------------


def test_the_first_board_to_revert_halts_the_rollout() -> None:
    reverted = BoardOta(BoardState.REVERTED, 0, "watchdog")
    halted = after_board_change(ROLLING, "pico-3", BoardOta(BoardState.TRYING), reverted)
    assert halted == replace(
        ROLLING, state=RolloutState.HALTED, halted_by="pico-3", halted_reason="watchdog"
    )
    assert after_board_change(halted, "pico-4", None, reverted) == halted  # the first named
    failed = BoardOta(BoardState.FAILED, 0, "hash")
    assert after_board_change(ROLLING, "pico-3", None, failed) == ROLLING
    assert after_board_change(ROLLING, "pico-3", None, None) == ROLLING


def test_a_board_still_saying_it_reverted_does_not_halt_a_new_rollout() -> None:
    reverted = BoardOta(BoardState.REVERTED, 0, "watchdog")
    assert after_board_change(CANARY, "pico-3", reverted, reverted) == CANARY


def test_every_canary_healthy_long_enough_promotes() -> None:
    two = replace(CANARY, canaries=("pico-1", "pico-2"))
    assert promoted(two, {"pico-1": 3, "pico-2": 2}, 3) == two
    assert promoted(two, {"pico-1": 3}, 3) == two
    assert promoted(two, {"pico-1": 3, "pico-2": 4}, 3).state is RolloutState.ROLLING
    assert promoted(replace(CANARY, canaries=()), {}, 1).state is RolloutState.CANARY
    assert promoted(HALTED, {"pico-1": 9}, 1) == HALTED


# -- the listing -------------------------------------------------------------------------


def test_listed_states() -> None:
    assert listed_state(CANARY, "2.0.0", True, BoardOta(BoardState.BOUGHT, 1)) == "current"
    assert listed_state(CANARY, "2.0.0", False, BoardOta(BoardState.TRYING)) == "trying"
    assert listed_state(CANARY, "1.0.0", True, None) == "waiting"
    assert listed_state(CANARY, "1.0.0", True, BoardOta(BoardState.FAILED)) == "failed"


def test_offered_versions() -> None:
    assert offered_version(CANARY, "pico-1", "1.0.0", None) == "2.0.0"
    assert offered_version(CANARY, "pico-2", "1.0.0", None) is None
    assert offered_version(replace(CANARY, canaries=()), "pico-2", "1.0.0", None) is None
    assert offered_version(ROLLING, "pico-2", "1.0.0", None) == "2.0.0"
    assert offered_version(HALTED, "pico-2", "2.0.0", None) == "2.0.0"
    assert offered_version(HALTED, "pico-2", "1.0.0", None) is None
