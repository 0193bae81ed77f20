"""Checking what a deploy uploads: the manifest and the source bundle. Pure functions."""

from __future__ import annotations

import base64
import binascii
import inspect
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.images import check_image
from wharf_gateway.manifest.labels import check_label
from wharf_gateway.manifest.retries import check_retries
from wharf_gateway.scheduling.gpus import parse_request
from wharf_gateway.security.secrets import check_references

_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
_PARAMETER_KINDS = {
    kind.name: kind
    for kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.VAR_KEYWORD,
    )
}
#: Option names a manifest may carry, with the JSON types each accepts.
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "min_containers": (int,),
    "max_containers": (int, type(None)),
    "buffer_containers": (int,),
    "scaledown_window_s": (int, float),
    "timeout_s": (int, float),
    "retries": (int, dict),
    "max_inputs": (int,),
    "target_inputs": (int, type(None)),
    "startup_timeout_s": (int, float, type(None)),
    "gpu": (list,),
    "cpu": (int, float, type(None)),
    "memory_mb": (int, type(None)),
}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A checked deploy manifest."""

    name: str
    module: str
    app_variable: str
    ephemeral: bool
    functions: list[dict[str, Any]]
    #: The ephemeral app this is a new version of (`wharf serve` reloading), if any.
    app_id: str | None = None


def signature_of(params: Sequence[Mapping[str, Any]]) -> inspect.Signature:
    """The function's signature rebuilt from the manifest (defaults stand in as `...`).

    Raises:
        InvalidRequest: the parameters do not form a valid Python signature.
    """
    try:
        return inspect.Signature(
            [
                inspect.Parameter(
                    str(param["name"]),
                    _PARAMETER_KINDS[str(param["kind"])],
                    default=... if param.get("has_default") else inspect.Parameter.empty,
                )
                for param in params
            ]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"the manifest has an invalid parameter list: {exc}") from exc


def _check_identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise InvalidRequest(f"{what} must be a Python identifier, not {value!r}")
    return value


def check_options(name: str, options: object) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise InvalidRequest(f"options of function {name!r} must be an object")
    options = dict(options)
    if "retries" in options:
        options["retries"] = check_retries(name, options["retries"])
    for key, value in options.items():
        allowed = _OPTION_TYPES.get(key)
        if allowed is None:
            raise InvalidRequest(f"function {name!r} has an unknown option {key!r}")
        if key == "retries":
            continue
        if not isinstance(value, allowed) or isinstance(value, bool):
            raise InvalidRequest(f"option {key!r} of function {name!r} has a bad value {value!r}")
        bounds = _OPTION_RANGES.get(key)
        if (
            bounds is not None
            and isinstance(value, int | float)
            and not bounds[0] <= value <= bounds[1]
        ):
            low, high = bounds
            raise InvalidRequest(
                f"option {key!r} of function {name!r} must be between {low} and {high}"
            )
    _check_option_relations(name, options)
    return options


def _check_option_relations(name: str, options: dict[str, Any]) -> None:
    for gpu in options.get("gpu", []):
        try:
            parse_request(str(gpu))
        except ValueError as exc:
            raise InvalidRequest(f"option 'gpu' of function {name!r}: {exc}") from exc
    maximum = options.get("max_containers")
    if maximum is not None and maximum < options.get("min_containers", 0):
        raise InvalidRequest(f"max_containers of {name!r} is below its min_containers")
    target = options.get("target_inputs")
    if target is not None and target > options.get("max_inputs", 1):
        raise InvalidRequest(f"target_inputs of {name!r} is above its max_inputs")


#: Inclusive ranges of the numeric options (the client checks the same).
_OPTION_RANGES: dict[str, tuple[float, float]] = {
    "min_containers": (0, 1000),
    "max_containers": (1, 10_000),
    "buffer_containers": (0, 1000),
    "scaledown_window_s": (2, 1200),
    "timeout_s": (1, 24 * 3600),
    "retries": (0, 100),
    "max_inputs": (1, 10_000),
    "target_inputs": (1, 10_000),
    "startup_timeout_s": (1, 24 * 3600),
}

_PARAMETER_TYPES = frozenset({"str", "int"})
_WEB_KINDS = frozenset({"function", "asgi", "wsgi", "server"})
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _check_web(name: str, web: object) -> dict[str, Any] | None:
    """A function's web configuration, checked; None for functions without one."""
    if web is None:
        return None
    if not isinstance(web, dict) or web.get("kind") not in _WEB_KINDS:
        raise InvalidRequest(f"function {name!r} has a bad web configuration")
    method = str(web.get("method", "GET")).upper()
    if method not in _METHODS:
        raise InvalidRequest(f"web endpoint {name!r} has an unknown method {method!r}")
    label = web.get("label")
    if label is not None:
        check_label(str(label))
    domains = web.get("custom_domains") or []
    if not isinstance(domains, list) or not all(
        isinstance(d, str) and _DOMAIN.fullmatch(d) for d in domains
    ):
        raise InvalidRequest(f"custom_domains of {name!r} must be lower-case host names")
    port = web.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        raise InvalidRequest(f"web server {name!r} has a bad port {port!r}")
    return {
        "kind": web["kind"],
        "method": method,
        "label": label,
        "wait_for_response": bool(web.get("wait_for_response", True)),
        "custom_domains": domains,
        "docs": bool(web.get("docs", False)),
        "requires_proxy_auth": bool(web.get("requires_proxy_auth", False)),
        "port": port,
        "startup_timeout_s": float(web.get("startup_timeout_s", 5.0)),
    }


