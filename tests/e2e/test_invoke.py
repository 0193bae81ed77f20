"""Deploy a file, then call its functions from Python: remote, spawn, gather, local, .aio."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import wharf as modal
from wharf._loader import load_app

from tests.helpers import (
    RunningGateway,
    deploy_file,
    run_python,
    scaled,
    wait_until,
    write_app,
)

SHARED_APP = """
    import asyncio
    import time

    import wharf as modal

    app = modal.App("my-shared-app")


    @app.function()
    def square(x: int):
        return x ** 2


    @app.function()
    async def async_square(x: int):
        await asyncio.sleep(0)
        return x ** 2


    @app.function()
    def sleepy(seconds: float, value: str = "done"):
        time.sleep(seconds)
        return value


    @app.function()
    def fail(message: str):
        raise ValueError(message)


    class CustomError(Exception):
        pass


    @app.function()
    def fail_custom():
        raise CustomError("from the app's own exception class")


    @app.function()
    def whoami():
        return modal.current_function_call_id(), modal.current_input_id()
"""


@pytest.fixture
def shared_app(client_env: RunningGateway, tmp_path: Path) -> Path:
    path = write_app(tmp_path, SHARED_APP, "shared_app")
    deploy_file(path)
    return path


def test_remote_from_another_process_returns_the_square(
    shared_app: Path, client_env: RunningGateway
) -> None:
    result = run_python(
        """
        import wharf as modal
        f = modal.Function.from_name("my-shared-app", "square")
        g = modal.Function.lookup("my-shared-app", "square")
        print(f.remote(42), g.remote(x=3))
        """,
        client_env.client_environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1764", "9"]


def test_sync_and_async_functions_both_run(shared_app: Path) -> None:
    assert modal.Function.from_name("my-shared-app", "square").remote(12) == 144
    assert modal.Function.from_name("my-shared-app", "async_square").remote(5) == 25


def test_lookup_of_a_missing_function_raises_not_found(shared_app: Path) -> None:
    with pytest.raises(modal.NotFoundError):
        modal.Function.lookup("my-shared-app", "no_such_function")
    with pytest.raises(modal.NotFoundError):
        modal.Function.from_name("no-such-app", "square").remote(1)


def test_spawn_get_with_zero_timeout_raises_builtin_timeout_while_pending(
    shared_app: Path,
) -> None:
    call = modal.Function.from_name("my-shared-app", "sleepy").spawn(scaled(2), "late")
    assert call.object_id.startswith("fc-")
    with pytest.raises(TimeoutError):
        call.get(timeout=0)
    assert call.get(timeout=scaled(20)) == "late"


def test_function_call_from_id_works_in_another_process(
    shared_app: Path, client_env: RunningGateway
) -> None:
    call = modal.Function.from_name("my-shared-app", "sleepy").spawn(0.1, "from elsewhere")
    result = run_python(
        f"""
        import wharf as modal
        print(modal.FunctionCall.from_id({call.object_id!r}).get())
        """,
        client_env.client_environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from elsewhere"


def test_cancelled_call_is_reported_cancelled_not_failed(shared_app: Path) -> None:
    sleepy = modal.Function.from_name("my-shared-app", "sleepy")
    call = sleepy.spawn(scaled(30))
    stats = sleepy.get_current_stats
    wait_until(lambda: stats().num_active_runners == 1, timeout_s=20)
    started = time.monotonic()
    call.cancel()
    with pytest.raises(modal.InputCancellation):
        call.get(timeout=scaled(10))
    assert time.monotonic() - started < scaled(10)


def test_gather_returns_results_in_order(shared_app: Path) -> None:
    sleepy = modal.Function.from_name("my-shared-app", "sleepy")
    calls = [sleepy.spawn(0.3, "first"), sleepy.spawn(0.0, "second")]
    assert modal.gather(*calls) == ["first", "second"]


def test_gather_raises_the_first_failure(shared_app: Path) -> None:
    fail = modal.Function.from_name("my-shared-app", "fail")
    square = modal.Function.from_name("my-shared-app", "square")
    with pytest.raises(ValueError, match="broken"):
        modal.gather(square.spawn(2), fail.spawn("broken"))


def test_remote_exception_keeps_its_type_and_remote_traceback(shared_app: Path) -> None:
    with pytest.raises(ValueError, match="bad input") as caught:
        modal.Function.from_name("my-shared-app", "fail").remote("bad input")
    notes = "".join(getattr(caught.value, "__notes__", []))
    assert "Remote traceback" in notes
    assert "raise ValueError(message)" in notes


def test_exception_of_a_class_unknown_here_arrives_as_remote_error(
    shared_app: Path, client_env: RunningGateway
) -> None:
    result = run_python(
        """
        import wharf as modal
        try:
            modal.Function.from_name("my-shared-app", "fail_custom").remote()
        except Exception as exc:
            print(type(exc).__name__, exc)
        """,
        client_env.client_environment,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("RemoteError CustomError: from the app's own exception")


def test_local_runs_in_process(shared_app: Path) -> None:
    loaded = load_app(shared_app)
    assert loaded.app.registered_functions["square"].local(9) == 81
    assert loaded.app.registered_functions["async_square"].local(4) == 16


def test_every_blocking_method_has_an_aio_twin(shared_app: Path) -> None:
    async def main() -> tuple[object, ...]:
        square = await modal.Function.lookup.aio("my-shared-app", "square")
        direct = await square.remote.aio(6)
        call = await square.spawn.aio(7)
        spawned = await call.get.aio()
        gathered = await modal.gather.aio(await square.spawn.aio(1), await square.spawn.aio(2))
        stats = await square.get_current_stats.aio()
        return direct, spawned, gathered, stats.backlog

    assert asyncio.run(main()) == (36, 49, [1, 4], 0)


def test_current_call_and_input_ids_are_visible_inside(shared_app: Path) -> None:
    whoami = modal.Function.from_name("my-shared-app", "whoami")
    call = whoami.spawn()
    call_id, input_id = call.get()
    assert call_id == call.object_id
    assert input_id.startswith("in-")
