"""Load: a sweep of many short trials at full concurrency; every trial accounted for in Tune and in
MLflow, and the driver's peak RSS as trials accumulate (steady memory = it stops growing).

    python bench/load.py                          # 200 trials, every CPU busy, temporary stores
    python bench/load.py --trials 200 --marks 50,100,200 --out /tmp/load

Prints the driver's peak RSS (``resource.getrusage``: this process, which is the sweep's driver)
when the 50th, ..., trial ends, the wall time, and the accounting: Tune's trials by status, MLflow's
runs under the sweep's parent by status, and whether the two hold the same trial ids. Exits 1 if
they do not. tests/test_reliability.py runs the same check on fewer trials.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from ray import tune  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    """This process's resident memory now (Linux), after a garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class MemoryMarks(tune.Callback):
    """Records the driver's peak RSS (MB; ``rss``), its RSS at that moment (``now``) and the
    elapsed time when the n-th trial ends."""

    def __init__(self, marks: list[int]) -> None:
        self.marks, self.ended = marks, 0
        self.rss: dict[int, float] = {}
        self.now: dict[int, float] = {}
        self.seconds: dict[int, float] = {}
        self.t0 = time.monotonic()

    def _end(self) -> None:
        self.ended += 1
        if self.ended in self.marks:
            self.rss[self.ended] = _peak_rss_mb()
            self.now[self.ended] = _rss_mb()
            self.seconds[self.ended] = time.monotonic() - self.t0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end()


def accounting(summary: dict[str, Any]) -> dict[str, Any]:
    """Tune's trials and MLflow's runs of one sweep, counted by status, and whether they match."""
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    tune_trials = ExperimentAnalysis(summary["ray_results"]).trials
    m = summary["mlflow"]
    runs = MlflowClient(m["tracking_uri"]).search_runs(
        [m["experiment_id"]], f"tags.`mlflow.parentRunId` = '{m['parent_run_id']}'",
        max_results=50000)
    by = {}
    for label, items in (("tune", [t.status for t in tune_trials]),
                         ("mlflow", [r.info.status for r in runs])):
        by[label] = {s: items.count(s) for s in sorted(set(items))}
    ids_tune = sorted(t.trial_id for t in tune_trials)
    ids_mlflow = sorted(r.data.tags.get("trial_id", "?") for r in runs)
    return {"tune": by["tune"], "mlflow": by["mlflow"], "tune_trials": len(ids_tune),
            "mlflow_runs": len(ids_mlflow), "same_ids": ids_tune == ids_mlflow}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--marks", default="50,200", help="trial counts at which to report peak RSS")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--problem", default="exp")
    ap.add_argument("--out", help="folder for the stores (default: a temporary one)")
    a = ap.parse_args(argv)
    import sweeps

    out = Path(a.out or tempfile.mkdtemp(prefix="gansweep_load_")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    marks = MemoryMarks(sorted({int(x) for x in a.marks.split(",")}))
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    summary, _ = sweeps.sweep(  # max concurrency: every CPU of the local Ray
        a.problem, trials=a.trials, seeds=1, iterations=a.iterations, eval_every=a.eval_every,
        time_budget=0, baseline=False, storage_path=str(out / "ray"),
        tracking_uri=f"sqlite:///{out / 'mlflow.db'}", callbacks=[marks])
    wall = time.perf_counter() - t0
    acc = accounting(summary)
    ok = acc["same_ids"] and acc["tune_trials"] == a.trials == acc["mlflow_runs"] \
        and set(acc["mlflow"]) <= {"FINISHED", "FAILED"}
    print(json.dumps({"trials": a.trials, "wall_seconds": round(wall, 1),
                      "driver_peak_rss_mb_before": round(rss0, 1),
                      "driver_peak_rss_mb_at": {k: round(v, 1) for k, v in marks.rss.items()},
                      "driver_rss_mb_at": {k: round(v, 1) for k, v in marks.now.items()},
                      "seconds_at": {k: round(v, 1) for k, v in marks.seconds.items()},
                      "accounting": acc, "ok": ok, "stores": str(out)}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
