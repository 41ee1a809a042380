"""``hawkbit-upload``: a release's offline bundle into hawkBit, as what hubs install.

Through the Management API (:mod:`picohub_release.hawkbit_api`): the software module
``picohub`` VERSION (type ``os`` by default) with the bundle as its one artifact (uploaded
with its MD5, SHA-1 and SHA-256, which hawkBit checks), and the distribution set ``picohub``
VERSION (type ``os`` by default) holding that module. A hub takes a deployment's one
artifact as the bundle to apply (:mod:`picohub.update.hawkbit_install`).

Idempotent: what exists is found and checked, not made again. The same version with the
same bundle changes nothing; with another bundle it is refused (an artifact a hub may have
installed must not change under the same version), naming what to do.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Release

from picohub.errors import UsageError
from picohub.repository import INRELEASE
from picohub_release.hawkbit_api import HawkbitError, ManagementClient, fiql_value, quoted
from picohub_release.repository import bundle_name

log = logging.getLogger(__name__)

NAME = "picohub"
MODULE_TYPE = "os"
SET_TYPE = "os"
VENDOR = "picohub"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class BundleFile:
    path: Path
    version: str
    size: int
    sha256: str
    sha1: str
    md5: str

    @property
    def hashes(self) -> dict[str, str]:
        return {"sha256": self.sha256, "sha1": self.sha1, "md5": self.md5}


@dataclass(frozen=True)
class Uploaded:
    module_id: int
    artifact_id: int
    set_id: int
    set_url: str
    made: tuple[str, ...]  # what this run created or assigned; empty when nothing changed


def read_bundle(path: Path, version: str) -> BundleFile:
    """The bundle's hashes, once its index says it is release ``version``.

    Only a sanity check against uploading the wrong file: the hub verifies the bundle's
    signature, this does not.
    """
    if not path.is_file():
        raise UsageError(f"the bundle {path} is not a file")
    expected = bundle_name(version)
    if path.name != expected:
        raise UsageError(
            f"the bundle {path.name} is not named as release {version}'s ({expected})",
            hint="upload the bundle that `release` wrote into dist/repo for this version",
        )
    try:
        with tarfile.open(path, mode="r:") as archive:
            member = archive.extractfile(INRELEASE)
            text = member.read(1 << 20).decode("utf-8") if member is not None else ""
    except (tarfile.TarError, KeyError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path} is not a picohub release bundle (an uncompressed tar with {INRELEASE})"
        ) from exc
    found = Release(text).get("Version", "")
    if found != version:
        raise UsageError(f"the bundle {path.name} holds release {found or '?'}, not {version}")
    digests = [hashlib.sha256(), hashlib.sha1(), hashlib.md5()]  # noqa: S324 (hawkBit's)
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            size += len(chunk)
            for digest in digests:
                digest.update(chunk)
    sha256, sha1, md5 = (digest.hexdigest() for digest in digests)
    return BundleFile(path, version, size, sha256, sha1, md5)


def _exact(items: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The entities named picohub at ``version`` (hawkBit's search is not case-exact)."""
    return [
        item
        for item in items
        if item.get("name") == NAME
        and item.get("version") == version
        and not item.get("deleted", False)
    ]


def _query(version: str) -> str:
    return f"name=={fiql_value(NAME)};version=={fiql_value(version)}"


def _id(item: Any, what: str) -> int:
    value = item.get("id") if isinstance(item, dict) else None
    if not isinstance(value, int):
        raise HawkbitError(f"hawkBit's answer for the {what} has no id")
    return value


def _created(answer: Any, what: str) -> int:
    if not isinstance(answer, list) or len(answer) != 1:
        raise HawkbitError(f"hawkBit's answer creating the {what} is not a list of one")
    return _id(answer[0], what)


def _module(client: ManagementClient, bundle: BundleFile, module_type: str) -> tuple[int, bool]:
    found = _exact(client.search("softwaremodules", _query(bundle.version)), bundle.version)
    if len(found) > 1:
        raise HawkbitError(f"hawkBit holds {len(found)} software modules {NAME} {bundle.version}")
    if found:
        if found[0].get("type") != module_type:
            raise HawkbitError(
                f"hawkBit's software module {NAME} {bundle.version} (id {_id(found[0], 'module')}) "
                f"is of type {found[0].get('type')!r}, not {module_type!r}",
                hint="give --module-type as it is, or delete that module in hawkBit",
            )
        return _id(found[0], "software module"), False
    body = [
        {
            "name": NAME,
            "version": bundle.version,
            "type": module_type,
            "vendor": VENDOR,
            "description": f"picohub {bundle.version}: the release's offline bundle",
        }
    ]
    answer = client.request("POST", "softwaremodules", expect=(201,), json_body=body)
    return _created(answer, "software module"), True


