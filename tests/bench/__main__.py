"""``python -m tests.bench``: see the package's docstring."""

import sys

from tests.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
