"""The Ray Tune trainable: Tune's dict -> gan_core.Config -> gan_core.train -> tune.report.

gan_core knows nothing about Tune; this adapter converts the dict once, picks the device Ray gave
the trial, resumes from Tune's checkpoint, and reports every evaluation (with a checkpoint
every `checkpoint_every` iterations). Nothing here is for tests: they wrap this function (its
``state`` and ``send`` keywords) and hand the wrapper to the driver (tests/faults.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ray
import torch
from ray import tune

from gan_core import Config, Progress, train

from .metrics import metric_of, tiebreak_of
from .spaces import METRIC, objective, tie_value, to_config
from .status import DIVERGED, OK, all_diverged

STATE_FILE = "state.pt"  # gan_core's resumable state inside every Tune checkpoint


def train_trial(config: dict[str, Any], objective_kind: str = "median",
                checkpoint_every: int = 500, *, state: dict[str, Any] | None = None,
                send: Callable[..., None] | None = None) -> None:
    """Function trainable: trains config["seeds"] replicas and reports each evaluation to Tune.

    Bound with ``tune.with_parameters``: objective_kind (median | p90 | worst | failure_rate), and
    checkpoint_every (iterations; the driver passes ASHA's grace period, so a trial ASHA stops at a
    rung has a checkpoint right there, and a retry or --resume repeats less than one interval).
    state: gan_core's state to start from (default: Tune's checkpoint when Tune retries or resumes
    this trial, else a fresh start). send: hands one report (and its checkpoint) to Tune (default
    ``tune.report``).
    """
    device, gpu_ids = _device()
    torch.set_num_threads(_cpus())
    cfg = Config.from_dict({**to_config(config), "device": device})
    if state is None:
        state = resume_state()
    send = send or tune.report
    train_seconds = state.get("train_seconds", 0.0) if state else 0.0
    metric = metric_of(cfg.problem, cfg.metric)  # what p.mse holds: mse, or the distribution's own metric
    tiebreak = tiebreak_of(cfg.problem)  # the "failures" objective's (None: the primary)
    t_last = time.perf_counter()

    def report(p: Progress) -> None:
        nonlocal train_seconds, t_last
        train_seconds += time.perf_counter() - t_last  # time in gan_core, not in Tune's report
        metrics = {**p.metrics, "iteration": p.iteration, "train/seconds": train_seconds,
                   METRIC: objective(p.mse, p.metrics["eval/failure_rate"], objective_kind,
                                     metric, tie_value(p.metrics, tiebreak)),
                   "run_status": DIVERGED if all_diverged(p.metrics, cfg.seeds) else OK,
                   "device": device, "gpu_ids": ",".join(gpu_ids),
                   "node_id": ray.get_runtime_context().get_node_id(),
                   **{f"eval/{metric}_seed_{k}": float(m) for k, m in enumerate(p.mse)},
                   **_monitored(cfg.monitor, p),
                   # which failed seeds sit on a constant solution (equations), at the end
                   **({f"eval/collapsed_seed_{k}": int(c) for k, c in enumerate(p.collapsed)}
                      if p.done and p.collapsed.any() else {})}
        if p.done or p.iteration % checkpoint_every == 0:
            with tempfile.TemporaryDirectory() as d:
                torch.save({**p.checkpoint(), "train_seconds": train_seconds}, Path(d, STATE_FILE))
                send(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            send(metrics)
        t_last = time.perf_counter()

    train(cfg, report=report, state=state)


def _monitored(monitor: str, p: Progress) -> dict[str, int]:
    """Per seed, with residual monitoring on: its restarts and whether it was abandoned
    (eval/restarts_seed_<k>, eval/abandoned_seed_<k>), which the analysis tables count."""
    if monitor == "none":
        return {}
    return {**{f"eval/restarts_seed_{k}": int(n) for k, n in enumerate(p.restarts)},
            **{f"eval/abandoned_seed_{k}": int(a) for k, a in enumerate(p.abandoned)}}


def resume_state() -> dict[str, Any] | None:
    """gan_core's state in Tune's checkpoint of this trial (set when Tune retries or resumes it),
    else None."""
    ckpt = tune.get_checkpoint()
    return load_state(ckpt) if ckpt else None


def load_state(checkpoint: tune.Checkpoint) -> dict[str, Any]:
    """gan_core's state from a Tune checkpoint (our own file: weights_only=False is safe)."""
    with checkpoint.as_directory() as d:
        return torch.load(Path(d, STATE_FILE), map_location="cpu", weights_only=False)


def _device() -> tuple[str, list[str]]:
    """The GPU Ray assigned this trial (Ray sets CUDA_VISIBLE_DEVICES, so it is cuda:0), else CPU."""
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    return ("cuda" if gpu_ids and torch.cuda.is_available() else "cpu"), gpu_ids


def _cpus() -> int:
    """Torch threads = the CPUs Tune reserved for this trial (at least one)."""
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))
