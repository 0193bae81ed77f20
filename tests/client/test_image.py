"""`Image` definitions: values built step by step, read from disk only when deployed."""

from __future__ import annotations

from pathlib import Path

import pytest
import wharf as modal
from wharf._image import PYTHON_SOURCE_DIR


def test_each_step_makes_a_new_image() -> None:
    base = modal.Image.debian_slim()
    more = base.pip_install("six", ["attrs==23.1.0"]).apt_install("curl").env({"A": "1"})

    assert base.to_json()["steps"] == []
    assert more.to_json() == {
        "base": {"kind": "debian_slim", "python_version": "3.11"},
        "steps": [
            {"op": "pip", "packages": ["six", "attrs==23.1.0"], "pre": False},
            {"op": "apt", "packages": ["curl"]},
            {"op": "env", "vars": {"A": "1"}},
        ],
    }


def test_bad_definitions_are_refused_at_once() -> None:
    with pytest.raises(modal.InvalidError, match=r"Python 3\.11"):
        modal.Image.debian_slim(python_version="3.12")
    with pytest.raises(modal.InvalidError, match="not an image tag"):
        modal.Image.from_registry("two words")
    with pytest.raises(modal.InvalidError, match="absolute"):
        modal.Image.debian_slim().workdir("relative/dir")
    with pytest.raises(modal.InvalidError, match="names and string values"):
        modal.Image.debian_slim().env({"A": 1})  # type: ignore[dict-item]
    with pytest.raises(modal.InvalidError, match="empty"):
        modal.Image.debian_slim().run_commands(" ")


def test_local_files_are_read_when_deployed(tmp_path: Path) -> None:
    missing = modal.Image.debian_slim().add_local_file(tmp_path / "later.txt", "/opt/later.txt")
    with pytest.raises(modal.InvalidError, match="is not a file"):
        missing.to_json()

    (tmp_path / "later.txt").write_text("now")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.sh").write_text("echo")
    (tmp_path / "tree" / "sub" / "a.sh").chmod(0o755)
    image = missing.add_local_dir(tmp_path / "tree", "/srv/tree/")
    steps = image.to_json()["steps"]

    assert steps[0]["files"][0]["path"] == "/opt/later.txt"
    assert steps[1]["files"] == [
        {
            "path": "/srv/tree/sub/a.sh",
            "sha256": steps[1]["files"][0]["sha256"],
            "mode": 0o755,
        }
    ]
    assert set(image.local_files().values()) == {
        tmp_path / "later.txt",
        tmp_path / "tree" / "sub" / "a.sh",
    }


def test_local_python_source_goes_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "solo_module.py").write_text("X = 1\n")
    (tmp_path / "solo_pkg").mkdir()
    (tmp_path / "solo_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    steps = modal.Image.debian_slim().add_local_python_source("solo_module", "solo_pkg")
    paths = [entry["path"] for entry in steps.to_json()["steps"][0]["files"]]

    assert paths == [
        f"{PYTHON_SOURCE_DIR}/solo_module.py",
        f"{PYTHON_SOURCE_DIR}/solo_pkg/__init__.py",
    ]
    with pytest.raises(modal.InvalidError, match="no local module"):
        modal.Image.debian_slim().add_local_python_source("no_such_module_here").to_json()


def test_a_dockerfile_and_its_context_are_read_when_deployed(tmp_path: Path) -> None:
    image = modal.Image.from_dockerfile(tmp_path / "Dockerfile", context_dir=tmp_path / "ctx")
    with pytest.raises(modal.InvalidError, match="cannot read the Dockerfile"):
        image.to_json()

    (tmp_path / "Dockerfile").write_text("FROM wharf-runner-base:latest\nCOPY a.txt /a.txt\n")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "a.txt").write_text("a")
    base = image.to_json()["base"]

    assert base["dockerfile"].startswith("FROM wharf-runner-base")
    assert [entry["path"] for entry in base["context"]] == ["a.txt"]
