"""Where the gateway finds the dashboard's files, and what it answers without them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from wharf_gateway.api.dashboard import SECURITY_HEADERS, dashboard_routes, find_static_dir
from wharf_gateway.errors import NotFound

from tests.helpers import REPOSITORY


def _get(static_dir: Path, path: str) -> httpx.Response:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=Starlette(routes=dashboard_routes(static_dir)))
        async with httpx.AsyncClient(transport=transport, base_url="http://wharf") as client:
            return await client.get(path)

    return asyncio.run(fetch())


def test_the_files_are_found_in_a_wheel_and_in_a_checkout(tmp_path: Path) -> None:
    assert find_static_dir() == REPOSITORY / "static"
    package = tmp_path / "site-packages" / "wharf_gateway"
    (package / "static").mkdir(parents=True)
    assert find_static_dir(package) == package / "static"
    checkout = tmp_path / "checkout"
    assert find_static_dir(checkout / "gateway" / "wharf_gateway") == checkout / "static"


def test_the_page_is_served_from_the_folder_given(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    page = _get(tmp_path, "/dashboard")
    assert page.text == "<!doctype html><title>t</title>"
    assert page.headers["x-frame-options"] == SECURITY_HEADERS["x-frame-options"]


def test_without_its_files_the_page_is_a_clear_404(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="dashboard's files are not installed"):
        _get(tmp_path, "/")
