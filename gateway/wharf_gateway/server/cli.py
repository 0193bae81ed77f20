"""`python -m gateway` (what `wharf server`, `wharf token` and `wharf workspace` run)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import uvloop

from wharf_gateway.errors import ConfigError, GatewayError
from wharf_gateway.models import utc_text
from wharf_gateway.server.bootstrap import (
    DEFAULT_WORKSPACE,
    create_workspace,
    first_start,
    list_tokens,
    new_token,
    parse_duration,
    revoke_token,
    set_limits,
    write_profile,
)
from wharf_gateway.server.config import Config
from wharf_gateway.server.serve import serve


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", help="port to listen on (8000)")
    parser.add_argument("--domain", help="host[:port] of endpoint URLs (localhost:PORT)")
    parser.add_argument(
        "--public-url", help="the API's URL in URLs handed out (http(s)://DOMAIN, else listened on)"
    )
    parser.add_argument("--backend", choices=["local", "docker"], help="container backend (local)")
    parser.add_argument("--gpu-config", help="GPU inventory JSON (default: nvidia-smi, docker)")
    parser.add_argument(
        "--docker-hosts", help="Docker endpoints, comma-separated (docker backend; local socket)"
    )
    parser.add_argument(
        "--http-server",
        choices=["auto", "uvicorn", "hypercorn"],
        help="ASGI server: uvicorn for plain HTTP, Hypercorn for TLS (auto)",
    )
    parser.add_argument("--request-timeout-s", help="seconds a call waits before 302 (150)")
    parser.add_argument("--rate-limit-per-s", help="requests per second per workspace (200)")
    parser.add_argument("--rate-burst-s", help="seconds of burst above the rate (5)")
    parser.add_argument(
        "--client-rate-limit-per-s", help="anonymous web requests per second per address (50)"
    )
    parser.add_argument(
        "--auth-failures-per-s", help="failed authentications per second per address (1)"
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain, to serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-ca", help="CA that containers trust (default: --tls-cert)")
    parser.add_argument("--max-body-mb", help="largest API request body in MiB (64)")
    parser.add_argument("--max-web-body-mb", help="largest web endpoint request in MiB (4096)")
    parser.add_argument("--max-blob-mb", help="largest argument or result blob in MiB (1025)")
    parser.add_argument("--result-ttl-s", help="seconds results are kept (604800)")
    parser.add_argument("--max-total-containers", help="containers of all functions at once (32)")
    parser.add_argument("--max-backlog", help="inputs waiting per function before 429 (1000000)")
    parser.add_argument(
        "--map-idle-timeout-s", help="seconds a map may go unread before it is ended (60)"
    )
    parser.add_argument(
        "--ephemeral-lease-s", help="seconds an unrenewed ephemeral app lives on (30)"
    )
    parser.add_argument(
        "--max-variant-pools",
        help="pools per function for class parameter sets and with_options, before 429 (100)",
    )
    parser.add_argument("--max-connections", help="client connections at once, then 503 (10000)")
    parser.add_argument("--head-timeout-s", help="seconds for a request's head, then 408 (20)")
    parser.add_argument("--body-timeout-s", help="seconds a request body may stall (60)")
    parser.add_argument(
        "--secrets-key-file", help="key that seals secrets (DATA_DIR/secrets.key, made if absent)"
    )
    parser.add_argument(
        "--cors-origins", help="origins whose pages may call /v1 from a browser, comma-separated"
    )
    parser.add_argument(
        "--trust-forwarded-headers",
        action="store_const",
        const="true",
        help="keep callers' X-Forwarded-For/-Proto (only behind your own proxy)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wharf", description="Wharf server-host commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the gateway")
    _server_flags(server)
    server.add_argument("--data-dir", help="where the database and blobs live (~/.wharf)")
    token = commands.add_parser("token", help="manage tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_new = token_commands.add_parser("new", help="print a new token")
    token_new.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    token_new.add_argument("--admin", action="store_true", help="may manage workspaces too")
    token_new.add_argument("--expires-in", help="valid for this long: 3600, 90m, 12h, 30d")
    token_new.add_argument("--data-dir")
    token_list = token_commands.add_parser("list", help="list a workspace's tokens")
    token_list.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    token_list.add_argument("--data-dir")
    token_revoke = token_commands.add_parser("revoke", help="revoke a token")
    token_revoke.add_argument("token_id")
    token_revoke.add_argument("--data-dir")
    workspace = commands.add_parser("workspace", help="manage workspaces")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True)
    workspace_create = workspace_commands.add_parser("create", help="create a workspace")
    workspace_create.add_argument("name")
    workspace_create.add_argument("--data-dir")
    workspace_limits = workspace_commands.add_parser(
        "limits", help="set a workspace's own rate limits (no values: back to the defaults)"
    )
    workspace_limits.add_argument("name")
    workspace_limits.add_argument("--per-s", type=float, help="requests per second")
    workspace_limits.add_argument("--burst-s", type=float, help="seconds of burst above it")
    workspace_limits.add_argument("--data-dir")
    return parser


def _config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    # Config takes the flags it knows from the parsed arguments and ignores the others.
    overrides: dict[str, Any] = vars(args)
    return Config.from_environ(environ, overrides)


def _run_server(config: Config) -> None:
    token = asyncio.run(first_start(config))
    if token is not None:
        print(f"Created workspace {token.workspace!r} and its first token:")
        print(token.shell_lines())

    def on_listening(url: str) -> None:
        if token is not None and config.config_path is not None:
            if write_profile(config.config_path, url, token):
                print(f"Wrote the client profile {config.config_path}")
        print(f"Wharf gateway listening on {url} (data in {config.data_dir})", flush=True)

    # uvloop runs the gateway's event loop in C: every request costs less of it.
    uvloop.run(serve(config, on_listening=on_listening))


def _token_state(record: Mapping[str, Any]) -> str:
    if record["revoked_at"]:
        return "revoked"
    expires_at = record["expires_at"]
    if expires_at is None:
        return "active"
    when = utc_text(expires_at)
    return f"expired {when}" if expires_at <= time.time() else f"active until {when}"


def _token_command(config: Config, args: argparse.Namespace) -> None:
    action = str(args.token_command)
    if action == "new":
        expires_in_s = None if args.expires_in is None else parse_duration(args.expires_in)
        token = new_token(config, args.workspace, admin=args.admin, expires_in_s=expires_in_s)
        print(asyncio.run(token).shell_lines())
    elif action == "list":
        for record in asyncio.run(list_tokens(config, args.workspace)):
            print(f"{record['token_id']}  {_token_state(record)}")
    else:
        asyncio.run(revoke_token(config, args.token_id))
        print(f"Revoked {args.token_id}")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = _config(args, environ)
        if args.command == "server":
            _run_server(config)
        elif args.command == "token":
            _token_command(config, args)
        elif args.workspace_command == "limits":
            asyncio.run(set_limits(config, args.name, args.per_s, args.burst_s))
            print(f"Set the rate limits of workspace {args.name!r}")
        else:
            token = asyncio.run(create_workspace(config, args.name))
            print(f"Created workspace {token.workspace!r} and its first token:")
            print(token.shell_lines())
    except (ConfigError, GatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
