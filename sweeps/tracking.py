"""MLflow tracking: one run per Tune trial, nested under one parent run per sweep.

``TrialRuns`` is Ray's ``MLflowLoggerCallback`` with four changes a sweep needs:
- each trial's run is tagged with its Tune trial id and the parent run, and is *found again* by that
  tag when Tune retries the trial or ``--resume`` restarts the driver: exactly one run per trial;
- metrics go in one ``log_batch`` per report, at step = gan_core iteration (one row per call
  instead of one sqlite transaction per metric);
- tags say where the trial ran (hostname, node IP, Ray node id, device, GPU ids) and how it ended
  (status: ok / diverged / early-stopped / error);
- at the end the trial's last checkpoint becomes artifacts: prediction-vs-reference and curve plots,
  and the weights.

Everything runs on the driver, so the trainables never talk to MLflow (they only need Tune).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.air.integrations.mlflow import MLflowLoggerCallback

from .spaces import METRIC, to_config

log = logging.getLogger(__name__)
TRIAL_TAG = "trial_id"
SWEEP_TAG = "gansweep.sweep"
_PARENT_TAG = "mlflow.parentRunId"  # what makes the MLflow UI nest a run under its parent
_NODE_KEYS = ("hostname", "node_ip", "node_id", "device", "gpu_ids")


def experiment_id(tracking_uri: str, name: str, artifact_root: str | None) -> str:
    """The id of MLflow experiment `name`, created (artifacts under `artifact_root`) if new."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root)


def start_parent(tracking_uri: str, exp_id: str, sweep: str, params: dict[str, Any],
                 tags: dict[str, str]) -> str:
    """Create the sweep's parent run; returns its id."""
    client = MlflowClient(tracking_uri)
    run = client.create_run(exp_id, run_name=sweep, tags={SWEEP_TAG: sweep, "kind": "sweep", **tags})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    return run.info.run_id


def child_runs(tracking_uri: str, exp_id: str, parent_run_id: str) -> list:
    """Every (not deleted) trial run under the parent."""
    return MlflowClient(tracking_uri).search_runs(
        [exp_id], filter_string=f"tags.`{_PARENT_TAG}` = '{parent_run_id}'", max_results=50000)


def reconcile(tracking_uri: str, exp_id: str, parent_run_id: str, trial_ids: set[str]) -> int:
    """Delete child runs whose trial Tune no longer has (created just before a driver crash, when
    Tune's last experiment checkpoint predates the trial). Returns how many were deleted."""
    client = MlflowClient(tracking_uri)
    orphans = [r for r in child_runs(tracking_uri, exp_id, parent_run_id)
               if r.data.tags.get(TRIAL_TAG) not in trial_ids]
    for r in orphans:
        client.delete_run(r.info.run_id)
    return len(orphans)


def close_open_runs(tracking_uri: str, exp_id: str, parent_run_id: str,
                    statuses: dict[str, str]) -> int:
    """End child runs Tune never ended (trials the time budget stopped get no trial-end callback):
    status tag from the trial's results, run FINISHED. Returns how many were closed."""
    client = MlflowClient(tracking_uri)
    n = 0
    for r in child_runs(tracking_uri, exp_id, parent_run_id):
        if r.info.status == "RUNNING" and r.data.tags.get(TRIAL_TAG) in statuses:
            client.set_tag(r.info.run_id, "status", statuses[r.data.tags[TRIAL_TAG]])
            client.set_terminated(r.info.run_id, "FINISHED")
            n += 1
    return n


