"""``gansweep relog <tune folder>``: write a sweep's Tune results into MLflow, idempotently.

Tune's folder holds every trial's config, every report and the last checkpoints, whatever happened
to MLflow (a server that went away mid-sweep, a store that filled up, a sweep logged elsewhere).
``relog`` brings MLflow in line with it: exactly one run per trial under the sweep's parent run
(found by its ``trial_id`` tag, created if missing), the params, every report at step = iteration
that MLflow lacks, the status tag, the plots and weights, and the summary on the parent. Running
it again writes nothing new.

    gansweep relog ray_results/sho-gan-20250101-120000
    gansweep relog ray_results/sho-gan-20250101-120000 --tracking-uri http://mlflow:5000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from .cli import SWEEP_FILE, _tracking_uri
from .errors import UsageError

SUMMARY_DIR = "summary"  # the driver's summary files, inside the Tune folder


def relog(exp_dir: str, tracking_uri: str | None = None, only: set[str] | None = None,
          quiet: bool = False) -> dict[str, int]:
    """Sync MLflow with the Tune folder `exp_dir` (all trials, or the ids in `only`).

    Returns counts: trials, runs_created, reports_logged, params_logged, runs_closed,
    artifacts_logged, orphans_deleted, parent_created.
    """
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    from . import tracking
    from .driver import _artifact_root

    meta_path = Path(exp_dir, SWEEP_FILE)
    meta = json.loads(meta_path.read_text())
    uri = tracking_uri or meta["tracking_uri"]
    client = MlflowClient(uri)
    exp_id = tracking.experiment_id(uri, meta["experiment_name"], _artifact_root(uri))
    n = dict.fromkeys(("trials", "runs_created", "reports_logged", "params_logged", "runs_closed",
                       "artifacts_logged", "orphans_deleted", "parent_created"), 0)

    # the parent: the sweep's own in its own store; in another store, the one an earlier relog
    # made there (remembered per store in the sweep's file), else a new one
    others = meta.setdefault("relog_parents", {})
    parent = meta["parent_run_id"] if uri == meta["tracking_uri"] else others.get(uri, "")
    try:
        client.get_run(parent)
    except MlflowException:
        parent = tracking.start_parent(uri, exp_id, meta["name"], params={
            "problem": meta["problem"], "method": meta["method"], "trials": meta["trials"],
            "relogged_from": str(Path(exp_dir).resolve())},
            tags={"problem": meta["problem"], "method": meta["method"], "ray_results": exp_dir})
        if uri == meta["tracking_uri"]:
            meta["parent_run_id"] = parent
        else:
            others[uri] = parent
        meta_path.write_text(json.dumps(meta, indent=2, default=str))
        n["parent_created"] = 1

    trials = [t for t in ExperimentAnalysis(exp_dir).trials
              if only is None or t.trial_id in only]
    runs = {r.data.tags.get(tracking.TRIAL_TAG): r
            for r in tracking.child_runs(uri, exp_id, parent)}
    base_tags = {"mlflow.parentRunId": parent, "problem": meta["problem"],
                 "method": meta["method"], tracking.SWEEP_TAG: meta["name"]}
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
        params = [Param(k, str(v)[:6000]) for k, v in sorted(t.config.items())
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
        _parent_summary(client, parent, Path(exp_dir, SUMMARY_DIR), n)
    if not quiet:
        print(f"relogged {n['trials']} trials of {meta['name']} into {uri} (experiment "
              f"{meta['experiment_name']!r}, parent run {parent}): {n['runs_created']} runs "
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


def _parent_summary(client: Any, parent: str, folder: Path, n: dict[str, int]) -> None:
    """The driver's summary (saved in the Tune folder) on the parent run, if it lacks it."""
    if not (folder / "summary.json").is_file():
        return
    if not client.list_artifacts(parent, "summary"):
        client.log_artifacts(parent, str(folder), "summary")
        n["artifacts_logged"] += 1
    from .summary import parent_metrics  # the driver's own list (imports gan_core: late)

    out = json.loads((folder / "summary.json").read_text())
    b = out.get("best") or {}
    metrics = parent_metrics(out)
    run = client.get_run(parent)
    for k, v in metrics.items():
        if v is not None and k not in run.data.metrics:
            client.log_metric(parent, k, v if math.isfinite(v) else 1e300)
    if b.get("trial_id") and run.data.tags.get("best_trial_id") != b["trial_id"]:
        client.set_tag(parent, "best_trial_id", b["trial_id"])
    if run.info.status != "FINISHED":
        client.set_terminated(parent, "FINISHED")


def main(argv: Sequence[str]) -> int:
    """``gansweep relog <tune folder> [--tracking-uri U]``."""
    from . import cli, preflight

    p = cli._Parser(prog="gansweep relog", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="the sweep's Tune folder (printed by the sweep as 'Tune:')")
    p.add_argument("--tracking-uri", help="MLflow store (default: the sweep's own)")
    try:
        a = p.parse_args(list(argv))
        folder = Path(a.folder).expanduser().resolve()
        if not (folder / SWEEP_FILE).is_file():
            raise UsageError(f"relog {a.folder}: not a gansweep experiment folder (no "
                             f"{SWEEP_FILE} in it): give the 'Tune:' folder a sweep printed")
        uri = _tracking_uri(a.tracking_uri, Path("mlflow.db")) if a.tracking_uri else \
            json.loads((folder / SWEEP_FILE).read_text())["tracking_uri"]
        preflight.tracking(uri)
    except UsageError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 2
    relog(str(folder), uri)
    return 0
