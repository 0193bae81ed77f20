"""What code running inside a Wharf container can ask about, and the hooks the agent sets.

User code reads `current_input_id()` and `current_function_call_id()` (re-exported at the top of
`client`); the Wharf agent marks each input with `running_input(...)` and binds the app it loaded
with `hydrate_app(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wharf._app import App
from wharf._context import call_id_var, current_function_call_id, current_input_id, input_id_var


@contextmanager
def running_input(input_id: str, call_id: str) -> Iterator[None]:
    """Mark the current context as processing one input (used by the agent)."""
    input_token = input_id_var.set(input_id)
    call_token = call_id_var.set(call_id)
    try:
        yield
    finally:
        call_id_var.reset(call_token)
        input_id_var.reset(input_token)


__all__ = ["current_function_call_id", "current_input_id", "hydrate_app", "running_input"]


def hydrate_app(app: App, app_ref: str) -> None:
    """Bind every function of `app` to the deployed app `app_ref` (an app id or name)."""
    app._hydrate(app_ref)
