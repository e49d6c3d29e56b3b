"""The fast path: gan_core's batched MLP (with Taylor jets) and Adam as native CPU kernels.

Where the time goes in eager PyTorch on these tiny networks is not the FLOPs but the hundreds of
small kernels per step (a bmm, a bias, an activation with its jet products, their backwards, per
layer). ``csrc/mlp.cpp`` runs a whole network, forward or backward, for every replica in one call,
with each replica's activations kept in cache, and Adam in one pass over the flat parameters. The
problem's maths (trial solution, residual), the losses and the loop stay in PyTorch, so every
problem and method runs through the same code; the networks and the optimiser switch kernels.

The kernels are plain C++ with a C interface, built once per machine at first use (g++ -O3
-march=native: a few seconds) into $GANSWEEP_CACHE/native (default ~/.cache/gansweep/native),
named by a hash of the source and the CPU's flags, and called through ctypes on the tensors'
memory. Every process after the first (every Ray worker) only loads the library; a node with
another CPU builds its own. ``fast_path(config)`` says whether a run uses them and, if not, why:
the ``fast_path`` of a Result and a Progress, for the sweeps to log.

The PyTorch code in networks.py and optim.py is the reference the kernels are tested against
(tests/test_native.py: the same outputs, gradients and losses to round-off).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import torch

from .errors import first_line
from .problems.pdes import cache_dir

Tensor = torch.Tensor

SOURCE = Path(__file__).with_name("csrc") / "mlp.cpp"
ACTIVATION_CODES = {"tanh": 0, "swish": 1, "sin": 2, "relu": 3, "leaky_relu": 4, "softplus": 5}
NATIVE = "native"  # the fast_path value of a run on the native kernels
# -march: this CPU's instructions (AVX-512 where it has them), or $GANSWEEP_NATIVE_MARCH (e.g.
# haswell: AVX2, to build for older nodes or to test the AVX2 code on a newer one)
FLAGS = ["-O3", f"-march={os.environ.get('GANSWEEP_NATIVE_MARCH', 'native')}", "-fno-math-errno",
         "-std=c++17", "-shared", "-fPIC"]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_error: str | None = None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def library_path() -> Path:
    """Where this machine's build lives: a new source or CPU gets its own (-march=native)."""
    key = "\n".join([SOURCE.read_text(), " ".join(FLAGS), _cpu_flags()])
    return cache_dir() / "native" / f"gan_core_{hashlib.sha1(key.encode()).hexdigest()[:16]}.so"


