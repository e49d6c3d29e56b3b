"""Known-good starting configs per (problem, method), found by small searches on this code.

They are where the CLI starts, what the convergence tests use, and what the sweeps centre their
search spaces on. ``preset(problem, method)`` falls back to the problem's general entry, then to
``Config()`` defaults, so every (problem, method) pair has one.
"""

from __future__ import annotations

from typing import Any

from .config import Config, ConfigError

# Each entry: flat Config keys. "*" holds settings shared by every method on that problem.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {}

# The ODE preset: G 20x2 sin at lr 3e-3, a slow D 32x2 at lr 2e-4, exp decay 0.998, 2000
# iterations. Measured: docs/presets.md#nlo-coo-and-sho_system-the-ode-preset
_SIN_SLOW_D = {
    "*": {"G.width": 20, "G.depth": 2, "G.activation": "sin", "iterations": 2000,
          "lr_decay": "exp", "lr_gamma": 0.998, "G.lr": 0.003, "G.betas": (0.9, 0.99)},
    "gan": {"D.width": 32, "D.depth": 2, "D.lr": 2e-4, "D.betas": (0.5, 0.999)},
    "l2": {"G.width": 40, "G.depth": 3, "G.activation": "tanh", "G.lr": 0.01,
           "G.betas": (0.9, 0.999), "lr_gamma": 0.999, "iterations": 3000},
}
for _key in ("sho_system", "nlo", "coo", "sir"):  # sir: the paper's, below
    PRESETS[_key] = {"*": _SIN_SLOW_D["*"], "gan": _SIN_SLOW_D["gan"]}
# The PDE preset: G 32x3 sin at lr 0.01 on a 20 x 20 grid, D 32x2 at lr 1e-3, exp decay 0.998,
# 1500 iterations. Measured: docs/presets.md#pos-hea-wav-and-burgers
_PDE = {"G.width": 32, "G.depth": 3, "G.activation": "sin", "n_points": 20, "iterations": 1500,
        "lr_decay": "exp", "lr_gamma": 0.998, "G.lr": 0.01, "G.betas": (0.9, 0.99)}
_PDE_D = {"D.width": 32, "D.depth": 2, "D.lr": 1e-3, "D.betas": (0.5, 0.999)}
for _key in ("pos", "hea", "wav", "burgers"):  # pos and hea: the paper's, below
    PRESETS[_key] = {"*": _PDE, "gan": _PDE_D}


# Distribution problems: first working points (Adam betas 0.5, lr 1e-3, 3000 iterations), not
# yet searched. Measured: docs/presets.md#distributions
_GAN_ADAM = {"G.betas": (0.5, 0.999), "D.betas": (0.5, 0.999), "G.lr": 1e-3, "D.lr": 1e-3,
             "iterations": 3000}
# gauss2d: the spec's linear G and a tanh D 32x2 (wider than the spec's), lr 2e-3.
# Measured: docs/presets.md#gauss2d
PRESETS["gauss2d"] = {"*": {**_GAN_ADAM, "G.depth": 0, "D.width": 32, "D.depth": 2,
                            "D.activation": "tanh", "G.lr": 2e-3, "D.lr": 2e-3}}
# gauss1d: G and D 32x2 at lr 2e-3, exp decay 0.999; WGAN-GP: 5 critic steps, betas (0, 0.9),
# lr 1e-3, no decay, 6000 iterations. Measured: docs/presets.md#gauss1d
PRESETS["gauss1d"] = {
    "*": {**_GAN_ADAM, "G.width": 32, "G.depth": 2, "D.width": 32, "D.depth": 2,
          "G.lr": 2e-3, "D.lr": 2e-3, "lr_decay": "exp", "lr_gamma": 0.999},
    "wgan_gp": {"iterations": 6000, "d_iters": 5, "G.betas": (0.0, 0.9), "D.betas": (0.0, 0.9),
                "lr_decay": "none", "G.lr": 1e-3, "D.lr": 1e-3}}
# moons: G and D 128x1 (relu / leaky relu). Measured: docs/presets.md#moons-and-its-variants
PRESETS["moons"] = {"*": {**_GAN_ADAM, "G.width": 128, "G.depth": 1, "G.activation": "relu",
                          "D.width": 128, "D.depth": 1, "D.activation": "leaky_relu"}}
# the moons nets carry over (docs/presets.md#moons-and-its-variants)
PRESETS["moons_cgan"] = PRESETS["moons_infogan"] = PRESETS["moons"]
# ring8: G and D 128x2 (relu / leaky relu), batch 64, 24000 iterations, exp decay to 5% of the
# lr. Measured: docs/presets.md#ring8
_MIXTURE_NETS = {**_GAN_ADAM, "G.width": 128, "G.depth": 2, "G.activation": "relu",
                 "D.width": 128, "D.depth": 2, "D.activation": "leaky_relu", "eval_every": 1000}