class TrialRuns(MLflowLoggerCallback):
    """Ray Tune callback: one MLflow run per trial under the parent run (see the module doc)."""

    def __init__(self, tracking_uri: str, experiment_name: str, parent_run_id: str,
                 tags: dict[str, str]) -> None:
        super().__init__(tracking_uri=tracking_uri, experiment_name=experiment_name,
                         tags={_PARENT_TAG: parent_run_id, **tags})
        self.parent_run_id = parent_run_id
        self._client: MlflowClient | None = None
        self._where: dict[str, tuple] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment (for --resume); clients and caches stay out
        state = dict(self.__dict__)
        state.update(_client=None, _where={}, _trial_runs={})
        return state

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    # -- Tune's LoggerCallback hooks -------------------------------------------------------------
    def log_trial_start(self, trial: Any) -> None:
        if trial not in self._trial_runs:
            self._trial_runs[trial] = self._find(trial.trial_id) or self.client.create_run(
                self.mlflow_util.experiment_id, run_name=str(trial),
                tags={**self.tags, TRIAL_TAG: trial.trial_id, "trial_name": str(trial),
                      "status": "running"}).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in sorted(trial.config.items())]
        run_id = self._trial_runs[trial]
        logged = self.client.get_run(run_id).data.params
        new = [p for p in params if p.key not in logged]  # a resumed run already has its params
        if new:
            self.client.log_batch(run_id, params=new)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        run_id = self._trial_runs[trial]
        step = int(result.get("iteration", result.get("training_iteration", iteration)))
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in result.items()
                   if (k.startswith(("eval/", "train/")) or k == METRIC)
                   and isinstance(v, (int, float)) and not isinstance(v, bool)]
        where = tuple(str(result.get(k, "")) for k in _NODE_KEYS)
        tags = []
        if self._where.get(trial.trial_id) != where:  # first result, or a retry on another node
            self._where[trial.trial_id] = where
            tags = [RunTag(k, v) for k, v in zip(_NODE_KEYS, where)]
            tags.append(RunTag("node", f"{where[0]}/{where[1]}/{where[2][:8]}"))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        run_id = self._trial_runs.get(trial)
        if run_id is None:
            return
        self.client.set_tag(run_id, "status", trial_status(trial, failed))
        try:
            self._log_artifacts(trial, run_id)
        except Exception as e:  # noqa: BLE001 -- a missing plot must never fail the sweep
            log.warning("trial %s: could not log artifacts: %s", trial.trial_id, e)
        self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")

    # -- helpers -----------------------------------------------------------------------------------
    def _find(self, trial_id: str) -> str | None:
        runs = self.client.search_runs(
            [self.mlflow_util.experiment_id],
            filter_string=(f"tags.`{_PARENT_TAG}` = '{self.parent_run_id}' "
                           f"and tags.{TRIAL_TAG} = '{trial_id}'"), max_results=1)
        return runs[0].info.run_id if runs else None

    def _log_artifacts(self, trial: Any, run_id: str) -> None:
        """Plots of the final state (prediction vs reference per seed, curves) and the weights."""
        if trial.checkpoint is None:
            return
        from gan_core import Config, train
        from gan_core.plots import plot_curves, plot_solutions

        from .trainable import STATE_FILE, load_state

        import torch

        # the point-noise generator of a GPU trial has a CUDA state a CPU generator cannot take;
        # nothing is sampled when there is nothing left to train, so any CPU state will do
        state = {**load_state(trial.checkpoint), "rng": torch.Generator().get_state()}
        # rebuild gan_core's Result from the state: train() with no iterations left only evaluates
        cfg = Config.from_dict({**to_config(trial.config), "device": "cpu",
                                "iterations": max(1, int(state["iteration"]))})
        result = train(cfg, state=state)
        with tempfile.TemporaryDirectory() as d:
            plot_solutions(result, Path(d, "solution.png"))
            plot_curves(result, Path(d, "curves.png"))
            _close_figures()
            self.client.log_artifacts(run_id, d, "plots")
        with trial.checkpoint.as_directory() as d:
            self.client.log_artifact(run_id, str(Path(d, STATE_FILE)), "weights")


def trial_status(trial: Any, failed: bool = False) -> str:
    """ok / diverged / early-stopped (ASHA stopped it before its last iteration) / error."""
    result = trial.last_result or {}
    if failed or trial.status == "ERROR":
        return "error"
    if result.get("run_status") == "diverged":
        return "diverged"
    if int(result.get("iteration", 0)) < int(trial.config.get("iterations", 0)):
        return "early-stopped"
    return "ok"


def _close_figures() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
