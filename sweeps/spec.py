"""``SweepSpec``: everything that defines one sweep, typed and frozen, saved beside Tune's state.

The CLI and the Python API build one from the same options (``cli.build``); the driver adds the
sweep's identity when it starts it (its name, MLflow experiment and parent run) and saves it as
``gansweep.json`` in the sweep's Tune folder; ``--resume`` and ``gansweep relog`` load it from there,
a local folder or a URI (s3://, gs://, file://).

    spec = SweepSpec.load("ray_results/sho-gan-20250101-120000")
    spec.space().distributions()      # what the sweep searches
    spec.exp_dir, spec.tracking_uri, spec.optuna_storage, spec.name   # where everything is

The stores of a new sweep are resolved here too: MLflow's URI (``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else ``./mlflow.db``) and Optuna's storage (``--optuna-storage``, else
``optuna.db`` beside a sqlite MLflow store).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import storage
from .errors import UsageError
from .options import DEFAULTS
from .overrides import CustomSpace
from .spaces import Space, study_for

SPEC_FILE = "gansweep.json"  # the spec, in the sweep's Tune folder
SUMMARY_DIR = "summary"  # the summary files (csv, txt, json), in the sweep's Tune folder
TRACKING_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: honoured when no option is given
# the options of one invocation, not of the sweep: a --resume keeps its own, not the saved ones
_INVOCATION = ("address", "resume", "summary_json", "baseline", "confirm_seeds", "finalists",
               "verbose",
               "argv")


@dataclass(frozen=True)
class SweepSpec:
    """One sweep: what it searches, how its trials run, where its results go, and (once started)
    its identity. Paths are absolute or URIs; numbers are concrete."""

    # The options (sweeps/options.py: their meaning and defaults), resolved by cli.build: paths
    # absolute, budgets concrete, the fixed config complete.
    # -- what is searched
    problem: str  # a gan_core problem key (sho, exp, moons, ...) or reference (file.py:Class)
    method: str = DEFAULTS["method"]
    objective: str = "median"  # median | p90 | worst | failure_rate over seeds (spaces.OBJECTIVES)
    trials: int = 16  # Tune num_samples: at most this many trials
    time_budget: float | None = None  # seconds of Tune fit time; None = no limit
    fixed: dict[str, Any] = field(default_factory=dict)  # every Config key not searched, flat
    preset: str = DEFAULTS["preset"]  # where `fixed` starts
    pinned: list[str] = field(default_factory=list)  # searched keys fixed by --set
    ranges: dict[str, list[Any]] = field(default_factory=dict)  # searched keys --search re-ranged
    seed: int = DEFAULTS["seed"]  # seeds the sampler (the trials' replicas: fixed["seed"])
    sampler: str = DEFAULTS["sampler"]
    neighbours: bool = DEFAULTS["neighbours"]  # the start's neighbours right after the start
    study: str | None = None  # a name in spaces.STUDIES or a module:function reference (None:
    # the problem's own study, else its family's)
    # -- how trials run
    cpus_per_trial: float = DEFAULTS["cpus_per_trial"]
    gpus_per_trial: float = DEFAULTS["gpus_per_trial"]
    max_concurrent: int | None = DEFAULTS["max_concurrent"]  # None: what the cluster allows
    max_failures: int = DEFAULTS["max_failures"]
    max_failed_trials: int | None = DEFAULTS["max_failed_trials"]
    # -- where results go
    tracking_uri: str = ""  # MLflow store
    experiment_name: str = ""  # MLflow experiment
    storage_path: str = ""  # Tune's results: the folder (or URI) that holds the sweep's folder
    optuna_storage: str = ""  # Optuna RDB storage URL of the study ("": the searcher's own, old)
    # -- this invocation (a --resume keeps its own)
    address: str | None = DEFAULTS["address"]  # None: a local Ray in this process
    resume: str | None = None  # the Tune folder of the sweep to finish
    summary_json: str | None = DEFAULTS["summary_json"]
    baseline: bool = DEFAULTS["baseline"]
    confirm_seeds: int | None = DEFAULTS["confirm_seeds"]  # None: a trial's seeds, at least 8
    finalists: int = DEFAULTS["finalists"]  # sweeps/decide.py
    verbose: bool = DEFAULTS["verbose"]
    smoke: bool = DEFAULTS["smoke_test"]  # --smoke-test: tiny budget, temporary stores
    argv: tuple[str, ...] = ()  # the command line, for the parent run's params
    # -- the sweep's identity, set when it starts
    name: str | None = None  # <problem>-<method>-<time>: Tune's folder, the study, the parent run
    experiment_id: str | None = None  # MLflow experiment id
    parent_run_id: str | None = None  # MLflow parent run of the trials' runs
    relog_parents: dict[str, str] = field(default_factory=dict)  # relog's parents in other stores

    @staticmethod
    def from_options() -> list[str]:
        """The fields that take an option's value as it is given (``sweeps.options.Options``;
        ``cli.build`` resolves the others: the stores, the budget, the fixed config)."""
        return [f.name for f in dataclasses.fields(SweepSpec) if f.name in DEFAULTS
                and f.name not in ("resume", "study", "objective")]

    # -- derived ---------------------------------------------------------------------------------
    @property
    def exp_dir(self) -> str:
        """The sweep's Tune folder (a path or a URI): the storage path / its name."""
        if self.name is None:
            raise ValueError("the sweep has not started: it has no name (and no folder) yet")
        return storage.join(self.storage_path, self.name)

    def space(self) -> Space:
        """The define-by-run space: the problem's study around the fixed config, with the --set
        pins and --search ranges."""
        study = study_for(self.problem, self.study)
        if self.pinned or self.ranges:
            return CustomSpace(study, self.method, self.fixed, self.pinned, self.ranges)
        return Space(study, self.method, self.fixed)

    def searched(self) -> list[str]:
        """The names of the searched keys (``G.lr``, ``G.width``, ...)."""
        return list(self.space().distributions())

    # -- save / load -----------------------------------------------------------------------------
    def save(self) -> None:
        """Write the spec as JSON into the sweep's Tune folder (local or URI)."""
        d = dataclasses.asdict(self)
        d.pop("storage_path")  # the folder it is saved in says where it is
        storage.write_text(storage.join(self.exp_dir, SPEC_FILE),
                           json.dumps(d, indent=2, default=str))

    @classmethod
    def load(cls, exp_dir: str) -> SweepSpec:
        """The spec saved in the Tune folder `exp_dir` (a path or a URI); FileNotFoundError if it
        holds none."""
        d = json.loads(storage.read_text(storage.join(exp_dir, SPEC_FILE)))
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UsageError(f"{storage.join(exp_dir, SPEC_FILE)}: unknown keys {unknown} "
                             "(written by a newer gansweep?): upgrade gansweep to resume it")
        d.pop("storage_path", None)
        d["argv"] = tuple(d.get("argv") or ())
        parent = exp_dir.rstrip("/").rsplit("/", 1)[0] if storage.is_uri(exp_dir) \
            else str(Path(exp_dir).resolve().parent)
        return cls(**d, storage_path=parent)

    def resumed(self) -> SweepSpec:
        """The sweep saved at ``self.resume`` as it was started (its search, its stores, its
        identity), with this invocation's own options (address, summary file, baseline, ...)."""
        assert self.resume is not None, "resumed() of a spec without resume"
        saved = SweepSpec.load(self.resume)
        return dataclasses.replace(saved, **{k: getattr(self, k) for k in _INVOCATION})

    def started(self, name: str, experiment_id: str, parent_run_id: str) -> SweepSpec:
        """This spec with the identity of the sweep that starts now."""
        return dataclasses.replace(self, name=name, experiment_id=experiment_id,
                                   parent_run_id=parent_run_id)


