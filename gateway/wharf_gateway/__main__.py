"""`python -m gateway`: build the config from flags and environment, then serve or administer."""

from __future__ import annotations

import sys

from wharf_gateway.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
