"""The sweep's end: which config it picks, and what it gained over its start, both measured on seeds
no choice saw.

A trial's median over its own seeds is noisy (the same sho config's 8-seed medians span ~10x
between seed sets), and the best of many noisy medians is optimistic. So the end spends seeds where
they decide:

1. **Finalists.** The start (the first trial: the preset) and the best full-budget trials by the
   objective (``--finalists``, 4 in all by default) are trained again on a race set of fresh
   seeds (replicas ``seed + summary.RACE_SEED_OFFSET``); the pick is the finalist with the best
   objective over its race seeds, among those that beat the start there (``beats_start``: no
   more failed seeds, and lower values by a one-sided rank test at 5% over all the finalists;
   else the start stays the pick). Not over its trial's seeds too: those are biased for every
   finalist — the best trials were chosen for them (the best of many noisy medians), and the
   start was tuned on them where they are the seeds its preset was chosen on (sho's preset:
   median 5.9e-12 on seeds 0-7, 4.4e-11 and 5.6e-11 on fresh sets; the trials now run on seeds
   from 3000, ``summary.TRIAL_SEED_OFFSET``). A config that only drew lucky seeds falls back there.
2. **Confirmation and search gain.** The pick and the start are trained again on one more set of
   seeds that neither the search nor the race saw (``seed + summary.CONFIRM_SEED_OFFSET``), the same for both:
   their medians and worst seeds there, and the start's over the pick's (``search_gain``: above
   1, the search found better than where it began; "the start was the pick" is said as such).

Every run here is a Ray task of a trial's CPUs, so they run side by side on the sweep's cluster
(the baseline too), and every result is the problem's primary metric over the full budget.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan_core import Config, Result, train
from gan_core.config import failed_seeds

from .spaces import METRIC, objective
from .status import FULL_BUDGET



def finalists(df: pd.DataFrame, start_id: str | None, n: int) -> list[str]:
    """Trial ids of the finalists: the start's (when it ran its full budget) and the best other
    full-budget trials by the objective (ties by the median), n in all."""
    full = df[df["status"].isin(FULL_BUDGET)].sort_values([METRIC, "median_mse"])
    ids = list(full["trial_id"])
    out = [start_id] if start_id in ids else []
    out += [t for t in ids if t != start_id][:max(0, n - len(out))]
    return out


def start_trial(df: pd.DataFrame, start: dict[str, Any]) -> str | None:
    """The trial that ran the start point (every searched value equal to the start's), if any."""
    if not start:
        return None
    for _, row in df.iterrows():
        if all(same(row.get(k), v) for k, v in start.items()):
            return str(row["trial_id"])
    return None


def same(a: Any, b: Any) -> bool:
    """Two config values alike: numbers to round-off (a value through Optuna and JSON), lists
    and tuples by their items."""
    if isinstance(a, (float, int, np.number)) and isinstance(b, (float, int, np.number)):
        return bool(np.isclose(float(a), float(b), rtol=1e-12, atol=0))
    return a == b or (isinstance(a, (list, tuple)) and list(a) == list(b))


def run_all(configs: Sequence[Config], cpus: float = 1.0) -> list[Result]:
    """Train `configs` side by side, each a Ray task of `cpus` CPUs (in this process when Ray is
    not running: tests, a notebook)."""
    import ray

    if not ray.is_initialized() or len(configs) < 2:
        return [_train(c, cpus) for c in configs]
    task = ray.remote(num_cpus=cpus)(_train)
    return ray.get([task.remote(c, cpus) for c in configs])


def _train(config: Config, cpus: float) -> Result:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cpus)))
    try:
        return train(config)
    finally:
        torch.set_num_threads(threads)


def race_score(race: Result, kind: str) -> float:
    """The objective over a finalist's race seeds."""
    values = np.asarray(race.final_mse, dtype=float)
    values = np.where(np.isnan(values), np.inf, values)  # a seed without a value failed
    failed = failed_seeds(values, race.failure_threshold)
    return objective(values, float(np.mean(failed)), kind, race.metric)


RACE_ALPHA = 0.05  # a finalist replaces the start only at this significance, over all of them


def beats_start(finalist: Result, start: Result, challengers: int,
                alpha: float = RACE_ALPHA) -> tuple[bool, float]:
    """Whether a finalist may replace the start, and the one-sided p-value: it fails no more race
    seeds than the start, and its per-seed values on the race seeds are lower than the start's by
    a one-sided Mann-Whitney U test at `alpha` / `challengers` (Bonferroni: the best of several
    noisy finalists looks better than it is). Near a good start the configs a search finds differ
    less than an 8-seed median can tell: on the main job the finalist with the best race median
    (9.5x below the start's) had a 13x higher median than the start on the next 8 seeds."""
    from scipy.stats import mannwhitneyu

    def values(r: Result) -> np.ndarray:
        v = np.asarray(r.final_mse, dtype=float)
        return np.where(np.isfinite(v), v, np.inf)

    a, b = values(finalist), values(start)
    more_failed = failed_seeds(a, finalist.failure_threshold).sum() > \
        failed_seeds(b, start.failure_threshold).sum()
    finite = np.isfinite(np.concatenate([a, b]))
    cap = abs(np.max(np.concatenate([a, b])[finite])) * 10 + 1 if finite.any() else 1.0  # > all
    p = float(mannwhitneyu(np.where(np.isfinite(a), a, cap), np.where(np.isfinite(b), b, cap),
                           alternative="less").pvalue)
    return (not more_failed and p < alpha / max(1, challengers)), p


def gain(start: dict[str, Any], pick: dict[str, Any]) -> dict[str, float]:
    """The start's median and worst over the pick's, on the same seeds (above 1: the search
    gained; inf: the start failed every seed where the pick did not)."""
    return {"median_ratio": _ratio(start["median_mse"], pick["median_mse"]),
            "worst_ratio": _ratio(start["worst_mse"], pick["worst_mse"])}


def _ratio(a: float, b: float) -> float:
    if not math.isfinite(a) and not math.isfinite(b):
        return math.nan
    if not math.isfinite(a):
        return math.inf
    if b <= 0:
        return math.inf if a > 0 else 1.0
    return a / b
