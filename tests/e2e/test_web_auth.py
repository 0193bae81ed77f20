"""`requires_proxy_auth=True`: the gateway demands a token of the endpoint's workspace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import RunningGateway, deploy_file, write_app

AUTH_APP = """
    from fastapi import Request

    import wharf as modal

    app = modal.App("guarded")


    @app.function()
    @modal.web_endpoint(requires_proxy_auth=True)
    def private(request: Request):
        return {
            "saw_authorization": "authorization" in request.headers,
            "saw_modal_secret": "modal-secret" in request.headers,
        }


    @app.function()
    @modal.web_endpoint(requires_proxy_auth=True, wait_for_response=False)
    def private_later():
        return {"secret": "for token holders"}


    @app.function()
    @modal.web_endpoint()
    def public():
        return {"public": True}
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


def test_a_result_url_answers_only_for_its_own_endpoint(
    guarded: str, client_env: RunningGateway
) -> None:
    auth = {"authorization": client_env.authorization}
    private = f"{client_env.url}/web/main--guarded-private-later/"
    accepted = httpx.get(private, headers=auth, timeout=30)
    assert accepted.status_code == 202
    call_id = accepted.headers["location"].rsplit("__modal_function_id=", 1)[1]
    # Its own result URL (with the token) gives the response once it is there.
    own = f"{private}?__modal_function_id={call_id}"
    assert httpx.get(own, headers=auth, timeout=30, follow_redirects=True).json() == {
        "secret": "for token holders"
    }
    # Another endpoint of the same workspace, public, never replays it.
    public = f"{client_env.url}/web/main--guarded-public/?__modal_function_id={call_id}"
    stolen = httpx.get(public, timeout=30, follow_redirects=True)
    assert stolen.status_code == 404
    assert "for token holders" not in stolen.text
