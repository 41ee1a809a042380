"""Holding a run at a journal step, for the fault campaign (``make faults``) only.

With ``PICOHUB_FAULT_HOLD=DIR`` in the environment of ``picohub-update`` (root's alone;
the transient unit inherits it), a run that records step S while ``DIR/step-S`` exists
makes ``DIR/step-S.reached`` and waits until ``DIR/step-S`` is gone: the campaign cuts the
power there. Without the variable (a hub in the field) nothing is looked at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

VARIABLE = "PICOHUB_FAULT_HOLD"


def fault_point(step: str) -> None:
    folder = os.environ.get(VARIABLE)
    if not folder:
        return
    marker = Path(folder) / f"step-{step}"
    if not marker.exists():
        return
    (Path(folder) / f"step-{step}.reached").touch()
    while marker.exists():
        time.sleep(0.1)  # polled: the campaign removes the marker or cuts the power