def _build(path: Path) -> None:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++ or $CXX) on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.so")
    proc = subprocess.run([cxx, *FLAGS, str(SOURCE), "-o", str(tmp)], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{cxx} failed: {proc.stderr.strip()[-300:]}")
    os.replace(tmp, path)  # atomic: processes building at once each load a whole file


def load() -> ctypes.CDLL | None:
    """The kernels (built at the first call on this machine), or None if they cannot be built
    here; ``error()`` then says why."""
    global _lib, _error
    with _lock:
        if _lib is None and _error is None:
            if os.environ.get("GANSWEEP_NATIVE", "1") == "0":
                _error = "GANSWEEP_NATIVE=0"
                return None
            try:
                path = library_path()
                if not path.exists():
                    _build(path)
                _lib = _declare(ctypes.CDLL(str(path)))
            except Exception as e:  # no compiler, a read-only cache: the reference path runs
                _error = f"native kernels unavailable: {type(e).__name__}: {first_line(e)}"
        return _lib


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    P, I, I64, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double
    lib.gc_mlp_sizes.argtypes = [P, I, I, P]
    lib.gc_mlp_forward.argtypes = [P, I64, I, I, P, P, P, P, I, P, P]
    lib.gc_mlp_backward.argtypes = [P, I64, I, I, P, P, P, P, P]
    lib.gc_adam.argtypes = [I64, I64, P, P, P, P, P, P, D, D, D, D]
    lib.gc_g_step.argtypes = lib.gc_d_step.argtypes = [P]
    for f in (lib.gc_mlp_sizes, lib.gc_mlp_forward, lib.gc_mlp_backward, lib.gc_adam,
              lib.gc_g_step, lib.gc_d_step):
        f.restype = None
    lib.gc_step_size.restype = I64
    return lib


def error() -> str | None:
    """Why the kernels could not be built (None: built, or not tried yet)."""
    return _error


def fast_path(cfg: Any) -> str:
    """"native" when a run of `cfg` (a Config) trains on the native kernels, else "reference
    (why)"."""
    if cfg.fast_path == "reference":
        return "reference (fast_path = 'reference')"
    if cfg.compile:
        return "reference (compile = True: torch.compile traces the PyTorch code)"
    if torch.device(cfg.device).type != "cpu":
        return f"reference (device {cfg.device}: the native kernels are CPU code)"
    if cfg.dtype != "float32":
        return f"reference (dtype {cfg.dtype}: the native kernels are float32)"
    if load() is None:
        return f"reference ({_error})"
    return NATIVE


# -- the network -------------------------------------------------------------------------------------
class _Shape:
    """A network's spec for the kernels, with its sizes at n points and M dropout layers."""

    def __init__(self, spec: list[int], n: int, masks: int):
        self.spec = (ctypes.c_int64 * len(spec))(*spec)
        self.n, self.masks = n, masks
        sizes = (ctypes.c_int64 * 4)()
        load().gc_mlp_sizes(ctypes.addressof(self.spec), n, masks, ctypes.addressof(sizes))
        self.P, self.U, self.T, self.S = (int(v) for v in sizes)
        self.n_in, self.n_out, self.width = spec[0], spec[1], spec[2]


_SHAPES: dict[tuple[int, ...], _Shape] = {}


def _shape(spec: list[int], n: int, masks: int) -> _Shape:
    key = (*spec, n, masks)
    if key not in _SHAPES:
        _SHAPES[key] = _Shape(spec, n, masks)
    return _SHAPES[key]


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _MLP(torch.autograd.Function):
    """y = net(x) for every replica; backward gives the gradients of the flat parameters and of the
    input jet, each only when asked for (D's weights are frozen in G's step; G's input is data)."""

    @staticmethod
    def forward(ctx: Any, params: Tensor, x: Tensor, u: Tensor | None, masks: Tensor | None,
                shape: _Shape, update_u: bool) -> Tensor:
        R = params.shape[0]
        y = params.new_empty(R, shape.S, shape.n, shape.n_out)
        tape = params.new_empty(R, shape.T)
        load().gc_mlp_forward(ctypes.addressof(shape.spec), R, shape.n, shape.masks,
                              params.data_ptr(), x.data_ptr(), _ptr(masks), _ptr(u),
                              int(update_u), tape.data_ptr(), y.data_ptr())
        ctx.save_for_backward(params)
        ctx.tape, ctx.shape = tape, shape
        return y

    @staticmethod
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        (params,) = ctx.saved_tensors
        shape: _Shape = ctx.shape
        gy = gy.contiguous()
        gp = torch.empty_like(params) if ctx.needs_input_grad[0] else None
        gx = (gy.new_empty(gy.shape[0], shape.S, shape.n, shape.n_in) if ctx.needs_input_grad[1]
              else None)
        load().gc_mlp_backward(ctypes.addressof(shape.spec), params.shape[0], shape.n,
                               shape.masks, params.data_ptr(), ctx.tape.data_ptr(),
                               gy.data_ptr(), _ptr(gp), _ptr(gx))
        return gp, gx, None, None, None, None


def spec(net: torch.nn.Module, dim: int, order: int) -> list[int]:
    """A BatchedMLP and the jets it sees, as csrc/mlp.cpp's Net reads them."""
    cfg = net.cfg
    return [net.layers[0][0], net.layers[-1][1], cfg.width, cfg.depth, int(cfg.residual),
            ACTIVATION_CODES[cfg.activation], int(cfg.output_tanh), int(net.spectral_norm), dim,
            order]


def mlp(net: torch.nn.Module, a: Tensor, dim: int, order: int, masks: Tensor | None) -> Tensor:
    """BatchedMLP `net` on a jet's tensor a (replicas, streams, points, inputs): the output jet's
    tensor. masks: the dropout masks (replicas, dropout layers, points, width), keep / (1 - p)."""
    R, S, n, c = a.shape
    shape = _shape(spec(net, dim, order), n, 0 if masks is None else masks.shape[1])
    params, u = net.params, (net.u if net.spectral_norm else None)
    _check(params, (R, shape.P), "params")
    _check(u, (R, shape.U), "u")
    _check(masks, (R, shape.masks, n, shape.width), "masks")
    if (S, c) != (shape.S, shape.n_in):
        raise ValueError(f"input jet {tuple(a.shape)} does not fit {shape.n_in} inputs, "
                         f"{shape.S} streams")
    return _MLP.apply(params, a.float().contiguous(), u, masks, shape, net.training)


def _check(t: Tensor | None, shape: tuple[int, ...], name: str) -> None:
    if t is None:
        return
    if (tuple(t.shape) != shape or t.dtype != torch.float32 or not t.is_contiguous()
            or t.device.type != "cpu"):
        raise ValueError(f"native mlp: {name} must be a contiguous float32 CPU tensor of shape "
                         f"{shape}, got {tuple(t.shape)} {t.dtype} on {t.device}")


# -- the optimiser -------------------------------------------------------------------------------------
def adam_step(p: Tensor, m: Tensor, v: Tensor, steps: Tensor, scale: Tensor, lr: float,
              betas: tuple[float, float], eps: float) -> None:
    """optim.BatchedAdam's update of one parameter in one pass (steps: counted already)."""
    g = p.grad.contiguous()
    for t in (p, g, m, v):
        _check(t, tuple(p.shape), "adam tensor")
    _check_f64(steps, p.shape[0])
    _check_f64(scale, p.shape[0])
    load().gc_adam(p.shape[0], p[0].numel(), p.data_ptr(), g.data_ptr(), m.data_ptr(),
                   v.data_ptr(), steps.data_ptr(), scale.data_ptr(), lr, betas[0], betas[1], eps)


def _check_f64(t: Tensor, R: int) -> None:
    if tuple(t.shape) != (R,) or t.dtype != torch.float64 or not t.is_contiguous():
        raise ValueError(f"native adam: expected a contiguous float64 tensor of shape ({R},)")
