"""Fixed-seed runs of gan_core.train on every path and option the loop has, and their per-seed
results: tests/data/train_golden.json holds them as recorded before train() was restructured
(issue 22), test_train.py checks that today's loop gives the same.

    python tests/golden_train.py --write     # record them again (only when a change is meant to
                                             # alter results: say so in the commit)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "train_golden.json"
ZOO = ROOT / "examples" / "zoo"

# name -> (problem or preset, method, the Config fields set on top of the preset)
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sho_gan_fast": ("sho", "gan", {"iterations": 60, "eval_every": 20}),
    "sho_gan_reference": ("sho", "gan", {"iterations": 60, "eval_every": 20,
                                         "fast_path": "reference"}),
    "exp_gan_monitor_restart": ("exp", "gan", {
        "iterations": 80, "eval_every": 10, "monitor": "restart", "monitor_window": 5,
        "monitor_threshold": 1e-12, "monitor_from": 0.1, "monitor_until": 0.5,
        "monitor_restarts": 2}),
    "exp_gan_monitor_abandon": ("exp", "gan", {
        "iterations": 60, "eval_every": 10, "monitor": "abandon", "monitor_window": 5,
        "monitor_threshold": 1e-12, "monitor_from": 0.1, "monitor_until": 0.5,
        "fast_path": "reference"}),
    "exp_gan_lhs_rhs": ("exp", "gan_lhs_rhs", {"iterations": 50, "eval_every": 25}),
    "sho_l2": ("sho", "l2", {"iterations": 60, "eval_every": 30}),
    "sho_system_per_equation": ("sho_system", "gan", {
        "iterations": 50, "eval_every": 25, "d_per_equation": True, "step_order": "g_first",
        "soft_labels": 0.1, "conditional_d": True, "instance_noise": True}),
    "lotka_volterra_family": (f"{ZOO}/lotka_volterra.py:LotkaVolterra", "gan", {
        "iterations": 60, "eval_every": 20, "causal": 1.0, "curriculum": 0.5}),
    "pos_wgan_gp": ("pos", "wgan_gp", {"iterations": 30, "eval_every": 15, "d_iters": 2}),
    "ring8_pack": ("ring8", "gan", {"iterations": 60, "eval_every": 30, "pack": 2,
                                     "spectral_norm": True}),
    "ring8_reference": ("ring8", "gan", {"iterations": 40, "eval_every": 20,
                                         "fast_path": "reference", "instance_noise": True}),
    "gauss1d_pretrain": ("gauss1d", "gan", {"iterations": 40, "eval_every": 20,
                                             "d_pretrain": 20, "stratified_noise": True}),
    "moons_infogan": ("moons_infogan", "gan", {"iterations": 40, "eval_every": 20}),
    "moons_vae": ("moons", "vae", {"iterations": 40, "eval_every": 20}),
    "gauss2d_wgan_gp": ("gauss2d", "wgan_gp", {"iterations": 40, "eval_every": 20}),
}


def config(name: str):
    from gan_core.presets import preset

    problem, method, extra = CASES[name]
    return preset(problem, method, seeds=3, seed=7, **extra)


def figures(result) -> dict[str, Any]:
    """A run's per-seed results and its curves, as JSON."""
    return {
        "final": result.final_mse.tolist(), "best": result.best_mse.tolist(),
        "diverged_at": result.diverged_at.tolist(), "restarts": result.restarts.tolist(),
        "abandoned": result.abandoned.tolist(), "collapsed": result.collapsed.tolist(),
        "iterations": int(result.iterations), "fast_path": result.fast_path,
        "curves": {k: np.asarray(v, dtype=float).tolist() for k, v in result.curves.items()},
    }


def run(name: str, resume_at: int | None = None) -> dict[str, Any]:
    """The case's run; with `resume_at`, stopped at that report and resumed from its state."""
    import torch

    from gan_core import train

    torch.set_num_threads(1)
    cfg = config(name)
    if resume_at is None:
        return figures(train(cfg))
    states = []
    train(cfg, report=lambda p: states.append(p.checkpoint()) if p.iteration == resume_at
          else None)
    return figures(train(cfg, state=states[0]))


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps({n: run(n) for n in CASES}, indent=1, allow_nan=True) + "\n")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
