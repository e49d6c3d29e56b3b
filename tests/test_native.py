"""The fast path against the PyTorch reference it replaces: the native network kernels
(gan_core.native: outputs, parameter and input gradients, spectral norm, dropout, Adam), the fused
steps (gan_core.fused: the gradients each step applies, then losses and weights through train()
over a few iterations with every option), the same final MSE on a short seeded run, and the
fast_path each run reports, including the fallback when the kernels cannot be built.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core import Config, Progress, losses, native, train
from gan_core.fused import Steps
from gan_core.jets import Jet
from gan_core.networks import BatchedMLP
from gan_core.optim import BatchedAdam
from gan_core.problems import make_problem
from gan_core.tasks import DETask

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _kernels():
    assert native.load() is not None, native.error()  # no compiler here: the fast path is off


def _close(got, want, rtol=1e-5):
    """Equal to round-off: the largest difference, relative to the largest entry."""
    got, want = torch.as_tensor(got).double(), torch.as_tensor(want).double()
    assert got.shape == want.shape
    err = float((got - want).abs().max() / want.abs().max().clamp(min=1e-30))
    assert err < rtol, err


# -- the network kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation,residual,sn,order,dim,out_tanh,dropout", [
    ("tanh", True, True, 2, 1, False, 0.0),
    ("sin", True, False, 2, 2, False, 0.0),
    ("swish", False, True, 1, 2, False, 0.0),
    ("softplus", False, False, 2, 1, True, 0.0),
    ("tanh", False, False, 1, 1, False, 0.5),
    ("relu", False, False, 0, 0, False, 0.3),
    ("leaky_relu", True, True, 0, 0, True, 0.2),
])
def test_native_network_matches_the_reference(activation, residual, sn, order, dim, out_tanh,
                                              dropout):
    K, n, n_in = 3, 37, max(dim, 2)  # 37 points: the kernels pad them to 48
    cfg = Config.from_dict({"D.width": 13, "D.depth": 2, "D.activation": activation,
                            "D.residual": residual, "D.output_tanh": out_tanh,
                            "D.dropout": dropout}).D
    ref = BatchedMLP(K, n_in, 2, cfg, seed=1, stream=0, spectral_norm=sn)
    with torch.no_grad():
        ref.params.mul_(1.5)  # away from the init's small weights
    fast = copy.deepcopy(ref)
    fast.native = True
    x = torch.randn(K, 1 + dim * order, n, n_in)
    w = torch.randn(K, 1 + dim * order, n, 2)
    results = []
    for net in (ref, fast):
        for _ in range(2):  # a second forward: spectral norm's vector and dropout's generator moved
            xi = x.clone().requires_grad_(True)
            net.params.grad = None
            y = net(Jet(xi, dim, order))
            (y.a * w).sum().backward()
        results.append((y.a.detach(), net.params.grad, xi.grad,
                        net.u.clone() if sn else torch.zeros(1),
                        net.dropout_rng.clone() if dropout else torch.zeros(1)))
    for got, want in zip(*results[::-1]):
        _close(got, want)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.3, 0.75)])  # torch's lerp: both branches
def test_native_adam_is_batched_adam(betas):
    g = torch.Generator().manual_seed(3)
    p = torch.randn(4, 50, generator=g)
    opts = []
    for native_ in (False, True):
        param = torch.nn.Parameter(p.clone())
        opt = BatchedAdam([param], 0.01, betas, native=native_)
        opt.scale.copy_(torch.tensor([1.0, 0.5, 0.0, 2.0], dtype=torch.float64))
        opts.append((param, opt))
    for step in range(6):
        grad = torch.randn(4, 50, generator=g) * 10.0 ** (step - 3)
        for param, opt in opts:
            param.grad = grad.clone()
            opt.step()
            if step == 2:
                opt.reset(torch.tensor([1]))  # a restarted replica starts its count over
    (p_ref, o_ref), (p_nat, o_nat) = opts
    _close(p_nat.detach(), p_ref.detach(), rtol=1e-6)
    _close(o_nat.m[0], o_ref.m[0], rtol=1e-6)
    _close(o_nat.v[0], o_ref.v[0], rtol=1e-6)
    assert torch.equal(o_nat.steps, o_ref.steps)


# -- the fused steps: the gradient each applies, against train()'s PyTorch steps -----------------------
def _parts(cfg: Config):
    """What train() builds for cfg: task, G, D, their Adams, the fused steps, a generator."""
    problem = make_problem(cfg.problem, cfg.n_points, **cfg.problem_args)
    task = DETask(problem, cfg, torch.device("cpu"), torch.float32)
    groups = problem.n_eq if cfg.d_per_equation else 1
    G = BatchedMLP(cfg.seeds, task.n_in, task.n_out, cfg.G, cfg.seed, stream=0)
    D = None
    if cfg.adversarial:
        d_in = problem.n_eq // groups + (problem.dim if cfg.conditional_d else 0)
        D = BatchedMLP(cfg.seeds * groups, d_in, 1, cfg.D, cfg.seed, stream=1,
                       spectral_norm=cfg.spectral_norm)
    opt_G = BatchedAdam([G.params], cfg.G.lr, cfg.G.betas, native=True)
    opt_D = BatchedAdam([D.params], cfg.D.lr, cfg.D.betas, native=True) if D else None
    rng = torch.Generator().manual_seed(5)
    return task, G, D, opt_G, opt_D, Steps(cfg, task, G, D, opt_G, opt_D, rng), rng, groups


def _d_input(z, X, groups, cond):
    """train()'s d_input without instance noise: (K, n, E) -> D's (K * groups, n, channels)."""
    if groups > 1:
        z = z.permute(0, 2, 1).reshape(-1, z.shape[1], 1)
        X = X.repeat_interleave(groups, dim=0)
    return torch.cat([z, X], dim=-1) if cond else z


@pytest.mark.parametrize("overrides", [
    {"spectral_norm": True, "conditional_d": True, "G.residual": True},
    {"problem": "sho_system", "d_per_equation": True, "D.residual": True, "G.activation": "sin"},
    {"problem": "hea", "n_points": 9, "method": "l2", "G.activation": "swish"},
    {"problem": "sho", "method": "huber", "huber_delta": 0.05},
])
def test_fused_steps_apply_the_reference_gradients(overrides):
    cfg = Config.from_dict({"problem": "exp", "seeds": 3, "n_points": 30, **overrides})
    task, G, D, _, _, steps, rng, groups = _parts(cfg)
    X = task.draw(rng)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    # the reference: train()'s G loss through the PyTorch modules, one backward
    real, fake = task.pair(G_ref, X, rng)
    if D is None:
        loss = losses.residual_loss(cfg.method, fake - real, cfg.huber_delta)
    else:
        D_ref.requires_grad_(False)
        loss = losses.bce(D_ref(_d_input(fake, X, groups, cfg.conditional_d)), 1.0, cfg.seeds)
    loss.sum().backward()
    steps.g_grad = torch.empty_like(G.params)
    got_loss, _, got_fake = steps.g_step(X, None)
    _close(got_loss, loss.detach())
    _close(got_fake, fake.detach())
    _close(steps.g_grad, G_ref.params.grad)
    if D is None:
        return
    # D's step on that pair: BCE(D(0), 1) + BCE(D(r), 0)
    D_ref.requires_grad_(True)
    d_loss = (losses.bce(D_ref(_d_input(real, X, groups, cfg.conditional_d)), 1.0, cfg.seeds)
              + losses.bce(D_ref(_d_input(fake.detach(), X, groups, cfg.conditional_d)), 0.0,
                           cfg.seeds))
    d_loss.sum().backward()
    steps.d_grad = torch.empty_like(D.params)
    _close(steps.d_steps(real, got_fake, X, None), d_loss.detach())
    _close(steps.d_grad, D_ref.params.grad)
    if cfg.spectral_norm:  # three training forwards moved the power iteration alike
        _close(D.u, D_ref.u)


# -- the fused steps through train(): every option, losses and weights --------------------------------
def _run(cfg: Config) -> tuple[dict, list[Progress], object]:
    seen: list[Progress] = []
    result = train(cfg, report=seen.append)
    return seen[-1].checkpoint(), seen, result


@pytest.mark.parametrize("overrides", [
    {},
    {"spectral_norm": True, "instance_noise": True, "soft_labels": 0.2, "conditional_d": True,
     "g_iters": 3, "d_iters": 2},
    {"step_order": "g_first", "d_loss_mean": True, "D.dropout": 0.3, "G.residual": True,
     "D.residual": True, "G.activation": "sin", "lr_decay": "step", "lr_step": 2,
     "lr_gamma": 0.5},
    {"problem": "sho_system", "d_per_equation": True, "conditional_d": True,
     "instance_noise": True},
    {"problem": "pos", "n_points": 7, "method": "l1"},
    {"problem": "coo", "n_points": 40, "method": "huber", "huber_delta": 0.01},
    {"monitor": "restart", "monitor_window": 2, "monitor_threshold": 1e-12, "monitor_from": 0.0,
     "monitor_until": 1.0},
    # a new equation's remedies: the output and residual at unit scale, a growing interval
    {"problem": "sho_system", "output_scale": "auto", "curriculum": 0.5, "curriculum_start": 0.2,
     "lr_decay": "exp", "lr_end": 0.1},
    {"problem": "hea", "n_points": 6, "output_scale": "auto", "curriculum": 1.0, "method": "l2"},
])
def test_fused_training_follows_the_reference(overrides):
    cfg = Config.from_dict({"problem": "exp", "method": "gan", "seeds": 3, "iterations": 6,
                            "eval_every": 1, **overrides})
    ref_state, ref_seen, ref = _run(cfg.replace(fast_path="reference"))
    state, seen, fused = _run(cfg)
    assert fused.fast_path == "fused" and all(p.fast_path == "fused" for p in seen)
    for key in ("train/g_loss", "train/d_loss", "eval/mse"):
        _close(fused.curves[key], ref.curves[key], rtol=1e-4)
    for net in ("G", "D"):
        if state[net] is not None:
            _close(state[net]["params"], ref_state[net]["params"], rtol=1e-4)
    _close(state["loss_G"], ref_state["loss_G"], rtol=1e-4)
    _close(state["opt_G"]["v"][0], ref_state["opt_G"]["v"][0], rtol=1e-3)
    assert np.array_equal(fused.restarts, ref.restarts)
    if cfg.monitor == "restart":  # the case is there to restart seeds inside the fused batch
        assert ref.restarts.sum() > 0


def test_a_short_seeded_run_reaches_the_same_mse():
    # sho, G 20x2 sin at lr 3e-3 and a slow D, 300 iterations: the MSE falls ~20x and the two
    # paths stay together (measured 6.5e-6 apart; a GAN at a high learning rate, e.g. the paper's
    # exp at 0.09, amplifies round-off into different runs within 150 iterations on either path)
    cfg = Config.from_dict({
        "problem": "sho", "seeds": 4, "iterations": 300, "eval_every": 100, "lr_decay": "exp",
        "lr_gamma": 0.998, "G.width": 20, "G.depth": 2, "G.activation": "sin", "G.lr": 0.003,
        "G.betas": (0.9, 0.99), "D.width": 32, "D.depth": 2, "D.lr": 2e-4,
        "D.betas": (0.5, 0.999)})
    ref, fused = train(cfg.replace(fast_path="reference")), train(cfg)
    assert fused.fast_path == "fused"
    np.testing.assert_allclose(fused.final_mse, ref.final_mse, rtol=1e-3)
    assert fused.median_mse < 0.1 * train(cfg.replace(iterations=1, eval_every=1)).median_mse


# -- which path a run takes, and why -------------------------------------------------------------------
@pytest.mark.parametrize("overrides,expected", [
    ({}, "fused"),
    ({"method": "l2", "problem": "sho"}, "fused"),
    ({"problem": "nlo"}, "native (nlo's residual is not affine in the network output"),
    ({"method": "wgan_gp"}, "native (method wgan_gp: the fused steps cover gan, l2, l1, huber"),
    ({"problem": "moons", "G.width": 16, "D.width": 16},
     "native (the fused steps are for differential equations"),
    ({"dtype": "float64"}, "reference (dtype float64"),
    ({"causal": 1.0}, "native (causal weighting: its per-point weights run in PyTorch"),
    ({"fast_path": "reference"}, "reference (fast_path = 'reference')"),
])
def test_each_run_says_which_path_it_took(overrides, expected):
    seen: list[Progress] = []
    cfg = Config.from_dict({"problem": "exp", "seeds": 2, "iterations": 2, "eval_every": 1,
                            **overrides})
    r = train(cfg, report=seen.append)
    assert r.fast_path.startswith(expected), r.fast_path
    assert [p.fast_path for p in seen] == [r.fast_path] * 2
    assert np.isfinite(r.final_mse).all()


def test_torch_compile_keeps_the_reference_path():
    assert native.fast_path(Config(compile=True)).startswith("reference (compile = True")


def test_without_a_compiler_runs_take_the_reference_path_and_say_why(tmp_path):
    code = ("from gan_core import Config, train; "
            "r = train(Config(problem='exp', seeds=2, iterations=3, eval_every=1)); "
            "print(r.fast_path); print(r.final_mse.tolist())")
    env = {**os.environ, "GANSWEEP_CACHE": str(tmp_path), "CXX": str(tmp_path / "no-such-c++"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    path, mse = proc.stdout.strip().splitlines()
    assert path.startswith("reference (native kernels unavailable"), path
    assert "no-such-c++" in path
    assert np.isfinite(eval(mse)).all()
