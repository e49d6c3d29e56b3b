"""The sweep itself, in named steps: Ray up; the stores (MLflow experiment and parent run, the spec in
Tune's folder); the Tuner (OptunaSearch on its Optuna storage + ASHA + MLflow) built or restored,
then fitted; MLflow brought in line with Tune; the summary (with the baseline) printed, saved and
logged.

``run(spec)`` is what ``gansweep run`` and ``sweeps.sweep`` call once the options are checked
(``cli.build``, ``cli.check``).
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
from typing import Any, Callable, Sequence

import optuna
import ray
import torch
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from . import decide, storage
from . import summary as S
from . import tracking, views
from .result import SweepResult
from .budget import FailureBudget
from .errors import SweepError
from .metrics import label, metric_of, problem_name, tiebreak_of
from .progress import ProgressLines
from .scheduler import StartFullASHA
from .searcher import StudySearch
from .spaces import METRIC, MODE, objective_name
from .spec import SUMMARY_DIR, SweepSpec
from .trainable import train_trial

_ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"  # the notebooks, in this checkout
Trainable = Callable[..., None]


def run(spec: SweepSpec, callbacks: Sequence[tune.Callback] = (),
        trainable: Trainable | None = None) -> SweepResult:
    """Run (or, when ``spec.resume`` is set, finish) the sweep `spec`; return its summary (also
    printed, saved in Tune's folder and logged on the parent run) and Tune's ResultGrid.

    callbacks: more Tune callbacks for a new sweep (bench/load.py measures memory with one).
    trainable: the Tune function trainable (default ``train_trial``; tests wrap it to inject
    faults)."""
    # MLflow's client retries a lost server for ~4 minutes per call by default, during which Tune
    # waits; a shorter wait is enough, since what it misses is written later (tracking.py)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    tracking.UNSYNCED.clear()
    started_ray = _start_ray(spec)
    threads = torch.get_num_threads()
    try:
        return _run(spec, callbacks, trainable or train_trial)
    finally:
        torch.set_num_threads(threads)  # run() may be called in-process (tests, notebooks)
        if started_ray:
            ray.shutdown()


def _run(spec: SweepSpec, callbacks: Sequence[tune.Callback], trainable: Trainable
         ) -> SweepResult:
    """The sweep, step by step: resources, stores and Tuner, the fit, MLflow and Optuna brought
    in line with Tune, the checks of the outcome, the summary, its publication."""
    t0 = time.perf_counter()
    fits = _check_resources(spec)
    # the driver's own torch work (plots from checkpoints, the baseline) gets a trial's CPUs:
    # torch's default (every core) next to running trials oversubscribes, 25x slower measured
    torch.set_num_threads(max(1, int(spec.cpus_per_trial)))
    spec, tuner = _open(spec, fits, trainable, callbacks)
    _say_start(spec, fits)

    t_fit = time.perf_counter()
    grid = tuner.fit()
    fit_seconds = time.perf_counter() - t_fit

    df = S.trials_frame(grid, spec.searched())
    store_error, deleted = _reconcile_mlflow(spec, df)
    _close_study(spec)
    _check_outcome(grid, df, spec)
    out, store_error = _summary(spec, df, store_error, fits=fits, deleted=deleted, started=t0,
                                fit_seconds=fit_seconds)
    _publish(spec, df, out, store_error)
    return SweepResult(out, grid)


# -- the stores ----------------------------------------------------------------------------------------
def _open(spec: SweepSpec, fits: int, trainable: Trainable,
          callbacks: Sequence[tune.Callback]) -> tuple[SweepSpec, tune.Tuner]:
    """The sweep's stores and its Tuner: a new sweep is started (its concurrency settled, its
    MLflow parent run and spec written), a resumed one reopened and restored from its Tune folder
    (a local path or a URI: Tune reads it through the storage's filesystem)."""
    if spec.resume:
        spec = _reopen(spec)
        return spec, tune.Tuner.restore(spec.exp_dir, trainable=_trainable(spec, trainable),
                                        resume_errored=True)
    spec = _start(_with_concurrency(spec, fits))
    return spec, _tuner(spec, trainable, callbacks)


def _start(spec: SweepSpec) -> SweepSpec:
    """A new sweep: its name, MLflow experiment and parent run; the spec saved in Tune's folder."""
    exp_id = tracking.experiment_id(spec.tracking_uri, spec.experiment_name)
    name = f"{problem_name(spec.problem)}-{spec.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    exp_dir = storage.join(spec.storage_path, name)
    parent = tracking.start_parent(
        spec.tracking_uri, exp_id, name,
        params={"problem": spec.problem, "method": spec.method, "preset": spec.preset,
                "objective": spec.objective,
                "trials": spec.trials, "cpus_per_trial": spec.cpus_per_trial,
                "gpus_per_trial": spec.gpus_per_trial, "max_concurrent": spec.max_concurrent,
                "seed": spec.seed, "time_budget": spec.time_budget,
                "optuna_version": optuna.__version__, "argv": " ".join(spec.argv)},
        tags={"problem": spec.problem, "method": spec.method, "ray_results": exp_dir,
              "optuna_storage": spec.optuna_storage, "optuna_study": name})
    spec = spec.started(name, exp_id, parent)
    spec.save()
    _save_view(spec)
    return spec


def _reopen(spec: SweepSpec) -> SweepSpec:
    """A resumed sweep: its experiment (marked for the UI if an older gansweep made it) and its
    parent run RUNNING again."""
    exp_id = tracking.experiment_id(spec.tracking_uri, spec.experiment_name)
    MlflowClient(spec.tracking_uri).update_run(spec.parent_run_id, status="RUNNING")
    _say(f"resuming sweep {spec.name} from {spec.exp_dir}")
    if spec.experiment_id != exp_id:
        spec = spec.started(spec.name, exp_id, spec.parent_run_id)
    _save_view(spec)  # a sweep from before the views gets its own
    return spec


def _save_view(spec: SweepSpec) -> None:
    """The sweep's view of the MLflow runs table (``views.save_view``), which its runs URL
    opens."""
    views.save_view(spec.tracking_uri, spec.experiment_id, spec.parent_run_id, spec.name,
                    metric_of(spec.problem, spec.fixed.get("metric")), spec.searched())


def _runs_url(spec: SweepSpec) -> str:
    """The sweep's runs table in the MLflow UI, opened on its saved view."""
    return views.runs_url(spec.tracking_uri, spec.experiment_id, view=spec.parent_run_id)


def _close_study(spec: SweepSpec) -> None:
    """Optuna trials Tune never told the result of (proposed just before a driver died, or never
    started before the time budget ended) end FAIL, so the study says no trial is running."""
    if not spec.optuna_storage:
        return  # a sweep from before the storage: its study lives in Tune's searcher state
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=spec.name, storage=spec.optuna_storage)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)


