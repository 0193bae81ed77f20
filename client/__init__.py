"""Wharf's Python SDK: define apps, deploy them, and call their functions from anywhere.

Written so the reference SDK's examples run with `import client as modal`.
"""

from __future__ import annotations

from client import exception
from client._app import App, LocalEntrypoint
from client._cls import Cls, Obj
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
from client._function import Function, FunctionCall, FunctionStats, InputInfo, gather
from client._image import Image
from client._options import FunctionOptions
from client._partial import concurrent, enter, exit, method, parameter
from client._retries import Retries
from client._secret import Secret
from client._web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

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
