"""Attacks of one workspace (or of anyone on the internet) on another, as an outside tester ran
them: claiming a host name, flooding a public endpoint, guessing tokens, forging `Host`, and
names that differ only in case. Each fails on the gateway before this isolation was built."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import (
    RunningGateway,
    gateway_config,
    run_wharf,
    running_gateway,
    scaled,
    wait_until,
    write_app,
)

BRANDED_APP = """
    import wharf as modal

    app = modal.App("{name}")


    @app.function()
    @modal.web_endpoint(custom_domains=["api.wharf.test"])
    def branded():
        return "{name}"


    @app.function()
    @modal.web_endpoint()
    def public():
        return "public"
"""


def _admin(gateway: RunningGateway) -> dict[str, str]:
    return {"authorization": gateway.authorization}


def _workspace(gateway: RunningGateway, name: str) -> dict[str, str]:
    """A new workspace's client environment (its first token)."""
    made = httpx.post(f"{gateway.url}/v1/workspaces", json={"name": name}, headers=_admin(gateway))
    assert made.status_code == 201, made.text
    body = made.json()
    return {
        "WHARF_SERVER_URL": gateway.url,
        "WHARF_TOKEN_ID": body["token_id"],
        "WHARF_TOKEN_SECRET": body["token_secret"],
        "WHARF_CONFIG_PATH": "/nonexistent/wharf.toml",
    }


def _bearer(environment: dict[str, str]) -> dict[str, str]:
    token = f"{environment['WHARF_TOKEN_ID']}:{environment['WHARF_TOKEN_SECRET']}"
    return {"authorization": f"Bearer {token}"}


def _deploy(tmp_path: Path, environment: dict[str, str], name: str) -> tuple[int, str]:
    app = write_app(tmp_path, BRANDED_APP.format(name=name))
    done = run_wharf(["deploy", str(app)], environment, timeout_s=120)
    return done.returncode, done.stdout + done.stderr


def _on_host(gateway: RunningGateway, host: str, path: str = "/", **kwargs: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", headers={"host": host, **kwargs}, timeout=30)


@pytest.fixture
def tenants(gateway: RunningGateway) -> tuple[RunningGateway, dict[str, str]]:
    """The test's gateway, and workspace B's client environment (A is `main`)."""
    return gateway, _workspace(gateway, "team-b")


def test_a_custom_domain_serves_only_the_workspace_it_was_granted_to(
    tenants: tuple[RunningGateway, dict[str, str]], tmp_path: Path
) -> None:
    gateway, team_b = tenants
    # Before: B's deploy claimed the name, and A's requests (token included) reached B.
    code, output = _deploy(tmp_path, team_b, "b-app")
    assert code != 0
    assert "not granted" in output
    assert "wharf domain add api.wharf.test --workspace team-b" in output
    stolen = _on_host(gateway, "api.wharf.test", "/v1/apps", authorization=gateway.authorization)
    assert stolen.status_code == 404  # answered by the gateway, never by a container
    assert stolen.json()["error"]["code"] == "not_found"

    admin_env = {**team_b, **_cli_environment(gateway)}
    granted = run_wharf(["domain", "add", "api.wharf.test", "--workspace", "team-b"], admin_env)
    assert granted.returncode == 0, granted.stderr
    code, output = _deploy(tmp_path, team_b, "b-app")
    assert code == 0, output
    assert _on_host(gateway, "api.wharf.test").json() == "b-app"

    main_env = _cli_environment(gateway)
    code, output = _deploy(tmp_path, main_env, "a-app")  # A cannot take it over
    assert code != 0
    assert "not granted to workspace 'main'" in output
    assert _on_host(gateway, "api.wharf.test").json() == "b-app"  # B's version still serves

    listing = run_wharf(["domain", "list"], main_env)
    assert "api.wharf.test" in listing.stdout
    assert "team-b" in listing.stdout
    assert (
        httpx.get(f"{gateway.url}/v1/domains", headers=_bearer(team_b)).json()["domains"][0]["host"]
        == "api.wharf.test"
    )
    revoked = run_wharf(["domain", "remove", "api.wharf.test"], main_env)
    assert revoked.returncode == 0, revoked.stderr
    assert _on_host(gateway, "api.wharf.test").status_code == 404  # at once


def _cli_environment(gateway: RunningGateway) -> dict[str, str]:
    return {**gateway.client_environment, "WHARF_CONFIG_PATH": "/nonexistent/wharf.toml"}


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "x.localhost",
        "api.localhost",
        "main--f.localhost",
        "[::1]",
        "nodot",
    ],
)
def test_the_gateways_own_names_can_never_be_granted(gateway: RunningGateway, host: str) -> None:
    refused = httpx.post(
        f"{gateway.url}/v1/domains",
        json={"host": host, "workspace": "main"},
        headers=_admin(gateway),
    )
    assert refused.status_code == 400, refused.text
    assert "cannot be granted" in refused.json()["error"]["message"]


