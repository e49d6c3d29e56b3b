"""Fused steps: train()'s G step and D step on a differential equation, each one native call.

With the networks on native kernels (native.py), what is left of a step in PyTorch is small but
many: the trial solution's and the residual's jet arithmetic, the loss, the autograd bookkeeping,
Adam, a hundred tiny operations per step. For an equation whose residual is affine in the network
output N (every linear equation here: exp, sho, sho_system, coo, pos, hea, wav), the residual at
each point is

    r = b + M N        (b: (K, n, E), M: (K, S, n, n_out, E); S jet streams of N's n_out outputs)

with b and M depending on the points only. So once per draw of the points, ``_coefficients``
computes b and M from the problem's own code (solution, equation) on probe outputs N = 0 and
N = e_{s,c}, in float64; then a whole G step (G forward, r, D forward, loss, D backward, G
backward, Adam) and a whole D step (D on real and fake, BCE, backward, Adam) are one call each into
csrc/mlp.cpp, seed after seed with each seed's activations in cache. Random numbers (instance
noise, soft labels, D's dropout masks) are drawn here, from the same generators in the same order
as train()'s PyTorch steps, which are the reference these steps are tested against
(tests/test_native.py: the same losses, residuals and weights to round-off).

``Steps.why_not(config, problem)`` says why a run cannot use them (then the networks alone run
natively, see native.py); a residual that is not affine in N (nlo, sir, burgers) is found by a
check on random points and outputs when Steps is built.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch

from . import native
from .jets import Jet

Tensor = torch.Tensor

METHODS = {"gan": 0, "l2": 1, "l1": 2, "huber": 3}
_P, _I64, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double


class _Adam(ctypes.Structure):  # csrc/mlp.cpp: struct Adam
    _fields_ = [("p", _P), ("m", _P), ("v", _P), ("steps", _P), ("scale", _P),
                ("lr", _D), ("b1", _D), ("b2", _D), ("eps", _D)]


class _Step(ctypes.Structure):  # csrc/mlp.cpp: struct Step
    _fields_ = [("K", _I64), ("n", _I64), ("E", _I64), ("dim", _I64), ("groups", _I64),
                ("cond", _I64), ("method", _I64), ("d_mean", _I64), ("d_masks", _I64),
                ("huber_delta", _D), ("gspec", _P), ("g_in", _P), ("g", _Adam), ("b", _P),
                ("M", _P), ("dspec", _P), ("d", _Adam), ("du", _P), ("X", _P),
                ("masks_a", _P), ("masks_b", _P), ("noise_a", _P), ("noise_b", _P),
                ("real", _P), ("fake", _P), ("t_real", _P), ("t_fake", _P), ("loss", _P),
                ("r", _P), ("grad", _P)]


class NotAffine(ValueError):
    """The problem's residual is not affine in the network output: the fused steps do not apply."""