PRESETS["ring8"] = {"*": {**_MIXTURE_NETS, "n_points": 64, "iterations": 24000,
                          "lr_decay": "exp", "lr_gamma": 0.999875}}
# grid25: the ring's set-up with G and D 256x3 and 18000 iterations. Measured:
# docs/presets.md#grid25
PRESETS["grid25"] = {"*": {**_MIXTURE_NETS, "G.width": 256, "G.depth": 3, "D.width": 256,
                           "D.depth": 3, "n_points": 64, "iterations": 18000,
                           "lr_decay": "exp", "lr_gamma": 0.99983}}


# -- the DEQGAN paper's configs --------------------------------------------------------------------
# Bullwinkel, Randle, Protopapas, Sondak et al. (arXiv 2209.07081), Table 2's runs, from the
# public code's configuration files (rounded to 4 digits; ../shared/DEQGAN_PAPER.md): G and D
# "u x b" residual tanh nets, spectral norm on D, adaptive instance noise, 1:1 steps with G first
# and D on that step's residual, D's loss the mean of its two BCE terms, Adam, StepLR every
# iteration, the paper's point counts and problem constants. Its classical baselines (l1, l2,
# huber) use the same generator and schedule.
_PAPER_TRAINING = {"G.activation": "tanh", "D.activation": "tanh", "G.residual": True,
                   "D.residual": True, "spectral_norm": True, "instance_noise": True,
                   "g_iters": 1, "d_iters": 1, "step_order": "g_first", "d_loss_mean": True,
                   "lr_decay": "step"}


def _paper(points: int, iterations: int, G: tuple[int, int], D: tuple[int, int], lr: tuple[float, float],
           G_betas: tuple[float, float], D_betas: tuple[float, float], step: int, gamma: float,
           **problem: float) -> dict[str, Any]:
    return {**_PAPER_TRAINING, "n_points": points, "iterations": iterations,
            "G.width": G[0], "G.depth": G[1], "D.width": D[0], "D.depth": D[1],
            "G.lr": lr[0], "D.lr": lr[1], "G.betas": G_betas, "D.betas": D_betas,
            "lr_step": step, "lr_gamma": gamma, **{f"problem.{k}": v for k, v in problem.items()}}


PAPER: dict[str, dict[str, Any]] = {
    "exp": _paper(100, 1200, (40, 2), (20, 4), (0.09465, 0.01222), (0.491, 0.320), (0.542, 0.264),
                  3, 0.9500),
    # the paper's sho starts at x'(0) = 1 on [0, 6.28] (ours: 0.5 on [0, 2 pi])
    "sho": _paper(400, 12000, (40, 3), (50, 3), (0.005965, 0.0004886), (0.363, 0.752),
                  (0.584, 0.454), 19, 0.9786, v0=1.0, t_max=6.28),
    # the paper's nlo: x'(0) = 0.7 on [0, 12.56] (ours: 0.5 on [0, 4 pi])
    "nlo": _paper(400, 12000, (40, 4), (20, 2), (0.01065, 0.02104), (0.225, 0.331),
                  (0.363, 0.551), 15, 0.9804, v0=0.7, t_max=12.56),
    "coo": _paper(800, 70000, (40, 5), (40, 2), (0.004215, 0.08229), (0.603, 0.614),
                  (0.412, 0.110), 16, 0.9976),
    "sir": _paper(800, 20000, (50, 4), (50, 4), (0.006293, 0.0124), (0.279, 0.778),
                  (0.0186, 0.909), 11, 0.9928),
    "pos": _paper(32, 3000, (50, 4), (30, 2), (0.01909, 0.02155), (0.139, 0.370),
                  (0.746, 0.759), 9, 0.9573),
    "hea": _paper(32, 2000, (40, 4), (30, 2), (0.01086, 0.001958), (0.231, 0.658),
                  (0.120, 0.251), 10, 0.9500),
    "wav": _paper(32, 5000, (50, 4), (50, 2), (0.01212, 0.08844), (0.296, 0.358),
                  (0.575, 0.133), 18, 0.9534),
    "burgers": _paper(65, 3000, (50, 3), (20, 5), (0.01274, 0.005426), (0.185, 0.594),
                      (0.0937, 0.185), 20, 0.9548),
}
# Table 2 of the paper: the lowest MSE of 10 runs per method (for bench/paper.py's comparison)
PAPER_TABLE: dict[str, dict[str, float]] = {
    "exp": {"l1": 3e-3, "l2": 2e-5, "huber": 1e-5, "gan": 3e-16},
    "sho": {"l1": 9e-6, "l2": 1e-10, "huber": 6e-11, "gan": 4e-13},
    "nlo": {"l1": 6e-2, "l2": 1e-9, "huber": 9e-10, "gan": 1e-12},
    "coo": {"l1": 5e-1, "l2": 1e-7, "huber": 1e-7, "gan": 1e-8},
    "sir": {"l1": 7e-5, "l2": 3e-9, "huber": 1e-9, "gan": 1e-10},
    "pos": {"l1": 4e-6, "l2": 1e-10, "huber": 6e-11, "gan": 4e-13},
    "hea": {"l1": 6e-3, "l2": 3e-5, "huber": 1e-5, "gan": 6e-10},
    "wav": {"l1": 6e-2, "l2": 4e-5, "huber": 6e-4, "gan": 1e-8},
    "burgers": {"l1": 4e-3, "l2": 2e-4, "huber": 1e-4, "gan": 4e-6},
}
SOURCES = ("gansweep", "paper")

