"""Secrets over the API: create, list, show, delete. No route ever answers with a value."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import path_param, read_json_object
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.responses import json_response
from wharf_gateway.security.secrets import MAX_SECRET_BYTES
from wharf_gateway.server.state import principal_of, state_of

#: JSON escapes may take up to six bytes per character of a value.
_MAX_BODY_BYTES = 8 * MAX_SECRET_BYTES


async def create_secret(request: Request) -> Response:
    """Create a secret `{"name", "values": {KEY: VALUE}, "overwrite"}`: 201; 400, 401, 409, 413.

    With `"overwrite": true` an existing one is replaced (200).
    """
    principal = await principal_of(request)
    data = await read_json_object(request, _MAX_BODY_BYTES)
    overwrite = data.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise InvalidRequest("overwrite must be true or false")
    record, created = await state_of(request)["secrets"].create(
        principal.workspace_id, data.get("name"), data.get("values"), overwrite=overwrite
    )
    return json_response(record.to_json(), 201 if created else 200)


async def list_secrets(request: Request) -> Response:
    """List the workspace's secrets: names, keys and times, never values: 200; 401."""
    principal = await principal_of(request)
    records = await state_of(request)["secrets"].of_workspace(principal.workspace_id)
    return json_response({"secrets": [record.to_json() for record in records]})


async def get_secret(request: Request) -> Response:
    """A secret's name, keys and times, never its values: 200; 401, 404."""
    principal = await principal_of(request)
    service = state_of(request)["secrets"]
    record = await service.get(principal.workspace_id, path_param(request, "name"))
    return json_response(record.to_json())


async def delete_secret(request: Request) -> Response:
    """Delete a secret (functions using it can start no new containers): 200; 401, 404."""
    principal = await principal_of(request)
    name = path_param(request, "name")
    await state_of(request)["secrets"].delete(principal.workspace_id, name)
    return json_response({"name": name, "deleted": True})


ROUTES = [
    Route("/v1/secrets", list_secrets, methods=["GET"]),
    Route("/v1/secrets", create_secret, methods=["POST"]),
    Route("/v1/secrets/{name}", get_secret, methods=["GET"]),
    Route("/v1/secrets/{name}", delete_secret, methods=["DELETE"]),
]
