"""``gansweep run <problem>``: an Optuna + ASHA sweep on Ray Tune, tracked in MLflow.

    gansweep run sho                          # the main job (same as python sweeps/sho_sweep.py)
    gansweep run exp --method l2 --trials 8   # any problem, any method
    gansweep run sho --smoke-test             # a few trials and iterations, temporary stores
    gansweep run sho --resume                 # finish the last interrupted sho sweep
    gansweep run sho --address auto --gpus-per-trial 0.5 --tracking-uri http://head:5000
    gansweep run sho --set G.activation=tanh --search G.lr=1e-3:3e-3   # change the space
    gansweep run sho --preset paper --iterations 4000   # around the DEQGAN paper's config
    gansweep relog ray_results/sho-gan-...    # (re)write a sweep's Tune results into MLflow

Every option is checked before Ray starts, and so are the MLflow store, --address and the local
GPUs: a bad value exits with status 2 and one line on stderr. ``build`` turns the options into a
``SweepSpec``; the Python API (``sweeps.sweep``) takes the same options as keywords.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from gan_core import METHODS, PROBLEMS, Config, ConfigError
from gan_core.problems.registry import canonical, lookup, reference
from gan_core.config import parse_value
from gan_core import presets

from . import preflight, storage
from .errors import ArgumentParser, SweepError, UsageError
from .overrides import search_range, split
from .metrics import problem_name
from .spaces import OBJECTIVES, Space, Study, study_for, study_name
from .spec import SPEC_FILE, SweepSpec
from .spec import optuna_storage as _optuna_storage
from .spec import tracking_uri as _tracking_uri

# The default (no-option) run's size: the problem's own (``sweep_budget`` on its class, e.g. sho's
# 48 trials in ~10 minutes on a 2-core laptop) over this: at most `trials`, and Tune stops
# starting/continuing trials after `time_budget` seconds
DEFAULT_BUDGET = {"trials": 48, "seeds": 4, "time_budget": 480}
SAMPLERS = ("tpe", "random")  # Optuna's TPESampler, RandomSampler
SMOKE = {"trials": 3, "seeds": 2, "iterations": 30, "eval_every": 10, "time_budget": 0}


def parser() -> ArgumentParser:
    """The options of ``gansweep run``; each one's ``dest`` is the keyword of ``build`` (and of
    the Python API ``sweeps.sweep``)."""
    p = ArgumentParser(prog="gansweep run", description=__doc__.split("\n")[0])
    p.add_argument("problem", help=f"one of {', '.join(sorted(PROBLEMS))}; or your own: "
                                   "path/to/file.py:Class, my_package.module:Class, a .npy/.csv "
                                   "data file, or a name a package registers (entry point group "
                                   "gansweep.problems)")
    p.add_argument("--trials", type=int, help="Tune num_samples (default: per problem)")
    p.add_argument("--seeds", type=int, help="seeds trained at once in each trial")
    p.add_argument("--iterations", type=int,
                   help="iterations per trial (default: the preset's); the preset's learning-rate "
                        "schedule follows: the same total decay over the longer or shorter run")
    p.add_argument("--eval-every", type=int, help="iterations between reports (default 100)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="stop the sweep after this long (Tune's time_budget_s; 0 = none; "
                        "default: per problem, 480 for sho)")
    p.add_argument("--method", default="gan", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--preset", default="gansweep", metavar="SOURCE",
                   help="every trial's fixed config and the first trial: gansweep's tuned preset "
                        "(default) or the DEQGAN paper's published config (paper: its nets, "
                        "schedule, points, problem constants and iterations)")
    p.add_argument("--objective",
                   help=f"what to minimise over seeds: {' | '.join(OBJECTIVES)} (default: the "
                        "problem's: median for equations; failures for distributions, the "
                        "failure rate with ties broken by the median)")
    p.add_argument("--max-concurrent", type=int,
                   help="trials at once (default: what the local CPUs/GPUs allow; on a cluster, "
                        "every trial, so that pending ones make the autoscaler add nodes)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="fractions allowed, e.g. 0.5")
    p.add_argument("--address", help="join a running Ray cluster (e.g. auto, host:6379); "
                                     "default: start a local Ray in this process")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                                          "else sqlite ./mlflow.db)")
    p.add_argument("--experiment-name", help="MLflow experiment (default: gansweep-<problem>)")
    p.add_argument("--storage-path", help="Tune results folder or URI (default: ./ray_results)")
    p.add_argument("--optuna-storage", metavar="URL",
                   help="Optuna study storage (default: sqlite optuna.db beside mlflow.db)")
    p.add_argument("--resume", nargs="?", const="latest", metavar="PATH",
                   help="finish an interrupted sweep: its Tune folder (or URI), or the latest of "
                        "<problem> under --storage-path")
    p.add_argument("--seed", type=int, default=0, help="seeds the TPE sampler and the trials")
    p.add_argument("--sampler", default="tpe",
                   help=f"Optuna's sampler: {' | '.join(SAMPLERS)} (random: the DEQGAN paper's "
                        "random search)")
    p.add_argument("--smoke-test", action="store_true",
                   help=f"{SMOKE['trials']} trials x {SMOKE['iterations']} iterations, temp stores")
    p.add_argument("--summary-json", metavar="PATH", help="also write the summary as JSON")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the baseline (l2, Lagaris, for equations; vae for distributions)")
    p.add_argument("--confirm-seeds", type=int, metavar="K",
                   help="at the end, train the pick and the start again on the same K fresh "
                        "seeds (none of the trials'), for their medians and worst seeds free of "
                        "the selection and the search gain (default: a trial's seeds, at least "
                        "8; 0: skip)")
    p.add_argument("--finalists", type=int, default=3, metavar="N",
                   help="at the end, race the start and the best trials (N in all) on fresh "
                        "seeds and pick by their trial and race seeds pooled (default 3; 0 or 1: "
                        "the best trial as it ranked)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a crashed trial")
    p.add_argument("--max-failed-trials", type=int, default=5,
                   help="stop the sweep once more than this many trials ended in error (after "
                        "their retries); 0: at the first")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a config field for every trial, e.g. --set G.activation=tanh; a "
                        "searched field is taken out of the search (repeatable)")
    p.add_argument("--study", metavar="NAME",
                   help="the search space: a study of sweeps/spaces.py (sho, exp, generic, "
                        "generic_dist, ...) or your own function, module:function or "
                        "path/file.py:function (default: the problem's, else its family's)")
    p.add_argument("--search", action="append", default=[], metavar="KEY=RANGE",
                   help="a searched field's range: --search G.lr=1e-4:1e-2 (floats, ints; the "
                        "log scale is kept) or --search G.activation=tanh,sin (repeatable)")
    p.add_argument("--verbose", action="store_true", help="Ray's own progress tables and logs")
    return p


def plan(argv: Sequence[str]) -> SweepSpec:
    """The command line's sweep, checked without starting Ray; raises UsageError with one line."""
    options = vars(parser().parse_args(list(argv)))
    return build(options.pop("problem"), **options, argv=tuple(argv))


