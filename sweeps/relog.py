"""``gansweep relog <tune folder>``: write a sweep's Tune results into MLflow, idempotently.

Tune's folder holds every trial's config, every report and the last checkpoints, whatever happened
to MLflow (a server that went away mid-sweep, a store that filled up, a sweep logged elsewhere).
``relog`` brings MLflow in line with it: exactly one run per trial under the sweep's parent run
(found by its ``trial_id`` tag, created if missing), the params, every report at step = iteration
that MLflow lacks, the status tag, the plots and weights, and the summary on the parent. Running
it again writes nothing new.

    gansweep relog ray_results/sho-gan-20250101-120000
    gansweep relog ray_results/sho-gan-20250101-120000 --tracking-uri http://mlflow:5000
    gansweep relog s3://bucket/gansweep/sho-gan-20250101-120000   # a sweep kept in a bucket
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from . import storage
from .errors import ArgumentParser, UsageError
from .spec import SPEC_FILE, SUMMARY_DIR, TRACKING_ENV, SweepSpec, tracking_uri


def relog(exp_dir: str, uri: str | None = None, only: set[str] | None = None,
          quiet: bool = False) -> dict[str, int]:
    """Sync MLflow at `uri` (default: the sweep's own store) with the Tune folder `exp_dir`, a
    path or a URI (all trials, or the ids in `only`).

    Returns counts: trials, runs_created, reports_logged, params_logged, runs_closed,
    artifacts_logged, orphans_deleted, parent_created.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    from . import tracking

    spec = SweepSpec.load(exp_dir)
    uri = uri or spec.tracking_uri
    client = MlflowClient(uri)
    exp_id = tracking.experiment_id(uri, spec.experiment_name)
    n = dict.fromkeys(("trials", "runs_created", "reports_logged", "params_logged", "runs_closed",
                       "artifacts_logged", "orphans_deleted", "parent_created"), 0)

    # the parent: the sweep's own in its own store; in another store, the one an earlier relog
    # made there (remembered per store in the sweep's spec), else a new one
    own = uri == spec.tracking_uri
    parent = spec.parent_run_id if own else spec.relog_parents.get(uri, "")
    try:
        client.get_run(parent)
    except MlflowException:
        parent = tracking.start_parent(uri, exp_id, spec.name, params={
            "problem": spec.problem, "method": spec.method, "trials": spec.trials,
            "relogged_from": exp_dir},
            tags={"problem": spec.problem, "method": spec.method, "ray_results": exp_dir})
        spec = (dataclasses.replace(spec, parent_run_id=parent) if own else
                dataclasses.replace(spec, relog_parents={**spec.relog_parents, uri: parent}))
        spec.save()
        n["parent_created"] = 1
        from .metrics import metric_of
        from .views import save_view

        save_view(uri, exp_id, parent, spec.name, metric_of(spec.problem, spec.fixed.get("metric")),
                  spec.searched())

    trials = [t for t in ExperimentAnalysis(exp_dir).trials
              if only is None or t.trial_id in only]
    runs = {r.data.tags.get(tracking.TRIAL_TAG): r
            for r in tracking.child_runs(uri, exp_id, parent)}
    base_tags = {"mlflow.parentRunId": parent, "problem": spec.problem,
                 "method": spec.method, tracking.SWEEP_TAG: spec.name}
    for t in trials:
        results = _results(t)
        if not results and t.status != "ERROR":
            continue  # never started (the time budget or a failure budget ended the sweep)
        n["trials"] += 1
        run = runs.get(t.trial_id)
        if run is None:
            run_id = client.create_run(exp_id, run_name=str(t), tags={
                **base_tags, tracking.TRIAL_TAG: t.trial_id, "trial_name": str(t),
                "status": "running"}).info.run_id
            n["runs_created"] += 1
            logged_params, logged_steps = {}, set()
        else:
            run_id = run.info.run_id
            logged_params = run.data.params
            logged_steps = {m.step for m in client.get_metric_history(run_id, "objective")}
        params = [tracking.param(k, v) for k, v in sorted(t.config.items())
                  if k not in logged_params]
        if params:
            client.log_batch(run_id, params=params)
            n["params_logged"] += len(params)
        # one report per iteration (a retried trial repeats the reports after its checkpoint: the
        # later one is the run that continued)
        by_step = {int(r.get("iteration", 0)): r for r in results}
        new = [r for step, r in sorted(by_step.items()) if step not in logged_steps]
        for r in new:
            client.log_batch(run_id, metrics=tracking.metrics_of(r))
        n["reports_logged"] += len(new)
        if results and (run is None or new):
            client.log_batch(run_id, tags=tracking.node_tags(results[-1]))
        status = tracking.trial_status(t, failed=t.status == "ERROR")
        if t.status in ("TERMINATED", "ERROR"):
            if not client.list_artifacts(run_id, "plots"):
                tracking.log_final_artifacts(client, run_id, t)
                n["artifacts_logged"] += bool(client.list_artifacts(run_id, "plots"))
            info = client.get_run(run_id)
            if info.info.status == "RUNNING" or info.data.tags.get("status") != status:
                client.set_tag(run_id, "status", status)
                client.set_terminated(run_id, "FAILED" if t.status == "ERROR" else "FINISHED")
                n["runs_closed"] += 1

    if only is None:
        n["orphans_deleted"] = tracking.reconcile(uri, exp_id, parent,
                                                  {t.trial_id for t in trials})
        _parent_summary(client, parent, storage.join(exp_dir, SUMMARY_DIR), n)
    if not quiet:
        print(f"relogged {n['trials']} trials of {spec.name} into {uri} (experiment "
              f"{spec.experiment_name!r}, parent run {parent}): {n['runs_created']} runs "
              f"created, {n['reports_logged']} reports, {n['params_logged']} params, "
              f"{n['runs_closed']} runs closed, {n['artifacts_logged']} artifact sets, "
              f"{n['orphans_deleted']} orphan runs deleted", flush=True)
    return n


def _results(trial: Any) -> list[dict[str, Any]]:
    """Every report of a trial, in order, from its result.json in Tune's folder."""
    fs = trial.storage.storage_filesystem
    path = f"{trial.storage.trial_fs_path}/result.json"
    try:
        with fs.open_input_stream(path) as f:
            text = f.read().decode()
    except (FileNotFoundError, OSError):
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _parent_summary(client: Any, parent: str, folder: str, n: dict[str, int]) -> None:
    """The driver's summary (saved in the Tune folder, a path or URI) on the parent run, with the
    best/* and baseline/* values, where the parent lacks them."""
    from . import tracking

    if not storage.exists(storage.join(folder, "summary.json")):
        return
    if not client.list_artifacts(parent, "summary"):
        with tempfile.TemporaryDirectory() as d:
            storage.download(folder, Path(d))
            client.log_artifacts(parent, d, "summary")
        n["artifacts_logged"] += 1
    from .summary import parent_metrics  # the driver's own list (imports gan_core: late)

    out = json.loads(storage.read_text(storage.join(folder, "summary.json")))
    b = out.get("best") or {}
    metrics = parent_metrics(out)
    run = client.get_run(parent)
    tracking.log_values(client, parent, {k: v for k, v in metrics.items()
                                         if v is not None and k not in run.data.metrics})
    if b.get("trial_id") and run.data.tags.get("best_trial_id") != b["trial_id"]:
        client.set_tag(parent, "best_trial_id", b["trial_id"])
    if run.info.status != "FINISHED":
        client.set_terminated(parent, "FINISHED")


def main(argv: Sequence[str]) -> int:
    """``gansweep relog <tune folder> [--tracking-uri U]``."""
    from . import preflight

    p = ArgumentParser(prog="gansweep relog", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="the sweep's Tune folder or URI (printed by the sweep as "
                                  "'Tune:')")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else the "
                                          "sweep's own)")
    try:
        a = p.parse_args(list(argv))
        folder = a.folder if storage.is_uri(a.folder) else \
            str(Path(a.folder).expanduser().resolve())
        try:
            spec = SweepSpec.load(folder)
        except FileNotFoundError:
            raise UsageError(f"relog {a.folder}: not a gansweep experiment folder (no "
                             f"{SPEC_FILE} in it): give the 'Tune:' folder a sweep printed"
                             ) from None
        # the option, else MLflow's variable, else the store the sweep itself logged to
        uri = tracking_uri(a.tracking_uri, Path("mlflow.db")) \
            if a.tracking_uri or os.environ.get(TRACKING_ENV) else spec.tracking_uri
        preflight.tracking(uri)
    except UsageError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 2
    relog(folder, uri)
    return 0
