"""``python -m hourglass.cli``: the same command line as ``hourglass``."""

import sys

from hourglass.cli import main

if __name__ == "__main__":
    sys.exit(main())
