"""``python -m tools.demo``: see the package's docstring."""

import sys

from tools.demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
