"""Deploying, listing, stopping apps and reading their logs, over the public API (as flows)."""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wharf._bundle import build_bundle
from wharf._errors import ClientError, InvalidError
from wharf._http import ApiRequest, Flow, run_flow
from wharf._loader import LoadedApp
from wharf._manifest import build_manifest

#: Seconds the gateway may hold each request for more of a build log.
_FOLLOW_WAIT_S = 10


@dataclass(frozen=True, slots=True)
class DeployedApp:
    """What the gateway answered to a deploy."""

    app_id: str
    name: str
    version: int
    functions: list[dict[str, Any]]
    #: An ephemeral app's lease: it is stopped unless renewed within this many seconds.
    lease_s: float | None = None


def deploy_app(
    loaded: LoadedApp,
    *,
    name: str | None,
    ephemeral: bool,
    app_id: str | None = None,
    on_log: Callable[[str], None] | None = None,
) -> Flow[DeployedApp]:
    """Upload the manifest and source bundle, and bind the app's functions to the result.

    With `app_id`, the upload is the next version of that ephemeral app (`wharf serve`). When
    the gateway builds images first, their build log goes to `on_log` line by line.

    Raises:
        InvalidError: the deploy was refused, or an image build failed (with the log's tail).
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
    image_files = {
        sha: path
        for image in [
            *(function.image for function in loaded.app.registered_functions.values()),
            *(cls.image for cls in loaded.app.registered_classes.values()),
        ]
        if image is not None
        for sha, path in image.local_files().items()
    }
    bundle = base64.b64encode(build_bundle(loaded.path, image_files)).decode("ascii")
    response = yield ApiRequest("POST", "/v1/apps", json={"manifest": manifest, "bundle": bundle})
    data = response.json()
    if response.status_code == 202:
        data = yield from _follow_deploy(data, on_log or (lambda line: None))
    loaded.app._hydrate(str(data["app_id"]))
    return DeployedApp(
        app_id=str(data["app_id"]),
        name=str(data["name"]),
        version=int(data["version"]),
        functions=list(data["functions"]),
        lease_s=None if data.get("lease_s") is None else float(data["lease_s"]),
    )


def _follow_deploy(status: dict[str, Any], on_log: Callable[[str], None]) -> Flow[dict[str, Any]]:
    """Follow a deploy that builds images until it ends; returns the deployed app."""
    while True:
        for line in status.get("log", []):
            on_log(str(line))
        if status["status"] == "deployed":
            return dict(status["app"])
        if status["status"] == "failed":
            raise InvalidError(str(status["error"]["message"]))
        params = {"after": int(status["next"]), "timeout_s": _FOLLOW_WAIT_S}
        response = yield ApiRequest(
            "GET", f"/v1/deploys/{status['deploy_id']}", params=params, wait_s=_FOLLOW_WAIT_S
        )
        status = response.json()


def renew_lease(app_ref: str) -> Flow[None]:
    """Keep an ephemeral app alive for another lease."""
    yield ApiRequest("POST", f"/v1/apps/{quote(app_ref, safe='')}/lease")


@contextmanager
def kept_alive(deployed: DeployedApp) -> Iterator[None]:
    """Renew an ephemeral app's lease from a thread while the block runs, three times a lease:
    if this process dies by any means, the gateway stops the app when the lease runs out."""
    lease_s = deployed.lease_s
    if lease_s is None:
        yield
        return
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease_s / 3):
            with contextlib.suppress(ClientError):  # a passing failure: the next one may pass
                run_flow(renew_lease(deployed.app_id))

    thread = threading.Thread(target=renew, name="wharf-app-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def stop_app(app_ref: str) -> Flow[None]:
    yield ApiRequest("DELETE", f"/v1/apps/{quote(app_ref, safe='')}")


def list_apps() -> Flow[list[dict[str, Any]]]:
    response = yield ApiRequest("GET", "/v1/apps")
    return list(response.json()["apps"])


def app_logs(app_ref: str, after_id: int = 0) -> Flow[list[dict[str, Any]]]:
    path = f"/v1/apps/{quote(app_ref, safe='')}/logs"
    response = yield ApiRequest("GET", path, params={"after_id": after_id})
    return list(response.json()["logs"])
