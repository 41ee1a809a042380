"""Telling a retired release key from a new one: the hub remembers the keys it accepted."""

from __future__ import annotations

from pathlib import Path

from picohub.repository import UnknownSignerError
from picohub.settings import Settings
from picohub.update import signers

OLD, NEW = "A" * 40, "B" * 40


def _unknown(*fingerprints: str) -> UnknownSignerError:
    return UnknownSignerError(
        "not signed by a key in K", hint="install N first", fingerprints=fingerprints
    )


def _hub(tmp_path: Path) -> Settings:
    return Settings(update_state_dir=tmp_path / "update")


def test_a_key_never_accepted_keeps_the_advice_to_install_the_changeover_first(
    tmp_path: Path,
) -> None:
    hub = _hub(tmp_path)
    signers.remember(hub, OLD)
    error = _unknown(NEW)
    assert signers.explain(error, hub) is error


def test_a_key_accepted_before_and_now_unknown_is_called_retired(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    signers.remember(hub, OLD)
    signers.remember(hub, NEW)
    explained = signers.explain(_unknown(OLD), hub)
    assert OLD in explained.message and "retired" in explained.message
    assert "install" not in str(explained)  # no advice that would not help


def test_the_memory_survives_a_damaged_file_and_stays_bounded(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    hub.update_state_dir.mkdir()
    hub.update_signers_seen.write_text("{not json")
    assert signers.seen(hub) == []
    for number in range(signers.KEPT + 5):
        signers.remember(hub, f"{number:040X}")
    signers.remember(hub, f"{signers.KEPT + 4:040X}")  # seen already: not added twice
    kept = signers.seen(hub)
    assert len(kept) == signers.KEPT and kept[-1] == f"{signers.KEPT + 4:040X}"
