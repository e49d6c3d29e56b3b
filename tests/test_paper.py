"""The DEQGAN paper's network, training details, presets and residual monitoring in gan_core:
exactness of the residual block and of the per-replica Adam, the step order, D's averaged loss,
per-seed restarts inside the batch, problem constants and the paper's presets.
"""

import numpy as np
import pytest
import torch
from torch import nn

from gan_core import Config, ConfigError, NetConfig, train
from gan_core.networks import BatchedMLP
from gan_core.optim import BatchedAdam, lr_factor
from gan_core.presets import PAPER, preset, rescaled
from gan_core.problems import make_problem


def _cfg(**kw):
    d = {"problem": "exp", "method": "gan", "seeds": 3, "iterations": 40, "eval_every": 10}
    d.update(kw)
    return Config.from_dict(d)


# -- the published residual block -------------------------------------------------------------------
def _paper_net(net: BatchedMLP, k: int) -> nn.Module:
    """Replica k of a residual BatchedMLP as the paper writes it, with torch's own layers."""

    class Block(nn.Module):
        def __init__(self, l1: nn.Linear, l2: nn.Linear):
            super().__init__()
            self.l1, self.l2 = l1, l2

        def forward(self, h):  # the skip is added before the outer activation
            return torch.tanh(self.l2(torch.tanh(self.l1(h))) + h)

    layers = []
    for W, b in net.weights():
        lin = nn.Linear(W.shape[1], W.shape[2]).double()
        with torch.no_grad():
            lin.weight.copy_(W[k].T)
            lin.bias.copy_(b[k])
        layers.append(lin)
    blocks = [Block(a, b) for a, b in zip(layers[1:-1:2], layers[2:-1:2])]
    return nn.Sequential(layers[0], nn.Tanh(), *blocks, layers[-1])


def test_the_residual_net_is_the_papers_u_by_b_net():
    cfg = NetConfig(width=16, depth=3, residual=True, activation="tanh")
    net = BatchedMLP(2, 1, 1, cfg, seed=0, stream=0).double()
    assert len(net.weights()) == 2 * 3 + 2  # Linear, 3 blocks of two layers, Linear
    x = torch.linspace(0, 10, 50, dtype=torch.float64)[:, None]
    ours = net(x.expand(2, 50, 1))
    for k in range(2):
        torch.testing.assert_close(ours[k], _paper_net(net, k)(x), rtol=1e-12, atol=1e-12)


def test_spectral_norm_normalises_every_layer_inside_the_blocks_too():
    cfg = NetConfig(width=12, depth=2, residual=True)
    D = BatchedMLP(3, 1, 1, cfg, seed=0, stream=1, spectral_norm=True).double()
    for _ in range(200):  # power iteration converges as training forwards run
        weights = D.weights()
    assert len(weights) == 6
    for W, _ in weights:
        sigma = torch.linalg.matrix_norm(W.detach(), ord=2)  # (replicas,)
        torch.testing.assert_close(sigma, torch.ones(3, dtype=torch.float64), rtol=1e-4,
                                   atol=1e-4)


def test_the_residual_option_replaces_the_per_layer_residual():
    with pytest.raises(ConfigError, match="unknown key 'G.blocks'"):
        _cfg(**{"G.blocks": 2})
    r = train(_cfg(**{"G.residual": True, "G.depth": 2, "D.residual": True, "D.depth": 1,
                      "spectral_norm": True}))
    assert np.isfinite(r.final_mse).all()


# -- the per-replica Adam -------------------------------------------------------------------------------
def test_batched_adam_is_torch_adam_per_replica_and_restarts_a_replica_from_scratch():
    torch.manual_seed(0)
    R, betas, lr = 4, (0.5, 0.9), 0.05
    p = nn.Parameter(torch.randn(R, 7, dtype=torch.float64))
    opt = BatchedAdam([p], lr, betas)
    refs = [nn.Parameter(p.detach()[k].clone()) for k in range(R)]
    torch_opts = [torch.optim.Adam([q], lr=lr, betas=betas) for q in refs]
    grads = torch.randn(12, R, 7, dtype=torch.float64)
    for step, g in enumerate(grads):
        if step == 6:  # replica 2 starts over: moments and step count reset
            opt.reset(torch.tensor([2]))
            torch_opts[2] = torch.optim.Adam([refs[2]], lr=lr, betas=betas)
        p.grad = g.clone()
        opt.step()
        for k in range(R):
            refs[k].grad = g[k].clone()
            torch_opts[k].step()
    for k in range(R):
        torch.testing.assert_close(p.detach()[k], refs[k].detach(), rtol=1e-12, atol=1e-12)


