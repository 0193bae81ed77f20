"""`Secret`: environment variables for a function's containers, kept encrypted by the gateway.

Named secrets are made with `wharf secret create NAME KEY=VALUE ...` (or `POST /v1/secrets`) and
referred to with `Secret.from_name`; `Secret.from_dict` and `Secret.from_local_environ` carry their
values in the deploy, where the gateway seals them the same way. No API answer holds a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from wharf._aio import Twin
from wharf._errors import InvalidError
from wharf._http import ApiRequest, Flow

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidError(
            f"bad secret name {name!r}: use up to 64 letters, digits, '.', '_' or '-'"
        )
    return name


def _check_values(values: Mapping[str, str]) -> dict[str, str]:
    for key, value in values.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise InvalidError(f"{key!r} is not an environment variable name")
        if not isinstance(value, str):
            raise InvalidError(f"the value of secret key {key!r} must be a string")
    return dict(values)


class Secret:
    """Environment variables for a function's containers (`@app.function(secrets=[...])`).

    The gateway stores the values encrypted and gives them only to the function's containers, as
    environment variables; later secrets in the list win where keys repeat.
    """

    #: Look up a named secret now (`NotFoundError` if missing); also `.aio`.
    lookup: ClassVar[Twin[[str], Secret]]

    def __init__(self, reference: dict[str, Any], description: str) -> None:
        self._reference = reference
        self._description = description

    def __repr__(self) -> str:
        # Never the values: a repr ends up in logs and tracebacks.
        return f"Secret.{self._description}"

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        required_keys: Sequence[str] = (),
    ) -> Secret:
        """A secret of the workspace by name (made with `wharf secret create`); checked at deploy.

        Args:
            name: The secret's name.
            environment_name: Accepted for compatibility; Wharf has one environment per workspace.
            required_keys: Keys the secret must have, or the deploy fails.

        Raises:
            InvalidError: the name is not a valid secret name.
        """
        del environment_name
        reference = {"name": _check_name(name), "required_keys": list(required_keys)}
        return Secret(reference, f"from_name({name!r})")

    @staticmethod
    def from_dict(env_dict: Mapping[str, str | None]) -> Secret:
        """A secret with these values, sent with the deploy and stored encrypted with the app.

        Args:
            env_dict: Variable names and values; None values are left out.

        Raises:
            InvalidError: a key is not a variable name, or a value not a string.
        """
        values = _check_values({k: v for k, v in env_dict.items() if v is not None})
        return Secret({"values": values}, f"from_dict(keys={sorted(values)!r})")

    @staticmethod
    def from_local_environ(env_keys: Sequence[str]) -> Secret:
        """A secret with the values these variables have in this process when it deploys.

        Args:
            env_keys: Names of environment variables; each must be set at deploy.
        """
        keys = list(env_keys)
        # Read at deploy, not here: inside the container the module is imported again, and the
        # variables are then the secret's own.
        return Secret({"local_environ": keys}, f"from_local_environ({keys!r})")

    def to_json(self) -> dict[str, Any]:
        """The secret as the deploy manifest carries it (values only for inline secrets).

        Raises:
            InvalidError: a variable of `from_local_environ` is not set in this process.
        """
        keys = self._reference.get("local_environ")
        if keys is None:
            return dict(self._reference)
        missing = [key for key in keys if key not in os.environ]
        if missing:
            raise InvalidError(
                f"Secret.from_local_environ: not set in this environment: {', '.join(missing)}"
            )
        return {"values": _check_values({key: os.environ[key] for key in keys})}


def check_secrets(secrets: Sequence[Secret]) -> tuple[Secret, ...]:
    """The `secrets=` of a decorator, checked.

    Raises:
        InvalidError: it is not a list of `Secret`s.
    """
    if isinstance(secrets, Secret | str | bytes) or not isinstance(secrets, Sequence):
        raise InvalidError("secrets= takes a list of Secret objects")
    for secret in secrets:
        if not isinstance(secret, Secret):
            raise InvalidError(f"secrets= takes Secret objects, not {type(secret).__name__}")
    return tuple(secrets)


def secrets_json(secrets: Sequence[Secret]) -> list[dict[str, Any]]:
    """A function's secrets as the deploy manifest carries them."""
    return [secret.to_json() for secret in secrets]


def create_secret(name: str, values: Mapping[str, str], *, overwrite: bool) -> Flow[bool]:
    """Create (or with `overwrite`, replace) a named secret; returns whether it is new.

    Raises:
        InvalidError: a bad name or values, or it exists and `overwrite` is false.
    """
    body = {"name": _check_name(name), "values": _check_values(values), "overwrite": overwrite}
    response = yield ApiRequest("POST", "/v1/secrets", json=body)
    return response.status_code == 201


def list_secrets() -> Flow[list[dict[str, Any]]]:
    """The workspace's secrets: names, keys and times (never values)."""
    response = yield ApiRequest("GET", "/v1/secrets")
    return list(response.json()["secrets"])


def delete_secret(name: str) -> Flow[None]:
    """Delete a named secret.

    Raises:
        NotFoundError: there is none of that name.
    """
    yield ApiRequest("DELETE", f"/v1/secrets/{quote(name, safe='')}")


def _lookup(name: str) -> Flow[Secret]:
    """Look up a named secret now.

    Raises:
        NotFoundError: there is no secret of that name.
    """
    secret = Secret.from_name(name)
    yield ApiRequest("GET", f"/v1/secrets/{quote(name, safe='')}")
    return secret


#: `Secret.lookup(name)`: the eager form of `from_name` (with `.aio`).
Secret.lookup = Twin(_lookup)
