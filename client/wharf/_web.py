"""Web endpoint decorators: `@web_endpoint`, `@fastapi_endpoint`, `@asgi_app`, `@wsgi_app`,
`@web_server`. Each wraps a function in a `WebFunction` that `@app.function()` then registers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wharf._errors import InvalidError
from wharf.web_config import WebConfig, WebKind

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class WebFunction:
    """A function with its web configuration, waiting for `@app.function()`."""

    raw_f: Callable[..., Any]
    web: WebConfig = field(default_factory=lambda: WebConfig(WebKind.FUNCTION))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)


def _decorator(config: WebConfig) -> Callable[[Callable[..., Any]], WebFunction]:
    def wrap(raw_f: Callable[..., Any]) -> WebFunction:
        if isinstance(raw_f, WebFunction):
            raise InvalidError("a function can have only one web decorator")
        return WebFunction(raw_f, config)

    return wrap


def _check_parentheses(name: str, value: object) -> None:
    if value is not None:
        raise InvalidError(f"use @{name}() with parentheses, not bare @{name}")


def web_endpoint(
    _warn_parentheses_missing: object = None,
    *,
    method: str = "GET",
    label: str | None = None,
    wait_for_response: bool = True,
    docs: bool = False,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Callable[..., Any]], WebFunction]:
    """Serve the function at its own URL; query parameters and a JSON body become arguments.

    Args:
        method: The HTTP method the endpoint answers.
        label: The URL label (`{workspace}--{label}.{domain}`); defaults to `{app}-{function}`.
        wait_for_response: False answers 202 with a `result_url` at once.
        docs: Serve interactive API docs at `/docs` (with FastAPI).
        custom_domains: Host names that route to this endpoint too.
        requires_proxy_auth: Demand a workspace token from callers.

    Raises:
        InvalidError: an unknown method, or the decorator without its parentheses.
    """
    _check_parentheses("web_endpoint", _warn_parentheses_missing)
    if method.upper() not in _METHODS:
        raise InvalidError(f"method must be one of {', '.join(sorted(_METHODS))}, not {method!r}")
    return _decorator(
        WebConfig(
            WebKind.FUNCTION,
            method=method.upper(),
            label=label,
            wait_for_response=wait_for_response,
            custom_domains=tuple(custom_domains or ()),
            docs=docs,
            requires_proxy_auth=requires_proxy_auth,
        )
    )


fastapi_endpoint = web_endpoint


def _app_decorator(
    kind: WebKind,
    label: str | None,
    wait_for_response: bool,
    custom_domains: Iterable[str] | None,
    requires_proxy_auth: bool,
) -> Callable[[Callable[..., Any]], WebFunction]:
    return _decorator(
        WebConfig(
            kind,
            label=label,
            wait_for_response=wait_for_response,
            custom_domains=tuple(custom_domains or ()),
            requires_proxy_auth=requires_proxy_auth,
        )
    )


def asgi_app(
    _warn_parentheses_missing: object = None,
    *,
    label: str | None = None,
    wait_for_response: bool = True,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Callable[..., Any]], WebFunction]:
    """Serve the ASGI app (FastAPI, Starlette, ...) that the function returns.

    Args: as for `web_endpoint`, without `method` and `docs`.
    """
    _check_parentheses("asgi_app", _warn_parentheses_missing)
    return _app_decorator(
        WebKind.ASGI, label, wait_for_response, custom_domains, requires_proxy_auth
    )


def wsgi_app(
    _warn_parentheses_missing: object = None,
    *,
    label: str | None = None,
    wait_for_response: bool = True,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Callable[..., Any]], WebFunction]:
    """Serve the WSGI app (Flask, Django, ...) that the function returns.

    Args: as for `web_endpoint`, without `method` and `docs`.
    """
    _check_parentheses("wsgi_app", _warn_parentheses_missing)
    return _app_decorator(
        WebKind.WSGI, label, wait_for_response, custom_domains, requires_proxy_auth
    )


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: Iterable[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Callable[..., Any]], WebFunction]:
    """Serve whatever the function starts listening on `port` in the container.

    Args:
        port: The port the server listens on (bind 0.0.0.0 or 127.0.0.1).
        startup_timeout: Seconds to wait for the port to accept connections.
        label, custom_domains, requires_proxy_auth: as for `web_endpoint`.
    """
    if not 0 < port < 65536:
        raise InvalidError(f"port must be between 1 and 65535, not {port}")
    return _decorator(
        WebConfig(
            WebKind.SERVER,
            label=label,
            custom_domains=tuple(custom_domains or ()),
            requires_proxy_auth=requires_proxy_auth,
            port=port,
            startup_timeout_s=startup_timeout,
        )
    )
