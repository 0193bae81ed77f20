"""GPUs: what functions ask for (`gpu="H100:2"`, a list for fallbacks), what the runner host
has, and which container holds which. A container gets its GPUs exclusively and gives them back
when it ends.

The inventory comes from a file (`--gpu-config`: `{"gpus": [{"id": "0", "type": "T4"}, ...]}`)
or, without one, from `nvidia-smi` (either backend). Types are an open set, normalised from the
drivers' names (`normalize_type`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Families of GPUs by the names their drivers and users give them; any other name is kept as
#: it is (upper-cased), so a fleet may hold and a function may ask for any type.
GPU_FAMILIES = ("T4", "L4", "A10", "A10G", "L40", "L40S", "A100", "H100", "H200", "B200", "V100")
#: Words in driver names that say nothing of the type.
_VENDOR_WORDS = frozenset({"NVIDIA", "TESLA", "GEFORCE", "QUADRO"})
#: An A100 with more memory than this is the 80 GB one.
_A100_80GB_MIB = 60_000
ANY = "any"
MAX_GPUS_PER_CONTAINER = 8


@dataclass(frozen=True, slots=True)
class Gpu:
    device_id: str
    type: str
    #: The Docker host it is on (one of `--docker-hosts`); "" for the first.
    host: str = ""


@dataclass(frozen=True, slots=True)
class GpuRequest:
    type: str
    count: int = 1

    def __str__(self) -> str:
        return self.type if self.count == 1 else f"{self.type}:{self.count}"

    def matches(self, gpu: Gpu) -> bool:
        return self.type == ANY or gpu.type == self.type


def normalize_type(name: str, memory_mib: int | None = None) -> str:
    """The canonical type of a GPU named by a user (`"l40s"`, `"A100-80GB"`, `"RTX A6000"`) or
    by `nvidia-smi` (`"NVIDIA A100-SXM4-80GB"`, `"NVIDIA GeForce RTX 4090"`): its family
    (`A100-80GB` for the large A100), `RTX-<model>` for workstation and consumer cards, and any
    other name upper-cased with its words joined by `-`.

    Raises:
        ValueError: an empty name.
    """
    words = [w for w in name.upper().replace("-", " ").replace("_", " ").split() if w]
    words = [w for w in words if w not in _VENDOR_WORDS]
    if not words:
        raise ValueError("a GPU type needs a name, like T4, L40S or H100")
    if words[0] == "RTX" and len(words) > 1:
        return f"RTX-{words[1]}"
    family = words[0]
    if family == "A100":
        large = "80GB" in words or (memory_mib is not None and memory_mib > _A100_80GB_MIB)
        return "A100-80GB" if large else "A100"
    if family in GPU_FAMILIES:
        return family
    return "-".join(words)


def parse_request(text: str) -> GpuRequest:
    """`"H100"`, `"l40s:2"`, `"any"` as a request; any GPU type may be asked for (what no
    runner has is refused when a call is made, naming what the fleet has).

    Raises:
        ValueError: an empty type, or a count out of 1 to 8.
    """
    name, _, count_text = text.strip().partition(":")
    gpu_type = ANY if name.strip().lower() == ANY else normalize_type(name)
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_GPUS_PER_CONTAINER:
        raise ValueError(f"a GPU count is 1 to {MAX_GPUS_PER_CONTAINER}, not {count_text!r}")
    return GpuRequest(gpu_type, count)


def read_inventory(config_path: Path | None, *, probe: bool) -> list[Gpu]:
    """The runner host's GPUs: from `config_path`, else from `nvidia-smi` if `probe`.

    Raises:
        ValueError: the file is not a valid inventory.
    """
    if config_path is not None:
        try:
            entries = json.loads(config_path.read_text())["gpus"]
            return [
                Gpu(
                    str(entry["id"]), normalize_type(str(entry["type"])), str(entry.get("host", ""))
                )
                for entry in entries
            ]
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"{config_path} is not a GPU inventory: {exc}") from exc
    if not probe or shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]
    try:
        lines = subprocess.run(query, check=True, capture_output=True, text=True, timeout=20)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in lines.stdout.splitlines():
        index, name, memory = (part.strip() for part in line.split(","))
        gpus.append(Gpu(index, normalize_type(name, int(float(memory)))))
    return gpus


class GpuAllocator:
    """Which GPUs are free; containers take theirs exclusively."""

    def __init__(self, gpus: Sequence[Gpu]) -> None:
        self._gpus = list(gpus)
        self._free = list(gpus)

    def feasible(self, requests: Sequence[GpuRequest]) -> bool:
        """Whether any of the requests could be met, on one host, once every GPU is free."""
        return any(_pick(self._gpus, request) is not None for request in requests)

    def allocate(self, requests: Sequence[GpuRequest]) -> list[Gpu] | None:
        """GPUs (all on one host) for the first request that fits now, taken; None when none
        does."""
        for request in requests:
            chosen = _pick(self._free, request)
            if chosen is not None:
                for gpu in chosen:
                    self._free.remove(gpu)
                return chosen
        return None

    def claim(self, device_ids: Sequence[str], host: str = "") -> list[Gpu]:
        """Mark these GPUs of `host` taken (a container of an earlier run holds them)."""
        taken = [gpu for gpu in self._free if gpu.device_id in device_ids and gpu.host == host]
        for gpu in taken:
            self._free.remove(gpu)
        return taken

    def release(self, gpus: Sequence[Gpu]) -> None:
        self._free.extend(gpu for gpu in gpus if gpu in self._gpus and gpu not in self._free)

    def describe(self) -> str:
        """What the host has, as "2 x T4, 1 x H100" (or "no GPUs")."""
        counts: dict[str, int] = {}
        for gpu in self._gpus:
            counts[gpu.type] = counts.get(gpu.type, 0) + 1
        return ", ".join(f"{n} x {kind}" for kind, n in counts.items()) or "no GPUs"


def _pick(gpus: Sequence[Gpu], request: GpuRequest) -> list[Gpu] | None:
    """`request.count` matching GPUs of one host (the first host that has enough), or None."""
    by_host: dict[str, list[Gpu]] = {}
    for gpu in gpus:
        if request.matches(gpu):
            by_host.setdefault(gpu.host, []).append(gpu)
    for on_host in by_host.values():
        if len(on_host) >= request.count:
            return on_host[: request.count]
    return None
