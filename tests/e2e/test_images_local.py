"""Images on the local backend: accepted and ignored (functions use this machine's Python), so
the reference's examples with `Image.debian_slim().pip_install(...)` run as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
import wharf as modal

from tests.helpers import serving_app

SEEDS_STYLE_APP = """
    import wharf as modal

    image = modal.Image.debian_slim().pip_install("fastapi[standard]")
    app = modal.App(name="has-image", image=image)


    @app.function()
    def square(x: int) -> int:
        return x * x


    @app.function(image=modal.Image.debian_slim().apt_install("curl"))
    def own_image() -> str:
        return "ran"
"""


def test_an_app_with_images_runs_on_the_local_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(tmp_path, monkeypatch, SEEDS_STYLE_APP):
        assert modal.Function.from_name("has-image", "square").remote(7) == 49
        assert modal.Function.from_name("has-image", "own_image").remote() == "ran"
