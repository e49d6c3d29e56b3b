"""ASHA, with the start and its neighbours kept to their full budget.

The start (the first trial: the preset, or the paper's config) is what a sweep must beat: the
finalists' race and the search gain compare every pick with it at the full budget. Its neighbours
(``--neighbours``: each searched key one step from it, ``Space.neighbours``) measure which way
from it gains, and that is known only at the full budget too: near a good start an early rung
ranks little (on the main job every trial sits at MSE ~2e-3 at ASHA's first rung, 500 of 4000
iterations; over 19 full-budget trials the objective there and at 1500 correlates with the final
one at Spearman -0.01 and -0.25). So ASHA records their results at every rung like any trial's
(they set the cutoffs the others meet), but never stops them. Each is known by its config: every
searched value equal to the point's.
"""

from __future__ import annotations

from typing import Any, Sequence

from ray.tune.schedulers import ASHAScheduler, TrialScheduler


class StartFullASHA(ASHAScheduler):
    """Tune's ASHAScheduler; the trial whose config is `start` (searched keys and values), or one
    of `full` (the start's neighbours), is never stopped early."""

    def __init__(self, *args: Any, start: dict[str, Any] | None = None,
                 full: Sequence[dict[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start = dict(start or {})
        self.full = [dict(p) for p in full]

    def is_start(self, config: dict[str, Any]) -> bool:
        return _is(config, self.start)

    def runs_full(self, config: dict[str, Any]) -> bool:
        return self.is_start(config) or any(_is(config, p) for p in self.full)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and self.runs_full(trial.config) and \
                result.get(self._time_attr, 0) < self._max_t:
            self._num_stopped -= 1  # recorded at its rung, but it runs on
            return TrialScheduler.CONTINUE
        return action


def _is(config: dict[str, Any], point: dict[str, Any]) -> bool:
    from .decide import same

    return bool(point) and all(same(config.get(k), v) for k, v in point.items())
