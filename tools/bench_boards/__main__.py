"""``python -m tools.bench_boards``: see the package's docstring."""

import sys

from tools.bench_boards.cli import main

if __name__ == "__main__":
    sys.exit(main())
