"""The fake's Management API (``/rest/v1``): software, targets, assignments, rollouts.

Shapes after hawkBit's ``MgmtSoftwareModule``, ``MgmtArtifact``, ``MgmtDistributionSet``,
``MgmtTarget``, ``MgmtRolloutRestRequestBodyPost`` / ``MgmtRolloutResponseBody`` and
``MgmtRolloutGroupResponseBody``; creation takes a JSON list and answers 201 with a list.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any

from tests.fakehawkbit.base import HandlerBase
from tests.fakehawkbit.records import Condition, Rollout, RolloutGroup, Target
from tests.fakehawkbit.rollouts import FilterError

REST = "/rest/v1"


def _condition(data: Any) -> Condition | None:
    if not isinstance(data, dict):
        return None
    return Condition(str(data.get("condition", "THRESHOLD")), str(data.get("expression", "100")))


class MgmtRoutes(HandlerBase):
    def _mgmt(self, method: str, parts: list[str]) -> None:
        raw = self.body() if method in ("POST", "PUT") else b""
        if not self.management_authorised():
            self.send_error_json(401, "hawkbit.server.error.unauthorized", "Unauthorized")
            return
        try:
            self._route(method, parts, raw)
        except (KeyError, ValueError, TypeError, FilterError) as exc:
            self.send_error_json(400, "hawkbit.server.error.rest.param.invalid", repr(exc))

    def _route(self, method: str, parts: list[str], raw: bytes) -> None:  # noqa: PLR0912
        fake = self.fake
        self._raw = raw
        match (method, parts):
            case ("POST", ["softwaremodules"]):
                made = [
                    fake.add_module(m["name"], m["version"], m.get("type", "os"))
                    for m in self._list()
                ]
                self.send_json(201, [self._module_json(m.id) for m in made])
            case ("GET", ["softwaremodules", module_id]):
                self.send_json(200, self._module_json(int(module_id)))
            case ("POST", ["softwaremodules", module_id, "artifacts"]):
                filename, data = self._multipart_file()
                artifact = fake.add_artifact(int(module_id), filename, data)
                self.send_json(
                    201,
                    {
                        "id": artifact.id,
                        "providedFilename": filename,
                        "size": artifact.size,
                        "hashes": artifact.hashes(),
                        "_links": {
                            "self": {
                                "href": f"{fake.url}{REST}/softwaremodules/{module_id}"
                                f"/artifacts/{artifact.id}"
                            }
                        },
                    },
                )
            case ("POST", ["distributionsets"]):
                sets = [
                    fake.add_set(
                        d["name"],
                        d["version"],
                        [int(m["id"]) for m in d.get("modules", [])],
                        d.get("type", "os"),
                    )
                    for d in self._list()
                ]
                self.send_json(201, [self._set_json(ds.id) for ds in sets])
            case ("POST", ["targets"]):
                targets = [
                    fake.add_target(t["controllerId"], t.get("securityToken"), t.get("name", ""))
                    for t in self._list()
                ]
                self.send_json(201, [self._target_json(t) for t in targets])
            case ("GET", ["targets", controller_id]):
                self.send_json(200, self._target_json(fake.targets[controller_id]))
            case ("GET", ["targets", controller_id, "attributes"]):
                self.send_json(200, dict(fake.targets[controller_id].attributes))
            case ("POST", ["targets", controller_id, "assignedDS"]):
                self._assign(controller_id)
            case ("DELETE", ["targets", _controller_id, "actions", action_id]):
                fake.cancel(int(action_id))
                self.send_json(204)
            case ("POST", ["rollouts"]):
                rollout = self._create_rollout(self._object())
                self.send_json(201, self._rollout_json(rollout))
            case ("GET", ["rollouts", rollout_id]):
                self.send_json(200, self._rollout_json(fake.rollouts[int(rollout_id)]))
            case ("POST", ["rollouts", rollout_id, ("start" | "pause" | "resume") as verb]):
                {"start": fake.start_rollout, "pause": fake.pause_rollout}.get(
                    verb, fake.resume_rollout
                )(int(rollout_id))
                self.send_json(200)
            case ("GET", ["rollouts", rollout_id, "deploygroups"]):
                rollout = fake.rollouts[int(rollout_id)]
                content = [self._group_json(rollout, group) for group in rollout.groups]
                self.send_json(
                    200, {"content": content, "total": len(content), "size": len(content)}
                )
            case _:
                self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "Not Found")

    # -- bodies --------------------------------------------------------------------------

    def _json(self) -> Any:
        import json  # noqa: PLC0415 (only here)

        return json.loads(self._raw) if self._raw else None

    def _list(self) -> list[dict[str, Any]]:
        data = self._json()
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ValueError("a JSON list of objects is expected")
        return data

    def _object(self) -> dict[str, Any]:
        data = self._json()
        if not isinstance(data, dict):
            raise ValueError("a JSON object is expected")
        return data

    def _multipart_file(self) -> tuple[str, bytes]:
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self._raw)
        for part in message.walk():
            if part.get_param("name", header="content-disposition") == "file":
                data = part.get_payload(decode=True)
                return part.get_filename() or "file", data if isinstance(data, bytes) else b""
        raise ValueError("no form part 'file'")

    # -- actions -------------------------------------------------------------------------

    def _assign(self, controller_id: str) -> None:
        body = self._object()
        window = body.get("maintenanceWindow")
        action = self.fake.assign(
            controller_id,
            int(body["id"]),
            str(body.get("type", "forced")),
            window_open=False if window else None,  # a test opens it (open_window)
        )
        self.send_json(
            200,
            {
                "assigned": 1,
                "alreadyAssigned": 0,
                "total": 1,
                "assignedActions": [{"id": action.id}],
            },
        )

    def _create_rollout(self, body: dict[str, Any]) -> Rollout:
        groups = None
        if body.get("groups"):
            groups = [
                (
                    str(group.get("name", f"group-{index + 1}")),
                    group.get("targetFilterQuery"),
                    float(group.get("targetPercentage", 100.0)),
                    _condition(group.get("successCondition")),
                    _condition(group.get("errorCondition")),
                )
                for index, group in enumerate(body["groups"])
            ]
        error_action = body.get("errorAction") or {}
        return self.fake.create_rollout(
            str(body["name"]),
            int(body["distributionSetId"]),
            str(body["targetFilterQuery"]),
            action_type=str(body.get("type", "forced")),
            amount=int(body.get("amountGroups") or 1),
            groups=groups,
            success=_condition(body.get("successCondition")),
            error=_condition(body.get("errorCondition")),
            error_action=error_action.get("action"),
        )

    # -- JSON of records -----------------------------------------------------------------

    def _module_json(self, module_id: int) -> dict[str, Any]:
        module = self.fake.modules[module_id]
        return {
            "id": module.id,
            "name": module.name,
            "version": module.version,
            "type": module.type,
            "vendor": module.vendor,
            "description": module.description,
            "deleted": False,
            "_links": {"self": {"href": f"{self.fake.url}{REST}/softwaremodules/{module.id}"}},
        }

    def _set_json(self, ds_id: int) -> dict[str, Any]:
        ds = self.fake.sets[ds_id]
        return {
            "id": ds.id,
            "name": ds.name,
            "version": ds.version,
            "type": ds.type,
            "modules": [self._module_json(m) for m in ds.modules],
            "complete": True,
            "deleted": False,
            "_links": {"self": {"href": f"{self.fake.url}{REST}/distributionsets/{ds.id}"}},
        }

    def _target_json(self, target: Target) -> dict[str, Any]:
        fake = self.fake
        mine = [a for a in fake.actions.values() if a.controller_id == target.controller_id]
        if any(a.is_open for a in mine):
            update_status = "pending"
        elif mine and mine[-1].status == "error":
            update_status = "error"
        elif target.installed_ds is not None:
            update_status = "in_sync"
        else:
            update_status = "registered" if target.polls else "unknown"
        answer: dict[str, Any] = {
            "controllerId": target.controller_id,
            "name": target.name,
            "description": "",
            "createdAt": target.created_at,
            "updateStatus": update_status,
            "securityToken": target.token,
            "requestAttributes": target.request_attributes,
            "_links": {"self": {"href": f"{fake.url}{REST}/targets/{target.controller_id}"}},
        }
        if target.last_poll is not None:
            answer["lastControllerRequestAt"] = target.last_poll
        if target.installed_at is not None:
            answer["installedAt"] = target.installed_at
        return answer

    def _group_json(self, rollout: Rollout, group: RolloutGroup) -> dict[str, Any]:
        per_status: dict[str, int] = {}
        for action in self.fake.actions.values():
            if action.group_id == group.id:
                per_status[action.status] = per_status.get(action.status, 0) + 1
        answer: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "status": group.status,
            "totalTargets": len(group.targets),
            "totalTargetsPerStatus": per_status,
            "targetPercentage": group.percentage,
            "successCondition": {
                "condition": group.success.condition,
                "expression": group.success.expression,
            },
        }
        if group.error is not None:
            answer["errorCondition"] = {
                "condition": group.error.condition,
                "expression": group.error.expression,
            }
        answer["_links"] = {
            "self": {"href": f"{self.fake.url}{REST}/rollouts/{rollout.id}/deploygroups/{group.id}"}
        }
        return answer

    def _rollout_json(self, rollout: Rollout) -> dict[str, Any]:
        return {
            "id": rollout.id,
            "name": rollout.name,
            "status": rollout.status,
            "distributionSetId": rollout.ds_id,
            "targetFilterQuery": rollout.target_filter,
            "type": rollout.action_type,
            "totalTargets": sum(len(group.targets) for group in rollout.groups),
            "totalGroups": len(rollout.groups),
            "createdAt": rollout.created_at,
            "_links": {"self": {"href": f"{self.fake.url}{REST}/rollouts/{rollout.id}"}},
        }
