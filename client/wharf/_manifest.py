"""The deploy manifest: what the gateway learns about an app without importing its code."""

from __future__ import annotations

import inspect
from typing import Any

from wharf._app import App
from wharf._cls import Cls, class_parameters, has_legacy_init, members, web_methods
from wharf._errors import InvalidError
from wharf._function import Function
from wharf._secret import secrets_json


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


def _describe_callable(raw_f: Any, *, is_method: bool = False) -> dict[str, Any]:
    params = describe_parameters(raw_f)
    return {
        "is_async": inspect.iscoroutinefunction(raw_f) or inspect.isasyncgenfunction(raw_f),
        "is_generator": inspect.isgeneratorfunction(raw_f) or inspect.isasyncgenfunction(raw_f),
        "params": params[1:] if is_method else params,  # without `self`
    }


def describe_function(function: Function) -> dict[str, Any]:
    return {
        "name": function.name,
        **_describe_callable(function.get_raw_f()),
        "options": function.options.to_json(),
        "web": None if function.web is None else function.web.to_json(),
        "image": None if function.image is None else function.image.to_json(),
        "secrets": secrets_json(function.secrets),
    }


def describe_class(cls: Cls) -> list[dict[str, Any]]:
    """A class is one entry (its methods share its containers), plus one entry per web
    endpoint method (each has its own URL and containers)."""
    user_cls = cls.user_cls
    if user_cls is None:
        raise InvalidError(f"class {cls.name} has no local code to deploy")
    legacy = has_legacy_init(user_cls)
    shape = {
        "parameters": [spec.to_json() for spec in class_parameters(user_cls)],
        "init_params": describe_parameters(user_cls) if legacy else None,
        "methods": {
            name: _describe_callable(method, is_method=True)
            for name, method in members(user_cls, "method").items()
        },
    }
    common = {
        "options": cls.options.to_json(),
        "secrets": secrets_json(cls.secrets),
        "image": None if cls.image is None else cls.image.to_json(),
    }
    entries = [
        {"name": cls.name, "is_async": False, "is_generator": False, "params": [], "web": None}
        | common
        | {"class": shape}
    ]
    for name, web_function in web_methods(user_cls).items():
        entries.append(
            {"name": f"{cls.name}.{name}", "web": web_function.web.to_json()}
            | _describe_callable(web_function.raw_f, is_method=True)
            | common
            | {"class": shape | {"web_method": name}}
        )
    return entries


def build_manifest(
    app: App, *, name: str, module: str, app_variable: str, ephemeral: bool
) -> dict[str, Any]:
    """The manifest of `app`, deployed as `name` from `module`."""
    return {
        "name": name,
        "module": module,
        "app_variable": app_variable,
        "ephemeral": ephemeral,
        "functions": [describe_function(f) for f in app.registered_functions.values()]
        + [entry for cls in app.registered_classes.values() for entry in describe_class(cls)],
    }
