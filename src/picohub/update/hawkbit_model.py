"""hawkBit's Direct Device Integration (DDI) API: the JSON it sends and the JSON it takes.

The shapes follow hawkBit's DDI model classes (``org.eclipse.hawkbit.ddi.json.model``):
the poll answer (``DdiControllerBase``: ``config.polling.sleep`` and ``_links``), a
deployment (``DdiDeploymentBase``: ``id`` and ``deployment{download, update,
maintenanceWindow, chunks[{part, version, name, artifacts[{filename, hashes, size,
_links}]}]}``), a cancel (``DdiCancel``: ``id`` and ``cancelAction.stopId``), and what the
device sends: config data (``DdiConfigData``: ``mode``, ``data``) and feedback
(``DdiActionFeedback``: ``status{execution, result{finished, progress{cnt, of}}, code,
details}``). Older hawkBit feedback carried ``id`` and ``time``, newer a ``timestamp``; all
three are optional to the server, which stamps the feedback itself, so none is sent: a
Pi's clock before time sync would only make them wrong.

What comes from the server is parsed strictly into frozen records: a missing field or one
of the wrong type is a :class:`HawkbitAnswerError` naming it (``deployment.chunks[0].
artifacts[1].hashes.sha256``). Fields hawkBit may add later are ignored, as hawkBit's
own classes ignore unknown properties.

An artifact's hashes need a SHA-256 or, failing that, a SHA-1: hawkBit sends md5, sha1
and sha256; goosebit, another DDI server, sends only sha1. A SHA-1 is good enough here
because these hashes only prove the transfer: what proves the release is the offline
bundle's signature, checked against the pinned release key by the bundle apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from picohub.errors import PicohubError

# hawkBit's polling time is "HH:MM:SS"; its largest configurable value is 23:59:59, but
# hours beyond that are read too (the bound is applied to the delay, not the text).
_SLEEP = re.compile(r"(\d{1,3}):([0-5]\d):([0-5]\d)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_MD5 = re.compile(r"[0-9a-f]{32}")
# Control links carry the action id as the last path segment (``.../deploymentBase/5?c=...``).
_ACTION_ID = re.compile(r"/(?:deploymentBase|cancelAction|installedBase)/([^/?#]+)(?:[?#]|$)")


_E = TypeVar("_E", bound=StrEnum)


class HawkbitAnswerError(PicohubError):
    """The hawkBit server answered something that is not what DDI describes."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(
            f"the hawkBit server's {what} is not usable: {message}",
            hint="the server is not a hawkBit DDI server, or a newer one with another API",
        )


class Handling(StrEnum):
    """How the server wants the download or the update part handled."""

    SKIP = "skip"
    ATTEMPT = "attempt"
    FORCED = "forced"


