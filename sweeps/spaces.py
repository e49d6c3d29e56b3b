"""Search spaces, one Optuna define-by-run function per study, and the objective they minimise.

A study function takes an ``optuna.Trial`` and the method, suggests the parameters it searches
(named by their flat ``gan_core.Config`` keys, e.g. ``G.lr``), and returns nothing; every key it does
not suggest comes from the problem's preset (``gan_core/presets.py``), which each space is centred
on. ``Space`` joins a study with those fixed values into the callable ``OptunaSearch`` expects.

The metric Tune, Optuna and ASHA see is ``METRIC`` ("objective"), minimised (``MODE``): the chosen
aggregate over seeds (median, p90 or worst) of the problem's primary metric, the failure rate, or
the failure rate with its ties broken (``failures``, the distribution problems' default: a
collapsed seed counts as a failure, whatever its siblings reach).
The aggregate is taken as log10 for MSEs and distances (they span decades), and as it is for
counts and fractions (``metrics.COUNT_METRICS``: modes_missed, classes_missed, code_error), which
are often exactly 0, where a log would send every good trial to the same floor of -300.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import optuna

from gan_core import PROBLEMS
from gan_core.config import ADVERSARIAL_METHODS
from gan_core.problems import METRIC_LABELS

from .metrics import GOOD_SHARES, is_count, label

METRIC = "objective"  # the one metric name Tune, OptunaSearch and ASHA optimise
MODE = "min"
OBJECTIVES = ("median", "p90", "worst", "failure_rate", "failures")
_CAP = 1e3  # the value a non-finite aggregate (a diverged seed) counts as: worse than any real run
_LOG10_MSE_CAP = math.log10(_CAP)

Study = Callable[[optuna.Trial, str], None]


# -- the objective -------------------------------------------------------------------------------
def objective(mse: np.ndarray, failure_rate: float, kind: str, metric: str = "mse",
              tie: float | None = None) -> float:
    """The value to minimise from the per-seed primary metric (diverged seeds = inf): finite,
    lower = better.

    median / p90 / worst: that aggregate over seeds, as log10 for MSEs and distances (log: MSE
    spans 1e-16 .. 1e+1) and as it is for counts and fractions (``is_count(metric)``: 0 modes or
    classes missed is the goal, not a value to take the log of); a non-finite aggregate counts as
    1e3 (log10: 3). failure_rate: the fraction of failed seeds (ties are broken by the median in
    the summary). failures: the failure rate plus t / seeds, t in [0, 1) rising with `tie` (the
    median over seeds of the problem's ``tiebreak`` metric, ``tie_value``; None: of the primary
    one), so one more failed seed always weighs more than any tie-break, and TPE and ASHA (which
    compare ranks) see the ties broken too.
    """
    if kind == "failure_rate":
        return float(failure_rate)
    if kind == "failures":
        if tie is None:
            tie = float(np.median(np.where(np.isfinite(mse), mse, np.inf)))
        t = tie / (1.0 + tie) if math.isfinite(tie) and tie >= 0 else 1.0 - 1e-9
        return float(failure_rate) + t / max(len(mse), 1)
    finite = np.where(np.isfinite(mse), mse, np.inf)
    q = {"median": 0.5, "p90": 0.9, "worst": 1.0}[kind]
    # "higher": with 4 seeds the p90 is the worst seed, never an interpolation that hides it;
    # the median keeps numpy's usual definition (mean of the middle two) to match eval/<metric>
    value = (float(np.median(finite)) if kind == "median"
             else float(np.quantile(finite, q, method="higher")))
    if is_count(metric):
        return min(value, _CAP) if math.isfinite(value) else _CAP
    if not math.isfinite(value) or value <= 0:
        return _LOG10_MSE_CAP if not math.isfinite(value) else -300.0
    return min(math.log10(value), _LOG10_MSE_CAP)


def tie_value(metrics: dict[str, float], tiebreak: str | None) -> float | None:
    """The tie-break of the ``failures`` objective from a report's aggregates (medians over
    seeds): the median of `tiebreak` (a share of good samples such as high_quality counts as its
    complement, the share of bad ones); None without one (the primary metric's median serves)."""
    if tiebreak is None or f"eval/{tiebreak}" not in metrics:
        return None
    value = float(metrics[f"eval/{tiebreak}"])
    return 1.0 - value if tiebreak in GOOD_SHARES else value


def objective_name(kind: str, metric: str = "mse", tiebreak: str | None = None) -> str:
    """The objective in words, as ``objective`` computes it ("log10 median MSE over seeds",
    "median classes missed over seeds", "failure rate over seeds"): what Optuna's dashboard and
    plots name the study's value (``study.set_metric_names``)."""
    if kind == "failure_rate":
        return "failure rate over seeds"
    if kind == "failures":
        tie = label(tiebreak or metric).split(" (")[0]
        tie = f"1 - {tie}" if tiebreak in GOOD_SHARES else tie
        return f"failure rate over seeds, ties by the median {tie}"
    what = {"median": "median", "p90": "90th-percentile", "worst": "worst"}[kind]
    name = METRIC_LABELS.get(metric, metric.replace("_", " ")).split(" (")[0]
    return f"{'' if is_count(metric) else 'log10 '}{what} {name} over seeds"


# -- building blocks -------------------------------------------------------------------------------
def _net(trial: optuna.Trial, name: str, widths: tuple[int, ...], depths: tuple[int, ...],
         activations: tuple[str, ...], lr: tuple[float, float],
         beta1: tuple[float, ...] = (0.5, 0.9)) -> None:
    trial.suggest_categorical(f"{name}.width", widths)
    trial.suggest_categorical(f"{name}.depth", depths)
    if len(activations) > 1:  # () or one: the preset's activation stays
        trial.suggest_categorical(f"{name}.activation", activations)
    trial.suggest_float(f"{name}.lr", *lr, log=True)
    # Adam's beta1: 0.9 is the default, 0.5 the usual GAN choice (0 for WGAN-GP, see _beta1);
    # beta2 stays at the preset's
    trial.suggest_categorical(f"{name}.beta1", beta1)


# -- equations: the DEQGAN regime ------------------------------------------------------------------
# What the DEQGAN paper's configs share (../shared/DEQGAN_PAPER.md) lies inside every equation
# study: learning rates up to ~0.1 with a fast step decay (StepLR every `lr_step` iterations, the
# preset's; the total decay over a run reaches 1e-6 .. 1e-9), Adam betas far from the defaults
# (exp's G: 0.49, 0.32), residual blocks ("u x b" nets) and their count, spectral norm and
# adaptive instance noise, 1:1 steps. The first trial is the problem's preset.
def _equation_net(trial: optuna.Trial, name: str, widths: tuple[int, ...],
                  depths: tuple[int, ...], activations: tuple[str, ...],
                  lr: tuple[float, float]) -> None:
    """G or D of an equation: width, plain layers or residual blocks and how many, activation,
    Adam's learning rate and both betas."""
    trial.suggest_categorical(f"{name}.width", widths)
    trial.suggest_categorical(f"{name}.residual", (True, False))
    trial.suggest_categorical(f"{name}.depth", depths)  # hidden layers, or blocks if residual
    if len(activations) > 1:
        trial.suggest_categorical(f"{name}.activation", activations)
    trial.suggest_float(f"{name}.lr", *lr, log=True)
    trial.suggest_float(f"{name}.beta1", 0.0, 0.9)
    trial.suggest_float(f"{name}.beta2", 0.2, 0.999)


def _deqgan(trial: optuna.Trial, method: str, widths: tuple[int, ...],
            depths: tuple[int, ...], lr: tuple[float, float]) -> None:
    """D (tanh) and the DEQGAN game's options, for methods that train a discriminator."""
    if method not in ADVERSARIAL_METHODS:
        return
    _equation_net(trial, "D", widths, depths, (), lr)
    trial.suggest_categorical("g_iters", (1, 5, 9))  # G steps per D step: the paper's 1:1 first
    trial.suggest_categorical("spectral_norm", (True, False))
    trial.suggest_categorical("instance_noise", (True, False))


def _decay(trial: optuna.Trial, end: tuple[float, float]) -> None:
    """The decay's learning-rate factor at the end of the run (``lr_end``, log scale), with the
    preset's shape (StepLR every `lr_step` iterations, or exponential): a total decay, so the
    range means the same whatever the run's length (``--iterations``)."""
    trial.suggest_float("lr_end", *end, log=True)


# -- studies -----------------------------------------------------------------------------------------
def sho(trial: optuna.Trial, method: str = "gan") -> None:
    """SHO x'' + x = 0, sized to the main job's budget (~27 trials): around the preset (the
    paper's sho nets on our constants and budget), the parameters that moved the median on fresh
    seeds one step from it (bench/around.py sho at seed bases 1000 and 5000: D's width, D's and
    G's Adam betas, the decay's end, D's rate; docs/sweeps.md), the nets' shape, G's rate and the
    game's options at the preset's. Classical losses (no D) search sho_wide's G."""
    if method not in ADVERSARIAL_METHODS:
        return sho_wide(trial, method)
    trial.suggest_float("G.beta1", 0.2, 0.6)  # the preset: 0.363, 0.752 (the paper's)
    trial.suggest_float("G.beta2", 0.6, 0.95)
    trial.suggest_float("lr_end", 3e-7, 1e-5, log=True)  # the preset: 1.4e-6
    trial.suggest_categorical("D.width", (50, 64))
    trial.suggest_float("D.lr", 3e-4, 6e-3, log=True)  # the preset: 0.002; the paper's 4.9e-4
    trial.suggest_float("D.beta1", 0.3, 0.7)  # the preset: 0.584, 0.454 (the paper's)
    trial.suggest_float("D.beta2", 0.3, 0.6)


def sho_wide(trial: optuna.Trial, method: str = "gan") -> None:
    """SHO over the whole DEQGAN regime, for budgets of hundreds of trials: G's and D's shapes,
    activations, rates and betas, the decay's end, the step ratio, spectral norm, instance noise
    (17 parameters), centred on the preset."""
    _equation_net(trial, "G", (20, 40, 64), (1, 2, 3, 4), ("tanh", "sin", "swish"), (1e-3, 0.1))
    _decay(trial, (1e-9, 0.1))  # the preset: 1.4e-6
    _deqgan(trial, method, (20, 32, 50, 64), (1, 2, 3), (1e-4, 0.1))


def exp(trial: optuna.Trial, method: str = "gan") -> None:
    """x' = -x, centred on the preset (the paper's exp config: G 40x2, D 20x4 residual tanh,
    lr 0.095 / 0.012, StepLR 3 / 0.95 over 1200 iterations)."""
    _equation_net(trial, "G", (20, 40, 64), (1, 2, 3), ("tanh", "swish", "sin"), (1e-3, 0.2))
    _decay(trial, (1e-12, 0.01))  # the preset: 1.2e-9
    _deqgan(trial, method, (10, 20, 40), (1, 2, 4), (1e-3, 0.1))


def burgers(trial: optuna.Trial, method: str = "gan") -> None:
    """Burgers u_t + u u_x = nu u_xx: wider, deeper G; the paper's burgers is G 50x3, D 20x5."""
    _equation_net(trial, "G", (32, 50, 96), (2, 3, 4), ("tanh", "swish", "sin"), (3e-4, 0.05))
    _decay(trial, (1e-4, 1.0))  # the preset: 0.05
    _deqgan(trial, method, (20, 40), (2, 3, 5), (1e-4, 0.05))


def generic(trial: optuna.Trial, method: str = "gan") -> None:
    """The paper's other equations (sho_system, nlo, coo, sir, pos, hea, wav): a broad space
    around the published configs (G 40-50 x 2-5 residual, D 20-50 x 2-4, learning rates 5e-4 ..
    0.1, StepLR)."""
    _equation_net(trial, "G", (20, 40, 64), (2, 3, 4, 5), ("tanh", "swish", "sin"), (1e-4, 0.1))
    _decay(trial, (1e-9, 1.0))  # the presets: 4.8e-7 (pos) .. 0.05 (wav)
    _deqgan(trial, method, (20, 40, 50), (2, 3, 4), (1e-4, 0.1))


# -- a user's equation: the families' studies ---------------------------------------------------------
# Centred on the family's start (gan_core.presets.ODE_FAMILY / PDE_FAMILY), which lies inside, and
# holding the remedies of long and nonlinear problems: the curriculum's length (0: off), causal
# weighting, the collocation points, the decay's end. Kept to what moved results on the zoo
# (examples/zoo, bench/zoo.py): learning rates, the decay's end and the points most, G's shape
# next; D's shape, betas and the step ratio stay at the start's.
def _family(trial: optuna.Trial, widths: tuple[int, ...]) -> None:
    """What both families search first: G's learning rate and shape, the decay's end."""
    trial.suggest_float("G.lr", 1e-3, 3e-2, log=True)
    trial.suggest_float("lr_end", 1e-4, 0.3, log=True)
    trial.suggest_categorical("G.width", widths)
    trial.suggest_categorical("G.depth", (2, 3, 4))
    trial.suggest_categorical("G.activation", ("sin", "tanh"))


def ode(trial: optuna.Trial, method: str = "gan") -> None:
    """An equation in one variable (a user's ODE or 1-D boundary-value problem)."""
    _family(trial, (32, 40, 64))
    trial.suggest_categorical("n_points", (100, 200, 400))
    trial.suggest_float("curriculum", 0.0, 0.4)  # within ASHA's first rung (driver._grace)
    trial.suggest_categorical("causal", (0.0, 1.0, 10.0))
    if method in ADVERSARIAL_METHODS:
        trial.suggest_float("D.lr", 1e-4, 5e-3, log=True)
        trial.suggest_categorical("instance_noise", (True, False))


def pde(trial: optuna.Trial, method: str = "gan") -> None:
    """An equation in two or more variables (a user's PDE), around the PDE family's start."""
    _family(trial, (32, 50, 64))
    if method in ADVERSARIAL_METHODS:
        trial.suggest_float("D.lr", 1e-4, 5e-3, log=True)
        trial.suggest_categorical("spectral_norm", (True, False))


# -- distribution problems (classic GANs) ------------------------------------------------------------
# G maps noise to samples: the piecewise-linear activations of the classic GAN seeds (relu, leaky
# relu) and the smooth ones; never sin, whose periodic features suit solutions of oscillators, not
# samplers. D keeps its preset's activation (leaky relu on moons, the mixtures and digits). The LR is
# constant, as in the presets (a decay only matters once a run is long; lr_gamma stays 1).
_SAMPLER_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "swish")


