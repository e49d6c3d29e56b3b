"""Fault injection for the reliability tests: a Tune trainable that wraps the product's
``sweeps.trainable.train_trial`` and is handed to the sweep (``sweeps.sweep(..., trainable=...)``);
the product's trial code knows nothing of it.

``trainable(spec_path)`` reads the JSON file at `spec_path` when each trial attempt starts (so a
test can change it between sweeps); every key is optional:

    {"log": "/abs/events.jsonl",
     "raise":   [{"trials": [0], "at": 20, "attempts": 99}],
     "diverge": [{"trials": [1], "seeds": [1], "at": 10}]}

- ``log``: one JSON line per event -- ``start`` (trial, pid, attempt, the iteration it resumes
  from) and ``report`` (trial, pid, attempt, iteration) -- so a test can find a trial's worker pid
  and see exactly which iterations ran in which attempt.
- ``raise`` (a rule or a list of rules): trial number ``i`` (trials are numbered from 0 in the
  order they first start) raises ``InjectedFault`` at its first evaluation at or after iteration
  ``at`` (before reporting it), on its first ``attempts`` starts (a retry is a start); later
  starts run normally. It wraps the trainable's ``send`` (Tune's report).
- ``diverge``: those trials start (passed as the trainable's ``state``) from gan_core's own state
  at iteration ``at`` with NaN in the generator weights of ``seeds``: the seeds diverge exactly as
  they would by themselves.

Ray's workers unpickle the trainable by value (``register_pickle_by_value`` below): they need not
find this test module on their path.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import ray.cloudpickle


class InjectedFault(RuntimeError):
    """The exception a ``raise`` fault throws inside a trial."""


class _Stop(Exception):
    pass


def trainable(spec_path: str | Path) -> Callable[..., None]:
    """A Tune function trainable: ``train_trial`` with the faults of the file at `spec_path`."""
    spec_path = str(spec_path)

    def faulty_trial(config: dict[str, Any], objective_kind: str = "median",
                     checkpoint_every: int = 500) -> None:
        from ray import tune

        from gan_core import Config
        from sweeps.spaces import to_config
        from sweeps.trainable import resume_state, train_trial

        state = resume_state()
        fault = _Trial(spec_path, tune.get_context().get_trial_id(),
                       state["iteration"] if state else 0)
        if state is None:
            state = fault.start_state(Config.from_dict({**to_config(config), "device": "cpu"}))
        train_trial(config, objective_kind, checkpoint_every, state=state,
                    send=fault.wrap(tune.report))

    return faulty_trial


def events(log: str | Path) -> list[dict[str, Any]]:
    """The events a sweep's trials logged, in order."""
    path = Path(log)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # the line a worker is writing right now
            continue
    return out


def _rules(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rules = spec.get(kind) or []
    return [rules] if isinstance(rules, dict) else rules


def _log(spec: dict[str, Any], event: dict[str, Any]) -> None:
    if spec.get("log"):
        # one short line per write with O_APPEND: lines from concurrent workers never interleave
        with open(spec["log"], "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


class _Trial:
    """The faults of one trial attempt."""

    def __init__(self, spec_path: str, trial_id: str, resumed_from: int) -> None:
        self.spec = json.loads(Path(spec_path).read_text())
        self.trial_id = trial_id
        self.index = self.attempt = 0
        if not self.spec.get("log"):
            return
        # number this trial and count its starts under a lock: concurrent trials start together
        with open(f"{self.spec['log']}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            order = [e["trial"] for e in events(self.spec["log"]) if e["event"] == "start"]
            first = list(dict.fromkeys(order))
            self.index = first.index(trial_id) if trial_id in first else len(first)
            self.attempt = order.count(trial_id)
            _log(self.spec, {"event": "start", "trial": trial_id, "index": self.index,
                             "pid": os.getpid(), "attempt": self.attempt, "from": resumed_from})

    def start_state(self, cfg: Any) -> dict[str, Any] | None:
        """A poisoned gan_core state for a ``diverge`` trial's first start; else None."""
        if self.attempt > 0:
            return None
        d = next((r for r in _rules(self.spec, "diverge") if self.index in r["trials"]), None)
        if d is None:
            return None
        import torch

        from gan_core import train

        state: dict[str, Any] = {}

        def grab(p: Any) -> None:
            if p.iteration >= d["at"]:
                state.update(p.checkpoint())
                raise _Stop

        try:
            train(cfg, report=grab)
        except _Stop:
            pass
        for w in state["G"].values():
            if w.dim() and w.shape[0] == cfg.seeds:  # batched weights: (seeds, ...)
                for k in d["seeds"]:
                    w[k] = torch.nan
        _log(self.spec, {"event": "poisoned", "trial": self.trial_id, "seeds": d["seeds"],
                         "iteration": state["iteration"]})
        return state

    def wrap(self, send: Callable[..., None]) -> Callable[..., None]:
        """`send` (Tune's report) that first logs the report and raises when a fault is due."""

        def faulty_send(metrics: dict[str, Any], **kw: Any) -> None:
            iteration = metrics["iteration"]
            _log(self.spec, {"event": "report", "trial": self.trial_id, "index": self.index,
                             "pid": os.getpid(), "attempt": self.attempt,
                             "iteration": iteration})
            for r in _rules(self.spec, "raise"):
                if self.index in r["trials"] and self.attempt < r["attempts"] \
                        and iteration >= r["at"]:
                    raise InjectedFault(f"injected fault: trial {self.trial_id} attempt "
                                        f"{self.attempt} at iteration {iteration}")
            send(metrics, **kw)

        return faulty_send


def gated(folder: str | Path, width: int, total: int, patience: float = 300.0
          ) -> Callable[..., None]:
    """A Tune function trainable: ``train_trial`` behind a gate that holds each trial until
    `width` trials are in at once (or every one of the sweep's `total` has started, or `patience`
    seconds passed), so a test sees the concurrency Ray allows whatever the trials' speed. Each
    trial writes <trial_id>.start / .end in `folder`, and at the gate one line with the number
    of trials in at that moment to running.log."""
    folder = str(folder)

    def gated_trial(config: dict[str, Any], objective_kind: str = "median",
                    checkpoint_every: int = 500) -> None:
        from ray import tune

        from sweeps.trainable import train_trial

        d, tid = Path(folder), tune.get_context().get_trial_id()
        (d / f"{tid}.start").touch()

        def inside() -> int:
            return len({p.stem for p in d.glob("*.start")} - {p.stem for p in d.glob("*.end")})

        deadline = time.monotonic() + patience
        while (inside() < width and len(list(d.glob("*.start"))) < total
               and time.monotonic() < deadline):
            time.sleep(0.05)
        with (d / "running.log").open("a") as f:
            f.write(f"{inside()}\n")
        try:
            train_trial(config, objective_kind, checkpoint_every)
        finally:
            (d / f"{tid}.end").touch()

    return gated_trial


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
