"""Secrets end to end: made with the CLI or the API, read by deployed functions as environment
variables, kept out of every answer, log and file, and out of other workspaces' reach."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf._http import run_flow
from wharf._secret import create_secret
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import (
    RunningGateway,
    deploy_file,
    gateway_config,
    point_client_at,
    run_wharf,
    running_gateway,
    unique_name,
    write_app,
)

NAMED_VALUE = "named-value-7c1e9d4b"
INLINE_VALUE = "inline-value-52fa03e8"
LOCAL_VALUE = "local-value-9b7d2c61"

READER_APP = """
    import hashlib
    import os

    import wharf as modal

    app = modal.App("secret-reader")


    @app.function(
        secrets=[
            modal.Secret.from_name("db-creds", required_keys=["DB_PASSWORD"]),
            # The value comes from the deploying process (it is not in the uploaded source);
            # in the container the variable is not set, and None values are left out.
            modal.Secret.from_dict({"INLINE_TOKEN": os.environ.get("TEST_INLINE_VALUE")}),
            modal.Secret.from_local_environ(["LOCAL_TOKEN"]),
        ]
    )
    def read(keys: list) -> dict:
        print("reading", len(keys), "variables")
        return {key: _digest(os.environ.get(key)) for key in keys}


    @app.function()
    def plain(keys: list) -> dict:
        return {key: _digest(os.environ.get(key)) for key in keys}


    def _digest(value):
        # Digests, not values: a result is stored, and this test looks for values in the files.
        return None if value is None else hashlib.sha256(value.encode()).hexdigest()
"""

MISSING_APP = """
    import wharf as modal

    app = modal.App("needs-missing")


    @app.function(secrets=[modal.Secret.from_name("no-such-secret")])
    def f() -> int:
        return 1
"""

DELETED_APP = """
    import os

    import wharf as modal

    app = modal.App("loses-its-secret")


    @app.function(secrets=[modal.Secret.from_name("short-lived")])
    def f() -> str:
        return os.environ["SHORT"]
