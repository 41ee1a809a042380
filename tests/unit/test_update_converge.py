"""Converge's decision table: from the journal and dpkg's state alone, what brings the hub
to a healthy release, for every step a transaction records and every way it can end."""

from __future__ import annotations

import pytest

from picohub.update.converge import Cause, DpkgFacts, Plan, plan
from picohub.update.journal import CHANGING, Kind, Origin, Step, Transaction

OLD, NEW = "1.0.0", "1.1.0"
WHOLE = DpkgFacts(OLD, frozenset(), frozenset())


def _txn(kind: Kind, step: Step, start: str | None = OLD, goal: str | None = NEW) -> Transaction:
    return Transaction("t", kind, Origin.SHELL, start, goal, step)


def _half_done(version: str) -> DpkgFacts:
    return DpkgFacts(None, frozenset({"picohub"}), frozenset({version}))


BEFORE_DPKG = [s for s in Step if s not in CHANGING and s is not Step.ENDED]


@pytest.mark.parametrize("step", BEFORE_DPKG)
@pytest.mark.parametrize("cause", list(Cause))
@pytest.mark.parametrize("kind", [Kind.UPDATE, Kind.BUNDLE])
def test_nothing_installed_yet_and_dpkg_whole_changes_nothing(
    kind: Kind, cause: Cause, step: Step
) -> None:
    assert plan(_txn(kind, step), cause, WHOLE) == Plan(nothing_changed=True)


@pytest.mark.parametrize("step", BEFORE_DPKG)
def test_dpkg_left_half_done_is_repaired_whatever_the_journal_says(step: Step) -> None:
    # A manual dpkg run the power cut: the journal never saw it.
    decided = plan(_txn(Kind.UPDATE, step), Cause.POWER_CUT, _half_done(NEW))
    assert not decided.nothing_changed
    assert decided.make_whole == (NEW,)
    assert set(decided.goals) == {OLD, NEW}


@pytest.mark.parametrize("step", sorted(CHANGING))
@pytest.mark.parametrize("cause", [Cause.FAILED, Cause.CUT_OFF])
@pytest.mark.parametrize("kind", [Kind.UPDATE, Kind.BUNDLE])
def test_an_update_that_failed_or_was_cut_off_goes_back_first(
    kind: Kind, cause: Cause, step: Step
) -> None:
    assert plan(_txn(kind, step), cause, WHOLE).goals == (OLD, NEW)


@pytest.mark.parametrize("step", [Step.INSTALLING, Step.CONFIRMING])
def test_a_power_cut_during_an_update_finishes_it_first(step: Step) -> None:
    assert plan(_txn(Kind.UPDATE, step), Cause.POWER_CUT, WHOLE).goals == (NEW, OLD)


def test_a_power_cut_while_converging_goes_on_going_back() -> None:
    # Converge had decided to go back already: the boot does not undo that decision.
    assert plan(_txn(Kind.UPDATE, Step.CONVERGING), Cause.POWER_CUT, WHOLE).goals == (OLD, NEW)


@pytest.mark.parametrize("step", sorted(CHANGING))
@pytest.mark.parametrize("cause", list(Cause))
def test_a_rollback_goes_to_its_goal_first_however_it_ended(cause: Cause, step: Step) -> None:
    rollback = _txn(Kind.ROLLBACK, step, start=NEW, goal=OLD)
    assert plan(rollback, cause, WHOLE).goals == (OLD, NEW)


def test_what_dpkg_names_half_done_is_made_whole_first_from_its_own_release() -> None:
    # apt wants the archive of the version dpkg names before it installs any other.
    rollback = _txn(Kind.ROLLBACK, Step.INSTALLING, start=NEW, goal=OLD)
    decided = plan(rollback, Cause.POWER_CUT, _half_done(NEW))
    assert decided.make_whole == (NEW,)
    assert decided.goals == (OLD, NEW)


def test_a_version_dpkg_names_outside_the_transaction_is_not_installed() -> None:
    decided = plan(_txn(Kind.UPDATE, Step.INSTALLING), Cause.CUT_OFF, _half_done("0.9.0"))
    assert decided.make_whole == ()
    assert decided.goals == (OLD, NEW)


def test_a_hub_with_no_release_before_has_only_the_target() -> None:
    first = _txn(Kind.RECOVERY, Step.INSTALLING, start=None, goal=NEW)
    assert plan(first, Cause.POWER_CUT, _half_done(NEW)).goals == (NEW,)
