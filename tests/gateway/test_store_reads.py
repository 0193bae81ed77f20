"""The store's reads for people looking on (the dashboard), over a real SQLite file: recent
calls by filter and cursor, a call's details, per-minute history, filtered logs."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import wharf_gateway.storage.reports as reports_module
from wharf_gateway.models import AppState, CallStatus
from wharf_gateway.storage.calls import NewCall, StoredOutcome
from wharf_gateway.storage.database import Database
from wharf_gateway.storage.reports import PREVIEW_BYTES, CallQuery, LogQuery, Reports
from wharf_gateway.storage.store import Store


@asynccontextmanager
async def _open_store(path: Path) -> AsyncIterator[tuple[Store, Reports]]:
    database = await Database.open(path)
    try:
        yield Store(database), Reports(database)
    finally:
        await database.close()


async def _app(store: Store, workspace_id: str, name: str, functions: list[str]) -> list[str]:
    _, records = await store.deploy_app(
        workspace_id,
        name,
        AppState.DEPLOYED,
        [{"name": function} for function in functions],
        ("0" * 64, "m", "app"),
        {},
        None,
    )
    return [record.function_id for record in records]


async def _call(
    store: Store, workspace_id: str, call_id: str, function_id: str, created_at: float
) -> None:
    await store.insert_call(
        NewCall(
            call_id,
            workspace_id,
            function_id,
            None,
            "json",
            b"{}",
            None,
            True,
            False,
            created_at,
            payload_bytes=2,
        )
    )


async def _finish(store: Store, call_id: str, status: CallStatus, json: bytes | None) -> None:
    outcome = StoredOutcome(status, None, None, json, None, None, None)
    await store.finish_call(call_id, outcome, 1, time.time() + 3600)


def _set_duration(path: Path, call_id: str, duration_s: float) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE calls SET finished_at = created_at + ? WHERE id = ?", (duration_s, call_id)
        )


def test_recent_calls_are_filtered_and_paged_newest_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "w.db") as (store, reports):
            ws_a, ws_b = await store.create_workspace("a"), await store.create_workspace("b")
            square, cube = await _app(store, ws_a, "shop", ["square", "cube"])
            (elsewhere,) = await _app(store, ws_b, "shop", ["square"])
            now = time.time()
            for index in range(4):
                await _call(store, ws_a, f"fc-{index}", square if index % 2 else cube, now + index)
            # Two calls made at the same moment are told apart by their ids.
            await _call(store, ws_a, "fc-4", square, now + 3)
            await _call(store, ws_b, "fc-x", elsewhere, now + 9)
            await _finish(store, "fc-1", CallStatus.FAILURE, None)

            async def ids(**filters: Any) -> list[str]:
                query = CallQuery(ws_a, 10, **filters)
                calls, _ = await reports.recent_calls(query)
                return [call.call_id for call in calls]

            assert await ids() == ["fc-4", "fc-3", "fc-2", "fc-1", "fc-0"]
            assert await ids(function_name="square") == ["fc-4", "fc-3", "fc-1"]
            assert await ids(statuses=(CallStatus.FAILURE,)) == ["fc-1"]
            assert await ids(statuses=(CallStatus.PENDING,)) == ["fc-4", "fc-3", "fc-2", "fc-0"]
            assert await ids(before=(now + 3, "fc-4")) == ["fc-3", "fc-2", "fc-1", "fc-0"]
            assert await ids(before=(now + 2, "fc-2")) == ["fc-1", "fc-0"]
            apps = await store.list_apps(ws_a)
            assert await ids(app_id=apps[0].app_id) == ["fc-4", "fc-3", "fc-2", "fc-1", "fc-0"]
            assert await ids(app_id="ap-of-another") == []
            (listed,), after = await reports.recent_calls(CallQuery(ws_b, 10))
            assert after is None  # the last page
            assert (listed.call_id, listed.app_name, listed.function_name) == (
                "fc-x",
                "shop",
                "square",
            )

    asyncio.run(scenario())


def test_history_gives_calls_and_nearest_rank_percentiles_per_bucket(tmp_path: Path) -> None:
    path = tmp_path / "w.db"

    async def scenario() -> None:
        async with _open_store(path) as (store, reports):
            ws_a = await store.create_workspace("a")
            (square,) = await _app(store, ws_a, "shop", ["square"])
            start = 1_000_000.0
            durations = [0.1 * n for n in range(1, 11)]  # ten calls in the first minute
            for index, duration_s in enumerate(durations):
                call_id = f"fc-a{index}"
                await _call(store, ws_a, call_id, square, start + index)
                await _finish(store, call_id, CallStatus.SUCCESS, b"1")
                _set_duration(path, call_id, duration_s)
            # The third minute: one success, one still running, one cancelled.
            await _call(store, ws_a, "fc-b0", square, start + 125)
            await _finish(store, "fc-b0", CallStatus.SUCCESS, b"1")
            _set_duration(path, "fc-b0", 2.0)
            await _call(store, ws_a, "fc-b1", square, start + 126)
            await _call(store, ws_a, "fc-b2", square, start + 127)
            await _finish(store, "fc-b2", CallStatus.CANCELLED, None)
            await _call(store, ws_a, "fc-old", square, start - 1)  # before the window

            rows = await reports.call_history(
                (await store.list_apps(ws_a))[0].app_id, "square", start, 60.0
            )
            assert [row[:2] for row in rows] == [(0, 10), (2, 3)]
            assert rows[0][2] == durations[4]  # p50 of ten: the 5th
            assert rows[0][3] == durations[9]  # p99 of ten: the 10th
            assert rows[1][2:] == (2.0, 2.0)  # only the success has a duration of its own

    asyncio.run(scenario())


def test_a_filtered_log_read_goes_on_past_the_lines_it_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "w.db") as (store, reports):
            now = time.time()
            await store.append_logs(
                [
                    ("ap-1", "square", "ct-1", "stdout", "hello", now),
                    ("ap-1", "cube", "ct-2", "stderr", "Hello World", now),
                    ("ap-2", "square", "ct-3", "stdout", "hello elsewhere", now),
                    ("ap-1", "square", "ct-1", "stdout", "bye", now),
                ]
            )
            lines, after = await reports.logs(LogQuery("ap-1", 0, 10, contains="HELLO"))
            assert [line["line"] for line in lines] == ["hello", "Hello World"]
            assert after == 4  # past the last line stored, which did not match
            lines, after = await reports.logs(LogQuery("ap-1", 0, 10, function_name="square"))
            assert [line["line"] for line in lines] == ["hello", "bye"]
            lines, after = await reports.logs(LogQuery("ap-1", 0, 1))
            assert ([line["id"] for line in lines], after) == ([1], 1)
            assert await reports.logs(LogQuery("ap-1", 4, 10)) == ([], 4)

    asyncio.run(scenario())


def test_call_details_carry_sizes_and_a_preview_only_of_small_results(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _open_store(tmp_path / "w.db") as (store, reports):
            ws_a, ws_b = await store.create_workspace("a"), await store.create_workspace("b")
            (square,) = await _app(store, ws_a, "shop", ["square"])
            await _call(store, ws_a, "fc-small", square, time.time())
            await _finish(store, "fc-small", CallStatus.SUCCESS, b"[1,2]")
            large = b'"' + b"x" * PREVIEW_BYTES + b'"'
            await _call(store, ws_a, "fc-large", square, time.time())
            await _finish(store, "fc-large", CallStatus.SUCCESS, large)

            small = await reports.call_details(ws_a, "fc-small")
            assert small is not None
            assert (small.payload_bytes, small.attempt, small.summary.function_name) == (
                2,
                1,
                "square",
            )
            assert (small.result.json_bytes, small.result.json_preview) == (5, b"[1,2]")
            big = await reports.call_details(ws_a, "fc-large")
            assert big is not None
            assert (big.result.json_bytes, big.result.json_preview) == (len(large), None)
            assert await reports.call_details(ws_b, "fc-small") is None

    asyncio.run(scenario())


def test_a_listing_looks_through_a_bounded_number_of_calls_and_pages_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_module, "SCAN_CALLS", 3)

    async def scenario() -> None:
        async with _open_store(tmp_path / "w.db") as (store, reports):
            ws_a = await store.create_workspace("a")
            square, cube = await _app(store, ws_a, "shop", ["square", "cube"])
            now = time.time()
            await _call(store, ws_a, "fc-0", cube, now)  # the only cube call: the oldest
            for index in range(1, 8):
                await _call(store, ws_a, f"fc-{index}", square, now + index)
            # Each page looks through 3 calls: cube's call is reached on the third.
            found: list[str] = []
            pages = 0
            before = None
            while True:
                query = CallQuery(ws_a, 10, function_name="cube", before=before)
                calls, before = await reports.recent_calls(query)
                found += [call.call_id for call in calls]
                pages += 1
                if before is None:
                    break
            assert (found, pages) == (["fc-0"], 3)

    asyncio.run(scenario())