# -- stores ---------------------------------------------------------------------------------------------
def tracking_uri(option: str | None, default: Path) -> str:
    """MLflow's store: `option`, else ``$MLFLOW_TRACKING_URI``, else sqlite at `default`. A sqlite
    path becomes absolute (Ray workers and later commands run elsewhere); a plain path is a
    sqlite file."""
    value, source = option, "--tracking-uri"
    if value is None and os.environ.get(TRACKING_ENV):
        value, source = os.environ[TRACKING_ENV], TRACKING_ENV
    if value is None:
        return f"sqlite:///{default.resolve()}"
    said = f"{source} {value}" if source.startswith("--") else f"{source}={value}"
    if value.startswith("sqlite:///"):
        return f"sqlite:///{Path(value[len('sqlite:///'):]).expanduser().resolve()}"
    if value.startswith(("http://", "https://", "databricks", "file:")):
        return value
    if "://" in value:
        raise UsageError(f"{said}: use sqlite:///PATH, http(s)://HOST:PORT, file:///PATH or a "
                         "plain path to a .db file")
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise UsageError(f"{said} is a folder: give a .db file, or file:///PATH for MLflow's "
                         "file store")
    return f"sqlite:///{path}"


_OPTUNA_DIALECTS = ("sqlite", "postgresql", "mysql", "oracle", "mssql")  # SQLAlchemy's, as Optuna


def optuna_storage(option: str | None, tracking: str, folder: Path) -> str:
    """Optuna's RDB storage URL: `option` (a SQLAlchemy URL, or a path to a sqlite file), else
    ``optuna.db`` beside a sqlite MLflow store, else ``optuna.db`` in `folder`."""
    if option is None:
        if tracking.startswith("sqlite:///"):
            return f"sqlite:///{Path(tracking[len('sqlite:///'):]).parent / 'optuna.db'}"
        return f"sqlite:///{(folder / 'optuna.db').resolve()}"
    if option.startswith("sqlite:///"):
        return f"sqlite:///{Path(option[len('sqlite:///'):]).expanduser().resolve()}"
    if "://" in option:
        dialect = option.split("://", 1)[0].split("+", 1)[0]
        if dialect not in _OPTUNA_DIALECTS:
            raise UsageError(f"--optuna-storage {option}: not a database URL Optuna can use: "
                             "give sqlite:///PATH, postgresql://..., mysql://... or a path to a "
                             ".db file")
        return option
    path = Path(option).expanduser().resolve()
    if path.is_dir():
        raise UsageError(f"--optuna-storage {option} is a folder: give a .db file")
    return f"sqlite:///{path}"
