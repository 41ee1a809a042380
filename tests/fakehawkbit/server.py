"""The fake hawkBit's state, its operations and its server (see the package docstring)."""

from __future__ import annotations

import hashlib
import secrets
import threading
from http.server import ThreadingHTTPServer

from tests.fakehawkbit import rollouts, search
from tests.fakehawkbit.handler import Handler
from tests.fakehawkbit.records import (
    Action,
    Condition,
    DistributionSet,
    Feedback,
    LoggedRequest,
    ModuleArtifact,
    Rollout,
    RolloutGroup,
    SoftwareModule,
    Target,
    now_ms,
)
from tests.threaded_server import ThreadedServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A fleet polls at once: the default backlog of 5 drops connections under 20 threads,
    # and make bench-fleet runs a thousand controllers.
    request_queue_size = 1024


class FakeHawkbit(ThreadedServer):
    """A hawkBit server for one tenant: DDI for devices, part of the Management API."""

    # What answers each request; a subclass may count or change the exchanges.
    handler: type[Handler] = Handler

    def __init__(
        self,
        tenant: str = "DEFAULT",
        *,
        user: str = "admin",
        password: str = "admin",
        sleep: str = "00:05:00",
        host: str = "127.0.0.1",
    ) -> None:
        self.tenant = tenant
        self.user = user
        self.password = password
        self.sleep = sleep  # config.polling.sleep of every poll answer
        self.host = host
        self.port = 0
        self.lock = threading.RLock()
        self.targets: dict[str, Target] = {}
        self.modules: dict[int, SoftwareModule] = {}
        self.sets: dict[int, DistributionSet] = {}
        self.actions: dict[int, Action] = {}
        self.rollouts: dict[int, Rollout] = {}
        self.feedback: list[Feedback] = []
        self.requests_log: list[LoggedRequest] = []
        # Who was offered (a deploymentBase link in a poll) and who fetched which action.
        self.offered: list[tuple[str, int]] = []
        self.fetched: list[tuple[str, int]] = []
        self.config_data: list[tuple[str, dict[str, object]]] = []
        # The form fields of each artifact upload (md5sum, sha1sum, sha256sum, filename).
        self.upload_fields: list[dict[str, str]] = []
        # Knobs: artifact downloads stop after this many body bytes (times left), or
        # send one byte changed.
        self.cut_after: int | None = None
        self.cuts_left = 0
        self.corrupt_downloads = False
        self._ids = iter(range(1, 10**9))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeHawkbit:
        return self.serve(_Server((self.host, self.port), self.handler), "fakehawkbit")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def controller_url(self, controller_id: str) -> str:
        return f"{self.url}/{self.tenant}/controller/v1/{controller_id}"

    def next_id(self) -> int:
        return next(self._ids)

    # -- operations (the Management API's, callable directly from tests) -------------------

    def add_target(self, controller_id: str, token: str | None = None, name: str = "") -> Target:
        with self.lock:
            target = Target(
                controller_id, name or controller_id, token or secrets.token_hex(16), now_ms()
            )
            self.targets[controller_id] = target
            return target

    def add_module(
        self, name: str, version: str, type_: str = "os", vendor: str = ""
    ) -> SoftwareModule:
        with self.lock:
            module = SoftwareModule(self.next_id(), name, version, type_, vendor)
            self.modules[module.id] = module
            return module

    def find_modules(self, query: str | None) -> list[SoftwareModule]:
        """The modules a Management API search ``q`` finds (:mod:`tests.fakehawkbit.search`)."""
        with self.lock:
            return search.search(list(self.modules.values()), query, search.field)

    def find_sets(self, query: str | None) -> list[DistributionSet]:
        with self.lock:
            return search.search(list(self.sets.values()), query, search.field)

    def assign_modules(self, ds_id: int, module_ids: list[int]) -> None:
        with self.lock:
            ds = self.sets[ds_id]
            ds.modules.extend(m for m in module_ids if m not in ds.modules)

    def add_artifact(self, module_id: int, filename: str, data: bytes) -> ModuleArtifact:
        with self.lock:
            artifact = ModuleArtifact(self.next_id(), filename, data)
            self.modules[module_id].artifacts.append(artifact)
            return artifact

    def add_set(
        self, name: str, version: str, modules: list[int], type_: str = "os"
    ) -> DistributionSet:
        with self.lock:
            ds = DistributionSet(self.next_id(), name, version, type_, modules)
            self.sets[ds.id] = ds
            return ds

    def assign(
        self,
        controller_id: str,
        ds_id: int,
        type_: str = "forced",
        *,
        window_open: bool | None = None,
        rollout: tuple[int, int] | None = None,
    ) -> Action:
        """A new action; the target's open ones are canceled, as hawkBit does."""
        with self.lock:
            for action in self.actions.values():
                if action.controller_id == controller_id and action.status == "running":
                    action.status = "canceling"
            action = Action(self.next_id(), controller_id, ds_id, type_, window_open=window_open)
            if rollout is not None:
                action.rollout_id, action.group_id = rollout
            self.actions[action.id] = action
            return action

    def cancel(self, action_id: int) -> None:
        with self.lock:
            action = self.actions[action_id]
            if action.is_open:
                action.status = "canceling"

    def open_window(self, action_id: int) -> None:
        with self.lock:
            self.actions[action_id].window_open = True

    def create_rollout(
        self,
        name: str,
        ds_id: int,
        target_filter: str,
        *,
        action_type: str = "forced",
        amount: int = 1,
        groups: list[tuple[str, str | None, float, Condition | None, Condition | None]]
        | None = None,
        success: Condition | None = None,
        error: Condition | None = None,
        error_action: str | None = None,
    ) -> Rollout:
        """``groups``: (name, filter, percentage, success, error) each."""
        with self.lock:
            chosen = rollouts.matching(list(self.targets.values()), target_filter)
            shapes = [(query, pct) for _n, query, pct, _s, _e in groups] if groups else None
            members = rollouts.split(chosen, shapes, amount)
            made = []
            for index, ids in enumerate(members):
                given = groups[index] if groups else None
                made.append(
                    RolloutGroup(
                        id=self.next_id(),
                        name=given[0] if given else f"group-{index + 1}",
                        targets=ids,
                        success=(given[3] if given else None) or success or Condition(),
                        error=(given[4] if given else None) or error,
                        percentage=given[2] if given else 100.0 / max(amount, 1),
                    )
                )
            rollout = Rollout(
                self.next_id(),
                name,
                ds_id,
                target_filter,
                action_type,
                made,
                error_action=error_action,
                created_at=now_ms(),
            )
            self.rollouts[rollout.id] = rollout
            return rollout

    def start_rollout(self, rollout_id: int) -> None:
        with self.lock:
            rollout = self.rollouts[rollout_id]
            rollout.status = "running"
            for group in rollout.groups:
                group.status = "scheduled"
            self._start_group(rollout, rollout.groups[0])
            self._evaluate()

    def pause_rollout(self, rollout_id: int) -> None:
        with self.lock:
            self.rollouts[rollout_id].status = "paused"

    def resume_rollout(self, rollout_id: int) -> None:
        with self.lock:
            rollouts.resume(self.rollouts[rollout_id], self._group_actions, self._start_group)

    def _start_group(self, rollout: Rollout, group: RolloutGroup) -> None:
        group.status = "running"
        for controller_id in group.targets:
            self.assign(
                controller_id,
                rollout.ds_id,
                rollout.action_type,
                rollout=(
                    rollout.id,
                    group.id,
                ),
            )

    def _group_actions(self, group: RolloutGroup) -> list[Action]:
        return [action for action in self.actions.values() if action.group_id == group.id]

    def _evaluate(self) -> None:
        for rollout in list(self.rollouts.values()):
            rollouts.evaluate(rollout, self._group_actions, self._start_group)

    # -- what devices do (called by the handler under the lock) ----------------------------

    def open_action(self, controller_id: str) -> Action | None:
        """The action a poll offers: a cancel first, else the oldest running one."""
        mine = [a for a in self.actions.values() if a.controller_id == controller_id]
        canceling = [a for a in mine if a.status == "canceling"]
        running = [a for a in mine if a.status == "running"]
        chosen = canceling or running
        return chosen[0] if chosen else None

    def last_finished(self, controller_id: str) -> Action | None:
        done = [
            a
            for a in self.actions.values()
            if a.controller_id == controller_id and a.status == "finished"
        ]
        return done[-1] if done else None

    def artifact_hash(self, action: Action) -> str:
        return hashlib.sha256(f"{action.id}:{action.ds_id}".encode()).hexdigest()[:8]

    def apply_feedback(self, feedback: Feedback) -> None:
        action = self.actions[feedback.action_id]
        self.feedback.append(feedback)
        execution, finished = feedback.execution, feedback.finished
        if feedback.kind == "cancel":
            if execution == "canceled" or (execution == "closed" and finished != "failure"):
                action.status = "canceled"
            elif execution == "closed":
                action.status = "error"
        elif execution == "closed":
            action.status = "finished" if finished == "success" else "error"
            if finished == "success":
                target = self.targets[action.controller_id]
                target.installed_ds = action.ds_id
                target.installed_at = now_ms()
                target.request_attributes = True
        elif execution == "downloaded" and action.type == "downloadonly":
            action.status = "finished"
        self._evaluate()

    # -- reading for tests ---------------------------------------------------------------

    def feedback_of(self, controller_id: str) -> list[Feedback]:
        with self.lock:
            return [f for f in self.feedback if f.controller_id == controller_id]

    def fetched_by(self, controller_ids: list[str]) -> list[tuple[str, int]]:
        with self.lock:
            wanted = set(controller_ids)
            return [(c, a) for c, a in self.fetched + self.offered if c in wanted]

    def group_counts(self, rollout_id: int) -> list[dict[str, int]]:
        """Per group: its targets' actions by status, and how many were offered one."""
        with self.lock:
            result = []
            for group in self.rollouts[rollout_id].groups:
                counts: dict[str, int] = {"total": len(group.targets)}
                for action in self._group_actions(group):
                    counts[action.status] = counts.get(action.status, 0) + 1
                counts["offered"] = len({c for c, _a in self.fetched_by(group.targets)})
                result.append(counts)
            return result
