"""Exactness: conditions hold to round-off, jet derivatives match finite differences, and every
reference solution satisfies its own equation."""

import numpy as np
import pytest
import torch

from gan_core import DE_PROBLEMS, PROBLEMS, Jet, NetConfig, make_problem
from gan_core.networks import BatchedMLP
from gan_core.problems.pdes import burgers_reference

SEEDS = 3


@pytest.fixture(autouse=True)
def _float64():
    """Exactness checks run in float64; restored after each test so no other module inherits it."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _net(problem, activation="tanh", residual=False, output_tanh=False, seed=0):
    cfg = NetConfig(width=16, depth=3, activation=activation, residual=residual,
                    output_tanh=output_tanh)
    return BatchedMLP(SEEDS, problem.dim, problem.n_out, cfg, seed=seed, stream=0).double()


def _solution(problem, net, X, order):
    """Trial-solution jet at points X (n, dim), one row per seed."""
    Xk = torch.as_tensor(X).expand(SEEDS, *X.shape).contiguous()
    coords = Jet.coordinates(Xk, order)
    return problem.solution(net(problem.net_input(coords)), coords)


def _boundary_points(problem, axis, at, m=17):
    """m points on the face where coordinate `axis` equals `at`, spread over the other axes."""
    rng = np.random.default_rng(1)
    X = np.stack([rng.uniform(lo, hi, m) for lo, hi in problem.bounds], axis=1)
    X[:, axis] = at
    return X


# (axis, side, derivative order, component, expected(X)) for every exact condition
CONDITIONS = {
    "exp": [(0, 0.0, 0, 0, lambda X: 1.0)],
    "sho": [(0, 0.0, 0, 0, lambda X: 0.0), (0, 0.0, 1, 0, lambda X: 0.5)],
    "nlo": [(0, 0.0, 0, 0, lambda X: 0.0), (0, 0.0, 1, 0, lambda X: 0.5)],
    "sho_system": [(0, 0.0, 0, 0, lambda X: 0.0), (0, 0.0, 0, 1, lambda X: 0.5)],
    "coo": [(0, 0.0, 0, 0, lambda X: 1.0), (0, 0.0, 0, 1, lambda X: 0.0)],
    "sir": [(0, 0.0, 0, 0, lambda X: 0.99), (0, 0.0, 0, 1, lambda X: 0.01),
            (0, 0.0, 0, 2, lambda X: 0.0)],
    "pos": [(0, 0.0, 0, 0, lambda X: 0.0), (0, 1.0, 0, 0, lambda X: 0.0),
            (1, 0.0, 0, 0, lambda X: 0.0), (1, 1.0, 0, 0, lambda X: 0.0)],
    "hea": [(1, 0.0, 0, 0, lambda X: np.sin(np.pi * X[:, 0])), (0, 0.0, 0, 0, lambda X: 0.0),
            (0, 1.0, 0, 0, lambda X: 0.0)],
    "wav": [(1, 0.0, 0, 0, lambda X: np.sin(np.pi * X[:, 0])), (1, 0.0, 1, 0, lambda X: 0.0),
            (0, 0.0, 0, 0, lambda X: 0.0), (0, 1.0, 0, 0, lambda X: 0.0)],
    "burgers": [(1, 0.0, 0, 0, lambda X: 1 / np.cosh(X[:, 0]))],
}


def test_every_problem_has_conditions_listed():
    assert set(CONDITIONS) == set(DE_PROBLEMS)


@pytest.mark.parametrize("key", sorted(DE_PROBLEMS))
@pytest.mark.parametrize("seed", [0, 1])
def test_conditions_hold_to_roundoff(key, seed):
    problem = make_problem(key)
    net = _net(problem, seed=seed)
    for axis, at, deriv, comp, expected in CONDITIONS[key]:
        X = _boundary_points(problem, axis, at)
        u = _solution(problem, net, X, order=max(deriv, 1))
        got = (u.value if deriv == 0 else u.d(axis))[..., comp].detach().numpy()  # (seeds, m)
        want = np.broadcast_to(expected(X), got.shape)
        # the raw network output is O(1) and far from the condition: round-off is all that is left
        assert np.abs(got - want).max() < 1e-12, (key, axis, at, deriv, comp)
        raw = net(torch.as_tensor(X).expand(SEEDS, *X.shape))
        assert raw.abs().max() > 1e-3  # the net is not trivially zero


def _fd_check(problem, net, X, h=1e-4, tol=2e-6):
    u = _solution(problem, net, X, order=2)
    for i in range(problem.dim):
        e = np.zeros(problem.dim)
        e[i] = h
        up = _solution(problem, net, X + e, order=0).value
        um = _solution(problem, net, X - e, order=0).value
        u0 = u.value
        d1 = (up - um) / (2 * h)
        d2 = (up - 2 * u0 + um) / h ** 2
        scale1 = 1 + d1.abs().max()
        scale2 = 1 + d2.abs().max()
        assert ((u.d(i) - d1).abs().max() / scale1) < tol, (i, "first derivative")
        assert ((u.dd(i) - d2).abs().max() / scale2) < 1e3 * tol, (i, "second derivative")


@pytest.mark.parametrize("key", sorted(DE_PROBLEMS))
def test_jet_derivatives_match_finite_differences(key):
    problem = make_problem(key)
    rng = np.random.default_rng(2)
    X = np.stack([rng.uniform(lo, hi, 25) for lo, hi in problem.bounds], axis=1)
    _fd_check(problem, _net(problem), X)


@pytest.mark.parametrize("activation", ["tanh", "swish", "sin", "softplus", "relu", "leaky_relu"])
@pytest.mark.parametrize("residual,output_tanh", [(False, False), (True, True)])
def test_activation_derivatives(activation, residual, output_tanh):
    """The raw network's jet (2 axes, 2nd order) against finite differences, every activation."""
    problem = make_problem("hea")
    net = _net(problem, activation, residual, output_tanh)
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (60, 2))
    h = 1e-4

    def values(model, Y):
        return model(torch.as_tensor(Y).expand(SEEDS, *Y.shape).contiguous())

    def net_jet(Y, order):
        Yk = torch.as_tensor(Y).expand(SEEDS, *Y.shape).contiguous()
        coords = Jet.coordinates(Yk, order)
        return net(coords[0].cat(coords[1:]))

    with torch.no_grad():
        u = net_jet(X, 2)
        smooth = np.ones(len(X), dtype=bool)
        if activation in ("relu", "leaky_relu"):  # keep points with no kink within the FD step
            # the same weights without the output tanh are piecewise linear: kinks show there
            linear = _net(problem, activation, residual, output_tanh=False)
            v = lambda Y: values(linear, Y)  # noqa: E731
            for i in range(2):
                e = np.zeros(2)
                e[i] = h
                kink = v(X + e) - 2 * v(X) + v(X - e)
                smooth &= kink.abs().amax(dim=(0, 2)).numpy() < 1e-13
            assert smooth.sum() > 10
        for i in range(2):
            e = np.zeros(2)
            e[i] = h
            up, um = net_jet(X + e, 0).value, net_jet(X - e, 0).value
            d1 = ((up - um) / (2 * h))[:, smooth]
            d2 = ((up - 2 * u.value + um) / h ** 2)[:, smooth]
            assert (u.d(i)[:, smooth] - d1).abs().max() < 1e-6 * (1 + d1.abs().max())
            assert (u.dd(i)[:, smooth] - d2).abs().max() < 1e-3 * (1 + d2.abs().max())
            assert u.d(i).abs().max() > 1e-3  # derivatives are not trivially zero


