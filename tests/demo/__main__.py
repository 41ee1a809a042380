"""``python -m tests.demo``: see the package's docstring."""

import sys

from tests.demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
