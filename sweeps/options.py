"""``gansweep run``'s options, declared once: each field of ``Options`` is one option, with its
default and its help. The command line (``cli.parser``), the Python API (``sweeps.sweep(problem,
**options)``) and ``cli.build`` take them from here; ``SweepSpec`` takes its defaults from here.

A field's flag is its name with dashes (``max_concurrent`` -> ``--max-concurrent``); a bool that
defaults to True is switched off by ``--no-<name>``; a list field repeats (``--set``, ``--search``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gan_core import METHODS, PROBLEMS

from .errors import ArgumentParser, UsageError
from .spaces import OBJECTIVES

SAMPLERS = ("tpe", "random")  # Optuna's TPESampler, RandomSampler
SMOKE = {"trials": 3, "seeds": 2, "iterations": 30, "eval_every": 10, "time_budget": 0}


def option(default: Any = None, help: str | None = None, **argparse_kw: Any) -> Any:  # noqa: A002
    """A field of Options: its default, its help, and argparse's other keywords (metavar,
    nargs, const, dest, flag)."""
    if isinstance(default, list):
        return field(default_factory=list, metadata={"help": help, **argparse_kw})
    return field(default=default, metadata={"help": help, **argparse_kw})


@dataclass(frozen=True)
class Options:
    # -- the sweep's size
    trials: int | None = option(help="Tune num_samples (default: per problem)")
    seeds: int | None = option(help="seeds trained at once in each trial")
    iterations: int | None = option(
        help="iterations per trial (default: the preset's); the preset's learning-rate "
             "schedule follows: the same total decay over the longer or shorter run")
    eval_every: int | None = option(help="iterations between reports (default 100)")
    time_budget: float | None = option(
        metavar="SECONDS", help="stop the sweep after this long (Tune's time_budget_s; 0 = none; "
                                "default: per problem, 420 for sho)")
    # -- what is searched
    method: str = option("gan", f"one of {', '.join(METHODS)}")
    preset: str = option(
        "gansweep", metavar="SOURCE",
        help="every trial's fixed config and the first trial: gansweep's tuned preset (default) "
             "or the DEQGAN paper's published config (paper: its nets, schedule, points, problem "
             "constants and iterations)")
    objective: str | None = option(
        help=f"what to minimise over seeds: {' | '.join(OBJECTIVES)} (default: the problem's: "
             "median for equations; failures for distributions, the failure rate with ties "
             "broken by the median)")
    # -- how trials run
    max_concurrent: int | None = option(
        help="trials at once (default: what the local CPUs/GPUs allow; on a cluster, every "
             "trial, so that pending ones make the autoscaler add nodes)")
    cpus_per_trial: float = option(1.0, "Ray CPUs per trial (and torch's threads)")
    gpus_per_trial: float = option(0.0, "fractions allowed, e.g. 0.5")
    address: str | None = option(help="join a running Ray cluster (e.g. auto, host:6379); "
                                      "default: start a local Ray in this process")
    # -- where results go
    tracking_uri: str | None = option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                                           "else sqlite ./mlflow.db)")
    experiment_name: str | None = option(help="MLflow experiment (default: gansweep-<problem>)")
    storage_path: str | None = option(help="Tune results folder or URI (default: ./ray_results)")
    optuna_storage: str | None = option(
        metavar="URL", help="Optuna study storage (default: sqlite optuna.db beside mlflow.db)")
    resume: str | bool | None = option(
        nargs="?", const="latest", metavar="PATH",
        help="finish an interrupted sweep: its Tune folder (or URI), or the latest of <problem> "
             "under --storage-path (Python: True for the latest)")
    seed: int = option(0, "seeds the TPE sampler and the trials")
    sampler: str = option("tpe", f"Optuna's sampler: {' | '.join(SAMPLERS)} (random: the DEQGAN "
                                 "paper's random search)")
    neighbours: bool = option(False, "after the start, its neighbours: each searched parameter "
                                     "moved one step from it (a float times or over 3, or by a "
                                     "sixth of its range; an int to the next; a choice to each "
                                     "other), at most half the trials, at their full budget, "
                                     "before the sampler's own proposals")
    smoke_test: bool = option(False, f"{SMOKE['trials']} trials x {SMOKE['iterations']} "
                                     "iterations, temp stores")
    summary_json: str | None = option(metavar="PATH", help="also write the summary as JSON")
    # -- the sweep's end
    baseline: bool = option(True, "skip the baseline (l2, Lagaris, for equations; vae for "
                                  "distributions)")
    confirm_seeds: int | None = option(
        metavar="K", help="at the end, train the pick and the start again on the same K fresh "
                          "seeds (none of the trials'), for their medians and worst seeds free of "
                          "the selection and the search gain (default: a trial's seeds, at least "
                          "8; 0: skip)")
    finalists: int = option(
        4, metavar="N", help="at the end, race the start and the best trials (N in all) on the "
                             "same fresh seeds and pick by those (default 4; 0 or 1: the best "
                             "trial as it ranked)")
    # -- faults
    max_failures: int = option(2, "retries of a crashed trial")
    max_failed_trials: int = option(5, "stop the sweep once more than this many trials ended in "
                                       "error (after their retries); 0: at the first")
    # -- the space
    set: list[str] = option(  # noqa: A003
        [], metavar="KEY=VALUE",
        help="fix a config field for every trial, e.g. --set G.activation=tanh; a searched field "
             "is taken out of the search (repeatable; Python: also a dict)")
    study: Any = option(
        metavar="NAME",
        help="the search space: a study of sweeps/spaces.py (sho, exp, generic, generic_dist, "
             "...) or your own function, module:function or path/file.py:function (default: the "
             "problem's, else its family's)")
    search: list[str] = option(
        [], metavar="KEY=RANGE",
        help="a searched field's range: --search G.lr=1e-4:1e-2 (floats, ints; the log scale is "
             "kept) or --search G.activation=tanh,sin (repeatable; Python: also a dict of (low, "
             "high) pairs or lists)")
    verbose: bool = option(False, "Ray's own progress tables and logs")

    @classmethod
    def of(cls, **options: Any) -> "Options":
        """The options given as keywords; UsageError naming an unknown one."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise UsageError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}: the options are {', '.join(names)}")
        return cls(**options)


DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(Options)}


def parser(prog: str, description: str) -> ArgumentParser:
    """The command line of Options: the problem, then one flag per field."""
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument("problem", help=f"one of {', '.join(sorted(PROBLEMS))}; or your own: "
                                   "path/to/file.py:Class, my_package.module:Class, a .npy/.csv "
                                   "data file, or a name a package registers (entry point group "
                                   "gansweep.problems)")
    for f in dataclasses.fields(Options):
        p.add_argument(*_flag(f), **_argparse(f))
    return p


def _flag(f: dataclasses.Field) -> list[str]:
    name = f.name.replace("_", "-")
    return [f"--no-{name}" if f.default is True else f"--{name}"]


def _argparse(f: dataclasses.Field) -> dict[str, Any]:
    kw = {k: v for k, v in f.metadata.items() if v is not None}
    kw["dest"] = f.name
    if f.default is True:
        return {**kw, "action": "store_false"}
    if f.default is False:
        return {**kw, "action": "store_true"}
    if f.default is dataclasses.MISSING:  # a list: repeatable
        return {**kw, "action": "append", "default": []}
    kind = {int: int, float: float}.get(_scalar(f.type), None) if "nargs" not in kw else None
    return {**kw, "default": f.default, **({"type": kind} if kind else {})}


def _scalar(annotation: Any) -> type | None:
    """int or float for an 'int | None' / 'float' annotation (a string here: postponed)."""
    text = str(annotation)
    for t in (int, float):
        if text.split(" | ")[0] == t.__name__:
            return t
    return None

