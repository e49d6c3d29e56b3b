"""The sweep itself: Ray up, Tuner (OptunaSearch + ASHA + MLflow) run or restored, summary out.

``run(plan)`` is what ``gansweep run`` calls once the options are checked (``cli.plan``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import optuna
import ray
import torch
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from . import summary as S
from . import tracking
from .budget import FailureBudget
from .metrics import label, metric_of
from .cli import SWEEP_FILE, Plan, space_for
from .progress import ProgressLines
from .spaces import METRIC, MODE
from .trainable import train_trial


_ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"  # the notebooks, in this checkout


class SweepError(Exception):
    """The sweep cannot run as asked (e.g. more GPUs per trial than any node has)."""


def run(p: Plan, callbacks: Sequence[tune.Callback] = ()) -> dict[str, Any]:
    """Run (or resume) the sweep `p` and return its summary (also printed and logged).

    callbacks: more Tune callbacks for a new sweep (bench/load.py measures memory with one)."""
    # MLflow's client retries a lost server for ~4 minutes per call by default, during which Tune
    # waits; a shorter wait is enough, since what it misses is written later (tracking.py)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    tracking.UNSYNCED.clear()
    started_ray = _start_ray(p)
    threads = torch.get_num_threads()
    try:
        return _run(p, callbacks)
    finally:
        torch.set_num_threads(threads)  # run() may be called in-process (tests, notebooks)
        if started_ray:
            ray.shutdown()


def _run(p: Plan, callbacks: Sequence[tune.Callback]) -> dict[str, Any]:
    t0 = time.perf_counter()
    if p.resume:  # the interrupted sweep's own stores, whatever the defaults are today
        meta = json.loads(Path(p.resume, SWEEP_FILE).read_text())
        p = dataclasses.replace(p, tracking_uri=meta["tracking_uri"],
                                experiment_name=meta["experiment_name"])
    slots = _check_resources(p)
    max_concurrent = p.max_concurrent or slots
    # the driver's own torch work (plots from checkpoints, the l2 baseline) gets a trial's CPUs:
    # torch's default (every core) next to running trials oversubscribes, 25x slower measured
    torch.set_num_threads(max(1, int(p.cpus_per_trial)))
    artifact_root = _artifact_root(p.tracking_uri)
    exp_id = tracking.experiment_id(p.tracking_uri, p.experiment_name, artifact_root)
    client = MlflowClient(p.tracking_uri)

    if p.resume:  # the sweep's settings come back from its folder: Tune's state and SWEEP_FILE
        parent = meta["parent_run_id"]
        client.update_run(parent, status="RUNNING")
        _say(f"resuming sweep {meta['name']} from {p.resume}")
        tuner = tune.Tuner.restore(p.resume, trainable=_trainable(meta), resume_errored=True)
        exp_dir = p.resume
    else:
        name = f"{p.problem}-{p.method}-{time.strftime('%Y%m%d-%H%M%S')}"
        exp_dir = str(Path(p.storage_path, name)) if "://" not in p.storage_path \
            else f"{p.storage_path.rstrip('/')}/{name}"
        parent = tracking.start_parent(
            p.tracking_uri, exp_id, name,
            params={"problem": p.problem, "method": p.method, "objective": p.objective,
                    "trials": p.trials, "cpus_per_trial": p.cpus_per_trial,
                    "gpus_per_trial": p.gpus_per_trial, "max_concurrent": max_concurrent,
                    "seed": p.seed, "time_budget": p.time_budget, "argv": " ".join(p.argv)},
            tags={"problem": p.problem, "method": p.method, "ray_results": exp_dir})
        meta = {"name": name, "problem": p.problem, "method": p.method, "objective": p.objective,
                "trials": p.trials, "parent_run_id": parent, "experiment_id": exp_id,
                "tracking_uri": p.tracking_uri, "experiment_name": p.experiment_name,
                "cpus_per_trial": p.cpus_per_trial, "gpus_per_trial": p.gpus_per_trial,
                "fixed": p.fixed, "pinned": p.pinned, "ranges": p.ranges,
                "max_failed_trials": p.max_failed_trials}
        _write_meta(exp_dir, meta)
        tuner = _tuner(p, meta, max_concurrent, callbacks)
    searched = list(space_for(p).distributions()) if not p.resume else \
        list(_space_from_meta(meta).distributions())
    _say(f"sweep {meta['name']}: {meta['trials']} trials of {meta['method']} on "
         f"{meta['problem']}, {meta['fixed']['seeds']} seeds x {meta['fixed']['iterations']} "
         f"iterations each, {max_concurrent} at a time; objective: {meta['objective']} "
         f"{label(metric_of(meta['problem'])) + ' ' if meta['objective'] != 'failure_rate' else ''}"
         "over seeds"
         + (f"; time budget {p.time_budget:.0f}s" if p.time_budget and not p.resume else ""))
    _say(f"  MLflow: {p.tracking_uri} (experiment {p.experiment_name!r})   Tune: {exp_dir}")

    t_fit = time.perf_counter()
    grid = tuner.fit()
    fit_seconds = time.perf_counter() - t_fit

    # -- MLflow in line with Tune: orphans, runs Tune never closed, what an outage missed ---------
    df = S.trials_frame(grid, searched)
    store_error: BaseException | None = None
    deleted = 0
    try:
        if not df.empty:
            deleted = tracking.reconcile(p.tracking_uri, exp_id, parent, set(df["trial_id"]))
            tracking.close_open_runs(p.tracking_uri, exp_id, parent,
                                     dict(zip(df["trial_id"], df["status"])))
        if tracking.UNSYNCED:
            from .relog import relog

            relog(exp_dir, p.tracking_uri, only=set(tracking.UNSYNCED), quiet=True)
            tracking.UNSYNCED.clear()
    except tracking.STORE_ERRORS as e:
        store_error = e
    _check_failure_budget(grid, meta, p, client, parent, exp_dir)
    if df.empty or not (df["iteration"] > 0).any():
        errored = [r for r in grid if r.error is not None]
        raise SweepError(f"no trial produced a result; see {exp_dir}" + (
            f": {len(errored)} trials failed, first error: {_error_line(errored[0].error)}"
            if errored else ""))

    # -- summary ---------------------------------------------------------------------------------
    out = S.summarize(df, searched)
    base_method = S.baseline_method(meta["problem"])  # l2 (Lagaris) for equations, else vae
    if p.baseline and base_method is not None and meta["method"] != base_method:
        # equal budgets: the best trial's (its config's, unless it stopped early)
        result = S.baseline(out["best"]["config"], base_method, iterations=S.budget(out["best"]))
        out["baseline"] = {"method": base_method, "median_mse": result.median_mse,
                           "worst_mse": result.worst_mse, "failure_rate": result.failure_rate,
                           "iterations": result.iterations, "seconds": result.wall_time}
        if store_error is None:
            try:
                _log_baseline(client, parent, result)
            except tracking.STORE_ERRORS as e:
                store_error = e
    slots_used = max(1, min(max_concurrent, meta["trials"]))
    out.update({
        "problem": meta["problem"], "method": meta["method"], "objective": meta["objective"],
        "mlflow": {"tracking_uri": p.tracking_uri, "experiment_name": p.experiment_name,
                   "experiment_id": exp_id, "parent_run_id": parent},
        "sweep": meta["name"], "ray_results": exp_dir,
        "wall_seconds": time.perf_counter() - t0, "fit_seconds": fit_seconds,
        "training_share": out["training_seconds"] / (fit_seconds * slots_used),
        "orphan_runs_deleted": deleted,
    })
    text = S.table(out) + "\n\n" + _where(out)
    _save_summary(exp_dir, df, out, text)  # in Tune's folder too: relog puts it on the parent
    if store_error is None:
        try:
            _log_summary(client, parent, df, out, text)
        except tracking.STORE_ERRORS as e:
            store_error = e
    if p.summary_json:
        Path(p.summary_json).write_text(json.dumps(out, indent=2, default=str))
    print("\n" + text, flush=True)
    if store_error is not None:
        raise SweepError(
            f"MLflow at {p.tracking_uri} stopped answering ({tracking.short_error(store_error)}): "
            f"Tune's results are complete in {exp_dir}; once the store answers again, write "
            f"them to MLflow with: gansweep relog {exp_dir}")
    return out


def _check_failure_budget(grid: Any, meta: dict[str, Any], p: Plan, client: MlflowClient,
                          parent: str, exp_dir: str) -> None:
    """Raise SweepError if more trials errored than --max-failed-trials allows (FailureBudget
    stopped the sweep then), naming the first error and where its traceback is."""
    budget = meta.get("max_failed_trials")
    errored = [r for r in grid if r.error is not None]
    if budget is None or len(errored) <= budget:
        return
    first = errored[0]
    trial_dir = first.path or exp_dir
    try:
        client.set_terminated(parent, "FAILED")
    except tracking.STORE_ERRORS:
        pass
    raise SweepError(
        f"stopped: {len(errored)} trials failed (after {p.max_failures} retries each), more "
        f"than --max-failed-trials {budget} allows; first error: {_error_line(first.error)} "
        f"(traceback in {trial_dir}/error.txt); fix the cause, then retry the errored trials "
        f"with --resume {exp_dir}")


def _error_line(error: BaseException) -> str:
    """The exception's own line out of Ray's wrapped traceback ('InjectedFault: ...')."""
    lines = [x.strip() for x in str(error).splitlines() if x.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~")) and ":" in line:
            return line[:300]
    return (lines[-1] if lines else type(error).__name__)[:300]


# -- Tune --------------------------------------------------------------------------------------------
def _grace(iterations: int, every: int) -> int:
    """ASHA's first rung: 1/8 of the run (GANs are noisy early), a multiple of eval_every."""
    return min(iterations, max(every, math.ceil(iterations / 8 / every) * every))