def test_only_an_admin_grants_and_revokes_domains(
    tenants: tuple[RunningGateway, dict[str, str]],
) -> None:
    gateway, team_b = tenants
    body = {"host": "b.example.test", "workspace": "team-b"}
    assert (
        httpx.post(f"{gateway.url}/v1/domains", json=body, headers=_bearer(team_b)).status_code
        == 403
    )
    assert (
        httpx.post(f"{gateway.url}/v1/domains", json=body, headers=_admin(gateway)).status_code
        == 201
    )
    taken = httpx.post(
        f"{gateway.url}/v1/domains",
        json={"host": "b.example.test", "workspace": "main"},
        headers=_admin(gateway),
    )
    assert taken.status_code == 409
    assert (
        httpx.delete(
            f"{gateway.url}/v1/domains/b.example.test", headers=_bearer(team_b)
        ).status_code
        == 403
    )


def test_a_host_the_gateway_does_not_serve_gets_404_not_the_api(gateway: RunningGateway) -> None:
    forged = _on_host(gateway, "evil.example.com", "/v1/apps", authorization=gateway.authorization)
    assert forged.status_code == 404
    bare = _on_host(gateway, "x", "/v1/health")
    assert bare.status_code == 404


def test_absolute_urls_come_from_the_public_url_never_from_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import deploy_file, point_client_at

    config = gateway_config(tmp_path / "data", public_url="https://wharf.example.test")
    with running_gateway(config) as gateway:
        point_client_at(gateway, monkeypatch)
        deploy_file(write_app(tmp_path, ASYNC_APP))
        port = urlsplit(gateway.url).port
        headers = {**_admin(gateway), "prefer": "respond-async", "host": f"localhost:{port}"}
        accepted = httpx.post(
            f"{gateway.url}/v1/apps/urls/functions/square/calls",
            json={"args": [3]},
            headers=headers,
        )
        assert accepted.status_code == 202
        assert accepted.json()["result_url"].startswith("https://wharf.example.test/v1/calls/fc-")
        later = _on_host(gateway, f"main--urls-later.localhost:{port}")
        assert later.status_code == 202
        # On the endpoint's own host, with the public URL's scheme: not the Host's.
        assert later.json()["result_url"].startswith("https://main--urls-later.localhost:")
        described = httpx.get(f"{gateway.url}/v1/openapi.json").json()
        assert described["servers"] == [{"url": "https://wharf.example.test"}]
        shown = httpx.get(f"{gateway.url}/v1/apps/urls/functions/square", headers=_admin(gateway))
        assert shown.json()["calls_url"].startswith("https://wharf.example.test/v1/apps/")


ASYNC_APP = """
    import wharf as modal

    app = modal.App("urls")


    @app.function()
    def square(x: int):
        return x * x


    @app.function()
    @modal.web_endpoint(wait_for_response=False)
    def later():
        return "done"
"""


