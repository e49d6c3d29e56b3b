"""x' = -x, the seed notebook's problem: GAN trials, and the Lagaris (l2) baseline beside the best.

    python sweeps/exp_sweep.py                 # default budget, local Ray, ./mlflow.db
    python sweeps/exp_sweep.py --smoke-test    # seconds: 3 trials, temporary stores
    python sweeps/exp_sweep.py --help          # every option (same as gansweep run exp)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from sweeps.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["exp", *sys.argv[1:]]))
