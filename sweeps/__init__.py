"""sweeps: gan_core as a Ray Tune trainable, searched with Optuna, early-stopped with ASHA, tracked
in MLflow. The only package that imports ray, optuna and mlflow.

    gansweep run sho            # or: python sweeps/sho_sweep.py, python -m sweeps run sho
"""

from .cli import main
from .spaces import METRIC, MODE, OBJECTIVES, STUDIES, Space, objective

__all__ = ["METRIC", "MODE", "OBJECTIVES", "STUDIES", "Space", "main", "objective"]
