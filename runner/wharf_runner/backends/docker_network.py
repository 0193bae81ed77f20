"""The network of the docker backend's containers: a bridge of their own where they cannot reach
each other, walled off by firewall rules from the host itself and from the cloud metadata address.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from wharf_runner.backends.docker_engine import DockerEngine
from wharf_runner.backends.docker_options import NETWORK, OWNER_LABEL

logger = logging.getLogger(__name__)


def prepare_network(engine: DockerEngine, owner: str, publish_host: str) -> None:
    """Create the containers' network where missing; wall it off where Docker runs here.

    Raises:
        EngineError: Docker refused.
    """
    network_id = engine.ensure_network(NETWORK, labels={OWNER_LABEL: owner})
    if publish_host == "127.0.0.1":  # the Docker host is this machine
        wall_off(f"br-{network_id[:12]}")


def wall_off(bridge: str) -> None:
    """Firewall rules for the containers' bridge on this machine: no new connections from it to
    the host itself (the gateway's ports among them), and none to the cloud metadata address.
    Needs root and Docker's iptables chains; without them, a warning says what to add by hand."""
    rules = [
        ["DOCKER-USER", "-i", bridge, "-d", "169.254.169.254", "-j", "DROP"],
        ["INPUT", "-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
    ]
    iptables = shutil.which("iptables")
    for chain, *rule in rules:
        try:
            if iptables is None:
                raise OSError("iptables is not installed")
            check = [iptables, "-C", chain, *rule]
            if subprocess.run(check, capture_output=True, check=False).returncode != 0:  # noqa: S603
                subprocess.run([iptables, "-I", chain, *rule], capture_output=True, check=True)  # noqa: S603
        except (OSError, subprocess.CalledProcessError) as exc:
            logger.warning(
                "could not add the firewall rule `iptables -I %s %s` (%s): add it by hand",
                chain,
                " ".join(rule),
                exc,
            )
            return
