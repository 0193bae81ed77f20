"""Secrets: named sets of environment variables, sealed at rest, handed only to containers.

Values are sealed with AES-256-GCM under one key: 32 random bytes in a file only the gateway's
user can read (`secrets.key` in the data dir, created on first start). Each seal has a fresh
nonce and is bound to its workspace and name, so a sealed blob copied onto another row does not
open. Names, keys and times are plain; values leave the gateway only as the environment of a
container, never through the API or a log line.

A function refers to secrets by name. `Secret.from_dict` values travel in the deploy request and
are stored the same way, as an inline secret of the workspace named by a keyed digest of its
values (so a redeploy reuses it, and the digest says nothing of the values without the key).
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wharf_gateway.errors import ConfigError, InvalidRequest, NotFound, SecretUnreadable
from wharf_gateway.models import FunctionRecord, SecretRecord
from wharf_gateway.storage.secrets import SecretStore

KEY_BYTES = 32
NONCE_BYTES = 12
#: The first byte of every sealed blob: the format (and key) it was sealed with.
_FORMAT_V1 = b"\x01"
#: Keys plus values of one secret, in UTF-8 bytes.
MAX_SECRET_BYTES = 64 * 1024
MAX_KEYS = 256
#: Secrets one function may use (their variables together stay well under Linux's limits).
MAX_SECRETS_PER_FUNCTION = 16
#: Variables the platform sets in every container; a secret may not replace them.
RESERVED_PREFIXES = ("WHARF_", "RUNNER_")
#: Inline secrets (`Secret.from_dict`) are named this plus a digest: no user name starts so.
INLINE_PREFIX = "@"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def check_secret_name(name: object) -> str:
    """A valid secret name: like an app name, up to 64 letters, digits, '.', '_' or '-'.

    Raises:
        InvalidRequest: it is not.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"bad secret name {name!r}: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_values(values: object, what: str) -> dict[str, str]:
    """Environment variables to keep secret: names and string values, within the limits.

    Messages name keys, never values.

    Raises:
        InvalidRequest: not an object of strings, a key that is no variable name or reserved,
            a value with a NUL byte, or too large.
    """
    if not isinstance(values, dict) or not values:
        raise InvalidRequest(f"{what} must be a non-empty object of KEY: VALUE strings")
    if len(values) > MAX_KEYS:
        raise InvalidRequest(f"{what} has {len(values)} keys; at most {MAX_KEYS} are allowed")
    size = 0
    for key, value in values.items():
        if not _KEY.fullmatch(key):
            raise InvalidRequest(
                f"{what}: {key[:80]!r} is not an environment variable name "
                "(letters, digits and '_', not starting with a digit)"
            )
        if key.upper().startswith(RESERVED_PREFIXES):
            raise InvalidRequest(f"{what}: {key!r} is reserved (WHARF_* and RUNNER_* are Wharf's)")
        if not isinstance(value, str):
            raise InvalidRequest(f"{what}: the value of {key!r} must be a string")
        if "\0" in value:
            raise InvalidRequest(f"{what}: the value of {key!r} contains a NUL character")
        size += len(key) + len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_SECRET_BYTES:
        raise InvalidRequest(f"{what} is over {MAX_SECRET_BYTES // 1024} KiB of keys and values")
    return dict(values)


def _check_reference(reference: object, what: str) -> dict[str, Any]:
    if not isinstance(reference, dict):
        raise InvalidRequest(f"{what} must be an object with a name or values")
    if "values" in reference:
        return {"values": check_values(reference["values"], what)}
    name = check_secret_name(reference.get("name"))
    required = reference.get("required_keys", [])
    if not isinstance(required, list) or not all(isinstance(key, str) for key in required):
        raise InvalidRequest(f"required_keys of secret {name!r} must be a list of key names")
    return {"name": name, "required_keys": required}


def check_references(references: object, function_name: str) -> list[dict[str, Any]]:
    """The secrets a manifest's function uses: `{"name", "required_keys"}` or `{"values"}`.

    Raises:
        InvalidRequest: a reference is malformed, or there are too many.
    """
    if references is None:
        return []
    if not isinstance(references, list):
        raise InvalidRequest(f"secrets of function {function_name!r} must be a list")
    if len(references) > MAX_SECRETS_PER_FUNCTION:
        raise InvalidRequest(
            f"function {function_name!r} uses {len(references)} secrets; "
            f"at most {MAX_SECRETS_PER_FUNCTION} are allowed"
        )
    return [
        _check_reference(reference, f"secret {index} of function {function_name!r}")
        for index, reference in enumerate(references)
    ]


