"""Apps and functions: deploy, list, show, stop, lookup, stats, autoscaler."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import count_param, path_param, read_body, read_json_object
from wharf_gateway.apps.deploys import DeployJob
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.classes import class_shape
from wharf_gateway.manifest.images import recipes_of
from wharf_gateway.manifest.schema import check_options, decode_bundle, parse_manifest
from wharf_gateway.models import AppRecord, AppState, FunctionRecord
from wharf_gateway.responses import error_body, json_response
from wharf_gateway.server.config import Config
from wharf_gateway.server.state import principal_of, state_of

#: What `Function.update_autoscaler` may change.
AUTOSCALER_OPTIONS = frozenset(
    {"min_containers", "max_containers", "buffer_containers", "scaledown_window_s"}
)


def web_url(request: Request, function: FunctionRecord) -> str | None:
    """`{scheme}://{workspace}--{label}.{domain}` of a web function; None for others."""
    web = function.definition.web
    if web is None or web.host is None:
        return None
    return state_of(request)["address"].endpoint_url(web.host)


def web_path_url(request: Request, function: FunctionRecord) -> str | None:
    """The same endpoint under the gateway's own host (`/web/{workspace}--{label}/`), for
    clients that cannot resolve wildcard subdomains; None for other functions."""
    web = function.definition.web
    if web is None or web.host is None:
        return None
    return state_of(request)["address"].path_form_url(web.host)


def function_json(
    request: Request, function: FunctionRecord, app_ref: str | None = None
) -> dict[str, Any]:
    """A function as the API shows it; `calls_url` uses `app_ref` (the name for deployed apps)."""
    base = state_of(request)["address"].base_url
    app_ref = app_ref or function.app_id
    shape = class_shape(function)
    return {
        "function_id": function.function_id,
        "name": function.name,
        "app_id": function.app_id,
        "app_name": function.app_name,
        "version": function.version,
        "is_generator": function.is_generator,
        "is_async": function.definition.is_async,
        "params": list(function.definition.params),
        "options": function.options.to_json(),
        "web_url": web_url(request, function),
        "web_path_url": web_path_url(request, function),
        "calls_url": f"{base}/v1/apps/{app_ref}/functions/{function.name}/calls",
        "class": None if shape is None else shape.to_json(),
    }


def app_json(request: Request, app: AppRecord, functions: list[FunctionRecord]) -> dict[str, Any]:
    app_ref = app.name if app.state is AppState.DEPLOYED else app.app_id
    shown = {**app.to_json(), "functions": [function_json(request, f, app_ref) for f in functions]}
    if app.state is AppState.EPHEMERAL:
        # Its client renews the lease (POST .../lease) well within this; else it is stopped.
        shown["lease_s"] = state_of(request)["apps"].lease_s
    return shown


async def deploy(request: Request) -> Response:
    """Deploy an app from `{"manifest": ..., "bundle": base64 zip}`: 201; 400, 401, 404, 413.

    404 also names a secret the app uses that does not exist.
    """
    state = state_of(request)
    principal = await principal_of(request)
    body = await read_body(request, state["config"].max_body_bytes)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest('the body must be {"manifest": {...}, "bundle": "<base64 zip>"}')
    manifest = parse_manifest(data.get("manifest"))
    bundle = decode_bundle(data.get("bundle"), manifest.module)
    # Before anything keeps the definitions: inline secret values are sealed, names checked.
    await state["secrets"].resolve(principal.workspace_id, manifest.functions)
    recipes = await asyncio.to_thread(
        recipes_of, manifest.functions, bundle, _pip_ca(state["config"])
    )
    missing = await state["deploys"].missing(recipes)
    newest = state["deploys"].claim(principal.workspace_id, manifest.app_id or manifest.name)

    async def commit() -> tuple[AppRecord, list[FunctionRecord]]:
        return await state["apps"].deploy(principal, manifest, bundle)

    if not missing:
        app, functions = await commit()
        return json_response(app_json(request, app, functions), 201)
    # Images to build first: the deploy goes on in the background, its log at status_url.
    job = state["deploys"].start(principal.workspace_id, missing, commit, newest)
    return json_response(deploy_json(request, job, 0), 202)


def _pip_ca(config: Config) -> bytes | None:
    """The CA bundle pip uses on this machine (`PIP_CERT`), for pip inside image builds."""
    return _read_ca(config.runner_environment.get("PIP_CERT") or "")


@functools.cache
def _read_ca(path: str) -> bytes | None:
    """Read once per gateway (a deploy would otherwise read it again each time)."""
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def deploy_json(request: Request, job: DeployJob, after: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "deploy_id": job.deploy_id,
        "status": job.status,
        "status_url": f"{state_of(request)['address'].base_url}/v1/deploys/{job.deploy_id}",
        "log": job.lines_after(after),
        "next": job.lines,
    }
    if job.result is not None:
        data["app"] = app_json(request, *job.result)
    if job.error is not None:
        data.update(error_body(job.error.code, job.error.message))
    return data


async def deploy_status(request: Request) -> Response:
    """A deploy that builds images: its status and the build log after line `after` (waits
    up to `timeout_s`, default 5, for more): 200; 400, 401, 404."""
    principal = await principal_of(request)
    job = state_of(request)["deploys"].job(principal.workspace_id, path_param(request, "deploy_id"))
    after = count_param(request, "after", 0)
    await job.wait(after, min(30.0, float(count_param(request, "timeout_s", 5))))
    return json_response(deploy_json(request, job, after))


async def list_apps(request: Request) -> Response:
    """List the workspace's apps, newest first: 200; 401."""
    principal = await principal_of(request)
    apps = await state_of(request)["store"].list_apps(principal.workspace_id)
    return json_response({"apps": [app.to_json() for app in apps]})


