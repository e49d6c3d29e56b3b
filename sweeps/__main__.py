"""``python -m sweeps run <problem> [options]``: the same as the ``gansweep`` console script."""

import sys

from .cli import main

sys.exit(main())
