"""What a problem is. ``ProblemBase``: what every layer asks of any problem (its family, its primary
metric and that metric's label, the failure threshold, the baseline, the figure, the sweep's study
and budget). ``Problem``: a differential equation: domain, grid, exact-condition solution,
residual, reference."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..jets import Jet

Tensor = torch.Tensor


REL_FAILURE = 2.5e-3  # relative MSE above this (a relative RMS error above 5%): a failed seed


class ProblemError(ConfigError):
    """A problem cannot be found or is not a valid problem; the message is one line with the fix."""


# the primary metrics in words, for tables, plots and summaries (a problem may set its own label)
METRIC_LABELS = {
    "mse": "MSE",
    "rel_mse": "relative MSE",
    "residual": "mean squared residual (no reference solution)",
    "w1": "Wasserstein distance",
    "energy": "energy distance",
    "label_energy": "per-label energy distance",
    "code_error": "code error",
    "modes_missed": "modes missed",
    "classes_missed": "classes missed",
    "reverse_kl": "reverse KL of the mode histogram",
    "high_quality": "high-quality share (within 3 std of a mode)",
}


class ProblemBase:
    """What the training loop, the sweeps and the analysis ask of every problem, equation or data.

    Subclass ``Problem`` (an equation; ``ODE`` for y' = f(t, y)) or ``Distribution`` (data;
    ``PointCloud`` for a file of points), never this class directly. Every attribute has a
    default; a problem changes what differs.
    """

    key: ClassVar[str]  # its name in tables, MLflow tags and folder names (default: the class
    # name in lower case)
    family: ClassVar[str]  # "de" (a differential equation) or "dist" (a data distribution)
    metric: ClassVar[str]  # the primary per-seed metric, lower is better (eval/<metric>)
    metric_label: ClassVar[str]  # that metric in words (default: METRIC_LABELS)
    failure_threshold: ClassVar[float]  # primary metric above this = a failed seed
    # other reported metrics (lower is better) a config may make primary instead (Config.metric),
    # each with the failure threshold it brings
    metric_thresholds: ClassVar[dict[str, float]] = {}
    baseline_method: ClassVar[str | None]  # the non-GAN method a sweep compares with (None: none)
    plot: ClassVar[str]  # the per-seed figure: "solution" | "samples" | "digits"
    # the sweep's search space: a study's name in sweeps/spaces.py or a function
    # (optuna trial, method) -> None; None: the generic study of the family
    study: ClassVar[str | Callable[..., None] | None] = None
    # the default (no-option) sweep's size: trials, seeds, iterations, time_budget (seconds)
    sweep_budget: ClassVar[dict[str, int]] = {}
    # the default sweep's objective over seeds (sweeps.spaces.OBJECTIVES), and for "failures" the
    # reported metric whose median breaks ties between equal failure rates (None: the primary)
    sweep_objective: ClassVar[str] = "median"
    tiebreak: ClassVar[str | None] = None
    # the starting config of a problem that gan_core/presets.py does not know: flat Config keys,
    # "*" for every method and one entry per method (None: the family's, presets.family_preset)
    preset: ClassVar[dict[str, dict[str, Any]] | None] = None
    n_default: ClassVar[int]  # grid points per axis (equations) or batch size (distributions)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key" not in cls.__dict__:
            cls.key = cls.__name__.lower()
        if "metric_label" not in cls.__dict__ and hasattr(cls, "metric"):
            cls.metric_label = METRIC_LABELS.get(cls.metric, cls.metric.replace("_", " "))

    @classmethod
    def primary_metrics(cls) -> dict[str, float]:
        """The metrics that may be primary (Config.metric), each with its failure threshold: the
        problem's own first, then ``metric_thresholds``."""
        return {cls.metric: cls.failure_threshold, **cls.metric_thresholds}