def build(problem: str, *, trials: int | None = None, seeds: int | None = None,
          iterations: int | None = None, eval_every: int | None = None,
          time_budget: float | None = None, method: str = "gan", preset: str = "gansweep",
          objective: str | None = None,
          max_concurrent: int | None = None, cpus_per_trial: float = 1.0,
          gpus_per_trial: float = 0.0, address: str | None = None,
          tracking_uri: str | None = None, experiment_name: str | None = None,
          storage_path: str | None = None, optuna_storage: str | None = None,
          resume: str | bool | None = None, seed: int = 0, sampler: str = "tpe",
          smoke_test: bool = False,
          summary_json: str | None = None, baseline: bool = True,
          confirm_seeds: int | None = None, finalists: int = 3, max_failures: int = 2,
          max_failed_trials: int = 5, set: Mapping[str, Any] | Sequence[str] = (),  # noqa: A002
          search: Mapping[str, Any] | Sequence[str] = (), verbose: bool = False,
          study: Study | str | None = None, argv: Sequence[str] = ()) -> SweepSpec:
    """Check every option (as the CLI names them, with underscores) and resolve it: absolute
    paths, concrete numbers, the fixed config through gan_core. ``set`` and ``search`` take the
    CLI's ``KEY=VALUE`` strings or a dict (``{"G.activation": "tanh"}``; ``{"G.lr": (1e-4, 1e-2),
    "G.width": [20, 40]}``); ``resume=True`` is the CLI's bare ``--resume`` (the latest sweep).
    A resumed sweep comes back as it was saved, with this call's address, summary file, baseline,
    confirmation and verbosity. `problem` is a name or reference (see gan_core.problems) or a
    problem class; `study` a search-space function (or its name or reference) instead of the
    problem's. Raises UsageError with one line; starts nothing."""
    problem = _problem(problem)
    if study is not None:
        try:
            study = study_name(study) if callable(study) else study
            study_for(problem, study)  # found now, not in the driver
        except (ValueError, ConfigError) as e:
            raise UsageError(f"--study {study}: {e}") from None
    if method not in METHODS:
        raise UsageError(f"--method {method!r} is unknown: choose one of {', '.join(METHODS)}")
    objective = objective or PROBLEMS[problem].sweep_objective
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler {sampler!r} is unknown: choose one of {', '.join(SAMPLERS)}")
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective {objective!r} is unknown: choose one of "
                         f"{', '.join(OBJECTIVES)}")
    budget = {**DEFAULT_BUDGET, **PROBLEMS[problem].sweep_budget,
              **(SMOKE if smoke_test else {})}
    counts = {"trials": trials, "seeds": seeds, "iterations": iterations, "eval_every": eval_every,
              "max_concurrent": max_concurrent}
    for name, value in counts.items():
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} = {value}: expected an integer >= 1")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget >= 0):
        raise UsageError(f"--time-budget = {time_budget}: expected seconds >= 0 (0 = no limit)")
    if confirm_seeds is not None and confirm_seeds < 0:
        raise UsageError(f"--confirm-seeds = {confirm_seeds}: expected an integer >= 0 "
                         "(0: no confirmation)")
    if finalists < 0:
        raise UsageError(f"--finalists = {finalists}: expected an integer >= 0 (0: pick the best "
                         "trial as it ranked)")
    if max_failures < 0:
        raise UsageError(f"--max-failures = {max_failures}: expected an integer >= 0")
    if max_failed_trials < 0:
        raise UsageError(f"--max-failed-trials = {max_failed_trials}: expected an integer >= 0 "
                         "(0: stop the sweep at the first errored trial)")
    if seed < 0:
        raise UsageError(f"--seed = {seed}: expected an integer >= 0")
    if not (math.isfinite(cpus_per_trial) and cpus_per_trial > 0):
        raise UsageError(f"--cpus-per-trial = {cpus_per_trial}: expected a number > 0")
    g = gpus_per_trial
    if not (math.isfinite(g) and g >= 0) or (g > 1 and g != int(g)):
        raise UsageError(f"--gpus-per-trial = {g}: expected 0, a fraction in (0, 1] "
                         "(e.g. 0.5: two trials share a GPU) or a whole number")
    if address is not None and not address.strip():
        raise UsageError("--address is empty: use auto, HOST:PORT or ray://HOST:PORT")

    # the fixed part of every trial's config: the preset, then the options; checked by gan_core now
    if preset not in presets.SOURCES:
        raise UsageError(f"--preset {preset!r} is unknown: choose one of "
                         f"{', '.join(presets.SOURCES)}")
    if preset == "paper" and problem not in presets.PAPER:
        raise UsageError(f"--preset paper: the DEQGAN paper has no config for "
                         f"{problem_name(problem)}; its problems are {', '.join(presets.PAPER)} "
                         "(leave --preset out for gansweep's)")
    start = presets.preset(problem, method, source=preset)
    if preset == "paper" and not smoke_test:
        budget.pop("iterations", None)  # the paper's own run length unless --iterations
    its = counts["iterations"] if counts["iterations"] is not None else budget.get("iterations")
    if its is not None and not (smoke_test and counts["iterations"] is None):
        # another length keeps the schedule's shape: the same total decay over the run (a cut
        # schedule would barely decay, a longer one would idle at a decayed rate). Not the smoke
        # test's 30 iterations: it checks the plumbing, with the preset's own per-step schedule
        # (its decay squeezed into 30 steps would leave a study's per-step range)
        start = presets.lengthened(start, its)
    fixed = start.to_dict()
    for key in ("seeds", "iterations", "eval_every"):
        value = counts[key] if counts[key] is not None else budget.get(key)
        if value is not None:
            fixed[key] = value
    fixed["seed"] = seed
    sets = _set_items(set)
    for key, value, flag in sets:
        if key in ("problem", "method", "device"):
            raise UsageError(f"{flag}: {key} is not set this way: "
                             + ("give the problem as the first argument" if key == "problem" else
                                "use --method" if key == "method" else
                                "the trainable uses the device Ray gives it (--gpus-per-trial)"))
    fixed = presets.settled(fixed, {key: value for key, value, _ in sets})
    try:
        fixed = Config.from_dict(fixed).to_dict()
    except ConfigError as e:
        raise UsageError(f"{_set_flag(str(e), sets)}{e}") from None
    fixed.pop("device")  # the trainable picks the device Ray gave it
    studied = study_for(problem) if study is None else study_for(problem, study)
    pinned, ranges = _overrides(problem, studied, method, fixed, {k for k, _, _ in sets},
                                _search_items(search))

    temp = Path(tempfile.mkdtemp(prefix="gansweep_smoke_")) if smoke_test else None
    folder = temp or Path.cwd()
    stores = _storage_path(storage_path, default=folder / "ray_results")
    tracking = _tracking_uri(tracking_uri, default=folder / "mlflow.db")
    study_storage = _optuna_storage(optuna_storage, tracking, folder)
    if summary_json is not None:
        parent = Path(summary_json).expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--summary-json {summary_json}: folder {parent} does not exist")
    spec = SweepSpec(
        problem=problem, method=method, objective=objective,
        trials=trials if trials is not None else budget["trials"],
        time_budget=(time_budget if time_budget is not None else budget["time_budget"]) or None,
        fixed=fixed, preset=preset, pinned=pinned, ranges=ranges, seed=seed, sampler=sampler,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=g, max_concurrent=max_concurrent,
        max_failures=max_failures, max_failed_trials=max_failed_trials,
        tracking_uri=tracking, study=study,
        experiment_name=experiment_name or f"gansweep-{problem_name(problem)}",
        storage_path=stores, optuna_storage=study_storage,
        address=address, summary_json=(str(Path(summary_json).expanduser().resolve())
                                       if summary_json else None),
        baseline=baseline, confirm_seeds=confirm_seeds, finalists=finalists, verbose=verbose,
        smoke=smoke_test,
        argv=tuple(argv))
    if resume:
        found = _find_resume("latest" if resume is True else str(resume), problem, stores)
        spec = dataclasses.replace(spec, resume=found).resumed()
        if spec.problem != problem:
            raise UsageError(f"--resume {resume}: that is a {spec.problem} sweep, not {problem}: "
                             f"run gansweep run {spec.problem} --resume {found}")
    return spec



