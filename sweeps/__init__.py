"""sweeps: gan_core as a Ray Tune trainable, searched with Optuna, early-stopped with ASHA, tracked
in MLflow. The only package that imports ray, optuna and mlflow (importing it starts none of them).

    gansweep run sho            # or: python sweeps/sho_sweep.py, python -m sweeps run sho
    summary, grid = sweeps.sweep("sho", trials=8)   # the same from Python (a notebook, a script)
"""

from .api import sweep
from .result import SweepResult
from .cli import main
from .errors import SweepError, UsageError
from .spaces import METRIC, MODE, OBJECTIVES, STUDIES, Space, objective
from .spec import SweepSpec

__all__ = ["METRIC", "MODE", "OBJECTIVES", "STUDIES", "Space", "SweepError", "SweepResult",
           "SweepSpec", "UsageError", "main", "objective", "sweep"]
