"""What a differential-equation problem is: domain, grid, exact-condition solution, residual, reference."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ..jets import Jet

Tensor = torch.Tensor


class Problem:
    """A differential equation on a box, solved by a network with the conditions built in.

    Subclasses give the maths: ``solution`` maps the raw network output N to a trial solution
    that meets the initial/boundary conditions exactly (Lagaris et al., 1998); ``equation`` returns
    the two sides of the equation, so the residual is ``F = lhs - rhs`` and DEQGAN's discriminator
    learns to tell F from zeros; ``reference`` is the true solution.
    """

    key: ClassVar[str]
    family: ClassVar[str] = "de"  # differential equation (vs "dist" for distributions)
    bounds: ClassVar[tuple[tuple[float, float], ...]]  # (low, high) per input axis
    order: ClassVar[int]  # highest derivative the equation needs
    n_out: ClassVar[int] = 1  # solution components
    n_eq: ClassVar[int] = 1  # equations (residual channels)
    outputs: ClassVar[tuple[str, ...]] = ("x",)  # names of the solution components
    axes: ClassVar[tuple[str, ...]] = ("t",)  # names of the input axes
    n_default: ClassVar[int] = 100  # grid points per axis
    noise_divisor: ClassVar[float] = 3.0  # perturbation std = spacing / this (3 ODE, 4 PDE)
    failure_threshold: ClassVar[float]  # final MSE above this means the run did not solve it
    metric: ClassVar[str] = "mse"  # the per-seed quality measure (distributions name their own)
    normalise_input: ClassVar[bool] = False  # feed N the coordinates mapped to [0, 1]
    # constants a config may change (``problem.<name>``), with their meaning; "t_max" moves the
    # end of the first (time) axis, any other name sets the attribute of that name
    constants: ClassVar[dict[str, str]] = {}

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

    # -- points -------------------------------------------------------------------------------
    def grid(self) -> np.ndarray:
        """The unperturbed grid, (n ** dim, dim); the first axis varies slowest."""
        axes = [np.linspace(lo, hi, self.n) for lo, hi in self.bounds]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

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