def _set_items(items: Mapping[str, Any] | Sequence[str]) -> list[tuple[str, Any, str]]:
    """(key, value, the flag as the user wrote it) from --set KEY=VALUE strings or a dict."""
    if isinstance(items, Mapping):
        return [(k, v, f"--set {k}={v}") for k, v in items.items()]
    out = []
    for item in items:
        key, text = split(item, "--set")
        out.append((key, parse_value(text), f"--set {item}"))
    return out


def _search_items(items: Mapping[str, Any] | Sequence[str]) -> list[str]:
    """--search KEY=RANGE strings, from themselves or from a dict whose values are the CLI's text
    ("1e-4:1e-2", "tanh,sin"), a (low, high) pair or a list of choices."""
    if not isinstance(items, Mapping):
        return list(items)
    out = []
    for key, value in items.items():
        if isinstance(value, str):
            out.append(f"{key}={value}")
        elif isinstance(value, tuple) and len(value) == 2:
            out.append(f"{key}={value[0]!r}:{value[1]!r}")
        else:
            out.append(f"{key}={','.join(str(v) for v in value)}")
    return out


def _set_flag(message: str, items: list[tuple[str, Any, str]]) -> str:
    """'--set X=V: ' when the config error is about a key the user set (else the preset's)."""
    for key, _, flag in items:
        if message.startswith(key):
            return f"{flag}: "
    return ""


