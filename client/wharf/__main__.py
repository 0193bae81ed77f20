"""`python -m client`: the same as the `wharf` command."""

from __future__ import annotations

import sys

from wharf._cli import main

if __name__ == "__main__":
    sys.exit(main())
