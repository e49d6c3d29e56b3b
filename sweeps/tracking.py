"""MLflow tracking: one run per Tune trial, nested under one parent run per sweep.

``TrialRuns`` is Ray's ``MLflowLoggerCallback`` with four changes a sweep needs:
- each trial's run is tagged with its Tune trial id and the parent run, and is *found again* by that
  tag when Tune retries the trial or ``--resume`` restarts the driver: exactly one run per trial;
- metrics go in one ``log_batch`` per report, at step = gan_core iteration (one row per call
  instead of one sqlite transaction per metric);
- tags say where the trial ran (hostname, node IP, Ray node id, device, GPU ids) and how it ended
  (status: ok / diverged / early-stopped / error);
- at the end the trial's last checkpoint becomes artifacts: a figure of every seed's result
  (``plot_name``: prediction vs reference for equations, sample scatter plots / histograms or digit
  grids for distributions), the curves, and the weights;
- an MLflow store that stops answering never stops the sweep: the trial is noted in ``UNSYNCED``,
  logging resumes once the store answers again (probed every ``PROBE_S``), and the driver (or
  ``gansweep relog``, see relog.py) writes the missed results from Tune's folder afterwards.

Everything runs on the driver, so the trainables never talk to MLflow (they only need Tune).
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from ray.air.integrations.mlflow import MLflowLoggerCallback

from gan_core.errors import first_line

from .spaces import METRIC, to_config
from .status import classify

log = logging.getLogger(__name__)
TRIAL_TAG = "trial_id"
SWEEP_TAG = "gansweep.sweep"
_PARENT_TAG = "mlflow.parentRunId"  # what makes the MLflow UI nest a run under its parent
_NODE_KEYS = ("hostname", "node_ip", "node_id", "device", "gpu_ids")
# what a store that went away raises (an HTTP server, a sqlite file on a lost disk)
STORE_ERRORS = (MlflowException, requests.RequestException, OSError)
PROBE_S = 10.0  # while the store is down: seconds between attempts to reach it again
UNSYNCED: set[str] = set()  # trial ids whose results this process could not log (driver reads)
# MLflow 3's experiment type: "custom_model_development" is what its UI calls "Machine learning"
# (runs, metrics, models) as opposed to "GenAI apps & agents" (traces); set for UIs that read it
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def param(key: str, value: Any) -> Param:
    """An MLflow parameter of any value: its text, cut to the length MLflow stores."""
    return Param(key, str(value)[:MAX_PARAM_VAL_LENGTH])


def experiment_id(tracking_uri: str, name: str) -> str:
    """The id of MLflow experiment `name`, created if new (artifacts beside a sqlite store), and
    marked as a model-training experiment (``EXPERIMENT_KIND``)."""
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        exp_id = client.create_experiment(name, artifact_location=artifact_root(tracking_uri))
    else:
        exp_id = exp.experiment_id
    if exp is None or exp.tags.get(EXPERIMENT_KIND[0]) is None:
        client.set_experiment_tag(exp_id, *EXPERIMENT_KIND)
    return exp_id


def artifact_root(tracking_uri: str) -> str | None:
    """Beside a sqlite store: <folder of the .db>/mlruns (absolute; MLflow's usual local folder
    name, which .gitignore already covers); servers choose their own."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///"):]).parent / "mlruns").as_uri()
    return None


