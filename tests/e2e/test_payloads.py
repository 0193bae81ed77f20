"""Arguments and results over 2 MiB travel as blobs: sent once by content hash, streamed to
and from disk, readable only by their workspace."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import wharf as modal
from wharf.exception import InvalidError
from wharf.frames import pack_frame
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

PAYLOAD_APP = """
    import hashlib

    import wharf as modal

    app = modal.App("payloads")


    @app.function()
    def digest(data: bytes) -> list:
        return [len(data), hashlib.sha256(data).hexdigest()]


    @app.function()
    def make(size: int, seed: int = 0) -> bytes:
        return bytes([seed % 256]) * size


    @app.function()
    def text(size: int) -> str:
        return "x" * size


    @app.function(retries=0)
    def forge(name: str) -> str:
        # User code shares the agent's process: it can make the agent hand back any blob name.
        import dataclasses

        import wharf_runner.agent.main

        async def forged(output):
            blobs = {"json": None, "json_blob": name, "pickled": None, "pickled_blob": name}
            return dataclasses.replace(output, **blobs)

        wharf_runner.agent.main.offload_value = forged
        return "forged"


    @app.function(max_containers=1)
    def pause(data: str, seconds: float) -> int:
        import time

        time.sleep(seconds)
        return len(data)
"""

MIB = 1024 * 1024


@pytest.fixture
def payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, PAYLOAD_APP, max_blob_bytes=64 * MIB) as gateway:
        yield gateway


def _blob_files(gateway: RunningGateway) -> dict[str, int]:
    root = gateway.config.blob_dir
    return {path.name: path.stat().st_size for path in root.glob("*/*") if path.is_file()}


def test_large_arguments_travel_as_a_blob_stored_once(payloads: RunningGateway) -> None:
    data = os.urandom(24 * MIB)
    digest = modal.Function.from_name("payloads", "digest")
    expected = [len(data), hashlib.sha256(data).hexdigest()]
    assert digest.remote(data) == expected
    assert digest.remote(data) == expected  # the same bytes: sent and stored once
    blobs = _blob_files(payloads)
    arguments = [name for name, size in blobs.items() if size > 24 * MIB]
    assert len(arguments) == 1  # one file, content-addressed, for both calls
    call = digest.spawn(data)
    assert call.get(timeout=scaled(60)) == expected
    details = httpx.get(
        f"{payloads.url}/v1/calls/{call.object_id}/details",
        headers={"authorization": payloads.authorization},
    ).json()
    assert details["args"]["bytes"] == max(blobs.values())  # the blob's size, not 0


def test_large_results_stream_back_to_python_and_to_json_callers(
    payloads: RunningGateway,
) -> None:
    make = modal.Function.from_name("payloads", "make")
    value = make.remote(20 * MIB, seed=7)
    assert value == bytes([7]) * (20 * MIB)
    call = make.spawn(5 * MIB, seed=9)
    assert call.get(timeout=scaled(60)) == bytes([9]) * (5 * MIB)
    # A non-Python caller gets the JSON form, streamed from the stored blob.
    response = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/text/calls",
        json={"args": [3 * MIB]},
        headers={"authorization": payloads.authorization},
        timeout=scaled(60),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert orjson.loads(response.content) == "x" * (3 * MIB)
    again = httpx.get(
        f"{payloads.url}/v1/calls/{response.headers['wharf-call-id']}",
        headers={"authorization": payloads.authorization},
        timeout=scaled(60),
    )
    assert orjson.loads(again.content) == "x" * (3 * MIB)


def test_map_inputs_and_outputs_over_the_inline_limit(payloads: RunningGateway) -> None:
    digest = modal.Function.from_name("payloads", "digest")
    inputs = [os.urandom(3 * MIB), b"small", os.urandom(3 * MIB)]
    expected = [[len(item), hashlib.sha256(item).hexdigest()] for item in inputs]
    assert list(digest.map(inputs)) == expected
    make = modal.Function.from_name("payloads", "make")
    outputs = list(make.map([3 * MIB, 10, 4 * MIB], kwargs={"seed": 1}))
    assert [len(item) for item in outputs] == [3 * MIB, 10, 4 * MIB]
    assert all(set(item) == {1} for item in outputs)


def test_ndjson_map_streams_a_large_json_result(payloads: RunningGateway) -> None:
    response = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/text/map",
        content=f'{{"args": [{3 * MIB}]}}\n{{"args": [2]}}\n'.encode(),
        headers={"authorization": payloads.authorization},
        timeout=scaled(60),
    )
    assert response.status_code == 200
    lines = sorted(map(orjson.loads, response.content.splitlines()), key=lambda i: i["index"])
    assert lines == [{"index": 0, "result": "x" * (3 * MIB)}, {"index": 1, "result": "xx"}]


def test_a_result_over_the_blob_limit_fails_with_a_clear_error(payloads: RunningGateway) -> None:
    make = modal.Function.from_name("payloads", "make")
    with pytest.raises(ValueError, match="the result could not be sent back: the blob of "):
        make.remote(65 * MIB)
    assert make.remote(3) == b"\0\0\0"  # the container is fine


def test_arguments_over_the_gateway_limit_get_413(payloads: RunningGateway) -> None:
    digest = modal.Function.from_name("payloads", "digest")
    with pytest.raises(InvalidError, match=r"limit of 67,108,864 bytes .*--max-blob-mb"):
        digest.remote(b"\1" * (65 * MIB))


def test_the_client_refuses_arguments_over_1_gib_before_sending() -> None:
    from wharf._blobs import MAX_PAYLOAD_BYTES, upload

    flow = upload(bytes(MAX_PAYLOAD_BYTES + 1), "the call's arguments")
    with pytest.raises(InvalidError, match="over the limit of 1,074,790,400 bytes"):
        next(flow)


def test_the_blob_api_checks_names_hashes_and_workspaces(payloads: RunningGateway) -> None:
    auth = {"authorization": payloads.authorization}
    data = os.urandom(MIB)
    sha256 = hashlib.sha256(data).hexdigest()
    base = f"{payloads.url}/v1/blobs"
    info = httpx.get(f"{base}/{sha256}/info", headers=auth)
    assert info.json() == {"sha256": sha256, "stored": False, "size": None}
    wrong = httpx.put(f"{base}/{'0' * 64}", content=data, headers=auth)
    assert wrong.status_code == 400
    assert f"hash to {sha256}" in wrong.json()["error"]["message"]
    bad_name = httpx.put(f"{base}/not-a-hash", content=data, headers=auth)
    assert bad_name.status_code == 400
    assert "64 lower-case hex digits" in bad_name.json()["error"]["message"]
    too_big = httpx.put(f"{base}/{sha256}", content=bytes(65 * MIB), headers=auth)
    assert too_big.status_code == 413
    stored = httpx.put(f"{base}/{sha256}", content=data, headers=auth)
    assert stored.status_code == 201
    assert stored.json() == {"sha256": sha256, "size": MIB}
    assert httpx.get(f"{base}/{sha256}/info", headers=auth).json()["stored"] is True
    assert httpx.get(f"{base}/{sha256}", headers=auth).content == data
    assert httpx.get(f"{base}/{'0' * 64}", headers=auth).status_code == 404
    # Another workspace cannot read it, nor claim it by its name alone.
    other = asyncio.run(create_workspace(payloads.config, "other-payloads"))
    theirs = {"authorization": f"Bearer {other.token_id}:{other.secret}"}
    assert httpx.get(f"{base}/{sha256}", headers=theirs).status_code == 404
    assert httpx.get(f"{base}/{sha256}/info", headers=theirs).json()["stored"] is False
    claim = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/digest/calls",
        headers={**theirs, "wharf-payload-blob": sha256},
    )
    assert claim.status_code in (400, 404)
    # Sending the bytes proves it has them: then it may use the one stored copy.
    assert httpx.put(f"{base}/{sha256}", content=data, headers=theirs).status_code == 201
    assert httpx.get(f"{base}/{sha256}", headers=theirs).content == data


def test_calls_naming_a_blob_are_checked(payloads: RunningGateway) -> None:
    auth = {"authorization": payloads.authorization}
    calls = f"{payloads.url}/v1/apps/payloads/functions/digest/calls"
    missing = httpx.post(calls, headers={**auth, "wharf-payload-blob": "a" * 64})
    assert missing.status_code == 400
    assert "PUT the arguments" in missing.json()["error"]["message"]
    arguments = orjson.dumps({"args": ["ignored"]})
    sha256 = hashlib.sha256(arguments).hexdigest()
    httpx.put(f"{payloads.url}/v1/blobs/{sha256}", content=arguments, headers=auth)
    both = httpx.post(calls, content=b"{}", headers={**auth, "wharf-payload-blob": sha256})
    assert both.status_code == 400
    assert "empty body" in both.json()["error"]["message"]
    # A JSON caller may name a blob of JSON arguments too (checked in the container).
    text_sha = hashlib.sha256(b'{"args": [5]}').hexdigest()
    httpx.put(f"{payloads.url}/v1/blobs/{text_sha}", content=b'{"args": [5]}', headers=auth)
    response = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/text/calls",
        headers={**auth, "wharf-payload-blob": text_sha},
        timeout=scaled(30),
    )
    assert response.json() == "xxxxx"


def test_blobs_nothing_names_any_more_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(
        tmp_path,
        monkeypatch,
        PAYLOAD_APP,
        result_ttl_s=1.0,
        expiry_interval_s=0.2,
        blob_sweep_interval_s=0.2,
    ) as gateway:
        digest = modal.Function.from_name("payloads", "digest")
        make = modal.Function.from_name("payloads", "make")
        data = os.urandom(3 * MIB)
        assert digest.remote(data)[0] == len(data)
        call = make.spawn(3 * MIB)
        assert len(call.get(timeout=scaled(30))) == 3 * MIB
        assert len([size for size in _blob_files(gateway).values() if size > 2 * MIB]) == 2
        # Past the retention, the results expire and the payload files go with them; the
        # app's bundle stays, and the app still works.
        wait_until(lambda: all(size < 2 * MIB for size in _blob_files(gateway).values()))
        with pytest.raises(modal.exception.OutputExpiredError):
            call.get(timeout=scaled(5))
        assert _blob_files(gateway)  # the bundle
        assert digest.remote(data)[0] == len(data)


def test_maps_batch_inputs_by_bytes_within_what_the_gateway_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This gateway takes 2 MiB per request: 64 inputs of 256 KiB go in many batches.
    with serving_app(tmp_path, monkeypatch, PAYLOAD_APP, max_body_bytes=2 * MIB) as gateway:
        inputs = [os.urandom(256 * 1024) for _ in range(64)]
        digest = modal.Function.from_name("payloads", "digest")
        expected = [[len(item), hashlib.sha256(item).hexdigest()] for item in inputs]
        assert list(digest.map(inputs)) == expected
        # The gateway holds at most 4 requests' worth of input bytes for one map.
        auth = {"authorization": gateway.authorization}
        opened = httpx.post(
            f"{gateway.url}/v1/apps/payloads/functions/pause/maps",
            json={"format": "json"},
            headers=auth,
        ).json()
        assert opened["max_batch_bytes"] == MIB
        assert opened["max_input_bytes"] == 8 * MIB
        payload = orjson.dumps({"args": ["p" * (MIB - 100), 30]})
        frame = pack_frame({"sizes": [len(payload)]}, [payload])
        inputs_url = f"{gateway.url}/v1/maps/{opened['map_id']}/inputs"
        answers = [httpx.post(inputs_url, content=frame, headers=auth) for _ in range(9)]
        assert [answer.status_code for answer in answers] == [200] * 8 + [429]
        assert "bytes of inputs waiting or running" in answers[-1].json()["error"]["message"]
        httpx.delete(f"{gateway.url}/v1/maps/{opened['map_id']}", headers=auth)


def test_a_container_cannot_hand_back_another_workspaces_blob(payloads: RunningGateway) -> None:
    other = asyncio.run(create_workspace(payloads.config, "victim"))
    theirs = {"authorization": f"Bearer {other.token_id}:{other.secret}"}
    secret = b"the victim's data " * 1000
    sha256 = hashlib.sha256(secret).hexdigest()
    assert httpx.put(f"{payloads.url}/v1/blobs/{sha256}", content=secret, headers=theirs).is_success
    auth = {"authorization": payloads.authorization}
    called = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/forge/calls",
        json={"args": [sha256]},
        headers=auth,
        timeout=scaled(30),
    )
    assert called.status_code == 500
    assert "which this workspace does not have" in called.json()["error"]["message"]
    mapped = httpx.post(
        f"{payloads.url}/v1/apps/payloads/functions/forge/map",
        content=orjson.dumps({"args": [sha256]}) + b"\n",
        headers=auth,
        timeout=scaled(30),
    )
    assert b"the victim" not in mapped.content
    assert "which this workspace does not have" in mapped.json()["error"]["message"]


def test_blob_names_that_are_not_sha256_never_reach_the_file_system(tmp_path: Path) -> None:
    from wharf_gateway.storage.blobs import BlobStore
    from wharf_runner import ProtocolError
    from wharf_runner.channel.envelope import Output, OutputStatus, decode_output, encode_output

    escape = "../../../../../../../../../../../../etc/./././././././././passwd"
    assert len(escape) == 64
    with pytest.raises(ValueError, match="is not a blob name"):
        BlobStore.path_of(BlobStore.__new__(BlobStore), escape)
    forged = Output(OutputStatus.SUCCESS, None, None, None, None, json_blob=escape)
    with pytest.raises(ProtocolError, match="bad blob name"):
        decode_output(encode_output(forged))
