"""The `wharf` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf._app import LocalEntrypoint
from wharf._apps import DeployedApp, app_logs, deploy_app, kept_alive, list_apps, stop_app
from wharf._domains import grant_domain, list_domains, revoke_domain
from wharf._errors import ClientError, InvalidError
from wharf._http import run_flow
from wharf._loader import LoadedApp, load_app
from wharf._secret import create_secret, delete_secret, list_secrets
from wharf._serve import serve

#: Commands that run on the server host, inside the gateway package.
SERVER_COMMANDS = frozenset({"server", "token", "workspace"})
#: Modules of the `server` extra that the gateway imports first: missing, `pip install wharf`
#: alone put the SDK here, not the server.
_SERVER_MODULES = ("starlette", "hypercorn", "aiosqlite")
LOG_FOLLOW_INTERVAL_S = 1.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wharf", description="Deploy and call Python functions.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in sorted(SERVER_COMMANDS):
        commands.add_parser(name, help=f"(server host) see `wharf {name} --help`", add_help=False)
    deploy = commands.add_parser("deploy", help="deploy an app file")
    deploy.add_argument("file", type=Path)
    deploy.add_argument("--name", help="app name (default: the App's name, else the file's)")
    serve = commands.add_parser("serve", help="serve an app with -dev endpoints, live reloaded")
    serve.add_argument("file", type=Path)
    run = commands.add_parser("run", help="run an app's local entrypoint with the app running")
    run.add_argument("target", help="FILE or FILE::FUNCTION")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the entrypoint's --options")
    app = commands.add_parser("app", help="list, stop or read the logs of apps")
    app_commands = app.add_subparsers(dest="app_command", required=True)
    app_commands.add_parser("list", help="list the workspace's apps")
    stop = app_commands.add_parser("stop", help="stop an app")
    stop.add_argument("app")
    logs = app_commands.add_parser("logs", help="print an app's logs")
    logs.add_argument("app")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    _add_secret_commands(commands)
    _add_domain_commands(commands)
    return parser


def _add_domain_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    domain = commands.add_parser("domain", help="grant, list or revoke custom domains (admin)")
    domain_commands = domain.add_subparsers(dest="domain_action", required=True)
    add = domain_commands.add_parser("add", help="grant a custom domain to a workspace")
    add.add_argument("host")
    add.add_argument("--workspace", required=True, help="the workspace that may serve it")
    listing = domain_commands.add_parser("list", help="list granted domains")
    listing.add_argument("--workspace", help="only this workspace's (admins)")
    remove = domain_commands.add_parser("remove", help="revoke a domain; its endpoint stops")
    remove.add_argument("host")


def _domain(args: argparse.Namespace) -> int:
    action = str(args.domain_action)
    if action == "add":
        grant = run_flow(grant_domain(args.host, args.workspace))
        print(f"Granted {grant['host']} to workspace {grant['workspace']!r}")
    elif action == "list":
        for grant in run_flow(list_domains(args.workspace)):
            print(f"{grant['host']:<40} {grant['workspace']}")
    else:
        run_flow(revoke_domain(args.host))
        print(f"Revoked {args.host}")
    return 0


def _add_secret_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secret = commands.add_parser("secret", help="create, list or delete secrets")
    secret_commands = secret.add_subparsers(dest="secret_action", required=True)
    create = secret_commands.add_parser(
        "create", help="create a secret; its values reach the containers of functions using it"
    )
    create.add_argument("name")
    create.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    create.add_argument("--force", action="store_true", help="replace a secret of that name")
    secret_commands.add_parser("list", help="list the workspace's secrets (names and keys)")
    delete = secret_commands.add_parser("delete", help="delete a secret")
    delete.add_argument("name")


def _key_values(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments as a dict (a value may hold '=' itself)."""
    values: dict[str, str] = {}
    for position, pair in enumerate(pairs, 1):
        key, equals, value = pair.partition("=")
        if not equals:
            raise InvalidError(f"give KEY=VALUE pairs; argument {position} has no '='")
        if key in values:
            raise InvalidError(f"key {key!r} is given twice")
        values[key] = value
    return values


def _secret(args: argparse.Namespace) -> int:
    action = str(args.secret_action)
    if action == "create":
        values = _key_values(args.pairs)
        created = run_flow(create_secret(args.name, values, overwrite=args.force))
        keys = ", ".join(sorted(values))
        print(f"{'Created' if created else 'Replaced'} secret {args.name!r} with keys {keys}")
    elif action == "list":
        for secret in run_flow(list_secrets()):
            updated = datetime.fromtimestamp(secret["updated_at"]).isoformat(" ", "seconds")
            print(f"{secret['name']:<30} {updated}  {', '.join(secret['keys'])}")
    else:
        run_flow(delete_secret(args.name))
        print(f"Deleted secret {args.name!r}")
    return 0


def print_build_log(line: str) -> None:
    print(f"  | {line}", file=sys.stderr, flush=True)


