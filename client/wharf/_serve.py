"""`wharf serve FILE`: an ephemeral app with `-dev` endpoints, redeployed when its files change."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from wharf._apps import DeployedApp, deploy_app, kept_alive, stop_app
from wharf._bundle import local_source_files
from wharf._http import run_flow
from wharf._loader import LoadedApp

#: How often the app's files are looked at for changes.
POLL_INTERVAL_S = 0.5


def _snapshot(files: list[Path]) -> dict[Path, float]:
    stamps = {}
    for path in files:
        try:
            stamps[path] = path.stat().st_mtime
        except FileNotFoundError:
            stamps[path] = -1.0
    return stamps


def serve(
    path: Path,
    load: Callable[[Path], LoadedApp],
    report: Callable[[DeployedApp], None],
    on_log: Callable[[str], None] | None = None,
) -> None:
    """Deploy, then redeploy on every change, until interrupted; then stop the app."""
    loaded = load(path)
    deployed = run_flow(deploy_app(loaded, name=None, ephemeral=True, on_log=on_log))
    try:
        with kept_alive(deployed):
            # Reported inside: a Ctrl-C or SIGTERM right after the report still stops the app.
            report(deployed)
            stamps = _snapshot(local_source_files(path))
            while True:
                time.sleep(POLL_INTERVAL_S)
                current = _snapshot(local_source_files(path) if path.exists() else [path])
                if current == stamps:
                    continue
                stamps = current
                deployed = _reload(path, load, deployed, on_log) or deployed
    finally:
        run_flow(stop_app(deployed.app_id))
        print(f"Stopped app {deployed.name!r}", flush=True)


def _reload(
    path: Path,
    load: Callable[[Path], LoadedApp],
    deployed: DeployedApp,
    on_log: Callable[[str], None] | None,
) -> DeployedApp | None:
    """Deploy the changed files as the app's next version; None (and a word on stderr) when
    the edit is broken: the last version keeps serving."""
    try:
        loaded = load(path)
        reloaded = run_flow(
            deploy_app(loaded, name=None, ephemeral=True, app_id=deployed.app_id, on_log=on_log)
        )
    except Exception as exc:
        print(f"not reloaded: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return None
    print(f"Reloaded (version {reloaded.version})", flush=True)
    return reloaded
