"""hawkBit's DDI JSON read strictly: the examples of hawkBit's own API documentation, and
answers that are wrong in one field each."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from picohub.update.hawkbit_model import (
    Execution,
    Finished,
    Handling,
    HawkbitAnswerError,
    Window,
    action_id_of,
    config_data_body,
    feedback_body,
    parse_cancel,
    parse_controller_base,
    parse_deployment,
    parse_sleep,
)

CDN = "https://link-to-cdn.com/api/v1/TENANT_ID/download/controller/CONTROLLER_ID"
HOST = "https://management-api.host.com/TENANT_ID/controller/v1/CONTROLLER_ID"

# The poll answer of hawkBit's DDI documentation (DdiControllerBase).
CONTROLLER_BASE = {
    "config": {"polling": {"sleep": "12:00:00"}},
    "_links": {
        "deploymentBase": {"href": f"{HOST}/deploymentBase/5?c=-2127183556"},
        "installedBase": {"href": f"{HOST}/installedBase/4"},
        "configData": {"href": f"{HOST}/configData"},
    },
}


def _artifact(filename: str, module: int, sha1: str, md5: str, sha256: str, size: int) -> Any:
    href = f"{CDN}/softwaremodules/{module}/filename/{filename}"
    return {
        "filename": filename,
        "hashes": {"sha1": sha1, "md5": md5, "sha256": sha256},
        "size": size,
        "_links": {
            "download": {"href": href},
            "download-http": {"href": href.replace("https:", "http:")},
            "md5sum-http": {"href": f"{href}.MD5SUM".replace("https:", "http:")},
            "md5sum": {"href": f"{href}.MD5SUM"},
        },
    }


# The deployment of hawkBit's DDI documentation (DdiDeploymentBase), two of its chunks.
DEPLOYMENT_BASE = {
    "id": "8",
    "deployment": {
        "download": "forced",
        "update": "forced",
        "maintenanceWindow": "available",
        "chunks": [
            {
                "part": "jvm",
                "version": "1.0.75",
                "name": "oneapp runtime",
                "artifacts": [
                    _artifact(
                        "binary.tgz",
                        23,
                        "986a1ade8b8a2f758ce951340cc5e21335cc2a00",
                        "d04440e6533863247655ac5fd4345bcc",
                        "b3a04740a19e36057ccf258701922f3cd2f1a880536be53a3ca8d50f6b615975",
                        13,
                    ),
                    _artifact(
                        "file.signature",
                        23,
                        "986a1ade8b8a2f758ce951340cc5e21335cc2a00",
                        "d04440e6533863247655ac5fd4345bcc",
                        "b3a04740a19e36057ccf258701922f3cd2f1a880536be53a3ca8d50f6b615975",
                        13,
                    ),
                ],
            },
            {
                "part": "bApp",
                "version": "1.0.91",
                "name": "oneapplication",
                "artifacts": [
                    _artifact(
                        "app.tgz",
                        22,
                        "e3ba7ff5839c210c98e254dde655147ffc49f5c9",
                        "020017c498e6b0b8f76168fd55fa6fd1",
                        "80406288820379a82bbcbfbf7e8690146e46256f505de1c6d430c0168a74f6dd",
                        11,
                    )
                ],
                "metadata": [
                    {"key": "aMetadataKey", "value": "Metadata value as defined in software module"}
                ],
            },
        ],
    },
    "actionHistory": {"status": "RUNNING", "messages": ["Started download"]},
}

# The cancel of hawkBit's DDI documentation (DdiCancel).
CANCEL = {"id": "11", "cancelAction": {"stopId": "11"}}


def test_the_documented_poll_answer() -> None:
    base = parse_controller_base(json.loads(json.dumps(CONTROLLER_BASE)))
    assert base.sleep == 12 * 3600
    assert base.links.deployment_base == f"{HOST}/deploymentBase/5?c=-2127183556"
    assert base.links.config_data == f"{HOST}/configData"
    assert base.links.installed_base == f"{HOST}/installedBase/4"
    assert base.links.cancel_action is None
    assert action_id_of(base.links.deployment_base) == "5"


def test_a_poll_answer_with_nothing() -> None:
    base = parse_controller_base({"config": {"polling": {"sleep": "00:05:00"}}, "_links": {}})
    assert base.sleep == 300
    assert base.links.deployment_base is None
    assert parse_controller_base({}).sleep is None


def test_the_documented_deployment() -> None:
    deployment = parse_deployment(copy.deepcopy(DEPLOYMENT_BASE))
    assert deployment.action_id == "8"
    assert (deployment.download, deployment.update) == (Handling.FORCED, Handling.FORCED)
    assert deployment.window is Window.AVAILABLE
    assert [chunk.part for chunk in deployment.chunks] == ["jvm", "bApp"]
    first = deployment.artifacts[0]
    assert first.filename == "binary.tgz"
    assert first.size == 13
    assert first.sha256 is not None and first.sha256.startswith("b3a04740")
    assert first.digest == ("sha256", first.sha256)  # the SHA-256 when there is one
    assert first.md5 == "d04440e6533863247655ac5fd4345bcc"
    assert first.url(https_only=True).startswith("https://link-to-cdn.com/")
    assert deployment.chunks[1].metadata == {
        "aMetadataKey": "Metadata value as defined in software module"
    }


def test_an_artifact_with_only_a_sha1_as_goosebit_sends_it() -> None:
    data: Any = copy.deepcopy(DEPLOYMENT_BASE)
    sha1 = "6e15a475" + "0" * 32
    data["deployment"]["chunks"][0]["artifacts"][0]["hashes"] = {"sha1": sha1.upper()}
    first = parse_deployment(data).artifacts[0]
    assert (first.sha256, first.sha1, first.md5) == (None, sha1, None)
    assert first.digest == ("sha1", sha1)


def test_absent_handling_and_window_read_as_forced_and_none() -> None:
    data = copy.deepcopy(DEPLOYMENT_BASE)
    for key in ("download", "update", "maintenanceWindow"):
        del data["deployment"][key]
    deployment = parse_deployment(data)
    assert (deployment.download, deployment.update, deployment.window) == (
        Handling.FORCED,
        Handling.FORCED,
        None,
    )


def test_numeric_ids_of_older_servers_are_read_as_text() -> None:
    data = copy.deepcopy(DEPLOYMENT_BASE)
    data["id"] = 8
    assert parse_deployment(data).action_id == "8"
    assert parse_cancel({"id": 11, "cancelAction": {"stopId": 11}}).stop_id == "11"


def test_the_documented_cancel() -> None:
    cancel = parse_cancel(CANCEL)
    assert (cancel.action_id, cancel.stop_id) == ("11", "11")


def _broken(path: list[str | int], value: Any) -> dict[str, Any]:
    data: Any = copy.deepcopy(DEPLOYMENT_BASE)
    holder = data
    for key in path[:-1]:
        holder = holder[key]
    if value is KeyError:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    result: dict[str, Any] = data
    return result


ARTIFACT = ["deployment", "chunks", 0, "artifacts", 1]


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (["deployment"], KeyError, "deployment is missing"),
        (["deployment", "chunks"], KeyError, "deployment.chunks is missing"),
        (["deployment", "chunks"], {"a": 1}, "deployment.chunks is not a list"),
        (["deployment", "update"], "now", "deployment.update is 'now', not one of skip"),
        (["deployment", "maintenanceWindow"], "soon", "deployment.maintenanceWindow"),
        ([*ARTIFACT, "hashes", "sha256"], KeyError, None),  # its SHA-1 is checked
        ([*ARTIFACT, "hashes"], {"md5": "0" * 32}, "artifacts[1].hashes.sha256 is missing, and"),
        ([*ARTIFACT, "hashes"], {}, "hashes.sha1: the artifact has no hash to check"),
        ([*ARTIFACT, "hashes", "sha1"], "abc", "artifacts[1].hashes.sha1 is not of the"),
        ([*ARTIFACT, "hashes", "sha256"], "abc", "artifacts[1].hashes.sha256 is not of the"),
        ([*ARTIFACT, "size"], -1, "chunks[0].artifacts[1].size is not a count"),
        ([*ARTIFACT, "size"], "13", "chunks[0].artifacts[1].size is not a count"),
        ([*ARTIFACT, "filename"], "../../etc/passwd", "is not a plain file name"),
        ([*ARTIFACT, "filename"], "binary.tgz", "two artifacts of the deployment"),
        (["id"], KeyError, "id is missing"),
        (["deployment", "chunks", 1, "name"], 5, None),  # a number reads as text: fine
    ],
)
def test_a_wrong_field_is_named(path: list[str | int], value: Any, named: str | None) -> None:
    data = _broken(path, value)
    if named is None:
        parse_deployment(data)
        return
    with pytest.raises(HawkbitAnswerError) as caught:
        parse_deployment(data)
    assert named in caught.value.message
    assert "deployment" in caught.value.message


def test_not_an_object() -> None:
    with pytest.raises(HawkbitAnswerError, match="not a JSON object"):
        parse_controller_base(["config"])
    with pytest.raises(HawkbitAnswerError, match=r"cancelAction\.stopId is missing"):
        parse_cancel({"id": "1", "cancelAction": {}})
    with pytest.raises(HawkbitAnswerError, match=r"_links\.deploymentBase\.href is missing"):
        parse_controller_base({"_links": {"deploymentBase": {}}})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:30", 30), ("12:00:00", 43200), ("23:59:59", 86399), ("100:00:00", 360000)],
)
def test_sleep(text: str, seconds: int) -> None:
    assert parse_sleep(text) == seconds


@pytest.mark.parametrize("text", ["5", "00:60:00", "00:00:60", "1:2:3", "-01:00:00", ""])
def test_a_sleep_that_is_not_hh_mm_ss(text: str) -> None:
    with pytest.raises(HawkbitAnswerError, match="not HH:MM:SS"):
        parse_sleep(text)


def test_an_https_only_client_refuses_a_plain_http_artifact_link() -> None:
    data = copy.deepcopy(DEPLOYMENT_BASE)
    del data["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]
    artifact = parse_deployment(data).artifacts[0]
    assert artifact.url(https_only=False).startswith("http://")
    with pytest.raises(HawkbitAnswerError, match="no https download link"):
        artifact.url(https_only=True)
    links = data["deployment"]["chunks"][0]["artifacts"][0]["_links"]
    links["download"] = {"href": "http://link-to-cdn.com/binary.tgz"}  # mislabelled
    with pytest.raises(HawkbitAnswerError, match="no https download link"):
        parse_deployment(data).artifacts[0].url(https_only=True)


def test_feedback_has_the_shape_of_ddi_action_feedback() -> None:
    body = feedback_body(
        Execution.PROCEEDING, Finished.NONE, progress=(1, 3), details=["downloading"]
    )
    assert body == {
        "status": {
            "execution": "proceeding",
            "result": {"finished": "none", "progress": {"cnt": 1, "of": 3}},
            "details": ["downloading"],
        }
    }
    closed = feedback_body(Execution.CLOSED, Finished.FAILURE, details=["x" * 2000], code=7)
    status: Any = closed["status"]
    assert status["result"] == {"finished": "failure"}
    assert status["code"] == 7
    assert len(status["details"][0]) == 512
    assert "time" not in closed and "id" not in closed  # the server stamps it


def test_config_data_merges() -> None:
    assert config_data_body({"picohub": "1.4.2"}) == {
        "mode": "merge",
        "data": {"picohub": "1.4.2"},
    }


def test_a_link_without_an_action() -> None:
    with pytest.raises(HawkbitAnswerError, match="names no action"):
        action_id_of(f"{HOST}/configData")
    assert action_id_of(f"{HOST}/cancelAction/11") == "11"
