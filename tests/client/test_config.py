"""Where the client finds its gateway and token: environment first, then the profiles file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from wharf._config import Credentials, load_credentials
from wharf._errors import AuthError

PROFILES = """
    [home]
    server_url = "http://home.test:8000/"
    token_id = "wk-home"
    token_secret = "ws-home"

    [work]
    server_url = "https://work.test"
    token_id = "wk-work"
    token_secret = "ws-work"
    active = true
"""
#: The credentials of the active profile above.
WORK = Credentials("https://work.test", "wk-work", "ws-work")


def _profiles(tmp_path: Path, text: str = PROFILES) -> dict[str, str]:
    """An environment pointing at a profiles file holding `text`."""
    path = tmp_path / "wharf.toml"
    path.write_text(textwrap.dedent(text))
    return {"WHARF_CONFIG_PATH": str(path)}


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    environ = {
        "WHARF_CONFIG_PATH": str(tmp_path / "absent.toml"),
        "WHARF_SERVER_URL": "http://127.0.0.1:8000/",
        "WHARF_TOKEN_ID": "wk-env",
        "WHARF_TOKEN_SECRET": "ws-env",
    }

    credentials = load_credentials(environ)

    assert credentials == Credentials("http://127.0.0.1:8000", "wk-env", "ws-env")
    assert credentials.authorization == "Bearer wk-env:ws-env"


def test_complete_environment_ignores_a_broken_profiles_file(tmp_path: Path) -> None:
    environ = {
        **_profiles(tmp_path, "this is [not toml"),
        "WHARF_SERVER_URL": "http://127.0.0.1:8000",
        "WHARF_TOKEN_ID": "wk-env",
        "WHARF_TOKEN_SECRET": "ws-env",
    }

    assert load_credentials(environ) == Credentials("http://127.0.0.1:8000", "wk-env", "ws-env")


def test_active_profile_is_the_default(tmp_path: Path) -> None:
    credentials = load_credentials(_profiles(tmp_path))

    assert credentials == WORK


def test_first_profile_is_used_when_none_is_active(tmp_path: Path) -> None:
    environ = _profiles(tmp_path, PROFILES.replace("active = true", ""))

    assert load_credentials(environ) == Credentials("http://home.test:8000", "wk-home", "ws-home")


def test_wharf_profile_picks_a_profile(tmp_path: Path) -> None:
    environ = {**_profiles(tmp_path), "WHARF_PROFILE": "home"}

    assert load_credentials(environ) == Credentials("http://home.test:8000", "wk-home", "ws-home")


def test_unknown_wharf_profile_is_refused_naming_it(tmp_path: Path) -> None:
    environ = {**_profiles(tmp_path), "WHARF_PROFILE": "holiday"}

    with pytest.raises(AuthError, match="profile 'holiday' is not in"):
        load_credentials(environ)


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("WHARF_SERVER_URL", "http://override.test", "server_url"),
        ("WHARF_TOKEN_ID", "wk-env", "token_id"),
        ("WHARF_TOKEN_SECRET", "ws-env", "token_secret"),
    ],
)
def test_each_environment_variable_overrides_the_profile(
    tmp_path: Path, name: str, value: str, field: str
) -> None:
    credentials = load_credentials({**_profiles(tmp_path), name: value})

    assert getattr(credentials, field) == value
    others = {"server_url", "token_id", "token_secret"} - {field}
    assert all(getattr(credentials, other) == getattr(WORK, other) for other in others)


def test_ca_bundle_comes_from_the_environment(tmp_path: Path) -> None:
    environ = {**_profiles(tmp_path), "WHARF_CA_BUNDLE": "/etc/wharf/ca.pem"}

    assert load_credentials(environ).ca_bundle == "/etc/wharf/ca.pem"


def test_profiles_file_is_read_again_after_it_changes(tmp_path: Path) -> None:
    environ = _profiles(tmp_path)
    assert load_credentials(environ) == WORK

    _profiles(tmp_path, PROFILES.replace('"wk-work"', '"wk-rotated"'))

    assert load_credentials(environ) == Credentials("https://work.test", "wk-rotated", "ws-work")


def test_missing_everything_raises_auth_error_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(AuthError) as caught:
        load_credentials({"WHARF_CONFIG_PATH": str(path)})

    message = str(caught.value)
    assert "set WHARF_SERVER_URL, WHARF_TOKEN_ID and WHARF_TOKEN_SECRET" in message
    assert f"start `wharf server` once to write {path}" in message


def test_profile_missing_its_secret_raises_auth_error(tmp_path: Path) -> None:
    environ = _profiles(tmp_path, '[main]\nserver_url = "http://x.test"\ntoken_id = "wk-1"\n')

    with pytest.raises(AuthError, match="no Wharf credentials"):
        load_credentials(environ)
