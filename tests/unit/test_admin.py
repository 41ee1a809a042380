"""The administrator password: made on the device, stored hashed, shown and reset by root
with ``picohub admin-password``."""

from __future__ import annotations

import json
import os
import pwd
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from picohub import admin
from picohub.admin_cli import main
from picohub.errors import ExitCode
from picohub.files import write_atomically
from picohub.settings import Settings

# As root (the usual case in the test container) the files go to another user, as on the
# device; otherwise to the tester, the only owner a plain user can give.
SERVICE_USER = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
OWNER = (SERVICE_USER.pw_uid, SERVICE_USER.pw_gid)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        admin_password_file=tmp_path / "etc" / "admin-password",
        service_user=SERVICE_USER.pw_name,
    )


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads its settings from the environment: point them at the test's."""
    monkeypatch.setenv("PICOHUB_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("PICOHUB_ADMIN_PASSWORD_FILE", str(settings.admin_password_file))
    monkeypatch.setenv("PICOHUB_SERVICE_USER", settings.service_user)
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # the tests may run as anyone
    return settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_password_is_four_readable_groups_and_never_the_same() -> None:
    passwords = {admin.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        groups = password.split("-")
        assert [len(group) for group in groups] == [5, 5, 5, 5]
        assert set("".join(groups)) <= set(admin.ALPHABET)
    assert not set("0o1li") & set(admin.ALPHABET)


def test_the_hash_accepts_the_password_and_nothing_else() -> None:
    credential = admin.hash_password("abcde-fghjk-mnpqr-stuvw")
    assert admin.verify(credential, "abcde-fghjk-mnpqr-stuvw")
    for wrong in ("abcde-fghjk-mnpqr-stuvx", "", "ABCDE-FGHJK-MNPQR-STUVW", "x" * 2000):
        assert not admin.verify(credential, wrong), wrong
    again = admin.hash_password("abcde-fghjk-mnpqr-stuvw")
    assert again.salt != credential.salt and again.digest != credential.digest
    assert again.id != credential.id


def test_a_credential_file_keeps_its_parameters_and_no_password() -> None:
    credential = admin.hash_password("secret-words")
    text = credential.to_json()
    assert "secret-words" not in text
    data = json.loads(text)
    assert (data["algorithm"], data["n"], data["r"], data["p"]) == ("scrypt", 2**14, 8, 1)
    assert admin.Credential.from_json(text) == credential
    # Other parameters written by another version still verify.
    cheap = replace(credential, n=2**4)
    cheap = replace(cheap, digest=admin._scrypt("secret-words", cheap.salt, 2**4, 8, 1, 32))
    assert admin.verify(admin.Credential.from_json(cheap.to_json()), "secret-words")


@pytest.mark.parametrize(
    "change",
    [
        {"n": 2**30},  # gigabytes of memory
        {"n": 1000},  # not a power of two
        {"r": 0},
        {"p": 100},
        {"algorithm": "md5"},
        {"salt": ""},
        {"hash": "not base64!"},
        {"id": ""},
    ],
)
def test_a_bad_credential_file_is_refused(settings: Settings, change: dict[str, object]) -> None:
    data = json.loads(admin.hash_password("x").to_json())
    write_atomically(settings.admin_credential, json.dumps({**data, **change}))
    with pytest.raises(admin.CredentialError, match="not a valid credential"):
        admin.read_credential(settings.admin_credential)


def test_the_credential_is_never_read_through_a_symbolic_link(
    settings: Settings, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(admin.hash_password("x").to_json())
    settings.state_dir.mkdir()
    settings.admin_credential.symlink_to(elsewhere)
    with pytest.raises(admin.CredentialError, match="symbolic link"):
        admin.read_credential(settings.admin_credential)


def test_init_makes_both_files_with_their_modes(settings: Settings) -> None:
    assert admin.init(settings, OWNER) is admin.InitResult.CREATED
    password = settings.admin_password_file.read_text().strip()
    credential = admin.read_credential(settings.admin_credential)
    assert credential is not None and admin.verify(credential, password)
    assert password not in settings.admin_credential.read_text()
    assert _mode(settings.admin_password_file) == 0o600
    assert _mode(settings.admin_credential) == 0o600
    assert (settings.admin_credential.stat().st_uid, settings.admin_credential.stat().st_gid) == (
        OWNER
    )
    # The state folder as systemd's StateDirectory= would make it.
    assert _mode(settings.state_dir) == 0o750
    leftovers = [p.name for p in settings.state_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_init_is_idempotent(settings: Settings) -> None:
    admin.init(settings, OWNER)
    before = (settings.admin_password_file.read_text(), settings.admin_credential.read_text())
    assert admin.init(settings, OWNER) is admin.InitResult.UNCHANGED
    after = (settings.admin_password_file.read_text(), settings.admin_credential.read_text())
    assert after == before


def test_init_makes_a_lost_hash_again_from_the_password_file(settings: Settings) -> None:
    admin.init(settings, OWNER)
    password = admin.show(settings)
    settings.admin_credential.unlink()
    assert admin.init(settings, OWNER) is admin.InitResult.REHASHED
    assert admin.show(settings) == password
    assert admin.matches(settings, password) is True


def test_init_keeps_a_hash_whose_password_file_is_lost(settings: Settings) -> None:
    admin.init(settings, OWNER)
    credential = settings.admin_credential.read_text()
    settings.admin_password_file.unlink()
    assert admin.init(settings, OWNER) is admin.InitResult.NO_CLEARTEXT
    assert settings.admin_credential.read_text() == credential
    assert not settings.admin_password_file.exists()


def test_init_mends_a_damaged_credential_instead_of_failing_the_upgrade(
    settings: Settings,
) -> None:
    admin.init(settings, OWNER)
    password = admin.show(settings)
    settings.admin_credential.write_text("{")
    assert admin.init(settings, OWNER) is admin.InitResult.REHASHED
    assert admin.matches(settings, password) is True
    settings.admin_credential.write_text("{")
    settings.admin_password_file.write_text("")
    assert admin.init(settings, OWNER) is admin.InitResult.CREATED
    assert admin.matches(settings, admin.show(settings)) is True


def test_reset_replaces_the_password_and_the_credential_id(settings: Settings) -> None:
    admin.init(settings, OWNER)
    old_password = admin.show(settings)
    old = admin.read_credential(settings.admin_credential)
    new_password = admin.reset(settings, OWNER)
    new = admin.read_credential(settings.admin_credential)
    assert old is not None and new is not None
    assert new_password != old_password and admin.show(settings) == new_password
    assert admin.verify(new, new_password) and not admin.verify(new, old_password)
    assert new.id != old.id  # what ends the sessions of the old password
    assert _mode(settings.admin_password_file) == 0o600


def test_write_atomically_sets_the_mode_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_atomically(tmp_path / "a" / "status.json", "{}", 0o644, owner=OWNER)
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "a" / "status.json") == 0o644
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["status.json"]


# The command, as root runs it.


def test_show_without_a_password_says_how_to_make_one(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin-password", "show"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert f"error: there is no administrator password in {environment.admin_password_file}" in err
    assert "hint: make one with: sudo picohub admin-password reset" in err


def test_init_show_and_reset_from_the_command_line(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin-password", "init"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "show it with: sudo picohub admin-password show" in out
    password = environment.admin_password_file.read_text().strip()
    assert password not in out  # postinst's output is kept in apt's log

    assert main(["admin-password", "init"]) == ExitCode.OK
    assert capsys.readouterr() == ("", "")  # an upgrade says nothing

    assert main(["admin-password", "show"]) == ExitCode.OK
    shown = capsys.readouterr()
    assert shown.out == password + "\n" and shown.err == ""

    assert main(["admin-password", "reset"]) == ExitCode.OK
    reset = capsys.readouterr()
    new_password = reset.out.strip()
    assert new_password != password and admin.matches(environment, new_password)
    assert "sessions opened with the old one have ended" in reset.err
    owner = environment.admin_credential.stat()
    assert (owner.st_uid, owner.st_gid) == OWNER  # the app's user reads the hash
    assert main(["admin-password", "show"]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == new_password


def test_show_warns_when_the_app_checks_another_password(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.init(environment, OWNER)
    write_atomically(environment.admin_password_file, "other-words\n", 0o600)
    assert main(["admin-password", "show"]) == ExitCode.OK
    shown = capsys.readouterr()
    assert shown.out == "other-words\n"
    assert "not the password the web page accepts" in shown.err


def test_init_warns_when_the_password_cannot_be_shown(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.init(environment, OWNER)
    environment.admin_password_file.unlink()
    assert main(["admin-password", "init"]) == ExitCode.OK
    assert "sudo picohub admin-password reset" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["init", "show", "reset"])
def test_only_root_may_use_it(
    environment: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    action: str,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["admin-password", action]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "error: only root can manage the administrator password" in err
    assert f"hint: run: sudo picohub admin-password {action}" in err
    assert not environment.admin_password_file.exists()
    assert not environment.admin_credential.exists()


def test_a_missing_service_user_is_named(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PICOHUB_SERVICE_USER", "no-such-user-here")
    assert main(["admin-password", "reset"]) == ExitCode.FAILURE
    assert "error: the user no-such-user-here does not exist" in capsys.readouterr().err
    assert not environment.admin_password_file.exists()


def test_a_bad_command_line_is_a_usage_error(environment: Settings) -> None:
    for argv in (["admin-password"], ["admin-password", "print"], []):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == ExitCode.USAGE
