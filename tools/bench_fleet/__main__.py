"""``python -m tools.bench_fleet``: see the package's docstring."""

import sys

from tools.bench_fleet.cli import main

if __name__ == "__main__":
    sys.exit(main())
