"""What the gateway knows about a web request, restored for the user's app.

The container only hears from the gateway, so the caller's address, the scheme and the path
prefix (for the `/web/{label}/` form) arrive as headers; these wrappers put them back where
ASGI and WSGI apps look: `request.client.host`, `url.scheme`, `root_path` / `SCRIPT_NAME`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def forwarded_asgi(app: Any) -> Callable[..., Any]:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            client = _header(scope["headers"], b"x-forwarded-for")
            if client:
                scope["client"] = (client.split(",")[0].strip(), 0)
            scheme = _header(scope["headers"], b"x-forwarded-proto")
            if scheme in ("http", "https"):
                scope["scheme"] = (
                    scheme if scope["type"] == "http" else scheme.replace("http", "ws")
                )
            root_path = _header(scope["headers"], b"x-wharf-root-path")
            if root_path:
                scope["root_path"] = root_path
                scope["path"] = root_path + scope["path"]
                scope["raw_path"] = root_path.encode() + scope.get("raw_path", b"")
        await app(scope, receive, send)

    return wrapped


def forwarded_wsgi(app: Any) -> Callable[..., Any]:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        client = environ.get("HTTP_X_FORWARDED_FOR")
        if client:
            environ["REMOTE_ADDR"] = client.split(",")[0].strip()
        scheme = environ.get("HTTP_X_FORWARDED_PROTO")
        if scheme in ("http", "https"):
            environ["wsgi.url_scheme"] = scheme
        root_path = environ.get("HTTP_X_WHARF_ROOT_PATH")
        if root_path:
            environ["SCRIPT_NAME"] = root_path
        return app(environ, start_response)

    return wrapped
