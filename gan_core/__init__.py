"""gan_core: a compact PyTorch core that trains differential-equation GANs, many seeds at once."""

from .config import ACTIVATIONS, METHODS, Config, ConfigError, NetConfig, Result
from .jets import Jet
from .networks import BatchedMLP
from .problems import (DE_PROBLEMS, DIST_PROBLEMS, ODE, PROBLEMS, Distribution, PointCloud,
                       Problem, ProblemBase, ProblemError, make_problem, register_problem)
from .train import Progress, train

__all__ = ["ACTIVATIONS", "DE_PROBLEMS", "DIST_PROBLEMS", "Distribution", "METHODS", "ODE",
           "PROBLEMS", "BatchedMLP", "Config", "ConfigError", "Jet", "NetConfig", "PointCloud",
           "Problem", "ProblemBase", "ProblemError", "Progress", "Result", "make_problem",
           "register_problem", "train"]
