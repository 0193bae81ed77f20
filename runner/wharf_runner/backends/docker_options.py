"""What the docker backend creates containers and builds images with: the isolation and limits
of every container, its environment and labels, and the build contexts of images.

Every container runs as an unprivileged user with all capabilities dropped, `no-new-privileges`,
Docker's default seccomp profile, a read-only root filesystem with a writable `/tmp`, and limits on
memory, CPU, processes and open files. It never sees the Docker socket. Its ports are published on
the publish host only (127.0.0.1 where Docker runs on this machine).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from wharf_runner.backends.base import ContainerSpec, ImageRecipe
from wharf_runner.backends.docker_engine import BindMount, BuildLimits, CreateRequest

#: Ports of the agent and of the web app inside every container.
AGENT_PORT = 8000
WEB_PORT = 8001
#: Label on everything this backend creates; the value is the owning gateway's id.
OWNER_LABEL = "wharf.owner"
#: Where containers find the gateway's Unix socket.
GATEWAY_SOCKET_DIR = "/run/wharf"
#: Where the app's bundle is put (a volume of the container's own: the root is read-only).
BUNDLE_DIR = "/wharf"
#: Defaults where a function asks for no limit of its own.
DEFAULT_MEMORY_MB = 2048
DEFAULT_CPUS = 1.0
PIDS_LIMIT = 512
OPEN_FILES_LIMIT = 4096
TMP_SIZE = "1g"
#: The user containers run as (created in the runner base image).
CONTAINER_USER = "1000:1000"
#: The bridge network of every container and build (see `docker_network`).
NETWORK = "wharf-runners"
#: Limits of image builds (their steps are user code, on the walled-off network).
BUILD_LIMITS = BuildLimits(
    network=NETWORK, memory_bytes=4 * 1024**3, cpu_shares=512, timeout_s=1800
)
#: What image builds take of the gateway's environment: where pip finds packages.
BUILD_ARGS = frozenset({"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"})


def create_request(
    spec: ContainerSpec,
    image: str,
    *,
    owner: str,
    publish_host: str,
    gateway_socket: Path | None,
) -> CreateRequest:
    """How to create the container of `spec` from `image` (a runtime image)."""
    memory_mb = spec.memory_mb or DEFAULT_MEMORY_MB
    # Each published port costs the start a little (a proxy, firewall rules): only these.
    ports = {AGENT_PORT: publish_host}
    if spec.serves_web:
        ports[spec.web_server_port or WEB_PORT] = publish_host
    binds: tuple[BindMount, ...] = ()
    if gateway_socket is not None:
        binds = (BindMount(str(gateway_socket.parent), GATEWAY_SOCKET_DIR),)
    return CreateRequest(
        image=image,
        command=("python3", "-m", "wharf_runner"),
        environment=environment(spec, gateway_socket),
        labels=labels(spec, owner),
        user=CONTAINER_USER,
        network=NETWORK,
        memory_mb=memory_mb,
        cpus=spec.cpu or DEFAULT_CPUS,
        pids_limit=PIDS_LIMIT,
        open_files_limit=OPEN_FILES_LIMIT,
        ports=ports,
        cap_drop=("ALL",),
        security_opt=("no-new-privileges",),
        read_only=True,
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={TMP_SIZE}"},  # noqa: S108 - its own tmpfs
        volumes=(BUNDLE_DIR,),
        binds=binds,
        gpu_ids=spec.gpu_ids,
        init=True,  # a real PID 1 that reaps what the user's code leaves behind
    )


def labels(spec: ContainerSpec, owner: str) -> dict[str, str]:
    """The container's labels: what a later run of the gateway needs to take it on again. (The
    secret is seen only by those who can read Docker's state: root, in effect.)"""
    return {
        OWNER_LABEL: owner,
        "wharf.container": spec.container_id,
        "wharf.app": spec.app_id,
        "wharf.function": spec.function_name,
        "wharf.function_id": spec.function_id,
        "wharf.pool": spec.pool_key,
        "wharf.token_id": spec.token_id,
        "wharf.agent_secret": spec.agent_secret,
        "wharf.web_port": str(spec.web_server_port or WEB_PORT) if spec.serves_web else "",
        "wharf.gpus": ",".join(spec.gpu_ids),
        "wharf.memory_mb": str(spec.memory_mb or DEFAULT_MEMORY_MB),
    }


def environment(spec: ContainerSpec, gateway_socket: Path | None) -> dict[str, str]:
    """The agent's environment, and the user's (`spec.environment`) under it."""
    user_environment = dict(spec.environment)
    if gateway_socket is not None:
        # The gateway answers containers on its socket, in plain HTTP.
        socket_path = f"{GATEWAY_SOCKET_DIR}/{gateway_socket.name}"
        user_environment["WHARF_SERVER_URL"] = f"unix://{socket_path}"
        user_environment.pop("WHARF_CA_BUNDLE", None)
    return {
        **user_environment,
        "PYTHONUNBUFFERED": "1",
        "RUNNER_BUNDLE_PATH": f"{BUNDLE_DIR}/bundle.zip",
        "RUNNER_MODULE": spec.module,
        "RUNNER_APP_VARIABLE": spec.app_variable,
        "RUNNER_APP_ID": spec.app_id,
        "RUNNER_FUNCTION": spec.function_name,
        "RUNNER_HOST": "0.0.0.0",  # noqa: S104 - inside the container; published on loopback
        "RUNNER_PORT": str(AGENT_PORT),
        "RUNNER_WEB_PORT": str(WEB_PORT),
        "RUNNER_READY_STDOUT": "1",
        "RUNNER_MAX_INPUTS": str(spec.max_inputs),
        "RUNNER_AGENT_SECRET": spec.agent_secret,
        "RUNNER_MAX_BODY_BYTES": str(spec.max_output_bytes),
    }


def build_context(recipe: ImageRecipe) -> bytes:
    """The recipe's Dockerfile and files as a tar build context."""
    files = [("Dockerfile", recipe.dockerfile.encode()), *recipe.files.items()]
    return _tar([(name, data, recipe.modes.get(name, 0o644)) for name, data in files])


def bundle_archive(bundle_path: Path) -> bytes:
    """The app's bundle as a tar of `bundle.zip`, to put in `BUNDLE_DIR`."""
    return _tar([("bundle.zip", bundle_path.read_bytes(), 0o644)])


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
