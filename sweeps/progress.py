"""One progress line per finished trial (trials done / total, best so far), instead of Ray's tables."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ray import tune

from .metrics import fmt, label, metric_of
from .spaces import METRIC
from .status import full_budget
from .tracking import trial_status

_FINISHED = ("TERMINATED", "ERROR")


class ProgressLines(tune.Callback):
    """Prints ``[done/total] elapsed  trial: result | best so far | running`` as trials finish,
    and a heartbeat line every `heartbeat_s` seconds while nothing finishes. With a time budget
    (seconds) the elapsed time is shown against it and the total as a cap: the budget ends the
    sweep first."""

    def __init__(self, total: int, heartbeat_s: float = 60.0, out: TextIO | None = None,
                 budget_s: float | None = None) -> None:
        self.total, self.heartbeat_s, self.budget_s = total, heartbeat_s, budget_s
        self._out = out
        self._t0 = self._last = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_out": None}  # streams do not pickle (Tune saves callbacks)

    def setup(self, **info: Any) -> None:
        self._t0 = self._last = time.monotonic()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trials, trial, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trials, trial, failed=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self._last >= self.heartbeat_s:
            self._print(f"{self._head(trials)}  {self._running(trials)} | {self._best(trials)}")

    # -- formatting ---------------------------------------------------------------------------------
    def _line(self, trials: list, trial: Any, failed: bool) -> None:
        r = trial.last_result or {}
        metric = metric_of(trial.config.get("problem", ""), trial.config.get("metric"))  # mse, energy, classes_missed, ...
        status = trial_status(trial, failed)
        what = (f"{status:<13} {int(r.get('iteration', 0)):>6} it  "
                f"median {label(metric)} {_value(r, metric)}  "
                f"worst {_value(r, metric, '_worst')}  failed {_failed(r, status)}")
        self._print(f"{self._head(trials, trial)}  {trial.trial_id}  {what} | "
                    f"{self._best(trials, trial)}")

    def _head(self, trials: list, ending: Any = None) -> str:
        # Tune calls on_trial_complete before it marks the trial TERMINATED: count it already
        done = sum(t.status in _FINISHED or t is ending for t in trials)
        s = int(time.monotonic() - self._t0)
        head = f"[{done:>{len(str(self.total))}}/{self.total}] {_clock(s)}"
        return head + f" of {_clock(self.budget_s).strip()}" if self.budget_s else head

    @staticmethod
    def _running(trials: list) -> str:
        return f"running {sum(t.status == 'RUNNING' for t in trials)}"

    @staticmethod
    def _best(trials: list, ending: Any = None) -> str:
        scored = [t for t in trials if (t.last_result or {}).get(METRIC) is not None]
        if not scored:
            return "best: -"
        # as the summary ranks: trials that ran their full budget first (an early-stopped or
        # running trial's MSE is from fewer iterations), then the objective
        done = [t for t in scored if t.status in _FINISHED or t is ending] or scored
        best = min(done, key=lambda t: (not full_budget(trial_status(t)),
                                        t.last_result[METRIC]))
        r = best.last_result
        metric = metric_of(best.config.get("problem", ""), best.config.get("metric"))
        return (f"best: median {_value(r, metric)} "
                f"failed {_failed(r, trial_status(best))} ({best.trial_id})")

    def _print(self, text: str) -> None:
        self._last = time.monotonic()
        print(text, file=self._out or sys.stdout, flush=True)


def _failed(result: dict, status: str) -> str:
    """The trial's failure rate; "-" until it has run its full budget (a trial stopped early, or
    still running, has no failure rate: its seeds ran fewer iterations)."""
    if not full_budget(status):
        return "-"
    return f"{result.get('eval/failure_rate', float('nan')):.0%}"


def _value(result: dict, metric: str, suffix: str = "") -> str:
    """eval/<metric><suffix> of a result as short text (MSE 1.2e-08, energy 0.0071, 2 classes)."""
    value = result.get(f"eval/{metric}{suffix}", float("nan"))
    return f"{value:.1e}" if metric in ("mse", "rel_mse") else fmt(metric, value)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:>3}m{s % 60:02d}s"
