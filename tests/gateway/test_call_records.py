"""What the call-record routes make of stored values: cursors, status filters, the status a call
shows, the minutes of a history, a result's description, and server-sent events."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from wharf_gateway.api.call_records import (
    HISTORY_MINUTES,
    decode_cursor,
    encode_cursor,
    minutes_json,
    parse_statuses,
    result_json,
    shown_status,
)
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.models import CallDetails, CallStatus, CallSummary, StoredResult
from wharf_gateway.responses import sse_event

SUMMARY = CallSummary(
    "fc-1", "ap-1", "shop", "square", CallStatus.SUCCESS, 1_700_000_000.25, None, "json"
)
NO_RESULT = StoredResult(None, None, None, None, None, None, None, False)


def test_a_cursor_comes_back_as_it_went_and_nothing_else_passes() -> None:
    after = (SUMMARY.created_at, SUMMARY.call_id)
    assert decode_cursor(encode_cursor(after)) == (1_700_000_000.25, "fc-1")
    for bad in ("", "!!!", base64.urlsafe_b64encode(b'[true, "fc-1"]').decode(), "W1td"):
        with pytest.raises(InvalidRequest, match="next_cursor"):
            decode_cursor(bad)


def test_statuses_come_as_a_comma_separated_list() -> None:
    assert parse_statuses(None) == frozenset()
    assert parse_statuses(" success, failure ,") == {CallStatus.SUCCESS, CallStatus.FAILURE}
    with pytest.raises(InvalidRequest, match="'done'"):
        parse_statuses("success,done")


def test_a_pending_call_in_a_container_or_a_web_request_shows_as_running() -> None:
    pending = replace(SUMMARY, status=CallStatus.PENDING)
    assert shown_status(pending, is_running=False) is CallStatus.PENDING
    assert shown_status(pending, is_running=True) is CallStatus.RUNNING
    web = replace(pending, payload_format="web")
    assert shown_status(web, is_running=False) is CallStatus.RUNNING
    assert shown_status(SUMMARY, is_running=True) is CallStatus.SUCCESS


def test_every_minute_of_the_history_is_there() -> None:
    minutes = minutes_json([(0, 2, 0.1, 0.2), (59, 1, 0.5, 0.5)], 600.0)
    assert len(minutes) == HISTORY_MINUTES
    assert minutes[0] == {"start": 600.0, "calls": 2, "p50_s": 0.1, "p99_s": 0.2}
    assert minutes[1] == {"start": 660.0, "calls": 0, "p50_s": None, "p99_s": None}
    assert minutes[-1]["calls"] == 1


def _details(status: CallStatus, result: StoredResult, payload_format: str = "json") -> CallDetails:
    summary = replace(SUMMARY, status=status, payload_format=payload_format)
    return CallDetails(summary, 1, None, 10, None, result)


def test_a_result_is_described_by_its_form_and_size(tmp_path: Path) -> None:
    def path_of(sha256: str) -> Path:
        return tmp_path / sha256

    def described(details: CallDetails) -> object:
        found = asyncio.run(result_json(details, path_of))
        return None if found is None else orjson.loads(orjson.dumps(found))

    assert described(_details(CallStatus.RUNNING, NO_RESULT)) is None
    assert described(_details(CallStatus.FAILURE, NO_RESULT)) is None
    expired = replace(NO_RESULT, expired=True)
    assert described(_details(CallStatus.SUCCESS, expired)) == {"expired": True}
    shown = replace(NO_RESULT, json_bytes=7, json_preview=b'{"a":1}')
    assert described(_details(CallStatus.SUCCESS, shown)) == {
        "format": "json",
        "bytes": 7,
        "value": {"a": 1},
        "truncated": False,
    }
    path_of("a" * 64).write_bytes(b"x" * 100)
    stored_apart = replace(NO_RESULT, json_sha256="a" * 64)
    assert described(_details(CallStatus.SUCCESS, stored_apart)) == {
        "format": "json",
        "bytes": 100,
        "truncated": True,
    }
    pickled = replace(NO_RESULT, pickle_bytes=40, json_error="a set is not JSON")
    assert described(_details(CallStatus.SUCCESS, pickled)) == {
        "format": "pickle",
        "bytes": 40,
        "json_error": "a set is not JSON",
    }
    gone = replace(NO_RESULT, pickle_sha256="0" * 64)
    web = _details(CallStatus.SUCCESS, gone, payload_format="web")
    assert described(web) == {"format": "web", "http_status": None, "bytes": None}


def test_server_sent_events_carry_a_name_and_an_id_when_given() -> None:
    assert sse_event(b"1") == b"data: 1\n\n"
    assert sse_event(b'{"a":1}', "log", 7) == b'event: log\nid: 7\ndata: {"a":1}\n\n'
