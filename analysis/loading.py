"""A sweep as one tidy DataFrame: one row per (trial, seed), from MLflow or from Tune's folder.

    df = load_sweep("gansweep-sho", tracking_uri="sqlite:///mlflow.db")   # MLflow experiment
    df = load_sweep("ray_results/sho-gan-20261123-201306")               # Tune's results folder
    curves = load_curves(<same source>)                                   # per-seed metric over time

Both sources are first read into the same per-trial records (params, the metrics of every report,
tags), and one function builds the frame from those records, so the two frames agree exactly.

Columns of the sweep frame (``FRAME_COLUMNS``, then one column per config key, e.g. ``G.lr``):

| column | meaning |
|---|---|
| sweep | the sweep's name (Tune's experiment folder = the MLflow parent run's name) |
| trial_id | Tune's trial id; one trial = one config |
| seed | replica index k within the trial (own initial weights and point noise) |
| metric | what final_mse / best_mse hold: the problem's primary metric, lower is better (``mse`` for equations; ``energy``, ``w1``, ``label_energy``, ``code_error``, ``modes_missed``, ``classes_missed`` for distributions) |
| status | how the trial ended (``sweeps.status``): ok / diverged (every seed) / early-stopped (fewer iterations than its config's: ASHA, the sweep's time budget, or still running) / error; ok and diverged are the full budget the failure rates count |
| seed_status | this seed: ok / failed (finite metric above the threshold) / collapsed (failed on a constant solution where the reference varies) / diverged (non-finite) / abandoned (given up by residual monitoring, ``monitor="abandon"``; counted as failed) |
| restarts | times residual monitoring restarted this seed from fresh weights (``monitor="restart"``; 0 without monitoring) |
| final_mse | this seed's primary metric (MSE for equations; see ``metric``) at the trial's last report (+inf when it diverged, NaN if never reported); the name is historical |
| best_mse | this seed's lowest value of that metric over the trial's reports |
| failure_threshold | metric value above which a seed failed: the config's, else the problem's class default (digits: more than 2 classes missed = mode collapse) |
| iteration | the trial's last reported iteration (below the config's ``iterations`` when ASHA stopped it) |
| wall_time | seconds the trial spent training (``train/seconds``) |
| objective | the trial's sweep objective at its last report (log10 of the median MSE or distance by default; the median itself for counts such as classes_missed) |
| node | where it ran: hostname/node IP/Ray node id prefix |

The curve frame's ``mse`` column likewise holds the primary metric of each report.

The config key ``seed`` (the trial's base random seed) is renamed ``base_seed``: ``seed`` is the
replica. A frame holds ``attrs`` naming its source (see ``load_sweep``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from gan_core import PROBLEMS
from gan_core.config import failed_seeds, parse_value
from sweeps.metrics import metric_of
from sweeps.spec import SPEC_FILE, SweepSpec
from sweeps.status import classify

# per-seed values, as the sweeps' trainable reports them: eval/<metric>_seed_<k> (eval/mse_seed_3
# for equations, eval/energy_seed_0 for moons, eval/classes_missed_seed_1 for digits)
SEED_KEY = re.compile(r"^eval/(?P<metric>.+)_seed_(?P<seed>\d+)$")
SWEEP_FILE = SPEC_FILE  # the sweep's SweepSpec in Tune's experiment folder (sweeps.spec)
FRAME_COLUMNS = ["sweep", "trial_id", "seed", "problem", "method", "metric", "status", "seed_status",
                 "restarts", "final_mse", "best_mse", "failure_threshold", "iteration", "wall_time",
                 "objective", "node"]
CURVE_COLUMNS = ["sweep", "trial_id", "seed", "iteration", "mse", "g_loss", "d_loss"]
# config keys that would clash with a frame column: the base seed is renamed; the config's own
# failure_threshold (None = the problem's) is dropped, the frame's column holds the one in force
_RENAMED = {"seed": "base_seed"}
_DROPPED = {"failure_threshold"}
_MLFLOW_MAX = sys.float_info.max  # MLflow's SQL store saves +inf as the largest float


class SweepNotFound(LookupError):
    """The source names no sweep (or no store) we can read; the message says what was looked for,
    where, and the fix in the caller's words: ``str(e)`` names Python's arguments
    (``tracking_uri='sqlite:///PATH'``), ``e.cli()`` the command line's options
    (``--tracking-uri sqlite:///PATH``)."""

    def __init__(self, message: Callable[[Callable[[str, str], str]], str]) -> None:
        """`message`: the text, given a function that names an argument (name, example value)."""
        self._cli = message(lambda name, value: f"--{name.replace('_', '-')} {value}")
        super().__init__(message(lambda name, value: f"{name}={value!r}"))

    def cli(self) -> str:
        """The message as the command line (``python -m analysis report``) names its options."""
        return self._cli


@dataclass
class TrialRecord:
    """One trial as both sources hold it: its config, the metrics of each report, a few tags."""

    sweep: str
    trial_id: str
    params: dict[str, Any]
    reports: list[dict[str, Any]]  # one dict per report, ordered by iteration; has "iteration"
    status: str | None = None  # ok / diverged / early-stopped / error (None: infer from reports)
    node: str | None = None
    error: bool = False
    location: dict[str, str] = field(default_factory=dict)  # where weights live (not in the frame)


# -- public API -------------------------------------------------------------------------------------
def load_sweep(source: str | Path, tracking_uri: str | None = None, sweep: str | None = None
               ) -> pd.DataFrame:
    """The tidy (trial, seed) frame of a sweep.

    source: a Tune experiment folder (or a storage folder holding several: the newest, or `sweep`),
    or an MLflow experiment name / id (its newest sweep, or the parent run named or id'd `sweep`;
    ``sweep="all"`` loads every sweep of the experiment or folder).
    tracking_uri: MLflow's store for experiment sources (default: ``$MLFLOW_TRACKING_URI``, else
    sqlite ./mlflow.db), resolved as the sweeps resolve ``--tracking-uri``.
    ``df.attrs`` records where it came from (used to find weights and to log a report).
    """
    records, attrs = _records(source, tracking_uri, sweep)
    df = frame(records)
    df.attrs.update(attrs)
    return df


def load_curves(source: str | Path, tracking_uri: str | None = None, sweep: str | None = None
                ) -> pd.DataFrame:
    """Per-seed primary metric (``mse``: MSE for equations, e.g. classes missed for digits) over
    iterations: one row per (trial, seed, report), ``CURVE_COLUMNS``.

    g_loss / d_loss are what the sweep logs: the median over the trial's live seeds (the same
    value on every seed's row of that report).
    """
    records, attrs = _records(source, tracking_uri, sweep)
    df = curves(records)
    df.attrs.update(attrs)
    return df


def frame(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """Build the tidy frame from trial records (shared by both sources)."""
    rows: list[dict[str, Any]] = []
    param_keys: set[str] = set()
    for r in records:
        threshold = _threshold(r.params)
        params = {_RENAMED.get(k, k): _hashable(v) for k, v in r.params.items()
                  if k not in _DROPPED}
        param_keys |= set(params)
        last = r.reports[-1] if r.reports else {}
        metric = _metric(r, params)
        seen = [k + 1 for rep in r.reports for k in _seed_keys(rep, metric).values()]
        seeds = max([int(params.get("seeds") or 0), *seen])
        for k in range(seeds):
            key = f"eval/{metric}_seed_{k}"
            history = [_num(rep.get(key)) for rep in r.reports if key in rep]
            final = history[-1] if history else math.nan
            best = _inf_aware_min(history)
            rows.append({
                "sweep": r.sweep, "trial_id": r.trial_id, "seed": k,
                "problem": params.get("problem"), "method": params.get("method"),
                "metric": metric,
                "status": r.status or classify(last, params.get("iterations"), error=r.error,
                                               seeds=params.get("seeds")),
                "seed_status": seed_status(final, threshold,
                                           abandoned=bool(last.get(f"eval/abandoned_seed_{k}")),
                                           collapsed=bool(last.get(f"eval/collapsed_seed_{k}"))),
                "restarts": int(_num(last.get(f"eval/restarts_seed_{k}", 0))),
                "final_mse": final, "best_mse": best, "failure_threshold": threshold,
                "iteration": int(last.get("iteration", 0)),
                "wall_time": _num(last.get("train/seconds", math.nan)),
                "objective": _num(last.get("objective", math.nan)),
                "node": r.node if r.node is not None else _node(last),
                **{p: v for p, v in params.items() if p not in _OWN},
            })
    params = sorted(param_keys - set(_OWN))
    df = pd.DataFrame(rows, columns=FRAME_COLUMNS + params)
    df = df.sort_values(["sweep", "trial_id", "seed"], kind="stable").reset_index(drop=True)
    return df.astype({"seed": "int64", "iteration": "int64", "final_mse": "float64",
                      "best_mse": "float64", "failure_threshold": "float64",
                      "wall_time": "float64", "objective": "float64"})


def curves(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """Build the long curve frame from trial records (shared by both sources)."""
    rows = []
    for r in records:
        metric = _metric(r, r.params)
        for rep in r.reports:
            for key, k in sorted(_seed_keys(rep, metric).items(), key=lambda kv: kv[1]):
                rows.append({"sweep": r.sweep, "trial_id": r.trial_id, "seed": k,
                             "iteration": int(rep["iteration"]), "mse": _num(rep[key]),
                             "g_loss": _num(rep.get("train/g_loss", math.nan)),
                             "d_loss": _num(rep.get("train/d_loss", math.nan))})
    df = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    return (df.sort_values(["sweep", "trial_id", "seed", "iteration"], kind="stable")
            .reset_index(drop=True)
            .astype({"seed": "int64", "iteration": "int64", "mse": "float64",
                     "g_loss": "float64", "d_loss": "float64"}))


# config keys the frame holds in its own columns: "metric" is the primary metric in force (a
# config's ``metric``, resolved by the problem when None), never the raw setting beside it
_OWN = ("problem", "method", "metric")


def _metric(r: TrialRecord, params: dict[str, Any]) -> str:
    """The trial's primary metric: its problem's, else the one its per-seed keys name."""
    if params.get("problem") in PROBLEMS:
        return metric_of(params["problem"], params.get("metric"))
    for rep in r.reports:
        for k in rep:
            if (m := SEED_KEY.match(k)) is not None:
                return m["metric"]
    return "mse"


def _seed_keys(report: dict[str, Any], metric: str) -> dict[str, int]:
    """{eval/<metric>_seed_<k>: k} of one report."""
    return {k: int(m["seed"]) for k in report
            if (m := SEED_KEY.match(k)) is not None and m["metric"] == metric}


def seed_status(mse: float, threshold: float, abandoned: bool = False,
                collapsed: bool = False) -> str:
    """ok / failed (finite, above the threshold) / collapsed (failed on a constant solution where
    the reference varies) / diverged (non-finite: inf, or NaN) / abandoned (given up by residual
    monitoring; its metric reads +inf); all but ok are gan_core's one failure rule
    (``gan_core.config.failed_seeds``, ``Result.seed_status``)."""
    if abandoned:
        return "abandoned"
    if not math.isfinite(mse):
        return "diverged"
    if not failed_seeds(np.array([mse]), threshold)[0]:
        return "ok"
    return "collapsed" if collapsed else "failed"


def problem_threshold(problem: str) -> float:
    """The problem class's failure threshold (``gan_core.PROBLEMS[key].failure_threshold``)."""
    if problem not in PROBLEMS:
        raise KeyError(f"problem {problem!r} has no failure threshold: known problems are "
                       f"{', '.join(sorted(PROBLEMS))}; add a failure_threshold column to the frame")
    return float(PROBLEMS[problem].failure_threshold)


@dataclass
class LoggedBaseline:
    """The baseline a sweep trained at its end and logged (sweeps' driver): the method, the trial
    whose networks it used, its budget and every seed's final value of the primary metric."""

    method: str
    trial_id: str
    iterations: int
    values: list[float]


def logged_baseline(df: pd.DataFrame) -> LoggedBaseline | None:
    """The baseline the frame's sweep logged, from where the frame was loaded: the parent MLflow
    run (``baseline/<metric>_seed_<k>``, ``baseline/iterations``, tags ``baseline_method`` and
    ``best_trial_id``) or the Tune folder's ``summary/summary.json``. None when it logged none
    (``--no-baseline``, an InfoGAN problem, a sweep from before these were logged)."""
    logged = _logged(df, "baseline")
    if logged is None:
        return None
    values, part, tags = logged
    method, trial = tags.get("baseline_method") or part.get("method"), tags.get("best_trial_id")
    iterations = part.get("iterations")
    if not values or not method or not trial or not iterations:
        return None
    return LoggedBaseline(method=method, trial_id=str(trial), iterations=int(iterations),
                          values=values)


@dataclass
class LoggedConfirmation:
    """The best config trained again on fresh seeds at the sweep's end (``--confirm-seeds``):
    every seed's final value of the primary metric and its failure rate."""

    values: list[float]
    failure_rate: float


def logged_confirmation(df: pd.DataFrame) -> LoggedConfirmation | None:
    """The confirmation the frame's sweep logged (parent run ``confirm/*`` or summary.json's
    ``confirm``); None when it logged none (``--confirm-seeds 0``, an older sweep)."""
    logged = _logged(df, "confirm")
    if logged is None or not logged[0] or logged[1].get("failure_rate") is None:
        return None
    return LoggedConfirmation(values=logged[0], failure_rate=float(logged[1]["failure_rate"]))


_Logged = tuple[list[float], dict[str, Any], dict[str, Any]]


def _logged(df: pd.DataFrame, part: str) -> _Logged | None:
    """A run the sweep trained at its end (`part`: baseline or confirm), from where the frame was
    loaded: every seed's value (+inf for a diverged one), its other values (failure_rate,
    iterations; method from Tune's folder) and the parent run's tags (from Tune's folder, only
    best_trial_id)."""
    src = df.attrs.get("source")
    if src == "mlflow" and df.attrs.get("parent_run_id"):
        from mlflow.tracking import MlflowClient

        metric = str(df["metric"].iloc[0]) if len(df) else "mse"
        run = MlflowClient(df.attrs["tracking_uri"]).get_run(df.attrs["parent_run_id"]).data
        values = [run.metrics.get(f"{part}/{metric}_seed_{k}") for k in range(len(run.metrics))]
        values = values[:values.index(None)] if None in values else values
        found = {k: run.metrics.get(f"{part}/{k}") for k in ("failure_rate", "iterations")}
        tags = dict(run.tags)
    elif src == "tune" and df.attrs.get("path"):
        path = Path(df.attrs["path"], "summary", "summary.json")
        out = json.loads(path.read_text()) if path.is_file() else {}
        found = out.get(part) or {}
        values = found.get("seeds") or []
        tags = {"best_trial_id": (out.get("best") or {}).get("trial_id")}
    else:
        return None
    return [math.inf if v >= 1e300 else float(v) for v in values], found, tags


# -- sources --------------------------------------------------------------------------------------
def _records(source: str | Path, tracking_uri: str | None, sweep: str | None) -> tuple[list[TrialRecord], dict[str, Any]]:
    path = Path(str(source)).expanduser()
    if path.is_dir():
        return _tune_records(path.resolve(), sweep)
    return _mlflow_records(str(source), _resolved(tracking_uri), sweep)


def _resolved(tracking_uri: str | None) -> str:
    """``resolve_tracking_uri``, its UsageError (worded for the sweeps' command line) as
    SweepNotFound in the caller's words."""
    from sweeps.errors import UsageError

    try:
        return resolve_tracking_uri(tracking_uri)
    except UsageError as e:
        text, said = str(e), f"--tracking-uri {tracking_uri}"
        if tracking_uri is not None and text.startswith(said):
            raise SweepNotFound(lambda a: a("tracking_uri", tracking_uri) + text[len(said):]
                                ) from None
        raise SweepNotFound(lambda a: text) from None  # $MLFLOW_TRACKING_URI: the same both ways


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The MLflow store as the sweeps choose it (``sweeps.spec.tracking_uri``): `tracking_uri`,
    else ``$MLFLOW_TRACKING_URI``, else sqlite ./mlflow.db; sqlite paths made absolute."""
    from sweeps.spec import tracking_uri as resolve

    return resolve(tracking_uri, Path.cwd() / "mlflow.db")


def store_exists(tracking_uri: str) -> bool:
    """Is there an MLflow store at `tracking_uri` to read, without creating one? A sqlite file
    or a file store's folder must exist (MLflow's client creates either when it opens it: an
    empty ~1 MB mlflow.db); a server must answer (MLflow's client retries one for minutes)."""
    from sweeps.tracking import reachable

    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri[len("sqlite:///"):])
        if not path.is_file():
            return False
        with path.open("rb") as f:  # a database, not a stray file of that name
            return f.read(16) == b"SQLite format 3\x00"
    if tracking_uri.startswith("file:"):
        from urllib.parse import urlparse

        return Path(urlparse(tracking_uri).path).is_dir()
    if tracking_uri.startswith(("http://", "https://")):
        return reachable(tracking_uri)
    return True  # databricks and other hosted stores: their client's own errors


def open_store(tracking_uri: str, experiment: str) -> Any:
    """An MlflowClient on the store at `tracking_uri`, which must exist (``store_exists``):
    reading never creates a store. SweepNotFound names what is missing and the fix."""
    from mlflow.tracking import MlflowClient

    if not store_exists(tracking_uri):
        what = ("no MLflow server answers at" if tracking_uri.startswith("http")
                else "no MLflow store at")
        raise SweepNotFound(lambda a: f"{what} {tracking_uri}, so no experiment {experiment!r} "
                            f"(and no folder of that name): pass "
                            f"{a('tracking_uri', 'sqlite:///PATH')} (the store the sweep printed "
                            "after 'MLflow:'), or a Tune results folder")
    return MlflowClient(tracking_uri)


def _tune_experiments(path: Path, sweep: str | None) -> list[Path]:
    """The Tune experiment folders `path` stands for (itself, or its newest / named child)."""
    if any(path.glob("trial_*")) or (path / SWEEP_FILE).is_file():
        return [path]
    children = sorted((p for p in path.iterdir() if p.is_dir() and
                       ((p / SWEEP_FILE).is_file() or any(p.glob("trial_*")))),
                      key=lambda p: p.stat().st_mtime)
    if not children:
        raise SweepNotFound(lambda a: f"{path} is neither a Tune experiment folder (no trial_* "
                            "folders) nor a storage folder holding one; pass the folder the sweep "
                            "printed after 'Tune:'")
    if sweep == "all":
        return children
    if sweep is not None:
        named = [p for p in children if p.name == sweep]
        if not named:
            raise SweepNotFound(lambda a: f"no sweep {sweep!r} in {path}; there are: "
                                f"{', '.join(p.name for p in children)}")
        return named
    return [children[-1]]


def _tune_records(path: Path, sweep: str | None) -> tuple[list[TrialRecord], dict[str, Any]]:
    records = []
    experiments = _tune_experiments(path, sweep)
    for exp in experiments:
        for trial_dir in sorted(exp.glob("trial_*")):
            if not trial_dir.is_dir():
                continue
            params_file = trial_dir / "params.json"
            params = json.loads(params_file.read_text()) if params_file.is_file() else {}
            reports = []
            result_file = trial_dir / "result.json"
            if result_file.is_file():
                for line in result_file.read_text().splitlines():
                    if line.strip():
                        rep = json.loads(line)  # Python's json reads Infinity / NaN
                        rep.pop("config", None)
                        reports.append(rep)
            trial_id = (reports[-1].get("trial_id") if reports else None) or \
                trial_dir.name[len("trial_"):]
            error = (trial_dir / "error.txt").is_file() or (trial_dir / "error.pkl").is_file()
            records.append(TrialRecord(
                sweep=exp.name, trial_id=str(trial_id), params=params,
                reports=_dedupe(reports), error=error,
                location={"kind": "tune", "trial_dir": str(trial_dir)}))
    attrs: dict[str, Any] = {"source": "tune", "path": str(experiments[-1]),
                             "storage": str(experiments[-1].parent)}
    if (experiments[-1] / SWEEP_FILE).is_file():  # its MLflow run: where a report gets logged
        spec = SweepSpec.load(str(experiments[-1]))
        attrs.update(tracking_uri=spec.tracking_uri, experiment_id=spec.experiment_id,
                     parent_run_id=spec.parent_run_id, sweep=spec.name)
    return records, attrs


def _mlflow_records(experiment: str, tracking_uri: str, sweep: str | None
                    ) -> tuple[list[TrialRecord], dict[str, Any]]:
    client = open_store(tracking_uri, experiment)
    exp = client.get_experiment_by_name(experiment)
    if exp is None and experiment.isdigit():
        try:
            exp = client.get_experiment(experiment)
        except Exception:  # noqa: BLE001 -- mlflow raises its own exception types per store
            exp = None
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise SweepNotFound(lambda a: f"no MLflow experiment {experiment!r} in {tracking_uri} "
                            f"(and no folder of that name); experiments there: "
                            f"{', '.join(names) or 'none'}: pass "
                            f"{a('tracking_uri', 'sqlite:///PATH')} (the store the sweep printed "
                            "after 'MLflow:'), or a Tune results folder")
    parents = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'sweep'",
                                 order_by=["attributes.start_time ASC"], max_results=50000)
    if not parents:
        raise SweepNotFound(lambda a: f"experiment {exp.name!r} in {tracking_uri} has no sweep "
                            "parent run (tag kind = 'sweep')")
    if sweep == "all":
        chosen = parents
    elif sweep is not None:
        chosen = [p for p in parents if sweep in (p.info.run_id, p.info.run_name)]
        if not chosen:
            raise SweepNotFound(lambda a: f"no sweep {sweep!r} in experiment {exp.name!r}; "
                                f"sweeps there: {', '.join(p.info.run_name for p in parents)}")
    else:
        chosen = [parents[-1]]
    records = []
    for parent in chosen:
        children = client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
            max_results=50000)
        for run in children:
            reports = _mlflow_reports(client, run)
            tags = run.data.tags
            records.append(TrialRecord(
                sweep=parent.info.run_name, trial_id=tags.get("trial_id", run.info.run_id),
                params={k: parse_value(v) for k, v in run.data.params.items()},
                # status comes from the reports, as for Tune's folder: the run's status tag is
                # stale ("running") for trials the sweep's time budget stopped
                reports=reports, node=tags.get("node"),
                error=tags.get("status") == "error",
                location={"kind": "mlflow", "tracking_uri": tracking_uri,
                          "run_id": run.info.run_id}))
    last = chosen[-1]
    attrs = {"source": "mlflow", "tracking_uri": tracking_uri,
             "experiment_id": exp.experiment_id, "parent_run_id": last.info.run_id,
             "sweep": last.info.run_name, "path": last.data.tags.get("ray_results")}
    return records, attrs


