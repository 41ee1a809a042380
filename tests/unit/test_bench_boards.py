"""The board benchmark's arithmetic (``tools/bench_boards``): percentiles, the windows,
failures by kind, the goal, and what it reads of nginx's logs."""

from __future__ import annotations

import pytest

from picohub.firmware.manifest import Manifest, make_manifest
from picohub.firmware.testimage import generate_test_image
from picohub.firmware.uf2 import BOARDS
from tools.bench_boards.report import connections, download_failures, served
from tools.bench_boards.settings import address
from tools.bench_boards.stats import (
    Beat,
    failures,
    goal_met,
    latencies,
    percentile,
    ratio,
    within,
)


def _beat(sent: float, latency: float = 0.01, status: int = 200, error: str | None = None) -> Beat:
    return Beat("board-001", due=sent, sent=sent, done=sent + latency, status=status, error=error)


def test_percentile_by_nearest_rank_is_always_a_measured_value() -> None:
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    # Ten values: p99's rank is ceil(9.9) = 10, the largest; p50's is 5.
    ten = [0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 2.0]
    assert percentile(ten, 99) == 2.0
    assert percentile(ten, 50) == 0.5
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_no_values_and_a_rank_outside_0_100() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within 0-100"):
        percentile([1.0], 101)


def test_latencies_count_only_answered_heartbeats() -> None:
    beats = [_beat(float(i), latency=0.001 * (i + 1)) for i in range(100)]
    beats.append(_beat(200.0, latency=9.0, status=0, error="TimeoutError"))
    figures = latencies(beats)
    assert figures["count"] == 100
    assert figures["p50_s"] == pytest.approx(0.050)
    assert figures["p99_s"] == pytest.approx(0.099)
    assert figures["max_s"] == pytest.approx(0.100)
    assert latencies([_beat(0.0, status=429)]) == {
        "count": 0,
        "p50_s": None,
        "p99_s": None,
        "max_s": None,
    }


def test_windows_split_beats_by_when_they_were_sent() -> None:
    beats = [_beat(t) for t in (4.9, 5.0, 29.9, 30.0, 61.0)]
    assert [b.sent for b in within(beats, 5.0, 30.0)] == [5.0, 29.9]
    assert [b.sent for b in within(beats, 30.0, 61.0)] == [30.0]


def test_failures_by_kind_the_status_or_the_error() -> None:
    beats = [
        _beat(0.0),
        _beat(1.0, status=429),
        _beat(2.0, status=429),
        _beat(3.0, status=0, error="ConnectionRefusedError"),
    ]
    assert failures(beats) == {"429": 2, "ConnectionRefusedError": 1}


def test_the_goal_needs_no_failure_and_p99_within_the_limit() -> None:
    assert ratio(0.030, 0.015) == pytest.approx(2.0)
    assert ratio(None, 0.015) is None
    assert ratio(0.030, None) is None
    assert goal_met(0, 2.0, 2.0)  # exactly 2 x: met
    assert not goal_met(0, 2.01, 2.0)
    assert not goal_met(1, 1.0, 2.0)
    assert not goal_met(0, None, 2.0)  # nothing measured: not met


def test_every_board_has_its_own_loopback_address() -> None:
    assert address(1, 0) == "127.1.0.1"
    assert address(2, 249) == "127.2.0.250"
    assert address(2, 250) == "127.2.1.1"
    assert len({address(1, i) for i in range(1000)}) == 1000


def test_what_nginx_logged_the_image_bytes_and_the_statuses() -> None:
    access = "\n".join(
        [
            '127.2.0.1 - - [06/Dec/2026:10:27:39 +0000] "GET /api/firmware/image HTTP/1.1" '
            '200 2097664 "-" "picohub-bench-board"',
            '127.2.0.2 - - [06/Dec/2026:10:27:39 +0000] "GET /api/firmware/image HTTP/1.1" '
            '429 131 "-" "picohub-bench-board"',
            '127.1.0.1 - - [06/Dec/2026:10:27:40 +0000] "POST /api/devices/board-001/heartbeat '
            'HTTP/1.1" 200 52 "-" "Python-urllib/3.11"',
            '127.2.0.1 - - [06/Dec/2026:10:27:38 +0000] "GET /api/firmware/manifest HTTP/1.1" '
            '200 900 "-" "-"',
            "not a log line",
        ]
    )
    seen = served(access, "2026/12/06 10:27:39 [error] limiting connections by zone\n\n")
    assert seen["requests"] == {
        "GET image 200": 1,
        "GET image 429": 1,
        "GET manifest 200": 1,
        "POST heartbeat 200": 1,
    }
    assert seen["image_bytes_sent"] == 2097664  # not the 429's error page
    assert seen["client_addresses"] == {"heartbeat": 1, "image": 2, "manifest": 1}
    assert seen["error_log_lines"] == 1


def test_nginx_connections_are_read_from_proc_net_tcp() -> None:
    table = "\n".join(
        [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt",
            # nginx's side of two downloads from 127.2.0.1 and 127.2.0.2 (port 8780 = 224C)
            "   0: 0100007F:224C 0100027F:9C40 01 00004000:00000000 00:00000000 00000000 0",
            "   1: 0100007F:224C 0200027F:9C41 01 00001000:00000000 00:00000000 00000000 0",
            # closed by nginx, its queue still draining to 127.2.0.1
            "   2: 0100007F:224C 0100027F:9C42 04 00100000:00000000 00:00000000 00000000 0",
            # a board's own side, the listening socket: not counted
            "   3: 0100027F:9C40 0100007F:224C 01 00000000:00000000 00:00000000 00000000 0",
            "   4: 00000000:224C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0",
        ]
    )
    assert connections(table, 8780) == {
        "states": {"established": 2, "fin_wait1": 1},
        "client_addresses": 2,
        "most_from_one_address": 2,
        "send_queue_bytes": 0x4000 + 0x1000 + 0x100000,
    }


def _download(**fields: object) -> dict[str, object]:
    image = _manifest()
    return {
        "manifest_status": 200,
        "status": 200,
        "received": image.size,
        "sha256": image.sha256,
        "error": None,
        **fields,
    }


def _manifest() -> Manifest:
    board = BOARDS["pico_w"]
    data = generate_test_image(board, "1.0.0")
    return make_manifest(
        data, board, firmware_version="1.0.0", package_version="1", test_image=True
    )


def test_failed_downloads_count_each_failed_request() -> None:
    image = _manifest()
    assert download_failures(_download(), image) == []
    assert download_failures(_download(manifest_status=429, status=429), image) == [
        "manifest 429",
        "image 429",
    ]
    assert download_failures(_download(manifest_status=429), image) == ["manifest 429"]
    # No answer to the manifest request: the image was never asked for.
    assert download_failures(
        _download(manifest_status=0, status=0, received=0, error="ConnectionRefusedError"), image
    ) == ["manifest ConnectionRefusedError"]
    assert download_failures(_download(received=image.size - 1), image) == ["image short read"]
    assert download_failures(_download(sha256="0" * 64), image) == ["image sha256 mismatch"]
    assert download_failures(_download(status=0, received=0, error="TimeoutError"), image) == [
        "image TimeoutError"
    ]
    # Every byte came, then the connection failed before the close: still a failure.
    assert download_failures(_download(error="ConnectionResetError"), image) == [
        "image ConnectionResetError"
    ]