"""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _headers(token_id: str, secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token_id}:{secret}"}


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with running_gateway(gateway_config(tmp_path / "data")) as running:
        point_client_at(running, monkeypatch)
        yield running


def test_secrets_are_created_listed_and_deleted_with_the_cli(gateway: RunningGateway) -> None:
    env = gateway.client_environment
    name = unique_name("cli")

    created = run_wharf(["secret", "create", name, f"PASSWORD={NAMED_VALUE}", "USER=ada"], env)
    assert created.returncode == 0, created.stderr
    assert f"Created secret {name!r} with keys PASSWORD, USER" in created.stdout
    again = run_wharf(["secret", "create", name, "PASSWORD=other"], env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "--force" in again.stderr
    forced = run_wharf(["secret", "create", "--force", name, "PASSWORD=x=y", "EMPTY="], env)
    assert forced.returncode == 0, forced.stderr
    assert f"Replaced secret {name!r}" in forced.stdout

    listed = run_wharf(["secret", "list"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(name)]
    assert "EMPTY, PASSWORD" in row
    assert NAMED_VALUE not in listed.stdout
    assert "x=y" not in listed.stdout

    bad = run_wharf(["secret", "create", name, "NOT-A-KEY=1"], env)
    assert bad.returncode != 0
    assert "is not an environment variable name" in bad.stderr
    deleted = run_wharf(["secret", "delete", name], env)
    assert deleted.returncode == 0, deleted.stderr
    assert name not in run_wharf(["secret", "list"], env).stdout
    missing = run_wharf(["secret", "delete", name], env)
    assert missing.returncode == 1
    assert f"no secret named {name!r}" in missing.stderr


def test_the_api_never_answers_with_values_and_checks_its_input(gateway: RunningGateway) -> None:
    url, headers = f"{gateway.url}/v1/secrets", {"authorization": gateway.authorization}
    body = {"name": "api-made", "values": {"API_KEY": NAMED_VALUE}}

    created = httpx.post(url, json=body, headers=headers)
    assert created.status_code == 201
    assert created.json()["keys"] == ["API_KEY"]
    assert httpx.post(url, json=body, headers=headers).status_code == 409
    assert httpx.post(url, json={**body, "overwrite": True}, headers=headers).status_code == 200
    answers = [
        created,
        httpx.get(url, headers=headers),
        httpx.get(f"{url}/api-made", headers=headers),
        httpx.get(f"{gateway.url}/v1/openapi.json"),
    ]
    assert all(NAMED_VALUE not in answer.text for answer in answers)
    assert answers[1].json()["secrets"][0]["name"] == "api-made"
    assert answers[2].json()["keys"] == ["API_KEY"]
    assert {"/v1/secrets", "/v1/secrets/{name}"} <= set(answers[3].json()["paths"])
    assert httpx.get(url).status_code == 401

    refusals = {
        "bad secret name": {"name": "no spaces", "values": {"A": "b"}},
        "non-empty object": {"name": "ok", "values": {}},
        "is not an environment variable name": {"name": "ok", "values": {"A-B": "b"}},
        "is reserved": {"name": "ok", "values": {"WHARF_TOKEN_SECRET": "b"}},
        "must be a string": {"name": "ok", "values": {"A": 1}},
        "overwrite must be true or false": {**body, "overwrite": "yes"},
    }
    for message, refused in refusals.items():
        answer = httpx.post(url, json=refused, headers=headers)
        assert answer.status_code == 400, message
        assert message in answer.json()["error"]["message"]
    too_big = {"name": "ok", "values": {"A": "x" * 600_000}}
    assert httpx.post(url, json=too_big, headers=headers).status_code == 413
    assert httpx.post(url, content=b"[", headers=headers).status_code == 400
    assert repr(modal.Secret.lookup("api-made")) == "Secret.from_name('api-made')"
    assert httpx.delete(f"{url}/api-made", headers=headers).json() == {
        "name": "api-made",
        "deleted": True,
    }
    assert httpx.get(f"{url}/api-made", headers=headers).status_code == 404
    with pytest.raises(modal.NotFoundError, match="no secret named 'api-made'"):
        modal.Secret.lookup("api-made")
    assert run_flow(create_secret("api-made", {"API_KEY": "x"}, overwrite=False))
    with pytest.raises(modal.InvalidError, match="already exists"):
        run_flow(create_secret("api-made", {"API_KEY": "x"}, overwrite=False))


def test_another_workspace_can_neither_see_delete_nor_use_a_secret(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    url = f"{gateway.url}/v1/secrets"
    main_headers = {"authorization": gateway.authorization}
    body = {"name": "db-creds", "values": {"DB_PASSWORD": NAMED_VALUE}}
    assert httpx.post(url, json=body, headers=main_headers).status_code == 201
    team = asyncio.run(create_workspace(gateway.config, unique_name("team")))
    team_headers = _headers(team.token_id, team.secret)

    assert httpx.get(url, headers=team_headers).json() == {"secrets": []}
    assert httpx.get(f"{url}/db-creds", headers=team_headers).status_code == 404
    assert httpx.delete(f"{url}/db-creds", headers=team_headers).status_code == 404
    team_env = {
        **gateway.client_environment,
        "WHARF_TOKEN_ID": team.token_id,
        "WHARF_TOKEN_SECRET": team.secret,
        "TEST_INLINE_VALUE": INLINE_VALUE,
        "LOCAL_TOKEN": LOCAL_VALUE,
    }
    deployed = run_wharf(["deploy", str(write_app(tmp_path, READER_APP))], team_env)
    assert deployed.returncode == 1
    assert "uses secret 'db-creds', which does not exist" in deployed.stderr
    # Its own secret of the same name is its own.
    own = {"name": "db-creds", "values": {"DB_PASSWORD": "team-value"}}
    assert httpx.post(url, json=own, headers=team_headers).status_code == 201
    assert httpx.get(f"{url}/db-creds", headers=main_headers).json()["keys"] == ["DB_PASSWORD"]


def test_functions_read_their_secrets_which_stay_out_of_answers_logs_and_files(
    gateway: RunningGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"authorization": gateway.authorization}
    body = {"name": "db-creds", "values": {"DB_PASSWORD": NAMED_VALUE, "SHARED": "named"}}
    assert httpx.post(f"{gateway.url}/v1/secrets", json=body, headers=headers).status_code == 201
    monkeypatch.setenv("TEST_INLINE_VALUE", INLINE_VALUE)
    monkeypatch.setenv("LOCAL_TOKEN", LOCAL_VALUE)
    deploy_file(write_app(tmp_path, READER_APP))

    keys = ["DB_PASSWORD", "INLINE_TOKEN", "LOCAL_TOKEN", "SHARED", "TEST_INLINE_VALUE"]
    assert modal.Function.from_name("secret-reader", "read").remote(keys) == {
        "DB_PASSWORD": _digest(NAMED_VALUE),
        "INLINE_TOKEN": _digest(INLINE_VALUE),
        "LOCAL_TOKEN": _digest(LOCAL_VALUE),
        "SHARED": _digest("named"),
        "TEST_INLINE_VALUE": None,
    }
    # Only the functions that name them get them.
    plain = modal.Function.from_name("secret-reader", "plain").remote(keys)
    assert set(plain.values()) == {None}

    values = [NAMED_VALUE, INLINE_VALUE, LOCAL_VALUE]
    answers = [
        httpx.get(f"{gateway.url}/v1/apps/secret-reader", headers=headers).text,
        httpx.get(f"{gateway.url}/v1/apps/secret-reader/functions/read", headers=headers).text,
        httpx.get(f"{gateway.url}/v1/apps/secret-reader/logs", headers=headers).text,
        httpx.get(f"{gateway.url}/v1/secrets", headers=headers).text,
    ]
    for value in values:
        assert not any(value in answer for answer in answers)
        assert value not in caplog.text
        for path in gateway.config.data_dir.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), path
    assert "INLINE_TOKEN" not in answers[1]


def test_a_missing_secret_fails_the_deploy_and_a_deleted_one_the_container_start(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    env = gateway.client_environment
    deployed = run_wharf(["deploy", str(write_app(tmp_path, MISSING_APP))], env)
    assert deployed.returncode == 1
    assert "uses secret 'no-such-secret', which does not exist" in deployed.stderr
    assert "wharf secret create no-such-secret" in deployed.stderr

    created = run_wharf(["secret", "create", "short-lived", "SHORT=lived"], env)
    assert created.returncode == 0, created.stderr
    deploy_file(write_app(tmp_path, DELETED_APP))
    assert run_wharf(["secret", "delete", "short-lived"], env).returncode == 0
    with pytest.raises(modal.ExecutionError, match=r"secret 'short-lived'.* was deleted"):
        modal.Function.from_name("loses-its-secret", "f").remote()