def _beta1(method: str) -> tuple[float, ...]:
    """Adam's beta1 choices: WGAN-GP's paper uses 0 (with beta2 0.9, as the gauss1d preset)."""
    return (0.0, 0.5, 0.9) if method == "wgan_gp" else (0.5, 0.9)


def _critic(trial: optuna.Trial, method: str, widths: tuple[int, ...], depths: tuple[int, ...],
            lr: tuple[float, float]) -> None:
    """What stands in D's slot: the discriminator, with D steps per G step (gan: 1 or 2; wgan_gp:
    1 or the WGAN-GP paper's 5) and the gradient-penalty weight (the paper's 10 and the DEQGAN
    default 0.1 both inside); for vae, the encoder (data -> mean and log variance of z) and the
    KL weight of the ELBO (beta-VAE: small weights fit the data, large ones the prior)."""
    if method == "vae":
        _net(trial, "D", widths, depths, (), lr, _beta1(method))
        trial.suggest_float("kl_weight", 1e-3, 1.0, log=True)
        return
    if method not in ADVERSARIAL_METHODS:
        return
    _net(trial, "D", widths, depths, (), lr, _beta1(method))
    trial.suggest_categorical("d_iters", (1, 5) if method == "wgan_gp" else (1, 2))
    if method == "wgan_gp":
        trial.suggest_float("gp_weight", 0.1, 10.0, log=True)