def load_key(path: Path) -> bytes:
    """The secrets key in `path`, created (32 random bytes, mode 0600) when there is none.

    Raises:
        ConfigError: the file is not 32 bytes, or others than its owner may read it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"WHARF_SECRETS_KEY_FILE: {path} may be read by others (mode {mode:o}); "
            f"run chmod 600 {path}"
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ConfigError(f"WHARF_SECRETS_KEY_FILE: {path} must hold {KEY_BYTES} bytes")
    return key


def _create_key(path: Path) -> None:
    # Written whole under another name, then linked into place: a second gateway starting at
    # the same moment reads either no file or the complete one, and one key wins.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
    finally:
        partial.unlink()


class SecretBox:
    """Seals and opens secret values with the gateway's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the secrets key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        # A key of its own for naming inline secrets, so no key serves two purposes.
        self._naming_key = hmac.digest(key, b"wharf inline secret names", "sha256")

    def seal(self, values: dict[str, str], context: str) -> bytes:
        """The values encrypted and authenticated, bound to `context` (workspace and name)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plain, context.encode())

    def unseal(self, sealed: bytes, context: str) -> dict[str, str]:
        """The values of a sealed blob.

        Raises:
            ValueError: it was sealed with another key or context, or was altered.
        """
        if sealed[:1] != _FORMAT_V1 or len(sealed) < 1 + NONCE_BYTES:
            raise ValueError("not a sealed secret of a known format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag as exc:
            raise ValueError("the sealed secret does not open with this key and context") from exc
        values = orjson.loads(plain)
        return {str(key): str(value) for key, value in values.items()}

    def inline_name(self, workspace_id: str, values: dict[str, str]) -> str:
        """The name of an inline secret: the same values give the same name in a workspace."""
        message = workspace_id.encode() + b"\0" + orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        return INLINE_PREFIX + hmac.digest(self._naming_key, message, "sha256").hex()[:32]


def _context(workspace_id: str, name: str) -> str:
    return f"{workspace_id}/{name}"


class SecretService:
    """Secrets of workspaces: created, listed and deleted over the API, used by functions."""

    def __init__(self, store: SecretStore, box: SecretBox) -> None:
        self._store = store
        self._box = box

    def _record(self, workspace_id: str, name: str, values: dict[str, str]) -> SecretRecord:
        now = time.time()
        sealed = self._box.seal(values, _context(workspace_id, name))
        return SecretRecord(workspace_id, name, tuple(sorted(values)), sealed, now, now)

    async def create(
        self, workspace_id: str, name: object, values: object, *, overwrite: bool
    ) -> tuple[SecretRecord, bool]:
        """Store a secret; returns it and whether it is new (else it replaced one).

        Raises:
            InvalidRequest: a bad name or values.
            Conflict: it exists and `overwrite` is false.
        """
        name = check_secret_name(name)
        checked = check_values(values, f"secret {name!r}")
        record = self._record(workspace_id, name, checked)
        created = await self._store.put_secret(record, overwrite=overwrite)
        return record, created

    async def of_workspace(self, workspace_id: str) -> list[SecretRecord]:
        """The workspace's secrets by name (inline ones left out)."""
        return await self._store.secrets(workspace_id)

    async def get(self, workspace_id: str, name: str) -> SecretRecord:
        """A secret of the workspace (its sealed values stay sealed).

        Raises:
            NotFound: there is none of that name.
        """
        record = None
        if _NAME.fullmatch(name):
            record = await self._store.secret(workspace_id, name)
        if record is None:
            raise NotFound(f"no secret named {name!r}")
        return record

    async def delete(self, workspace_id: str, name: str) -> None:
        """Delete a secret; containers started later for functions using it fail to start.

        Raises:
            NotFound: there is none of that name.
        """
        if not _NAME.fullmatch(name) or not await self._store.delete_secret(workspace_id, name):
            raise NotFound(f"no secret named {name!r}")

    async def resolve(self, workspace_id: str, functions: list[dict[str, Any]]) -> None:
        """Turn each function's secret references into names, in place, before it is stored:
        named secrets must exist (with their required keys); inline values are sealed.

        Raises:
            NotFound: a named secret does not exist in the workspace.
            InvalidRequest: a named secret lacks one of its required keys.
        """
        for definition in functions:
            names = []
            for reference in definition.get("secrets") or []:
                if "values" in reference:
                    names.append(await self._put_inline(workspace_id, reference["values"]))
                    continue
                name = reference["name"]
                record = await self._store.secret(workspace_id, name)
                if record is None:
                    raise NotFound(
                        f"function {definition['name']!r} uses secret {name!r}, which does not "
                        f"exist: create it with `wharf secret create {name} KEY=VALUE ...`"
                    )
                missing = sorted(set(reference["required_keys"]) - set(record.keys))
                if missing:
                    raise InvalidRequest(
                        f"secret {name!r} lacks the keys function {definition['name']!r} "
                        f"requires: {', '.join(missing)}"
                    )
                names.append(name)
            definition["secrets"] = names

    async def _put_inline(self, workspace_id: str, values: dict[str, str]) -> str:
        name = self._box.inline_name(workspace_id, values)
        await self._store.put_secret(
            self._record(workspace_id, name, values), overwrite=False, inline=True
        )
        return name

    async def environment(self, function: FunctionRecord) -> dict[str, str]:
        """The variables of the function's secrets, later ones winning, for a new container.

        Raises:
            NotFound: a secret was deleted since the deploy (the container must not start).
            SecretUnreadable: a secret does not open with this gateway's key.
        """
        environment: dict[str, str] = {}
        for name in function.definition.secrets:
            record = await self._store.secret(function.workspace_id, name)
            if record is None:
                raise NotFound(_missing_at_start(function, name))
            try:
                values = self._box.unseal(record.sealed, _context(record.workspace_id, name))
            except ValueError as exc:
                raise SecretUnreadable(name) from exc
            environment.update(values)
        return environment


def _missing_at_start(function: FunctionRecord, name: str) -> str:
    if name.startswith(INLINE_PREFIX):
        return (
            f"an inline secret (Secret.from_dict) of function {function.name!r} is missing; "
            "deploy the app again"
        )
    return (
        f"secret {name!r}, which function {function.name!r} uses, was deleted; create it again "
        f"with `wharf secret create {name} KEY=VALUE ...`"
    )
