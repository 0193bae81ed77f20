"""Deploying, listing, stopping apps and reading their logs, over the public API (as flows)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from client._bundle import build_bundle
from client._http import ApiRequest, Flow
from client._loader import LoadedApp
from client._manifest import build_manifest


@dataclass(frozen=True, slots=True)
class DeployedApp:
    """What the gateway answered to a deploy."""

    app_id: str
    name: str
    version: int
    functions: list[dict[str, Any]]


def deploy_app(
    loaded: LoadedApp, *, name: str | None, ephemeral: bool, app_id: str | None = None
) -> Flow[DeployedApp]:
    """Upload the manifest and source bundle, and bind the app's functions to the result.

    With `app_id`, the upload is the next version of that ephemeral app (`wharf serve`).
    """
    app_name = name or loaded.app.name or loaded.path.stem
    manifest = build_manifest(
        loaded.app,
        name=app_name,
        module=loaded.module_name,
        app_variable=loaded.app_variable,
        ephemeral=ephemeral,
    )
    if app_id is not None:
        manifest["app_id"] = app_id
    bundle = base64.b64encode(build_bundle(loaded.path)).decode("ascii")
    response = yield ApiRequest("POST", "/v1/apps", json={"manifest": manifest, "bundle": bundle})
    data = response.json()
    loaded.app._hydrate(str(data["app_id"]))
    return DeployedApp(
        app_id=str(data["app_id"]),
        name=str(data["name"]),
        version=int(data["version"]),
        functions=list(data["functions"]),
    )


def stop_app(app_ref: str) -> Flow[None]:
    yield ApiRequest("DELETE", f"/v1/apps/{quote(app_ref, safe='')}")


def list_apps() -> Flow[list[dict[str, Any]]]:
    response = yield ApiRequest("GET", "/v1/apps")
    return list(response.json()["apps"])


def app_logs(app_ref: str, after_id: int = 0) -> Flow[list[dict[str, Any]]]:
    path = f"/v1/apps/{quote(app_ref, safe='')}/logs"
    response = yield ApiRequest("GET", path, params={"after_id": after_id})
    return list(response.json()["logs"])
