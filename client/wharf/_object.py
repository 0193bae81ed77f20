"""What functions and classes of an app have in common: a name, options, an image, secrets,
and the app they belong to (bound once it is deployed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from wharf._image import Image
from wharf._options import FunctionOptions
from wharf._secret import Secret

D = TypeVar("D", bound="Deployable")


class Deployable:
    """A function or class of an app, defined here or looked up by name."""

    def __init__(
        self,
        name: str,
        *,
        options: FunctionOptions | None = None,
        app_ref: str | None = None,
        app_name: str | None = None,
        image: Image | None = None,
        secrets: Sequence[Secret] = (),
    ) -> None:
        self._name = name
        self._options = options or FunctionOptions()
        self._app_ref = app_ref
        self._app_name = app_name
        self._image = image
        self._secrets = tuple(secrets)
        self._info: dict[str, Any] | None = None
        #: Option overrides of this handle (`with_options`), sent with each call.
        self._overrides: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._app_name or self._app_ref!r}, {self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def options(self) -> FunctionOptions:
        return self._options

    @property
    def image(self) -> Image | None:
        """The image it runs in, for those defined here."""
        return self._image

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The secrets its containers get as environment variables, for those defined here."""
        return self._secrets

    @classmethod
    def from_name(
        cls: type[D], app_name: str, name: str, *, environment_name: str | None = None
    ) -> D:
        """A lazy handle on a deployed function or class; it is looked up at its first use.

        Args:
            app_name: The deployed app's name.
            name: Its name in that app.
            environment_name: Accepted for compatibility; Wharf has one environment per workspace.
        """
        del environment_name
        return cls(name, app_ref=app_name, app_name=app_name)

    def _bind(self, app_ref: str) -> None:
        self._app_ref = app_ref
        self._info = None
