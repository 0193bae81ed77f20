"""`python -m runner`: the agent inside a container."""

from __future__ import annotations

import os
import sys

import uvloop

from wharf_runner.agent.main import AgentConfig, serve_agent


def main() -> int:
    config = AgentConfig.from_environ(os.environ)
    # User code has no business with the channel's secret.
    os.environ.pop("RUNNER_AGENT_SECRET", None)
    return uvloop.run(serve_agent(config))


if __name__ == "__main__":
    sys.exit(main())
