"""Fixtures: a real gateway on 127.0.0.1 (port 0) with a temporary data dir, and client env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RunningGateway, gateway_config, point_client_at, running_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway of its own for one test."""
    with running_gateway(gateway_config(tmp_path / "data")) as running:
        yield running


@pytest.fixture
def client_env(gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch) -> RunningGateway:
    """Point the client library of this process at the test's gateway."""
    point_client_at(gateway, monkeypatch)
    return gateway
