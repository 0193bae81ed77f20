"""Prints the requirements of Wharf's distribution, one a line, for `pip install -r`: its
dependencies (the SDK's) and those of the extras named. An extra that names `wharf[...]` brings
those extras' requirements too, so `server` lists the runtime's as well.

    python3 deploy/requirements.py [--pyproject PATH] [EXTRA ...]

deploy/runner-base/ installs `runtime` into the image every container starts from (the agent's
needs); deploy/gateway/build.sh adds `server` (the gateway's and the runner's backends').
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

_SELF_REFERENCE = re.compile(r"^wharf\[(?P<extras>[^\]]+)\]\s*$")


def requirements(project: dict[str, Any], extras: list[str]) -> list[str]:
    """The dependencies of `project` and of its `extras`, self-references expanded, in order.

    Raises:
        KeyError: an extra the project does not define.
    """
    found = list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            match = _SELF_REFERENCE.match(requirement)
            if match:
                pending += [name.strip() for name in match["extras"].split(",")]
            elif requirement not in found:
                found.append(requirement)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pyproject", type=Path, default=Path(__file__).parent.parent / "pyproject.toml"
    )
    parser.add_argument("extras", nargs="*")
    args = parser.parse_args()
    with args.pyproject.open("rb") as file:
        project = tomllib.load(file)["project"]
    try:
        print("\n".join(requirements(project, args.extras)))
    except KeyError as exc:
        print(f"error: pyproject.toml has no extra {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
