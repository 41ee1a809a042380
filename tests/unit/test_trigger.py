"""The update trigger: only requests of the allowed form get through, and an uploaded
bundle is moved out of the app's reach before anything reads it."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub.settings import Settings
from picohub.trigger import (
    MAX_REQUEST_BYTES,
    Action,
    RequestRefused,
    TriggerReply,
    TriggerRequest,
    ask,
    decode_reply,
    parse_request,
    read_line,
)
from picohub.update import trigger_service
from picohub.update.cache import cache_lock
from picohub.update.status import Phase, Status, read_status, write_status
from picohub.update.trigger_service import copy_exactly, handle, serve_connection, take_upload


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"action": "check"}', TriggerRequest(Action.CHECK)),
        (b'{"action": "apply"}', TriggerRequest(Action.APPLY)),
        (b'{"action": "apply", "version": "1.2.3"}', TriggerRequest(Action.APPLY, "1.2.3")),
        (b'{"action": "rollback"}', TriggerRequest(Action.ROLLBACK)),
        (
            b'{"action": "apply-bundle", "bundle": "bundle-0a1b.tar"}',
            TriggerRequest(Action.APPLY_BUNDLE, bundle="bundle-0a1b.tar"),
        ),
        (b'{"action": "hold"}', TriggerRequest(Action.HOLD)),
        (b'{"action": "hold", "until": "1w"}', TriggerRequest(Action.HOLD, until="1w")),
        (
            b'{"action": "hold", "until": "2026-12-24"}',
            TriggerRequest(Action.HOLD, until="2026-12-24"),
        ),
        (b'{"action": "release-hold"}', TriggerRequest(Action.RELEASE_HOLD)),
    ],
)
def test_requests_of_the_allowed_form_are_read(raw: bytes, expected: TriggerRequest) -> None:
    assert parse_request(raw) == expected
    assert parse_request(expected.encode().strip()) == expected  # the client's encoding


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"apply 1.2.3", "not valid JSON"),
        (b"", "the request is empty"),
        (b'["apply"]', "must be a JSON object"),
        (b'{"action": "shell", "command": "id"}', "unknown action 'shell'"),
        (b'{"action": "apply", "version": "1.0; rm -rf /"}', "is not a release version"),
        (b'{"action": "apply", "version": "--allow-downgrades"}', "is not a release version"),
        (b'{"action": "apply", "version": 2}', "is not a release version"),
        (b'{"action": "apply", "unit": "ssh.service"}', "apply takes no unit"),
        (b'{"action": "rollback", "version": "1.0.0"}', "rollback takes no version"),
        (b'{"action": "check", "bundle": "x.tar"}', "check takes no bundle"),
        (b'{"action": "apply-bundle"}', "is not the name of an uploaded bundle"),
        (b'{"action": "apply-bundle", "bundle": "../../etc/shadow"}', "not the name of an"),
        (b'{"action": "apply-bundle", "bundle": "/root/b.tar"}', "not the name of an"),
        (b'{"action": "apply-bundle", "bundle": ".hidden.tar"}', "not the name of an"),
        (b'{"action": "check"' + b" " * MAX_REQUEST_BYTES + b"}", "longer than"),
        (b"[" * (MAX_REQUEST_BYTES // 2) + b"]" * (MAX_REQUEST_BYTES // 2), "nested 512 levels"),
        (b'{"action": "apply", "version": ' + b"9" * 900 + b"}", "a number of 900"),
        (b'{"action": "hold", "until": "$(reboot)"}', "is not a hold's end"),
        (b'{"action": "hold", "until": 7}', "is not a hold's end"),
        (b'{"action": "release-hold", "until": "1d"}', "release-hold takes no until"),
    ],
)
def test_anything_else_is_refused_with_the_reason(raw: bytes, says: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        parse_request(raw)
    assert says in str(refused.value)


def test_a_refused_request_is_answered_over_the_socket(settings: Settings) -> None:
    app_side, root_side = socket.socketpair()
    with app_side, root_side:
        app_side.sendall(b'{"action": "apply", "version": "$(id)"}\n')
        serve_connection(root_side, settings)
        reply = decode_reply(app_side.recv(65536).strip())
    assert reply == TriggerReply(False, "'$(id)' is not a release version", "refused")


def test_a_request_nested_to_the_size_limit_is_answered(settings: Settings) -> None:
    app_side, root_side = socket.socketpair()
    with app_side, root_side:
        app_side.sendall(b"[" * 511 + b"]" * 511 + b"\n")
        serve_connection(root_side, settings)
        reply = decode_reply(app_side.recv(65536).strip())
    assert (reply.ok, reply.error) == (False, "refused")
    assert "nested 511 levels deep" in reply.message


def test_an_unclosed_request_as_long_as_allowed_is_answered(settings: Settings) -> None:
    app_side, root_side = socket.socketpair()
    with app_side, root_side:
        app_side.sendall(b"[" * (MAX_REQUEST_BYTES - 1) + b"\n")
        serve_connection(root_side, settings)
        reply = decode_reply(app_side.recv(65536).strip())
    assert (reply.ok, reply.error) == (False, "refused")
    assert f"nested {MAX_REQUEST_BYTES - 1} levels deep" in reply.message


def test_a_client_sending_a_byte_now_and_then_is_answered_within_the_timeout(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trigger_service, "REQUEST_TIMEOUT_S", 0.5)
    app_side, root_side = socket.socketpair()
    stop = threading.Event()

    def trickle() -> None:  # each byte well within any per-byte timeout
        for byte in b'{"action": "check"}':
            if stop.wait(0.1):
                return
            app_side.send(bytes([byte]))

    sender = threading.Thread(target=trickle)
    with app_side, root_side:
        sender.start()
        started = time.monotonic()
        serve_connection(root_side, settings)
        took = time.monotonic() - started
        stop.set()
        sender.join()
        reply = decode_reply(app_side.recv(65536).strip())
    assert (reply.ok, reply.error) == (False, "refused")
    assert "did not arrive whole within 0.5 s" in reply.message
    assert took < 1.5  # the deadline counts from the connection, not the last byte


def test_a_client_gone_before_the_answer_ends_the_connection_quietly(settings: Settings) -> None:
    app_side, root_side = socket.socketpair()
    with root_side:
        app_side.sendall(b'{"action": "shell"}\n')
        app_side.close()
        serve_connection(root_side, settings)  # no BrokenPipeError


def test_replies_round_trip() -> None:
    reply = TriggerReply(False, "an update is already running", "running", {"phase": "installing"})
    assert decode_reply(reply.encode().strip()) == reply


@pytest.fixture
def uploads(settings: Settings, tmp_path: Path) -> Settings:
    # The updater's state too: never the real /var/lib/picohub-update of the test machine.
    here = replace(settings, cache_dir=tmp_path / "cache", update_state_dir=tmp_path / "update")
    here.upload_dir.mkdir(parents=True)
    return here


def test_an_upload_is_moved_into_a_root_only_folder(uploads: Settings) -> None:
    (uploads.upload_dir / "bundle-1.tar").write_bytes(b"tar bytes")
    taken = take_upload(uploads, "bundle-1.tar")
    assert taken.read_bytes() == b"tar bytes"
    assert taken.parent == uploads.incoming_dir
    assert taken.parent.stat().st_mode & 0o777 == 0o700
    assert not (uploads.upload_dir / "bundle-1.tar").exists()  # out of the app's reach


def test_a_symbolic_link_is_never_followed(uploads: Settings, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root's")
    (uploads.upload_dir / "bundle-1.tar").symlink_to(secret)
    with pytest.raises(RequestRefused, match=r"there is no uploaded bundle 'bundle-1\.tar'"):
        take_upload(uploads, "bundle-1.tar")
    assert not (uploads.incoming_dir).exists()


def test_a_swapped_upload_folder_is_refused(uploads: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "bundle-1.tar").write_bytes(b"x")
    uploads.upload_dir.rmdir()
    uploads.upload_dir.symlink_to(elsewhere)
    with pytest.raises(RequestRefused, match="there is no upload folder"):
        take_upload(uploads, "bundle-1.tar")
    assert (elsewhere / "bundle-1.tar").exists()  # nothing removed through the link


def test_only_regular_files_are_taken(uploads: Settings) -> None:
    os.mkfifo(uploads.upload_dir / "bundle-1.tar")
    with pytest.raises(RequestRefused, match="is not a regular file"):
        take_upload(uploads, "bundle-1.tar")


def test_a_missing_upload_is_named(uploads: Settings) -> None:
    with pytest.raises(RequestRefused, match=r"there is no uploaded bundle 'bundle-2\.tar'"):
        take_upload(uploads, "bundle-2.tar")


def test_an_upload_that_grows_while_it_is_read_is_refused() -> None:
    # The app owns the upload and could keep writing to it after the size was taken.
    with pytest.raises(RequestRefused, match="grew while it was read"):
        copy_exactly(io.BytesIO(b"0123456789"), io.BytesIO(), 8, "bundle-1.tar")


def test_an_upload_that_shrinks_while_it_is_read_is_refused() -> None:
    with pytest.raises(RequestRefused, match="became shorter while it was read"):
        copy_exactly(io.BytesIO(b"0123"), io.BytesIO(), 8, "bundle-1.tar")


def test_exactly_the_bytes_the_upload_had_are_copied() -> None:
    copy = io.BytesIO()
    copy_exactly(io.BytesIO(b"0123456789"), copy, 10, "bundle-1.tar")
    assert copy.getvalue() == b"0123456789"


def test_a_request_while_another_holds_the_cache_is_answered_running(
    uploads: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two pages at once: the second must wait its turn, not empty the first one's upload.
    monkeypatch.setattr(trigger_service, "LOCK_WAIT_S", 0.0)
    monkeypatch.setattr(trigger_service, "is_running", lambda: False)
    (uploads.upload_dir / "bundle-1.tar").write_bytes(b"tar bytes")
    write_status(uploads.update_status, Status(Phase.DONE, "updated", None, "1.4.2"))
    with cache_lock(uploads):
        reply = handle(TriggerRequest(Action.APPLY_BUNDLE, bundle="bundle-1.tar"), uploads)
    assert (reply.ok, reply.error) == (False, "running")
    assert "using the cache" in reply.message
    assert (uploads.upload_dir / "bundle-1.tar").exists()  # untouched
    assert read_status(uploads.update_status).phase is Phase.DONE


def test_an_install_of_an_older_release_is_refused_as_a_rollback_in_disguise(
    uploads: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page offers only newer releases; going back is the confirmed rollback.
    monkeypatch.setattr(trigger_service, "is_running", lambda: False)
    before = write_status(uploads.update_status, Status(Phase.DONE, "updated", None, "1.4.2"))
    with pytest.raises(RequestRefused) as refused:
        handle(TriggerRequest(Action.APPLY, version="1.4.1"), uploads)
    assert refused.value.message == "release 1.4.1 is older than the installed 1.4.2"
    assert refused.value.hint == "going back is a rollback"
    assert read_status(uploads.update_status) == before  # nothing was started


@pytest.mark.parametrize("action", [Action.CHECK, Action.APPLY])
def test_a_hub_hawkbit_manages_refuses_the_pages_check_and_install(
    uploads: Settings, monkeypatch: pytest.MonkeyPatch, action: Action
) -> None:
    monkeypatch.setattr(trigger_service, "is_running", lambda: False)
    managed = replace(uploads, update_config=uploads.state_dir / "update.conf")
    managed.update_config.write_text(
        "[fleet]\nfleet = hawkbit\nhawkbit_url = https://hawkbit.example.org\n"
    )
    with pytest.raises(RequestRefused) as refused:
        handle(TriggerRequest(action), managed)
    assert "managed by hawkBit at https://hawkbit.example.org" in refused.value.message
    assert read_status(managed.update_status).phase is Phase.IDLE  # nothing was started


@pytest.mark.parametrize(
    ("phase", "said"),
    [
        (Phase.INSTALLING, "an update is already running"),
        (Phase.DONE, "the last update is finishing; try again in a few seconds"),
    ],
)
def test_a_request_while_the_unit_is_there_says_whether_it_runs_or_finishes(
    uploads: Settings, monkeypatch: pytest.MonkeyPatch, phase: Phase, said: str
) -> None:
    monkeypatch.setattr(trigger_service, "is_running", lambda: True)
    monkeypatch.setattr(trigger_service, "FINISHING_WAIT_S", 0.3)
    write_status(uploads.update_status, Status(phase, "", None, "1.4.2", "1.4.3"))
    reply = handle(TriggerRequest(Action.APPLY), uploads)
    assert (reply.ok, reply.error, reply.message) == (False, "running", said)
    assert reply.data is not None and reply.data["phase"] == phase


def test_a_request_waits_for_the_unit_of_a_run_that_ended_to_go(
    uploads: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The page saw "done"; the unit's after-run still runs for a moment.
    answers = iter([True, True, True, False])
    monkeypatch.setattr(trigger_service, "is_running", lambda: next(answers, False))
    write_status(uploads.update_status, Status(Phase.DONE, "updated", None, "1.4.2"))
    # It went on: to the check of the version, which refuses this one.
    with pytest.raises(RequestRefused, match="older than the installed"):
        handle(TriggerRequest(Action.APPLY, version="1.4.1"), uploads)


def test_a_hold_from_the_page_is_written_by_root_and_released(
    settings: Settings, tmp_path: Path
) -> None:
    here = replace(settings, update_state_dir=tmp_path / "update")
    reply = handle(TriggerRequest(Action.HOLD, until="1d"), here)
    assert reply.ok and "held until" in reply.message
    assert reply.data is not None and reply.data["by"] == "page"
    assert here.update_hold.exists()
    assert handle(TriggerRequest(Action.RELEASE_HOLD), here).message == "the hold is released"
    assert not here.update_hold.exists()


def test_a_hold_whose_end_has_passed_is_refused_and_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    here = replace(settings, update_state_dir=tmp_path / "update")
    with pytest.raises(RequestRefused, match="has passed"):
        handle(TriggerRequest(Action.HOLD, until="2020-01-01"), here)
    assert not here.update_hold.exists()


class _FullSocket:
    """A listening socket that closes the first ``busy`` connections unanswered, as
    systemd does beyond MaxConnections, then answers each as the trigger would."""

    def __init__(self, path: Path, busy: int) -> None:
        self.path, self.busy, self.closed = path, busy, 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                if self.closed < self.busy:
                    self.closed += 1
                    continue
                read_line(connection, 1024)
                connection.sendall(TriggerReply(True, "started").encode())

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.thread.join(timeout=5)
        self.path.unlink(missing_ok=True)


@pytest.fixture
def short_path() -> Iterator[Path]:
    directory = Path(f"/tmp/picohub-full-{os.getpid()}-{threading.get_ident()}")
    directory.mkdir(exist_ok=True)
    yield directory / "trigger.sock"
    directory.rmdir()


def test_the_app_asks_again_while_every_connection_is_taken(short_path: Path) -> None:
    full = _FullSocket(short_path, busy=3)
    try:
        reply = ask(short_path, TriggerRequest(Action.RELEASE_HOLD), timeout=10)
    finally:
        full.close()
    assert reply.ok and full.closed == 3


def test_the_app_gives_up_at_its_deadline_saying_the_trigger_is_full(short_path: Path) -> None:
    full = _FullSocket(short_path, busy=10**6)
    started = time.monotonic()
    try:
        with pytest.raises(PicohubError, match="all of its connections are taken"):
            ask(short_path, TriggerRequest(Action.RELEASE_HOLD), timeout=1.0)
    finally:
        full.close()
    assert time.monotonic() - started < 2.0 and full.closed >= 2
