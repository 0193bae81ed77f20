"""Custom domains over the API: an admin grants a domain to a workspace, lists and revokes
grants; any token lists its own workspace's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import path_param, read_json_object
from wharf_gateway.errors import Conflict, Forbidden, InvalidRequest, NotFound
from wharf_gateway.models import Principal
from wharf_gateway.responses import json_response
from wharf_gateway.server.state import principal_of, state_of

_SMALL_BODY_BYTES = 4096


def _require_admin(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"{what} needs an admin token")


async def grant_domain(request: Request) -> Response:
    """Grant `{"host", "workspace"}` to the workspace (admin tokens only): 201; 400 (not a
    DNS name, or one of the gateway's own), 401, 403, 404 (no such workspace), 409 (another
    workspace holds it)."""
    principal = await principal_of(request)
    _require_admin(principal, "granting domains")
    data = await read_json_object(request, _SMALL_BODY_BYTES)
    state = state_of(request)
    host, workspace = str(data.get("host", "")).strip().lower(), data.get("workspace")
    refusal = state["address"].grant_refusal(host)
    if refusal is not None:
        raise InvalidRequest(f"{refusal}: it cannot be granted")
    if not isinstance(workspace, str):
        raise InvalidRequest('give the workspace to grant it to: {"workspace": NAME}')
    workspace_id = await state["store"].workspace_id(workspace.lower())
    if workspace_id is None:
        raise NotFound(f"no workspace named {workspace!r}")
    if not await state["apps"].grant_domain(host, workspace_id):
        raise Conflict(f"{host} is granted to another workspace; revoke it there first")
    grants = await state["store"].domain_grants(workspace_id)
    return json_response(next(g for g in grants if g.host == host).to_json(), 201)


async def list_domains(request: Request) -> Response:
    """The caller's workspace's domains (admins: every workspace's, or `?workspace=`): 200;
    401, 404."""
    principal = await principal_of(request)
    store = state_of(request)["store"]
    name = request.query_params.get("workspace")
    if principal.is_admin and name is None:
        grants = await store.domain_grants()
    else:
        workspace_id = principal.workspace_id
        if name is not None and name.lower() != principal.workspace_name:
            found = await store.workspace_id(name.lower())
            if found is None or not principal.is_admin:
                raise NotFound(f"no workspace named {name!r}")
            workspace_id = found
        grants = await store.domain_grants(workspace_id)
    return json_response({"domains": [grant.to_json() for grant in grants]})


async def revoke_domain(request: Request) -> Response:
    """Revoke a domain (admin tokens only); its endpoint stops serving at once: 200; 401, 403,
    404."""
    principal = await principal_of(request)
    _require_admin(principal, "revoking domains")
    host = path_param(request, "host").lower()
    if not await state_of(request)["apps"].revoke_domain(host):
        raise NotFound(f"{host} is not granted to any workspace")
    return json_response({"host": host, "revoked": True})


ROUTES = [
    Route("/v1/domains", grant_domain, methods=["POST"]),
    Route("/v1/domains", list_domains, methods=["GET"]),
    Route("/v1/domains/{host}", revoke_domain, methods=["DELETE"]),
]
