"""Rollouts as hawkBit runs them: targets split into groups, one group after another.

- Targets match a FIQL filter of one clause (``controllerId==hub-*``, ``id==``, ``name==``;
  ``*`` is a wildcard), in controller id order.
- With ``groups``, each takes ``targetPercentage`` % of the targets left that match its own
  filter (hawkBit: "percentage of remaining and matching targets"); without, the targets are
  split into ``amountGroups`` groups of (nearly) equal size.
- On start, the first group runs: each of its targets gets an action. A running group is
  checked after every feedback, the error condition first, as hawkBit's rollout executor
  does: errors * 100 // total > threshold pauses the rollout (``errorAction PAUSE``) and
  marks the group ``error``; then finished * 100 // total >= the success threshold starts
  the next group (``successAction NEXTGROUP``). A group whose actions are all closed is
  ``finished``. A paused rollout starts no group; resuming it goes on with the next one.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Sequence

from tests.fakehawkbit.records import Action, Rollout, RolloutGroup, Target

_CLAUSE = re.compile(r"(controllerId|id|name)==(.+)")


class FilterError(ValueError):
    """A target filter the fake does not understand."""


def matching(targets: Sequence[Target], query: str) -> list[Target]:
    found = _CLAUSE.fullmatch(query.strip())
    if found is None:
        raise FilterError(f"unsupported target filter query: {query!r}")
    key, pattern = found.groups()
    chosen = [
        target
        for target in targets
        if fnmatch.fnmatchcase(target.name if key == "name" else target.controller_id, pattern)
    ]
    return sorted(chosen, key=lambda target: target.controller_id)


def split(
    targets: Sequence[Target],
    groups: Sequence[tuple[str | None, float]] | None,
    amount: int,
) -> list[list[str]]:
    """The controller ids of each group (see the module docstring)."""
    left = [target for target in targets]
    result: list[list[str]] = []
    if groups:
        for query, percentage in groups:
            candidates = matching(left, query) if query else list(left)
            count = math.ceil(len(candidates) * percentage / 100)
            taken = candidates[:count]
            result.append([target.controller_id for target in taken])
            left = [target for target in left if target not in taken]
        return result
    size = math.ceil(len(left) / max(amount, 1)) if left else 0
    for index in range(max(amount, 1)):
        result.append([t.controller_id for t in left[index * size : (index + 1) * size]])
    return result


def evaluate(
    rollout: Rollout,
    actions_of: Callable[[RolloutGroup], list[Action]],
    start_group: Callable[[Rollout, RolloutGroup], None],
) -> None:
    """Check the running groups of ``rollout`` after a change (under the fake's lock)."""
    if rollout.status != "running":
        return
    for index, group in enumerate(rollout.groups):
        if group.status != "running":
            continue
        actions = actions_of(group)
        total = len(group.targets)
        errors = sum(action.status == "error" for action in actions)
        finished = sum(action.status == "finished" for action in actions)
        if group.error is not None and total and errors * 100 // total > group.error.threshold():
            group.status = "error"
            if rollout.error_action == "PAUSE":
                rollout.status = "paused"
                return
        elif total == 0 or finished * 100 // total >= group.success.threshold():
            _start_next(rollout, index, start_group)
        if group.status == "running" and actions and all(not a.is_open for a in actions):
            group.status = "finished"
    if all(group.status in ("finished", "error") for group in rollout.groups):
        rollout.status = "finished"


def _start_next(
    rollout: Rollout, index: int, start_group: Callable[[Rollout, RolloutGroup], None]
) -> None:
    if index + 1 < len(rollout.groups):
        following = rollout.groups[index + 1]
        if following.status == "scheduled":
            start_group(rollout, following)


def resume(
    rollout: Rollout,
    actions_of: Callable[[RolloutGroup], list[Action]],
    start_group: Callable[[Rollout, RolloutGroup], None],
) -> None:
    """Go on after a pause: the group after the failed one starts."""
    rollout.status = "running"
    for index, group in enumerate(rollout.groups):
        if group.status == "error":
            _start_next(rollout, index, start_group)
    evaluate(rollout, actions_of, start_group)
