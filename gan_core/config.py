"""Typed, validated configuration and the result of a training run.

Every field has a default and a one-line doc. ``Config.from_dict`` is the one place a plain dict
(from Tune, the CLI or JSON) becomes a config; an unknown key or a bad value fails loudly, naming the
field, the value and what is allowed, before any training starts.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError
from .problems import problem_class
from .problems.registry import canonical
from .typecheck import describe, field_types, matches

ACTIVATIONS = ("tanh", "swish", "sin", "relu", "leaky_relu", "softplus")
METHODS = ("gan", "gan_lhs_rhs", "wgan_gp", "l2", "l1", "huber", "vae")
ADVERSARIAL_METHODS = ("gan", "gan_lhs_rhs", "wgan_gp")
DIST_METHODS = ("gan", "wgan_gp", "vae")  # for data distributions (vae: the non-adversarial one)
LR_DECAYS = ("none", "exp", "step")
STEP_ORDERS = ("d_first", "g_first")
MONITOR_ACTIONS = ("none", "restart", "abandon")
DTYPES = ("float32", "float64")
FAST_PATHS = ("auto", "reference")
OUTPUT_SCALES = ("none", "auto")


def failed_seeds(metric: np.ndarray, threshold: float) -> np.ndarray:
    """(seeds,) bool: the failure rule everywhere: non-finite (diverged) or above the threshold."""
    return ~np.isfinite(metric) | (metric > threshold)


def parse_value(text: str) -> Any:
    """A value typed on a command line or read back as text: a Python literal (0.01, True,
    (0.5, 0.9), None), else the plain string (tanh)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_setting(item: str, option: str = "--set") -> tuple[str, Any]:
    """``KEY=VALUE`` (``--set G.lr=0.01``) as (key, parsed value)."""
    if "=" not in item or not item.split("=", 1)[0].strip():
        raise ConfigError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} G.lr=0.01")
    key, text = item.split("=", 1)
    return key.strip(), parse_value(text.strip())


@dataclass(frozen=True)
class NetConfig:
    """One network (G or D) and its Adam optimiser."""

    width: int = 20  # units per hidden layer
    depth: int = 3  # hidden layers (0: a linear map, e.g. gauss2d's G); residual: blocks
    activation: str = "tanh"  # one of ACTIVATIONS
    residual: bool = False  # the DEQGAN paper's net: Linear, act, `depth` residual blocks, Linear
    output_tanh: bool = False  # squash the raw output with tanh (G only makes sense)
    dropout: float = 0.0  # D only: drop hidden units with this probability while training
    lr: float = 1e-3  # Adam learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas, each in [0, 1)

    def validate(self, name: str) -> None:
        """The ranges of the net's fields (their types are checked first, by Config.validate)."""
        _check(self.width >= 1, f"{name}.width", self.width, "an integer >= 1")
        _check(self.depth >= 0, f"{name}.depth", self.depth, "an integer >= 0 (0 = linear)")
        _check(self.activation in ACTIVATIONS, f"{name}.activation", self.activation,
               f"one of {', '.join(ACTIVATIONS)}")
        _check(0.0 <= self.dropout < 1.0 and (name == "D" or self.dropout == 0.0),
               f"{name}.dropout", self.dropout,
               "a number in [0, 1) for D, 0 for G (G's samples are what is measured)")
        _check(math.isfinite(self.lr) and self.lr > 0, f"{name}.lr", self.lr, "a finite number > 0")
        _check(len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas),
               f"{name}.betas", self.betas, "two numbers in [0, 1), e.g. (0.9, 0.999)")