def test_learning_rate_factors_follow_torchs_schedulers_per_replica():
    age = torch.arange(10, dtype=torch.float64)
    torch.testing.assert_close(lr_factor("step", 0.5, 3, age),
                               0.5 ** torch.div(age, 3, rounding_mode="floor"))
    torch.testing.assert_close(lr_factor("exp", 0.9, 1, age), 0.9 ** age)
    assert lr_factor("none", 0.9, 1, age).eq(1).all()


# -- training details -------------------------------------------------------------------------------
def test_g_first_trains_d_on_that_g_steps_residual(monkeypatch):
    from gan_core.problems.odes import Exp

    calls = {"n": 0}
    solution = Exp.solution

    def counted(self, N, coords):
        calls["n"] += N.order > 0  # the training forwards (evaluation carries no derivatives)
        return solution(self, N, coords)

    monkeypatch.setattr(Exp, "solution", counted)
    # the PyTorch steps' forwards are counted (the fused steps call solution once per draw for
    # the residual's coefficients; tests/test_native.py holds them to these steps' results)
    train(_cfg(iterations=5, step_order="d_first", fast_path="reference"))
    assert calls["n"] == 10  # D's pair and G's step each run G
    calls["n"] = 0
    r = train(_cfg(iterations=5, step_order="g_first", fast_path="reference"))
    assert calls["n"] == 5  # D reuses the residual of the G step: one forward per iteration
    assert np.isfinite(r.final_mse).all()


def test_d_loss_mean_halves_ds_loss_which_instance_noise_reads():
    one = {"iterations": 1, "eval_every": 1}
    total = train(_cfg(**one)).curves["train/d_loss"]
    mean = train(_cfg(**one, d_loss_mean=True)).curves["train/d_loss"]
    torch.testing.assert_close(torch.as_tensor(mean), torch.as_tensor(total) / 2)
    a = train(_cfg(instance_noise=True, d_loss_mean=True))
    b = train(_cfg(instance_noise=True))
    assert not np.array_equal(a.final_mse, b.final_mse)  # the noise std read the other L_D


def test_new_options_resume_exactly():
    cfg = _cfg(step_order="g_first", d_loss_mean=True, instance_noise=True, monitor="restart",
               monitor_threshold=1e-6, monitor_window=5, monitor_from=0.0, monitor_until=0.5,
               lr_decay="step", lr_step=3, lr_gamma=0.9, **{"G.residual": True, "G.depth": 1})
    straight = train(cfg)
    states = []
    train(cfg, report=lambda p: states.append(p.checkpoint()) if p.iteration == 10 else None)
    resumed = train(cfg, state=states[0])
    assert np.array_equal(straight.final_mse, resumed.final_mse)
    assert np.array_equal(straight.restarts, resumed.restarts)


# -- residual monitoring ------------------------------------------------------------------------------
def _poisoned_at(cfg: Config, it: int, seed: int) -> dict:
    states = []
    train(cfg, report=lambda p: states.append(p.checkpoint()) if p.iteration == it else None)
    state = states[0]
    state["G"]["params"][seed, 0] = float("nan")
    return state


def test_monitoring_restarts_a_failing_seed_and_leaves_the_others_bit_identical():
    base = _cfg(iterations=60, monitor_window=10, monitor_from=0.0, monitor_until=0.5,
                monitor_threshold=1e6)
    state = _poisoned_at(base, 10, seed=1)
    plain = train(base, state=state)  # without monitoring the NaN seed is lost
    assert plain.diverged.tolist() == [False, True, False]
    watched = train(base.replace(monitor="restart"), state=state)
    assert watched.restarts.tolist() == [0, 1, 0]  # the NaN window tripped the rule once
    assert not watched.diverged.any() and np.isfinite(watched.final_mse).all()
    assert watched.seed_status()[1] != "diverged"
    assert np.array_equal(watched.final_mse[[0, 2]], plain.final_mse[[0, 2]])
    assert watched.summary()["eval/restarts"] == 1


