"""`FunctionCall.get_call_graph()`: the tree of calls a call made, at any depth, per workspace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import RunningGateway, scaled, serving_app

GRAPH_APP = """
    import wharf as modal

    app = modal.App("graph")


    @app.function()
    def leaf(x: int) -> int:
        return x + 1


    @app.function()
    def middle(x: int) -> int:
        return leaf.remote(x) * 2


    @app.function()
    def root() -> list:
        return [middle.remote(1), middle.remote(2)]
"""


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, GRAPH_APP) as gateway:
        yield gateway


def test_the_graph_shows_every_call_made_from_a_call(graph: RunningGateway) -> None:
    call = modal.Function.from_name("graph", "root").spawn()
    assert call.get(timeout=scaled(30)) == [4, 6]
    (root,) = call.get_call_graph()
    assert (root.function_call_id, root.function_name, root.status) == (
        call.object_id,
        "root",
        "success",
    )
    assert [child.function_name for child in root.children] == ["middle", "middle"]
    assert all(child.status == "success" for child in root.children)
    assert [[leaf.function_name for leaf in child.children] for child in root.children] == [
        ["leaf"],
        ["leaf"],
    ]


def test_another_workspace_cannot_read_a_graph(graph: RunningGateway) -> None:
    call = modal.Function.from_name("graph", "leaf").spawn(1)
    assert call.get(timeout=scaled(30)) == 2
    other = asyncio.run(create_workspace(graph.config, "other-graph"))
    response = httpx.get(
        f"{graph.url}/v1/calls/{call.object_id}/graph",
        headers={"authorization": f"Bearer {other.token_id}:{other.secret}"},
    )
    assert response.status_code == 404
    mine = httpx.get(
        f"{graph.url}/v1/calls/{call.object_id}/graph",
        headers={"authorization": graph.authorization},
    )
    assert mine.json()["children"] == []
