"""Known-good starting configs per (problem, method), found by small searches on this code.

They are where the CLI starts, what the convergence tests use, and what the sweeps centre their
search spaces on. ``preset(problem, method)`` falls back to the problem's general entry, then to
``Config()`` defaults, so every (problem, method) pair has one.
"""

from __future__ import annotations

from typing import Any

from .config import Config

# Each entry: flat Config keys. "*" holds settings shared by every method on that problem.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "exp": {
        # G 20x3 tanh, D 10x2 as in the seed notebook; the LR decay is what keeps late training
        # stable: without it, seeds that reached 1e-8 blow back up to MSE ~1 by 3000 iterations
        "*": {"G.width": 20, "G.depth": 3, "D.width": 10, "D.depth": 2, "iterations": 3000,
              "lr_decay": "exp", "lr_gamma": 0.999, "G.lr": 0.01, "D.lr": 0.01},
    },
    "sho": {
        "*": {"G.width": 40, "G.depth": 3, "D.width": 20, "D.depth": 2, "iterations": 3000,
              "lr_decay": "exp", "lr_gamma": 0.999, "G.lr": 0.01},
    },
}


def preset(problem: str, method: str = "gan", **overrides: Any) -> Config:
    """The tuned starting config for (problem, method), with `overrides` (flat keys) applied."""
    d: dict[str, Any] = {"problem": problem, "method": method}
    entry = PRESETS.get(problem, {})
    d.update(entry.get("*", {}))
    d.update(entry.get(method, {}))
    d.update(overrides)
    return Config.from_dict(d)
