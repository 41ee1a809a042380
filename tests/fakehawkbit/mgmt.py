"""The fake's Management API (``/rest/v1``): software, targets, assignments, rollouts.

Shapes after hawkBit's ``MgmtSoftwareModule``, ``MgmtArtifact``, ``MgmtDistributionSet``,
``MgmtTarget``, ``MgmtRolloutRestRequestBodyPost`` / ``MgmtRolloutResponseBody`` and
``MgmtRolloutGroupResponseBody``; creation takes a JSON list and answers 201 with a list.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakehawkbit.base import HandlerBase
from tests.fakehawkbit.records import Condition, ModuleArtifact, Rollout, RolloutGroup, Target
from tests.fakehawkbit.rollouts import FilterError
from tests.fakehawkbit.search import paged

REST = "/rest/v1"
NOT_FOUND = "hawkbit.server.error.repo.entitiyNotFound"
EXISTS = "hawkbit.server.error.repo.entitiyAlreadyExists"


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

    def _route(self, method: str, parts: list[str], raw: bytes) -> None:
        fake = self.fake
        self._raw = raw
        self._params = parse_qs(urlsplit(self.path).query)
        if parts[:1] in (["softwaremodules"], ["distributionsets"]):
            self._software(method, parts)
            return
        match (method, parts):
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
                self.send_error_json(404, NOT_FOUND, "Not Found")

    def _software(self, method: str, parts: list[str]) -> None:
        """Software modules, their artifacts and distribution sets."""
        fake = self.fake
        match (method, parts):
            case ("POST", ["softwaremodules"]):
                self._create_modules(self._list())
            case ("GET", ["softwaremodules"]):
                found = fake.find_modules(self._query("q"))
                self.send_json(200, paged([self._module_json(m.id) for m in found], self._params))
            case ("GET", ["softwaremodules", module_id]):
                self.send_json(200, self._module_json(int(module_id)))
            case ("GET", ["softwaremodules", module_id, "artifacts"]):
                module = fake.modules[int(module_id)]
                self.send_json(200, [self._artifact_json(module.id, a) for a in module.artifacts])
            case ("POST", ["softwaremodules", module_id, "artifacts"]):
                self._upload(int(module_id))
            case ("POST", ["distributionsets"]):
                self._create_sets(self._list())
            case ("GET", ["distributionsets"]):
                found_sets = fake.find_sets(self._query("q"))
                content = [self._set_json(ds.id) for ds in found_sets]
                self.send_json(200, paged(content, self._params))
            case ("GET", ["distributionsets", ds_id]):
                self.send_json(200, self._set_json(int(ds_id)))
            case ("GET", ["distributionsets", ds_id, "assignedSM"]):
                ds = fake.sets[int(ds_id)]
                modules = [self._module_json(m) for m in ds.modules]
                self.send_json(200, paged(modules, self._params))
            case ("POST", ["distributionsets", ds_id, "assignedSM"]):
                ids = [int(m["id"]) for m in self._list()]
                if any(m not in fake.modules for m in ids):
                    self.send_error_json(404, NOT_FOUND, "SoftwareModule not found")
                    return
                fake.assign_modules(int(ds_id), ids)
                self.send_json(200)
            case _:
                self.send_error_json(404, NOT_FOUND, "Not Found")

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

    def _query(self, name: str) -> str | None:
        values = self._params.get(name)
        return values[0] if values else None

    def _multipart(self) -> tuple[str, bytes, dict[str, str]]:
        """The part ``file`` (its name and bytes) and the other form fields."""
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self._raw)
        found: tuple[str, bytes] | None = None
        fields: dict[str, str] = {}
        for part in message.walk():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            if name == "file":
                found = part.get_filename() or "file", data
            elif isinstance(name, str):
                fields[name] = data.decode()
        if found is None:
            raise ValueError("no form part 'file'")
        return found[0], found[1], fields

    # -- software ------------------------------------------------------------------------

    def _create_modules(self, bodies: list[dict[str, Any]]) -> None:
        """As hawkBit: name, version and type are unique together (409 else)."""
        for body in bodies:
            query = f'name=="{body["name"]}";version=="{body["version"]}"'
            if any(m.type == body.get("type", "os") for m in self.fake.find_modules(query)):
                self.send_error_json(409, EXISTS, "SoftwareModule already exists")
                return
        made = [
            self.fake.add_module(m["name"], m["version"], m.get("type", "os"), m.get("vendor", ""))
            for m in bodies
        ]
        self.send_json(201, [self._module_json(m.id) for m in made])

    def _create_sets(self, bodies: list[dict[str, Any]]) -> None:
        """As hawkBit: name and version are unique together (409 else)."""
        for body in bodies:
            if self.fake.find_sets(f'name=="{body["name"]}";version=="{body["version"]}"'):
                self.send_error_json(409, EXISTS, "DistributionSet already exists")
                return
            if any(int(m["id"]) not in self.fake.modules for m in body.get("modules", [])):
                self.send_error_json(404, NOT_FOUND, "SoftwareModule not found")
                return
        sets = [
            self.fake.add_set(
                d["name"],
                d["version"],
                [int(m["id"]) for m in d.get("modules", [])],
                d.get("type", "os"),
            )
            for d in bodies
        ]
        self.send_json(201, [self._set_json(ds.id) for ds in sets])

    def _upload(self, module_id: int) -> None:
        """An artifact upload: its name unique in the module (409), the hashes given
        (``md5sum``, ``sha1sum``, ``sha256sum``) checked (400), as hawkBit does."""
        module = self.fake.modules[module_id]
        filename, data, fields = self._multipart()
        filename = fields.get("filename") or filename
        with self.fake.lock:
            self.fake.upload_fields.append(fields)
        hashes = ModuleArtifact(0, filename, data).hashes()
        for kind in ("md5", "sha1", "sha256"):
            given = fields.get(f"{kind}sum")
            if given is not None and given.lower() != hashes[kind]:
                self.send_error_json(
                    400,
                    f"hawkbit.server.error.artifact.uploadFailed.checksum.{kind}.match",
                    f"Upload failed due to {kind.upper()} checksum mismatch",
                )
                return
        if module.artifact(filename) is not None:
            self.send_error_json(409, EXISTS, f"Artifact {filename} already exists")
            return
        artifact = self.fake.add_artifact(module_id, filename, data)
        self.send_json(201, self._artifact_json(module_id, artifact))

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

    def _artifact_json(self, module_id: int, artifact: ModuleArtifact) -> dict[str, Any]:
        return {
            "id": artifact.id,
            "providedFilename": artifact.filename,
            "size": artifact.size,
            "hashes": artifact.hashes(),
            "_links": {
                "self": {
                    "href": f"{self.fake.url}{REST}/softwaremodules/{module_id}"
                    f"/artifacts/{artifact.id}"
                }
            },
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