class Steps:
    """The G step and D steps of train() for one run, on the native kernels."""

    @staticmethod
    def why_not(cfg: Any, problem: Any) -> str | None:
        """Why a run of `cfg` on `problem` cannot use the fused steps, or None."""
        if problem.family != "de":
            return "the fused steps are for differential equations"
        if cfg.method not in METHODS:
            return f"method {cfg.method}: the fused steps cover {', '.join(METHODS)}"
        if cfg.causal:
            return "causal weighting: its per-point weights run in PyTorch"
        return None

    def __init__(self, cfg: Any, task: Any, G: torch.nn.Module, D: torch.nn.Module | None,
                 opt_G: Any, opt_D: Any, rng: torch.Generator):
        self.cfg, self.task, self.problem = cfg, task, task.problem
        self.G, self.D, self.opt_G, self.opt_D, self.rng = G, D, opt_G, opt_D, rng
        p = self.problem
        self.K, self.n, self.E, self.dim = cfg.seeds, task.n, p.n_eq, p.dim
        self.order, self.n_out = p.order, p.n_out
        self.S = 1 + self.dim * self.order
        self.groups = p.n_eq if cfg.d_per_equation else 1
        self._probes = self._probe_outputs()
        self._check_affine()
        self._X: Tensor | None = None
        self._draw_tensors: list[Tensor] = []  # G's input jet, b, M, X: what the struct points to
        self._zeros = torch.zeros(self.K, self.n, self.E)
        self._keep: list[Any] = []  # what the C struct points to, kept alive
        if ctypes.sizeof(_Step) != native.load().gc_step_size():
            raise RuntimeError("gan_core/fused.py's _Step does not match csrc/mlp.cpp's Step")
        self._st = self._struct()
        # where a step also writes the gradient it applied (tests hold it to PyTorch's): None, or
        # a tensor shaped like G's (D's) parameters
        self.g_grad: Tensor | None = None
        self.d_grad: Tensor | None = None

    # -- the residual's coefficients -------------------------------------------------------------
    def _probe_outputs(self) -> Tensor:
        """N = 0, then N = 1 in one (stream, output) at a time: (Q * K, S, n, n_out), float64."""
        Q = 1 + self.S * self.n_out
        N = torch.zeros(Q, self.K, self.S, self.n, self.n_out, dtype=torch.float64)
        for q in range(1, Q):
            s, c = divmod(q - 1, self.n_out)
            N[q, :, s, :, c] = 1.0
        return N.reshape(Q * self.K, self.S, self.n, self.n_out)

    def _residual(self, N: Tensor, X: Tensor) -> Tensor:
        """The problem's residual lhs - rhs (K', n, E) for outputs N (K', S, n, n_out) at X."""
        coords = Jet.coordinates(X, self.order)
        lhs, rhs = self.task.residual_sides(self.task.solution(Jet(N, self.dim, self.order),
                                                               coords), coords)
        return lhs - rhs

    def _coefficients(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """b (K, n, E) and M (K, S, n, n_out, E), float64, with r = b + M N at points X."""
        Q = 1 + self.S * self.n_out
        r = self._residual(self._probes, X.double().repeat(Q, 1, 1))
        r = r.reshape(Q, self.K, self.n, self.E)
        b = r[0]
        M = (r[1:] - b).reshape(self.S, self.n_out, self.K, self.n, self.E).permute(2, 0, 3, 1, 4)
        return b, M

    def _check_affine(self) -> None:
        """r(N) = b + M N for random points and outputs, or NotAffine."""
        g = torch.Generator().manual_seed(0)
        grid = self.task.grid.double()
        X = grid + torch.as_tensor(self.problem.noise_std()) * torch.randn(
            (self.K, *grid.shape), generator=g, dtype=torch.float64)
        N = torch.randn(self.K, self.S, self.n, self.n_out, generator=g, dtype=torch.float64)
        b, M = self._coefficients(X)
        direct = self._residual(N, X)
        affine = b + torch.einsum("ksnce,ksnc->kne", M, N)
        err = float((direct - affine).abs().max() / (direct.abs().max() + 1.0))
        if not err < 1e-9:
            raise NotAffine(f"{self.problem.key}'s residual is not affine in the network output "
                            f"(relative deviation {err:.1e}): the fused steps do not apply")

    def _draw(self, X: Tensor) -> None:
        """Points X (K, n, dim) of this iteration: G's input jet and the residual's b and M."""
        if X is self._X:
            return
        self._X = X
        g_in = self.problem.net_input(Jet.coordinates(X, self.order)).a.contiguous()
        b, M = self._coefficients(X)
        self._draw_tensors = [g_in, b.float().contiguous(), M.float().contiguous(),
                              X.contiguous()]
        st = self._st
        st.g_in, st.b, st.M, st.X = (t.data_ptr() for t in self._draw_tensors)

    # -- the C struct ------------------------------------------------------------------------------
    def _adam(self, opt: Any) -> _Adam:
        (p,) = opt.params
        return _Adam(p.data_ptr(), opt.m[0].data_ptr(), opt.v[0].data_ptr(),
                     opt.steps.data_ptr(), opt.scale.data_ptr(), opt.lr, opt.betas[0],
                     opt.betas[1], opt.eps)

    def _spec(self, net: torch.nn.Module, dim: int, order: int) -> Any:
        spec = (ctypes.c_int64 * 10)(*native.spec(net, dim, order))
        self._keep.append(spec)
        return ctypes.addressof(spec)

    def _struct(self) -> _Step:
        cfg, D = self.cfg, self.D
        st = _Step(K=self.K, n=self.n, E=self.E, dim=self.dim, groups=self.groups,
                   cond=int(cfg.conditional_d), method=METHODS[cfg.method],
                   d_mean=int(cfg.d_loss_mean), huber_delta=cfg.huber_delta)
        st.gspec = self._spec(self.G, self.dim, self.order)
        if D is not None:
            st.dspec = self._spec(D, 0, 0)
            st.d_masks = cfg.D.depth if cfg.D.dropout else 0
        self._point_at_weights(st)
        return st

    def _point_at_weights(self, st: _Step) -> None:
        """The struct at the nets' parameters, spectral-norm vectors and Adam states: set again
        before every step (train() updates them in place, but a tensor replaced by another, e.g.
        by a future load, must not leave the kernels writing to freed memory)."""
        st.g = self._adam(self.opt_G)
        if self.D is not None:
            st.d = self._adam(self.opt_D)
            st.du = self.D.u.data_ptr() if self.D.spectral_norm else None

    def _d_masks(self) -> Tensor | None:
        """D's dropout masks for one forward of every D replica, (K * groups, depth, n, width)."""
        if not self.cfg.D.dropout:
            return None
        keep = self.D._keep(self.K * self.groups, self.n, self.cfg.D.depth)
        return (keep.to(torch.float32) / (1 - self.cfg.D.dropout)).contiguous()

    def _noise(self, inst: Tensor | None) -> Tensor | None:
        """Instance noise for D's input (K, n, E): what train()'s d_input adds."""
        if inst is None:
            return None
        return (inst * torch.randn((self.K, self.n, self.E), generator=self.rng)).contiguous()

    # -- the steps --------------------------------------------------------------------------------
    def g_step(self, X: Tensor, inst: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """One G step: (K,) loss, real (zeros) and fake (the residual), as before the update."""
        self._draw(X)
        st = self._st
        noise = self._noise(inst) if self.D is not None else None
        masks = self._d_masks() if self.D is not None else None
        loss, r = torch.empty(self.K), torch.empty(self.K, self.n, self.E)
        st.noise_a, st.masks_a = _ptr(noise), _ptr(masks)
        st.loss, st.r, st.grad = loss.data_ptr(), r.data_ptr(), _ptr(self.g_grad)
        self._point_at_weights(st)
        self.opt_G.steps += 1
        native.load().gc_g_step(ctypes.byref(st))
        return loss, self._zeros, r

    def d_steps(self, real: Tensor, fake: Tensor, X: Tensor, inst: Tensor | None) -> Tensor:
        """cfg.d_iters D steps on one (real, fake) pair: the last (K,) loss."""
        self._draw(X)
        st = self._st
        real, fake = real.contiguous(), fake.contiguous()
        st.real, st.fake = real.data_ptr(), fake.data_ptr()
        R, soft = self.K * self.groups, self.cfg.soft_labels
        loss = torch.empty(self.K)
        for _ in range(self.cfg.d_iters):
            noise_r, noise_f = self._noise(inst), self._noise(inst)
            masks_r, masks_f = self._d_masks(), self._d_masks()
            t_real = 1.0 - soft * torch.rand((R, self.n), generator=self.rng) if soft else None
            t_fake = soft * torch.rand((R, self.n), generator=self.rng) if soft else None
            loss = torch.empty(self.K)
            st.noise_a, st.noise_b = _ptr(noise_r), _ptr(noise_f)
            st.masks_a, st.masks_b = _ptr(masks_r), _ptr(masks_f)
            st.t_real, st.t_fake = _ptr(t_real), _ptr(t_fake)
            st.loss, st.grad = loss.data_ptr(), _ptr(self.d_grad)
            self._point_at_weights(st)
            self.opt_D.steps += 1
            native.load().gc_d_step(ctypes.byref(st))
        return loss


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()
