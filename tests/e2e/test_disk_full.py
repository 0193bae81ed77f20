"""A full disk: calls are refused with 507 and a message, nothing accepted is lost, and the
gateway takes calls again by itself once there is room. The data dir lives on a small tmpfs of
its own (mounting one needs root, as CI has)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal

from tests.helpers import (
    deploy_file,
    gateway_config,
    point_client_at,
    running_gateway,
    scaled,
    wait_until,
    write_app,
)

APP = """
    import wharf as modal

    app = modal.App("disk-app")


    @app.function()
    def echo(text: str) -> str:
        return text
"""


@contextlib.contextmanager
def small_disk(folder: Path, size_mib: int) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(path: Path) -> None:
    """Write zeros to `path` until the disk has no room left."""
    with path.open("wb", buffering=0) as filler:
        for chunk in (1 << 20, 4096):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(bytes(chunk))


def test_a_full_disk_refuses_calls_with_507_and_loses_nothing_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "disk", 48) as disk:
        with running_gateway(gateway_config(disk / "data")) as gateway:
            point_client_at(gateway, monkeypatch)
            deploy_file(write_app(tmp_path, APP))
            echo = modal.Function.from_name("disk-app", "echo")
            assert echo.remote("before") == "before"
            _fill(disk / "filler")
            filler = disk / "filler"
            with filler.open("r+b") as shrinking:  # room for some calls, not for all
                shrinking.truncate(filler.stat().st_size - (1 << 20))
            url = f"{gateway.url}/v1/apps/disk-app/functions/echo/calls"
            accepted: list[tuple[str, str]] = []
            headers = {"authorization": gateway.authorization, "prefer": "respond-async"}
            with httpx.Client(headers=headers, timeout=scaled(30)) as http:
                refused = None
                for n in range(3000):
                    text = f"call-{n}-" + "x" * 2000
                    response = http.post(url, json={"args": [text]})
                    if response.status_code == 507:
                        refused = response
                        break
                    assert response.status_code == 202, response.text
                    accepted.append((response.json()["result_url"], text))
                assert refused is not None, "the disk never filled"
                error = refused.json()["error"]
                assert error["code"] == "insufficient_storage"
                assert "disk is full" in error["message"]
                filler.unlink()
                # Room again: the gateway takes calls by itself, and every accepted one ends.
                wait_until(
                    lambda: http.post(url, json={"args": ["after"]}).status_code == 202,
                    timeout_s=10,
                )
                for result_url, text in accepted:
                    answer = http.get(result_url, params={"timeout_s": scaled(20)})
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == text
            assert echo.remote("after") == "after"
