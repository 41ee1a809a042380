"""The fake hawkBit's records: targets, software, actions, rollouts and what devices sent."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

JSONType = dict[str, Any]

# Action states as hawkBit's Management API names them (lower case).
OPEN = frozenset({"running", "canceling"})
CLOSED = frozenset({"finished", "error", "canceled"})


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    range: str | None
    controller_id: str | None


@dataclass
class Target:
    controller_id: str
    name: str
    token: str
    created_at: int
    attributes: dict[str, str] = field(default_factory=dict)
    request_attributes: bool = True  # hawkBit asks a new target for its attributes
    installed_ds: int | None = None
    installed_at: int | None = None
    last_poll: int | None = None
    polls: int = 0


@dataclass
class ModuleArtifact:
    id: int
    filename: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def hashes(self) -> dict[str, str]:
        return {
            "sha1": hashlib.sha1(self.data).hexdigest(),  # noqa: S324 (hawkBit's field)
            "md5": hashlib.md5(self.data).hexdigest(),  # noqa: S324 (hawkBit's field)
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


@dataclass
class SoftwareModule:
    id: int
    name: str
    version: str
    type: str
    vendor: str = ""
    description: str = ""
    artifacts: list[ModuleArtifact] = field(default_factory=list)

    def artifact(self, filename: str) -> ModuleArtifact | None:
        return next((a for a in self.artifacts if a.filename == filename), None)


@dataclass
class DistributionSet:
    id: int
    name: str
    version: str
    type: str
    modules: list[int]


@dataclass
class Action:
    id: int
    controller_id: str
    ds_id: int
    type: str  # forced, soft, downloadonly, timeforced
    status: str = "running"
    # None: no maintenance window; else whether it is open now (a test moves it).
    window_open: bool | None = None
    rollout_id: int | None = None
    group_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass
class Feedback:
    """One feedback a device posted: on a deployment or on a cancel."""

    controller_id: str
    action_id: int
    kind: str  # "deployment" or "cancel"
    execution: str
    finished: str
    details: list[str]
    body: JSONType


@dataclass
class Condition:
    condition: str = "THRESHOLD"
    expression: str = "100"

    def threshold(self) -> int:
        return int(self.expression)


@dataclass
class RolloutGroup:
    id: int
    name: str
    targets: list[str]
    success: Condition
    error: Condition | None
    percentage: float
    status: str = "ready"  # ready, scheduled, running, finished, error


@dataclass
class Rollout:
    id: int
    name: str
    ds_id: int
    target_filter: str
    action_type: str
    groups: list[RolloutGroup]
    success_action: str = "NEXTGROUP"
    error_action: str | None = None  # PAUSE or None
    status: str = "ready"  # ready, running, paused, finished
    created_at: int = 0
