"""The deploy manifest: what the gateway learns about an app without importing its code."""

from __future__ import annotations

import inspect
from typing import Any

from client._app import App
from client._function import Function


def describe_parameters(raw_f: Any) -> list[dict[str, Any]]:
    """The signature as data, so the gateway can check JSON arguments before a call starts."""
    return [
        {
            "name": parameter.name,
            "kind": parameter.kind.name,
            "has_default": parameter.default is not inspect.Parameter.empty,
        }
        for parameter in inspect.signature(raw_f).parameters.values()
    ]


def describe_function(function: Function) -> dict[str, Any]:
    raw_f = function.get_raw_f()
    return {
        "name": function.name,
        "is_async": inspect.iscoroutinefunction(raw_f) or inspect.isasyncgenfunction(raw_f),
        "is_generator": inspect.isgeneratorfunction(raw_f) or inspect.isasyncgenfunction(raw_f),
        "params": describe_parameters(raw_f),
        "options": function.options.to_json(),
        "web": None if function.web is None else function.web.to_json(),
        "image": None if function.image is None else function.image.to_json(),
    }


def build_manifest(
    app: App, *, name: str, module: str, app_variable: str, ephemeral: bool
) -> dict[str, Any]:
    """The manifest of `app`, deployed as `name` from `module`."""
    return {
        "name": name,
        "module": module,
        "app_variable": app_variable,
        "ephemeral": ephemeral,
        "functions": [describe_function(f) for f in app.registered_functions.values()],
    }