def moons(trial: optuna.Trial, method: str = "gan") -> None:
    """Two moons (and the cGAN / InfoGAN variants), centred on the preset: G z32-128-2 relu, D
    2-128-1 leaky relu, Adam lr 1e-3 both, beta1 0.5."""
    _net(trial, "G", (64, 128, 256), (1, 2, 3), ("relu", "leaky_relu", "tanh"), (2e-4, 5e-3),
         _beta1(method))
    _critic(trial, method, (64, 128, 256), (1, 2), (2e-4, 5e-3))


def digits(trial: optuna.Trial, method: str = "gan") -> None:
    """8x8 digits (and MNIST), centred on the preset: G z100-128-128-64 leaky relu with tanh out,
    D 128x2 leaky relu, lr 1e-3, beta1 0.5 (lr 2e-4 collapsed to 5-7 classes in 3000 iterations;
    width 256 also reaches 10/10 classes, 3x slower)."""
    _net(trial, "G", (64, 128, 256), (1, 2, 3), ("leaky_relu", "relu"), (2e-4, 3e-3),
         _beta1(method))
    _critic(trial, method, (64, 128, 256), (1, 2, 3), (2e-4, 3e-3))


def gauss2d(trial: optuna.Trial, method: str = "gan") -> None:
    """x A + b: G is the preset's linear map (depth 0: exactly Gaussian), so only its optimiser is
    searched; D 32x2 tanh in the preset."""
    trial.suggest_float("G.lr", 2e-4, 1e-2, log=True)
    trial.suggest_categorical("G.beta1", _beta1(method))
    _critic(trial, method, (16, 32, 64), (1, 2, 3), (2e-4, 1e-2))


