"""``python -m harness`` (the same guard as the ``harness`` console script)."""

import sys

from harness._entry import main

sys.exit(main())
