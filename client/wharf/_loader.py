"""Importing a user's app file the way `wharf deploy`, `run` and the agent all agree on."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from wharf._app import App
from wharf._errors import InvalidError


@dataclass(frozen=True, slots=True)
class LoadedApp:
    """An imported app file and the `App` found in it."""

    path: Path
    module: ModuleType
    app: App
    app_variable: str

    @property
    def module_name(self) -> str:
        return self.module.__name__


def import_file(path: Path) -> ModuleType:
    """Import `path` as a top-level module named after the file, its folder on `sys.path`.

    Errors of the user's code (SyntaxError, ImportError, ...) propagate unchanged.
    """
    path = path.resolve()
    if not path.is_file():
        raise InvalidError(f"{path} is not a file")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def find_app(module: ModuleType, app_variable: str | None = None) -> tuple[str, App]:
    """The `App` of a module: the one named `app_variable`, or the only one there is.

    Raises:
        InvalidError: no App, or several and none chosen.
    """
    apps = {name: value for name, value in vars(module).items() if isinstance(value, App)}
    if app_variable is not None:
        if app_variable not in apps:
            raise InvalidError(f"{module.__name__} has no App named {app_variable!r}")
        return app_variable, apps[app_variable]
    if len(apps) != 1:
        found = ", ".join(sorted(apps)) or "none"
        raise InvalidError(f"{module.__name__} must define exactly one App (found: {found})")
    return next(iter(apps.items()))


def load_app(path: Path, app_variable: str | None = None) -> LoadedApp:
    module = import_file(path)
    variable, app = find_app(module, app_variable)
    return LoadedApp(path=path.resolve(), module=module, app=app, app_variable=variable)