async def show_app(request: Request) -> Response:
    """Show an app (by name, or id) with its functions: 200; 401, 404."""
    principal = await principal_of(request)
    apps = state_of(request)["apps"]
    app = await apps.app(principal.workspace_id, path_param(request, "app"))
    return json_response(app_json(request, app, await apps.functions(app)))


async def renew_lease(request: Request) -> Response:
    """Keep an ephemeral app running `lease_s` more seconds (its client is alive): 200; 401,
    404 (not a running ephemeral app)."""
    principal = await principal_of(request)
    apps = state_of(request)["apps"]
    app = await apps.renew_lease(principal.workspace_id, path_param(request, "app"))
    return json_response({"app_id": app.app_id, "lease_s": apps.lease_s})


async def stop_app(request: Request) -> Response:
    """Stop an app; its waiting and running calls end as terminated: 200; 401, 404."""
    principal = await principal_of(request)
    app = await state_of(request)["apps"].stop(principal.workspace_id, path_param(request, "app"))
    return json_response({"app_id": app.app_id, "name": app.name, "state": "stopped"})


async def show_function(request: Request) -> Response:
    """Look up a function: options, `web_url`, `is_generator`: 200; 401, 404."""
    principal = await principal_of(request)
    function = await state_of(request)["apps"].function(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    return json_response(function_json(request, function))


async def function_stats(request: Request) -> Response:
    """A function's backlog and containers right now (FunctionStats): 200; 401, 404."""
    principal = await principal_of(request)
    state = state_of(request)
    function = await state["apps"].function(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    return json_response(state["scheduler"].stats(function.function_id))


async def app_stats(request: Request) -> Response:
    """Every function's backlog and containers right now, by name (what the dashboard's app
    page polls, one request for all): 200; 401, 404."""
    principal = await principal_of(request)
    state = state_of(request)
    app = await state["apps"].app(principal.workspace_id, path_param(request, "app"))
    functions = await state["apps"].functions(app)
    stats = {
        function.name: state["scheduler"].stats(function.function_id) for function in functions
    }
    return json_response({"app_id": app.app_id, "functions": stats})


async def update_autoscaler(request: Request) -> Response:
    """Change `min_containers`, `max_containers`, `buffer_containers` or `scaledown_window_s`
    of a deployed function until its app's next deploy: 200 with the function; 400, 401, 404.
    """
    principal = await principal_of(request)
    apps = state_of(request)["apps"]
    function = await apps.function(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    settings = await read_json_object(request, 64 * 1024)
    unknown = sorted(set(settings) - AUTOSCALER_OPTIONS)
    if unknown:
        raise InvalidRequest(
            f"{unknown[0]!r} is not an autoscaler setting "
            f"(use {', '.join(sorted(AUTOSCALER_OPTIONS))})"
        )
    check_options(
        function.name, function.options.to_json() | check_options(function.name, settings)
    )
    updated = await apps.set_autoscaler(function, settings)
    return json_response(function_json(request, updated))


ROUTES = [
    Route("/v1/apps", deploy, methods=["POST"]),
    Route("/v1/deploys/{deploy_id}", deploy_status, methods=["GET"], name="deploy_status"),
    Route("/v1/apps", list_apps, methods=["GET"]),
    Route("/v1/apps/{app}", show_app, methods=["GET"]),
    Route("/v1/apps/{app}/lease", renew_lease, methods=["POST"]),
    Route("/v1/apps/{app}", stop_app, methods=["DELETE"]),
    Route("/v1/apps/{app}/functions/{function}", show_function, methods=["GET"]),
    Route("/v1/apps/{app}/functions/{function}/stats", function_stats, methods=["GET"]),
    Route("/v1/apps/{app}/stats", app_stats, methods=["GET"]),
    Route("/v1/apps/{app}/functions/{function}/autoscaler", update_autoscaler, methods=["PATCH"]),
]
