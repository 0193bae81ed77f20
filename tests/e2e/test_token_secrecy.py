"""Token secrets never show up where people look: the gateway's logs, the apps' logs, and the
files of the data directory (which keep only digests)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf_gateway.server.bootstrap import new_token

from tests.helpers import serving_app, wait_until

SECRECY_APP = """
    from fastapi import Request

    import wharf as modal

    app = modal.App("secrecy")


    @app.function()
    def square(x: int) -> int:
        print(f"squaring {x}")
        return x * x


    @app.function()
    @modal.web_endpoint(requires_proxy_auth=True)
    def private(request: Request):
        print("headers seen:", dict(request.headers))
        return {"ok": True}
"""


def test_token_secrets_stay_out_of_logs_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with serving_app(tmp_path, monkeypatch, SECRECY_APP) as gateway:
        other = asyncio.run(new_token(gateway.config, "main"))
        secrets = [gateway.token.secret, other.secret]
        assert modal.Function.from_name("secrecy", "square").remote(7) == 49
        url = f"{gateway.url}/web/main--secrecy-private/"
        bearer = {"authorization": gateway.authorization}
        assert httpx.get(url, headers=bearer, timeout=30).status_code == 200
        key_pair = {"modal-key": other.token_id, "modal-secret": other.secret}
        assert httpx.get(url, headers=key_pair, timeout=30).status_code == 200
        wrong = {"authorization": f"Bearer {other.token_id}:{gateway.token.secret}"}
        assert httpx.get(url, headers=wrong, timeout=30).status_code == 401
        assert httpx.get(f"{gateway.url}/v1/apps", headers=wrong).status_code == 401
        httpx.delete(f"{gateway.url}/v1/tokens/{other.token_id}", headers=bearer)
        revoked = {"authorization": f"Bearer {other.token_id}:{other.secret}"}
        assert httpx.get(f"{gateway.url}/v1/apps", headers=revoked).status_code == 401

        def app_logs() -> str:
            logs = httpx.get(f"{gateway.url}/v1/apps/secrecy/logs", headers=bearer).json()
            text = str(logs)
            return text if "headers seen" in text and "squaring 7" in text else ""

        logged = wait_until(app_logs, timeout_s=10)
    stored = b"".join(
        path.read_bytes() for path in gateway.config.data_dir.rglob("*") if path.is_file()
    )

    assert "x-forwarded-for" in logged  # the endpoint's headers were logged, without the token
    assert caplog.text  # the gateway did log
    for secret in secrets:
        assert secret not in logged
        assert secret not in caplog.text
        assert secret.encode() not in stored