# exp: the paper's config is gansweep's preset too. Measured: docs/presets.md#exp
PRESETS["exp"] = {"*": PAPER["exp"]}



# -- the families' starts: a user's equation, which nobody has tuned -------------------------------
# ODEs: the paper's sho nets (G 40x3 residual sin, D 50x3) at a quarter of the sho preset's rates,
# output at unit scale, a curriculum over 40% of the run, StepLR to 1% over 8000 iterations on 200
# points (why: docs/equations.md#the-familys-start). Measured: docs/presets.md#the-families-starts
ODE_FAMILY = {"*": {**_PAPER_TRAINING, "G.activation": "sin", "G.width": 40, "G.depth": 3,
                    "D.width": 50, "D.depth": 3, "G.lr": 0.005, "D.lr": 5e-4,
                    "G.betas": (0.9, 0.999), "D.betas": (0.5, 0.999), "lr_step": 6,
                    "lr_end": 1e-2, "iterations": 8000, "n_points": 200, "output_scale": "auto",
                    "curriculum": 0.4, "curriculum_start": 0.1}}
# PDEs: gansweep's PDE preset (G 32x3 sin on a 20 x 20 grid, exp decay) at unit scale, its decay
# given as the total over the run (0.998 per iteration over 1500: 0.05)
PDE_FAMILY = {"*": {**_PDE, "lr_gamma": 1.0, "lr_end": 0.05, "output_scale": "auto"},
              "gan": _PDE_D}


def family_preset(problem: str) -> dict[str, dict[str, Any]]:
    """The starting config of a problem gansweep has no tuned preset for (a user's): its own
    (``preset`` on the class), else its family's: ODE_FAMILY for equations in one variable,
    PDE_FAMILY for more, the moons nets for data."""
    from .problems import PROBLEMS

    cls = PROBLEMS[problem]
    if cls.preset is not None:
        return cls.preset
    if cls.family == "dist":
        return PRESETS["moons"]
    return PDE_FAMILY if len(cls.bounds) > 1 else ODE_FAMILY


def preset(problem: Any, method: str = "gan", source: str = "gansweep", **overrides: Any
           ) -> Config:
    """The starting config for (problem, method), with `overrides` (flat keys) applied; an
    `iterations` override keeps the preset's schedule over the new length (``lengthened``)
    unless the overrides give a schedule of their own.

    source "gansweep": gansweep's tuned presets (the default; ``family_preset`` for a problem
    without one); "paper": the DEQGAN paper's published config for the problem (its network,
    schedule, point count and constants), with only the method changed for the classical losses.
    """
    problem = Config(problem=problem).problem  # a class, instance or reference: its name
    if source not in SOURCES:
        raise ConfigError(f"source = {source!r} is invalid: expected one of {', '.join(SOURCES)}")
    d: dict[str, Any] = {"problem": problem, "method": method}
    if source == "paper":
        if problem not in PAPER:
            raise ConfigError(f"source = 'paper' is invalid for {problem!r}: the paper's "
                              f"problems are {', '.join(PAPER)}")
        d.update(PAPER[problem])
        d = _as_end(d)
    else:
        entry = PRESETS[problem] if problem in PRESETS else family_preset(problem)
        d.update(entry.get("*", {}))
        d.update(entry.get(method, {}))
        d = _as_end(d)
    iterations = overrides.pop("iterations", None)
    config = Config.from_dict(settled(d, overrides))
    if iterations is None:
        return config
    if any(k in overrides for k in _SCHEDULE):  # the caller's own schedule: taken as given
        return config.replace(iterations=iterations)
    return lengthened(config, iterations)  # the preset's schedule, over the longer run


_SCHEDULE = ("lr_decay", "lr_gamma", "lr_step", "lr_end")  # what says how the LR decays


