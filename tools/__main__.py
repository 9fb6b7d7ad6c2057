"""``python -m tools``: the project's command line (:mod:`tools.cli`)."""

import sys

from tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