# -- Tune ----------------------------------------------------------------------------------------------
def _grace(fixed: dict[str, Any]) -> int:
    """ASHA's first rung: 1/8 of the run (GANs are noisy early), a multiple of eval_every; with
    a curriculum, not before a quarter past its end (5/4 of it: 50% of the run for the ODE
    family's 0.4), since until the trained interval is the whole one, the whole interval's
    metric ranks how far a run has marched, not how well it solves."""
    iterations, every = fixed["iterations"], fixed["eval_every"]
    first = max(iterations / 8, 1.25 * fixed.get("curriculum", 0.0) * iterations)
    return min(iterations, max(every, math.ceil(first / every) * every))


def _trainable(spec: SweepSpec, trainable: Trainable) -> Any:
    grace = _grace(spec.fixed)
    fn = tune.with_parameters(trainable, objective_kind=spec.objective, checkpoint_every=grace)
    return tune.with_resources(fn, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"  # short: Ray's default packs every param into the name


def first_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """What the sweep tries before its sampler proposes: the start (the preset, where it lies in
    the space), then its neighbours (each searched key one step from it; at most half the trials,
    every key in), so the search begins by measuring which way from the start gains."""
    space = spec.space()
    start = space.start_point()
    if not start:
        return []
    return [start, *(space.neighbours(start, limit=spec.trials // 2) if spec.neighbours else [])]


STARTUP_TRIALS = 12  # TPE's random trials at most before it models (a quarter of a small sweep)


def startup_trials(spec: SweepSpec) -> int:
    """TPE's random start: a quarter of the trials, at most STARTUP_TRIALS: a cap set far above
    what the time budget holds would otherwise make most of the sweep random search."""
    return max(2, min(spec.trials // 4, STARTUP_TRIALS))


def _tuner(spec: SweepSpec, trainable: Trainable, callbacks: Sequence[tune.Callback] = ()
           ) -> tune.Tuner:
    space = spec.space()
    start = space.start_point()  # the preset, so the known-good config is always measured
    points = first_points(spec)
    iterations = spec.fixed["iterations"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the study lives in Optuna's own storage, named after the sweep: optuna-dashboard and
    # optuna.load_study read it during and after the sweep; Tune's searcher state points to it
    sampler = (optuna.samplers.RandomSampler(seed=spec.seed) if spec.sampler == "random" else
               optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=startup_trials(spec)))
    searcher = ConcurrencyLimiter(
        StudySearch(space=space, metric=METRIC, mode=MODE, sampler=sampler,
                    storage=(optuna.storages.RDBStorage(spec.optuna_storage)
                             if spec.optuna_storage else None),
                    study_name=spec.name, points_to_evaluate=points or None,
                    metric_names=[objective_name(spec.objective, metric_of(
                        spec.problem, spec.fixed.get("metric")), tiebreak_of(spec.problem))]),
        max_concurrent=spec.max_concurrent)
    # ASHA rungs at grace, 3 grace, 9 grace ...: a trial continues past a rung if it is in the
    # top third of the trials seen there
    grace = _grace(spec.fixed)
    # the start runs its full budget whatever its rungs say: it is what every pick is held to;
    # so do its neighbours: which way from it gains shows only at the full budget
    scheduler = StartFullASHA(time_attr="iteration", max_t=iterations, grace_period=grace,
                              reduction_factor=3, start=start, full=points[1:])
    budget = FailureBudget(spec.max_failed_trials)  # stops the sweep once too many trials errored
    return tune.Tuner(
        _trainable(spec, trainable),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode=MODE, search_alg=searcher, scheduler=scheduler,
            num_samples=spec.trials, time_budget_s=spec.time_budget, reuse_actors=True,
            trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=spec.name, storage_path=spec.storage_path,
            callbacks=[
                tracking.TrialRuns(spec.tracking_uri, spec.experiment_name, spec.parent_run_id,
                                   tags={"problem": spec.problem, "method": spec.method,
                                         tracking.SWEEP_TAG: spec.name}),
                ProgressLines(spec.trials, budget_s=spec.time_budget), budget, *callbacks],
            stop=budget,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            verbose=1 if spec.verbose else 0))


def _with_concurrency(spec: SweepSpec, fits: int) -> SweepSpec:
    """Trials at once: --max-concurrent; else, on a local Ray, what fits on it; on a cluster,
    every trial: those that do not fit wait as pending trials, and their resource requests are
    what makes the autoscaler add nodes (up to the cluster's max_workers)."""
    n = spec.max_concurrent or (spec.trials if spec.address else fits)
    return dataclasses.replace(spec, max_concurrent=n)


# -- MLflow in line with Tune --------------------------------------------------------------------------
def _reconcile_mlflow(spec: SweepSpec, df: Any) -> tuple[BaseException | None, int]:
    """Delete orphan runs, end runs Tune never closed, write what an outage missed. Returns the
    store's error (None if it answered) and how many orphans were deleted."""
    deleted = 0
    try:
        if not df.empty:
            deleted = tracking.reconcile(spec.tracking_uri, spec.experiment_id,
                                         spec.parent_run_id, set(df["trial_id"]))
            tracking.close_open_runs(spec.tracking_uri, spec.experiment_id, spec.parent_run_id,
                                     dict(zip(df["trial_id"], df["status"])))
        if tracking.UNSYNCED or (spec.resume and not df.empty):
            from .relog import relog

            # what this driver could not write is in UNSYNCED; what a driver killed before it
            # could not write died with it (an MLflow outage, then the kill: a run short of its
            # reports, or never created), so a resumed sweep has every trial checked against
            # Tune's folder: relog writes only what MLflow lacks
            only = set(df["trial_id"]) if spec.resume else set(tracking.UNSYNCED)
            relog(spec.exp_dir, spec.tracking_uri, only=only, quiet=True)
            tracking.UNSYNCED.clear()
    except tracking.STORE_ERRORS as e:
        return e, deleted
    return None, deleted


def _check_outcome(grid: Any, df: Any, spec: SweepSpec) -> None:
    """Raise SweepError when the sweep has nothing to summarise: more trials errored than
    --max-failed-trials allows, or no trial reported a result."""
    _check_failure_budget(grid, spec)
    if df.empty or not (df["iteration"] > 0).any():
        errored = [r for r in grid if r.error is not None]
        raise SweepError(f"no trial produced a result; see {spec.exp_dir}" + (
            f": {len(errored)} trials failed, first error: {_error_line(errored[0].error)}"
            if errored else ""))


def _check_failure_budget(grid: Any, spec: SweepSpec) -> None:
    """Raise SweepError if more trials errored than --max-failed-trials allows (FailureBudget
    stopped the sweep then), naming the first error and where its traceback is."""
    budget = spec.max_failed_trials
    errored = [r for r in grid if r.error is not None]
    if budget is None or len(errored) <= budget:
        return
    first = errored[0]
    trial_dir = first.path or spec.exp_dir
    try:
        MlflowClient(spec.tracking_uri).set_terminated(spec.parent_run_id, "FAILED")
    except tracking.STORE_ERRORS:
        pass
    raise SweepError(
        f"stopped: {len(errored)} trials failed (after {spec.max_failures} retries each), more "
        f"than --max-failed-trials {budget} allows; first error: {_error_line(first.error)} "
        f"(traceback in {trial_dir}/error.txt); fix the cause, then retry the errored trials "
        f"with --resume {spec.exp_dir}")


def _error_line(error: BaseException) -> str:
    """The exception's own line out of Ray's wrapped traceback ('InjectedFault: ...')."""
    lines = [x.strip() for x in str(error).splitlines() if x.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "~")) and ":" in line:
            return line[:300]
    return (lines[-1] if lines else type(error).__name__)[:300]


# -- the summary -----------------------------------------------------------------------------------------
def _summary(spec: SweepSpec, df: Any, store_error: BaseException | None, *, fits: int,
             deleted: int, started: float, fit_seconds: float
             ) -> tuple[dict[str, Any], BaseException | None]:
    """The summary (``summary.summarize``) with the pick (``_pick``), its confirmation, the
    search gain and the baseline (``_confirm``), and where everything is: the MLflow run, the
    Optuna study, Tune's folder, the time spent. Returns it and the store's error, if MLflow
    stopped answering."""
    searched = spec.searched()
    out = S.summarize(df, searched)
    start_id = decide.start_trial(df, spec.space().start_point())
    _pick(spec, df, out, start_id, searched)
    store_error = _confirm(spec, out, start_id, store_error)
    slots_used = max(1, min(spec.max_concurrent or fits, fits, spec.trials))
    slot_seconds = max(fit_seconds * slots_used, 1e-9)  # the trial slots' time
    out.update({
        "problem": spec.problem, "method": spec.method, "objective": spec.objective,
        "mlflow": {"tracking_uri": spec.tracking_uri, "experiment_name": spec.experiment_name,
                   "experiment_id": spec.experiment_id, "parent_run_id": spec.parent_run_id,
                   "runs_url": _runs_url(spec)},
        "optuna": {"storage": spec.optuna_storage, "study_name": spec.name},
        "sweep": spec.name, "ray_results": spec.exp_dir,
        # in all: the finalists, the confirmations and the baseline too
        "wall_seconds": time.perf_counter() - started, "fit_seconds": fit_seconds,
        "training_share": out["training_seconds"] / slot_seconds,
        # throughput: trial-epochs per second of a trial slot (per core-second at 1 CPU a trial)
        "trial_epochs_per_slot_second": out["trial_epochs"] / slot_seconds,
        "orphan_runs_deleted": deleted,
    })
    return out, store_error


# the race's seeds at least: with 4 against 4 a one-sided rank test reaches p = 1/70 at best, so
# at 0.05 over 3 finalists only a finalist better on every seed could pass (bench/search.py on the
# zoo's Poisson problem, trials of 4 seeds: the start kept at search seed 1 where TPE with 8 seeds
# a trial found a pick 16x better)
RACE_MIN_SEEDS = 8


def _pick(spec: SweepSpec, df: Any, out: dict[str, Any], start_id: str | None,
          searched: list[str]) -> None:
    """The finalists (the start and the best trials, ``--finalists`` in all) raced on fresh
    seeds side by side; the pick, by the objective over each one's race seeds, becomes
    ``out["best"]`` (``sweeps.decide``)."""
    ids = decide.finalists(df, start_id, spec.finalists)
    if len(ids) < 2:
        return
    rows = {t: df[df["trial_id"] == t].iloc[0] for t in ids}
    seeds = max(RACE_MIN_SEEDS, spec.fixed["seeds"])  # enough for the test to tell
    _say(f"racing {len(ids)} finalists on {seeds} fresh seeds each ...")
    races = decide.run_all([S.confirm_config(rows[t]["config"], seeds, S.budget(rows[t]),
                                             offset=S.RACE_SEED_OFFSET) for t in ids],
                           spec.cpus_per_trial)
    scores = {t: decide.race_score(r, spec.objective) for t, r in zip(ids, races)}
    # the start stays unless a finalist beats it on the race seeds, past the noise
    tests = ({t: decide.beats_start(r, races[ids.index(start_id)], len(ids) - 1)
              for t, r in zip(ids, races) if t != start_id} if start_id in ids else {})
    eligible = [t for t in ids if t not in tests or tests[t][0]]
    pick = min(eligible, key=lambda t: (scores[t], ids.index(t)))
    out["finalists"] = [{"trial_id": t, "start": t == start_id, "race_seeds": seeds,
                         "race_median_mse": r.median_mse, "race_worst_mse": r.worst_mse,
                         "race_objective": scores[t], "race": S.result_part(r),
                         **({"beats_start": tests[t][0], "race_p": tests[t][1]}
                            if t in tests else {})}
                        for t, r in zip(ids, races)]
    out["race_alpha"] = decide.RACE_ALPHA
    out["picked_by"] = "finalists"
    if pick != out["best"]["trial_id"]:
        out["best"] = S.best_part(rows[pick], searched)


def _confirm(spec: SweepSpec, out: dict[str, Any], start_id: str | None,
             store_error: BaseException | None) -> BaseException | None:
    """Side by side on fresh seeds: the pick and the start (the first trial: the preset), on the
    same replicas (``--confirm-seeds``; default the trials' count, at least 8), for the search
    gain; and the baseline (l2 for equations, vae for distributions) on the pick's networks. Into
    ``out["confirm"]``, ``out["search_gain"]``, ``out["baseline"]``, and the baseline's figure
    onto the parent run."""
    seeds = max(8, spec.fixed["seeds"]) if spec.confirm_seeds is None else spec.confirm_seeds
    best, budget = out["best"], S.budget(out["best"])
    jobs: dict[str, Any] = {}
    if seeds:
        jobs["confirm"] = S.confirm_config(best["config"], seeds, budget)
        if best["trial_id"] != start_id:  # the preset, as every trial's fixed part has it
            start = {**spec.fixed, **spec.space().start_point()}
            jobs["start"] = S.confirm_config(start, seeds, spec.fixed["iterations"])
    method = S.baseline_method(spec.problem)
    if spec.baseline and method is not None and spec.method != method:
        # equal budgets: the pick's (its config's, unless it stopped early)
        jobs["baseline"] = S.baseline_config(best["config"], method, budget)
    if not jobs:
        return store_error
    _say(f"training {', '.join(_JOB_NAMES[k] for k in jobs)} "
         + (f"on {seeds} fresh seeds " if seeds else "") + "...")
    results = dict(zip(jobs, decide.run_all(list(jobs.values()), spec.cpus_per_trial)))
    if "confirm" in results:
        out["confirm"] = {"seed": results["confirm"].config.seed,
                          **S.result_part(results["confirm"])}
        pick_part = out["confirm"]
        start_part = S.result_part(results["start"]) if "start" in results else pick_part
        out["search_gain"] = {
            "start_trial_id": start_id, "start_is_pick": "start" not in results,
            "start_label": ("the DEQGAN paper's config" if spec.preset == "paper"
                            else "gansweep's preset"),
            "start": start_part, "pick": pick_part, **decide.gain(start_part, pick_part)}
    if "baseline" in results:
        result = results["baseline"]
        out["baseline"] = {"method": method, **S.result_part(result)}
        if store_error is None:
            try:
                _log_baseline(MlflowClient(spec.tracking_uri), spec.parent_run_id, result)
            except tracking.STORE_ERRORS as e:
                return e
    return store_error


_JOB_NAMES = {"confirm": "the pick", "start": "the start", "baseline": "the baseline"}


def _log_baseline(client: MlflowClient, parent: str, result: Any) -> None:
    """The baseline's method (tag) and figure on the parent run; its values (median, worst,
    failure rate, every seed's) go there with the summary's (``summary.parent_metrics``)."""
    from gan_core.plots import plot_solutions

    client.set_tag(parent, "baseline_method", result.config.method)
    with tempfile.TemporaryDirectory() as d:
        name = tracking.plot_name(result.config.problem)  # solution.png, samples.png, digits.png
        plot_solutions(result, Path(d, f"baseline_{result.config.method}_{name}"))
        import matplotlib.pyplot as plt

        plt.close("all")
        client.log_artifacts(parent, d, "baseline")


def _publish(spec: SweepSpec, df: Any, out: dict[str, Any],
             store_error: BaseException | None) -> None:
    """The summary printed, saved in Tune's folder (relog puts it on the parent from there),
    logged on the parent run, and written to --summary-json; SweepError if MLflow was down."""
    text = S.table(out) + "\n\n" + _where(out)
    with tempfile.TemporaryDirectory() as d:
        _write_summary(Path(d), df, out, text)
        storage.upload(Path(d), storage.join(spec.exp_dir, SUMMARY_DIR))
        if store_error is None:
            try:
                _log_summary(MlflowClient(spec.tracking_uri), spec.parent_run_id, out, Path(d))
            except tracking.STORE_ERRORS as e:
                store_error = e
    if spec.summary_json:
        Path(spec.summary_json).write_text(json.dumps(out, indent=2, default=str))
    print("\n" + text, flush=True)
    if store_error is not None:
        raise SweepError(
            f"MLflow at {spec.tracking_uri} stopped answering "
            f"({tracking.short_error(store_error)}): Tune's results are complete in "
            f"{spec.exp_dir}; once the store answers again, write them to MLflow with: "
            f"gansweep relog {spec.exp_dir}")


def _write_summary(d: Path, df: Any, out: dict[str, Any], text: str) -> None:
    df.drop(columns=["config"]).to_csv(d / "summary.csv", index=False)
    (d / "summary.txt").write_text(text + "\n")
    (d / "summary.json").write_text(json.dumps(out, indent=2, default=str))


def _log_summary(client: MlflowClient, parent: str, out: dict[str, Any], folder: Path) -> None:
    values = {**S.parent_metrics(out), "sweep/wall_seconds": out["wall_seconds"],
              "sweep/training_share": out["training_share"],
              "sweep/trial_epochs": out["trial_epochs"],
              "sweep/trial_epochs_per_slot_second": out["trial_epochs_per_slot_second"]}
    # None: not known (no failure rate where no trial ran its full budget; no baseline)
    tracking.log_values(client, parent, {k: v for k, v in values.items() if v is not None})
    client.set_tag(parent, "best_trial_id", out["best"]["trial_id"])
    client.log_artifacts(parent, str(folder), "summary")
    client.set_terminated(parent, "FINISHED")


# -- Ray ---------------------------------------------------------------------------------------------
def _start_ray(spec: SweepSpec) -> bool:
    """Join `--address`, reuse a Ray this process already started, or start a local one."""
    if not spec.verbose:  # Tune's TensorBoard logger warns at every report with an inf in it:
        # a diverged seed's MSE is data, not a warning ("NaN or Inf found in input tensor.")
        logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)
    if ray.is_initialized():
        return False
    level = logging.INFO if spec.verbose else logging.WARNING
    if not spec.verbose:
        # Tune warns when trials checkpoint often; a small sweep does, and it is cheap here
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # its verbose=0 still prints a table
        logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        if spec.address:
            ray.init(address=spec.address, log_to_driver=spec.verbose, logging_level=level,
                     runtime_env=_runtime_env(spec))
        else:
            # address="local": never attach to some other Ray that happens to run on this machine
            ray.init(address="local", include_dashboard=False, log_to_driver=spec.verbose,
                     logging_level=level, runtime_env=_runtime_env(spec))
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SweepError(f"cannot start or join Ray (--address {spec.address}): {e}") from None
    return True


def _runtime_env(spec: SweepSpec) -> dict[str, Any] | None:
    """A user's problem (and study) reach every Ray worker without being installed there: their
    file's folder, or their package, travels as Ray's ``py_modules`` (gan_core's registry finds
    the shipped copy where the original path does not exist). None for built-in and installed
    problems. A Ray started before the sweep keeps its own runtime environment."""
    from gan_core.problems.registry import shipped_folder

    folders = {f for f in (shipped_folder(spec.problem), spec.study and shipped_folder(spec.study))
               if f}
    return {"py_modules": sorted(folders)} if folders else None


def _check_resources(spec: SweepSpec) -> int:
    """Fail now if no node can ever hold one trial; return how many trials fit at once now."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    where = f"the Ray cluster at {spec.address}" if spec.address else "the local Ray"
    node_gpus = [n.get("GPU", 0) for n in nodes]
    node_cpus = [n.get("CPU", 0) for n in nodes]
    g, c = spec.gpus_per_trial, spec.cpus_per_trial
    if g > 0 and max(node_gpus, default=0) < min(g, 1):
        raise SweepError(
            f"--gpus-per-trial {g}, but {where} has "
            f"{'no GPUs' if not any(node_gpus) else f'GPUs per node {node_gpus}'}: use "
            "--gpus-per-trial 0, or start GPU workers first (ray status shows them)")
    if g > 1 and max(node_gpus, default=0) < g:
        raise SweepError(f"--gpus-per-trial {g}, but no node of {where} has that "
                         f"many (GPUs per node: {node_gpus})")
    if max(node_cpus, default=0) < c:
        raise SweepError(f"--cpus-per-trial {c}, but no node of {where} has that "
                         f"many CPUs (CPUs per node: {node_cpus})")
    fits = sum(math.floor(n / c + 1e-9) for n in node_cpus)
    if g > 0:
        fits = min(fits, sum(math.floor(n / g + 1e-9) for n in node_gpus))
    return max(1, fits)


# -- output ------------------------------------------------------------------------------------------
def _say_start(spec: SweepSpec, fits: int) -> None:
    n = spec.max_concurrent or fits
    at_once = f"{n} at a time" if n <= fits else (
        f"up to {n} at a time ({fits} fit on the cluster now; the pending ones ask its "
        "autoscaler for more nodes)")
    metric = metric_of(spec.problem, spec.fixed.get("metric"))
    objective = (f"{spec.objective} {label(metric)} over seeds"
                 if spec.objective not in ("failure_rate", "failures") else
                 objective_name(spec.objective, metric, tiebreak_of(spec.problem)))
    _say(f"sweep {spec.name}: {'up to ' if spec.time_budget else ''}{spec.trials} trials of {spec.method} on {spec.problem}, "
         f"{spec.fixed['seeds']} seeds x {spec.fixed['iterations']} iterations each, {at_once}; "
         f"objective: {objective}"
         + (f"; time budget {spec.time_budget:.0f}s" if spec.time_budget and not spec.resume
            else ""))
    _say(f"  MLflow: {spec.tracking_uri} (experiment {spec.experiment_name!r}, runs: "
         f"{_runs_url(spec)})")
    _say(f"  Optuna: study {spec.name!r} in {spec.optuna_storage or 'Tune searcher state'}   "
         f"Tune: {spec.exp_dir}")
    if not spec.resume:
        _say(f"  First trial: {_first_trial(spec)}")


def _first_trial(spec: SweepSpec) -> str:
    """What the search tries first: the preset, or why Optuna's own sample (and the fix)."""
    preset = "the DEQGAN paper's config" if spec.preset == "paper" else "gansweep's preset"
    outside = spec.space().outside()
    if outside is None:
        more = len(first_points(spec)) - 1
        near = f", then its {more} neighbours (one key one step each)" if more else ""
        return (f"{preset}{near}, then Optuna's "
                f"{'random search' if spec.sampler == 'random' else 'TPE'}")
    key, value, wider = outside
    shown = f"{value:.4g}" if isinstance(value, float) else value
    return (f"Optuna's own sample, not {preset}: its {key} = {shown} lies outside the space "
            f"(--search {key}={wider} takes it in)")


def _where(out: dict[str, Any]) -> str:
    m, o = out["mlflow"], out["optuna"]
    uri = m["tracking_uri"]
    ui = (f"mlflow ui --backend-store-uri {uri}   then open {m['runs_url']}"
          if not uri.startswith(("http", "databricks")) else f"open {m['runs_url']}")
    lines = [
        f"MLflow:   {uri}  experiment {m['experiment_name']!r} (id {m['experiment_id']}), "
        f"parent run {m['parent_run_id']}",
        f"Optuna:   study {o['study_name']!r} in {o['storage'] or 'Tune searcher state'}",
        f"Tune:     {out['ray_results']}",
        f"Time:     {out['wall_seconds']:.0f}s in all; training {out['training_share']:.0%} of "
        f"the trial slots' time; {out['trial_epochs']:,} trial-epochs (seeds x iterations), "
        f"{out['trial_epochs_per_slot_second']:.0f} per trial-slot second",
        f"Open:     {ui}",
    ]
    if o["storage"]:
        lines.append(f"          optuna-dashboard {o['storage']}")
    lines += [
        f"          GANSWEEP_SOURCE={m['experiment_name']} GANSWEEP_TRACKING_URI={uri} "
        f"GANSWEEP_SWEEP={out['sweep']} jupyter lab {_ANALYSIS}",
        f"          python -m analysis report {m['experiment_name']} --tracking-uri {uri} "
        f"--sweep {out['sweep']}",
    ]
    return "\n".join(lines)


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
