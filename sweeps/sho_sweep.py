"""The main job: an Optuna + ASHA sweep of the `gan` method on the simple harmonic oscillator.

    python sweeps/sho_sweep.py                 # default budget, local Ray, ./mlflow.db
    python sweeps/sho_sweep.py --smoke-test    # seconds: 3 trials, temporary stores
    python sweeps/sho_sweep.py --help          # every option (same as gansweep run sho)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from sweeps.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["sho", *sys.argv[1:]]))
