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
from gan_core.errors import first_line
from gan_core import presets

from . import preflight, storage
from .errors import ArgumentParser, SweepError, UsageError
from .options import SAMPLERS, SMOKE, Options
from .options import parser as options_parser
from .overrides import search_range, split
from .metrics import problem_name
from .spaces import OBJECTIVES, Space, Study, study_for, study_name
from .spec import SPEC_FILE, SweepSpec
from .summary import TRIAL_SEED_OFFSET
from .spec import optuna_storage as _optuna_storage
from .spec import tracking_uri as _tracking_uri

# The default (no-option) run's size: the problem's own (``sweep_budget`` on its class, e.g. sho's
# 420 s of trials) over this: at most `trials`, and Tune stops starting/continuing trials after
# `time_budget` seconds. The cap is far above what the budget holds (the main job ran all of a
# cap of 48 in 246 s of its 420), so the budget the user sets is the one spent
DEFAULT_BUDGET = {"trials": 400, "seeds": 4, "time_budget": 480}


def parser() -> ArgumentParser:
    """The options of ``gansweep run`` (``sweeps.options.Options``); each one's ``dest`` is the
    keyword of ``build`` (and of the Python API ``sweeps.sweep``)."""
    return options_parser("gansweep run", __doc__.split("\n")[0])


def plan(argv: Sequence[str]) -> SweepSpec:
    """The command line's sweep, checked without starting Ray; raises UsageError with one line."""
    options = vars(parser().parse_args(list(argv)))
    return build(options.pop("problem"), **options, argv=tuple(argv))


def build(problem: str, *, argv: Sequence[str] = (), **options: Any) -> SweepSpec:
    """Check every option (as the CLI names them, with underscores) and resolve it: absolute
    paths, concrete numbers, the fixed config through gan_core. ``set`` and ``search`` take the
    CLI's ``KEY=VALUE`` strings or a dict (``{"G.activation": "tanh"}``; ``{"G.lr": (1e-4, 1e-2),
    "G.width": [20, 40]}``); ``resume=True`` is the CLI's bare ``--resume`` (the latest sweep).
    A resumed sweep comes back as it was saved, with this call's address, summary file, baseline,
    confirmation and verbosity. `problem` is a name or reference (see gan_core.problems) or a
    problem class; `study` a search-space function (or its name or reference) instead of the
    problem's. The options: ``sweeps.options.Options``. Raises UsageError with one line; starts
    nothing."""
    o = Options.of(**options)
    study, objective = o.study, o.objective
    problem = _problem(problem)
    if study is not None:
        try:
            study = study_name(study) if callable(study) else study
            study_for(problem, study)  # found now, not in the driver
        except (ValueError, ConfigError) as e:
            raise UsageError(f"--study {study}: {e}") from None
    objective = objective or PROBLEMS[problem].sweep_objective
    if objective not in OBJECTIVES:
        raise UsageError(f"--objective {objective!r} is unknown: choose one of "
                         f"{', '.join(OBJECTIVES)}")
    _check_values(o)
    budget = {**DEFAULT_BUDGET, **PROBLEMS[problem].sweep_budget,
              **(SMOKE if o.smoke_test else {})}
    counts = {k: getattr(o, k) for k in ("trials", "seeds", "iterations", "eval_every",
                                         "max_concurrent")}
    fixed, sets = _fixed(problem, o, budget, counts)
    studied = study_for(problem) if study is None else study_for(problem, study)
    pinned, ranges = _overrides(problem, studied, o.method, fixed, {k for k, _, _ in sets},
                                _search_items(o.search))

    temp = Path(tempfile.mkdtemp(prefix="gansweep_smoke_")) if o.smoke_test else None
    folder = temp or Path.cwd()
    stores = _storage_path(o.storage_path, default=folder / "ray_results")
    tracking = _tracking_uri(o.tracking_uri, default=folder / "mlflow.db")
    study_storage = _optuna_storage(o.optuna_storage, tracking, folder)
    if o.summary_json is not None:
        parent = Path(o.summary_json).expanduser().resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--summary-json {o.summary_json}: folder {parent} does not exist")
    given = {k: getattr(o, k) for k in SweepSpec.from_options()}  # as given; then resolved:
    spec = SweepSpec(**{
        **given, "problem": problem, "objective": objective, "study": study, "fixed": fixed,
        "pinned": pinned, "ranges": ranges,
        "trials": o.trials if o.trials is not None else budget["trials"],
        "time_budget": (o.time_budget if o.time_budget is not None
                        else budget["time_budget"]) or None,
        "tracking_uri": tracking, "storage_path": stores, "optuna_storage": study_storage,
        "experiment_name": o.experiment_name or f"gansweep-{problem_name(problem)}",
        "summary_json": (str(Path(o.summary_json).expanduser().resolve()) if o.summary_json
                         else None),
        "smoke": o.smoke_test, "argv": tuple(argv)})
    if o.resume:
        found = _find_resume("latest" if o.resume is True else str(o.resume), problem, stores)
        spec = dataclasses.replace(spec, resume=found).resumed()
        if spec.problem != problem:
            raise UsageError(f"--resume {o.resume}: that is a {spec.problem} sweep, not {problem}: "
                             f"run gansweep run {spec.problem} --resume {found}")
    return spec



