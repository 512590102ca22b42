"""``python -m nash_index``: the same command line as ``nash-index``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
