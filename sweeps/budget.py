"""The sweep's failure budget: stop a sweep whose trials keep crashing (``--max-failed-trials``).

Tune retries a crashed trial ``--max-failures`` times from its checkpoint (``FailureConfig``);
a trial that still crashes ends in ERROR and the sweep goes on. ``FailureBudget`` counts those
errored trials and, once more than ``max_failed`` have, tells Tune to stop the whole sweep
(``Stopper.stop_all``); the driver then reports why, naming the first error.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.stopper import Stopper


class FailureBudget(tune.Callback, Stopper):
    """Both a Tune callback (sees every trial) and a stopper (can stop them all).

    The count is recomputed from the trials' statuses at every step, so it is right after
    ``--resume`` too (Tune restores this object as it was when the sweep started).
    """

    def __init__(self, max_failed: int | None) -> None:
        self.max_failed = max_failed  # None: never stop for errors
        self.failed: list[str] = []  # ids of trials in ERROR, in the order seen

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self._count(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count(trials, trial)

    def _count(self, trials: list, erroring: Any = None) -> None:
        for t in trials:
            if (t.status == "ERROR" or t is erroring) and t.trial_id not in self.failed:
                self.failed.append(t.trial_id)
        errored = {t.trial_id for t in trials if t.status == "ERROR" or t is erroring}
        self.failed = [i for i in self.failed if i in errored]  # a resumed trial is live again

    @property
    def exhausted(self) -> bool:
        return self.max_failed is not None and len(self.failed) > self.max_failed

    # -- Stopper --------------------------------------------------------------------------------
    def __call__(self, trial_id: str, result: dict) -> bool:
        return False  # never stops one trial: ASHA and the iteration budget do

    def stop_all(self) -> bool:
        return self.exhausted