def mixtures(trial: optuna.Trial, method: str = "gan") -> None:
    """ring8 and grid25 (mode collapse), centred on the preset, with the remedies the literature
    measured as choices: packing (PacGAN: D judges 1-4 samples at once), spectral norm on D,
    adaptive instance noise, 1 or 2 D steps per G step (an unrolled GAN's extra look at D), each
    against the non-saturating loss of the plain GAN (gan's G loss, the reference); the nets,
    learning rates and their exponential decay around the preset's."""
    _net(trial, "G", (64, 128, 256), (2, 3), ("relu", "leaky_relu"), (3e-4, 3e-3),
         _beta1(method))
    _critic(trial, method, (64, 128, 256), (2, 3), (3e-4, 3e-3))
    if method in ADVERSARIAL_METHODS:
        trial.suggest_categorical("pack", (1, 2, 3, 4))
        trial.suggest_categorical("spectral_norm", (False, True))
        trial.suggest_categorical("instance_noise", (False, True))
    _decay(trial, (5e-3, 1.0))  # exp decay to this factor of the lr (1: none); the presets: 0.05


def generic_dist(trial: optuna.Trial, method: str = "gan") -> None:
    """Any other distribution (gauss1d, ring8, grid25): MLP samplers around their presets (G and D
    128x2 on the mixtures, 32x2 on gauss1d; lr 1e-3 to 2e-3, beta1 0.5)."""
    _net(trial, "G", (32, 64, 128, 256), (1, 2, 3), _SAMPLER_ACTIVATIONS, (1e-4, 1e-2),
         _beta1(method))
    _critic(trial, method, (32, 64, 128, 256), (1, 2, 3), (1e-4, 1e-2))


