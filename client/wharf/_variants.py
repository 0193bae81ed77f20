"""Options given to one handle (`with_options`) or to a deployed function (`update_autoscaler`),
as the JSON overrides the gateway applies on top of the deployed options."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from wharf._errors import InvalidError
from wharf._options import resolve_options

#: Header carrying a handle's option overrides, as a JSON object.
OPTIONS_HEADER = "wharf-options"
#: Header carrying a call's class parameters: `json <base64url>` or `pickle <base64url>`.
PARAMETERS_HEADER = "wharf-parameters"

#: Keyword -> the option it sets, for `with_options`.
_WITH_OPTIONS = {
    "gpu": "gpu",
    "cpu": "cpu",
    "memory": "memory_mb",
    "timeout": "timeout_s",
    "retries": "retries",
    "min_containers": "min_containers",
    "keep_warm": "min_containers",
    "max_containers": "max_containers",
    "concurrency_limit": "max_containers",
    "buffer_containers": "buffer_containers",
    "scaledown_window": "scaledown_window_s",
    "container_idle_timeout": "scaledown_window_s",
}


def option_overrides(**keywords: Any) -> dict[str, Any]:
    """The overrides that `keywords` stand for, checked as `@app.function()` checks them.

    Raises:
        InvalidError: an unknown keyword, or a value out of range.
    """
    unknown = sorted(set(keywords) - set(_WITH_OPTIONS))
    if unknown:
        raise InvalidError(f"unknown option(s) {', '.join(unknown)}")
    given = {key: value for key, value in keywords.items() if value is not None}
    resolved = resolve_options(**given).to_json()
    return {_WITH_OPTIONS[key]: resolved[_WITH_OPTIONS[key]] for key in given}


def options_header(overrides: dict[str, Any]) -> str:
    return orjson.dumps(overrides, option=orjson.OPT_SORT_KEYS).decode()


def parameters_header(encoded: tuple[str, bytes]) -> str:
    return f"{encoded[0]} {base64.urlsafe_b64encode(encoded[1]).decode()}"