def _save_summary(exp_dir: str, df: Any, out: dict[str, Any], text: str) -> None:
    """summary.{csv,txt,json} in Tune's folder (local storage only)."""
    if "://" in exp_dir:
        return
    from .relog import SUMMARY_DIR

    d = Path(exp_dir, SUMMARY_DIR)
    d.mkdir(parents=True, exist_ok=True)
    _write_summary(d, df, out, text)


def _write_summary(d: Path, df: Any, out: dict[str, Any], text: str) -> None:
    df.drop(columns=["config"]).to_csv(d / "summary.csv", index=False)
    (d / "summary.txt").write_text(text + "\n")
    (d / "summary.json").write_text(json.dumps(out, indent=2, default=str))


def _trainable(meta: dict[str, Any]) -> Any:
    grace = _grace(meta["fixed"]["iterations"], meta["fixed"]["eval_every"])
    fn = tune.with_parameters(train_trial, objective_kind=meta["objective"],
                              checkpoint_every=grace)
    return tune.with_resources(fn, {"cpu": meta["cpus_per_trial"], "gpu": meta["gpus_per_trial"]})


def _space_from_meta(meta: dict[str, Any]) -> Any:
    from .overrides import CustomSpace
    from .spaces import Space, study_for

    if meta.get("pinned") or meta.get("ranges"):
        return CustomSpace(study_for(meta["problem"]), meta["method"], meta["fixed"],
                           meta["pinned"], meta["ranges"])
    return Space(study_for(meta["problem"]), meta["method"], meta["fixed"])


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"  # short: Ray's default packs every param into the name


