"""8x8 handwritten digits with an MLP GAN: an Optuna + ASHA sweep, mode collapse as the failure.

    python sweeps/digits_sweep.py                 # default budget (~10 min on 2 cores), ./mlflow.db
    python sweeps/digits_sweep.py --smoke-test    # 3 trials, temporary stores
    python sweeps/digits_sweep.py --help          # every option (same as gansweep run digits)

The metric is classes missed: of 10 digit classes, those a small judge classifier (trained once on
the real digits, cached) finds too rarely among a seed's samples; more than 2 missed (fewer than 8
of 10 covered) is mode collapse, a failed seed. MLflow holds each trial's per-seed digit grids and
class histograms (plots/digits.png); `python -m analysis report` shows the mode-collapse rate per
config. MNIST: set $GANSWEEP_MNIST to its idx files and run `gansweep run mnist`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from sweeps.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["digits", *sys.argv[1:]]))
