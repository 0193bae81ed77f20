"""A deployed function's definition: its manifest entry as typed, frozen values, parsed once.

`manifest.schema` checks what a deploy uploads; the store keeps the checked entry as JSON and
turns it into a `FunctionDefinition` when it reads the function back. Everything else reads
these fields, never the JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wharf_gateway.manifest.retries import RetryPolicy

#: A parameter of a function or method as the SDK describes it (`name`, `kind`, `has_default`),
#: kept as sent: it is part of what lookups answer with.
ParameterSpec = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FunctionOptions:
    """How a function runs and scales (`@app.function()`, `with_options`, `update_autoscaler`)."""

    min_containers: int = 0
    max_containers: int | None = None
    buffer_containers: int = 0
    scaledown_window_s: float = 60.0
    timeout_s: float = 300.0
    #: None: as long as `timeout_s`.
    startup_timeout_s: float | None = None
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    #: Inputs one container takes at once, and how many the autoscaler plans for.
    max_inputs: int = 1
    target_inputs: int | None = None
    #: GPU requests in order of preference (`"H100:2"`), checked at deploy.
    gpu: tuple[str, ...] = ()
    cpu: float | None = None
    memory_mb: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionOptions:
        """Options checked by `manifest.schema.check_options`."""
        values = dict(data)
        retries = values.pop("retries", None)
        values["gpu"] = tuple(values.get("gpu") or ())
        return cls(**values, retries=RetryPolicy.from_json(retries))

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["gpu"] = list(self.gpu)
        data["retries"] = self.retries.to_json()
        return data

    def merged(self, overrides: Mapping[str, Any]) -> FunctionOptions:
        """These options with `overrides` (checked option JSON) applied."""
        return self if not overrides else FunctionOptions.from_json({**self.to_json(), **overrides})

    @property
    def effective_startup_timeout_s(self) -> float:
        """How long a container may take to start, `@enter` methods included."""
        return self.startup_timeout_s or self.timeout_s


@dataclass(frozen=True, slots=True)
class WebDefinition:
    """A web endpoint's configuration (`@web_endpoint`, `@asgi_app`, `@web_server`, ...)."""

    #: `function`, `asgi`, `wsgi` or `server`.
    kind: str
    method: str = "GET"
    label: str | None = None
    #: `{workspace}--{label}`: the endpoint's host label, assigned at deploy.
    host: str | None = None
    wait_for_response: bool = True
    custom_domains: tuple[str, ...] = ()
    docs: bool = False
    requires_proxy_auth: bool = False
    #: The port a `@web_server` listens on inside its container.
    port: int | None = None
    startup_timeout_s: float = 5.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebDefinition:
        return cls(**{**data, "custom_domains": tuple(data.get("custom_domains") or ())})

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["custom_domains"] = list(self.custom_domains)
        return data


@dataclass(frozen=True, slots=True)
class ClassShape:
    """What `@app.cls()` adds: its parameters, its methods (each described like a function),
    and the method serving its web endpoint, if any."""

    #: `{"name", "type": "str"|"int", "has_default", "default"}` each.
    parameters: tuple[ParameterSpec, ...] = ()
    #: A legacy `__init__` class's parameters (its values travel pickled); None otherwise.
    init_params: tuple[ParameterSpec, ...] | None = None
    #: Method name to `{"params", "is_async", "is_generator"}`.
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    web_method: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClassShape:
        init_params = data.get("init_params")
        return cls(
            parameters=tuple(data.get("parameters") or ()),
            init_params=None if init_params is None else tuple(init_params),
            methods=dict(data.get("methods") or {}),
            web_method=data.get("web_method"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": list(self.parameters),
            "init_params": None if self.init_params is None else list(self.init_params),
            "methods": dict(self.methods),
            "web_method": self.web_method,
        }


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    """One function of an app as deployed."""

    name: str
    is_async: bool = False
    is_generator: bool = False
    params: tuple[ParameterSpec, ...] = ()
    options: FunctionOptions = field(default_factory=FunctionOptions)
    web: WebDefinition | None = None
    #: The image recipe as checked (None: the runner base image), and the tag it was built as.
    image: Mapping[str, Any] | None = None
    image_tag: str | None = None
    #: Names of the workspace's secrets its containers get.
    secrets: tuple[str, ...] = ()
    class_shape: ClassShape | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionDefinition:
        """A manifest entry as `manifest.schema` checked it (and the deploy completed it)."""
        web, shape = data.get("web"), data.get("class")
        return cls(
            name=str(data["name"]),
            is_async=bool(data.get("is_async", False)),
            is_generator=bool(data.get("is_generator", False)),
            params=tuple(data.get("params") or ()),
            options=FunctionOptions.from_json(data.get("options") or {}),
            web=None if web is None else WebDefinition.from_json(web),
            image=data.get("image"),
            image_tag=data.get("image_tag"),
            secrets=tuple(data.get("secrets") or ()),
            class_shape=None if shape is None else ClassShape.from_json(shape),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "is_async": self.is_async,
            "is_generator": self.is_generator,
            "params": list(self.params),
            "options": self.options.to_json(),
            "web": None if self.web is None else self.web.to_json(),
            "image": self.image,
            "image_tag": self.image_tag,
            "secrets": list(self.secrets),
            "class": None if self.class_shape is None else self.class_shape.to_json(),
        }

    def with_options(self, overrides: Mapping[str, Any]) -> FunctionDefinition:
        """The definition with option overrides (checked option JSON) applied."""
        return dataclasses.replace(self, options=self.options.merged(overrides))