def check_class(name: str, shape: object) -> dict[str, Any] | None:
    """A manifest entry's class description, checked.

    Raises:
        InvalidRequest: naming what is wrong.
    """
    if shape is None:
        return None
    if not isinstance(shape, dict):
        raise InvalidRequest(f"the class description of {name!r} must be an object")
    parameters = shape.get("parameters", [])
    if not isinstance(parameters, list):
        raise InvalidRequest(f"parameters of class {name!r} must be a list")
    for spec in parameters:
        if (
            not isinstance(spec, dict)
            or not str(spec.get("name", "")).isidentifier()
            or spec.get("type") not in _PARAMETER_TYPES
        ):
            raise InvalidRequest(f"class {name!r} has a bad parameter {spec!r} (str or int only)")
    methods = shape.get("methods", {})
    if not isinstance(methods, dict) or not all(
        isinstance(m, str) and m.isidentifier() and isinstance(d, dict) for m, d in methods.items()
    ):
        raise InvalidRequest(f"methods of class {name!r} must map names to descriptions")
    init_params = shape.get("init_params")
    if init_params is not None and not isinstance(init_params, list):
        raise InvalidRequest(f"init_params of class {name!r} must be a list")
    web_method = shape.get("web_method")
    if web_method is not None and not str(web_method).isidentifier():
        raise InvalidRequest(f"class {name!r} has a bad web_method {web_method!r}")
    return {
        "parameters": parameters,
        "init_params": init_params,
        "methods": methods,
        "web_method": web_method,
    }


def _check_function(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidRequest("each function in the manifest must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
        raise InvalidRequest(f"bad function name {name!r}")
    params = entry.get("params", [])
    if not isinstance(params, list):
        raise InvalidRequest(f"params of function {name!r} must be a list")
    signature_of(params)
    return {
        "name": name,
        "is_async": bool(entry.get("is_async", False)),
        "is_generator": bool(entry.get("is_generator", False)),
        "params": params,
        "options": check_options(name, entry.get("options", {})),
        "web": _check_web(name, entry.get("web")),
        "image": None
        if entry.get("image") is None
        else check_image(entry["image"], f"function {name!r}"),
        # Inline values are sealed and replaced by names before the definition is stored.
        "secrets": check_references(entry.get("secrets"), name),
        "class": check_class(name, entry.get("class")),
    }


def _check_app_id(value: object, ephemeral: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ephemeral:
        raise InvalidRequest("app_id names the ephemeral app a serve session redeploys")
    return value


def parse_manifest(data: object) -> Manifest:
    """Check a manifest's shape and names.

    Raises:
        InvalidRequest: with a message naming the first problem found.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("the manifest must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not _APP_NAME.fullmatch(name):
        raise InvalidRequest(
            f"bad app name {name!r}: use up to 64 letters, digits, '.', '_' or '-'"
        )
    functions = data.get("functions")
    if not isinstance(functions, list):
        raise InvalidRequest("the manifest must list its functions")
    checked = [_check_function(entry) for entry in functions]
    names = [entry["name"] for entry in checked]
    if len(set(names)) != len(names):
        raise InvalidRequest("function names in an app must be unique")
    return Manifest(
        # App names become parts of endpoint labels, which DNS compares case-insensitively.
        name=name.lower(),
        module=_check_identifier(data.get("module"), "module"),
        app_variable=_check_identifier(data.get("app_variable"), "app_variable"),
        ephemeral=bool(data.get("ephemeral", False)),
        functions=checked,
        app_id=_check_app_id(data.get("app_id"), bool(data.get("ephemeral", False))),
    )


def decode_bundle(encoded: object, module: str) -> bytes:
    """The bundle's zip bytes, checked to hold the module (never extracted here).

    Raises:
        InvalidRequest: not base64, not a zip, or the module is missing.
    """
    if not isinstance(encoded, str):
        raise InvalidRequest("bundle must be a base64 string of a zip file")
    try:
        data = base64.b64decode(encoded, validate=True)
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (ValueError, NotImplementedError, binascii.Error, zipfile.BadZipFile) as exc:
        raise InvalidRequest(f"bundle is not a base64-encoded zip file: {exc}") from exc
    if f"{module}.py" not in names and f"{module}/__init__.py" not in names:
        raise InvalidRequest(f"bundle does not contain module {module!r}")
    return data
