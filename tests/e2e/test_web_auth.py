"""`requires_proxy_auth=True`: the gateway demands a token of the endpoint's workspace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gateway.bootstrap import create_workspace
from tests.helpers import RunningGateway, deploy_file, write_app

AUTH_APP = """
    from fastapi import Request

    import client as modal

    app = modal.App("guarded")


    @app.function()
    @modal.web_endpoint(requires_proxy_auth=True)
    def private(request: Request):
        return {
            "saw_authorization": "authorization" in request.headers,
            "saw_modal_secret": "modal-secret" in request.headers,
        }
"""


@pytest.fixture
def guarded(client_env: RunningGateway, tmp_path: Path) -> str:
    deploy_file(write_app(tmp_path, AUTH_APP))
    return f"{client_env.url}/web/main--guarded-private/"


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wk-nope:ws-nope"}, {"modal-key": "wk-x", "modal-secret": "y"}],
)
def test_missing_or_wrong_tokens_get_401(guarded: str, headers: dict[str, str]) -> None:
    response = httpx.get(guarded, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_of_another_workspace_gets_401(guarded: str, client_env: RunningGateway) -> None:
    other = asyncio.run(create_workspace(client_env.config, "elsewhere"))
    headers = {"authorization": f"Bearer {other.token_id}:{other.secret}"}
    assert httpx.get(guarded, headers=headers, timeout=30).status_code == 401


def test_the_workspace_token_is_accepted_and_never_reaches_the_container(
    guarded: str, client_env: RunningGateway
) -> None:
    bearer = httpx.get(guarded, headers={"authorization": client_env.authorization}, timeout=30)
    assert bearer.json() == {"saw_authorization": False, "saw_modal_secret": False}
    pair = {"modal-key": client_env.token.token_id, "modal-secret": client_env.token.secret}
    assert httpx.get(guarded, headers=pair, timeout=30).json() == {
        "saw_authorization": False,
        "saw_modal_secret": False,
    }