def _tuner(p: Plan, meta: dict[str, Any], max_concurrent: int,
           callbacks: Sequence[tune.Callback] = ()) -> tune.Tuner:
    space = space_for(p)
    start = space.start_point()  # the preset, so the known-good config is always measured
    iterations, every = p.fixed["iterations"], p.fixed["eval_every"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=p.seed, n_startup_trials=max(2, p.trials // 4))
    searcher = ConcurrencyLimiter(
        OptunaSearch(space=space, metric=METRIC, mode=MODE, sampler=sampler,
                     points_to_evaluate=[start] if start else None),
        max_concurrent=max_concurrent)
    # ASHA rungs at grace, 3 grace, 9 grace ...: a trial continues past a rung if it is in the
    # top third of the trials seen there
    grace = _grace(iterations, every)
    scheduler = ASHAScheduler(time_attr="iteration", max_t=iterations, grace_period=grace,
                              reduction_factor=3)
    budget = FailureBudget(p.max_failed_trials)  # stops the sweep once too many trials errored
    return tune.Tuner(
        _trainable(meta),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode=MODE, search_alg=searcher, scheduler=scheduler,
            num_samples=p.trials, time_budget_s=p.time_budget, reuse_actors=True,
            trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=meta["name"], storage_path=p.storage_path,
            callbacks=[
                tracking.TrialRuns(p.tracking_uri, p.experiment_name, meta["parent_run_id"],
                                   tags={"problem": p.problem, "method": p.method,
                                         tracking.SWEEP_TAG: meta["name"]}),
                ProgressLines(p.trials), budget, *callbacks],
            stop=budget,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            failure_config=tune.FailureConfig(max_failures=p.max_failures),
            verbose=1 if p.verbose else 0))


# -- Ray ---------------------------------------------------------------------------------------------
def _start_ray(p: Plan) -> bool:
    """Join `--address`, reuse a Ray this process already started, or start a local one."""
    if ray.is_initialized():
        return False
    level = logging.INFO if p.verbose else logging.WARNING
    if not p.verbose:
        # Tune warns when trials checkpoint often; a small sweep does, and it is cheap here
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # its verbose=0 still prints a table
        logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        if p.address:
            ray.init(address=p.address, log_to_driver=p.verbose, logging_level=level)
        else:
            # address="local": never attach to some other Ray that happens to run on this machine
            ray.init(address="local", include_dashboard=False, log_to_driver=p.verbose,
                     logging_level=level)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SweepError(f"cannot start or join Ray (--address {p.address}): {e}") from None
    return True


def _check_resources(p: Plan) -> int:
    """Fail now if no node can ever hold one trial; return how many trials fit at once."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    where = f"the Ray cluster at {p.address}" if p.address else "the local Ray"
    node_gpus = [n.get("GPU", 0) for n in nodes]
    node_cpus = [n.get("CPU", 0) for n in nodes]
    if p.gpus_per_trial > 0 and max(node_gpus, default=0) < min(p.gpus_per_trial, 1):
        raise SweepError(
            f"--gpus-per-trial {p.gpus_per_trial}, but {where} has "
            f"{'no GPUs' if not any(node_gpus) else f'GPUs per node {node_gpus}'}: use "
            "--gpus-per-trial 0, or start GPU workers first (ray status shows them)")
    if p.gpus_per_trial > 1 and max(node_gpus, default=0) < p.gpus_per_trial:
        raise SweepError(f"--gpus-per-trial {p.gpus_per_trial}, but no node of {where} has that "
                         f"many (GPUs per node: {node_gpus})")
    if max(node_cpus, default=0) < p.cpus_per_trial:
        raise SweepError(f"--cpus-per-trial {p.cpus_per_trial}, but no node of {where} has that "
                         f"many CPUs (CPUs per node: {node_cpus})")
    fits = sum(math.floor(c / p.cpus_per_trial + 1e-9) for c in node_cpus)
    if p.gpus_per_trial > 0:
        fits = min(fits, sum(math.floor(g / p.gpus_per_trial + 1e-9) for g in node_gpus))
    return max(1, fits)


# -- MLflow ------------------------------------------------------------------------------------------
def _artifact_root(tracking_uri: str) -> str | None:
    """Beside a sqlite store: <folder of the .db>/mlruns (absolute; MLflow's usual local folder
    name, which .gitignore already covers); servers choose their own."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///"):]).parent / "mlruns").as_uri()
    return None


