"""``gansweep run <problem>``: an Optuna + ASHA sweep on Ray Tune, tracked in MLflow.

    gansweep run sho                          # the main job (same as python sweeps/sho_sweep.py)
    gansweep run exp --method l2 --trials 8   # any problem, any method
    gansweep run sho --smoke-test             # a few trials and iterations, temporary stores
    gansweep run sho --resume                 # finish the last interrupted sho sweep
    gansweep run sho --address auto --gpus-per-trial 0.5 --tracking-uri http://head:5000
    gansweep run sho --set G.activation=tanh --search G.lr=1e-3:3e-3   # change the space
    gansweep relog ray_results/sho-gan-...    # (re)write a sweep's Tune results into MLflow

Every option is checked before Ray starts, and so are the MLflow store, --address and the local
GPUs: a bad value exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Sequence

from gan_core import METHODS, PROBLEMS, Config, ConfigError
from gan_core.presets import preset

from . import preflight
from .errors import UsageError
from .overrides import CustomSpace, parse_value, search_range, split
from .spaces import OBJECTIVES, Space, study_for

SWEEP_FILE = "gansweep.json"  # the sweep's own settings, beside Tune's state in the experiment dir

# Per-problem budgets of the default (no-option) run, sized for ~10 minutes on a 2-core laptop:
# at most `trials`, and Tune stops starting/continuing trials after `time_budget` seconds
BUDGETS: dict[str, dict[str, int]] = {
    "sho": {"trials": 32, "seeds": 8, "time_budget": 480},
    "exp": {"trials": 24, "seeds": 8, "time_budget": 480},
    "burgers": {"trials": 8, "seeds": 2, "iterations": 2000, "time_budget": 1800},
    # distribution problems: the time budget ends the default run. A moons trial (4 seeds, 3000
    # iterations of the preset) is ~1-2 min on one core plus an energy distance per seed and
    # report; a digits one (2000 iterations) ~40 s-1 min; ASHA stops most trials at 1/8 or 3/8
    "moons": {"trials": 24, "seeds": 4, "time_budget": 480},
    "digits": {"trials": 20, "seeds": 4, "iterations": 2000, "time_budget": 480},
}
DEFAULT_BUDGET = {"trials": 16, "seeds": 4, "time_budget": 1800}
SMOKE = {"trials": 3, "seeds": 2, "iterations": 30, "eval_every": 10, "time_budget": 0}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + error; we want one line
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gansweep run", description=__doc__.split("\n")[0])
    p.add_argument("problem", help=f"one of {', '.join(sorted(PROBLEMS))}")
    p.add_argument("--trials", type=int, help="Tune num_samples (default: per problem)")
    p.add_argument("--seeds", type=int, help="seeds trained at once in each trial")
    p.add_argument("--iterations", type=int, help="iterations per trial (default: the preset's)")
    p.add_argument("--eval-every", type=int, help="iterations between reports (default 100)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="stop the sweep after this long (Tune's time_budget_s; 0 = none; "
                        "default: per problem, 480 for sho)")
    p.add_argument("--method", default="gan", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--objective", default="median",
                   help=f"what to minimise over seeds: {' | '.join(OBJECTIVES)}")
    p.add_argument("--max-concurrent", type=int,
                   help="trials at once (default: what the cluster's CPUs/GPUs allow)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions allowed, e.g. 0.5")
    p.add_argument("--address", help="join a running Ray cluster (e.g. auto, host:6379); "
                                     "default: start a local Ray in this process")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite ./mlflow.db)")
    p.add_argument("--experiment-name", help="MLflow experiment (default: gansweep-<problem>)")
    p.add_argument("--storage-path", help="Tune results folder (default: ./ray_results)")
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH",
                   help="finish an interrupted sweep: its Tune folder, or the latest of <problem>")
    p.add_argument("--seed", type=int, default=0, help="seeds the TPE sampler and the trials")
    p.add_argument("--smoke-test", action="store_true",
                   help=f"{SMOKE['trials']} trials x {SMOKE['iterations']} iterations, temp stores")
    p.add_argument("--summary-json", metavar="PATH", help="also write the summary as JSON")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baseline (l2, Lagaris, for equations; vae for distributions)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a crashed trial")
    p.add_argument("--max-failed-trials", type=int, default=5,
                   help="stop the sweep once more than this many trials ended in error (after "
                        "their retries); 0: at the first")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a config field for every trial, e.g. --set G.activation=tanh; a "
                        "searched field is taken out of the search (repeatable)")
    p.add_argument("--search", action="append", default=[], metavar="KEY=RANGE",
                   help="a searched field's range: --search G.lr=1e-4:1e-2 (floats, ints; the "
                        "log scale is kept) or --search G.activation=tanh,sin (repeatable)")
    p.add_argument("--verbose", action="store_true", help="Ray's own progress tables and logs")
    return p


@dataclass
class Plan:
    """The validated, resolved options of one sweep (absolute paths, concrete numbers)."""

    problem: str
    method: str
    objective: str
    trials: int
    time_budget: float | None  # seconds of Tune fit time; None = no limit
    fixed: dict[str, Any]  # every Config key not searched (preset + options), as flat keys
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent: int | None
    address: str | None
    tracking_uri: str
    experiment_name: str
    storage_path: str
    resume: str | None
    seed: int
    summary_json: str | None
    baseline: bool
    max_failures: int
    max_failed_trials: int
    pinned: list[str]  # searched keys fixed by --set
    ranges: dict[str, list[Any]]  # searched keys given a new range by --search
    verbose: bool
    smoke: bool
    argv: list[str] = field(default_factory=list)


def plan(argv: Sequence[str]) -> Plan:
    """Parse and check every option without starting Ray; raises UsageError with one line."""
    a = parser().parse_args(list(argv))
    if a.problem not in PROBLEMS:
        raise UsageError(f"problem {a.problem!r} is unknown: choose one of "
                         f"{', '.join(sorted(PROBLEMS))}")
    if a.method not in METHODS:
        raise UsageError(f"--method {a.method!r} is unknown: choose one of {', '.join(METHODS)}")
    if a.objective not in OBJECTIVES:
        raise UsageError(f"--objective {a.objective!r} is unknown: choose one of "
                         f"{', '.join(OBJECTIVES)}")
    budget = {**BUDGETS.get(a.problem, DEFAULT_BUDGET), **(SMOKE if a.smoke_test else {})}
    for name in ("trials", "seeds", "iterations", "eval_every", "max_concurrent"):
        value = getattr(a, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} = {value}: expected an integer >= 1")
    if a.time_budget is not None and not (math.isfinite(a.time_budget) and a.time_budget >= 0):
        raise UsageError(f"--time-budget = {a.time_budget}: expected seconds >= 0 (0 = no limit)")
    if a.max_failures < 0:
        raise UsageError(f"--max-failures = {a.max_failures}: expected an integer >= 0")
    if a.max_failed_trials < 0:
        raise UsageError(f"--max-failed-trials = {a.max_failed_trials}: expected an integer >= 0 "
                         "(0: stop the sweep at the first errored trial)")
    if a.seed < 0:
        raise UsageError(f"--seed = {a.seed}: expected an integer >= 0")
    if not (math.isfinite(a.cpus_per_trial) and a.cpus_per_trial > 0):
        raise UsageError(f"--cpus-per-trial = {a.cpus_per_trial}: expected a number > 0")
    g = a.gpus_per_trial
    if not (math.isfinite(g) and g >= 0) or (g > 1 and g != int(g)):
        raise UsageError(f"--gpus-per-trial = {g}: expected 0, a fraction in (0, 1] "
                         "(e.g. 0.5: two trials share a GPU) or a whole number")
    if a.address is not None and not a.address.strip():
        raise UsageError("--address is empty: use auto, HOST:PORT or ray://HOST:PORT")

    # the fixed part of every trial's config: the preset, then the options; checked by gan_core now
    fixed = preset(a.problem, a.method).to_dict()
    for key in ("seeds", "iterations", "eval_every"):
        value = getattr(a, key) if getattr(a, key) is not None else budget.get(key)
        if value is not None:
            fixed[key] = value
    fixed["seed"] = a.seed
    set_keys = set()
    for item in a.set:
        key, text = split(item, "--set")
        if key in ("problem", "method", "device"):
            raise UsageError(f"--set {item}: {key} is not set this way: "
                             + ("give the problem as the first argument" if key == "problem" else
                                "use --method" if key == "method" else
                                "the trainable uses the device Ray gives it (--gpus-per-trial)"))
        fixed[key] = parse_value(text)
        set_keys.add(key)
    try:
        fixed = Config.from_dict(fixed).to_dict()
    except ConfigError as e:
        raise UsageError(f"{_set_flag(str(e), a.set)}{e}") from None
    fixed.pop("device")  # the trainable picks the device Ray gave it
    pinned, ranges = _overrides(a.problem, a.method, fixed, set_keys, a.search)

    temp = Path(tempfile.mkdtemp(prefix="gansweep_smoke_")) if a.smoke_test else None
    storage = _local_or_uri(a.storage_path, "--storage-path",
                            default=(temp or Path.cwd()) / "ray_results")
    tracking = _tracking_uri(a.tracking_uri, default=(temp or Path.cwd()) / "mlflow.db")
    resume = None
    if a.resume is not None:
        resume = _find_resume(a.resume, a.problem, storage)
    if a.summary_json is not None:
        parent = Path(a.summary_json).expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--summary-json {a.summary_json}: folder {parent} does not exist")
    return Plan(
        problem=a.problem, method=a.method, objective=a.objective,
        trials=a.trials if a.trials is not None else budget["trials"],
        time_budget=(a.time_budget if a.time_budget is not None else budget["time_budget"]) or None,
        fixed=fixed,
        cpus_per_trial=a.cpus_per_trial, gpus_per_trial=g, max_concurrent=a.max_concurrent,
        address=a.address, tracking_uri=tracking,
        experiment_name=a.experiment_name or f"gansweep-{a.problem}",
        storage_path=storage, resume=resume, seed=a.seed,
        summary_json=(str(Path(a.summary_json).expanduser().resolve())
                      if a.summary_json else None),
        baseline=not a.no_baseline, max_failures=a.max_failures,
        max_failed_trials=a.max_failed_trials, pinned=pinned, ranges=ranges, verbose=a.verbose,
        smoke=a.smoke_test, argv=list(argv))


def _set_flag(message: str, items: list[str]) -> str:
    """'--set X=V: ' when the config error is about a key the user set (else the preset's)."""
    for item in items:
        if message.startswith(item.split("=", 1)[0].strip()):
            return f"--set {item}: "
    return ""


def _overrides(problem: str, method: str, fixed: dict[str, Any], set_keys: set[str],
               search: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """Searched keys pinned by --set, and the --search ranges, checked against the study."""
    try:  # the study itself: a range written empty in spaces.py fails here, not in a trial
        dists = Space(study_for(problem), method, fixed).distributions()
    except ValueError as e:
        raise UsageError(f"the {problem} search space ({study_for(problem).__name__} in "
                         f"sweeps/spaces.py) is invalid: {e}; fix its range there") from None
    pinned = [k for k in dists if k in set_keys
              or (k.endswith(".beta1") and k.replace(".beta1", ".betas") in set_keys)]
    ranges: dict[str, list[Any]] = {}
    for item in search:
        key, text = split(item, "--search")
        if key not in dists or key in pinned:
            why = "is fixed by --set" if key in pinned else \
                f"is not searched by the {study_for(problem).__name__} study"
            raise UsageError(f"--search {item}: {key} {why}; searched: {', '.join(dists)} "
                             f"(use --set {key}=VALUE to fix a field)")
        ranges[key] = search_range(key, text, dists[key], fixed)
    return pinned, ranges


def _local_or_uri(value: str | None, option: str, default: Path) -> str:
    """Absolute local paths (Ray needs them); URIs (s3://, gs://) pass through."""
    if value is None:
        return str(default.resolve())
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {value}: exists and is not a folder")
    return str(path)


def _tracking_uri(value: str | None, default: Path) -> str:
    """sqlite:// with an absolute path by default; plain paths become sqlite files too."""
    if value is None:
        return f"sqlite:///{default.resolve()}"
    if value.startswith("sqlite:///"):
        path = value[len("sqlite:///"):]
        return f"sqlite:///{Path(path).expanduser().resolve()}"  # relative -> absolute
    if value.startswith(("http://", "https://", "databricks", "file:")):
        return value
    if "://" in value:
        raise UsageError(f"--tracking-uri {value}: use sqlite:///PATH, http(s)://HOST:PORT, "
                         "file:///PATH or a plain path to a .db file")
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        raise UsageError(f"--tracking-uri {value} is a folder: give a .db file, or "
                         "file:///PATH for MLflow's file store")
    return f"sqlite:///{path}"


def _find_resume(value: str, problem: str, storage: str) -> str:
    """The Tune experiment folder to restore: `value`, or the newest sweep of `problem`."""
    if value != "latest":
        path = Path(value).expanduser().resolve()
        if not (path / SWEEP_FILE).is_file():
            raise UsageError(f"--resume {value}: not a gansweep experiment folder "
                             f"(no {SWEEP_FILE} in it)")
        return str(path)
    if "://" in storage:
        raise UsageError("--resume without a PATH needs a local --storage-path; "
                         "pass the experiment URI: --resume s3://.../<sweep>")
    candidates = []
    for meta in Path(storage).glob(f"*/{SWEEP_FILE}"):
        try:
            if json.loads(meta.read_text())["problem"] == problem:
                candidates.append(meta.parent)
        except (OSError, ValueError, KeyError):
            continue
    if not candidates:
        raise UsageError(f"--resume: no {problem} sweep to resume in {storage} "
                         "(pass --storage-path or the experiment folder)")
    return str(max(candidates, key=lambda p: p.stat().st_mtime))


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``gansweep run <problem> [options]`` (``run`` may be omitted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "relog":
        from .relog import main as relog

        return relog(args[1:])
    if args and args[0] == "run":
        args = args[1:]
    if not args or args[0] in ("-h", "--help"):
        parser().print_help()
        return 0 if args else 2
    try:
        p = plan(args)
        check(p)
    except UsageError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 2
    from .driver import SweepError, run  # imports ray: only after the options are known good

    try:
        summary = run(p)
    except SweepError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 1
    return 0 if summary.get("best") else 1


def check(p: Plan) -> None:
    """What the options point at, before Ray starts: the MLflow store answers and can be written,
    something listens at --address, a local Ray would have the GPUs/CPUs a trial asks for."""
    if p.resume:  # the sweep's own store, as the driver will use it
        p = _resumed_stores(p)
    preflight.tracking(p.tracking_uri)
    preflight.address(p.address)
    ray = sys.modules.get("ray")
    if p.address is None and not (ray is not None and ray.is_initialized()):
        preflight.gpus(p.gpus_per_trial, p.cpus_per_trial)  # else: the cluster's, once joined


def _resumed_stores(p: Plan) -> Plan:
    import dataclasses

    meta = json.loads(Path(p.resume, SWEEP_FILE).read_text())
    return dataclasses.replace(p, tracking_uri=meta["tracking_uri"],
                               experiment_name=meta["experiment_name"])


def space_for(p: Plan) -> Space:
    """The define-by-run space of this plan: the problem's study around the fixed config, with
    the --set pins and --search ranges."""
    if p.pinned or p.ranges:
        return CustomSpace(study_for(p.problem), p.method, p.fixed, p.pinned, p.ranges)
    return Space(study_for(p.problem), p.method, p.fixed)


if __name__ == "__main__":
    sys.exit(main())
