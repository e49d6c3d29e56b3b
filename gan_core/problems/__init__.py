"""Problem registry: ``PROBLEMS[key]`` is the class, ``make_problem(key, n_points)`` an instance."""

from __future__ import annotations

from .base import Problem
from .odes import COO, NLO, SHO, SIR, Exp, SHOSystem
from .pdes import Burgers, Heat, Poisson, Wave

PROBLEMS: dict[str, type[Problem]] = {
    cls.key: cls for cls in (Exp, SHO, SHOSystem, NLO, COO, SIR, Poisson, Heat, Wave, Burgers)
}


def make_problem(key: str, n_points: int | None = None) -> Problem:
    """The problem `key` with `n_points` per axis (None: its default)."""
    if key not in PROBLEMS:
        raise KeyError(f"unknown problem {key!r}; known: {', '.join(sorted(PROBLEMS))}")
    return PROBLEMS[key](n_points)


__all__ = ["PROBLEMS", "Problem", "make_problem"]
