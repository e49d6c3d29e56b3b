"""The sweep's Optuna searcher: Tune's ``OptunaSearch``, made safe to ``--resume`` after a crash,
with the study's value named (``set_metric_names``).

The study lives in its own storage and is written at once; Tune saves its own state (trials and
searcher) only every so often. A driver that dies in between leaves a trial that Optuna has
already told as finished while Tune's saved state still has it running. On ``--resume`` Tune
runs that trial on from its checkpoint, and ``OptunaSearch`` would report its results to the
finished Optuna trial, which Optuna refuses (``UpdateFinishedTrialError``): the whole resumed
sweep would stop there. ``StudySearch`` checks the study when Tune restores it and leaves such
trials' results out of the study (it already holds their result); Tune still records them.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Sequence

import optuna
from ray.tune.search.optuna import OptunaSearch

log = logging.getLogger(__name__)


class StudySearch(OptunaSearch):
    """``OptunaSearch`` that, once restored, does not report to trials the study already closed,
    and names the study's value (`metric_names`, Optuna's ``set_metric_names``: optuna-dashboard
    and Optuna's plots say it instead of "Objective 0")."""

    def __init__(self, *args: Any, metric_names: Sequence[str] = (), **kwargs: Any) -> None:
        self._metric_names = list(metric_names)  # before OptunaSearch's __init__ sets the study up
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode: Any) -> None:
        super()._setup_study(mode)
        if self._metric_names:
            with warnings.catch_warnings():  # experimental since Optuna 3.2, unchanged since
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._ot_study.set_metric_names(self._metric_names)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        finished = {t.number for t in self._ot_study.get_trials(deepcopy=False)
                    if t.state.is_finished()}
        told = {trial_id for trial_id, t in self._ot_trials.items()
                if t.number in finished and trial_id not in self._completed_trials}
        self._told_before_restore = self.told_before_restore | told
        if told:
            log.info("Optuna already holds the result of %d trial(s) Tune runs on after the "
                     "restore: their new results go to Tune only", len(told))

    @property
    def told_before_restore(self) -> set[str]:
        """Tune trial ids whose Optuna trial finished after Tune last saved its state."""
        return getattr(self, "_told_before_restore", set())

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.told_before_restore:
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False, **kwargs: Any) -> None:
        if trial_id in self.told_before_restore:
            self._completed_trials.add(trial_id)
            return
        super().on_trial_complete(trial_id, result, error, **kwargs)