class Window(StrEnum):
    """Whether the action's maintenance window is open now (absent: no window)."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


class Execution(StrEnum):
    """``status.execution`` of feedback (hawkBit's ``DdiStatus.ExecutionStatus``)."""

    CLOSED = "closed"
    PROCEEDING = "proceeding"
    CANCELED = "canceled"
    SCHEDULED = "scheduled"
    REJECTED = "rejected"
    RESUMED = "resumed"
    DOWNLOADED = "downloaded"
    DOWNLOAD = "download"


class Finished(StrEnum):
    """``status.result.finished`` of feedback (hawkBit's ``DdiResult.FinalResult``)."""

    SUCCESS = "success"
    FAILURE = "failure"
    NONE = "none"


@dataclass(frozen=True)
class Links:
    """The control links of a poll answer; None where the server has nothing to say."""

    config_data: str | None = None
    deployment_base: str | None = None
    cancel_action: str | None = None
    installed_base: str | None = None


@dataclass(frozen=True)
class ControllerBase:
    """A poll answer: the polling time the server asks for (seconds) and its links."""

    sleep: int | None
    links: Links


@dataclass(frozen=True)
class Artifact:
    filename: str
    size: int
    sha256: str | None  # at least one of sha256 and sha1 (see the module docstring)
    sha1: str | None
    md5: str | None
    download: str | None  # the https link
    download_http: str | None  # the plain http link (hawkBit offers both)

    @property
    def digest(self) -> tuple[str, str]:
        """The hash the download is checked against: (hashlib's name, hex digest), the
        SHA-256 when given, else the SHA-1."""
        if self.sha256 is not None:
            return "sha256", self.sha256
        if self.sha1 is not None:
            return "sha1", self.sha1
        raise HawkbitAnswerError(
            "deployment", f"artifact {self.filename!r} has no SHA-256 or SHA-1"
        )

    def url(self, *, https_only: bool) -> str:
        """The link to fetch: https always when offered; plain http only when allowed."""
        for link in (self.download, None if https_only else self.download_http):
            if link is not None and (not https_only or link.lower().startswith("https://")):
                return link
        raise HawkbitAnswerError(
            "deployment", f"artifact {self.filename!r} has no https download link"
        )


@dataclass(frozen=True)
class Chunk:
    part: str
    version: str
    name: str
    artifacts: tuple[Artifact, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """A ``deploymentBase`` answer: the action to carry out."""

    action_id: str
    download: Handling
    update: Handling
    window: Window | None
    chunks: tuple[Chunk, ...]

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return tuple(artifact for chunk in self.chunks for artifact in chunk.artifacts)


@dataclass(frozen=True)
class Cancel:
    """A ``cancelAction`` answer: this cancel action's id and the action it stops."""

    action_id: str
    stop_id: str


# -- parsing -----------------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object, with the path of each field for messages."""

    def __init__(self, what: str, data: object, path: str = "") -> None:
        self.what = what
        self.path = path
        if not isinstance(data, dict):
            raise self.error(f"{path or 'the answer'} is not a JSON object")
        self.data: dict[str, Any] = data

    def error(self, message: str) -> HawkbitAnswerError:
        return HawkbitAnswerError(self.what, message)

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def obj(self, key: str) -> _Reader:
        if key not in self.data:
            raise self.error(f"{self._name(key)} is missing")
        return _Reader(self.what, self.data[key], self._name(key))

    def optional_obj(self, key: str) -> _Reader | None:
        return self.obj(key) if self.has(key) else None

    def text(self, key: str, *, pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            raise self.error(f"{self._name(key)} is missing")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # ids: hawkBit sends strings, older versions numbers
        if not isinstance(value, str):
            raise self.error(f"{self._name(key)} is not a string")
        if pattern is not None and not pattern.fullmatch(value.lower()):
            raise self.error(f"{self._name(key)} is not of the expected form: {value[:80]!r}")
        return value.lower() if pattern is not None else value

    def optional_text(self, key: str, *, pattern: re.Pattern[str] | None = None) -> str | None:
        return self.text(key, pattern=pattern) if self.has(key) else None

    def count(self, key: str) -> int:
        value = self.data.get(key)
        if value is None:
            raise self.error(f"{self._name(key)} is missing")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.error(f"{self._name(key)} is not a count of bytes: {value!r}")
        return value

    def items(self, key: str) -> list[_Reader]:
        value = self.data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"{self._name(key)} is not a list")
        return [_Reader(self.what, item, f"{self._name(key)}[{i}]") for i, item in enumerate(value)]

    def choice(self, key: str, kind: type[_E], default: _E | None = None) -> _E:
        if not self.has(key):
            if default is not None:
                return default
            raise self.error(f"{self._name(key)} is missing")
        text = self.text(key)
        try:
            return kind(text)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self.error(f"{self._name(key)} is {text!r}, not one of {allowed}") from None

    def link(self, key: str) -> str | None:
        links = self.optional_obj("_links")
        if links is None or not links.has(key):
            return None
        return links.obj(key).text("href")


def parse_sleep(text: str) -> int:
    """Seconds from hawkBit's ``HH:MM:SS`` polling time."""
    found = _SLEEP.fullmatch(text.strip())
    if found is None:
        raise HawkbitAnswerError(
            "poll answer", f"config.polling.sleep is {text[:40]!r}, not HH:MM:SS"
        )
    hours, minutes, seconds = (int(part) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_controller_base(data: object) -> ControllerBase:
    """A poll answer (``GET {tenant}/controller/v1/{controllerId}``)."""
    root = _Reader("poll answer", data)
    sleep = None
    config = root.optional_obj("config")
    polling = config.optional_obj("polling") if config is not None else None
    if polling is not None and polling.has("sleep"):
        sleep = parse_sleep(polling.text("sleep"))
    links = Links(
        config_data=root.link("configData"),
        deployment_base=root.link("deploymentBase"),
        cancel_action=root.link("cancelAction"),
        installed_base=root.link("installedBase"),
    )
    return ControllerBase(sleep, links)


def _artifact(item: _Reader) -> Artifact:
    hashes = item.obj("hashes")
    if not hashes.has("sha256") and not hashes.has("sha1"):
        raise item.error(
            f"{hashes.path}.sha256 is missing, and so is {hashes.path}.sha1: "
            "the artifact has no hash to check the download against"
        )
    return Artifact(
        filename=_plain_name(item, item.text("filename")),
        size=item.count("size"),
        sha256=hashes.optional_text("sha256", pattern=_SHA256),
        sha1=hashes.optional_text("sha1", pattern=_SHA1),
        md5=hashes.optional_text("md5", pattern=_MD5),
        download=item.link("download"),
        download_http=item.link("download-http"),
    )


def _plain_name(item: _Reader, name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise item.error(f"{item.path}.filename {name[:80]!r} is not a plain file name")
    return name


def _chunk(item: _Reader) -> Chunk:
    metadata = {meta.text("key"): meta.text("value") for meta in item.items("metadata")}
    return Chunk(
        part=item.text("part"),
        version=item.text("version"),
        name=item.text("name"),
        artifacts=tuple(_artifact(artifact) for artifact in item.items("artifacts")),
        metadata=metadata,
    )


def parse_deployment(data: object) -> Deployment:
    """A ``deploymentBase`` answer. Absent handling reads as hawkBit's default, forced."""
    root = _Reader("deployment", data)
    deployment = root.obj("deployment")
    if "chunks" not in deployment.data:
        raise root.error("deployment.chunks is missing")
    chunks = tuple(_chunk(chunk) for chunk in deployment.items("chunks"))
    names = [artifact.filename for chunk in chunks for artifact in chunk.artifacts]
    if len(set(names)) != len(names):
        raise root.error("two artifacts of the deployment have the same file name")
    window = None
    if deployment.has("maintenanceWindow"):
        window = deployment.choice("maintenanceWindow", Window)
    return Deployment(
        action_id=root.text("id"),
        download=deployment.choice("download", Handling, Handling.FORCED),
        update=deployment.choice("update", Handling, Handling.FORCED),
        window=window,
        chunks=chunks,
    )


def parse_cancel(data: object) -> Cancel:
    """A ``cancelAction`` answer."""
    root = _Reader("cancel action", data)
    return Cancel(action_id=root.text("id"), stop_id=root.obj("cancelAction").text("stopId"))


def action_id_of(link: str) -> str:
    """The action id at the end of a ``deploymentBase``/``cancelAction`` link."""
    found = _ACTION_ID.search(link)
    if found is None:
        raise HawkbitAnswerError("poll answer", f"the link {link[:120]!r} names no action")
    return found[1]


# -- what the device sends ---------------------------------------------------------------


def config_data_body(attributes: Mapping[str, str]) -> dict[str, object]:
    """``PUT configData``: the attributes, merged into what the server has."""
    return {"mode": "merge", "data": dict(attributes)}


def feedback_body(
    execution: Execution,
    finished: Finished,
    *,
    progress: tuple[int, int] | None = None,
    details: Sequence[str] = (),
    code: int | None = None,
) -> dict[str, object]:
    """The body of a ``.../feedback`` POST (``DdiActionFeedback``)."""
    result: dict[str, object] = {"finished": finished.value}
    if progress is not None:
        result["progress"] = {"cnt": progress[0], "of": progress[1]}
    status: dict[str, object] = {"execution": execution.value, "result": result}
    if code is not None:
        status["code"] = code
    status["details"] = [line[:512] for line in details]
    return {"status": status}
