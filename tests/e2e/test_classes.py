"""`@app.cls()`: parameters pick the pool, `@enter`/`@exit` run per container, methods are
called remotely from anywhere, and parameterized web endpoints take them from the query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

CLASS_APP = """
    import os

    import wharf as modal

    app = modal.App("classes")
    EXIT_MARKER = "@MARKER@"


    @app.cls(scaledown_window=2, secrets=[modal.Secret.from_dict({"GREETING": "hello"})])
    class MyClass:
        foo: str = modal.parameter()
        bar: int = modal.parameter(default=10)

        @modal.enter()
        def load(self):
            self.loaded = f"{self.foo}-{self.bar}"
            self.pid = os.getpid()
            self.greeting = os.environ["GREETING"]

        @modal.method()
        def baz(self, qux: str = "default") -> str:
            return f"pool ({self.foo}, {self.bar}) loaded {self.loaded}, qux={qux}"

        @modal.method()
        def pid_of(self) -> int:
            return self.pid

        @modal.method()
        def greet(self) -> str:
            return f"{self.greeting}, {self.foo}"

        @modal.exit()
        def leave(self):
            with open(EXIT_MARKER, "a") as marker:
                marker.write(f"{self.foo}\\n")

        @modal.web_endpoint()
        def web(self, qux: str = "default") -> dict:
            return {"foo": self.foo, "bar": self.bar, "qux": qux}


    @app.cls()
    class Legacy:
        def __init__(self, scale: float, label="x"):
            self.scale = scale
            self.label = label

        @modal.method()
        def times(self, x: float) -> str:
            return f"{self.label}:{x * self.scale}"


    class Base:
        @modal.enter()
        def base_load(self):
            self.base = "from the base"

        @modal.method()
        def inherited(self):
            return self.base


    @app.cls()
    class Child(Base):
        @modal.method()
        def own(self):
            return self.base + " and the child"


    @app.cls()
    class Broken:
        @modal.enter()
        def explode(self):
            raise RuntimeError("the model file is missing")

        @modal.method()
        def never(self):
            return "unreachable"
