"""ASHA, with the start kept to its full budget.

The start (the first trial: the preset, or the paper's config) is what a sweep must beat: the
finalists' race and the search gain compare every pick with it at the full budget. So ASHA records
its result at every rung like any trial's (it sets the cutoffs the others meet), but never stops
it. The start is known by its config: every searched value equal to the space's start point.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler


class StartFullASHA(ASHAScheduler):
    """Tune's ASHAScheduler; the trial whose config is `start` (searched keys and values) is
    never stopped early."""

    def __init__(self, *args: Any, start: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start = dict(start or {})

    def is_start(self, config: dict[str, Any]) -> bool:
        from .decide import same

        return bool(self.start) and all(same(config.get(k), v) for k, v in self.start.items())

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and self.is_start(trial.config) and \
                result.get(self._time_attr, 0) < self._max_t:
            self._num_stopped -= 1  # recorded at its rung, but it runs on
            return TrialScheduler.CONTINUE
        return action
