"""Two moons with a classic GAN: an Optuna + ASHA sweep of the `gan` method, the VAE beside the best.

    python sweeps/moons_sweep.py                 # default budget (~10 min on 2 cores), ./mlflow.db
    python sweeps/moons_sweep.py --smoke-test    # 3 trials, temporary stores
    python sweeps/moons_sweep.py --help          # every option (same as gansweep run moons)

The metric is the energy distance of each seed's samples to held-out real moons; a seed above 0.02
has missed or smeared a moon (failed). MLflow holds each trial's per-seed scatter plots
(plots/samples.png). The conditional and InfoGAN variants: gansweep run moons_cgan / moons_infogan.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from sweeps.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["moons", *sys.argv[1:]]))
