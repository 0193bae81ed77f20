"""The `wharf` command line: deploy, run (with a cross-app call), app list/logs/stop, tokens."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import RunningGateway, run_wharf, wait_until, write_app

SHARED_APP = """
    import wharf as modal

    app = modal.App("my-shared-app")


    @app.function()
    def square(x: int):
        print(f"square of {x}")
        return x ** 2
"""

ANOTHER_APP = """
    import wharf as modal

    app = modal.App("another-app")

    square = modal.Function.from_name("my-shared-app", "square")


    @app.function()
    def cube(x):
        return x * square.remote(x)


    @app.local_entrypoint()
    def main():
        assert cube.remote(42) == 74088
        print("cube checked")
"""

BROKEN_APP = """
    import wharf as modal

    app = modal.App("my-shared-app")

    @app.function()
    def square(x: int)
        return x
"""


def test_deploy_then_run_an_app_that_calls_the_deployed_one(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    env = client_env.client_environment
    deployed = run_wharf(["deploy", str(write_app(tmp_path, SHARED_APP))], env)
    assert deployed.returncode == 0, deployed.stderr
    assert "Deployed app 'my-shared-app'" in deployed.stdout
    assert f"{client_env.url}/v1/apps/my-shared-app/functions/square/calls" in deployed.stdout

    ran = run_wharf(["run", str(write_app(tmp_path, ANOTHER_APP))], env)
    assert ran.returncode == 0, ran.stderr
    assert "cube checked" in ran.stdout

    listed = run_wharf(["app", "list"], env)
    rows = {line.split()[1]: line.split()[2] for line in listed.stdout.splitlines()}
    assert rows == {"my-shared-app": "deployed", "another-app": "stopped"}

    def logged() -> bool:
        logs = run_wharf(["app", "logs", "my-shared-app"], env).stdout
        return "square of 42" in logs

    wait_until(logged, timeout_s=20)
    stopped = run_wharf(["app", "stop", "my-shared-app"], env)
    assert stopped.returncode == 0
    lines = run_wharf(["app", "list"], env).stdout.splitlines()
    assert [line.split()[2] for line in lines if " my-shared-app " in line] == ["stopped"]


def test_run_passes_entrypoint_options(client_env: RunningGateway, tmp_path: Path) -> None:
    source = """
        import wharf as modal

        app = modal.App("options-app")

        @app.function()
        def double(x: int):
            return 2 * x

        @app.local_entrypoint()
        def main(x: int, label: str = "result"):
            print(label, double.remote(x))
    """
    ran = run_wharf(
        ["run", str(write_app(tmp_path, source)), "--x", "21", "--label", "answer"],
        client_env.client_environment,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("answer 42")


def test_deploy_of_a_broken_file_fails_and_the_old_version_keeps_serving(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    env = client_env.client_environment
    assert run_wharf(["deploy", str(write_app(tmp_path, SHARED_APP))], env).returncode == 0
    broken = run_wharf(["deploy", str(write_app(tmp_path, BROKEN_APP))], env)
    assert broken.returncode == 1
    assert "SyntaxError" in broken.stderr

    missing_import = write_app(tmp_path, "import no_such_module_anywhere\n")
    failed = run_wharf(["deploy", str(missing_import)], env)
    assert failed.returncode == 1
    assert "ModuleNotFoundError" in failed.stderr

    response = httpx.post(
        f"{client_env.url}/v1/apps/my-shared-app/functions/square/calls",
        json={"args": [5]},
        headers={"authorization": client_env.authorization},
        timeout=30,
    )
    assert response.json() == 25


def test_token_new_prints_a_working_token(client_env: RunningGateway) -> None:
    data_dir = str(client_env.config.data_dir)
    made = run_wharf(["token", "new", "--data-dir", data_dir], {})
    assert made.returncode == 0, made.stderr
    lines = dict(line.split("=", 1) for line in made.stdout.split())
    authorization = f"Bearer {lines['WHARF_TOKEN_ID']}:{lines['WHARF_TOKEN_SECRET']}"
    response = httpx.get(f"{client_env.url}/v1/apps", headers={"authorization": authorization})
    assert response.status_code == 200


def test_token_new_expires_in_makes_a_token_that_expires(client_env: RunningGateway) -> None:
    data_dir = str(client_env.config.data_dir)
    made = run_wharf(["token", "new", "--expires-in", "30d", "--data-dir", data_dir], {})
    assert made.returncode == 0, made.stderr
    token_id = dict(line.split("=", 1) for line in made.stdout.split())["WHARF_TOKEN_ID"]
    listed = run_wharf(["token", "list", "--data-dir", data_dir], {}).stdout
    assert f"{token_id}  active until 20" in listed
    wrong = run_wharf(["token", "new", "--expires-in", "a while", "--data-dir", data_dir], {})
    assert wrong.returncode == 2
    assert "is not a duration" in wrong.stderr


def test_token_new_for_an_unknown_workspace_fails_clearly(client_env: RunningGateway) -> None:
    data_dir = str(client_env.config.data_dir)
    made = run_wharf(["token", "new", "--workspace", "nope", "--data-dir", data_dir], {})
    assert made.returncode == 2
    assert "no workspace named 'nope'" in made.stderr


def test_a_token_revoked_with_the_cli_is_refused_by_the_running_gateway(
    client_env: RunningGateway,
) -> None:
    data_dir = str(client_env.config.data_dir)
    made = run_wharf(["token", "new", "--data-dir", data_dir], {})
    lines = dict(line.split("=", 1) for line in made.stdout.split())
    token_id = lines["WHARF_TOKEN_ID"]
    authorization = f"Bearer {token_id}:{lines['WHARF_TOKEN_SECRET']}"
    apps = f"{client_env.url}/v1/apps"
    assert httpx.get(apps, headers={"authorization": authorization}).status_code == 200
    listed = run_wharf(["token", "list", "--data-dir", data_dir], {})
    assert f"{token_id}  active" in listed.stdout
    assert listed.stdout.count("active") == 2  # the first token and this one
    revoked = run_wharf(["token", "revoke", token_id, "--data-dir", data_dir], {})
    assert revoked.returncode == 0, revoked.stderr
    assert f"{token_id}  revoked" in run_wharf(["token", "list", "--data-dir", data_dir], {}).stdout

    def refused() -> bool:
        return httpx.get(apps, headers={"authorization": authorization}).status_code == 401

    wait_until(refused, timeout_s=10)


WEB_APP = """
    import wharf as modal

    app = modal.App("printed")


    @app.function()
    @modal.web_endpoint()
    def hello():
        return "hello"
"""


def test_deploy_prints_the_path_form_beside_a_localhost_subdomain(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    deployed = run_wharf(
        ["deploy", str(write_app(tmp_path, WEB_APP))], client_env.client_environment
    )
    assert deployed.returncode == 0, deployed.stderr
    port = client_env.url.rsplit(":", 1)[1]
    assert f"http://main--printed-hello.localhost:{port} (web endpoint)" in deployed.stdout
    path_form = f"{client_env.url}/web/main--printed-hello/"
    assert f"{path_form} (any client)" in deployed.stdout
    # The form any resolver reaches, as printed, answers.
    assert httpx.get(path_form, timeout=30).json() == "hello"


def test_make_run_on_a_taken_port_says_which_and_how_to_choose_another(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from tests.helpers import REPOSITORY

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {
            **os.environ,
            "WHARF_PORT": str(port),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "WHARF_DATA_DIR": str(tmp_path / "data"),
            "WHARF_CONFIG_PATH": str(tmp_path / "wharf.toml"),
        }
        done = subprocess.run(
            ["bash", str(REPOSITORY / "deploy" / "run-local.sh")],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in done.stderr
    assert "WHARF_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Deployed" not in done.stdout
