"""Problems: ``PROBLEMS[name]`` is the class, ``make_problem(name, n_points)`` an instance.

``name`` is a built-in key (the classes below) or anything ``registry`` resolves: a problem
registered with ``register_problem``, a package's entry point (group ``gansweep.problems``),
``path/to/file.py:Class``, ``my_package.module:Class`` or a ``.npy``/``.csv`` data file.
``PROBLEMS`` lists the built-in problems; looking up (``[]``, ``in``, ``get``) any other name
resolves it, so every layer that asks ``PROBLEMS`` about a problem also knows the user's.
"""

from __future__ import annotations

import os

from . import registry
from .base import METRIC_LABELS, Problem, ProblemBase, ProblemError
from .data import PointCloud
from .digits import MNIST, Digits
from .distributions import (Distribution, Gauss1D, Gauss2D, Grid25, Moons, MoonsCGAN, MoonsInfoGAN,
                            Ring8)
from .ivp import ODE
from .odes import COO, NLO, SHO, SIR, Exp, SHOSystem
from .pdes import Burgers, Heat, Poisson, Wave
from .registry import ENTRY_POINT_GROUP, problem_class, reference, register_problem


class _Problems(dict):
    """The built-in problems by key; a lookup of any other name resolves it (registry.lookup)."""

    def __missing__(self, name: str) -> type:
        return problem_class(name)  # ProblemError (one line) if it names nothing

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or self.get(name) is not None

    def get(self, name: object, default: type | None = None) -> type | None:  # type: ignore[override]
        try:
            return self[name]
        except ProblemError:
            return default


PROBLEMS: dict[str, type[ProblemBase]] = _Problems({
    cls.key: cls for cls in (Exp, SHO, SHOSystem, NLO, COO, SIR, Poisson, Heat, Wave, Burgers,
                             Gauss1D, Gauss2D, Moons, MoonsCGAN, MoonsInfoGAN, Ring8, Grid25, Digits,
                             MNIST)
})
registry.BUILTIN.update(PROBLEMS)
DE_PROBLEMS = [k for k, c in PROBLEMS.items() if c.family == "de"]


def _data_at_hand(cls: type) -> bool:
    """False for a problem that reads the user's files (`data_env`) while that variable is unset."""
    env = getattr(cls, "data_env", None)
    return env is None or bool(os.environ.get(env))


# distribution problems whose data is at hand: mnist only once $GANSWEEP_MNIST names its files
DIST_PROBLEMS = [k for k, c in PROBLEMS.items() if c.family == "dist" and _data_at_hand(c)]


def make_problem(key: str, n_points: int | None = None, **constants: float) -> ProblemBase:
    """The problem `key` (any name ``PROBLEMS`` resolves) with `n_points` per axis (None: its
    default) and some of its constants changed (e.g. ``v0=1.0``; see the class's ``constants``)."""
    return registry.make(key, n_points, **constants)


__all__ = ["DE_PROBLEMS", "DIST_PROBLEMS", "ENTRY_POINT_GROUP", "METRIC_LABELS", "ODE",
           "PROBLEMS", "Distribution", "PointCloud", "Problem", "ProblemBase", "ProblemError",
           "make_problem", "problem_class", "reference", "register_problem"]
