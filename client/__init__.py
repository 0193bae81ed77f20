"""Wharf's Python SDK: define apps, deploy them, and call their functions from anywhere.

Written so the reference SDK's examples run with `import client as modal`.
"""

from __future__ import annotations

from client import exception
from client._app import App, LocalEntrypoint
from client._context import current_function_call_id, current_input_id
from client._errors import (
    AuthError,
    ClientError,
    Error,
    ExecutionError,
    InputCancellation,
    InvalidError,
    NotFoundError,
    OutputExpiredError,
    RemoteError,
)
from client._function import Function, FunctionCall, FunctionStats, gather
from client._image import Image
from client._options import FunctionOptions
from client._web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

__all__ = [
    "App",
    "AuthError",
    "ClientError",
    "Error",
    "ExecutionError",
    "Function",
    "FunctionCall",
    "FunctionOptions",
    "FunctionStats",
    "Image",
    "InputCancellation",
    "InvalidError",
    "LocalEntrypoint",
    "NotFoundError",
    "OutputExpiredError",
    "RemoteError",
    "asgi_app",
    "current_function_call_id",
    "current_input_id",
    "exception",
    "fastapi_endpoint",
    "gather",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
