"""What code running inside a Wharf container can ask about, and the agent's contract with the SDK.

User code reads `current_input_id()` and `current_function_call_id()` (re-exported at the top of
`wharf`).

The rest is the contract between the SDK and the runner: the Wharf agent inside each container
(`wharf_runner.agent`) loads and runs user code with these names and imports nothing private of
the SDK. With `wharf.parameters`, `wharf.web_config`, `wharf.frames` and `wharf.serialization`,
this module is what the runner and the gateway may rely on; changing it changes both sides.

| name | what the agent does with it |
| --- | --- |
| `App`, `Cls` | the app a container serves, and its classes |
| `find_app`, `hydrate_app` | find the `App` in the user's module; bind it to the deployed app |
| `instantiate` | build a class's instance from its parameters (`wharf.parameters`) |
| `members`, `web_methods` | a class's `@method`, `@enter` and `@exit` members; its web methods |
| `running_input` | mark the context of each input it runs |
| `download_blob`, `upload_blob` | arguments and results that travel as blobs... |
| `INLINE_PAYLOAD_BYTES`, `MAX_PAYLOAD_BYTES` | ...when over this size, up to this one |
| `PYTHON_SOURCE_DIR` | where `add_local_python_source` puts modules in an image |
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wharf._app import App
from wharf._blobs import INLINE_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, download, upload
from wharf._cls import Cls, instantiate, members, web_methods
from wharf._context import call_id_var, current_function_call_id, current_input_id, input_id_var
from wharf._http import run_flow
from wharf._image import PYTHON_SOURCE_DIR
from wharf._loader import find_app

__all__ = [
    "INLINE_PAYLOAD_BYTES",
    "MAX_PAYLOAD_BYTES",
    "PYTHON_SOURCE_DIR",
    "App",
    "Cls",
    "current_function_call_id",
    "current_input_id",
    "download_blob",
    "find_app",
    "hydrate_app",
    "instantiate",
    "members",
    "running_input",
    "upload_blob",
    "web_methods",
]


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


def hydrate_app(app: App, app_ref: str) -> None:
    """Bind every function of `app` to the deployed app `app_ref` (an app id or name)."""
    app._hydrate(app_ref)


def download_blob(sha256: str) -> bytes:
    """The bytes of the workspace's blob `sha256`, fetched from the gateway (blocking).

    Raises:
        wharf.exception.ClientError: the gateway refused or could not be reached.
    """
    return run_flow(download(sha256))


def upload_blob(data: bytes, what: str) -> str:
    """Store `data` as a blob of the workspace, unless it is there already (blocking); returns
    its name, the SHA-256 of `data`. `what` names the data in errors ("the result").

    Raises:
        wharf.exception.InvalidError: `data` is over `MAX_PAYLOAD_BYTES`.
        wharf.exception.ClientError: the gateway refused or could not be reached.
    """
    return run_flow(upload(data, what))
