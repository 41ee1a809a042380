"""``python -m picohub_release hawkbit-upload`` against the fake hawkBit: the release's
bundle becomes software module and distribution set picohub VERSION; a re-run changes
nothing; another bundle for the same version is refused; the artifact reaches a hub through
DDI with the hashes of the file."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from picohub.repository import INRELEASE
from picohub.update.bundle import pack
from picohub.update.hawkbit import DdiClient, Server
from picohub_release.__main__ import main
from picohub_release.hawkbit_api import (
    PASSWORD_VARIABLE,
    USER_VARIABLE,
    Credentials,
    HawkbitError,
    ManagementClient,
)
from picohub_release.repository import bundle_name
from tests.fakehawkbit import FakeHawkbit

VERSION = "1.5.0"


@pytest.fixture
def hawkbit(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHawkbit]:
    with FakeHawkbit(user="release", password="s3cret") as fake:
        monkeypatch.setenv(USER_VARIABLE, fake.user)
        monkeypatch.setenv(PASSWORD_VARIABLE, fake.password)
        yield fake


def make_bundle(directory: Path, version: str = VERSION, payload: bytes = b"debs") -> Path:
    """A bundle as `release` writes one: an uncompressed tar with the index (not signed:
    hawkbit-upload reads only its version; the hub verifies it)."""
    source = directory / "source"
    source.mkdir(parents=True)
    (source / INRELEASE).write_text(f"Origin: picohub\nVersion: {version}\n", encoding="utf-8")
    (source / "picohub_all.deb").write_bytes(payload * 50_000)
    target = directory / bundle_name(version)
    pack(source, [INRELEASE, "picohub_all.deb"], target)
    return target


def upload(fake: FakeHawkbit, bundle: Path, *extra: str, version: str = VERSION) -> int:
    return main(
        [
            "hawkbit-upload",
            "--server",
            fake.url,
            "--tenant",
            fake.tenant,
            "--bundle",
            str(bundle),
            "--version",
            version,
            *extra,
        ]
    )


def posts(fake: FakeHawkbit, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests_log[since:] if r.method != "GET"]


def test_the_first_upload_makes_module_artifact_and_set(
    hawkbit: FakeHawkbit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path)
    assert upload(hawkbit, bundle) == ExitCode.OK
    [module] = hawkbit.modules.values()
    assert (module.name, module.version, module.type) == ("picohub", VERSION, "os")
    [artifact] = module.artifacts
    assert artifact.filename == bundle.name and artifact.data == bundle.read_bytes()
    [ds] = hawkbit.sets.values()
    assert (ds.name, ds.version, ds.type, ds.modules) == ("picohub", VERSION, "os", [module.id])
    out = capsys.readouterr().out
    assert f"distribution set {ds.id}: {hawkbit.url}/rest/v1/distributionsets/{ds.id}" in out
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() in out


def test_a_rerun_with_the_same_bundle_changes_nothing(
    hawkbit: FakeHawkbit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path)
    assert upload(hawkbit, bundle) == ExitCode.OK
    [ds] = hawkbit.sets.values()
    before = len(hawkbit.requests_log)
    capsys.readouterr()
    assert upload(hawkbit, bundle) == ExitCode.OK
    assert posts(hawkbit, before) == []
    assert len(hawkbit.modules) == 1 and len(hawkbit.sets) == 1
    assert len(next(iter(hawkbit.modules.values())).artifacts) == 1
    out = capsys.readouterr().out
    assert "nothing changed" in out and f"distribution set {ds.id}:" in out


def test_another_bundle_for_the_same_version_is_refused(
    hawkbit: FakeHawkbit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert upload(hawkbit, make_bundle(tmp_path / "a")) == ExitCode.OK
    before = len(hawkbit.requests_log)
    capsys.readouterr()
    other = make_bundle(tmp_path / "b", payload=b"other debs")
    assert upload(hawkbit, other) == ExitCode.FAILURE
    assert posts(hawkbit, before) == []
    [module] = hawkbit.modules.values()
    assert len(module.artifacts) == 1 and module.artifacts[0].data != other.read_bytes()
    err = capsys.readouterr().err
    assert "already holds" in err and hashlib.sha256(other.read_bytes()).hexdigest() in err
    assert "hint: release the change as a new version" in err


def test_an_interrupted_upload_is_completed(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    # The module was made, the upload and the set were not (the run was cut).
    module = hawkbit.add_module("picohub", VERSION, "os")
    bundle = make_bundle(tmp_path)
    assert upload(hawkbit, bundle) == ExitCode.OK
    assert len(hawkbit.modules) == 1 and len(module.artifacts) == 1
    [ds] = hawkbit.sets.values()
    assert ds.modules == [module.id]


def test_a_set_made_without_its_module_gets_it(hawkbit: FakeHawkbit, tmp_path: Path) -> None:
    ds = hawkbit.add_set("picohub", VERSION, [])
    assert upload(hawkbit, make_bundle(tmp_path)) == ExitCode.OK
    [module] = hawkbit.modules.values()
    assert ds.modules == [module.id] and len(hawkbit.sets) == 1


def test_a_set_holding_another_module_is_refused(
    hawkbit: FakeHawkbit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = hawkbit.add_module("something", "9", "application")
    hawkbit.add_set("picohub", VERSION, [stranger.id])
    assert upload(hawkbit, make_bundle(tmp_path)) == ExitCode.FAILURE
    assert "holds the software modules" in capsys.readouterr().err


def test_the_artifact_downloads_through_ddi_with_the_files_hashes(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    bundle = make_bundle(tmp_path)
    assert upload(hawkbit, bundle) == ExitCode.OK
    [ds] = hawkbit.sets.values()
    target = hawkbit.add_target("hub-1")
    hawkbit.assign("hub-1", ds.id)
    client = DdiClient(Server(hawkbit.url, hawkbit.tenant, "hub-1"), target.token)
    link = client.poll().links.deployment_base
    assert link is not None
    [artifact] = client.deployment(link).artifacts
    data = bundle.read_bytes()
    assert artifact.filename == bundle.name and artifact.size == len(data)
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.sha1 == hashlib.sha1(data).hexdigest()  # noqa: S324 (hawkBit's)
    assert artifact.md5 == hashlib.md5(data).hexdigest()  # noqa: S324 (hawkBit's)
    fetched = client.download(artifact, tmp_path / "hub", max_bytes=len(data))
    assert fetched.read_bytes() == data


def test_wrong_credentials_are_named(
    hawkbit: FakeHawkbit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "wrong")
    assert upload(hawkbit, make_bundle(tmp_path)) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "hawkBit did not accept the user 'release'" in err
    assert "wrong" not in err
    assert not hawkbit.modules


def test_credentials_from_a_user_file(
    hawkbit: FakeHawkbit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(USER_VARIABLE)
    monkeypatch.delenv(PASSWORD_VARIABLE)
    bundle = make_bundle(tmp_path)
    assert upload(hawkbit, bundle) == ExitCode.USAGE
    assert "no hawkBit credentials" in capsys.readouterr().err
    user_file = tmp_path / "hawkbit-user"
    user_file.write_text("release:s3cret\n")
    assert upload(hawkbit, bundle, "--user-file", str(user_file)) == ExitCode.OK
    user_file.write_text("release\n")
    assert upload(hawkbit, bundle, "--user-file", str(user_file)) == ExitCode.USAGE
    assert "does not hold USER:PASSWORD" in capsys.readouterr().err


def test_an_unreachable_server_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(USER_VARIABLE, "u")
    monkeypatch.setenv(PASSWORD_VARIABLE, "p")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    fake = FakeHawkbit()
    fake.port = port  # never started
    assert upload(fake, make_bundle(tmp_path)) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert f"cannot reach hawkBit at http://127.0.0.1:{port}" in err and "hint:" in err


def test_plain_http_is_refused_beyond_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(USER_VARIABLE, "u")
    monkeypatch.setenv(PASSWORD_VARIABLE, "p")
    fake = FakeHawkbit(host="hawkbit.example.org")
    assert upload(fake, make_bundle(tmp_path)) == ExitCode.USAGE
    assert "is plain http" in capsys.readouterr().err


def test_a_bundle_of_another_version_is_refused(
    hawkbit: FakeHawkbit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path, version="1.4.0")
    renamed = bundle.rename(tmp_path / bundle_name(VERSION))
    assert upload(hawkbit, renamed) == ExitCode.USAGE
    assert "holds release 1.4.0, not 1.5.0" in capsys.readouterr().err
    assert upload(hawkbit, make_bundle(tmp_path / "x"), version="1.5.1") == ExitCode.USAGE
    assert not hawkbit.modules


def test_hawkbits_error_answer_is_shown_in_full(hawkbit: FakeHawkbit) -> None:
    client = ManagementClient(hawkbit.url, "DEFAULT", Credentials("release", "s3cret"))
    with pytest.raises(HawkbitError) as raised:
        client.request("POST", "distributionsets", expect=(201,), json_body=[{"x": 1}])
    assert raised.value.status == 400
    assert raised.value.code == "hawkbit.server.error.rest.param.invalid"
    assert "HTTP 400: KeyError('name') [hawkbit.server.error.rest.param.invalid]" in str(
        raised.value
    )


def test_hawkbit_checks_the_hashes_sent_with_the_upload(
    hawkbit: FakeHawkbit, tmp_path: Path
) -> None:
    bundle = make_bundle(tmp_path)
    module = hawkbit.add_module("picohub", VERSION, "os")
    client = ManagementClient(hawkbit.url, "DEFAULT", Credentials("release", "s3cret"))
    with pytest.raises(HawkbitError) as raised:
        client.request(
            "POST",
            f"softwaremodules/{module.id}/artifacts",
            expect=(201,),
            upload=(bundle, {"sha256sum": "0" * 64}),
        )
    assert raised.value.code == "hawkbit.server.error.artifact.uploadFailed.checksum.sha256.match"
    assert not module.artifacts
    assert upload(hawkbit, bundle) == ExitCode.OK
    data = bundle.read_bytes()
    assert hawkbit.upload_fields[-1] == {
        "sha256sum": hashlib.sha256(data).hexdigest(),
        "sha1sum": hashlib.sha1(data).hexdigest(),  # noqa: S324 (hawkBit's)
        "md5sum": hashlib.md5(data).hexdigest(),  # noqa: S324 (hawkBit's)
    }