def start_parent(tracking_uri: str, exp_id: str, sweep: str, params: dict[str, Any],
                 tags: dict[str, str]) -> str:
    """Create the sweep's parent run; returns its id."""
    client = MlflowClient(tracking_uri)
    run = client.create_run(exp_id, run_name=sweep, tags={SWEEP_TAG: sweep, "kind": "sweep", **tags})
    client.log_batch(run.info.run_id, params=[param(k, v) for k, v in params.items()])
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
        self._down_since: float | None = None
        self._last_probe = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment (for --resume); clients and caches stay out
        state = dict(self.__dict__)
        state.update(_client=None, _where={}, _trial_runs={}, _down_since=None)
        return state

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    # -- Tune's LoggerCallback hooks: each survives a store that stopped answering ---------------
    def log_trial_start(self, trial: Any) -> None:
        self._safely(trial, self._start, trial)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        self._safely(trial, self._result, trial, result)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        self._safely(trial, self._end, trial, failed)

    def _safely(self, trial: Any, fn: Any, *args: Any) -> None:
        if self._down_since is not None and not self._answers_again():
            UNSYNCED.add(trial.trial_id)
            return
        try:
            fn(*args)
        except STORE_ERRORS as e:
            UNSYNCED.add(trial.trial_id)
            if self._down_since is None:
                _warn(f"MLflow at {self.tracking_uri} stopped answering ({short_error(e)}); the "
                      "sweep goes on and Tune keeps every result: they are written to MLflow "
                      "when it answers again")
            self._down_since = self._last_probe = time.monotonic()

    def _answers_again(self) -> bool:
        if time.monotonic() - self._last_probe < PROBE_S:
            return False
        self._last_probe = time.monotonic()
        if not reachable(self.tracking_uri):
            return False
        _warn(f"MLflow at {self.tracking_uri} answers again after "
              f"{time.monotonic() - self._down_since:.0f}s; logging resumes")
        self._down_since = None
        return True

    def _start(self, trial: Any) -> None:
        if trial not in self._trial_runs:
            self._trial_runs[trial] = self._find(trial.trial_id) or self.client.create_run(
                self.mlflow_util.experiment_id, run_name=str(trial),
                tags={**self.tags, TRIAL_TAG: trial.trial_id, "trial_name": str(trial),
                      "status": "running"}).info.run_id
        params = [param(k, v) for k, v in sorted(trial.config.items())]
        run_id = self._trial_runs[trial]
        logged = self.client.get_run(run_id).data.params
        new = [p for p in params if p.key not in logged]  # a resumed run already has its params
        if new:
            self.client.log_batch(run_id, params=new)

    def _result(self, trial: Any, result: dict) -> None:
        self._start(trial)  # its run, if the store was down when the trial started
        run_id = self._trial_runs[trial]
        where = tuple(str(result.get(k, "")) for k in _NODE_KEYS)
        tags = []
        if self._where.get(trial.trial_id) != where:  # first result, or a retry on another node
            tags = node_tags(result)
        self.client.log_batch(run_id, metrics=metrics_of(result), tags=tags)
        self._where[trial.trial_id] = where

    def _end(self, trial: Any, failed: bool) -> None:
        run_id = self._trial_runs.get(trial)
        if run_id is None:
            if trial.trial_id not in UNSYNCED:
                return
            self._start(trial)
            run_id = self._trial_runs[trial]
        self.client.set_tag(run_id, "status", trial_status(trial, failed))
        log_final_artifacts(self.client, run_id, trial)
        self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")

    # -- helpers -----------------------------------------------------------------------------------
    def _find(self, trial_id: str) -> str | None:
        runs = self.client.search_runs(
            [self.mlflow_util.experiment_id],
            filter_string=(f"tags.`{_PARENT_TAG}` = '{self.parent_run_id}' "
                           f"and tags.{TRIAL_TAG} = '{trial_id}'"), max_results=1)
        return runs[0].info.run_id if runs else None



# -- shared with relog.py ----------------------------------------------------------------------------
def log_values(client: MlflowClient, run_id: str, values: dict[str, float]) -> None:
    """Single values (best/*, baseline/*, sweep/*) as metrics in one batch; a non-finite one (a
    diverged seed) as 1e300, since MLflow stores no inf."""
    ms = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[
        Metric(k, float(v) if math.isfinite(v) else 1e300, ms, 0) for k, v in values.items()])


def metrics_of(result: dict) -> list[Metric]:
    """One Tune result as MLflow metrics at step = gan_core iteration."""
    step = int(result.get("iteration", result.get("training_iteration", 0)))
    ms = int(result.get("timestamp", time.time()) * 1000)
    return [Metric(k, float(v), ms, step) for k, v in result.items()
            if (k.startswith(("eval/", "train/")) or k == METRIC)
            and isinstance(v, (int, float)) and not isinstance(v, bool)]


