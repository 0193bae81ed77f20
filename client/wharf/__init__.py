"""Wharf's Python SDK: define apps, deploy them, and call their functions from anywhere.

Written so the reference SDK's examples run with `import wharf as modal`.
"""

from __future__ import annotations

from wharf import exception
from wharf._app import App, LocalEntrypoint
from wharf._cls import Cls, Obj
from wharf._context import current_function_call_id, current_input_id
from wharf._errors import (
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
from wharf._function import Function, FunctionCall, FunctionStats, InputInfo, gather
from wharf._image import Image
from wharf._options import FunctionOptions
from wharf._partial import concurrent, enter, exit, method, parameter
from wharf._retries import Retries
from wharf._secret import Secret
from wharf._web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

__all__ = [
    "App",
    "AuthError",
    "ClientError",
    "Cls",
    "Error",
    "ExecutionError",
    "Function",
    "FunctionCall",
    "FunctionOptions",
    "FunctionStats",
    "Image",
    "InputCancellation",
    "InputInfo",
    "InvalidError",
    "LocalEntrypoint",
    "NotFoundError",
    "Obj",
    "OutputExpiredError",
    "RemoteError",
    "Retries",
    "Secret",
    "asgi_app",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enter",
    "exception",
    "exit",
    "fastapi_endpoint",
    "gather",
    "method",
    "parameter",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
