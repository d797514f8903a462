"""``python -m replab``: the same command as ``replab``."""

import sys

from replab.cli import main

sys.exit(main())
