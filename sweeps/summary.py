"""The end-of-sweep summary: Tune's results as one DataFrame, then the top configs, the failed
seeds, the trials stopped early, the worst outlier seed, the baseline on the best config's network
(Lagaris, l2, for equations; the VAE for distribution problems), and where everything is.

Failure rates and the worst outlier are over trials that ran their full budget
(``status.FULL_BUDGET``); trials that ASHA or the time budget stopped early are counted apart,
never as failures: their numbers come from fewer iterations.

Every number is the problem's primary metric (``metrics.metric_of``: MSE for equations, e.g. the
energy distance or classes missed for distributions); the columns and keys keep their historical
names (``median_mse``, ``worst_mse``, ``seed_<k>``) and ``metric`` says which metric they hold.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan_core import PROBLEMS, Config, Result, train

from .metrics import (CONFIDENCE, ci_text, failure_ci, fmt, label, metric_of, plural,
                      rate_text)
from .spaces import METRIC, to_config
from .status import EARLY_STOPPED, FULL_BUDGET, classify, full_budget

_SEED = re.compile(r"^eval/(.+)_seed_(\d+)$")  # per-seed values: eval/<metric>_seed_<k>


def trials_frame(grid: Any, searched: list[str]) -> pd.DataFrame:
    """One row per trial of a Tune ResultGrid: status, metrics at its last report, searched params,
    and the per-seed final primary metric in columns ``seed_0`` ... (a DataFrame the analysis code
    can use). ``median_mse`` / ``worst_mse`` hold that metric (named in ``metric``)."""
    rows = []
    for r in grid:
        m, cfg = r.metrics or {}, r.config or {}
        if not m and r.error is None:
            continue  # never started (the time budget ran out first): not a trial of this sweep
        metric = metric_of(cfg.get("problem", ""), cfg.get("metric"))
        row = {
            # an errored trial may have no result: its id is in its folder's name (trial_<id>)
            "trial_id": m.get("trial_id") or Path(r.path or "").name.removeprefix("trial_"),
            "status": classify(m, cfg.get("iterations"), error=r.error is not None),
            "iteration": int(m.get("iteration", 0)),
            "metric": metric,
            "median_mse": m.get(f"eval/{metric}", math.inf),
            "worst_mse": m.get(f"eval/{metric}_worst", math.inf),
            "failure_rate": m.get("eval/failure_rate", 1.0),
            # residual monitoring (gan_core's monitor option): restarts, seeds abandoned
            "restarts": int(m.get("eval/restarts", 0)),
            "abandoned": int(m.get("eval/abandoned", 0)),
            "collapsed": int(m.get("eval/collapsed", 0)),  # failed on a constant solution
            METRIC: m.get(METRIC, math.inf),
            "train_seconds": m.get("train/seconds", 0.0),
            "node": f"{m.get('hostname', '?')}/{m.get('node_ip', '?')}",
        }
        row.update({p: cfg.get(p) for p in searched})
        row.update({f"seed_{match[2]}": v for k, v in m.items()
                    if (match := _SEED.match(k)) and match[1] == metric})
        row["config"] = cfg
        rows.append(row)
    return pd.DataFrame(rows)


def ranked(df: pd.DataFrame) -> pd.DataFrame:
    """Trials that ran their full budget first, then by the objective, ties by the median."""
    full = df["status"].isin(FULL_BUDGET)
    return (df.assign(_full=~full).sort_values(["_full", METRIC, "median_mse"])
            .drop(columns="_full"))


def worst_outlier(df: pd.DataFrame, searched: list[str] | None = None) -> dict[str, Any] | None:
    """The seed furthest above its own trial's median (primary metric), among trials that ran their
    full budget: the "worst GAN" whose siblings, with the same config, did fine. A trial whose
    median is 0 (a count: no mode missed) or non-finite (diverged) has none: no ratio says how far
    above it a seed is."""
    best: dict[str, Any] | None = None
    for _, row in df[df["status"].isin(FULL_BUDGET)].iterrows():
        median = row["median_mse"]
        if not (np.isfinite(median) and median > 0):
            continue
        for col in [c for c in row.index if c.startswith("seed_")]:
            mse = row[col]
            if mse is None or (isinstance(mse, float) and math.isnan(mse)):
                continue
            ratio = math.inf if not np.isfinite(mse) else mse / median
            if best is None or ratio > best["ratio"]:
                best = {"trial_id": row["trial_id"], "seed": int(col[len("seed_"):]),
                        "mse": float(mse), "trial_median_mse": float(median),
                        "ratio": float(ratio), "iteration": int(row["iteration"]),
                        "params": {p: _plain(row[p]) for p in searched or [] if p in row}}
    return best


def baseline_method(problem: str) -> str | None:
    """The non-GAN baseline of a problem, as its class says (``baseline_method``): Lagaris (l2)
    for equations, the VAE for distributions, None for InfoGAN problems (their metric is about
    the code D recovers: a VAE has none)."""
    cls = PROBLEMS.get(problem)
    return cls.baseline_method if cls is not None else "l2"


def baseline(best_config: dict[str, Any], method: str | None = None,
             iterations: int | None = None) -> Result:
    """The baseline run (``baseline_config``), trained in this process."""
    return train(baseline_config(best_config, method, iterations))


def baseline_config(best_config: dict[str, Any], method: str | None = None,
                    iterations: int | None = None) -> Config:
    """The baseline (``baseline_method`` unless `method` is given) on the best config's
    networks: same G (and D's network as the VAE's encoder), learning rates, decay, seeds and
    iterations (`iterations` if given: the best trial's, when it stopped early), one G step per
    iteration (g_iters / d_iters are G:D ratios, and a baseline has no D: repeating steps would
    only multiply the cost)."""
    method = method or baseline_method(best_config.get("problem", ""))
    return again(best_config, iterations, method=method, g_iters=1, d_iters=1)


# Replicas, as offsets from a trial's base seed (the trials' own: --seed + TRIAL_SEED_OFFSET,
# none the presets or the family's start were chosen on: those choices were made on seeds 0-7 and
# 1-4, so there the start is flattered: the main job's preset has median 5.9e-12 on seeds 0-7 and
# its neighbours 1e-11 to 6e-11, while on seeds 1000-1007 the start's is 4.4e-11)
TRIAL_SEED_OFFSET = 3000
CONFIRM_SEED_OFFSET = 1000  # the confirmation's replicas: (seed + 1000, k), none of the trials'
RACE_SEED_OFFSET = 2000  # the finalists' race (sweeps.decide): none of the trials' or the above


def confirm(best_config: dict[str, Any], seeds: int, iterations: int | None = None) -> Result:
    """The best config on fresh seeds (``confirm_config``), trained in this process."""
    return train(confirm_config(best_config, seeds, iterations))


def confirm_config(config: dict[str, Any], seeds: int, iterations: int | None = None,
                   offset: int = CONFIRM_SEED_OFFSET) -> Config:
    """A config (a summary row's, flat) on `seeds` fresh replicas (base seed + `offset`: new
    initial weights, points and, for data problems, samples) for the given budget: an estimate
    of its median and worst seed free of the selection that made it the best."""
    return again(config, iterations, seeds=int(seeds),
                 seed=int(config.get("seed", 0)) + offset)


def again(config: dict[str, Any], iterations: int | None, **changes: Any) -> Config:
    """A config (a summary row's, flat) to train again on the CPU, with `changes` and
    `iterations` (if given) in place of its own."""
    budget = {"iterations": int(iterations)} if iterations else {}
    return Config.from_dict({**to_config(config), "device": "cpu", **changes, **budget})


def result_part(result: Result) -> dict[str, Any]:
    """A training run (the baseline, the confirmation) as the summary keeps it: median, worst,
    failure rate with its interval, every seed's value, iterations and seconds."""
    failed = int(result.failed.sum())
    return {"median_mse": result.median_mse, "worst_mse": result.worst_mse,
            "failure_rate": result.failure_rate, "collapsed": int(result.collapsed.sum()),
            "failure_rate_ci": list(failure_ci(failed, len(result.final_mse))),
            "seeds": [float(v) for v in result.final_mse],
            "iterations": result.iterations, "seconds": result.wall_time}


def budget(row: dict[str, Any]) -> int:
    """The iterations a summary row's numbers stand for: its config's for a trial that ran its
    full budget (a diverged one too), else the iteration it reached."""
    if full_budget(row["status"]) and row.get("config", {}).get("iterations"):
        return int(row["config"]["iterations"])
    return int(row["iteration"])


def summarize(df: pd.DataFrame, searched: list[str], top: int = 5) -> dict[str, Any]:
    """The JSON-able summary of the sweep's trials (paths and the baseline are added by the CLI)."""
    r = ranked(df)
    b = r.iloc[0]
    counts = df["status"].value_counts().to_dict()
    metric = str(b["metric"]) if "metric" in b else "mse"
    return {
        "metric": metric,  # what median_mse / worst_mse / mse below hold
        "num_trials": int(len(df)),
        "status_counts": {k: int(v) for k, v in counts.items()},
        "full_budget": _full_budget(df),
        "stopped_early": _stopped_early(df),
        "best": best_part(b, searched),
        "top": [row_part(x, searched) for _, x in r.head(top).iterrows()],
        "worst_outlier": worst_outlier(df, searched),
        "training_seconds": float(df["train_seconds"].sum()),
        # the work done: seeds x iterations over every trial, early-stopped ones included
        "trial_epochs": int(sum(int(x["iteration"]) * _seeds(x) for _, x in df.iterrows())),
    }


def row_part(x: pd.Series, searched: list[str]) -> dict[str, Any]:
    """A trial as the summary keeps it: status, its seeds' median, worst and failure rate (with
    its interval; none for a trial stopped early), objective, monitoring counts, searched params."""
    full = full_budget(x["status"])
    n = _seeds(x)
    return {"trial_id": x["trial_id"], "status": x["status"], "iteration": int(x["iteration"]),
            "median_mse": float(x["median_mse"]), "worst_mse": float(x["worst_mse"]),
            # a trial stopped early has no failure rate: its seeds ran fewer iterations
            "failure_rate": float(x["failure_rate"]) if full else None,
            "failure_rate_ci": (list(failure_ci(round(float(x["failure_rate"]) * n), n))
                                if full and n else None),
            "objective": float(x[METRIC]),
            "restarts": int(x.get("restarts", 0)), "abandoned": int(x.get("abandoned", 0)),
            "collapsed": int(x.get("collapsed", 0)),
            "params": {p: _plain(x[p]) for p in searched if p in x}}


def best_part(x: pd.Series, searched: list[str]) -> dict[str, Any]:
    """The picked trial: ``row_part`` with its whole config, searched betas folded into
    ``X.betas`` (one value per setting, as ``Config.from_dict`` reads it)."""
    return {**row_part(x, searched),
            "config": {k: _plain(v) for k, v in to_config(x["config"]).items()}}


def seed_values(x: pd.Series) -> list[float]:
    """A trial's per-seed values (its seed_<k> columns, in order)."""
    cols = sorted((c for c in x.index if c.startswith("seed_") and pd.notna(x[c])),
                  key=lambda c: int(c[len("seed_"):]))
    return [float(x[c]) for c in cols]


def parent_metrics(summary: dict[str, Any]) -> dict[str, float | None]:
    """The summary's metrics on the sweep's parent MLflow run (the driver's and relog's): the best
    trial's, the failure rate over the seeds of full-budget trials with the count of trials
    stopped early beside it, and the baseline's. None: not known (no trial ran its full budget,
    no baseline)."""
    b, m = summary.get("best") or {}, summary.get("metric", "mse")
    full, early = summary.get("full_budget") or {}, summary.get("stopped_early") or {}
    base, conf = summary.get("baseline") or {}, summary.get("confirm") or {}
    gain = summary.get("search_gain") or {}
    start = gain.get("start") or {}
    return {f"best/{m}": b.get("median_mse"), f"best/{m}_worst": b.get("worst_mse"),
            "best/failure_rate": b.get("failure_rate"), **_ci("best", b),
            "sweep/trials": summary.get("num_trials"),
            "sweep/failure_rate": full.get("failure_rate"),
            "sweep/restarts": full.get("restarts"), "sweep/abandoned": full.get("abandoned"),
            **_ci("sweep", full),
            "sweep/early_stopped": early.get("trials"),
            # the baseline: its median, worst, failure rate and every seed's value (the report
            # reads these instead of training it again)
            f"baseline/{m}": base.get("median_mse"), f"baseline/{m}_worst": base.get("worst_mse"),
            "baseline/failure_rate": base.get("failure_rate"), **_ci("baseline", base),
            "baseline/iterations": base.get("iterations"),
            **{f"baseline/{m}_seed_{k}": v for k, v in enumerate(base.get("seeds") or [])},
            # the best config again on fresh seeds: the figure free of the selection
            f"confirm/{m}": conf.get("median_mse"), f"confirm/{m}_worst": conf.get("worst_mse"),
            "confirm/failure_rate": conf.get("failure_rate"), **_ci("confirm", conf),
            **{f"confirm/{m}_seed_{k}": v for k, v in enumerate(conf.get("seeds") or [])},
            # the start on the same fresh seeds, and the gain: start over pick
            f"start/{m}": start.get("median_mse"), f"start/{m}_worst": start.get("worst_mse"),
            "start/failure_rate": start.get("failure_rate"),
            **{f"start/{m}_seed_{k}": v for k, v in enumerate(start.get("seeds") or [])},
            "search_gain/median_ratio": gain.get("median_ratio"),
            "search_gain/worst_ratio": gain.get("worst_ratio"),
            "search_gain/start_is_pick": (None if not gain else float(gain["start_is_pick"]))}


def _ci(prefix: str, part: dict[str, Any]) -> dict[str, float | None]:
    """<prefix>/failure_rate_ci_low and _high: the Wilson interval of a failure rate."""
    ci = part.get("failure_rate_ci") or (None, None)
    return {f"{prefix}/failure_rate_ci_low": ci[0], f"{prefix}/failure_rate_ci_high": ci[1]}


def _seeds(row: pd.Series) -> int:
    """How many seeds a trial reported (its seed_<k> columns), else its config's."""
    seen = [c for c in row.index if c.startswith("seed_") and pd.notna(row[c])]
    return len(seen) or int((row.get("config") or {}).get("seeds") or 0)


def _full_budget(df: pd.DataFrame) -> dict[str, Any]:
    """Failed seeds over the trials that ran their full budget (the sweep's failure rate)."""
    full = df[df["status"].isin(FULL_BUDGET)]
    seeds = [_seeds(r) for _, r in full.iterrows()]
    failed = sum(round(float(r["failure_rate"]) * n) for (_, r), n in zip(full.iterrows(), seeds))
    return {"trials": int(len(full)), "seeds": int(sum(seeds)), "failed": int(failed),
            "restarts": int(full["restarts"].sum()) if "restarts" in full else 0,
            "abandoned": int(full["abandoned"].sum()) if "abandoned" in full else 0,
            "collapsed": int(full["collapsed"].sum()) if "collapsed" in full else 0,
            "failure_rate": failed / sum(seeds) if sum(seeds) else None,
            "failure_rate_ci": list(failure_ci(failed, sum(seeds))) if sum(seeds) else None}


def _stopped_early(df: pd.DataFrame) -> dict[str, Any]:
    """The trials ASHA or the time budget stopped early: how many, their seeds, where."""
    early = df[df["status"] == EARLY_STOPPED]
    at = early["iteration"].value_counts().sort_index()
    return {"trials": int(len(early)), "seeds": int(sum(_seeds(r) for _, r in early.iterrows())),
            "at_iteration": {str(int(k)): int(v) for k, v in at.items()}}


def table(summary: dict[str, Any]) -> str:
    """The summary as the text the CLI prints and logs on the parent run; numbers are the primary
    metric (``summary["metric"]``), named as such."""
    metric = summary.get("metric", "mse")
    name = label(metric)
    lines = [f"Top configs ({summary['num_trials']} trials: "
             + ", ".join(f"{v} {k}" for k, v in summary["status_counts"].items()) + ")", ""]
    top = summary["top"]
    params = list(top[0]["params"]) if top else []
    short = [p.replace("lr_gamma", "gamma") for p in params]
    col = max(10, len(f"median {name}"))
    # residual monitoring's restarts / abandoned seeds, when any trial had some
    monitored = any(t.get("restarts") or t.get("abandoned") for t in top)
    head = (f"{'trial':<12} {'status':<13} {'median ' + name:>{col}} {'worst ' + name:>{col}} "
            f"{'failed':>6} {'95% CI':>8} {'iters':>6}  "
            + (f"{'restarts':>8} {'abandoned':>9}  " if monitored else "")
            + "  ".join(f"{s:>9}" for s in short))
    lines += [head, "-" * len(head)]
    for t in top:
        lines.append(f"{t['trial_id']:<12} {t.get('status', ''):<13} "
                     f"{fmt(metric, t['median_mse']):>{col}} "
                     f"{fmt(metric, t['worst_mse']):>{col}} "
                     f"{_rate(t['failure_rate']):>6} {_interval(t.get('failure_rate_ci')):>8} "
                     f"{t['iteration']:>6}  "
                     + (f"{t.get('restarts', 0):>8} {t.get('abandoned', 0):>9}  "
                        if monitored else "")
                     + "  ".join(f"{_fmt(t['params'][p]):>9}" for p in params))
    lines.append("")
    full, early = summary.get("full_budget"), summary.get("stopped_early")
    if full is not None:
        lines.append(f"Failed seeds: {full['failed']} of {full['seeds']} in the {full['trials']} "
                     f"trials that ran their full budget ({_rate(full['failure_rate'])}, "
                     f"{ci_text(full['failed'], full['seeds'])})")
        if full.get("collapsed"):
            lines.append(f"  {plural(full['collapsed'], 'seed')} of them collapsed: a constant "
                         "solution where the reference varies (residual training's classic "
                         "failure; the curriculum and causal weighting are its remedies)")
        if full.get("restarts") or full.get("abandoned"):
            lines.append(f"Residual monitoring in those trials: {plural(full['restarts'], 'restart')}"
                         f", {plural(full['abandoned'], 'seed')} abandoned (counted as failed)")
    if early and early["trials"]:
        lines.append(f"Stopped early by ASHA or the time budget, not counted as failures: "
                     f"{plural(early['trials'], 'trial')} ({plural(early['seeds'], 'seed')}), "
                     "at iteration " + ", ".join(f"{it} ({plural(n, 'trial')})"
                                                 for it, n in early["at_iteration"].items()))
    b = summary["best"]
    lines.append(f"Best: {b['trial_id']}  median {name} {fmt(metric, b['median_mse'])} over "
                 f"{b['config'].get('seeds')} seeds, worst {fmt(metric, b['worst_mse'])}, "
                 + (f"failure rate {b['failure_rate']:.0%}"
                    + (f" ({CONFIDENCE:.0%} CI {_interval(b['failure_rate_ci'])})"
                       if b.get("failure_rate_ci") else "")
                    if b["failure_rate"] is not None else
                    f"no failure rate: stopped early at iteration {b['iteration']} of "
                    f"{b['config'].get('iterations')} (no trial ran its full budget)"))
    fin = summary.get("finalists")
    if fin:
        race = fin[0]["race_seeds"]
        lines.append(f"Picked from {plural(len(fin), 'finalist')} raced on the same {race} fresh "
                     "seeds (the objective over those, not the trials' own): " + "; ".join(
                         f"{f['trial_id']}{' (start)' if f['start'] else ''} "
                         f"{fmt(metric, f['race_median_mse'])}"
                         + (f" p={f['race_p']:.2g}" if "race_p" in f else "")
                         + f"{' <- pick' if f['trial_id'] == b['trial_id'] else ''}" for f in fin))
        tested = [f for f in fin if "race_p" in f]
        if tested and not any(f["beats_start"] for f in tested):
            alpha = summary.get("race_alpha", 0.05)
            lines.append(f"  the start stays: no finalist beat it on the race seeds (no more "
                         f"failed seeds and lower values, one-sided Mann-Whitney p < "
                         f"{alpha:g}/{len(tested)})")
    conf = summary.get("confirm")
    if conf:
        n = len(conf["seeds"])
        lines.append(f"Best config on {n} fresh seeds (replicas no trial or race used: free of "
                     f"the selection): median {name} {fmt(metric, conf['median_mse'])}, worst "
                     f"{fmt(metric, conf['worst_mse'])}, failure rate {_part_rate(conf)}")
    g = summary.get("search_gain")
    if g:
        lines.append(gain_text(g, metric))
    base = summary.get("baseline")
    if base:
        what = ("Lagaris baseline" if base["method"] in ("l2", "l1", "huber")
                else f"{base['method'].upper()} baseline")
        same = (f"; the same {b['config'].get('seeds')} seeds x {base['iterations']} iterations "
                "as the best" if base.get("iterations") else "")
        lines.append(f"{what} ({base['method']} on the best config's networks): median {name} "
                     f"{fmt(metric, base['median_mse'])}, worst {fmt(metric, base['worst_mse'])}, "
                     f"failure rate {_part_rate(base)}{same}")
    o = summary.get("worst_outlier")
    if o:
        ran = f" (ran all {o['iteration']} iterations)" if "iteration" in o else ""
        lines.append(f"Worst outlier: trial {o['trial_id']} seed {o['seed']}: {name} "
                     f"{fmt(metric, o['mse'])} while its trial's median is "
                     f"{fmt(metric, o['trial_median_mse'])}{ran}; config: "
                     + " ".join(f"{k}={_fmt(v)}" for k, v in o.get("params", {}).items()))
    return "\n".join(lines)


def gain_text(g: dict[str, Any], metric: str) -> str:
    """The search gain as a sentence: the start and the pick on the same fresh seeds."""
    name, start = label(metric), g["start"]
    where = f"on the same {len(start['seeds'])} fresh seeds"
    if g["start_is_pick"]:
        return (f"Search gain: none, the start ({g['start_label']}) was the pick; {where} its "
                f"median {name} is {fmt(metric, start['median_mse'])}, worst "
                f"{fmt(metric, start['worst_mse'])}")
    pick = g["pick"]
    return (f"Search gain over the start ({g['start_label']}), {where}: median {name} "
            f"{fmt(metric, start['median_mse'])} -> {fmt(metric, pick['median_mse'])} "
            f"({_times(g['median_ratio'])}), worst {fmt(metric, start['worst_mse'])} -> "
            f"{fmt(metric, pick['worst_mse'])} ({_times(g['worst_ratio'])}); failure rate "
            f"{_part_rate(start)} -> {_part_rate(pick)}")


def _times(ratio: float) -> str:
    """A ratio start / pick in words: "3.1x lower", "2.0x higher", "the same"."""
    if ratio is None or math.isnan(ratio):
        return "both failed"
    if math.isinf(ratio):
        return "the start failed where the pick did not"
    if abs(math.log10(ratio)) < 0.01:
        return "the same"
    return f"{ratio:.2g}x lower" if ratio > 1 else f"{1 / ratio:.2g}x higher"


def _rate(rate: float | None) -> str:
    """A failure rate as a percentage; "-" where there is none (a trial stopped early)."""
    return "-" if rate is None else f"{rate:.0%}"


def _interval(ci: Sequence[float] | None) -> str:
    """A failure rate's interval as "0-32%"; "-" where there is none."""
    return "-" if not ci else f"{ci[0] * 100:.0f}-{ci[1]:.0%}"


def _part_rate(part: dict[str, Any]) -> str:
    """The failure rate of a run trained at the end (the baseline, the confirmation), with its
    interval when its seeds are known."""
    n = len(part.get("seeds") or [])
    return (rate_text(round(part["failure_rate"] * n), n) if n
            else f"{part['failure_rate']:.0%}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) >= 1e-2 or v == 0 else f"{v:.1e}"
    return str(v)


def _plain(v: Any) -> Any:
    """numpy scalars and tuples to JSON-able Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v
