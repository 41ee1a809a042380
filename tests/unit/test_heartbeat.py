from __future__ import annotations

import json

import pytest

from picohub.web.heartbeat import (
    MAX_READINGS,
    Heartbeat,
    HeartbeatError,
    check_device_id,
    parse_heartbeat,
)


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_full_heartbeat_is_parsed() -> None:
    beat = parse_heartbeat(
        _body(firmware_version="1.2.3", uptime_s=60, readings={"temperature_c": 21, "rssi": -61.5})
    )
    assert beat == Heartbeat("1.2.3", 60, {"temperature_c": 21.0, "rssi": -61.5})


def test_only_the_firmware_version_is_required() -> None:
    assert parse_heartbeat(_body(firmware_version="2.0.0-rc1")) == Heartbeat("2.0.0-rc1")


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
