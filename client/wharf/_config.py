"""Where the client finds its gateway and token.

| source | what | default |
| --- | --- | --- |
| `WHARF_CONFIG_PATH` | path of the profiles file | `~/.wharf.toml` |
| `WHARF_PROFILE` | profile to use | the one with `active = true`, else the first |
| `WHARF_SERVER_URL` | gateway URL (overrides the profile) | from the profile |
| `WHARF_TOKEN_ID` | token id (overrides the profile) | from the profile |
| `WHARF_TOKEN_SECRET` | token secret (overrides the profile) | from the profile |
| `WHARF_CA_BUNDLE` | PEM file of extra CAs to trust for HTTPS | the system's |
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wharf._errors import AuthError


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to reach a gateway and who to be there."""

    server_url: str
    token_id: str
    token_secret: str
    ca_bundle: str | None = None

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token_id}:{self.token_secret}"


def config_path(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("WHARF_CONFIG_PATH") or Path.home() / ".wharf.toml").expanduser()


def _read_profiles(path: Path) -> dict[str, object]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    cached = _profiles_cache.get(key)
    if cached is None:
        try:
            with path.open("rb") as file:
                cached = tomllib.load(file)
        except tomllib.TOMLDecodeError as exc:
            raise AuthError(f"the Wharf profiles file {path} is not valid TOML: {exc}") from exc
        _profiles_cache.clear()
        _profiles_cache[key] = cached
    return cached


_profiles_cache: dict[tuple[str, int, int], dict[str, object]] = {}


def load_profile(environ: Mapping[str, str]) -> dict[str, str]:
    """The chosen profile of the profiles file, or an empty one when there is no file."""
    path = config_path(environ)
    profiles = _read_profiles(path)
    wanted = environ.get("WHARF_PROFILE")
    tables = {name: value for name, value in profiles.items() if isinstance(value, dict)}
    if wanted:
        if wanted not in tables:
            raise AuthError(f"profile {wanted!r} is not in {path}")
        return {key: str(value) for key, value in tables[wanted].items()}
    chosen = next((table for table in tables.values() if table.get("active")), None)
    if chosen is None and tables:
        chosen = next(iter(tables.values()))
    return {key: str(value) for key, value in (chosen or {}).items()}


def load_credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from the environment, falling back to the profiles file.

    Raises:
        AuthError: no server URL or token could be found.
    """
    environ = os.environ if environ is None else environ
    names = ("WHARF_SERVER_URL", "WHARF_TOKEN_ID", "WHARF_TOKEN_SECRET")
    profile = {} if all(environ.get(name) for name in names) else load_profile(environ)
    server_url = environ.get("WHARF_SERVER_URL") or profile.get("server_url")
    token_id = environ.get("WHARF_TOKEN_ID") or profile.get("token_id")
    token_secret = environ.get("WHARF_TOKEN_SECRET") or profile.get("token_secret")
    if not (server_url and token_id and token_secret):
        raise AuthError(
            "no Wharf credentials: set WHARF_SERVER_URL, WHARF_TOKEN_ID and WHARF_TOKEN_SECRET, "
            f"or start `wharf server` once to write {config_path(environ)}"
        )
    return Credentials(
        server_url=server_url.rstrip("/"),
        token_id=token_id,
        token_secret=token_secret,
        ca_bundle=environ.get("WHARF_CA_BUNDLE") or None,
    )
