"""`App`: a named group of functions deployed together."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from wharf._cls import Cls, class_parameters, members, web_methods
from wharf._errors import InvalidError
from wharf._function import Function
from wharf._image import Image
from wharf._options import resolve_options
from wharf._partial import concurrency_of
from wharf._retries import Retries
from wharf._secret import Secret, check_secrets
from wharf._web import WebFunction


class LocalEntrypoint:
    """A function that `wharf run` calls on the caller's machine, with the app running."""

    def __init__(self, raw_f: Callable[..., Any], app: App) -> None:
        self.raw_f = raw_f
        self.app = app
        self.__doc__ = raw_f.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)


def _refuse_missing_parentheses(decorator: str, value: object) -> None:
    if value is not None:
        raise InvalidError(f"use {decorator}() with parentheses, not bare {decorator}")


class App:
    """A group of functions deployed and versioned together.

    Args:
        name: The app's name; `wharf deploy` uses the file's name when it is None.
    """

    def __init__(self, name: str | None = None, *, image: Image | None = None) -> None:
        self._name = name
        self._image = image
        self._functions: dict[str, Function] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._classes: dict[str, Cls] = {}
        self._app_ref: str | None = None

    def __repr__(self) -> str:
        return f"App({self._name!r})"

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def app_id(self) -> str | None:
        """The id of the running or deployed app this object is bound to, if any."""
        return self._app_ref

    @property
    def registered_functions(self) -> dict[str, Function]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        return dict(self._entrypoints)

    def function(
        self,
        _warn_parentheses_missing: object = None,
        *,
        name: str | None = None,
        image: Image | None = None,
        gpu: str | list[str] | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        timeout: float = 300,
        startup_timeout: float | None = None,
        retries: int | Retries | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: float | None = None,
        keep_warm: int | None = None,
        concurrency_limit: int | None = None,
        container_idle_timeout: float | None = None,
        allow_concurrent_inputs: int | None = None,
        secrets: Sequence[Secret] = (),
    ) -> Callable[[Callable[..., Any] | WebFunction], Function]:
        """Register a function of this app.

        Args:
            name: The function's name in the app; defaults to the Python name.
            image: The image it runs in (the app's, by default; the docker backend builds it).
            gpu: A GPU type (`"A100"`, `"H100:2"`) or a list of them in order of preference.
            cpu: CPU cores reserved for each container.
            memory: Memory reserved for each container, in MiB.
            timeout: Seconds one input may run (1 s to 24 h); past it the input fails with
                `FunctionTimeoutError` and its container is replaced.
            startup_timeout: Seconds a container may take to start (its `@enter` methods
                included); the function's `timeout` by default.
            retries: Retries of an input whose function raised: a count, or a `Retries`
                policy with backoff.
            min_containers: Containers kept running when idle (older name `keep_warm`).
            max_containers: Most containers at once (older name `concurrency_limit`).
            buffer_containers: Extra idle containers kept while the function is busy.
            scaledown_window: Seconds an idle container lives (2 to 1,200; older name
                `container_idle_timeout`).
            allow_concurrent_inputs: Inputs one container takes at once (older form of
                `@concurrent`).
            secrets: `Secret`s whose variables its containers get in their environment (later
                ones win where keys repeat).

        Raises:
            InvalidError: an option is out of range, or the decorator lacks its parentheses.
        """
        _refuse_missing_parentheses("@app.function", _warn_parentheses_missing)
        secrets = check_secrets(secrets)
        options = functools.partial(
            resolve_options,
            min_containers=min_containers,
            keep_warm=keep_warm,
            max_containers=max_containers,
            concurrency_limit=concurrency_limit,
            buffer_containers=buffer_containers,
            scaledown_window=scaledown_window,
            container_idle_timeout=container_idle_timeout,
            timeout=timeout,
            startup_timeout=startup_timeout,
            retries=retries,
            allow_concurrent_inputs=allow_concurrent_inputs,
            gpu=gpu,
            cpu=cpu,
            memory=memory,
        )

        def register(raw_f: Callable[..., Any] | WebFunction) -> Function:
            web = raw_f.web if isinstance(raw_f, WebFunction) else None
            resolved = options(concurrency=concurrency_of(raw_f))
            if isinstance(raw_f, WebFunction):
                raw_f = raw_f.raw_f
            if not callable(raw_f) or inspect.isclass(raw_f):
                raise InvalidError(f"@app.function() decorates functions, not {raw_f!r}")
            tag = name or raw_f.__name__
            self._claim_name(tag)
            function = Function(
                tag,
                raw_f=raw_f,
                options=resolved,
                app_name=self._name,
                web=web,
                image=image or self._image,
                secrets=secrets,
            )
            if self._app_ref is not None:
                function._bind(self._app_ref)
            self._functions[tag] = function
            return function

        return register

    def cls(
        self,
        _warn_parentheses_missing: object = None,
        *,
        name: str | None = None,
        image: Image | None = None,
        secrets: Sequence[Secret] = (),
        **options: Any,
    ) -> Callable[[type], Cls]:
        """Register a class: its `@method()`s are called remotely, each distinct set of its
        `parameter()` values runs in a pool of its own, and `@enter`/`@exit` methods run when
        a container starts and stops.

        Takes the same options as `function()` (`gpu`, `timeout`, `max_containers`, ...);
        put `@concurrent(...)` under it to run several inputs per container.

        Raises:
            InvalidError: an unknown or out-of-range option, a parameter of a type other than
                str or int, or a class without methods.
        """
        _refuse_missing_parentheses("@app.cls", _warn_parentheses_missing)
        checked_secrets = check_secrets(secrets)

        def register(user_cls: type) -> Cls:
            if not inspect.isclass(user_cls):
                raise InvalidError(f"@app.cls() decorates classes, not {user_cls!r}")
            try:
                resolved = resolve_options(**options, concurrency=concurrency_of(user_cls))
            except TypeError as exc:
                raise InvalidError(f"@app.cls(): {exc}") from exc
            class_parameters(user_cls)  # checks the parameter types now
            if not members(user_cls, "method") and not web_methods(user_cls):
                raise InvalidError(f"{user_cls.__name__} has no @method() or web endpoint")
            tag = name or user_cls.__name__
            self._claim_name(tag)
            cls = Cls(
                tag,
                user_cls=user_cls,
                options=resolved,
                app_ref=self._app_ref,
                app_name=self._name,
                image=image or self._image,
                secrets=checked_secrets,
            )
            self._classes[tag] = cls
            return cls

        return register

    def _claim_name(self, tag: str) -> None:
        if tag in self._functions or tag in self._classes:
            raise InvalidError(f"app {self._name!r} already has a function or class named {tag!r}")

    def local_entrypoint(
        self, _warn_parentheses_missing: object = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register a function that `wharf run FILE` runs locally, with the app running.

        Args:
            name: The entrypoint's name for `wharf run FILE::NAME`; defaults to the Python name.
        """
        _refuse_missing_parentheses("@app.local_entrypoint", _warn_parentheses_missing)

        def register(raw_f: Callable[..., Any]) -> LocalEntrypoint:
            entrypoint = LocalEntrypoint(raw_f, self)
            self._entrypoints[name or raw_f.__name__] = entrypoint
            return entrypoint

        return register

    def _hydrate(self, app_ref: str) -> None:
        self._app_ref = app_ref
        for function in self._functions.values():
            function._bind(app_ref)
        for cls in self._classes.values():
            cls._bind(app_ref)
