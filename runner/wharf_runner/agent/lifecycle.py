"""What one container serves: the app's functions, or one instance of a class built from the
container's parameters, with its `@enter` methods run before the first input and its `@exit`
methods when the container stops."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf.container import App, Cls, instantiate, members, web_methods
from wharf.parameters import read_environ
from wharf.web_config import WebConfig


@dataclass(slots=True)
class Served:
    """The callables inputs name (`function` or `Class.method`), the container's web function,
    and what to run when the container stops."""

    callables: dict[str, Callable[..., Any]]
    web: tuple[Callable[..., Any], WebConfig] | None = None
    exit_hooks: list[Callable[[], Any]] = field(default_factory=list)


def _class_of(app: App, target: str) -> tuple[Cls, str | None] | None:
    """The class a container serves (and the web method, for a class's web endpoint)."""
    classes = app.registered_classes
    if target in classes:
        return classes[target], None
    class_name, dot, method = target.rpartition(".")
    if dot and class_name in classes:
        return classes[class_name], method
    return None


async def call_hook(hook: Callable[[], Any]) -> None:
    """Run a lifecycle method, sync or async."""
    if inspect.iscoroutinefunction(hook):
        await hook()
    else:
        result = hook()
        if inspect.isawaitable(result):
            await result


async def serve_target(app: App, target: str | None, environ: Mapping[str, str]) -> Served:
    """Prepare what the container serves; a class is instantiated and its `@enter` methods
    run (an exception here fails the container's start)."""
    functions = app.registered_functions
    served = Served({name: function.get_raw_f() for name, function in functions.items()})
    function = functions.get(target or "")
    if function is not None and function.web is not None:
        served.web = (function.get_raw_f(), function.web)
    found = _class_of(app, target or "")
    if found is None:
        return served
    cls, web_method = found
    user_cls = cls.user_cls
    if user_cls is None:
        raise RuntimeError(f"class {cls.name} has no code in this container")
    instance = instantiate(user_cls, read_environ(environ))
    for name in members(user_cls, "enter"):
        await call_hook(getattr(instance, name))
    for name in members(user_cls, "method"):
        served.callables[f"{cls.name}.{name}"] = getattr(instance, name)
    webs = web_methods(user_cls)
    if web_method is not None and web_method in webs:
        served.web = (types.MethodType(webs[web_method].raw_f, instance), webs[web_method].web)
    served.exit_hooks = [getattr(instance, name) for name in members(user_cls, "exit")]
    return served


async def run_exit_hooks(served: Served) -> None:
    """Run `@exit` methods; one that raises is reported and the others still run."""
    for hook in served.exit_hooks:
        try:
            await call_hook(hook)
        except Exception as exc:
            print(f"@exit method {hook.__name__} failed: {exc!r}", flush=True)