def _artifact(client: ManagementClient, module_id: int, bundle: BundleFile) -> tuple[int, bool]:
    artifacts = client.request("GET", f"softwaremodules/{quoted(module_id)}/artifacts")
    if isinstance(artifacts, dict):  # a paged answer, as some hawkBit versions give
        artifacts = artifacts.get("content")
    if not isinstance(artifacts, list):
        raise HawkbitError(f"hawkBit's artifacts of software module {module_id} are not a list")
    for artifact in artifacts:
        hashes = artifact.get("hashes") if isinstance(artifact, dict) else None
        name = artifact.get("providedFilename") if isinstance(artifact, dict) else None
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        if name == bundle.path.name and sha256 == bundle.sha256 and len(artifacts) == 1:
            return _id(artifact, "artifact"), False
    if artifacts:
        held = ", ".join(
            f"{a.get('providedFilename')} (sha256 {(a.get('hashes') or {}).get('sha256')})"
            for a in artifacts
            if isinstance(a, dict)
        )
        raise HawkbitError(
            f"hawkBit's software module {NAME} {bundle.version} (id {module_id}) already holds "
            f"{held}, not this bundle (sha256 {bundle.sha256}); a version's bundle never "
            "changes once uploaded, as a hub may have installed it",
            hint="release the change as a new version (a new changelog entry and tag); only "
            f"if no hub was ever assigned {NAME} {bundle.version}, delete its distribution set "
            "and software module in hawkBit and upload again",
        )
    form = {f"{kind}sum": value for kind, value in bundle.hashes.items()}
    log.info("uploading %s (%d bytes) to hawkBit", bundle.path.name, bundle.size)
    answer = client.request(
        "POST",
        f"softwaremodules/{quoted(module_id)}/artifacts",
        expect=(201,),
        upload=(bundle.path, form),
    )
    hashes = answer.get("hashes") if isinstance(answer, dict) else None
    if not isinstance(hashes, dict) or hashes.get("sha256") != bundle.sha256:
        raise HawkbitError(
            f"hawkBit stored {bundle.path.name} with another SHA-256 than the file's",
            hint=f"delete the artifact in software module {module_id} and upload again",
        )
    return _id(answer, "artifact"), True


def _set_modules(client: ManagementClient, ds: dict[str, Any]) -> list[int]:
    modules = ds.get("modules")
    if not isinstance(modules, list):
        ds_id = _id(ds, "distribution set")
        modules = client.search(f"distributionsets/{quoted(ds_id)}/assignedSM", "name==*")
    return [_id(module, "software module") for module in modules]


def _set(
    client: ManagementClient, version: str, module_id: int, set_type: str
) -> tuple[int, list[str]]:
    found = _exact(client.search("distributionsets", _query(version)), version)
    if len(found) > 1:
        raise HawkbitError(f"hawkBit holds {len(found)} distribution sets {NAME} {version}")
    if not found:
        body = [
            {
                "name": NAME,
                "version": version,
                "type": set_type,
                "description": f"picohub {version}",
                "modules": [{"id": module_id}],
            }
        ]
        answer = client.request("POST", "distributionsets", expect=(201,), json_body=body)
        return _created(answer, "distribution set"), ["distribution set"]
    ds = found[0]
    ds_id = _id(ds, "distribution set")
    held = _set_modules(client, ds)
    if held == [module_id]:
        return ds_id, []
    if held:
        raise HawkbitError(
            f"hawkBit's distribution set {NAME} {version} (id {ds_id}) holds the software "
            f"modules {held}, not only {NAME} {version} (id {module_id})",
            hint="a hub installs a set's one artifact: give the set only that module, or "
            "delete the set in hawkBit if no hub was assigned it, and run again",
        )
    client.request(
        "POST",
        f"distributionsets/{quoted(ds_id)}/assignedSM",
        expect=(200, 201, 204),
        json_body=[{"id": module_id}],
    )
    return ds_id, ["the module to the distribution set"]


def upload_bundle(
    client: ManagementClient,
    bundle: BundleFile,
    *,
    module_type: str = MODULE_TYPE,
    set_type: str = SET_TYPE,
) -> Uploaded:
    """Make (or find and check) the module, its artifact and the set for ``bundle``."""
    made: list[str] = []
    module_id, new = _module(client, bundle, module_type)
    if new:
        made.append("software module")
    artifact_id, new = _artifact(client, module_id, bundle)
    if new:
        made.append("artifact")
    set_id, set_made = _set(client, bundle.version, module_id, set_type)
    made.extend(set_made)
    return Uploaded(
        module_id,
        artifact_id,
        set_id,
        client.url(f"distributionsets/{set_id}"),
        tuple(made),
    )