def test_an_anonymous_flood_of_one_endpoint_spends_neither_the_apis_nor_other_callers_budget(
    tmp_path: Path,
) -> None:
    config = gateway_config(
        tmp_path / "data",
        rate_limit_per_s=20.0,
        rate_burst_s=2.0,
        client_rate_limit_per_s=5.0,
        trust_forwarded_headers=True,
    )
    with running_gateway(config) as gateway:
        team_b = _workspace(gateway, "team-b")
        code, output = _deploy_public(tmp_path, team_b)
        assert code == 0, output
        endpoint = f"{gateway.url}/web/team-b--flood-public/"
        flooder = {"x-forwarded-for": "198.51.100.7"}
        statuses = [httpx.get(endpoint, headers=flooder, timeout=30) for _ in range(30)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        assert int(limited[0].headers["retry-after"]) >= 1
        assert "client address" in limited[0].json()["error"]["message"]
        # Another caller of the same endpoint, B's own API calls and A's all go on.
        other = httpx.get(endpoint, headers={"x-forwarded-for": "203.0.113.9"}, timeout=30)
        assert other.status_code == 200
        assert httpx.get(f"{gateway.url}/v1/apps", headers=_bearer(team_b)).status_code == 200
        assert httpx.get(f"{gateway.url}/v1/apps", headers=_admin(gateway)).status_code == 200


def _deploy_public(tmp_path: Path, environment: dict[str, str]) -> tuple[int, str]:
    app = write_app(tmp_path, FLOOD_APP)
    done = run_wharf(["deploy", str(app)], environment, timeout_s=120)
    return done.returncode, done.stdout + done.stderr


FLOOD_APP = """
    import wharf as modal

    app = modal.App("flood")


    @app.function()
    @modal.web_endpoint()
    def public():
        return "public"
"""


def test_failed_authentication_is_throttled_per_address_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wharf_gateway.security.ratelimit")
    wrong = {"authorization": "Bearer tk-0000:not-the-secret"}
    config = gateway_config(tmp_path / "data", auth_failures_per_s=0.01)
    with running_gateway(config) as gateway, httpx.Client(base_url=gateway.url) as attacker:
        statuses = [attacker.get("/v1/apps", headers=wrong).status_code for _ in range(200)]
        # Before: 200 quick 401s. Now a burst of 10, then 429 before any secret is checked.
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429] * 190
        throttled = attacker.get("/v1/apps", headers=wrong)
        assert int(throttled.headers["retry-after"]) >= 1
        # Even the right token waits at that address; at another, all is as usual.
        assert attacker.get("/v1/apps", headers=_admin(gateway)).status_code == 429
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=gateway.url, transport=transport) as other:
            assert other.get("/v1/apps", headers=_admin(gateway)).status_code == 200
            assert other.get("/v1/apps", headers=wrong).status_code == 401
    warnings = [r for r in caplog.records if "failed authentications" in r.getMessage()]
    assert len(warnings) == 1  # one line for the window, not one per refused request


def attacker_answer(gateway: RunningGateway, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{gateway.url}/v1/apps", headers=headers)


def test_throttled_addresses_recover(tmp_path: Path) -> None:
    config = gateway_config(tmp_path / "data", auth_failures_per_s=5.0)
    with running_gateway(config) as gateway:
        wrong = {"authorization": "Bearer tk-0000:not-the-secret"}
        wait_until(lambda: attacker_answer(gateway, wrong).status_code == 429, timeout_s=10)
        wait_until(
            lambda: attacker_answer(gateway, _admin(gateway)).status_code == 200,
            timeout_s=scaled(5),
        )


def test_names_differing_only_in_case_are_one_name(gateway: RunningGateway, tmp_path: Path) -> None:
    again = httpx.post(
        f"{gateway.url}/v1/workspaces", json={"name": "MAIN"}, headers=_admin(gateway)
    )
    assert again.status_code == 400
    assert "already exists" in again.json()["error"]["message"]
    app = write_app(tmp_path, FLOOD_APP.replace('App("flood")', 'App("MixedCase")'))
    done = run_wharf(["deploy", str(app)], _cli_environment(gateway), timeout_s=120)
    assert done.returncode == 0, done.stderr
    assert "'mixedcase'" in done.stdout
    for name in ("mixedcase", "MIXEDCASE", "MixedCase"):
        found = httpx.get(f"{gateway.url}/v1/apps/{name}", headers=_admin(gateway))
        assert found.status_code == 200
        assert found.json()["name"] == "mixedcase"


@pytest.mark.parametrize("expires_in", [1e300, "1e300", 11 * 365 * 86400, "4000d"])
def test_token_lifetimes_are_bounded(gateway: RunningGateway, expires_in: object) -> None:
    refused = httpx.post(
        f"{gateway.url}/v1/tokens", json={"expires_in": expires_in}, headers=_admin(gateway)
    )
    assert refused.status_code == 400
    assert "10 years" in refused.json()["error"]["message"]


def test_token_listings_survive_any_stored_expiry(tmp_path: Path) -> None:
    import sqlite3

    config = gateway_config(tmp_path / "data")
    with running_gateway(config) as gateway:
        made = httpx.post(f"{gateway.url}/v1/tokens", headers=_admin(gateway)).json()
    # What an older gateway accepted: a lifetime of 1e300 seconds.
    with sqlite3.connect(config.database_path) as database:
        database.execute("UPDATE tokens SET expires_at = 1e300 WHERE id = ?", (made["token_id"],))
    listed = run_wharf(["token", "list", "--data-dir", str(config.data_dir)], {})
    assert listed.returncode == 0, listed.stderr
    assert made["token_id"] in listed.stdout
    assert "out of the calendar" in listed.stdout
