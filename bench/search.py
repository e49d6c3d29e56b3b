"""The search measured: does gansweep's default sweep find better configs than plain schemes, in the
same wall time?

    python bench/search.py                                # sho, 3 search seeds, 480 s each
    python bench/search.py --problem exp --seeds 0,1,2 --time-budget 240
    python bench/search.py --schemes gansweep,tpe8 --out search_sho.md

Schemes (each a ``gansweep run`` of the problem with the same time budget, one after the other on
this machine, stores in a temporary folder):

  gansweep   the default sweep: TPE + ASHA, the finalists raced on fresh seeds, the pick by their
             seeds pooled (sweeps/decide.py)
  tpe8       plain TPE + ASHA, one config and 8 seeds a trial, the best trial picked (the scheme
             before the finalists: --finalists 0 --seeds 8)
  random8    random search + ASHA, 8 seeds a trial, the best trial picked (the DEQGAN paper's
             scheme: --sampler random --finalists 0 --seeds 8)

Each is repeated over search seeds (``--seed S``: the sampler's seed and the trials' replicas) and
scored by its pick's median over the same 8 fresh seeds (replicas S + 4000, the sweep's own
confirmation, which the start is trained on too). Printed: per scheme, the pick's fresh median
(median and worst over the search seeds), its gain over the start, the anytime curve (the best
trial by the objective at a third and two thirds of the budget, trained on the same fresh seeds,
then the pick) and the configs decided (trials ended, by ASHA or at their full budget) per
core-hour of trial slots, and the sweep's wall time (its trials' budget, then its end: the
race and the confirmation).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

SCHEMES = {
    "gansweep": [],
    "tpe8": ["--finalists", "0", "--seeds", "8"],
    "random8": ["--sampler", "random", "--finalists", "0", "--seeds", "8"],
}
ANYTIME = (1 / 3, 2 / 3)  # fractions of the budget at which the incumbent is measured too


def sweep(problem: str, scheme: str, seed: int, budget: float, folder: Path) -> dict[str, Any]:
    """One sweep of `scheme`; its summary, wall time and the trials' end times."""
    summary = folder / "summary.json"
    cmd = [sys.executable, "-m", "sweeps", "run", problem, "--seed", str(seed),
           "--time-budget", str(budget), "--no-baseline", "--confirm-seeds", "8",
           "--storage-path", str(folder / "ray"), "--tracking-uri", str(folder / "mlflow.db"),
           "--summary-json", str(summary), *SCHEMES[scheme]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not summary.exists():
        raise RuntimeError(f"{scheme} seed {seed}: {(proc.stderr.strip().splitlines() or [''])[-1]}")
    s = json.loads(summary.read_text())
    return {"summary": s, "wall": wall, "trials": _trials(s["ray_results"])}


def _trials(exp_dir: str) -> list[dict[str, Any]]:
    """Every trial's end time (seconds after the first trial's start), status, objective and
    config, from Tune's own results."""
    from ray.tune import ExperimentAnalysis

    from sweeps.status import classify

    rows = []
    for t in ExperimentAnalysis(exp_dir).trials:
        r = t.last_result or {}
        if not r:
            continue
        rows.append({"end": r["timestamp"], "start": r["timestamp"] - r.get("time_total_s", 0),
                     "objective": r.get("objective", np.inf),
                     "status": classify(r, t.config.get("iterations")), "config": t.config})
    t0 = min((x["start"] for x in rows), default=0.0)
    for x in rows:
        x["end"] -= t0
    return rows


def incumbent(trials: list[dict[str, Any]], at: float) -> dict[str, Any] | None:
    """The best full-budget trial by the objective among those ended by `at` seconds."""
    done = [t for t in trials if t["end"] <= at and t["status"] in ("ok", "diverged")]
    return min(done, key=lambda t: t["objective"]) if done else None


def fresh(job: tuple[dict[str, Any], int]) -> float:
    """The median of a trial config over 8 fresh seeds (replicas seed + 4000: the sweep's
    confirmation set at sampler seed `seed`)."""
    import torch

    from sweeps import summary as S
    from gan_core import train

    torch.set_num_threads(1)
    config, seed = job
    return train(S.confirm_config({**config, "seed": seed + S.TRIAL_SEED_OFFSET}, 8)).median_mse


def absolute(problem: str) -> str:
    """A problem named by a file (path/file.py:Class, data.npy) with its path made absolute;
    any other name as it is."""
    path, sep, rest = problem.partition(":")
    if Path(path).suffix in (".py", ".npy", ".csv") and Path(path).exists():
        return str(Path(path).resolve()) + sep + rest
    return problem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problem", default="sho",
                   help="a problem as `gansweep run` takes it: a built-in name or file.py:Class")
    p.add_argument("--schemes", default=",".join(SCHEMES),
                   help=f"comma-separated, of {', '.join(SCHEMES)}")
    p.add_argument("--seeds", default="0,1,2", help="search seeds, comma-separated")
    p.add_argument("--time-budget", type=float, default=480.0, help="seconds of trials per sweep")
    p.add_argument("--out", help="also write the table (Markdown) and the runs (JSON beside it)")
    a = p.parse_args(argv)
    a.problem = absolute(a.problem)  # the sweeps run in their own folders
    schemes = a.schemes.split(",")
    unknown = [s for s in schemes if s not in SCHEMES]
    if unknown:
        p.error(f"--schemes: {', '.join(unknown)} unknown; choose from {', '.join(SCHEMES)}")
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds {a.seeds!r}: give integers, comma-separated (e.g. 0,1,2)")
    from gan_core import ProblemError, make_problem  # after ROOT is on the path

    try:  # a wrong problem is said before the first sweep, not after its budget
        make_problem(a.problem)
    except ProblemError as e:
        p.error(f"--problem: {e}")
    runs: list[dict[str, Any]] = []
    failed = None
    for seed, scheme in itertools.product(seeds, schemes):
        print(f"{scheme} seed {seed}: sweeping {a.problem} for {a.time_budget:.0f} s ...",
              flush=True)
        try:
            r = measure(a.problem, scheme, seed, a.time_budget)
        except RuntimeError as e:  # the sweeps already measured are kept, printed and written
            failed = e
            break
        runs.append(r)
        print(f"  pick {r['pick']:.2e} (start {r['start']:.2e}), {r['trials']} trials, "
              f"{r['wall']:.0f} s", flush=True)
        if a.out:  # after every sweep: an interrupted bench keeps what it measured
            Path(a.out).write_text(table(runs, schemes, a.problem, a.time_budget) + "\n")
            Path(a.out).with_suffix(".json").write_text(json.dumps(runs, indent=2))
    if runs:
        print("\n" + table(runs, schemes, a.problem, a.time_budget))
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def measure(problem: str, scheme: str, seed: int, budget: float) -> dict[str, Any]:
    """One sweep of `scheme` at search seed `seed`, scored: its pick and start on the fresh
    seeds, the anytime curve, the configs decided per core-hour and the wall time."""
    with tempfile.TemporaryDirectory(prefix="gansweep_search_") as tmp:
        run = sweep(problem, scheme, seed, budget, Path(tmp))
    s = run["summary"]
    gain = s["search_gain"]
    times = [f * run["trials"][-1]["end"] if run["trials"] else 0 for f in ANYTIME]
    jobs = [(inc["config"], seed) for at in times
            if (inc := incumbent(run["trials"], at)) is not None]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        curve = pool.map(fresh, jobs)
    slot_hours = s["training_seconds"] / max(s["training_share"], 1e-9) / 3600
    return {"scheme": scheme, "seed": seed, "pick": gain["pick"]["median_mse"],
            "pick_worst": gain["pick"]["worst_mse"],
            "start": gain["start"]["median_mse"], "gain": gain["median_ratio"],
            "start_is_pick": gain["start_is_pick"], "trials": s["num_trials"],
            "decided_per_core_hour": s["num_trials"] / max(slot_hours, 1e-9),
            "curve": [*curve, gain["pick"]["median_mse"]], "wall": run["wall"]}