def _check_values(o: Options) -> None:
    """The options' own values: names known, counts and seconds in range; UsageError."""
    if o.method not in METHODS:
        raise UsageError(f"--method {o.method!r} is unknown: choose one of {', '.join(METHODS)}")
    if o.sampler not in SAMPLERS:
        raise UsageError(f"--sampler {o.sampler!r} is unknown: choose one of {', '.join(SAMPLERS)}")
    counts = {k: getattr(o, k) for k in ("trials", "seeds", "iterations", "eval_every",
                                         "max_concurrent")}
    for name, value in counts.items():
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} = {value}: expected an integer >= 1")
    if o.time_budget is not None and not (math.isfinite(o.time_budget) and o.time_budget >= 0):
        raise UsageError(f"--time-budget = {o.time_budget}: expected seconds >= 0 (0 = no limit)")
    if o.confirm_seeds is not None and o.confirm_seeds < 0:
        raise UsageError(f"--confirm-seeds = {o.confirm_seeds}: expected an integer >= 0 "
                         "(0: no confirmation)")
    if o.finalists < 0:
        raise UsageError(f"--finalists = {o.finalists}: expected an integer >= 0 (0: pick the best "
                         "trial as it ranked)")
    if o.max_failures < 0:
        raise UsageError(f"--max-failures = {o.max_failures}: expected an integer >= 0")
    if o.max_failed_trials < 0:
        raise UsageError(f"--max-failed-trials = {o.max_failed_trials}: expected an integer >= 0 "
                         "(0: stop the sweep at the first errored trial)")
    if o.seed < 0:
        raise UsageError(f"--seed = {o.seed}: expected an integer >= 0")
    if not (math.isfinite(o.cpus_per_trial) and o.cpus_per_trial > 0):
        raise UsageError(f"--cpus-per-trial = {o.cpus_per_trial}: expected a number > 0")
    g = o.gpus_per_trial
    if not (math.isfinite(g) and g >= 0) or (g > 1 and g != int(g)):
        raise UsageError(f"--gpus-per-trial = {g}: expected 0, a fraction in (0, 1] "
                         "(e.g. 0.5: two trials share a GPU) or a whole number")
    if o.address is not None and not o.address.strip():
        raise UsageError("--address is empty: use auto, HOST:PORT or ray://HOST:PORT")



def _fixed(problem: str, o: Options, budget: dict[str, Any], counts: dict[str, Any]
           ) -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    """The fixed part of every trial's config (the preset, then the options, checked by
    gan_core) and the --set items it took."""
    if o.preset not in presets.SOURCES:
        raise UsageError(f"--preset {o.preset!r} is unknown: choose one of "
                         f"{', '.join(presets.SOURCES)}")
    if o.preset == "paper" and problem not in presets.PAPER:
        raise UsageError(f"--preset paper: the DEQGAN paper has no config for "
                         f"{problem_name(problem)}; its problems are {', '.join(presets.PAPER)} "
                         "(leave --preset out for gansweep's)")
    start = presets.preset(problem, o.method, source=o.preset)
    if o.preset == "paper" and not o.smoke_test:
        budget.pop("iterations", None)  # the paper's own run length unless --iterations
    its = counts["iterations"] if counts["iterations"] is not None else budget.get("iterations")
    if its is not None and not (o.smoke_test and counts["iterations"] is None):
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
    fixed["seed"] = o.seed + TRIAL_SEED_OFFSET  # seeds no preset was chosen on
    sets = _set_items(o.set)
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
    return fixed, sets



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
        raise UsageError(f"--resume: cannot list {stores} ({first_line(e)}): check the URI and "
                         "its credentials") from None


def _check_restorable(path: str, flag: str) -> None:
    """`path` holds a gansweep spec and a Tune experiment that Tune can restore."""
    from ray.tune import Tuner  # ray only now, and only for --resume

    try:
        has_spec = storage.exists(storage.join(path, SPEC_FILE))
        restorable = has_spec and Tuner.can_restore(path)
    except OSError as e:
        raise UsageError(f"{flag}: cannot read it ({first_line(e)}): check the path or URI and "
                         "its credentials") from None
    if not has_spec:
        raise UsageError(f"{flag}: not a gansweep experiment folder (no {SPEC_FILE} in it)")
    if not restorable:
        raise UsageError(f"{flag}: Tune saved no state there to restore (the sweep stopped before "
                         "Tune started): start it again without --resume")


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
