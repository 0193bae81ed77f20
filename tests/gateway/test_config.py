"""The gateway's configuration from `WHARF_*` variables and flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from wharf_gateway.errors import ConfigError
from wharf_gateway.server.config import BackendKind, Config


def test_variables_are_read_and_flags_win(tmp_path: Path) -> None:
    environ = {
        "WHARF_DATA_DIR": str(tmp_path),
        "WHARF_PORT": "9000",
        "WHARF_BACKEND": "docker",
        "WHARF_DOCKER_HOSTS": "unix:///var/run/docker.sock, tcp://gpu-1:2376,",
        "WHARF_MAX_WEB_BODY_MB": "1",
        "WHARF_TRUST_FORWARDED_HEADERS": "yes",
    }
    config = Config.from_environ(environ, {"port": "9100", "head_timeout_s": "5"})

    assert config.port == 9100
    assert config.head_timeout_s == 5.0
    assert config.backend is BackendKind.DOCKER
    assert config.docker_hosts == ("unix:///var/run/docker.sock", "tcp://gpu-1:2376")
    assert config.max_web_body_bytes == 1024 * 1024
    assert config.trust_forwarded_headers is True
    assert config.container_socket == tmp_path / "run" / "gateway.sock"
    assert Config(data_dir=tmp_path).container_socket is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WHARF_PORT": "eighty"}, "WHARF_PORT"),
        ({"WHARF_BACKEND": "kubernetes"}, "WHARF_BACKEND"),
        ({"WHARF_TRUST_FORWARDED_HEADERS": "maybe"}, "true or false"),
        ({"WHARF_TLS_CERT": "/cert.pem"}, "must be given together"),
        ({"WHARF_BODY_TIMEOUT_S": "0"}, "WHARF_BODY_TIMEOUT_S must be positive"),
        ({"WHARF_MAX_CONNECTIONS": "0"}, "WHARF_MAX_CONNECTIONS"),
        ({"WHARF_PORT": "70000"}, "between 0 and 65535"),
    ],
)
def test_bad_values_name_their_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_environ(environ)


def test_gpus_of_the_inventory_belong_to_known_hosts(tmp_path: Path) -> None:
    import json

    from wharf_gateway.scheduling.gpus import Gpu
    from wharf_gateway.server.app import gpu_inventory

    inventory = tmp_path / "gpus.json"
    inventory.write_text(
        json.dumps(
            {
                "gpus": [
                    {"id": "0", "type": "T4", "host": "unix:///var/run/docker.sock"},
                    {"id": "0", "type": "H100", "host": "tcp://gpu-1:2376"},
                ]
            }
        )
    )
    hosts = ("unix:///var/run/docker.sock", "tcp://gpu-1:2376")
    config = Config(data_dir=tmp_path, gpu_config=inventory, docker_hosts=hosts)

    assert gpu_inventory(config) == [Gpu("0", "T4", ""), Gpu("0", "H100", "tcp://gpu-1:2376")]
    with pytest.raises(ConfigError, match="not in --docker-hosts"):
        gpu_inventory(Config(data_dir=tmp_path, gpu_config=inventory))
