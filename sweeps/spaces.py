"""Search spaces, one Optuna define-by-run function per study, and the objective they minimise.

A study function takes an ``optuna.Trial`` and the method, suggests the parameters it searches
(named by their flat ``gan_core.Config`` keys, e.g. ``G.lr``), and returns nothing; every key it does
not suggest comes from the problem's preset (``gan_core/presets.py``), which each space is centred
on. ``Space`` joins a study with those fixed values into the callable ``OptunaSearch`` expects.

The metric Tune, Optuna and ASHA see is ``METRIC`` ("objective"), minimised (``MODE``): log10 of the
chosen MSE aggregate over seeds (median, p90 or worst), or the failure rate.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import optuna

from gan_core.config import ADVERSARIAL_METHODS

METRIC = "objective"  # the one metric name Tune, OptunaSearch and ASHA optimise
MODE = "min"
OBJECTIVES = ("median", "p90", "worst", "failure_rate")
_LOG10_MSE_CAP = 3.0  # log10 MSE reported for a non-finite aggregate: worse than any real run

Study = Callable[[optuna.Trial, str], None]


# -- the objective -------------------------------------------------------------------------------
def objective(mse: np.ndarray, failure_rate: float, kind: str) -> float:
    """The value to minimise from the per-seed MSE (diverged seeds = inf): finite, lower = better.

    median / p90 / worst: log10 of that aggregate over seeds (log: MSE spans 1e-16 .. 1e+1);
    failure_rate: the fraction of failed seeds (ties are broken by median MSE in the summary).
    """
    if kind == "failure_rate":
        return float(failure_rate)
    finite = np.where(np.isfinite(mse), mse, np.inf)
    q = {"median": 0.5, "p90": 0.9, "worst": 1.0}[kind]
    # "higher": with 4 seeds the p90 is the worst seed, never an interpolation that hides it;
    # the median keeps numpy's usual definition (mean of the middle two) to match eval/mse
    value = (float(np.median(finite)) if kind == "median"
             else float(np.quantile(finite, q, method="higher")))
    if not math.isfinite(value) or value <= 0:
        return _LOG10_MSE_CAP if not math.isfinite(value) else -300.0
    return min(math.log10(value), _LOG10_MSE_CAP)


# -- building blocks -------------------------------------------------------------------------------
def _net(trial: optuna.Trial, name: str, widths: tuple[int, ...], depths: tuple[int, ...],
         activations: tuple[str, ...], lr: tuple[float, float]) -> None:
    trial.suggest_categorical(f"{name}.width", widths)
    trial.suggest_categorical(f"{name}.depth", depths)
    if len(activations) > 1:
        trial.suggest_categorical(f"{name}.activation", activations)
    trial.suggest_float(f"{name}.lr", *lr, log=True)
    # Adam's beta1: 0.9 is the default, 0.5 the usual GAN choice; beta2 stays at 0.999
    trial.suggest_categorical(f"{name}.beta1", (0.5, 0.9))


def _decay(trial: optuna.Trial, gamma: tuple[float, float]) -> None:
    """Exponential per-iteration LR decay: lr_t = lr * gamma^t (gamma 1 = none)."""
    trial.suggest_float("lr_gamma", *gamma)


def _adversary(trial: optuna.Trial, method: str, widths: tuple[int, ...], depths: tuple[int, ...],
               lr: tuple[float, float], g_iters: tuple[int, ...]) -> None:
    """D's network and the G:D ratio, only for methods that train a discriminator."""
    if method not in ADVERSARIAL_METHODS:
        return
    _net(trial, "D", widths, depths, ("tanh",), lr)
    trial.suggest_categorical("g_iters", g_iters)  # G steps per D step: 1:1, 5:1, 9:1