# the studies by name: a problem names its own (``study`` on the problem class, e.g. moons and its
# cGAN and InfoGAN variants share "moons")
STUDIES: dict[str, Study] = {"sho": sho, "sho_wide": sho_wide, "exp": exp, "burgers": burgers, "moons": moons,
                             "digits": digits, "gauss2d": gauss2d, "mixtures": mixtures,
                             "generic": generic, "ode": ode, "pde": pde,
                             "generic_dist": generic_dist}


def study_for(problem: str, study: Study | str | None = None) -> Study:
    """The study searched for `problem`: `study` (a function, a name in STUDIES or a
    ``module:function`` reference) if given, else the problem's own (its class's ``study``),
    else the generic one of its family."""
    cls = PROBLEMS.get(problem)
    chosen = study if study is not None else getattr(cls, "study", None)
    if chosen is None:  # the family's: data, an equation in one variable, or in more
        if cls is not None and cls.family == "dist":
            return generic_dist
        return ode if cls is None or len(cls.bounds) == 1 else pde
    if callable(chosen):
        return chosen
    if chosen in STUDIES:
        return STUDIES[chosen]
    return load_study(chosen)


def load_study(name: str) -> Study:
    """The study function a ``module:function`` or ``path/file.py:function`` reference names;
    ValueError with one line if there is none."""
    from gan_core.problems.registry import _import_file, _import_module

    where, sep, attr = name.rpartition(":")
    if not sep:
        raise ValueError(f"study {name!r} is unknown: one of {', '.join(STUDIES)}, or "
                         "module:function / path/file.py:function")
    module = _import_file(where) if where.endswith(".py") or "/" in where else \
        _import_module(where)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"study {name}: {where} has no function {attr!r}")
    return fn


def study_name(study: Study) -> str:
    """What a SweepSpec saves of a study: its name in STUDIES, else its ``module:function``
    reference (a study made inside a function has none: ValueError)."""
    for name, fn in STUDIES.items():
        if fn is study:
            return name
    from gan_core.problems.registry import code_reference

    ref = code_reference(study)
    if ref is None:
        raise ValueError(f"study {study!r} cannot be saved with the sweep (--resume reloads it): "
                         "define it at the top level of a module or file")
    return ref