def _reference_residual(problem, X, h):
    """Residual of the reference at X with its derivatives from central differences."""
    ref = problem.reference
    u0 = ref(X)
    d1, d2 = [], []
    for i in range(problem.dim):
        e = np.zeros(problem.dim)
        e[i] = h
        up, um = ref(X + e), ref(X - e)
        d1.append((up - um) / (2 * h))
        d2.append((up - 2 * u0 + um) / h ** 2)
    t = lambda a: torch.as_tensor(np.asarray(a))[None]  # noqa: E731
    u = Jet.from_parts(t(u0), t(np.stack(d1)), t(np.stack(d2)))
    coords = Jet.coordinates(torch.as_tensor(X)[None], order=2)
    lhs, rhs = problem.equation(u, coords)
    return (lhs - rhs).numpy()


@pytest.mark.parametrize("key", sorted(set(DE_PROBLEMS) - {"burgers"}))
def test_reference_satisfies_equation(key):
    problem = make_problem(key)
    rng = np.random.default_rng(4)
    lo_hi = [(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo)) for lo, hi in problem.bounds]
    X = np.stack([rng.uniform(lo, hi, 200) for lo, hi in lo_hi], axis=1)
    r = _reference_residual(problem, X, h=1e-4)
    assert np.abs(r).max() < 1e-5, np.abs(r).max()
    # and the residual check can fail: a perturbed reference does not satisfy the equation
    orig = problem.reference
    problem.reference = lambda X: orig(X) + 0.01 * np.sin(3 * X[:, :1] + X[:, -1:])
    assert np.abs(_reference_residual(problem, X, h=1e-4)).max() > 1e-4


def test_burgers_reference_satisfies_equation_before_the_shock():
    nu = PROBLEMS["burgers"].nu
    x, t, U = burgers_reference(nu)  # (nx,), (nt,), (nt, nx); x closes the periodic box
    U = U[:, :-1]
    dx, dt = x[1] - x[0], t[1] - t[0]
    k = 2 * np.pi * np.fft.rfftfreq(U.shape[1], d=dx)
    u_x = np.fft.irfft(1j * k * np.fft.rfft(U, axis=1), U.shape[1], axis=1)
    u_xx = np.fft.irfft(-k * k * np.fft.rfft(U, axis=1), U.shape[1], axis=1)
    u_t = (U[2:] - U[:-2]) / (2 * dt)
    r = u_t + U[1:-1] * u_x[1:-1] - nu * u_xx[1:-1]
    # well before the shock (t <= 1) and away from the periodic seam at x = +-5, where sech x is
    # not periodic and the spectral solution rings a little; what is left is mostly the O(dt^2)
    # error of the central difference in t on the stored frames (dt = 0.01)
    smooth = r[t[1:-1] <= 1.0][:, np.abs(x[:-1]) <= 4.5]
    assert np.abs(smooth).max() < 5e-4, np.abs(smooth).max()
    assert np.abs(u_t[t[1:-1] <= 1.0]).max() > 0.1  # the check is not on a standing solution
    assert np.abs(u_x[-1]).max() > 10  # and a steep front has formed by t = 2.5
    assert np.allclose(U[0], 1 / np.cosh(x[:-1]), atol=1e-12)
    # mass is conserved on the periodic box (the flux form keeps it to solver tolerance)
    mass = U.sum(axis=1) * dx
    assert np.abs(mass - mass[0]).max() < 1e-4 * mass[0]  # mass = pi; solver tolerance
