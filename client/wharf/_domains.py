"""Custom domains over the public API: an admin grants one to a workspace, so that workspace's
web endpoints may serve it (`custom_domains=`); grants are listed and revoked the same way."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from wharf._http import ApiRequest, Flow


def grant_domain(host: str, workspace: str) -> Flow[dict[str, Any]]:
    """Grant `host` to `workspace` (an admin token only).

    Raises:
        InvalidError: not a DNS name, or one of the gateway's own names.
        AuthError: the token is not an admin's.
        NotFoundError: no such workspace.
    """
    response = yield ApiRequest("POST", "/v1/domains", json={"host": host, "workspace": workspace})
    return dict(response.json())


def list_domains(workspace: str | None = None) -> Flow[list[dict[str, Any]]]:
    """The grants of the token's workspace (an admin's: of every workspace, or of `workspace`)."""
    path = "/v1/domains" if workspace is None else f"/v1/domains?workspace={quote(workspace)}"
    response = yield ApiRequest("GET", path)
    return list(response.json()["domains"])


def revoke_domain(host: str) -> Flow[None]:
    """Take a domain back (an admin token only); its endpoint stops serving at once.

    Raises:
        NotFoundError: it is not granted to anyone.
    """
    yield ApiRequest("DELETE", f"/v1/domains/{quote(host, safe='')}")