"""


@pytest.fixture
def classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningGateway, Path]]:
    marker = tmp_path / "exits.txt"
    source = CLASS_APP.replace("@MARKER@", str(marker))
    with serving_app(tmp_path, monkeypatch, source, max_variant_pools=3) as gateway:
        yield gateway, marker


def test_parameters_reach_enter_and_methods(classes: tuple[RunningGateway, Path]) -> None:
    MyClass = modal.Cls.from_name("classes", "MyClass")
    assert MyClass(foo="hedgehog", bar=7).baz.remote() == (
        "pool (hedgehog, 7) loaded hedgehog-7, qux=default"
    )
    assert MyClass(foo="fox").baz.remote(qux="override") == (
        "pool (fox, 10) loaded fox-10, qux=override"
    )


def test_same_parameters_share_a_pool_and_others_get_their_own(
    classes: tuple[RunningGateway, Path],
) -> None:
    MyClass = modal.Cls.lookup("classes", "MyClass")
    first = MyClass(foo="a").pid_of.remote()
    # The same values (the default spelled out) go to the same warm container.
    assert MyClass(foo="a", bar=10).pid_of.remote() == first
    assert MyClass(foo="b").pid_of.remote() != first
    stats = modal.Function.from_name("classes", "MyClass").get_current_stats()
    assert stats.num_total_runners == 2


def test_class_secrets_are_in_the_environment_of_enter(
    classes: tuple[RunningGateway, Path],
) -> None:
    assert modal.Cls.from_name("classes", "MyClass")(foo="you").greet.remote() == "hello, you"


def test_lookup_finds_classes_only(classes: tuple[RunningGateway, Path]) -> None:
    with pytest.raises(modal.NotFoundError):
        modal.Cls.lookup("classes", "NoSuchClass")
    with pytest.raises(modal.NotFoundError, match="not a class"):
        modal.Cls.lookup("classes", "MyClass.web")


def test_spawn_of_a_method(classes: tuple[RunningGateway, Path]) -> None:
    call = modal.Cls.from_name("classes", "MyClass")(foo="s").baz.spawn(qux="later")
    assert call.get(timeout=scaled(30)) == "pool (s, 10) loaded s-10, qux=later"


def test_legacy_init_takes_any_picklable_arguments(classes: tuple[RunningGateway, Path]) -> None:
    Legacy = modal.Cls.from_name("classes", "Legacy")
    assert Legacy(2.5).times.remote(2) == "x:5.0"
    assert Legacy(0.5, label=object.__name__).times.remote(4) == "object:2.0"


def test_exit_runs_when_the_container_scales_down(classes: tuple[RunningGateway, Path]) -> None:
    _, marker = classes
    modal.Cls.from_name("classes", "MyClass")(foo="leaving").baz.remote()
    wait_until(lambda: marker.exists() and "leaving" in marker.read_text(), timeout_s=20)


def test_failing_enter_fails_the_call_instead_of_hanging(
    classes: tuple[RunningGateway, Path],
) -> None:
    broken = modal.Cls.from_name("classes", "Broken")()
    with pytest.raises(modal.Error, match="the model file is missing"):
        broken.never.remote()


@pytest.mark.parametrize(
    ("constructor", "message"),
    [
        ({"bar": 1}, "needs the parameter 'foo'"),
        ({"foo": "x", "nope": 1}, "has no parameter 'nope'"),
        ({"foo": 3}, "must be a str"),
        ({"foo": "x" * 20_000}, "over the limit of 16384"),
    ],
)
def test_bad_parameters_are_400_with_a_clear_message(
    classes: tuple[RunningGateway, Path], constructor: dict[str, object], message: str
) -> None:
    gateway, _ = classes
    response = httpx.post(
        f"{gateway.url}/v1/apps/classes/functions/MyClass.baz/calls",
        json={"parameters": constructor},
        headers={"authorization": gateway.authorization},
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_unknown_method_and_bare_class_calls_are_clear(
    classes: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = classes
    headers = {"authorization": gateway.authorization}
    base = f"{gateway.url}/v1/apps/classes/functions"
    missing = httpx.post(f"{base}/MyClass.nope/calls", json={}, headers=headers)
    assert missing.status_code == 404
    assert "no method 'nope'" in missing.json()["error"]["message"]
    bare = httpx.post(f"{base}/MyClass/calls", json={"parameters": {"foo": "x"}}, headers=headers)
    assert bare.status_code == 400
    assert "is a class" in bare.json()["error"]["message"]


def test_json_callers_pass_parameters_in_the_body(classes: tuple[RunningGateway, Path]) -> None:
    gateway, _ = classes
    response = httpx.post(
        f"{gateway.url}/v1/apps/classes/functions/MyClass.baz/calls",
        json={"parameters": {"foo": "curl", "bar": 3}, "kwargs": {"qux": "q"}},
        headers={"authorization": gateway.authorization},
        timeout=scaled(30),
    )
    assert response.status_code == 200, response.text
    assert response.json() == "pool (curl, 3) loaded curl-3, qux=q"


def test_parameterized_web_endpoint_reads_the_query_string(
    classes: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = classes
    url = f"{gateway.url}/web/main--classes-myclass-web/"
    answer = httpx.get(url, params={"foo": "hedgehog", "bar": "7", "qux": "override"}, timeout=30)
    assert answer.json() == {"foo": "hedgehog", "bar": 7, "qux": "override"}
    assert httpx.get(url, params={"foo": "hedgehog"}, timeout=30).json() == {
        "foo": "hedgehog",
        "bar": 10,
        "qux": "default",
    }
    bad = httpx.get(url, params={"foo": "x", "bar": "seven"}, timeout=30)
    assert bad.status_code == 400
    assert "must be an int" in bad.json()["error"]["message"]
    assert httpx.get(url, timeout=30).status_code == 400  # foo is required


def test_enter_and_methods_are_inherited(classes: tuple[RunningGateway, Path]) -> None:
    child = modal.Cls.from_name("classes", "Child")()
    assert child.inherited.remote() == "from the base"
    assert child.own.remote() == "from the base and the child"


def test_a_function_holds_a_bounded_number_of_parameter_sets(
    classes: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = classes
    Legacy = modal.Cls.from_name("classes", "Legacy")
    for scale in (1, 2, 3):
        assert Legacy(scale).times.remote(1) == f"x:{scale}"
    refused = httpx.post(
        f"{gateway.url}/v1/apps/classes/functions/Legacy.times/calls",
        json={"parameters": {"scale": 4}, "args": [1]},
        headers={"authorization": gateway.authorization},
    )
    assert refused.status_code == 429
    assert "3 parameter sets" in refused.json()["error"]["message"]
    assert Legacy(2).times.remote(2) == "x:4"  # the sets it holds still run