def _print_deployed(deployed: DeployedApp) -> None:
    print(
        f"Deployed app {deployed.name!r} ({deployed.app_id}, version {deployed.version})",
        flush=True,
    )
    for function in deployed.functions:
        web_url = function.get("web_url")
        if web_url:
            print(f"  {function['name']}: {web_url} (web endpoint)", flush=True)
            # wget, Node, Python and Go resolve no `*.localhost` names by themselves.
            if (urlsplit(web_url).hostname or "").endswith(".localhost"):
                print(f"  {' ' * len(function['name'])}  {function['web_path_url']} (any client)")
        else:
            print(f"  {function['name']}: POST {function['calls_url']}")


def _load(path: Path, app_variable: str | None = None) -> LoadedApp:
    try:
        return load_app(path, app_variable)
    except ClientError:
        raise
    except Exception as exc:
        raise InvalidError(f"could not import {path}: {type(exc).__name__}: {exc}") from exc


def _deploy(args: argparse.Namespace) -> int:
    loaded = _load(args.file)
    deploying = deploy_app(loaded, name=args.name, ephemeral=False, on_log=print_build_log)
    _print_deployed(run_flow(deploying))
    return 0


def _serve(args: argparse.Namespace) -> int:
    def report(deployed: DeployedApp) -> None:
        _print_deployed(deployed)
        print("Watching for changes; Ctrl-C stops the app.", flush=True)

    serve(args.file, _load, report, on_log=print_build_log)
    return 0


def _entrypoint_arguments(function: Any, argv: Sequence[str]) -> dict[str, Any]:
    """Parse `--name value` options by the entrypoint's signature and annotations."""
    parser = argparse.ArgumentParser(prog="wharf run")
    for parameter in inspect.signature(function).parameters.values():
        annotation = parameter.annotation
        kind = annotation if annotation in (int, float, str) else str
        if annotation is bool or annotation == "bool":
            parser.add_argument(f"--{parameter.name}", action=argparse.BooleanOptionalAction)
            continue
        if isinstance(annotation, str) and annotation in ("int", "float"):
            kind = int if annotation == "int" else float
        required = parameter.default is inspect.Parameter.empty
        default = None if required else parameter.default
        parser.add_argument(f"--{parameter.name}", type=kind, required=required, default=default)
    return vars(parser.parse_args(list(argv)))


def _run(args: argparse.Namespace) -> int:
    file_name, _, target = args.target.partition("::")
    loaded = _load(Path(file_name))
    entrypoints = loaded.app.registered_entrypoints
    functions = loaded.app.registered_functions
    name = target or (next(iter(entrypoints)) if len(entrypoints) == 1 else "")
    if name not in entrypoints and name not in functions:
        known = ", ".join(sorted([*entrypoints, *functions])) or "none"
        raise InvalidError(f"name an entrypoint or function to run as FILE::NAME (known: {known})")
    argv = [arg for arg in args.args if arg != "--"]
    deployed = run_flow(deploy_app(loaded, name=None, ephemeral=True, on_log=print_build_log))
    try:
        with kept_alive(deployed):
            if name in entrypoints:
                entrypoint: LocalEntrypoint = entrypoints[name]
                result = entrypoint(**_entrypoint_arguments(entrypoint.raw_f, argv))
                if inspect.iscoroutine(result):
                    asyncio.run(result)
            else:
                function = functions[name]
                print(function.remote(**_entrypoint_arguments(function.get_raw_f(), argv)))
    finally:
        run_flow(stop_app(deployed.app_id))
    return 0


def _print_logs(lines: list[dict[str, Any]]) -> int:
    last_id = 0
    for line in lines:
        print(f"{line['function']} {line['container_id']} {line['stream']}: {line['line']}")
        last_id = int(line["id"])
    return last_id


def _app(args: argparse.Namespace) -> int:
    if args.app_command == "list":
        for app in run_flow(list_apps()):
            print(f"{app['app_id']}  {app['name']:<30} {app['state']:<10} v{app['version']}")
    elif args.app_command == "stop":
        run_flow(stop_app(args.app))
        print(f"Stopped app {args.app!r}")
    else:
        last_id = _print_logs(run_flow(app_logs(args.app)))
        while args.follow:
            time.sleep(LOG_FOLLOW_INTERVAL_S)
            last_id = _print_logs(run_flow(app_logs(args.app, last_id))) or last_id
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wharf` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SERVER_COMMANDS:
        if not all(importlib.util.find_spec(name) for name in _SERVER_MODULES):
            print(f"error: `wharf {argv[0]}` needs: pip install 'wharf[server]'", file=sys.stderr)
            return 1
        # The server side lives in the gateway package, which the client must not import.
        os.execv(sys.executable, [sys.executable, "-m", "wharf_gateway", *argv])  # noqa: S606
    args = _parser().parse_args(argv)
    # SIGTERM ends the command as Ctrl-C does: an ephemeral app it runs is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupted)
    handlers = {
        "deploy": _deploy,
        "run": _run,
        "app": _app,
        "serve": _serve,
        "secret": _secret,
        "domain": _domain,
    }
    try:
        return handlers[args.command](args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
