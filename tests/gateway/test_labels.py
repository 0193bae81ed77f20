"""Endpoint host labels and which requests go to endpoints."""

from __future__ import annotations

import hashlib

import pytest
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.labels import host_label
from wharf_gateway.security.hosts import PublicAddress
from wharf_gateway.web.router import Target, endpoint_target

LOCAL = PublicAddress.of("http://127.0.0.1:8000", "localhost:8000")


def test_default_label_is_app_and_function_lower_cased() -> None:
    assert host_label("main", "My_App", "Square", None, dev=False) == "main--my-app-square"


def test_serve_appends_dev() -> None:
    assert host_label("main", "app", "f", None, dev=True) == "main--app-f-dev"


def test_explicit_label_is_used_as_given() -> None:
    assert host_label("main", "app", "f", "poster", dev=False) == "main--poster"


@pytest.mark.parametrize("label", ["Upper", "-dash", "dash-", "under_score", "x" * 64, "a.b"])
def test_invalid_explicit_labels_are_refused(label: str) -> None:
    with pytest.raises(InvalidRequest, match="must be lower-case letters"):
        host_label("main", "app", "f", label, dev=False)


def test_long_labels_are_cut_to_56_characters_and_a_hash() -> None:
    label = host_label("main", "a" * 40, "b" * 40, None, dev=False)
    full = f"main--{'a' * 40}-{'b' * 40}"
    assert len(label) <= 63
    assert label == f"{full[:56]}-{hashlib.sha256(full.encode()).hexdigest()[:6]}"


def test_subdomain_and_path_forms_route_to_endpoints() -> None:
    assert endpoint_target("main--f.localhost", "/x", LOCAL) == Target("main--f", "", is_label=True)
    assert endpoint_target("127.0.0.1", "/web/main--f/a/b", LOCAL) == Target(
        "main--f", "/web/main--f", is_label=True
    )


def test_the_gateways_own_names_are_the_api_and_any_other_host_is_a_custom_domain() -> None:
    assert endpoint_target("localhost", "/v1/apps", LOCAL) is None
    assert endpoint_target("127.0.0.1", "/v1/apps", LOCAL) is None
    assert endpoint_target("[::1]", "/v1/apps", LOCAL) is None
    assert endpoint_target("a.b.localhost", "/", LOCAL) is None  # under the domain: the API
    assert endpoint_target("api.example.com", "/", LOCAL) == Target(
        "api.example.com", "", is_label=False
    )
    # A stranger's host cannot reach an endpoint by the path form either: only its own grant.
    assert endpoint_target("evil.example.com", "/web/main--f/", LOCAL) == Target(
        "evil.example.com", "", is_label=False
    )
    public = PublicAddress.of("https://wharf.example.com", "run.example.com")
    assert endpoint_target("wharf.example.com", "/v1/apps", public) is None
    assert endpoint_target("main--f.run.example.com", "/", public) == Target(
        "main--f", "", is_label=True
    )
