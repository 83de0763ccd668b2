"""``python -m exchange``: the command line (see :mod:`exchange.app.cli`)."""
from __future__ import annotations

import sys

from exchange.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
