"""`python -m gateway`: build the config from flags and environment, then serve or administer."""

from __future__ import annotations

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main())
