"""The web dashboard (`static/`): its page at `/` and `/dashboard` of the gateway's own domain,
its scripts and styles under `/dashboard/static/`. The page talks to the same `/v1` API as
everyone else. Web endpoints' hosts and `/web/` paths never get here (`gateway.web.router`
sends them to their apps first), so a user's app keeps its own `/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from wharf_gateway.errors import NotFound

#: Every dashboard file is sent with these: scripts only from the gateway itself (no inline
#: script, so injected markup cannot run), no framing, no referrer leaving the page.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    # Revalidated (by ETag) on each load, so a gateway upgrade shows at once.
    "cache-control": "no-cache",
}
STATIC_PATH = "/dashboard/static"
_GATEWAY_PACKAGE = Path(__file__).resolve().parent.parent


def find_static_dir(package: Path = _GATEWAY_PACKAGE) -> Path:
    """Where the dashboard's files are: `static` inside the gateway `package` in an installed
    wheel (pyproject's force-include puts them there), else the repository's `static/` in a
    checkout (and in the gateway image)."""
    installed = package / "static"
    return installed if installed.is_dir() else package.parent.parent / "static"


class _DashboardFiles(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(SECURITY_HEADERS)
        return response


def dashboard_routes(static_dir: Path) -> list[BaseRoute]:
    """The dashboard's routes, serving the files of `static_dir`."""
    index = static_dir / "index.html"

    async def dashboard(request: Request) -> Response:
        """The dashboard's page: 200; 404 when its files are not installed."""
        if not index.is_file():
            raise NotFound(f"the dashboard's files are not installed (no {index})")
        return FileResponse(index, headers=SECURITY_HEADERS)

    return [
        Route("/", dashboard, methods=["GET"], include_in_schema=False),
        Route("/dashboard", dashboard, methods=["GET"], include_in_schema=False),
        Mount(STATIC_PATH, _DashboardFiles(directory=static_dir, check_dir=False)),
    ]


ROUTES = dashboard_routes(find_static_dir())
