"""Burgers u_t + u u_x = nu u_xx: a smaller budget, fewer seeds (each trial is slower).

    python sweeps/burgers_sweep.py                 # default budget, local Ray, ./mlflow.db
    python sweeps/burgers_sweep.py --smoke-test    # seconds: 3 trials, temporary stores
    python sweeps/burgers_sweep.py --help          # every option (same as gansweep run burgers)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from sweeps.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["burgers", *sys.argv[1:]]))
