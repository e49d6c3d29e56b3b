"""Problem registry: ``PROBLEMS[key]`` is the class, ``make_problem(key, n_points)`` an instance."""

from __future__ import annotations

import os

from .base import Problem
from .digits import MNIST, Digits
from .distributions import (Distribution, Gauss1D, Gauss2D, Grid25, Moons, MoonsCGAN, MoonsInfoGAN,
                            Ring8)
from .odes import COO, NLO, SHO, SIR, Exp, SHOSystem
from .pdes import Burgers, Heat, Poisson, Wave

PROBLEMS: dict[str, type[Problem] | type[Distribution]] = {
    cls.key: cls for cls in (Exp, SHO, SHOSystem, NLO, COO, SIR, Poisson, Heat, Wave, Burgers,
                             Gauss1D, Gauss2D, Moons, MoonsCGAN, MoonsInfoGAN, Ring8, Grid25, Digits,
                             MNIST)
}
DE_PROBLEMS = [k for k, c in PROBLEMS.items() if c.family == "de"]


def _data_at_hand(cls: type) -> bool:
    """False for a problem that reads the user's files (`data_env`) while that variable is unset."""
    env = getattr(cls, "data_env", None)
    return env is None or bool(os.environ.get(env))


# distribution problems whose data is at hand: mnist only once $GANSWEEP_MNIST names its files
DIST_PROBLEMS = [k for k, c in PROBLEMS.items() if c.family == "dist" and _data_at_hand(c)]


def make_problem(key: str, n_points: int | None = None, **constants: float
                 ) -> Problem | Distribution:
    """The problem `key` with `n_points` per axis (None: its default) and some of its constants
    changed (e.g. ``v0=1.0``; see the class's ``constants``)."""
    if key not in PROBLEMS:
        raise KeyError(f"unknown problem {key!r}; known: {', '.join(sorted(PROBLEMS))}")
    return PROBLEMS[key](n_points, **constants)


__all__ = ["DE_PROBLEMS", "DIST_PROBLEMS", "PROBLEMS", "Distribution", "Problem", "make_problem"]
