"""The input a container is processing, per task or thread."""

from __future__ import annotations

from contextvars import ContextVar

input_id_var: ContextVar[str | None] = ContextVar("wharf_input_id", default=None)
call_id_var: ContextVar[str | None] = ContextVar("wharf_call_id", default=None)


def current_input_id() -> str | None:
    """The id of the input being processed, or None outside a Wharf container.

    Returns:
        An input id such as `in-...`; each retry of a call gets a new one.
    """
    return input_id_var.get()


def current_function_call_id() -> str | None:
    """The id of the function call being processed, or None outside a Wharf container.

    Returns:
        A call id such as `fc-...`, the same across the call's retries.
    """
    return call_id_var.get()
