"""Fault injection for the reliability tests: TEST-ONLY, off unless ``GANSWEEP_FAULTS`` is set.

``GANSWEEP_FAULTS=/abs/path/faults.json`` in the driver's environment reaches every trial of a
local Ray (its workers inherit the driver's environment). The file, every key optional:

    {"log": "/abs/events.jsonl",
     "raise":   [{"trials": [0], "at": 20, "attempts": 99}],
     "diverge": [{"trials": [1], "seeds": [1], "at": 10}]}

- ``log``: one JSON line per event -- ``start`` (trial, pid, attempt, the iteration it resumes
  from) and ``report`` (trial, pid, attempt, iteration) -- so a test can find a trial's worker pid
  and see exactly which iterations ran in which attempt.
- ``raise`` (a rule or a list of rules): trial number ``i`` (trials are numbered from 0 in the
  order they first start) raises ``InjectedFault`` at its first evaluation at or after iteration
  ``at`` (before reporting it), on its first ``attempts`` starts (a retry is a start); later
  starts run normally.
- ``diverge``: those trials start from gan_core's own state at iteration ``at`` with NaN in the
  generator weights of ``seeds``: the seeds diverge exactly as they would by themselves.

Nothing here runs in a real sweep: every function returns at once when the variable is unset.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

ENV = "GANSWEEP_FAULTS"


class InjectedFault(RuntimeError):
    """The exception a ``raise`` fault throws inside a trial."""


class _Stop(Exception):
    pass


def _spec() -> dict[str, Any] | None:
    path = os.environ.get(ENV)
    spec = json.loads(Path(path).read_text()) if path else None
    return spec if spec and spec.get("log") else None  # nothing asked for: faults off


def _rules(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rules = spec.get(kind) or []
    return [rules] if isinstance(rules, dict) else rules


def _log(spec: dict[str, Any], event: dict[str, Any]) -> None:
    if spec.get("log"):
        # one short line per write with O_APPEND: lines from concurrent workers never interleave
        with open(spec["log"], "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


def events(log: str | Path) -> list[dict[str, Any]]:
    """The events a sweep's trials logged, in order (for the tests)."""
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


class Trial:
    """The faults of one trial attempt (a no-op without ``GANSWEEP_FAULTS``)."""

    def __init__(self, trial_id: str, resumed_from: int) -> None:
        self.spec = _spec()
        self.trial_id = trial_id
        self.index = self.attempt = 0
        if self.spec is None:
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
        if self.spec is None or self.attempt > 0:
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

    def reported(self, iteration: int) -> None:
        """Log the report; raise when a ``raise`` fault is due."""
        if self.spec is None:
            return
        _log(self.spec, {"event": "report", "trial": self.trial_id, "index": self.index,
                         "pid": os.getpid(),
                         "attempt": self.attempt, "iteration": iteration})
        for r in _rules(self.spec, "raise"):
            if self.index in r["trials"] and self.attempt < r["attempts"] \
                    and iteration >= r["at"]:
                raise InjectedFault(f"injected fault: trial {self.trial_id} attempt "
                                    f"{self.attempt} at iteration {iteration}")
