from __future__ import annotations

import json

import pytest

from picohub.firmware.rollout import OtaReport, OtaResult
from picohub.web.heartbeat import (
    BOOT_TYPES,
    MAX_READINGS,
    Heartbeat,
    HeartbeatError,
    check_device_id,
    parse_heartbeat,
)

SHA = "ab" * 32


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_full_heartbeat_is_parsed() -> None:
    beat = parse_heartbeat(
        _body(firmware_version="1.2.3", uptime_s=60, readings={"temperature_c": 21, "rssi": -61.5})
    )
    assert beat == Heartbeat("1.2.3", 60, {"temperature_c": 21.0, "rssi": -61.5})


def test_only_the_firmware_version_is_required() -> None:
    assert parse_heartbeat(_body(firmware_version="2.0.0-rc1")) == Heartbeat("2.0.0-rc1")


def test_a_boards_ota_fields_are_parsed() -> None:
    beat = parse_heartbeat(
        _body(
            firmware_version="1.4.0",
            slot="b",
            boot_type="flash_update",
            bought=False,
            ota={"sha256": SHA, "result": "trying"},
        )
    )
    assert (beat.slot, beat.boot_type, beat.bought) == ("b", "flash_update", False)
    assert beat.ota == OtaReport(SHA, OtaResult.TRYING, None)


@pytest.mark.parametrize("boot_type", BOOT_TYPES)
def test_every_boot_type_of_the_sdk_is_taken(boot_type: str) -> None:
    assert parse_heartbeat(_body(firmware_version="1", boot_type=boot_type)).boot_type == boot_type


@pytest.mark.parametrize("result", [result.value for result in OtaResult])
def test_every_ota_result_is_taken_with_a_reason(result: str) -> None:
    ota = {"sha256": SHA, "result": result, "reason": "watchdog reset ~ 3 times; gave up"}
    beat = parse_heartbeat(_body(firmware_version="1", ota=ota))
    assert beat.ota == OtaReport(SHA, OtaResult(result), ota["reason"])


def test_the_ota_fields_may_be_absent_or_null() -> None:
    nulls = _body(firmware_version="1", slot=None, boot_type=None, bought=None, ota=None)
    assert parse_heartbeat(nulls) == parse_heartbeat(_body(firmware_version="1")) == Heartbeat("1")
    reason = parse_heartbeat(
        _body(firmware_version="1", ota={"sha256": SHA, "result": "failed", "reason": "é" * 200})
    )
    assert reason.ota is not None and reason.ota.reason == "é" * 200


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"slot": "c"}, "slot is 'c': must be one of a, b or null"),
        ({"slot": "A"}, "slot is 'A': must be one of a, b or null"),
        ({"slot": 0}, "slot is not a string: must be one of a, b or null"),
        ({"boot_type": "warm"}, "boot_type is 'warm': must be one of normal, bootsel"),
        ({"boot_type": ["normal"]}, "boot_type is not a string"),
        ({"bought": "yes"}, "bought must be true or false"),
        ({"bought": 1}, "bought must be true or false"),
        ({"ota": "reverted"}, "ota must be an object"),
        ({"ota": [SHA, "bought"]}, "ota must be an object"),
        ({"ota": {"sha256": SHA}}, "missing ota field(s): result"),
        ({"ota": {"result": "bought"}}, "missing ota field(s): sha256"),
        (
            {"ota": {"sha256": SHA, "result": "bought", "when": 3}},
            "unknown ota field(s): when; allowed: reason, result, sha256",
        ),
        ({"ota": {"sha256": SHA.upper(), "result": "bought"}}, "ota.sha256 must be the image"),
        ({"ota": {"sha256": SHA[:-1], "result": "bought"}}, "64 lower-case hex digits"),
        ({"ota": {"sha256": 5, "result": "bought"}}, "ota.sha256 must be"),
        (
            {"ota": {"sha256": SHA, "result": "done"}},
            "ota.result is 'done': must be one of downloading, trying, bought, reverted, failed",
        ),
        ({"ota": {"sha256": SHA, "result": None}}, "ota.result is not a string: must be one of"),
        (
            {"ota": {"sha256": SHA, "result": "failed", "reason": "x" * 201}},
            "ota.reason must be a string of at most 200 printable characters",
        ),
        (
            {"ota": {"sha256": SHA, "result": "failed", "reason": "bad\nline"}},
            "ota.reason must be a string of at most 200 printable",
        ),
        ({"ota": {"sha256": SHA, "result": "failed", "reason": 7}}, "ota.reason must be"),
    ],
)
def test_bad_ota_fields_are_refused_naming_field_and_rule(
    fields: dict[str, object], complaint: str
) -> None:
    with pytest.raises(HeartbeatError) as caught:
        parse_heartbeat(_body(firmware_version="1", **fields))
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested 5000 levels deep; at most 16"),
        (b'{"firmware_version": "1", "uptime_s": ' + b"9" * 5000 + b"}", "a number of 5000"),
        (b"[1, 2]", "must be a JSON object"),
        (_body(firmware_version="1", colour="red"), "unknown field(s): colour"),
        (_body(uptime_s=3), "missing field(s): firmware_version"),
        (_body(firmware_version=7), "firmware_version must be a string"),
        (_body(firmware_version=""), "firmware_version must be a string"),
        (_body(firmware_version="1.0; rm -rf /"), "firmware_version must be a string"),
        (_body(firmware_version="x" * 33), "firmware_version must be a string"),
        (_body(firmware_version="1", uptime_s=-1), "uptime_s must be a whole number"),
        (_body(firmware_version="1", uptime_s=1.5), "uptime_s must be a whole number"),
        (_body(firmware_version="1", uptime_s=True), "uptime_s must be a whole number"),
        (_body(firmware_version="1", readings=[1]), "readings must be an object"),
        (_body(firmware_version="1", readings={"Temp": 1}), "reading name 'Temp'"),
        (_body(firmware_version="1", readings={"t": "hot"}), "reading 't' must be a finite"),
        (_body(firmware_version="1", readings={"t": True}), "reading 't' must be a finite"),
        (b'{"firmware_version": "1", "readings": {"t": NaN}}', "NaN is not a JSON number"),
        (
            b'{"firmware_version": "1", "readings": {"t": 1e999}}',
            "the number 1e999 is out of range",
        ),
        (
            _body(firmware_version="1", readings={f"r{i}": i for i in range(MAX_READINGS + 1)}),
            f"at most {MAX_READINGS}",
        ),
    ],
)
def test_bad_heartbeats_are_refused_naming_the_problem(body: bytes, complaint: str) -> None:
    with pytest.raises(HeartbeatError) as caught:
        parse_heartbeat(body)
    assert complaint in str(caught.value)


@pytest.mark.parametrize("device_id", ["pico-1", "A", "kitchen_2", "x" * 64])
def test_good_device_ids(device_id: str) -> None:
    assert check_device_id(device_id) == device_id


@pytest.mark.parametrize("device_id", ["", "-pico", "x" * 65, "pico 1", "pico/1", "pico\n", "ä"])
def test_bad_device_ids(device_id: str) -> None:
    with pytest.raises(HeartbeatError, match="device id"):
        check_device_id(device_id)
