"""The gateway's configuration, built once at the entry point and passed in.

Every flag of `wharf server` also reads an environment variable; a flag wins over its variable.

| variable | flag | type | default | unit |
| --- | --- | --- | --- | --- |
| `WHARF_HOST` | `--host` | str | `127.0.0.1` | |
| `WHARF_PORT` | `--port` | int | `8000` | |
| `WHARF_DOMAIN` | `--domain` | str | `localhost:{port}` | host[:port] of endpoint URLs |
| `WHARF_PUBLIC_URL` | `--public-url` | URL | `{scheme}://{domain}` or listened on | |
| `WHARF_DATA_DIR` | `--data-dir` | path | `~/.wharf` | |
| `WHARF_BACKEND` | `--backend` | `local` or `docker` | `local` | |
| `WHARF_DOCKER_HOSTS` | `--docker-hosts` | comma list | local | Docker endpoints |
| `WHARF_GPU_CONFIG` | `--gpu-config` | path | `nvidia-smi` (docker) | GPU inventory JSON |
| `WHARF_HTTP_SERVER` | `--http-server` | `auto`, `uvicorn`, `hypercorn` | `auto` | |
| `WHARF_REQUEST_TIMEOUT_S` | `--request-timeout-s` | float | `150` | seconds |
| `WHARF_RATE_LIMIT_PER_S` | `--rate-limit-per-s` | float | `200` | requests per second |
| `WHARF_RATE_BURST_S` | `--rate-burst-s` | float | `5` | seconds of the rate |
| `WHARF_CLIENT_RATE_LIMIT_PER_S` | `--client-rate-limit-per-s` | float | `50` | per address |
| `WHARF_AUTH_FAILURES_PER_S` | `--auth-failures-per-s` | float | `1` | per s, per address |
| `WHARF_TLS_CERT` | `--tls-cert` | path | none | PEM certificate chain |
| `WHARF_TLS_KEY` | `--tls-key` | path | none | PEM private key |
| `WHARF_TLS_CA` | `--tls-ca` | path | the certificate | CA that containers trust to call back |
| `WHARF_MAX_BODY_MB` | `--max-body-mb` | float | `64` | MiB per API request body |
| `WHARF_MAX_WEB_BODY_MB` | `--max-web-body-mb` | float | `4096` | MiB per web endpoint request |
| `WHARF_MAX_BLOB_MB` | `--max-blob-mb` | float | `1025` | MiB per argument or result blob |
| `WHARF_RESULT_TTL_S` | `--result-ttl-s` | float | `604800` (7 days) | seconds results are kept |
| `WHARF_MAX_TOTAL_CONTAINERS` | `--max-total-containers` | int | `32` | containers at once |
| `WHARF_EPHEMERAL_LEASE_S` | `--ephemeral-lease-s` | float | `30` | seconds, unrenewed |
| `WHARF_MAX_BACKLOG` | `--max-backlog` | int | `1000000` | inputs waiting per function |
| `WHARF_MAX_CONNECTIONS` | `--max-connections` | int | `10000` | open connections (uvicorn) |
| `WHARF_HEAD_TIMEOUT_S` | `--head-timeout-s` | float | `20` | seconds, request head (uvicorn) |
| `WHARF_BODY_TIMEOUT_S` | `--body-timeout-s` | float | `60` | seconds, stalled body (uvicorn) |
| `WHARF_CORS_ORIGINS` | `--cors-origins` | comma list | none | browser pages for `/v1` (`*`: any) |
| `WHARF_TRUST_FORWARDED_HEADERS` | `--trust-forwarded-headers` | bool | `false` | |
| `WHARF_SECRETS_KEY_FILE` | `--secrets-key-file` | path | `secrets.key` in the data dir | |
| `WHARF_CONFIG_PATH` | | path | `~/.wharf.toml` | client profile written on first start |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf_gateway.errors import ConfigError


class BackendKind(StrEnum):
    """Where containers run."""

    #: Agent subprocesses on this machine (development and tests).
    LOCAL = "local"
    #: Docker containers, on GPUs where asked.
    DOCKER = "docker"


class HttpServer(StrEnum):
    """Which ASGI server runs the gateway."""

    #: uvicorn for plain HTTP, Hypercorn when TLS is on.
    AUTO = "auto"
    #: uvicorn with httptools: the lowest cost per HTTP/1.1 request.
    UVICORN = "uvicorn"
    #: Hypercorn: HTTP/1.1 and, with TLS, HTTP/2.
    HYPERCORN = "hypercorn"


#: Arguments and results above this size are stored as files, not in the database.
INLINE_PAYLOAD_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    #: None serves endpoints under `localhost:{the port listened on}`.
    domain: str | None = None
    #: The API's URL in every URL the gateway hands out (result URLs, redirects, deploy output);
    #: None: `{scheme}://{domain}` when `domain` is set, else the URL the gateway listens on.
    public_url: str | None = None
    backend: BackendKind = BackendKind.LOCAL
    #: Docker endpoints of the docker backend (`unix://...`, `tcp://...`); empty: the local one.
    docker_hosts: tuple[str, ...] = ()
    #: The runner host's GPUs as `{"gpus": [{"id": "0", "type": "T4"}]}`; None: ask nvidia-smi
    #: (docker backend) or none (local backend, where a file can stand in for tests).
    gpu_config: Path | None = None
    http_server: HttpServer = HttpServer.AUTO
    request_timeout_s: float = 150.0
    rate_limit_per_s: float = 200.0
    rate_burst_s: float = 5.0
    #: Anonymous web requests one client address may make per second (bursts of `rate_burst_s`).
    client_rate_limit_per_s: float = 50.0
    #: Failed authentications one client address may make per second, in bursts of 10.
    auth_failures_per_s: float = 1.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: The CA containers trust when they call the gateway back over HTTPS (a self-signed
    #: certificate is its own CA, so it defaults to the certificate).
    tls_ca: Path | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_web_body_bytes: int = 4 * 1024 * 1024 * 1024
    #: Largest payload blob (a call's arguments, or its result) sent in or stored: 1 GiB of
    #: data, and a MiB for its encoding.
    max_blob_bytes: int = 1025 * 1024 * 1024
    result_ttl_s: float = 7 * 24 * 3600.0
    #: Containers of all functions at once; idle ones of other functions make room for waiting work.
    max_total_containers: int = 32
    #: Inputs that may wait for one function before new ones get 429.
    max_backlog: int = 1_000_000
    #: Pools one function may have besides its own (class parameter sets, `with_options`).
    max_variant_pools: int = 100
    #: Seconds an ephemeral app (`wharf run`, `wharf serve`) lives past its client's last renewal.
    ephemeral_lease_s: float = 30.0
    #: Seconds a map or a generator's stream may go unread (without the client's heartbeat)
    #: before it is ended: its caller is taken to be gone.
    map_idle_timeout_s: float = 60.0
    #: Client connections open at once (WebSockets included); past it new ones get 503.
    max_connections: int = 10_000
    #: Seconds a request's head may take to arrive; a slower one gets 408.
    head_timeout_s: float = 20.0
    #: Seconds a request body may go without a byte while the gateway reads it.
    body_timeout_s: float = 60.0
    #: Keep callers' `X-Forwarded-For`/`-Proto` (only behind a proxy of the operator's own).
    trust_forwarded_headers: bool = False
    #: Origins whose pages may call the `/v1` API from a browser (`*`: any); none by default.
    cors_origins: tuple[str, ...] = ()
    config_path: Path | None = None
    #: The key that seals secrets (32 bytes, mode 0600, made on first start); None: the data dir's
    #: `secrets.key`.
    secrets_key_file: Path | None = None
    #: Environment the local backend's containers inherit (PATH, the virtualenv, ...).
    runner_environment: Mapping[str, str] = field(default_factory=dict)
    #: How often idle containers are stopped and missing minimum containers started.
    sweep_interval_s: float = 1.0
    #: How often results past `result_ttl_s` are dropped.
    expiry_interval_s: float = 60.0
    #: How often payload blobs unused for `result_ttl_s`, and named by nothing, are deleted.
    blob_sweep_interval_s: float = 3600.0

    @property
    def database_path(self) -> Path:
        return self.data_dir / "wharf.db"

    @property
    def secrets_key_path(self) -> Path:
        return self.secrets_key_file or self.data_dir / "secrets.key"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def container_socket(self) -> Path | None:
        """Where Docker containers reach the gateway (a Unix socket they get mounted: their
        network is walled off from the host); None with the local backend."""
        return (
            self.data_dir / "run" / "gateway.sock" if self.backend is BackendKind.DOCKER else None
        )

    @property
    def uses_tls(self) -> bool:
        return self.tls_cert is not None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
    ) -> Config:
        """Read `WHARF_*` variables, let non-None `overrides` (the CLI flags) win, and check.

        Raises:
            ConfigError: a value has the wrong type or is out of range; names the variable.
        """
        values: dict[str, Any] = {}
        for name, converter in _CONVERTERS.items():
            raw = (overrides or {}).get(name)
            variable = f"WHARF_{name.upper()}"
            if raw is None:
                raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = converter(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{variable} (--{name.replace('_', '-')}): {exc}") from exc
        for name in ("max_body", "max_web_body", "max_blob"):
            if f"{name}_mb" in values:
                values[f"{name}_bytes"] = int(values.pop(f"{name}_mb") * 1024 * 1024)
        values.setdefault("data_dir", Path("~/.wharf").expanduser())
        values["config_path"] = Path(
            environ.get("WHARF_CONFIG_PATH") or Path("~/.wharf.toml").expanduser()
        )
        config = cls(runner_environment=dict(environ), **values)
        config.check()
        return config

    def check(self) -> None:
        """Raises ConfigError for values that cannot work together."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("WHARF_TLS_CERT and WHARF_TLS_KEY must be given together")
        for name in (
            "request_timeout_s",
            "rate_limit_per_s",
            "rate_burst_s",
            "client_rate_limit_per_s",
            "ephemeral_lease_s",
            "auth_failures_per_s",
            "result_ttl_s",
            "head_timeout_s",
            "body_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"WHARF_{name.upper()} must be positive")
        if not 0 <= self.port <= 65535:
            raise ConfigError("WHARF_PORT must be between 0 and 65535")
        if self.max_body_bytes <= 0:
            raise ConfigError("WHARF_MAX_BODY_MB must be positive")
        if self.max_total_containers < 1:
            raise ConfigError("WHARF_MAX_TOTAL_CONTAINERS must be at least 1")
        if self.max_connections < 1:
            raise ConfigError("WHARF_MAX_CONNECTIONS must be at least 1")
        if self.public_url is not None:
            check_public_url(self.public_url)


def check_public_url(url: str) -> str:
    """An absolute `http(s)://host[:port]` with no path, query or fragment.

    Raises:
        ConfigError: naming the variable and what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"WHARF_PUBLIC_URL must be http(s)://host[:port], not {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError(f"WHARF_PUBLIC_URL may not have a path, query or fragment: {url!r}")
    return url.rstrip("/")


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {raw!r}")


def _path(raw: Any) -> Path:
    return Path(str(raw)).expanduser()


_CONVERTERS: dict[str, Any] = {
    "host": str,
    "port": int,
    "domain": str,
    "public_url": str,
    "data_dir": _path,
    "backend": BackendKind,
    "gpu_config": _path,
    "docker_hosts": lambda raw: tuple(host.strip() for host in str(raw).split(",") if host.strip()),
    "http_server": HttpServer,
    "request_timeout_s": float,
    "rate_limit_per_s": float,
    "rate_burst_s": float,
    "client_rate_limit_per_s": float,
    "auth_failures_per_s": float,
    "tls_cert": _path,
    "tls_key": _path,
    "tls_ca": _path,
    "max_body_mb": float,
    "max_web_body_mb": float,
    "max_blob_mb": float,
    "result_ttl_s": float,
    "max_total_containers": int,
    "max_backlog": int,
    "max_variant_pools": int,
    "map_idle_timeout_s": float,
    "ephemeral_lease_s": float,
    "max_connections": int,
    "head_timeout_s": float,
    "body_timeout_s": float,
    "trust_forwarded_headers": _boolean,
    "cors_origins": lambda raw: tuple(
        o.strip().rstrip("/") for o in str(raw).split(",") if o.strip()
    ),
    "secrets_key_file": _path,
}
