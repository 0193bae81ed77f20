"""`wharf serve`: -dev endpoints, live reload on change, the app removed on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import RunningGateway, scaled, wait_until, write_app

SERVED_APP = """
    import wharf as modal

    app = modal.App("served")


    @app.function()
    @modal.web_endpoint()
    def hello():
        return "VERSION"
"""


def test_serve_reloads_on_change_and_stops_on_ctrl_c(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    path = write_app(tmp_path, SERVED_APP.replace("VERSION", "v1"))
    process = subprocess.Popen(
        [sys.executable, "-m", "wharf", "serve", str(path)],
        env={**os.environ, **client_env.client_environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"{client_env.url}/web/main--served-hello-dev/"
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Watching for changes" in line:
                break
        assert httpx.get(url, timeout=30).json() == "v1"
        path.write_text(path.read_text().replace("v1", "v2"))
        wait_until(lambda: httpx.get(url, timeout=30).json() == "v2", timeout_s=30)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=scaled(30)) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert httpx.get(url).status_code == 404