@dataclass(frozen=True)
class Config:
    """A training run: one problem, one method, `seeds` independent replicas trained at once."""

    problem: str = "sho"  # a problem key or reference (gan_core.problems: "sho",
    # "path/file.py:Class", "pkg.module:Class", "points.npy"); a problem class or instance given
    # here is registered and replaced by its name (gan_core.register_problem)
    method: str = "gan"  # one of METHODS
    seeds: int = 4  # independent replicas (own init weights and own point noise), trained batched
    seed: int = 0  # base random seed; replica k is initialised from (seed, k)
    iterations: int = 2000  # outer iterations; each does d_iters D steps then g_iters G steps
    n_points: int | None = None  # collocation points per axis (None: the problem's default)
    problem_args: dict[str, float] = field(default_factory=dict)  # the problem's constants
    # changed from its defaults (flat keys problem.<name>, e.g. problem.v0), see Problem.constants
    G: NetConfig = field(default_factory=NetConfig)  # generator: the solution network N
    D: NetConfig = field(default_factory=lambda: NetConfig(width=10, depth=2))  # discriminator
    g_iters: int = 1  # G updates per iteration
    d_iters: int = 1  # D updates per iteration (adversarial methods only)
    step_order: str = "d_first"  # d_first: D steps, then G steps; g_first: G steps, then D
    # steps on the residual of that iteration's (last) G step, as the DEQGAN paper trains
    d_loss_mean: bool = False  # D's loss: the mean of its real and fake BCE terms (the paper's;
    # instance noise reads it) instead of their sum
    spectral_norm: bool = False  # spectral normalisation of every D layer
    instance_noise: bool = False  # adaptive instance noise: std = max(0, L_G - L_D) on D's inputs
    pack: int = 1  # distributions (PacGAN): D judges `pack` samples at once, concatenated (1: one)
    conditional_d: bool = False  # append the point coordinates to D's input
    soft_labels: float = 0.0  # label jitter: real ~ U(1 - s, 1), fake ~ U(0, s); 0 = hard labels
    d_per_equation: bool = False  # systems: one D per equation instead of one over all residuals
    gp_weight: float = 0.1  # wgan_gp: gradient-penalty weight lambda
    huber_delta: float = 1.0  # huber: switch point between quadratic and linear
    info_weight: float = 1.0  # InfoGAN problems: weight of the code-recovery loss (G and D)
    kl_weight: float = 0.01  # vae: weight of the KL term against the squared reconstruction error
    stratified_noise: bool = False  # gauss1d: one jittered z per stratum of U(0, 1) (seed 001)
    d_pretrain: int = 0  # steps fitting D to the data density before the game (gauss1d, seed 001)
    lr_decay: str = "none"  # per-iteration LR schedule: none | exp (gamma each iter) | step
    lr_gamma: float = 1.0  # multiplicative LR factor (per iteration for exp, per lr_step for step)
    lr_step: int = 1000  # step decay: iterations between decays
    lr_end: float | None = None  # the decay's learning-rate factor at the last iteration (e.g.
    # 1e-5): exp and step decays follow the run, reaching it whatever `iterations` is (their gamma
    # follows from it, ``Config.gamma``); None: lr_gamma as given, per iteration or per lr_step
    monitor: str = "none"  # residual monitoring (DEQGAN paper, appendix A.7), per seed: none |
    # restart (fresh initial weights, optimiser and schedule) | abandon (frozen, counted failed)
    monitor_window: int = 20  # iterations per window of the mean |residual|
    monitor_threshold: float = 0.01  # a window whose variance exceeds this trips the rule
    monitor_from: float = 0.2  # the rule is checked at the windows ending between these
    monitor_until: float = 0.25  # fractions of the iterations, counted from a seed's (re)start
    monitor_restarts: int = 5  # restarts per seed at most; then the rule leaves it be (2: exp in
    # Table 3's setting fails 2.5-3.5% of seeds, 5: 0.5-2.0%; bench/monitor.py)
    # -- equations: what a new equation needs (scale, long intervals, nonlinear dynamics)
    output_scale: str = "none"  # "auto": the network's output times the solution's scale per
    # component (the reference's RMS, else the initial values) and the residual divided by it,
    # so the nets work at unit scale whatever the equation's units; "none": raw output
    curriculum: float = 0.0  # the fraction of the run over which the trained part of the time
    # axis grows from curriculum_start to all of it (time-marching); 0: the whole interval always
    curriculum_start: float = 0.25  # the trained fraction of the time axis at the first iteration
    causal: float = 0.0  # causal weighting (Wang, Sankaran & Perdikaris 2022): G's loss at time t
    # weighted by exp(-causal * integral of the mean squared residual before t), so early times
    # are learnt first; 0: off
    eval_every: int = 100  # iterations between evaluations / reports (the last one always reports)
    failure_threshold: float | None = None  # final MSE above this = failed seed (None: problem default)
    metric: str | None = None  # the primary metric, which decides failure and the objective (None:
    # the problem's; or one of its ``metric_thresholds``, e.g. reverse_kl or energy for ring8)
    device: str = "cpu"  # torch device, e.g. "cpu", "cuda", "cuda:1"
    dtype: str = "float32"  # float32 | float64 (precision-hungry problems)
    compile: bool = False  # torch.compile the G step: pays off for long runs (~30 s compile)
    fast_path: str = "auto"  # auto: the fast path where it applies (docs/speed.md: on a CPU
    # in float32 gan_core.native's kernels, on a GPU CUDA graphs); reference: the PyTorch code

    def __post_init__(self) -> None:
        # frozen: the one place a field is rewritten, to the name every process resolves alike
        object.__setattr__(self, "problem", canonical(self.problem))
        self.validate()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        """Build from a flat or nested dict: ``{"G": {...}}`` or ``{"G.lr": 1e-3, "g_lr": ...}``.

        Flat keys ``G.width`` / ``G_width`` / ``g_width`` address the nets; unknown keys raise.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"config = {d!r}: expected a dict of settings, e.g. {{'G.lr': 0.01}}")
        top: dict[str, Any] = {}
        args: dict[str, Any] = {}  # problem constants
        nets: dict[str, dict[str, Any]] = {"G": {}, "D": {}}
        net_fields = {f.name for f in dataclasses.fields(NetConfig)}
        top_fields = {f.name for f in dataclasses.fields(cls)}
        for key, value in d.items():
            if not isinstance(key, str):
                raise ConfigError(f"config key {key!r} is not a string: keys are field names, "
                                  "e.g. 'iterations' or 'G.lr'")
            net, sub = _split_net_key(key)
            if net is not None and sub in ("beta1", "beta2"):  # searched one beta at a time
                betas = nets[net].get("betas", getattr(cls(), net).betas)
                if isinstance(betas, (list, tuple)) and len(betas) == 2:  # else: its own error
                    betas = list(betas)
                    betas[int(sub[-1]) - 1] = value
                    nets[net]["betas"] = tuple(betas)
            elif net is not None:
                if sub not in net_fields:
                    raise ConfigError(f"unknown key {key!r}: {net} networks have "
                                      f"{', '.join(sorted(net_fields))}")
                nets[net][sub] = value
            elif key in ("G", "D"):
                if isinstance(value, NetConfig):
                    value = dataclasses.asdict(value)
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{key} = {value!r}: expected a dict of network settings")
                for sub, v in value.items():
                    if sub not in net_fields:
                        raise ConfigError(f"unknown key {key}.{sub}: {key} networks have "
                                          f"{', '.join(sorted(net_fields))}")
                    nets[key][sub] = v
            elif key.startswith("problem."):
                args[key[len("problem."):]] = value
            elif key == "problem_args":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"problem_args = {value!r}: expected a dict of the "
                                      "problem's constants, e.g. {'v0': 1.0}")
                args.update(value)
            elif key in top_fields:
                top[key] = value
            else:
                raise ConfigError(f"unknown config key {key!r}; known keys: "
                                  f"{', '.join(sorted(top_fields))} and G.*/D.* "
                                  f"({', '.join(sorted(net_fields))})")
        defaults = cls()
        for name in ("G", "D"):
            base = dataclasses.asdict(getattr(defaults, name))
            base.update(nets[name])
            if isinstance(base["betas"], list):  # JSON and the command line have no tuples
                base["betas"] = tuple(base["betas"])
            top[name] = NetConfig(**base)
        top["problem_args"] = args
        return cls(**top)  # __post_init__ validates

    def to_dict(self) -> dict[str, Any]:
        """A flat dict (``G.lr`` style keys) that ``from_dict`` turns back into this config."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, NetConfig):
                for k, sub in dataclasses.asdict(v).items():
                    out[f"{f.name}.{k}"] = list(sub) if isinstance(sub, tuple) else sub
            elif f.name == "problem_args":  # only the constants changed from the problem's own
                out.update({f"problem.{k}": sub for k, sub in v.items()})
            else:
                out[f.name] = v
        return out

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (flat ``G.lr`` keys allowed), validated."""
        d = self.to_dict()
        d.update(changes)
        return Config.from_dict(d)

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError for the first bad value, naming the field, the value and the fix."""
        problem = problem_class(self.problem)  # ProblemError (a ConfigError): one line
        # the problem's constants first: their errors name each one and what it means
        _check(isinstance(self.problem_args, Mapping), "problem_args", self.problem_args,
               "a dict of the problem's constants, e.g. {'v0': 1.0}")
        constants = getattr(problem, "constants", {})
        for name, value in self.problem_args.items():
            _check(name in constants, f"problem.{name}", value,
                   f"a constant of {self.problem!r}: one of {', '.join(constants)}" if constants
                   else f"nothing: {self.problem!r} has no constants to set")
            _check(matches(value, float), f"problem.{name}", value,
                   f"a finite number ({constants[name]})")
            if name == "t_max":
                _check(value > problem.bounds[0][0], "problem.t_max", value,
                       f"a number above the interval's start {problem.bounds[0][0]:g}")
        # then every field's type, before any range check compares or iterates a value
        _check_types(self)
        _check(self.method in METHODS, "method", self.method, f"one of {', '.join(METHODS)}")
        env = getattr(problem, "data_env", None)  # the user's own files (mnist), named by a variable
        if env:
            where = os.environ.get(env, "")
            _check(bool(where) and os.path.isdir(where), "problem", self.problem,
                   f"a problem whose data is at hand: {env} is "
                   f"{repr(where) + ', not a folder' if where else 'unset'}; set {env} to the "
                   "folder with its idx files (train-images-idx3-ubyte.gz, train-labels-idx1-"
                   "ubyte.gz)")
        if problem.family == "dist":
            _check(self.method in DIST_METHODS, "method", self.method,
                   f"one of {', '.join(DIST_METHODS)} for the distribution problem "
                   f"{self.problem!r} (residual methods need a differential equation)")
            _check(not (self.method == "vae" and problem.label_use == "code"), "method",
                   self.method, f"gan or wgan_gp for {self.problem!r} (its code head is part of "
                   "the discriminator; the VAE baseline runs on moons)")
            _check(not self.stratified_noise or (problem.noise == "uniform"
                                                 and problem.noise_dim == 1),
                   "stratified_noise", self.stratified_noise,
                   f"False for {self.problem!r} (stratifies 1-D uniform noise, e.g. gauss1d)")
            _check(self.d_pretrain == 0 or problem.has_density(), "d_pretrain", self.d_pretrain,
                   f"0 for {self.problem!r} (pre-training fits D to a closed-form density, "
                   "e.g. gauss1d)")
            _check(not self.conditional_d, "conditional_d", self.conditional_d,
                   f"False for the distribution problem {self.problem!r} (no coordinates)")
            _check(not self.d_per_equation, "d_per_equation", self.d_per_equation,
                   f"False for the distribution problem {self.problem!r} (no equations)")
            _check_int(self.pack, "pack", 1)
            batch = self.n_points or problem.n_default
            _check(self.pack <= batch, "pack", self.pack,
                   f"at most the batch of {batch} samples (n_points) that D's packs are made of")
            _check(self.pack == 1 or (self.adversarial and problem.label_use != "code"
                                      and self.d_pretrain == 0), "pack", self.pack,
                   "1 with " + ("a VAE (no discriminator)" if not self.adversarial else
                                "InfoGAN's code head (it reads one sample)"
                                if problem.label_use == "code" else
                                "d_pretrain (D is fitted to the density of one sample)"))
        else:
            _check(self.method != "vae", "method", self.method,
                   f"one of {', '.join(m for m in METHODS if m != 'vae')} for the differential "
                   f"equation {self.problem!r} (vae models a data distribution)")
            _check(not self.stratified_noise, "stratified_noise", self.stratified_noise,
                   f"False for the differential equation {self.problem!r}")
            _check(self.d_pretrain == 0, "d_pretrain", self.d_pretrain,
                   f"0 for the differential equation {self.problem!r}")
            _check(self.pack == 1, "pack", self.pack,
                   f"1 for the differential equation {self.problem!r} (packing is for samples)")
        choices = problem.primary_metrics()
        _check(self.metric is None or self.metric in choices, "metric", self.metric,
               f"None (the problem's {problem.metric}) or one of {', '.join(choices)} for "
               f"{self.problem!r}" if len(choices) > 1 else
               f"None or {problem.metric!r}: {self.problem!r} has no other primary metric")
        _check_int(self.seeds, "seeds", 1)
        _check_int(self.seed, "seed", 0)
        _check_int(self.iterations, "iterations", 1)
        if self.n_points is not None:
            _check_int(self.n_points, "n_points", 2)
        self.G.validate("G")
        self.D.validate("D")
        _check_int(self.g_iters, "g_iters", 1)
        _check_int(self.d_iters, "d_iters", 1)
        _check(0.0 <= self.soft_labels < 0.5, "soft_labels", self.soft_labels,
               "a number in [0, 0.5) (0 = hard labels)")
        _check(math.isfinite(self.gp_weight) and self.gp_weight >= 0, "gp_weight", self.gp_weight,
               "a finite number >= 0")
        _check(math.isfinite(self.huber_delta) and self.huber_delta > 0, "huber_delta",
               self.huber_delta, "a finite number > 0")
        _check(math.isfinite(self.info_weight) and self.info_weight >= 0, "info_weight",
               self.info_weight, "a finite number >= 0")
        _check(math.isfinite(self.kl_weight) and self.kl_weight > 0, "kl_weight", self.kl_weight,
               "a finite number > 0")
        _check_int(self.d_pretrain, "d_pretrain", 0)
        _check(self.d_pretrain == 0 or self.adversarial, "d_pretrain", self.d_pretrain,
               f"0 for method {self.method!r} (it has no discriminator to pre-train)")
        _check(self.step_order in STEP_ORDERS, "step_order", self.step_order,
               f"one of {', '.join(STEP_ORDERS)}")
        _check(self.monitor in MONITOR_ACTIONS, "monitor", self.monitor,
               f"one of {', '.join(MONITOR_ACTIONS)}")
        _check(self.monitor == "none" or problem.family == "de", "monitor", self.monitor,
               f"'none' for the distribution problem {self.problem!r} (residual monitoring "
               "watches an equation's residual)")
        _check_int(self.monitor_window, "monitor_window", 2)
        _check(math.isfinite(self.monitor_threshold) and self.monitor_threshold > 0,
               "monitor_threshold", self.monitor_threshold, "a finite number > 0")
        _check(0.0 < self.monitor_until <= 1.0, "monitor_until", self.monitor_until,
               "a fraction in (0, 1] of the iterations")
        _check(0.0 <= self.monitor_from < self.monitor_until, "monitor_from", self.monitor_from,
               f"a fraction in [0, monitor_until = {self.monitor_until}) of the iterations")
        _check_int(self.monitor_restarts, "monitor_restarts", 0)
        _check(self.lr_decay in LR_DECAYS, "lr_decay", self.lr_decay, f"one of {', '.join(LR_DECAYS)}")
        _check(0.0 < self.lr_gamma <= 1.0, "lr_gamma", self.lr_gamma, "a number in (0, 1]")
        _check_int(self.lr_step, "lr_step", 1)
        if self.lr_end is not None:
            _check(self.lr_decay in ("exp", "step"), "lr_end", self.lr_end,
                   f"None with lr_decay = {self.lr_decay!r} (a final factor needs lr_decay exp or "
                   "step)")
            _check(isinstance(self.lr_end, (int, float)) and not isinstance(self.lr_end, bool)
                   and 0.0 < self.lr_end <= 1.0, "lr_end", self.lr_end,
                   "a number in (0, 1], the learning-rate factor at the end of the run")
            _check(self.lr_gamma == 1.0, "lr_gamma", self.lr_gamma,
                   f"1.0 with lr_end = {self.lr_end:g} (give the decay as lr_end or as lr_gamma, "
                   "not both)")
        _check(self.output_scale in OUTPUT_SCALES, "output_scale", self.output_scale,
               f"one of {', '.join(OUTPUT_SCALES)}")
        _check(0.0 <= self.curriculum <= 1.0, "curriculum", self.curriculum,
               "a fraction in [0, 1] of the run (0: off)")
        _check(0.0 < self.curriculum_start <= 1.0, "curriculum_start", self.curriculum_start,
               "a fraction in (0, 1] of the time axis")
        _check(math.isfinite(self.causal) and self.causal >= 0, "causal", self.causal,
               "a finite number >= 0 (0: off)")
        if problem.family == "dist":
            for name, off in (("output_scale", "none"), ("curriculum", 0.0), ("causal", 0.0)):
                _check(getattr(self, name) == off, name, getattr(self, name),
                       f"{off!r} for the distribution problem {self.problem!r} (it is for "
                       "differential equations)")
        elif self.curriculum or self.causal:
            name = "curriculum" if self.curriculum else "causal"
            _check(problem.time_axis() is not None, name, getattr(self, name),
                   f"0 for {self.problem!r}: it has no time axis to march along (an axis named "
                   "'t', or a single axis)")
        _check_int(self.eval_every, "eval_every", 1)
        if self.failure_threshold is not None:
            _check(self.failure_threshold > 0, "failure_threshold", self.failure_threshold,
                   "a number > 0 or None for the problem's default")
        _check(self.dtype in DTYPES, "dtype", self.dtype, f"one of {', '.join(DTYPES)}")
        _check(self.fast_path in FAST_PATHS, "fast_path", self.fast_path,
               f"one of {', '.join(FAST_PATHS)}")
        _check(isinstance(self.device, str) and self.device.split(":")[0] in ("cpu", "cuda", "mps"),
               "device", self.device, "'cpu', 'cuda' or 'cuda:N'")

    @property
    def gamma(self) -> float:
        """The decay's factor per iteration (exp) or per lr_step (step): lr_gamma, or what makes
        the schedule reach lr_end at the last iteration."""
        if self.lr_end is None:
            return self.lr_gamma
        per = self.lr_step if self.lr_decay == "step" else 1
        return float(self.lr_end ** (per / self.iterations))

    @property
    def adversarial(self) -> bool:
        """True for methods that train a discriminator."""
        return self.method in ADVERSARIAL_METHODS