# -- studies -----------------------------------------------------------------------------------------
def sho(trial: optuna.Trial, method: str = "gan") -> None:
    """SHO x'' + x = 0, centred on the preset: G 20x2 sin, lr 3e-3, gamma 0.998; D 32x2, lr 2e-4
    (a slow D), beta1 0.5."""
    _net(trial, "G", (16, 20, 32, 40), (2, 3), ("sin", "tanh", "swish"), (1e-3, 1e-2))
    _decay(trial, (0.997, 1.0))
    _adversary(trial, method, (16, 32, 64), (2, 3), (5e-5, 2e-3), (1, 5, 9))


def exp(trial: optuna.Trial, method: str = "gan") -> None:
    """x' = -x, the seed notebook's problem: G 20x3, D 10x2 in the preset, lr ~1e-2."""
    _net(trial, "G", (10, 20, 40), (2, 3, 4), ("tanh", "swish"), (1e-3, 3e-2))
    _decay(trial, (0.998, 1.0))
    _adversary(trial, method, (10, 20), (2, 3), (1e-4, 3e-2), (1, 5, 9))


def burgers(trial: optuna.Trial, method: str = "gan") -> None:
    """Burgers u_t + u u_x = nu u_xx: wider, deeper G; smaller learning rates."""
    _net(trial, "G", (32, 64, 96), (3, 4, 5), ("tanh", "swish", "sin"), (3e-4, 1e-2))
    _decay(trial, (0.999, 1.0))
    _adversary(trial, method, (20, 40), (2, 3), (1e-4, 1e-2), (1, 2, 5))


def generic(trial: optuna.Trial, method: str = "gan") -> None:
    """Any other problem: a broad space around gan_core's defaults."""
    _net(trial, "G", (20, 40, 64), (2, 3, 4), ("tanh", "swish", "sin"), (1e-4, 3e-2))
    _decay(trial, (0.998, 1.0))
    _adversary(trial, method, (10, 20, 40), (2, 3), (1e-4, 3e-2), (1, 5, 9))


STUDIES: dict[str, Study] = {"sho": sho, "exp": exp, "burgers": burgers}


def study_for(problem: str) -> Study:
    """The study searched for `problem` (the generic one where it has none of its own)."""
    return STUDIES.get(problem, generic)


# -- from Optuna's names to gan_core's config ---------------------------------------------------------
def to_config(params: dict[str, Any]) -> dict[str, Any]:
    """Fold searched ``X.beta1`` keys into ``X.betas`` so ``Config.from_dict`` can read the dict."""
    out = dict(params)
    for net in ("G", "D"):
        if f"{net}.beta1" in out:
            beta2 = list(out.get(f"{net}.betas", (0.9, 0.999)))[1]
            out[f"{net}.betas"] = [out.pop(f"{net}.beta1"), beta2]
    return out


class Space:
    """The define-by-run callable for OptunaSearch: a study plus the fixed (non-searched) keys.

    A class rather than a closure so Tune can pickle it into the experiment for ``--resume``.
    """

    def __init__(self, study: Study, method: str, fixed: dict[str, Any]) -> None:
        self.study, self.method, self.fixed = study, method, dict(fixed)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        self.study(trial, self.method)
        # constants returned here override suggestions in OptunaSearch: leave the searched keys
        # out (X.betas stays: its beta2 is kept when to_config folds a searched X.beta1 into it)
        return {k: v for k, v in self.fixed.items() if k not in trial.params}

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """What this space suggests, by name (asks a throwaway in-memory study)."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trial = optuna.create_study().ask()
        self.study(trial, self.method)
        return dict(trial.distributions)

    def start_point(self) -> dict[str, Any]:
        """The fixed config (the preset) as this space's parameters, to try first; {} when the
        preset lies outside the space (then Optuna starts from its own samples)."""
        point = {}
        for name, dist in self.distributions().items():
            if name.endswith(".beta1"):
                value = list(self.fixed[name.replace(".beta1", ".betas")])[0]
            else:
                value = self.fixed.get(name)
            try:
                inside = dist._contains(dist.to_internal_repr(value))  # noqa: SLF001
            except (ValueError, TypeError):
                inside = False
            if not inside:
                return {}
            point[name] = value
        return point
