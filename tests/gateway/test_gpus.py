"""GPU requests, inventories and the allocator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wharf_gateway.scheduling.gpus import (
    Gpu,
    GpuAllocator,
    GpuRequest,
    normalize_type,
    parse_request,
    read_inventory,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T4", GpuRequest("T4")),
        ("h100:2", GpuRequest("H100", 2)),
        ("any", GpuRequest("any")),
        ("l40s", GpuRequest("L40S")),
        ("A100-80GB:4", GpuRequest("A100-80GB", 4)),
        ("a100-40gb", GpuRequest("A100")),
        ("rtx-a6000", GpuRequest("RTX-A6000")),
        ("RTX 4090", GpuRequest("RTX-4090")),
        ("B300", GpuRequest("B300")),  # an open set: what no runner has is refused per call
    ],
)
def test_requests_are_parsed(text: str, expected: GpuRequest) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize("text", ["T4:0", "T4:9", "T4:two", "", ":2"])
def test_bad_requests_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="GPU"):
        parse_request(text)


@pytest.mark.parametrize(
    ("name", "memory", "expected"),
    [
        ("Tesla T4", 15360, "T4"),
        ("NVIDIA L4", 23034, "L4"),
        ("NVIDIA A10G", 23028, "A10G"),
        ("NVIDIA A100-SXM4-40GB", 40960, "A100"),
        ("NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"),
        ("NVIDIA H100 80GB HBM3", 81559, "H100"),
        ("NVIDIA H200", 143771, "H200"),
        ("NVIDIA H100 PCIe", 81559, "H100"),
        ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB"),
        # Before: each of these came back as no type at all, and the GPU was left out.
        ("NVIDIA L40S", 46068, "L40S"),
        ("NVIDIA A10", 23028, "A10"),
        ("NVIDIA B200", 183359, "B200"),
        ("NVIDIA GeForce RTX 4090", 24564, "RTX-4090"),
        ("NVIDIA RTX A6000", 49140, "RTX-A6000"),
        ("Tesla V100-SXM2-16GB", 16384, "V100"),
        ("NVIDIA Some Future GPU", 1, "SOME-FUTURE-GPU"),
    ],
)
def test_nvidia_smi_names_map_to_types(name: str, memory: int, expected: str) -> None:
    assert normalize_type(name, memory) == expected


def test_an_inventory_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"gpus": [{"id": 0, "type": "T4"}]}))
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"gpus": [{"id": "0", "type": "NVIDIA L40S"}]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"gpus": [{"id": "0", "type": ""}]}))

    assert read_inventory(good, probe=False) == [Gpu("0", "T4")]
    assert read_inventory(named, probe=False) == [Gpu("0", "L40S")]
    assert read_inventory(None, probe=False) == []
    with pytest.raises(ValueError, match="needs a name"):
        read_inventory(bad, probe=False)
    with pytest.raises(ValueError, match="not a GPU inventory"):
        read_inventory(tmp_path / "missing.json", probe=False)


def test_the_allocator_hands_out_gpus_exclusively_in_order_of_preference() -> None:
    allocator = GpuAllocator([Gpu("0", "T4"), Gpu("1", "H100"), Gpu("2", "H100")])
    two_h100 = [parse_request("H100:2")]
    fallback = [parse_request("H100"), parse_request("T4")]

    assert allocator.feasible(two_h100)
    assert not allocator.feasible([parse_request("H100:3")])
    taken = allocator.allocate(two_h100)
    assert taken == [Gpu("1", "H100"), Gpu("2", "H100")]
    assert allocator.allocate(two_h100) is None  # busy, though feasible
    assert allocator.allocate(fallback) == [Gpu("0", "T4")]
    allocator.release(taken)
    assert allocator.allocate(fallback) == [Gpu("1", "H100")]
    assert allocator.describe() == "1 x T4, 2 x H100"
    assert GpuAllocator([]).describe() == "no GPUs"


def test_nvidia_smi_is_asked_when_there_is_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text(
        "#!/bin/sh\n"
        "echo '0, NVIDIA H100 80GB HBM3, 81559'\n"
        "echo '1, NVIDIA A100-SXM4-40GB, 40960'\n"
        "echo '2, NVIDIA L40S, 46068'\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    assert read_inventory(None, probe=True) == [
        Gpu("0", "H100"),
        Gpu("1", "A100"),
        Gpu("2", "L40S"),
    ]
    assert read_inventory(None, probe=False) == []
    assert GpuAllocator([Gpu("0", "H100")]).claim(["0", "9"]) == [Gpu("0", "H100")]


def test_a_container_gets_gpus_of_one_host() -> None:
    allocator = GpuAllocator(
        [Gpu("0", "H100", ""), Gpu("0", "H100", "tcp://b:2376"), Gpu("1", "H100", "tcp://b:2376")]
    )
    assert allocator.feasible([parse_request("H100:2")])
    assert not allocator.feasible([parse_request("H100:3")])  # three exist, but not on one host

    taken = allocator.allocate([parse_request("H100:2")])

    assert taken == [Gpu("0", "H100", "tcp://b:2376"), Gpu("1", "H100", "tcp://b:2376")]
    assert allocator.claim(["0"], "tcp://b:2376") == []  # already taken
    assert allocator.claim(["0"]) == [Gpu("0", "H100", "")]