def _log_baseline(client: MlflowClient, parent: str, result: Any) -> None:
    from gan_core.plots import plot_solutions

    m = result.metric  # mse, or the distribution problem's metric
    for k, v in {f"baseline/{m}": result.median_mse, f"baseline/{m}_worst": result.worst_mse,
                 "baseline/failure_rate": result.failure_rate}.items():
        client.log_metric(parent, k, v if math.isfinite(v) else 1e300)
    with tempfile.TemporaryDirectory() as d:
        name = tracking.plot_name(result.config.problem)  # solution.png, samples.png, digits.png
        plot_solutions(result, Path(d, f"baseline_{result.config.method}_{name}"))
        import matplotlib.pyplot as plt

        plt.close("all")
        client.log_artifacts(parent, d, "baseline")


def _log_summary(client: MlflowClient, parent: str, df: Any, out: dict[str, Any], text: str
                 ) -> None:
    b = out["best"]
    for k, v in {**S.parent_metrics(out), "sweep/wall_seconds": out["wall_seconds"],
                 "sweep/training_share": out["training_share"]}.items():
        if v is not None:  # no failure rate where no trial ran its full budget
            client.log_metric(parent, k, v if math.isfinite(v) else 1e300)
    client.set_tag(parent, "best_trial_id", b["trial_id"])
    with tempfile.TemporaryDirectory() as d:
        _write_summary(Path(d), df, out, text)
        client.log_artifacts(parent, d, "summary")
    client.set_terminated(parent, "FINISHED")


def _write_meta(exp_dir: str, meta: dict[str, Any]) -> None:
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(exp_dir if "://" in exp_dir else
                                              Path(exp_dir).as_uri())
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{SWEEP_FILE}") as f:
        f.write(json.dumps(meta, indent=2, default=str).encode())


# -- output ------------------------------------------------------------------------------------------
def _where(out: dict[str, Any]) -> str:
    m = out["mlflow"]
    uri = m["tracking_uri"]
    ui = (f"mlflow ui --backend-store-uri {uri}" if not uri.startswith(("http", "databricks"))
          else f"open {uri}")
    return "\n".join([
        f"MLflow:   {uri}  experiment {m['experiment_name']!r} (id {m['experiment_id']}), "
        f"parent run {m['parent_run_id']}",
        f"Tune:     {out['ray_results']}",
        f"Time:     {out['wall_seconds']:.0f}s in all; training {out['training_share']:.0%} of "
        "the trial slots' time",
        f"Open:     {ui}",
        f"          GANSWEEP_SOURCE={m['experiment_name']} GANSWEEP_TRACKING_URI={uri} "
        f"GANSWEEP_SWEEP={out['sweep']} jupyter lab {_ANALYSIS}",
        f"          python -m analysis report {m['experiment_name']} --tracking-uri {uri} "
        f"--sweep {out['sweep']}",
    ])


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