def _problem(problem: Any) -> str:
    """The problem's name as every process resolves it (a class or an instance: its reference);
    UsageError with one line for a problem that cannot be found, built or imported by Ray's
    workers."""
    try:
        name = canonical(problem)
        obj = lookup(name)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    ref = reference(obj)
    if ref is None:
        raise UsageError(f"problem {name!r} exists only in this process (an instance, or a class "
                         "made in a function or a notebook), so Ray's workers cannot import it: "
                         "define the class at the top level of a file and pass the class or "
                         "'path/to/file.py:Class'")
    return ref


def _overrides(problem: str, study: Study, method: str, fixed: dict[str, Any],
               set_keys: set[str], search: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """Searched keys pinned by --set, and the --search ranges, checked against the study."""
    try:  # the study itself: a range written empty in spaces.py fails here, not in a trial
        dists = Space(study, method, fixed).distributions()
    except ValueError as e:
        where = "sweeps/spaces.py" if study.__module__ == "sweeps.spaces" else study.__module__
        raise UsageError(f"the {problem_name(problem)} search space ({study.__name__} in "
                         f"{where}) is invalid: {e}; fix its range there") from None
    pinned = [k for k in dists if k in set_keys
              or (k.endswith(".beta1") and k.replace(".beta1", ".betas") in set_keys)]
    ranges: dict[str, list[Any]] = {}
    for item in search:
        key, text = split(item, "--search")
        if key not in dists or key in pinned:
            why = "is fixed by --set" if key in pinned else \
                f"is not searched by the {study.__name__} study"
            raise UsageError(f"--search {item}: {key} {why}; searched: {', '.join(dists)} "
                             f"(use --set {key}=VALUE to fix a field)")
        ranges[key] = search_range(key, text, dists[key], fixed)
    return pinned, ranges


def _storage_path(value: str | None, default: Path) -> str:
    """Absolute local paths (Ray needs them); URIs (s3://, gs://, file://) pass through."""
    if value is None:
        return str(default.resolve())
    if storage.is_uri(value):
        return value
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--storage-path {value}: exists and is not a folder")
    return str(path)


def _find_resume(value: str, problem: str, stores: str) -> str:
    """The Tune folder to restore: `value` (a path or a URI), or the newest sweep of `problem`
    under `stores`."""
    if value != "latest":
        path = value if storage.is_uri(value) else str(Path(value).expanduser().resolve())
        _check_restorable(path, f"--resume {value}")
        return path
    candidates = []
    for path, mtime in _folders(stores):
        try:
            if SweepSpec.load(path).problem == problem:
                candidates.append((mtime, path))
        except (OSError, ValueError, TypeError):
            continue
    if not candidates:
        raise UsageError(f"--resume: no {problem} sweep to resume in {stores} "
                         "(pass --storage-path or the experiment folder)")
    path = max(candidates)[1]
    _check_restorable(path, f"--resume (the latest {problem} sweep, {path})")
    return path


def _folders(stores: str) -> list[tuple[str, float]]:
    try:
        return storage.folders(stores)
    except OSError as e:  # an unreachable bucket, missing credentials
        raise UsageError(f"--resume: cannot list {stores} ({_first_line(e)}): check the URI and "
                         "its credentials") from None


def _check_restorable(path: str, flag: str) -> None:
    """`path` holds a gansweep spec and a Tune experiment that Tune can restore."""
    from ray.tune import Tuner  # ray only now, and only for --resume

    try:
        has_spec = storage.exists(storage.join(path, SPEC_FILE))
        restorable = has_spec and Tuner.can_restore(path)
    except OSError as e:
        raise UsageError(f"{flag}: cannot read it ({_first_line(e)}): check the path or URI and "
                         "its credentials") from None
    if not has_spec:
        raise UsageError(f"{flag}: not a gansweep experiment folder (no {SPEC_FILE} in it)")
    if not restorable:
        raise UsageError(f"{flag}: Tune saved no state there to restore (the sweep stopped before "
                         "Tune started): start it again without --resume")


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:160]


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
        spec = plan(args)
        check(spec)
    except UsageError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 2
    from .driver import run  # imports ray: only after the options are known good

    try:
        summary = run(spec).summary
    except SweepError as e:
        print(f"gansweep: error: {e}", file=sys.stderr)
        return 1
    return 0 if summary.get("best") else 1


def check(spec: SweepSpec) -> None:
    """What the options point at, before Ray starts: the MLflow and Optuna stores answer and can
    be written, something listens at --address, a local Ray would have the GPUs/CPUs a trial
    asks for."""
    preflight.tracking(spec.tracking_uri)
    if spec.optuna_storage:
        preflight.database(spec.optuna_storage, "--optuna-storage")
    preflight.address(spec.address)
    ray = sys.modules.get("ray")
    if spec.address is None and not (ray is not None and ray.is_initialized()):
        preflight.gpus(spec.gpus_per_trial, spec.cpus_per_trial)  # else: the cluster's, once joined


if __name__ == "__main__":
    sys.exit(main())
