"""CUDA graphs: on a GPU, train()'s G step and D steps captured once and replayed.

A step on these tiny networks is a few hundred small CUDA kernels, each costing more to launch
than to run. ``Graphed(step)`` runs the step eagerly a few times (on a side stream, as CUDA graph
capture wants), then captures it into a CUDA graph and from then on replays it: one launch per
step. The step's tensors are kept by the graph: the inputs are copied into the captured ones
before each replay, and the step returns the captured outputs, which the next replay overwrites
(train() reads each step's losses and residual before the next step of the same kind). The step's
random numbers (instance noise, soft labels, data batches) come from the run's generator, which
is registered with the graph so that every replay draws new ones.

Capture fails on a step that talks to the host (dropout masks come from a CPU generator: those
runs are not graphed, see ``why_not``); any failure at capture leaves the step eager for the rest
of the run, and ``Graphed.failure`` says why (train() reports it in fast_path).

Not yet run on a GPU: bench/gpu_check.py compares graphed and eager runs on one.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .errors import first_line

Tensor = torch.Tensor
WARMUP = 3  # eager calls before the capture (cuBLAS handles, autograd's streams, allocator)


def why_not(cfg: Any) -> str | None:
    """Why a run of `cfg` cannot replay its steps as CUDA graphs, or None."""
    if cfg.D.dropout:
        return "D.dropout draws its masks on the CPU"
    if cfg.compile:
        return "compile = True"
    return None


class Graphed:
    """step(*args) -> tensors, replayed as one CUDA graph after WARMUP eager calls."""

    def __init__(self, step: Callable[..., Any], rng: torch.Generator):
        self.step, self.rng = step, rng
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: list[Tensor | None] = []
        self.outputs: Any = None
        self.failure: str | None = None  # why the step stayed eager

    def __call__(self, *args: Tensor | None) -> Any:
        if self.graph is not None:
            for static, new in zip(self.inputs, args):
                if static is not None and new is not static:
                    static.copy_(new)
            self.graph.replay()
            return self.outputs
        self.calls += 1
        if self.failure is not None or self.calls <= WARMUP:
            return self._eager(*args)
        try:
            return self._capture(*args)
        except Exception as e:  # noqa: BLE001  (any capture error: the step stays eager)
            self.graph, self.failure = None, f"{type(e).__name__}: {first_line(e)}"
            torch.cuda.synchronize()
            return self._eager(*args)

    def _eager(self, *args: Tensor | None) -> Any:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.step(*args)
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self, *args: Tensor | None) -> Any:
        torch.cuda.synchronize()
        self.inputs = [None if a is None else a.clone() for a in args]
        graph = torch.cuda.CUDAGraph()
        if hasattr(graph, "register_generator_state"):  # new draws at every replay
            graph.register_generator_state(self.rng)
        with torch.cuda.graph(graph):
            self.outputs = self.step(*self.inputs)
        self.graph = graph
        graph.replay()  # capturing ran nothing: this call's step
        return self.outputs
