"""Tokens and workspaces over the API: own workspace for every token, everything for admins."""

from __future__ import annotations

import asyncio

import httpx
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import RunningGateway, wait_until


def bearer(token_id: str, secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token_id}:{secret}"}


def test_the_first_token_is_an_admin_that_creates_workspaces(gateway: RunningGateway) -> None:
    admin = {"authorization": gateway.authorization}
    created = httpx.post(f"{gateway.url}/v1/workspaces", json={"name": "team-b"}, headers=admin)
    assert created.status_code == 201
    team_b = bearer(created.json()["token_id"], created.json()["token_secret"])
    assert httpx.get(f"{gateway.url}/v1/apps", headers=team_b).json() == {"apps": []}
    refused = httpx.post(f"{gateway.url}/v1/workspaces", json={"name": "team-c"}, headers=team_b)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    again = httpx.post(f"{gateway.url}/v1/workspaces", json={"name": "team-b"}, headers=admin)
    assert again.status_code == 400
    bad = httpx.post(f"{gateway.url}/v1/workspaces", json={"name": "a--b"}, headers=admin)
    assert bad.status_code == 400


def test_tokens_are_listed_created_and_revoked_within_the_workspace(
    gateway: RunningGateway,
) -> None:
    other = asyncio.run(create_workspace(gateway.config, "other"))
    other_headers = bearer(other.token_id, other.secret)
    made = httpx.post(f"{gateway.url}/v1/tokens", headers=other_headers)
    assert made.status_code == 201
    new_headers = bearer(made.json()["token_id"], made.json()["token_secret"])
    listed = httpx.get(f"{gateway.url}/v1/tokens", headers=new_headers).json()["tokens"]
    assert {token["token_id"] for token in listed} == {other.token_id, made.json()["token_id"]}
    assert all("secret" not in str(token) for token in listed)
    # Another workspace's token (not admin) sees an unknown id, and cannot reach across.
    main_user = httpx.post(
        f"{gateway.url}/v1/tokens", headers={"authorization": gateway.authorization}
    ).json()
    main_headers = bearer(main_user["token_id"], main_user["token_secret"])
    across = httpx.delete(f"{gateway.url}/v1/tokens/{other.token_id}", headers=main_headers)
    assert across.status_code == 404
    peek = httpx.get(f"{gateway.url}/v1/tokens?workspace=other", headers=main_headers)
    assert peek.status_code == 404
    revoked = httpx.delete(
        f"{gateway.url}/v1/tokens/{made.json()['token_id']}", headers=other_headers
    )
    assert revoked.json() == {"token_id": made.json()["token_id"], "revoked": True}
    assert httpx.get(f"{gateway.url}/v1/apps", headers=new_headers).status_code == 401


def test_an_admin_manages_tokens_of_any_workspace(gateway: RunningGateway) -> None:
    admin = {"authorization": gateway.authorization}
    other = asyncio.run(create_workspace(gateway.config, "managed"))
    listed = httpx.get(f"{gateway.url}/v1/tokens?workspace=managed", headers=admin)
    assert [token["token_id"] for token in listed.json()["tokens"]] == [other.token_id]
    made = httpx.post(f"{gateway.url}/v1/tokens", json={"workspace": "managed"}, headers=admin)
    assert made.status_code == 201
    assert httpx.delete(f"{gateway.url}/v1/tokens/{other.token_id}", headers=admin).json()[
        "revoked"
    ]

    def refused() -> bool:
        headers = bearer(other.token_id, other.secret)
        return httpx.get(f"{gateway.url}/v1/apps", headers=headers).status_code == 401

    wait_until(refused)


def test_expired_revoked_and_malformed_tokens_get_401_with_a_clear_message(
    gateway: RunningGateway,
) -> None:
    admin = {"authorization": gateway.authorization}
    made = httpx.post(f"{gateway.url}/v1/tokens", json={"expires_in": 1}, headers=admin).json()
    short_lived = bearer(made["token_id"], made["token_secret"])
    assert httpx.get(f"{gateway.url}/v1/apps", headers=short_lived).status_code == 200
    listed = httpx.get(f"{gateway.url}/v1/tokens", headers=admin).json()["tokens"]
    assert [t["expires_at"] for t in listed if t["token_id"] == made["token_id"]] != [None]

    def refused() -> httpx.Response | None:
        answer = httpx.get(f"{gateway.url}/v1/apps", headers=short_lived)
        return answer if answer.status_code == 401 else None

    expired = wait_until(refused, timeout_s=10)
    assert f"the token {made['token_id']} expired at " in expired.json()["error"]["message"]
    assert expired.headers["www-authenticate"].startswith("Bearer")

    other = httpx.post(f"{gateway.url}/v1/tokens", headers=admin).json()
    httpx.delete(f"{gateway.url}/v1/tokens/{other['token_id']}", headers=admin)
    revoked = httpx.get(
        f"{gateway.url}/v1/apps", headers=bearer(other["token_id"], other["token_secret"])
    )
    assert revoked.status_code == 401
    assert revoked.json()["error"]["message"] == f"the token {other['token_id']} was revoked"

    for header in ("Bearer", "Bearer nocolon", "Basic a:b", f"Bearer {other['token_id']}:wrong"):
        malformed = httpx.get(f"{gateway.url}/v1/apps", headers={"authorization": header})
        assert malformed.status_code == 401, header
        assert "token" in malformed.json()["error"]["message"]

    never = httpx.post(f"{gateway.url}/v1/tokens", json={"expires_in": "soon"}, headers=admin)
    assert never.status_code == 400
    assert "not a duration" in never.json()["error"]["message"]
