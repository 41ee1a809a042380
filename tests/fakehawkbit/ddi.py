"""The fake's Direct Device Integration API: what a device polls, fetches and posts."""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

from tests.fakehawkbit.base import HandlerBase
from tests.fakehawkbit.records import Action, Feedback, Target, now_ms

EXECUTIONS = {
    "closed",
    "proceeding",
    "canceled",
    "scheduled",
    "rejected",
    "resumed",
    "downloaded",
    "download",
}
FINISHED = {"success", "failure", "none"}
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _handling(action: Action) -> tuple[str, str]:
    """(download, update) as hawkBit derives them from the action type."""
    if action.type == "downloadonly":
        return "forced", "skip"
    if action.type == "soft":
        return "attempt", "attempt"
    return "forced", "forced"


class DdiRoutes(HandlerBase):
    def _ddi(self, method: str, controller_id: str, rest: list[str]) -> None:
        self._controller = controller_id
        with self.fake.lock:
            target = self.fake.targets.get(controller_id)
            authorised = target is not None and self.target_token() == target.token
        if method in ("PUT", "POST"):
            payload = self.json_body()
        if not authorised or target is None:
            self.send_error_json(401, "hawkbit.server.error.unauthorized", "Unauthorized")
            return
        route = (method, *rest[:1])
        if route == ("GET",) and not rest:
            self._poll(target)
        elif route == ("PUT", "configData") and len(rest) == 1:
            self._config_data(target, payload)
        elif route == ("GET", "deploymentBase") and len(rest) == 2:
            self._deployment(target, rest[1])
        elif route == ("POST", "deploymentBase") and rest[2:] == ["feedback"]:
            self._feedback(target, rest[1], payload, "deployment")
        elif route == ("GET", "cancelAction") and len(rest) == 2:
            self._cancel(target, rest[1])
        elif route == ("POST", "cancelAction") and rest[2:] == ["feedback"]:
            self._feedback(target, rest[1], payload, "cancel")
        elif route == ("GET", "softwaremodules") and len(rest) == 4 and rest[2] == "artifacts":
            self._artifact(target, rest[1], rest[3])
        else:
            self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "Not Found")

    def _poll(self, target: Target) -> None:
        fake = self.fake
        base = fake.controller_url(target.controller_id)
        with fake.lock:
            target.polls += 1
            target.last_poll = now_ms()
            links: dict[str, Any] = {}
            action = fake.open_action(target.controller_id)
            if action is not None and action.status == "canceling":
                links["cancelAction"] = {"href": f"{base}/cancelAction/{action.id}"}
            elif action is not None:
                links["deploymentBase"] = {
                    "href": f"{base}/deploymentBase/{action.id}?c={fake.artifact_hash(action)}"
                }
                fake.offered.append((target.controller_id, action.id))
            installed = fake.last_finished(target.controller_id)
            if installed is not None:
                links["installedBase"] = {"href": f"{base}/installedBase/{installed.id}"}
            if target.request_attributes:
                links["configData"] = {"href": f"{base}/configData"}
            answer = {"config": {"polling": {"sleep": fake.sleep}}, "_links": links}
        self.send_json(200, answer)

    def _config_data(self, target: Target, payload: Any) -> None:
        data = payload.get("data") if isinstance(payload, dict) else None
        mode = payload.get("mode", "merge") if isinstance(payload, dict) else None
        if (
            not isinstance(data, dict)
            or not data
            or mode not in ("merge", "replace", "remove")
            or not all(isinstance(v, str) and len(v) <= 128 for v in data.values())
        ):
            self.send_error_json(400, "hawkbit.server.error.rest.body.notReadable", "bad body")
            return
        with self.fake.lock:
            self.fake.config_data.append((target.controller_id, payload))
            if mode == "replace":
                target.attributes = dict(data)
            elif mode == "remove":
                for key in data:
                    target.attributes.pop(key, None)
            else:
                target.attributes.update(data)
            target.request_attributes = False
        self.send_json(200)

    def _action(self, target: Target, action_id: str) -> Action | None:
        with contextlib.suppress(ValueError):
            action = self.fake.actions.get(int(action_id))
            if action is not None and action.controller_id == target.controller_id:
                return action
        return None

    def _deployment(self, target: Target, action_id: str) -> None:
        fake = self.fake
        with fake.lock:
            action = self._action(target, action_id)
            if action is None or action.status != "running":
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "no action")
                return
            fake.fetched.append((target.controller_id, action.id))
            answer = self._deployment_json(target, action)
        self.send_json(200, answer)

    def _deployment_json(self, target: Target, action: Action) -> dict[str, Any]:
        fake = self.fake
        base = fake.controller_url(target.controller_id)
        chunks = []
        for module_id in fake.sets[action.ds_id].modules:
            module = fake.modules[module_id]
            artifacts = []
            for artifact in module.artifacts:
                href = f"{base}/softwaremodules/{module.id}/artifacts/{quote(artifact.filename)}"
                artifacts.append(
                    {
                        "filename": artifact.filename,
                        "hashes": artifact.hashes(),
                        "size": artifact.size,
                        "_links": {
                            "download": {"href": href},
                            "download-http": {"href": href},
                            "md5sum": {"href": f"{href}.MD5SUM"},
                            "md5sum-http": {"href": f"{href}.MD5SUM"},
                        },
                    }
                )
            chunks.append(
                {
                    "part": module.type,
                    "version": module.version,
                    "name": module.name,
                    "artifacts": artifacts,
                }
            )
        download, update = _handling(action)
        deployment: dict[str, Any] = {"download": download, "update": update, "chunks": chunks}
        if action.window_open is not None:
            deployment["maintenanceWindow"] = "available" if action.window_open else "unavailable"
        return {
            "id": str(action.id),
            "deployment": deployment,
            "actionHistory": {"status": action.status.upper(), "messages": []},
        }

    def _feedback(self, target: Target, action_id: str, payload: Any, kind: str) -> None:
        problem = _feedback_problem(payload)
        if problem is not None:
            self.send_error_json(400, "hawkbit.server.error.rest.body.notReadable", problem)
            return
        status = payload["status"]
        with self.fake.lock:
            action = self._action(target, action_id)
            if action is None:
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "no action")
                return
            if not action.is_open:
                self.send_error_json(410, "hawkbit.server.error.action.closed", "action closed")
                return
            if kind == "cancel" and action.status != "canceling":
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "no cancel")
                return
            self.fake.apply_feedback(
                Feedback(
                    target.controller_id,
                    action.id,
                    kind,
                    status["execution"],
                    status["result"]["finished"],
                    list(status.get("details") or []),
                    payload,
                )
            )
        self.send_json(200)

    def _cancel(self, target: Target, action_id: str) -> None:
        with self.fake.lock:
            action = self._action(target, action_id)
            if action is None or action.status != "canceling":
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "no cancel")
                return
        self.send_json(200, {"id": str(action.id), "cancelAction": {"stopId": str(action.id)}})

    def _artifact(self, target: Target, module_id: str, filename: str) -> None:
        fake = self.fake
        with fake.lock:
            assigned = {
                fake_module
                for action in fake.actions.values()
                if action.controller_id == target.controller_id and action.is_open
                for fake_module in fake.sets[action.ds_id].modules
            }
            module = fake.modules.get(int(module_id)) if module_id.isdigit() else None
            artifact = module.artifact(filename) if module is not None else None
            if module is None or module.id not in assigned or artifact is None:
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "Not Found")
                return
            data = artifact.data
            if fake.corrupt_downloads and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            cut = None
            if fake.cut_after is not None and fake.cuts_left > 0:
                fake.cuts_left -= 1
                cut = fake.cut_after
        self._send_bytes(data, cut)

    def _send_bytes(self, data: bytes, cut: int | None) -> None:
        start, end, status = 0, len(data), 200
        found = _RANGE.fullmatch((self.headers.get("Range") or "").strip())
        if found is not None:
            start = int(found[1])
            end = int(found[2]) + 1 if found[2] else len(data)
            if start >= len(data):
                self.log_request_done(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end, status = min(end, len(data)), 206
        self.log_request_done(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        body = data[start:end]
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def _feedback_problem(payload: Any) -> str | None:
    """What hawkBit's validation refuses in a feedback body, or None."""
    status = payload.get("status") if isinstance(payload, dict) else None
    if not isinstance(status, dict):
        return "status is required"
    if status.get("execution") not in EXECUTIONS:
        return f"status.execution {status.get('execution')!r} is not valid"
    result = status.get("result")
    if not isinstance(result, dict) or result.get("finished") not in FINISHED:
        return "status.result.finished is required"
    progress = result.get("progress")
    if progress is not None and not (isinstance(progress, dict) and "cnt" in progress):
        return "status.result.progress.cnt is required"
    details = status.get("details")
    if details is not None and not (
        isinstance(details, list) and all(isinstance(d, str) for d in details)
    ):
        return "status.details is a list of strings"
    return None
