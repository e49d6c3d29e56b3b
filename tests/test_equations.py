"""What a new equation needs (issue 18): a failure rule relative to the solution's size, schedules
that follow the run, the output and residual at unit scale, the remedies of long and nonlinear
problems (curriculum, causal weighting), a detector of collapsed seeds, and a family start that
lies inside its search space and solves a zoo problem."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core import Config, make_problem, train
from gan_core.config import ConfigError, failed_seeds
from gan_core.jets import Jet
from gan_core.optim import lr_factor
from gan_core.presets import ODE_FAMILY, lengthened, preset
from gan_core.tasks import DETask, solution_scale

ZOO = Path(__file__).resolve().parents[1] / "examples" / "zoo"
LV = f"{ZOO / 'lotka_volterra.py'}:LotkaVolterra"
OSCILLATOR = f"{ZOO / 'forced_oscillator.py'}:ForcedOscillator"
DIFFUSION = f"{ZOO / 'diffusion.py'}:Diffusion"
_CLASS = re.compile(r"^class (\w+)", re.M)
ZOO_PROBLEMS = sorted(f"{f}:{_CLASS.search(f.read_text())[1]}" for f in ZOO.glob("*.py"))


def _task(problem: str, **cfg) -> DETask:
    c = Config.from_dict({"problem": problem, **cfg})
    p = make_problem(c.problem, c.n_points, **c.problem_args)
    return DETask(p, c, torch.device("cpu"), torch.float64)


# -- the relative failure rule ---------------------------------------------------------------------
def test_a_users_equation_is_judged_relative_to_its_solutions_size():
    p = make_problem(LV)
    assert p.metric == "rel_mse" and p.failure_threshold == pytest.approx(2.5e-3)  # 5% RMS
    # the built-in problems keep the absolute MSE the paper publishes
    assert make_problem("sho").metric == "mse" and make_problem("sho").failure_threshold == 1e-4
    # at the rule's edge: a relative RMS error of 4.9% passes, 5.1% fails
    assert list(failed_seeds(np.array([0.049 ** 2, 0.051 ** 2]), p.failure_threshold)) == \
        [False, True]


def test_the_relative_mse_is_the_mse_over_the_references_mean_square():
    r = train(Config.from_dict({**preset(LV).to_dict(), "seeds": 2, "iterations": 3,
                                "eval_every": 1}))
    mse = np.mean((r.prediction - r.reference) ** 2, axis=(1, 2))
    np.testing.assert_allclose(r.final_mse, mse / np.mean(r.reference ** 2), rtol=1e-6)
    # the absolute MSE is reported beside it, per seed in the curves
    np.testing.assert_allclose(r.curves["eval/mse"][-1], mse, rtol=1e-6)
    sho = train(Config(problem="sho", seeds=2, iterations=2, eval_every=1))
    np.testing.assert_allclose(sho.curves["eval/rel_mse"][-1],
                               sho.final_mse / np.mean(sho.reference ** 2), rtol=1e-6)


# -- schedules that follow the run -----------------------------------------------------------------
def _factors(cfg: Config, fractions: np.ndarray) -> np.ndarray:
    age = torch.as_tensor(np.floor(fractions * cfg.iterations), dtype=torch.float64)
    return lr_factor(cfg.lr_decay, cfg.gamma, cfg.lr_step, age).numpy()


@pytest.mark.parametrize("decay", ["exp", "step"])
def test_a_decay_given_as_its_end_reaches_it_whatever_the_length(decay):
    at = np.array([0.0, 0.25, 0.5, 1.0])
    short = Config(lr_decay=decay, lr_step=6, lr_end=1e-3, iterations=2000)
    long = short.replace(iterations=8000)
    assert short.gamma != long.gamma  # the factor per step follows the length ...
    np.testing.assert_allclose(_factors(short, at), _factors(long, at), rtol=0.02)  # ... the shape
    assert _factors(long, at)[-1] == pytest.approx(1e-3, rel=0.01)


def test_a_longer_run_keeps_the_presets_schedule_shape():
    at = np.linspace(0, 1, 9)
    sho = preset("sho")  # a per-step schedule (StepLR 6 / 0.98 over 4000)
    for cfg in (preset("sho", iterations=12000), lengthened(sho, 1000)):
        np.testing.assert_allclose(_factors(cfg, at), _factors(sho, at), rtol=0.05)
    family = preset(LV)
    np.testing.assert_allclose(_factors(preset(LV, iterations=16000), at), _factors(family, at),
                               rtol=0.02)
    # a schedule given with the length is taken as given
    assert preset("sho", iterations=8000, lr_step=6).lr_step == 6


def test_iterations_on_the_command_lines_keep_the_schedule_shape():
    from gan_core.__main__ import _parse
    from sweeps import cli

    spec = cli.plan(["sho", "--iterations", "8000"])
    assert spec.fixed["iterations"] == 8000 and spec.fixed["lr_step"] == 12
    assert spec.fixed["lr_end"] == preset("sho").lr_end
    assert Config.from_dict({**spec.fixed, "problem": "sho"}).gamma == pytest.approx(0.98)
    # a per-step decay set by hand replaces the preset's total, without a clash
    mine = cli.plan(["sho", "--set", "lr_gamma=0.99"]).fixed
    assert (mine["lr_gamma"], mine["lr_end"]) == (0.99, None)
    assert cli.plan([LV, "--iterations", "8000"]).fixed["lr_end"] == ODE_FAMILY["*"]["lr_end"]
    assert _parse(["sho", "--iterations", "10"]).iterations == 10


def test_the_presets_give_their_decay_as_its_total_bit_for_bit():
    # the sho preset's StepLR 6 / 0.98 over 4000 iterations as lr_end: the same gamma exactly,
    # so its runs (and the figures measured on them) are unchanged
    sho = preset("sho")
    assert (sho.lr_gamma, sho.lr_step) == (1.0, 6) and sho.gamma == 0.98
    assert sho.lr_end == 0.98 ** (4000 / 6)
    assert preset("exp").gamma == 0.95 and preset("nlo").gamma == 0.998


def test_lr_end_is_checked_against_the_decay():
    with pytest.raises(ConfigError, match="lr_end"):
        Config(lr_end=1e-3)  # lr_decay none
    with pytest.raises(ConfigError, match="not both"):
        Config(lr_decay="exp", lr_gamma=0.99, lr_end=1e-3)
    with pytest.raises(ConfigError, match="lr_end"):
        Config(lr_decay="exp", lr_end=0.0)


# -- unit scale -------------------------------------------------------------------------------------
def test_the_output_scale_is_the_size_of_the_network_output_the_solution_needs():
    # Lotka-Volterra: u = y0 + (1 - e^-t) N, so N must reach (u - y0) / (1 - e^-t)
    p = make_problem(LV)
    need, residual = solution_scale(p, p.reference(p.grid()))
    t, ref = p.grid()[:, 0], p.reference(p.grid())
    g = 1 - np.exp(-t)
    keep = g >= 0.1 * g.max()
    np.testing.assert_allclose(need, np.sqrt(np.mean(((ref[keep] - 1) / g[keep, None]) ** 2, 0)))
    # the residual at N = 0 (the constant y0): y' - f(y0) = -(a - b, -c + d)
    np.testing.assert_allclose(residual, [0.5, 2.0])
    # Poisson's trial solution multiplies N by x(1-x)y(1-y) <= 1/16: N must be ~16x the solution
    pos = make_problem("pos")
    assert solution_scale(pos, pos.reference(pos.grid()))[0][0] > 5 * np.sqrt(np.mean(
        pos.reference(pos.grid()) ** 2))


@pytest.mark.parametrize("problem", [LV, OSCILLATOR, DIFFUSION, "pos"])
def test_a_scaled_solution_still_meets_its_conditions_exactly(problem):
    task = _task(problem, output_scale="auto")
    p = task.problem
    X = torch.as_tensor(p.grid(), dtype=torch.float64)[None]
    coords = Jet.coordinates(X, p.order)
    N = Jet(torch.randn(1, coords[0].a.shape[1], X.shape[1], p.n_out, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(0)), p.dim, p.order)
    scaled = task.solution(N, coords).value[0].numpy()
    raw = p.solution(N, coords).value[0].numpy()
    assert not np.allclose(scaled, raw)
    a = p.time_axis() if p.time_axis() is not None else 0
    at_start = X[0, :, a].numpy() == p.bounds[a][0]  # where the conditions hold
    np.testing.assert_allclose(scaled[at_start], raw[at_start], atol=1e-12)


# -- curriculum and causal weighting ----------------------------------------------------------------
def test_the_curriculum_trains_a_growing_part_of_the_time_axis():
    task = _task(DIFFUSION, output_scale="auto", curriculum=0.5, curriculum_start=0.2,
                 iterations=100, seeds=3)
    reach = task.reach(np.array([0, 25, 80]))
    np.testing.assert_allclose(reach.numpy(), [0.2, 0.6, 1.0])
    X = task.draw(torch.Generator().manual_seed(1), reach)
    t = X[..., 1]  # Diffusion's axes: (x, t); t in [0, 2]
    spacing = 2.0 / (task.problem.n - 1)
    for k, r in enumerate([0.2, 0.6, 1.0]):
        assert float(t[k].max()) <= 2.0 * r + spacing and float(t[k].max()) > 2.0 * r - spacing
    np.testing.assert_allclose(X[..., 0].numpy().mean(), 0.5, atol=0.05)  # x untouched
    assert _task(DIFFUSION).reach(np.array([0])) is None  # off by default


def test_causal_weights_open_once_the_times_before_are_solved():
    task = _task(LV, causal=10.0, n_points=5, seeds=2)
    r = torch.zeros(2, 5, 2, dtype=torch.float64)
    assert torch.equal(task.causal_weights(r), torch.ones(2, 5, 1, dtype=torch.float64))
    r[1, 1] = 1.0  # seed 1's residual at the second time only: the times after it wait
    w = task.causal_weights(r)[..., 0]
    np.testing.assert_allclose(w[1].numpy(), [1, 1, math.exp(-2.0), math.exp(-2.0),
                                              math.exp(-2.0)])  # 10 * mean square 1 / 5 times
    assert torch.equal(w[0], torch.ones(5, dtype=torch.float64))
    # on a PDE the weight is per time slice: the same at every x of one t
    pde = _task(DIFFUSION, causal=1.0, n_points=4, seeds=1)
    rr = torch.rand(1, 16, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = pde.causal_weights(rr)[0, :, 0].reshape(4, 4)  # (x, t)
    assert torch.allclose(w, w[:1].expand(4, 4)) and bool((w[0, 1:] < 1).all())


def test_the_remedies_are_refused_where_they_do_not_apply():
    with pytest.raises(ConfigError, match="distribution problem"):
        Config(problem="moons", curriculum=0.5)
    with pytest.raises(ConfigError, match="no time axis"):
        Config(problem="pos", causal=1.0)
    with pytest.raises(ConfigError, match="output_scale"):
        Config(output_scale="big")


# -- collapse ---------------------------------------------------------------------------------------
def test_a_seed_on_a_constant_solution_is_said_to_have_collapsed():
    task = _task(LV, seeds=3)
    ref = task.reference_np
    t = task.grid_np[:, :1]
    prediction = np.stack([
        ref,  # solved
        1.0 + (1 - np.exp(-t)) * np.array([[2.0, -0.5]]),  # the constant a lazy net settles on
        ref * 1.3,  # wrong, but not flat
    ])
    assert list(task.collapsed(prediction)) == [False, True, False]


def test_collapsed_seeds_are_failures_with_their_reason():
    # a trial solution that ignores the network stays at its constant, whatever G learns
    from gan_core.problems.registry import lookup

    lv = lookup(LV)
    flat = type("FlatLotkaVolterra", (lv,), {"solution": lambda self, N, coords: 0.0 * N + 1.0})
    r = train(Config(problem=flat, seeds=3, iterations=3, eval_every=1, output_scale="auto"))
    assert r.collapsed.all() and r.failed.all()
    assert r.seed_status() == ["collapsed"] * 3
    assert r.summary()["eval/collapsed"] == 3


# -- the family start --------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", ZOO_PROBLEMS)
def test_the_family_start_lies_inside_the_family_space(problem):
    from sweeps import cli, driver

    spec = cli.plan([problem])
    space = spec.space()
    assert space.outside() is None
    assert space.start_point()  # the preset is the first trial
    assert driver._first_trial(spec).startswith("gansweep's preset")
    family = "ode" if make_problem(problem).dim == 1 else "pde"
    assert space.study.__name__ == family


def test_a_zoo_problem_trains_to_a_real_threshold_from_its_family_start():
    # the damped, driven oscillator from the family start in half its run, 2 seeds: the
    # relative MSE against solve_ivp's reference (measured ~1e-7; the failure rule is 2.5e-3)
    r = train(preset(OSCILLATOR, seeds=2, iterations=2000))
    assert r.metric == "rel_mse" and r.worst_mse < 1e-4, r.final_mse
    assert not r.failed.any() and not r.collapsed.any()