def settled(d: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Flat config `d` with `settings` applied, where a decay given per step (lr_gamma) or
    turned off (lr_decay none) replaces the preset's total (lr_end) instead of clashing with it."""
    out = {**d, **settings}
    if "lr_end" not in settings and ("lr_gamma" in settings
                                      or settings.get("lr_decay") == "none"):
        out["lr_end"] = None
    return out


def _as_end(d: dict[str, Any]) -> dict[str, Any]:
    """A preset's per-step decay (lr_gamma every lr_step) as the total it reaches over the run
    (lr_end), so that its schedule follows --iterations and the studies search a total decay;
    only where the run at its own length is bit for bit the same (``Config.gamma`` gives back
    lr_gamma exactly: true of every preset here)."""
    gamma, decay = d.get("lr_gamma", 1.0), d.get("lr_decay", "none")
    if decay not in ("exp", "step") or gamma == 1.0 or d.get("lr_end") is not None:
        return d
    per = d.get("lr_step", Config.lr_step) if decay == "step" else 1
    iterations = d.get("iterations", Config.iterations)
    end = gamma ** (iterations / per)
    if end ** (per / iterations) != gamma:  # the round trip would move the run: keep it as is
        return d
    return {**d, "lr_gamma": 1.0, "lr_end": end}


def rescaled(config: Config, scale: float) -> Config:
    """The config with `scale` times its iterations and the same schedule (``lengthened``): a
    short run of a long published schedule."""
    return lengthened(config, max(1, round(config.iterations * scale)))


def lengthened(config: Config, iterations: int) -> Config:
    """The config run for `iterations` with the schedule's shape kept: the same total
    learning-rate decay over the run, a step decay's interval scaled with it (a decay given as
    lr_end follows the run by itself; a per-step one has its gamma adjusted too, an exponential
    one's raised to 1 / scale), so a longer run does what the shorter one did, more slowly."""
    if iterations == config.iterations:
        return config
    s = iterations / config.iterations
    if config.lr_decay == "none":
        return config.replace(iterations=iterations)
    if config.lr_end is not None:  # the total follows the run; a step decay keeps its stairs
        step = max(1, round(config.lr_step * s)) if config.lr_decay == "step" else config.lr_step
        return config.replace(iterations=iterations, lr_step=step)
    if config.lr_decay == "exp":
        return config.replace(iterations=iterations, lr_gamma=config.lr_gamma ** (1 / s))
    step, gamma = _step_rescaled(config.lr_step, config.lr_gamma, s)
    return config.replace(iterations=iterations, lr_step=step, lr_gamma=gamma)


def _step_rescaled(lr_step: int, lr_gamma: float, s: float) -> tuple[int, float]:
    """A StepLR schedule `s` times as long with the same total decay: the interval rounds to
    whole iterations, and gamma absorbs the rounding."""
    step = max(1, round(lr_step * s))
    return step, lr_gamma ** (step / (lr_step * s))


def _paper_at(problem: str, iterations: int, **extra: Any) -> dict[str, Any]:
    """The paper's config of `problem` on our problem constants and a shorter budget: its nets,
    options and learning rates, `iterations` with the same total step decay (``rescaled``)."""
    d = {k: v for k, v in PAPER[problem].items() if not k.startswith("problem.")}
    step, gamma = _step_rescaled(d["lr_step"], d["lr_gamma"], iterations / d["iterations"])
    return {**d, "iterations": iterations, "lr_step": step, "lr_gamma": gamma, **extra}


# sho: the paper's nets with a sin G on our problem, G 0.02 / D 0.002, StepLR 6 / 0.98, 4000
# iterations, 100 points. Measured: docs/presets.md#sho
PRESETS["sho"] = {"*": _paper_at("sho", 4000, n_points=100, **{
    "G.activation": "sin", "G.lr": 0.02, "D.lr": 0.002, "lr_step": 6, "lr_gamma": 0.98})}

# pos and hea: the paper's config rescaled to 1500 iterations on a 20 x 20 grid (wav and burgers
# keep the PDE preset). Measured: docs/presets.md#pos-hea-wav-and-burgers
PRESETS["pos"] = {"*": _paper_at("pos", 1500, n_points=20)}
# sir: the paper's config rescaled to 2000 iterations, 100 points. Measured: docs/presets.md#sir
PRESETS["sir"] = {"*": _paper_at("sir", 2000, n_points=100)}
PRESETS["hea"] = {"*": _paper_at("hea", 1500, n_points=20)}

# digits: the seed notebooks' MLP GAN (G and D 128x2, leaky relu, tanh out) at lr 1e-3, with the
# spec's D dropout 0.3. Measured: docs/presets.md#digits
PRESETS["digits"] = {"*": {**_GAN_ADAM, "G.width": 128, "G.depth": 2, "G.activation": "leaky_relu",
                           "G.output_tanh": True, "D.width": 128, "D.depth": 2,
                           "D.activation": "leaky_relu", "D.dropout": 0.3}}
