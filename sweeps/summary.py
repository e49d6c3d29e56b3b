"""The end-of-sweep summary: Tune's results as one DataFrame, then the top configs, the worst
outlier seed, the baseline on the best config's network (Lagaris, l2, for equations; the VAE for
distribution problems), and where everything is.

Every number is the problem's primary metric (``metrics.metric_of``: MSE for equations, e.g. the
energy distance or classes missed for distributions); the columns and keys keep their historical
names (``median_mse``, ``worst_mse``, ``seed_<k>``) and ``metric`` says which metric they hold.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gan_core import PROBLEMS, Config, Result, train

from .metrics import fmt, label, metric_of
from .spaces import METRIC, to_config

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
        metric = metric_of(cfg.get("problem", ""))
        row = {
            # an errored trial may have no result: its id is in its folder's name (trial_<id>)
            "trial_id": m.get("trial_id") or Path(r.path or "").name.removeprefix("trial_"),
            "status": _status(r, m, cfg),
            "iteration": int(m.get("iteration", 0)),
            "metric": metric,
            "median_mse": m.get(f"eval/{metric}", math.inf),
            "worst_mse": m.get(f"eval/{metric}_worst", math.inf),
            "failure_rate": m.get("eval/failure_rate", 1.0),
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


def _status(r: Any, m: dict, cfg: dict) -> str:
    if r.error is not None:
        return "error"
    if m.get("run_status") == "diverged":
        return "diverged"
    if int(m.get("iteration", 0)) < int(cfg.get("iterations", 0)):
        return "early-stopped"
    return "ok"


def ranked(df: pd.DataFrame) -> pd.DataFrame:
    """Trials that ran their full budget first, then by the objective, ties by the median."""
    full = df["status"].isin(["ok", "diverged"])
    return (df.assign(_full=~full).sort_values(["_full", METRIC, "median_mse"])
            .drop(columns="_full"))


def worst_outlier(df: pd.DataFrame, searched: list[str] | None = None) -> dict[str, Any] | None:
    """The seed furthest above its own trial's median (primary metric), among trials that ran to
    the end: the "worst GAN" whose siblings, with the same config, did fine. A trial whose median is
    0 (a count: no mode missed) has none: no ratio says how far above 0 a seed is."""
    best: dict[str, Any] | None = None
    for _, row in df[df["status"] == "ok"].iterrows():
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
                        "ratio": float(ratio),
                        "params": {p: _plain(row[p]) for p in searched or [] if p in row}}
    return best


def baseline_method(problem: str) -> str | None:
    """The non-GAN baseline of a problem: Lagaris (l2) for equations, the VAE for distributions;
    None for InfoGAN problems (their metric is about the code D recovers: a VAE has none)."""
    if metric_of(problem) == "mse":
        return "l2"
    cls = PROBLEMS.get(problem)
    return None if cls is not None and cls.label_use == "code" else "vae"


def baseline(best_config: dict[str, Any], method: str | None = None) -> Result:
    """The baseline run (``baseline_method`` unless `method` is given) on the best config's
    networks: same G (and D's network as the VAE's encoder), learning rates, decay, seeds and
    iterations, one G step per iteration (g_iters / d_iters are G:D ratios, and a baseline has no
    D: repeating steps would only multiply the cost)."""
    method = method or baseline_method(best_config.get("problem", ""))
    cfg = Config.from_dict({**to_config(best_config), "method": method, "device": "cpu",
                            "g_iters": 1, "d_iters": 1})
    return train(cfg)


def summarize(df: pd.DataFrame, searched: list[str], top: int = 5) -> dict[str, Any]:
    """The JSON-able summary of the sweep's trials (paths and the baseline are added by the CLI)."""
    r = ranked(df)
    b = r.iloc[0]
    counts = df["status"].value_counts().to_dict()
    metric = str(b["metric"]) if "metric" in b else "mse"

    def _row(x: pd.Series) -> dict[str, Any]:
        return {"trial_id": x["trial_id"], "status": x["status"], "iteration": int(x["iteration"]),
                "median_mse": float(x["median_mse"]), "worst_mse": float(x["worst_mse"]),
                "failure_rate": float(x["failure_rate"]), "objective": float(x[METRIC]),
                "params": {p: _plain(x[p]) for p in searched if p in x}}

    return {
        "metric": metric,  # what median_mse / worst_mse / mse below hold
        "num_trials": int(len(df)),
        "status_counts": {k: int(v) for k, v in counts.items()},
        "best": {**_row(b), "config": {k: _plain(v) for k, v in b["config"].items()}},
        "top": [_row(x) for _, x in r.head(top).iterrows()],
        "worst_outlier": worst_outlier(df, searched),
        "training_seconds": float(df["train_seconds"].sum()),
    }


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
    head = (f"{'trial':<12} {'median ' + name:>{col}} {'worst ' + name:>{col}} {'failed':>6} "
            f"{'iters':>6}  " + "  ".join(f"{s:>9}" for s in short))
    lines += [head, "-" * len(head)]
    for t in top:
        lines.append(f"{t['trial_id']:<12} {fmt(metric, t['median_mse']):>{col}} "
                     f"{fmt(metric, t['worst_mse']):>{col}} "
                     f"{t['failure_rate']:>6.0%} {t['iteration']:>6}  "
                     + "  ".join(f"{_fmt(t['params'][p]):>9}" for p in params))
    lines.append("")
    b = summary["best"]
    lines.append(f"Best: {b['trial_id']}  median {name} {fmt(metric, b['median_mse'])} over "
                 f"{b['config'].get('seeds')} seeds, worst {fmt(metric, b['worst_mse'])}, "
                 f"failure rate {b['failure_rate']:.0%}")
    base = summary.get("baseline")
    if base:
        what = ("Lagaris baseline" if base["method"] in ("l2", "l1", "huber")
                else f"{base['method'].upper()} baseline")
        lines.append(f"{what} ({base['method']} on the best config's networks): median {name} "
                     f"{fmt(metric, base['median_mse'])}, worst {fmt(metric, base['worst_mse'])}, "
                     f"failure rate {base['failure_rate']:.0%}")
    o = summary.get("worst_outlier")
    if o:
        lines.append(f"Worst outlier: trial {o['trial_id']} seed {o['seed']}: {name} "
                     f"{fmt(metric, o['mse'])} while its trial's median is "
                     f"{fmt(metric, o['trial_median_mse'])}; config: "
                     + " ".join(f"{k}={_fmt(v)}" for k, v in o.get("params", {}).items()))
    return "\n".join(lines)


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
