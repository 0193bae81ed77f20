"""GPUs: a container gets the GPUs it asks for exclusively, in order of preference; what no
runner has fails at once with 503; what is busy waits. The local backend stands in for Docker
here (a GPU inventory file, and `CUDA_VISIBLE_DEVICES` telling each container its GPUs)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import wharf as modal

from tests.helpers import RunningGateway, serving_app

GPU_APP = """
    import os
    import time

    import wharf as modal

    app = modal.App("gpus")


    @app.function(gpu="T4")
    def on_t4(seconds: float) -> str:
        time.sleep(seconds)
        return os.environ["CUDA_VISIBLE_DEVICES"]


    @app.function(gpu=["H100", "A10G"])
    def prefers_h100() -> str:
        return os.environ["CUDA_VISIBLE_DEVICES"]


    @app.function(gpu="H100:2")
    def two_h100() -> str:
        return os.environ["CUDA_VISIBLE_DEVICES"]


    @app.function()
    def no_gpu() -> str:
        return os.environ["CUDA_VISIBLE_DEVICES"]
"""


@pytest.fixture
def gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    inventory = tmp_path / "gpus.json"
    inventory.write_text(
        json.dumps(
            {
                "gpus": [
                    {"id": "0", "type": "T4"},
                    {"id": "1", "type": "T4"},
                    {"id": "7", "type": "A10G"},
                ]
            }
        )
    )
    with serving_app(tmp_path, monkeypatch, GPU_APP, gpu_config=inventory) as gateway:
        yield gateway


def test_containers_get_their_gpus_exclusively_and_busy_ones_are_waited_for(
    gpus: RunningGateway,
) -> None:
    on_t4 = modal.Function.from_name("gpus", "on_t4")
    with ThreadPoolExecutor(3) as pool:
        seen = list(pool.map(lambda _: on_t4.remote(1.0), range(3)))

    assert set(seen) <= {"0", "1"}
    assert len(set(seen)) == 2  # two containers at once, one GPU each; the third input waited
    assert modal.Function.from_name("gpus", "no_gpu").remote() == ""


def test_a_list_is_tried_in_order(gpus: RunningGateway) -> None:
    assert modal.Function.from_name("gpus", "prefers_h100").remote() == "7"  # no H100: the A10G


def test_what_no_runner_has_fails_at_once_with_503(gpus: RunningGateway) -> None:
    with pytest.raises(modal.exception.NoCapacityError, match=r"H100:2 GPU\(s\)") as refused:
        modal.Function.from_name("gpus", "two_h100").remote()
    assert "2 x T4, 1 x A10G" in str(refused.value)

    answer = httpx.post(
        f"{gpus.url}/v1/apps/gpus/functions/two_h100/calls",
        json={"args": [], "kwargs": {}},
        headers={"authorization": gpus.authorization},
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "no_capacity"


def test_a_malformed_gpu_request_fails_the_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = GPU_APP.replace('gpu="T4"', 'gpu="T4:9"')
    with pytest.raises(modal.InvalidError, match="a GPU count is 1 to 8"):
        with serving_app(tmp_path, monkeypatch, source):
            pass


FLEET_APP = """
    import os

    import wharf as modal

    app = modal.App("fleet")


    @app.function(gpu="L40S")
    def on_l40s() -> str:
        return os.environ["CUDA_VISIBLE_DEVICES"]


    @app.function(gpu="B200")
    def on_b200() -> str:
        return "never"
"""


def test_the_local_backend_finds_any_gpu_through_nvidia_smi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the local backend ran only what --gpu-config listed, and an L40S was no type.
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "nvidia-smi").write_text(
        "#!/bin/sh\necho '0, NVIDIA L40S, 46068'\necho '1, NVIDIA GeForce RTX 4090, 24564'\n"
    )
    (tools / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    with serving_app(tmp_path, monkeypatch, FLEET_APP):
        assert modal.Function.from_name("fleet", "on_l40s").remote() == "0"
        with pytest.raises(modal.exception.NoCapacityError) as refused:
            modal.Function.from_name("fleet", "on_b200").remote()
        assert "1 x L40S, 1 x RTX-4090" in str(refused.value)
