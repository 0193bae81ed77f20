"""`python -m runner`: the agent inside a container."""

from __future__ import annotations

import asyncio
import os
import sys

from runner.agent import AgentConfig, serve_agent


def main() -> int:
    return asyncio.run(serve_agent(AgentConfig.from_environ(os.environ)))


if __name__ == "__main__":
    sys.exit(main())