def _split_net_key(key: str) -> tuple[str | None, str]:
    if key in _TOP_FIELDS:  # g_iters, d_loss_mean, ...: not G_/D_ shorthands
        return None, key
    for prefix in ("G.", "D.", "G_", "D_", "g_", "d_"):
        if key.startswith(prefix):
            return prefix[0].upper(), key[2:]
    return None, key


_TOP_FIELDS = frozenset(f.name for f in dataclasses.fields(Config))


def _check_types(obj: Any, prefix: str = "") -> None:
    """Every field of the config `obj` (and of the nets in it) against its declared type
    (gan_core.typecheck): a string for a number, NaN, inf or a bool for an integer is the same
    one-line ConfigError as a number out of range. A field added later is checked by its
    annotation alone."""
    for name, tp in field_types(type(obj)).items():
        value = getattr(obj, name)
        _check(matches(value, tp), prefix + name, value, describe(tp))
        if dataclasses.is_dataclass(tp):
            _check_types(value, f"{prefix}{name}.")


def _check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name} = {value!r} is invalid: expected {allowed}")


def _check_int(value: Any, name: str, minimum: int) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    _check(ok, name, value, f"an integer >= {minimum}")


@dataclass
class Result:
    """What a training run produced: per-seed and aggregate metrics, curves and final predictions.

    MSE is the mean squared error of the reparameterised solution against the reference on the
    unperturbed grid. A diverged seed (NaN/inf) has MSE +inf; a seed fails when its final MSE is
    above the failure threshold or infinite.
    """

    config: Config
    final_mse: np.ndarray  # (seeds,) last evaluation; +inf for diverged seeds
    best_mse: np.ndarray  # (seeds,) best evaluation seen; +inf for seeds that never evaluated finite
    diverged: np.ndarray  # (seeds,) bool: NaN/inf appeared in this seed's loss or prediction
    diverged_at: np.ndarray  # (seeds,) iteration at which divergence was detected, -1 if never
    failure_threshold: float  # MSE above which a seed counts as failed
    iterations: int  # iterations actually run (fewer than asked if every seed diverged)
    wall_time: float  # seconds spent in train()
    curves: dict[str, np.ndarray]  # "iteration": (E,), other keys: (E, seeds), one row per report
    grid: np.ndarray  # (n, dim) evaluation points
    prediction: np.ndarray  # (seeds, n, n_out) final prediction on the grid
    reference: np.ndarray  # (n, n_out) reference solution on the grid
    restarts: np.ndarray | None = None  # (seeds,) restarts by residual monitoring (0: none)
    abandoned: np.ndarray | None = None  # (seeds,) bool: abandoned by residual monitoring; such
    # a seed's final MSE is +inf (its run was given up) and it counts as failed
    collapsed: np.ndarray | None = None  # (seeds,) bool: failed on a (nearly) constant solution
    # where the reference varies (the zero-solution failure of residual training)
    status: str = "ok"  # "ok" | "diverged" (every seed diverged)
    metric: str = "mse"  # what final_mse/best_mse hold (the names are historical): "mse" for
    # equations, "residual" for equations without a reference solution, else the distribution
    # problem's primary distance (energy, w1, modes_missed), lower is better
    fast_path: str = "reference"  # the path the run took: fused, native (why not fused), cuda
    # graphs, or reference (why); docs/speed.md

    @property
    def failed(self) -> np.ndarray:
        """(seeds,) bool: final MSE non-finite or above the failure threshold."""
        return failed_seeds(self.final_mse, self.failure_threshold)

    @property
    def median_mse(self) -> float:
        """Median final MSE over seeds (diverged seeds count as +inf)."""
        return float(np.median(self.final_mse))

    @property
    def worst_mse(self) -> float:
        """Largest final MSE over seeds: the seed a user would least like to get."""
        return float(np.max(self.final_mse))

    @property
    def failure_rate(self) -> float:
        """Fraction of seeds that failed (diverged or above the threshold)."""
        return float(np.mean(self.failed))

    def quantile_mse(self, q: float) -> float:
        """The q-quantile of the final MSE over seeds (inf-aware: inf sorts last)."""
        return float(np.quantile(np.where(np.isfinite(self.final_mse), self.final_mse, np.inf), q,
                                 method="higher"))

    def __post_init__(self) -> None:
        K = len(self.final_mse)
        self.restarts = np.zeros(K, dtype=int) if self.restarts is None else self.restarts
        self.abandoned = np.zeros(K, dtype=bool) if self.abandoned is None else self.abandoned
        self.collapsed = np.zeros(K, dtype=bool) if self.collapsed is None else self.collapsed

    def seed_status(self) -> list[str]:
        """Per seed: "diverged", "abandoned" (by residual monitoring), "collapsed" (failed on a
        constant solution), "failed" (finite but above the threshold) or "ok"."""
        return ["diverged" if d else "abandoned" if a else "collapsed" if c else
                ("failed" if f else "ok")
                for d, a, c, f in zip(self.diverged, self.abandoned, self.collapsed, self.failed)]

    def summary(self) -> dict[str, float]:
        """Aggregate metrics as a flat dict with namespaced names."""
        m = self.metric
        return {
            f"eval/{m}": self.median_mse,
            f"eval/{m}_worst": self.worst_mse,
            f"eval/{m}_best": float(np.min(self.final_mse)),
            "eval/failure_rate": self.failure_rate,
            "eval/diverged": int(self.diverged.sum()),
            "eval/restarts": int(self.restarts.sum()),
            "eval/abandoned": int(self.abandoned.sum()),
            "eval/collapsed": int(self.collapsed.sum()),
            "iterations": self.iterations,
            "wall_time": self.wall_time,
        }