def table(runs: list[dict[str, Any]], schemes: list[str], problem: str, budget: float) -> str:
    n = len({r["seed"] for r in runs})
    lines = [f"{problem}, {budget:.0f} s of trials per sweep, {n} search seeds; the pick's median "
             "over 8 fresh seeds (the same for every scheme at one search seed)", "",
             "| scheme | pick: median over search seeds | worst | start (same seeds) | gain "
             "(median) | start picked | anytime: 1/3, 2/3, end | configs per core-hour | wall (s) |",
             "|" + "---|" * 9]
    for scheme in schemes:
        rs = [r for r in runs if r["scheme"] == scheme]
        if not rs:
            continue
        picks = np.array([r["pick"] for r in rs])
        curve = np.median(np.array([r["curve"] for r in rs if len(r["curve"]) == 3]), axis=0) \
            if all(len(r["curve"]) == 3 for r in rs) else []
        lines.append(
            f"| {scheme} | {np.median(picks):.2e} | {picks.max():.2e} | "
            f"{np.median([r['start'] for r in rs]):.2e} | "
            f"{np.median([r['gain'] for r in rs]):.2g}x | "
            f"{sum(r['start_is_pick'] for r in rs)} of {len(rs)} | "
            + (", ".join(f"{v:.1e}" for v in curve) if len(curve) else "-") + " | "
            f"{np.median([r['decided_per_core_hour'] for r in rs]):.0f} | "
            f"{np.median([r['wall'] for r in rs]):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