def _mlflow_reports(client: Any, run: Any) -> list[dict[str, Any]]:
    """A run's metric histories folded back into one dict per report (step = iteration)."""
    by_step: dict[int, dict[str, Any]] = {}
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key):
            value = m.value
            if value >= _MLFLOW_MAX:
                value = math.inf
            elif value <= -_MLFLOW_MAX:
                value = -math.inf
            by_step.setdefault(int(m.step), {"iteration": int(m.step)})[key] = value
    return [by_step[s] for s in sorted(by_step)]


# -- helpers --------------------------------------------------------------------------------------
def _dedupe(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report per iteration, the latest kept (a retried trial reports some iterations twice,
    MLflow keeps one value per step for the frame)."""
    by_it: dict[int, dict[str, Any]] = {}
    for rep in reports:
        if "iteration" in rep:
            by_it[int(rep["iteration"])] = rep
    return [by_it[i] for i in sorted(by_it)]


def _node(last: dict[str, Any]) -> str | None:
    if not last:
        return None
    return (f"{last.get('hostname', '')}/{last.get('node_ip', '')}/"
            f"{str(last.get('node_id', ''))[:8]}")


def _threshold(params: dict[str, Any]) -> float:
    own = params.get("failure_threshold")
    if own is not None and not (isinstance(own, float) and math.isnan(own)):
        return float(own)
    problem = params.get("problem")
    return problem_threshold(problem) if problem in PROBLEMS else math.nan


def _hashable(v: Any) -> Any:
    """Lists (betas) become tuples, so config columns can be grouped and compared."""
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    return float(v)


def _inf_aware_min(values: list[float]) -> float:
    finite_or_inf = [v for v in values if not math.isnan(v)]
    return float(np.min(finite_or_inf)) if finite_or_inf else math.nan