def test_monitoring_abandons_a_seed_and_counts_it_failed():
    base = _cfg(iterations=60, monitor_window=10, monitor_from=0.0, monitor_until=0.5,
                monitor_threshold=1e6, failure_threshold=10.0)  # only the abandoned seed fails
    state = _poisoned_at(base, 10, seed=2)
    r = train(base.replace(monitor="abandon"), state=state)
    assert r.abandoned.tolist() == [False, False, True] and r.restarts.sum() == 0
    assert np.isinf(r.final_mse[2]) and r.failed[2] and not r.diverged[2]
    assert r.seed_status()[2] == "abandoned"
    assert r.summary()["eval/abandoned"] == 1 and r.failure_rate == pytest.approx(1 / 3)


def test_checks_follow_each_seeds_age_and_restarts_are_capped():
    # windows of 10 over 100 iterations, checked at ages 20 .. 30: a threshold nothing meets
    # trips every seed at iteration 20 (age 20), again at 40 (age 20 of its second life), then
    # the cap (2 restarts) leaves it be
    cfg = _cfg(iterations=100, monitor="restart", monitor_window=10, monitor_from=0.2,
               monitor_until=0.3, monitor_threshold=1e-30, monitor_restarts=2)
    r = train(cfg)
    assert r.restarts.tolist() == [2, 2, 2]
    assert np.isfinite(r.final_mse).all()
    assert train(cfg.replace(monitor_restarts=5)).restarts.tolist() == [5, 5, 5]  # 20, 40 .. 100
    with pytest.raises(ConfigError, match="monitor_from = 0.3"):
        _cfg(monitor="restart", monitor_from=0.3, monitor_until=0.3)


def test_monitoring_is_for_equations_only():
    with pytest.raises(ConfigError, match="monitor = 'restart'.*residual monitoring"):
        Config(problem="moons", monitor="restart")
    with pytest.raises(ConfigError, match="monitor_until = 0"):
        _cfg(monitor="restart", monitor_until=0.0)


# -- problem constants and presets ------------------------------------------------------------------
def test_problem_constants_change_the_problem_and_bad_ones_are_one_line_errors():
    cfg = preset("sho", source="paper", seeds=1)
    assert cfg.problem_args == {"v0": 1.0, "t_max": 6.28} and cfg.n_points == 400
    p = make_problem("sho", 400, **cfg.problem_args)
    assert p.grid()[-1, 0] == 6.28
    np.testing.assert_allclose(p.reference(p.grid())[:, 0], np.sin(p.grid()[:, 0]))
    assert Config.from_dict(cfg.to_dict()) == cfg  # problem.<name> keys round-trip
    with pytest.raises(ConfigError, match=r"problem.w0 = 1.*one of x0, v0, t_max"):
        Config.from_dict({"problem": "sho", "problem.w0": 1})
    with pytest.raises(ConfigError, match=r"problem.t_max = -1.*above the interval's start 0"):
        Config.from_dict({"problem": "sho", "problem.t_max": -1})
    with pytest.raises(ConfigError, match=r"problem.v0 = 'fast'.*finite number \(x'\(0\)\)"):
        Config.from_dict({"problem": "sho", "problem.v0": "fast"})
    with pytest.raises(ConfigError, match="'moons' has no constants"):
        Config.from_dict({"problem": "moons", "problem.v0": 1})


def test_nlo_constants_reach_its_numerical_reference():
    p = make_problem("nlo", 50, v0=0.7, t_max=12.56)
    t = p.grid()
    x = p.reference(t)[:, 0]
    h = t[1, 0] - t[0, 0]
    assert abs((x[1] - x[0]) / h - 0.7) < 0.05 and t[-1, 0] == 12.56


def test_every_paper_preset_builds_and_rescales_with_the_same_total_decay():
    for problem in PAPER:
        for method in ("gan", "l2"):
            cfg = preset(problem, method, source="paper")
            assert cfg.G.residual and cfg.lr_decay == "step" and cfg.step_order == "g_first"
    def decay(c):  # the learning rate's total fall over the run
        return c.gamma ** (c.iterations / c.lr_step)

    cfg = preset("sho", source="paper")
    short = rescaled(cfg, 0.25)
    assert short.iterations == 3000 and short.lr_step == 5  # 19 / 4 rounds to 5 ...
    assert decay(short) == pytest.approx(decay(cfg), rel=1e-9)  # ... and gamma absorbs it
    coo = preset("coo", source="paper")
    assert decay(rescaled(coo, 0.02)) == pytest.approx(decay(coo), rel=1e-9)
    with pytest.raises(ConfigError, match="source = 'arxiv'"):
        preset("exp", source="arxiv")
    with pytest.raises(ConfigError, match="paper's problems are"):
        preset("moons", source="paper")


# the published exp config's convergence (gansweep's exp preset): tests/test_convergence.py