class Problem(ProblemBase):
    """A differential equation on a box, solved by a network with the conditions built in.

    Subclasses give the maths: ``solution`` maps the raw network output N to a trial solution
    that meets the initial/boundary conditions exactly (Lagaris et al., 1998); ``equation`` returns
    the two sides of the equation, so the residual is ``F = lhs - rhs`` and DEQGAN's discriminator
    learns to tell F from zeros; ``reference`` is the true solution. Without ``reference`` (no
    known solution) the metric is the mean squared residual on a grid 4x finer than the training
    grid (2x per axis for PDEs), and every table and plot says so (``metric = "residual"``).
    """

    family: ClassVar[str] = "de"  # differential equation (vs "dist" for distributions)
    bounds: ClassVar[tuple[tuple[float, float], ...]]  # (low, high) per input axis
    order: ClassVar[int]  # highest derivative the equation needs
    n_out: ClassVar[int] = 1  # solution components
    n_eq: ClassVar[int] = 1  # equations (residual channels)
    outputs: ClassVar[tuple[str, ...]] = ("x",)  # names of the solution components
    axes: ClassVar[tuple[str, ...]] = ("t",)  # names of the input axes
    n_default: ClassVar[int] = 100  # grid points per axis
    noise_divisor: ClassVar[float] = 3.0  # perturbation std = spacing / this (3 ODE, 4 PDE)
    # the per-seed quality measure: "rel_mse" (MSE / mean square of the reference, all components
    # pooled) where there is a reference, "residual" without one; the built-in problems keep the
    # absolute "mse" the DEQGAN paper publishes (and report rel_mse beside it)
    metric: ClassVar[str] = "rel_mse"
    # final metric above this: the run did not solve it. Default: 2.5e-3 for rel_mse (a relative
    # RMS error of 5%, on any equation whatever its units), 1e-4 for mse and residual
    failure_threshold: ClassVar[float] = REL_FAILURE
    baseline_method: ClassVar[str | None] = "l2"  # Lagaris: the classical loss a GAN must beat
    plot: ClassVar[str] = "solution"  # every seed's prediction over the reference
    fine_factor: ClassVar[int] = 4  # no reference: the residual grid's points per axis, x n (1-D)
    normalise_input: ClassVar[bool] = False  # feed N the coordinates mapped to [0, 1]
    # constants a config may change (``problem.<name>``), with their meaning; "t_max" moves the
    # end of the first (time) axis, any other name sets the attribute of that name
    constants: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "metric" not in cls.__dict__:  # no known solution: rank by the residual (docstring)
            cls.metric = "rel_mse" if cls.has_reference() else "residual"
        if not any("failure_threshold" in c.__dict__ for c in cls.__mro__[:-1]
                   if c is not Problem and issubclass(c, Problem)):
            cls.failure_threshold = REL_FAILURE if cls.metric == "rel_mse" else 1e-4
        super().__init_subclass__(**kwargs)

    @classmethod
    def has_reference(cls) -> bool:
        """True when the problem knows its solution (``reference``)."""
        return cls.reference is not Problem.reference

    def __init__(self, n_points: int | None = None, **constants: float):
        self.n = n_points or self.n_default
        for name, value in constants.items():
            if name not in self.constants:
                known = ", ".join(self.constants) or "none"
                raise ValueError(f"{self.key} has no constant {name!r}; settable: {known}")
            if name == "t_max":
                self.bounds = ((self.bounds[0][0], float(value)),) + tuple(self.bounds[1:])
            else:
                setattr(self, name, float(value))

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @classmethod
    def time_axis(cls) -> int | None:
        """The axis that is time, which curriculum and causal weighting march along: the one
        named "t", else the only axis of a 1-D problem; None for a problem in space alone."""
        if "t" in cls.axes:
            return cls.axes.index("t")
        return 0 if len(cls.bounds) == 1 else None

    # -- points -------------------------------------------------------------------------------
    def grid(self, n: int | None = None) -> np.ndarray:
        """The unperturbed grid of n (default self.n) points per axis, (n ** dim, dim); the first
        axis varies slowest."""
        axes = [np.linspace(lo, hi, n or self.n) for lo, hi in self.bounds]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    def fine_grid(self) -> np.ndarray:
        """The grid on which a problem without reference is judged by its residual: fine_factor
        times n points on an interval, 2 n per axis in 2-D and up, (m, dim)."""
        return self.grid(self.n * (self.fine_factor if self.dim == 1 else 2))

    def noise_std(self) -> np.ndarray:
        """(dim,) std of the per-iteration Gaussian perturbation of the grid."""
        return np.array([(hi - lo) / (self.n - 1) / self.noise_divisor for lo, hi in self.bounds])

    # -- maths --------------------------------------------------------------------------------
    def net_input(self, coords: list[Jet]) -> Jet:
        """What N sees: the raw coordinates, or mapped to [0, 1] when ``normalise_input``."""
        if self.normalise_input:
            coords = [(c - lo) * (1.0 / (hi - lo)) for c, (lo, hi) in zip(coords, self.bounds)]
        return coords[0].cat(coords[1:]) if len(coords) > 1 else coords[0]

    def solution(self, N: Jet, coords: list[Jet]) -> Jet:
        """The trial solution built from the raw network output N (seeds, n, n_out)."""
        raise NotImplementedError

    def equation(self, u: Jet, coords: list[Jet]) -> tuple[Tensor, Tensor]:
        """(lhs, rhs), each (seeds, n, n_eq); the residual is lhs - rhs."""
        raise NotImplementedError

    def reference(self, X: np.ndarray) -> np.ndarray:
        """The true solution at points X (n, dim): (n, n_out)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n})"


def decay(c: Jet) -> Jet:
    """1 - exp(-c): zero at c = 0, so anything it multiplies vanishes there."""
    return 1.0 - (-c).exp()