# -- from Optuna's names to gan_core's config ---------------------------------------------------------
def to_config(params: dict[str, Any]) -> dict[str, Any]:
    """Fold searched ``X.beta1`` / ``X.beta2`` keys into ``X.betas`` so ``Config.from_dict`` can
    read the dict (the other beta stays the fixed one)."""
    out = dict(params)
    for net in ("G", "D"):
        searched = [i for i in (0, 1) if f"{net}.beta{i + 1}" in out]
        if searched:
            betas = list(out.get(f"{net}.betas", (0.9, 0.999)))
            for i in searched:
                betas[i] = out.pop(f"{net}.beta{i + 1}")
            out[f"{net}.betas"] = betas
    return out


def _exact(v: float) -> str:
    """`v` short (%g) where that is exact, else in full."""
    return f"{v:g}" if float(f"{v:g}") == v else repr(v)


STEP_FACTOR = 3.0  # one step of a float: times or over 3 (log scale), a sixth of its range


def step(dist: optuna.distributions.BaseDistribution, value: Any,
         factor: float = STEP_FACTOR) -> list[Any]:
    """The values one step from `value` inside `dist`: a log-scale float times and over `factor`,
    a linear one up and down by the range's width over 2 `factor`, an int to its neighbours, a
    choice to every other choice (each clipped to the range; none equal to `value`)."""
    d = optuna.distributions
    if isinstance(dist, d.CategoricalDistribution):
        return [c for c in dist.choices if c != value]
    if isinstance(dist, d.IntDistribution):
        return [v for v in (value - dist.step, value + dist.step) if dist.low <= v <= dist.high]
    if dist.log:
        out = [value / factor, value * factor]
    else:
        width = (dist.high - dist.low) / (2 * factor)
        out = [value - width, value + width]
    out = [min(max(v, dist.low), dist.high) for v in out]
    return [v for i, v in enumerate(out) if not math.isclose(v, value) and v not in out[:i]]


class Space:
    """The define-by-run callable for OptunaSearch: a study plus the fixed (non-searched) keys.

    A class rather than a closure so Tune can pickle it into the experiment for ``--resume``.
    """

    def __init__(self, study: Study, method: str, fixed: dict[str, Any]) -> None:
        self.study, self.method, self.fixed = study, method, dict(fixed)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        self.study(trial, self.method)
        # constants returned here override suggestions in OptunaSearch: leave the searched keys
        # out (X.betas stays: the beta not searched is kept when to_config folds the other in)
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
        points = self._preset_points()
        if any(not inside for _, _, _, inside in points):
            return {}
        return {name: value for name, value, _, _ in points}

    def neighbours(self, start: dict[str, Any], limit: int | None = None,
                   factor: float = STEP_FACTOR) -> list[dict[str, Any]]:
        """`start` with one searched key moved one step (``step``), every key and direction, taken
        round-robin over the keys (each key's first step, then each key's second, ...) so that a
        `limit` keeps every key in; [] for an empty start."""
        dists = self.distributions()
        moves = [[(k, v) for v in step(dists[k], start[k], factor)] for k in dists if k in start]
        order = [m[i] for i in range(max(map(len, moves), default=0)) for m in moves if i < len(m)]
        return [{**start, k: v} for k, v in order[:limit]]

    def outside(self) -> tuple[str, Any, str] | None:
        """The first searched key whose preset value lies outside the space: (key, value, the
        --search range that takes it in), else None."""
        for name, value, dist, inside in self._preset_points():
            if inside:
                continue
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                wider = ",".join(map(str, (*dist.choices, value)))
            else:
                wider = f"{_exact(min(dist.low, value))}:{_exact(max(dist.high, value))}"
            return name, value, wider
        return None

    def _preset_points(self) -> list[tuple[str, Any, Any, bool]]:
        """(key, the preset's value, its distribution, whether the value lies inside) for every
        searched key (``X.beta1``/``X.beta2`` read from the preset's ``X.betas``)."""
        out = []
        for name, dist in self.distributions().items():
            if name[-6:] in (".beta1", ".beta2"):
                value = list(self.fixed[name[:-6] + ".betas"])[int(name[-1]) - 1]
            else:
                value = self.fixed.get(name)
            try:
                inside = dist._contains(dist.to_internal_repr(value))  # noqa: SLF001
            except (ValueError, TypeError):
                inside = False
            out.append((name, value, dist, inside))
        return out