def node_tags(result: dict) -> list[RunTag]:
    """Where the trial ran (hostname, node IP, Ray node id, device, GPU ids) as run tags."""
    where = [str(result.get(k, "")) for k in _NODE_KEYS]
    return [*(RunTag(k, v) for k, v in zip(_NODE_KEYS, where)),
            RunTag("node", f"{where[0]}/{where[1]}/{where[2][:8]}")]


def log_final_artifacts(client: MlflowClient, run_id: str, trial: Any) -> None:
    """Plots of the trial's final state and its weights; a plot that fails only warns (a store
    that went away raises, so the caller can note the trial as unsynced)."""
    try:
        _log_artifacts(client, run_id, trial)
    except STORE_ERRORS:
        raise
    except Exception as e:  # noqa: BLE001 -- a missing plot must never fail the sweep
        log.warning("trial %s: could not log artifacts: %s", trial.trial_id, e)


def reachable(tracking_uri: str) -> bool:
    """One quick, unretried request (MLflow's client retries for minutes)."""
    try:
        if tracking_uri.startswith(("http://", "https://")):
            r = requests.get(f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
                             params={"max_results": 1}, timeout=2)
            return r.status_code < 500
        MlflowClient(tracking_uri).search_experiments(max_results=1)
        return True
    except Exception:  # noqa: BLE001 -- any failure means "not yet"
        return False


def short_error(e: BaseException) -> str:
    """The gist of a store error in a few words (MLflow's are paragraphs of retry details)."""
    text = str(e)
    for known in ("Connection refused", "Max retries exceeded", "timed out", "readonly database",
                  "unable to open database", "disk I/O error", "No space left"):
        if known.lower() in text.lower():
            return known.lower()
    return first_line(e)


def _warn(text: str) -> None:
    print(f"gansweep: warning: {text}", file=sys.stderr, flush=True)


def _log_artifacts(client: MlflowClient, run_id: str, trial: Any) -> None:
    """Plots of the final state (per seed: prediction vs reference, or samples; curves) and the
    weights."""
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
        plot_solutions(result, Path(d, plot_name(cfg.problem)))
        plot_curves(result, Path(d, "curves.png"))
        _close_figures()
        client.log_artifacts(run_id, d, "plots")
    client.log_table(run_id, seed_table(result), SEED_TABLE)
    with trial.checkpoint.as_directory() as d:
        client.log_artifact(run_id, str(Path(d, STATE_FILE)), "weights")


SEED_TABLE = "seeds.json"  # a trial's seeds as one table artifact (MLflow's log_table)


def seed_table(result: Any) -> dict[str, list]:
    """A trial's final state per seed, one row each: its final and best value of the primary
    metric (None where non-finite: a diverged seed), its status and restarts. The run's page shows
    it as a table; the metrics eval/<metric>_seed_<k> keep every report's value."""
    def finite(values: Any) -> list[float | None]:
        return [float(v) if math.isfinite(v) else None for v in values]

    m = result.metric
    return {"seed": list(range(len(result.final_mse))), f"final {m}": finite(result.final_mse),
            f"best {m}": finite(result.best_mse), "status": result.seed_status(),
            "restarts": [int(r) for r in result.restarts]}


def plot_name(problem: str) -> str:
    """The file name of a trial's per-seed figure (``gan_core.plots.plot_solutions``): solution.png
    (every seed's prediction vs the reference), samples.png (each seed's samples over real ones:
    scatter, or histogram in 1-D) or digits.png (each seed's digit grid and class histogram)."""
    from gan_core import PROBLEMS

    cls = PROBLEMS.get(problem)
    return f"{cls.plot if cls is not None else 'solution'}.png"


def trial_status(trial: Any, failed: bool = False) -> str:
    """ok / diverged / early-stopped (ASHA or the time budget stopped it before its last
    iteration) / error, as ``status.classify`` defines them."""
    return classify(trial.last_result or {}, trial.config.get("iterations"),
                    error=failed or trial.status == "ERROR")


def _close_figures() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
