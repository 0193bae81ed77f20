"""Tokens and workspaces over the API: a token manages its own workspace's tokens; an admin
token also those of other workspaces, and creates workspaces."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import path_param, read_json_object
from wharf_gateway.errors import Forbidden, InvalidRequest, NotFound
from wharf_gateway.models import Principal, TokenKind
from wharf_gateway.responses import json_response
from wharf_gateway.server.bootstrap import check_workspace_name, parse_duration
from wharf_gateway.server.state import principal_of, state_of

_SMALL_BODY_BYTES = 4096


async def _json_object(request: Request) -> dict[str, Any]:
    return await read_json_object(request, _SMALL_BODY_BYTES)


async def _workspace_for(request: Request, principal: Principal, name: object) -> str:
    """The workspace a request manages: the caller's own, or (admins only) the one named."""
    if name is None or name == principal.workspace_name:
        return principal.workspace_id
    workspace_id = await state_of(request)["store"].workspace_id(str(name))
    if workspace_id is None or not principal.is_admin:
        raise NotFound(f"no workspace named {name!r}")
    return workspace_id


async def whoami(request: Request) -> Response:
    """Who the token acts for: `workspace`, `token_id`, `is_admin`: 200; 401."""
    principal = await principal_of(request)
    return json_response(
        {
            "workspace": principal.workspace_name,
            "token_id": principal.token_id,
            "is_admin": principal.is_admin,
        }
    )


async def list_tokens(request: Request) -> Response:
    """List a workspace's tokens (ids, kinds, dates; never secrets): 200; 401, 404."""
    principal = await principal_of(request)
    workspace_id = await _workspace_for(request, principal, request.query_params.get("workspace"))
    return json_response({"tokens": await state_of(request)["store"].tokens(workspace_id)})


async def create_token(request: Request) -> Response:
    """Create a token of the caller's workspace (admins: of `{"workspace": NAME}`), valid until
    revoked or for `{"expires_in": SECONDS or "30d"}`: 201; 400, 401, 404."""
    principal = await principal_of(request)
    data = await _json_object(request)
    workspace_id = await _workspace_for(request, principal, data.get("workspace"))
    expires_in = data.get("expires_in")
    expires_in_s = None if expires_in is None else parse_duration(expires_in)
    store = state_of(request)["store"]
    token_id, secret = await store.create_token(workspace_id, TokenKind.USER, expires_in_s)
    return json_response({"token_id": token_id, "token_secret": secret}, 201)


async def revoke_token(request: Request) -> Response:
    """Revoke a token of the caller's workspace (admins: of any): 200; 401, 404."""
    principal = await principal_of(request)
    state = state_of(request)
    token_id = path_param(request, "token_id")
    record = await state["store"].token(token_id)
    if record is None or (record.workspace_id != principal.workspace_id and not principal.is_admin):
        raise NotFound(f"no token with id {token_id!r}")
    await state["auth"].revoke(token_id)
    return json_response({"token_id": token_id, "revoked": True})


async def create_workspace(request: Request) -> Response:
    """Create a workspace and its first token (admin tokens only): 201; 400, 401, 403."""
    principal = await principal_of(request)
    if not principal.is_admin:
        raise Forbidden("creating workspaces needs an admin token")
    name = check_workspace_name((await _json_object(request)).get("name"))
    store = state_of(request)["store"]
    if await store.workspace_id(name) is not None:
        raise InvalidRequest(f"workspace {name!r} already exists")
    workspace_id = await store.create_workspace(name)
    token_id, secret = await store.create_token(workspace_id, TokenKind.USER)
    return json_response({"workspace": name, "token_id": token_id, "token_secret": secret}, 201)


ROUTES = [
    Route("/v1/whoami", whoami, methods=["GET"]),
    Route("/v1/tokens", list_tokens, methods=["GET"]),
    Route("/v1/tokens", create_token, methods=["POST"]),
    Route("/v1/tokens/{token_id}", revoke_token, methods=["DELETE"]),
    Route("/v1/workspaces", create_workspace, methods=["POST"]),
]
