"""Figures from the tidy frames (plotting last: every function takes frames or Results, returns a
matplotlib Figure, and draws nothing it did not get).

- ``hist_log_mse``: log10 final-MSE histograms per method (GAN vs Lagaris, seed notebook 000)
- ``plot_ecdf``: the ECDF of the per-seed final metric per method: the failure rate at every
  threshold at once
- ``plot_best_worst``: the best and the worst seed's prediction against the reference
- ``plot_loss_grid``: G / D loss curves, one panel per run, sorted by final MSE
- ``plot_convergence``: median MSE over iterations with a percentile band
- ``plot_parallel``: parallel coordinates of the top configs, coloured by the objective
- ``plot_failure_by_param``: failure rate against each searched hyperparameter
- ``plot_importance``: Optuna's parameter importances as bars
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan_core import Result
from gan_core.plots import draw_seed
from sweeps.metrics import CONFIDENCE, failure_ci, fmt, is_count, label as metric_label

from .tables import (best_configs, config_keys, config_objective, convergence, searched_params,
                     with_failures)

_RULE = " (failed: above it or non-finite)"  # gan_core's one rule, in the legends
_DIVERGED_GAP = 1.0  # decades right of the largest finite log10 MSE where diverged seeds are drawn


def pyplot() -> Any:
    """matplotlib.pyplot with a file-only backend unless a notebook already chose one."""
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def hist_log_mse(df: pd.DataFrame, methods: Sequence[str] | None = None, bins: int = 20,
                 ax: Any = None, title: str | None = None) -> Any:
    """Histograms of log10 final MSE per method on shared bins, the failure threshold dashed.

    For distribution problems the frame's ``metric`` is drawn instead: log10 of a distance, or
    the value itself for a count or fraction (``sweeps.metrics.is_count``: 0 classes missed has
    no log). Seeds with non-finite values (diverged) are drawn as one hatched bar right of the
    finite ones and counted in the legend, never dropped.
    """
    fig, ax, methods, metric, linear = _per_method(df, methods, ax)
    name = metric_label(metric)
    mse = df["final_mse"].astype(float)
    scale = (lambda v: v) if linear else np.log10
    finite = mse[np.isfinite(mse) & ((mse >= 0) if linear else (mse > 0))]
    logs = scale(finite) if len(finite) else pd.Series([0.0])
    if linear and metric != "code_error":  # counts: one bar per whole number
        lo, hi = float(np.floor(logs.min())) - 0.5, float(np.ceil(logs.max())) + 0.5
        edges = np.arange(lo, hi + 0.5, 1.0)
    else:
        lo, hi = float(np.floor(logs.min())), float(np.ceil(logs.max()))
        edges = np.linspace(lo, max(hi, lo + (0.5 if linear else 1)), bins + 1)
    x_div = edges[-1] + (edges[1] - edges[0]) * (2 if linear else 1) * (
        1 if linear else _DIVERGED_GAP)
    for i, m in enumerate(methods):
        v = mse[df["method"] == m]
        ok = v[np.isfinite(v) & ((v >= 0) if linear else (v > 0))]
        n_bad = int((~np.isfinite(v)).sum())
        med = float(np.median(v.fillna(np.inf)))
        label = (f"{_label(m)} ({len(v)} seeds, median "
                 f"{(f'{med:.3g}' if linear else f'{med:.1e}')}{_failed(df, m)})")
        ax.hist(scale(ok), bins=edges, alpha=0.55, color=f"C{i}", label=label)
        if n_bad:
            ax.bar(x_div, n_bad, width=(edges[1] - edges[0]) * 1.5, color=f"C{i}", alpha=0.55,
                   hatch="//")
    thr = _threshold(df)
    if thr is not None:
        ax.axvline(thr if linear else math.log10(thr), color="r", ls=":",
                   label=(f"failure threshold {thr:g}" if linear else
                          f"failure threshold {thr:.0e}") + _RULE)
    if (~np.isfinite(mse)).any():
        ax.annotate("diverged", (x_div, 0), xytext=(0, -28), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.set_xlabel(f"final {name}" if linear else f"log10 final {name}")
    ax.set_ylabel("seeds")
    ax.set_title(title or f"{name} comparison: " + " vs ".join(_label(m) for m in methods))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _failed(df: pd.DataFrame, method: str) -> str:
    """A legend's count of the method's failed seeds by gan_core's one rule (non-finite or above
    the threshold: a seed at 8e33 is as failed as a NaN), and how many of them diverged."""
    f = with_failures(df[df["method"] == method])
    failed, diverged = int(f["failed"].sum()), int(f["diverged"].sum())
    return f", {failed} failed ({diverged} diverged)" if failed else ", 0 failed"


def _threshold(df: pd.DataFrame) -> float | None:
    """The failure threshold in force (the frame's column, else the problem's), if known."""
    thr = with_failures(df)["failure_threshold"].dropna()
    return float(thr.iloc[0]) if len(thr) else None


def plot_ecdf(df: pd.DataFrame, methods: Sequence[str] | None = None, ax: Any = None,
              title: str | None = None) -> Any:
    """Per method, the empirical CDF of its seeds' final metric: at each value x, the fraction of
    seeds that ended at or below x. Read at the failure threshold (dashed) it is one minus the
    failure rate, and at every other x the failure rate that threshold would give. Diverged seeds
    never get below any x: the curve stays under 1 by their share. Log x for MSEs and distances,
    linear for counts (``sweeps.metrics.is_count``)."""
    fig, ax, methods, metric, linear = _per_method(df, methods, ax)
    name = metric_label(metric)
    for i, m in enumerate(methods):
        v = np.sort(df.loc[df["method"] == m, "final_mse"].astype(float).fillna(np.inf).values)
        finite = v[np.isfinite(v) & ((v >= 0) if linear else (v > 0))]
        if not len(v):
            continue
        frac = np.arange(1, len(finite) + 1) / len(v)  # non-finite seeds keep the curve below 1
        # from 0 at the smallest value up; a method whose every seed diverged draws no step
        xs, ys = (np.r_[finite[:1], finite], np.r_[0.0, frac]) if len(finite) else ([], [])
        ax.step(xs, ys, where="post", color=f"C{i}", lw=1.8,
                label=f"{_label(m)} ({len(v)} seeds{_failed(df, m)})")
    thr = _threshold(df)
    if thr is not None:
        ax.axvline(thr, color="r", ls=":", label=f"failure threshold {thr:g}{_RULE}")
    if not linear:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"final {name} per seed")
    ax.set_ylabel("fraction of seeds at or below")
    ax.set_title(title or f"ECDF of the final {name}: "
                 + " vs ".join(_label(m) for m in methods))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_best_worst(runs: Sequence[tuple[str, Result, int]], extrapolate: Any = None) -> Any:
    """One panel per (title, Result, seed): that seed's prediction against the reference, drawn
    by ``gan_core.plots.draw_seed`` (ODEs: x(t) curves; PDEs: the |error| map; distributions:
    samples over the real ones). extrapolate: optional (t, {title: (n, n_out) predictions},
    reference function) to draw beyond the training interval as well.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.2), squeeze=False)
    for ax, (title, r, k) in zip(axes[0], runs):
        draw_seed(ax, r, k, title=f"{title}: {r.config.method} seed {k}, "
                                  f"{metric_label(r.metric)} {fmt(r.metric, r.final_mse[k])}")
    fig.tight_layout()
    return fig


def plot_extrapolation(t: np.ndarray, predictions: dict[str, np.ndarray], reference: np.ndarray,
                       train_end: float, ax: Any = None) -> Any:
    """Predictions (n, n_out) of a few runs on t beyond the training interval [.., train_end]."""
    plt = pyplot()
    fig, ax = _axes(plt, ax, (9, 4.5))
    ax.plot(t, reference[:, 0], "k--", lw=2, label="reference")
    for i, (name, p) in enumerate(predictions.items()):
        ax.plot(t, p[:, 0], color=f"C{i}", lw=1.5, label=name)
    ax.axvspan(t.min(), train_end, color="0.9", zorder=0, label="training interval")
    ax.set_xlabel("t")
    ax.set_title("Extrapolation beyond the training interval")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_grid(curves: pd.DataFrame, by: Sequence[str] = ("trial_id", "seed"),
                   ncols: int = 4, max_panels: int = 12, metric: str = "mse") -> Any:
    """G loss (solid) and D loss (dashed) over iterations, one panel per `by` group, sorted by the
    group's final MSE (`metric`: what the curves' ``mse`` column holds; median over its seeds),
    best first, as in seed notebook 000's last grid."""
    plt = pyplot()
    by = list(by)
    last = curves.sort_values("iteration").groupby(by + ["seed"] if "seed" not in by else by)
    final = last["mse"].last().fillna(np.inf).groupby(level=by).median().sort_values()
    groups = list(final.index[:max_panels])
    nrows = max(1, math.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 2.6 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, key in zip(flat, groups):
        key_t = key if isinstance(key, tuple) else (key,)
        sel = np.logical_and.reduce([curves[c] == v for c, v in zip(by, key_t)])
        c = (curves[sel].groupby("iteration")[["g_loss", "d_loss"]].median().reset_index())
        mark = "o" if len(c) < 5 else None  # a run stopped at its first report is one point
        ax.plot(c["iteration"], c["g_loss"], lw=1, marker=mark, label="G")
        if c["d_loss"].notna().any():
            ax.plot(c["iteration"], c["d_loss"], lw=1, ls="--", marker=mark, label="D")
        value = f"{final[key]:.1e}" if metric in ("mse", "rel_mse") else f"{final[key]:.3g}"
        ax.set_title(f"{' '.join(str(v) for v in key_t)}  {metric_label(metric)}={value}",
                     fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in flat[len(groups):]:
        fig.delaxes(ax)
    if groups:
        flat[0].legend(fontsize=7)
    fig.suptitle(f"Loss curves, sorted by final {metric_label(metric)} (best first)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_convergence(curves: pd.DataFrame, by: str | None = None, q: tuple[float, float] = (0.1, 0.9),
                     ax: Any = None, threshold: float | None = None, metric: str = "mse") -> Any:
    """Median MSE over iterations (log scale) with the q band over seeds, one line per `by` group.
    `metric`: what the curves' ``mse`` column holds (counts are drawn on a linear scale)."""
    plt = pyplot()
    fig, ax = _axes(plt, ax, (7, 4.5))
    conv = convergence(curves, by=by, q=q)
    lo, hi = f"p{round(q[0] * 100)}", f"p{round(q[1] * 100)}"
    groups = [(None, conv)] if by is None else list(conv.groupby(by, sort=True))
    for i, (name, c) in enumerate(groups):
        cap = _finite_cap(c[[lo, "median", hi]].to_numpy())
        ax.plot(c["iteration"], c["median"].clip(upper=cap), color=f"C{i}",
                label=f"{_label(name) if name is not None else 'median'}")
        ax.fill_between(c["iteration"], c[lo].clip(upper=cap), c[hi].clip(upper=cap),
                        color=f"C{i}", alpha=0.2)
    if threshold is not None:
        ax.axhline(threshold, color="r", ls=":", label="failure threshold")
    if not is_count(metric):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"Convergence: median and {lo}-{hi} band over seeds (diverged: top edge)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_parallel(df: pd.DataFrame, top: int = 10, objective: str = "median",
                  params: Sequence[str] | None = None) -> Any:
    """Parallel coordinates of the `top` configs by `objective` over all searched parameters
    (log axes for positive ranges over 10x; categories evenly spaced), coloured by the objective."""
    plt = pyplot()
    params = list(params) if params is not None else searched_params(df)
    best = best_configs(df, by=objective if objective != "failure_rate" else "failure_rate",
                        n=top, complete_only=False)
    keys = config_keys(df)
    obj = config_objective(df, objective).merge(best[keys], on=keys)
    table = best[keys + params].merge(obj, on=keys)
    # at most 15 inches (1350 px in the report, which shows it about 1:1): a wider figure is
    # scaled down to the page, and its labels with it
    fig, ax = plt.subplots(figsize=(min(15, max(6, 1.3 * (len(params) + 1))), 5))
    cols = params + ["objective"]
    scaled, ticks = {}, {}
    for p in cols:
        scaled[p], ticks[p] = _scale(table[p], df[p] if p in df.columns else table[p])
    cmap = plt.get_cmap("viridis")  # low (good) objective = dark
    values = table["objective"].to_numpy(dtype=float)
    span = (values.min(), values.max() if values.max() > values.min() else values.min() + 1)
    for i in range(len(table)):
        y = [scaled[p][i] for p in cols]
        ax.plot(range(len(cols)), y, color=cmap((values[i] - span[0]) / (span[1] - span[0])),
                lw=1.5, alpha=0.85)
    for j, p in enumerate(cols):
        ax.axvline(j, color="0.6", lw=0.8)
        for pos, text in ticks[p]:
            ax.text(j + 0.03, pos, text, fontsize=9, va="center")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=30, ha="right", fontsize=10)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    metric = _metric(df)
    name = ("failure rate" if objective == "failure_rate" else
            f"{objective} {metric_label(metric)}" if is_count(metric) else
            f"log10 {objective} {metric_label(metric)}")
    ax.set_title(f"Top {len(table)} configs by {name} (darker = better)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(*span))
    fig.colorbar(sm, ax=ax, label=name)
    fig.tight_layout()
    return fig


def plot_failure_by_param(df: pd.DataFrame, params: Sequence[str] | None = None, bins: int = 4,
                          ncols: int = 4) -> Any:
    """Failure rate (fraction of seeds) against each searched hyperparameter, with its 95% Wilson
    interval as whiskers: categories as bars, numbers binned into quantile bins (log-spaced for
    learning rates); n seeds on each bar.
    Only seeds of trials that ran their full budget count (an early-stopped trial's seeds are
    not failures); a panel says so when there are none."""
    plt = pyplot()
    f = with_failures(df)
    f = f[f["full_budget"]]
    params = list(params) if params is not None else searched_params(df)
    nrows = max(1, math.ceil(len(params) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, p in zip(flat, params):
        if f.empty:
            ax.text(0.5, 0.5, "no trial ran\nits full budget", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
            ax.set_title(p, fontsize=9)
            continue
        col = f[p]
        if _is_numeric(col) and col.nunique() > bins:
            groups = pd.qcut(col.astype(float), q=bins, duplicates="drop")
            labels = [f"{iv.left:.2g}-{iv.right:.2g}" for iv in groups.cat.categories]
        else:
            groups = col.astype(str)
            labels = None
        g = f.groupby(groups, observed=True, sort=True)["failed"]
        rate, n, failed = g.mean(), g.size(), g.sum()
        ci = np.array([failure_ci(int(k), int(m)) for k, m in zip(failed, n)])  # (bars, 2)
        x = np.arange(len(rate))
        ax.bar(x, rate.to_numpy(), color="C3", alpha=0.7,
               yerr=[rate.to_numpy() - ci[:, 0], ci[:, 1] - rate.to_numpy()],
               error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "0.3"})
        for xi, (hi, k) in enumerate(zip(ci[:, 1], n)):
            ax.text(xi, hi + 0.02, str(k), ha="center", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels(labels or [_short(v) for v in rate.index], rotation=30, ha="right",
                           fontsize=7)
        ax.set_ylim(0, 1.15)
        ax.set_title(p, fontsize=9)
    for ax in flat[len(params):]:
        fig.delaxes(ax)
    fig.suptitle("Failure rate by hyperparameter, seeds of full-budget trials (numbers: seeds "
                 f"per bar; whiskers: {CONFIDENCE:.0%} Wilson interval)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_importance(importance: pd.DataFrame, ax: Any = None, note: str | None = None) -> Any:
    """Horizontal bars of (param, importance), the most important on top. note: why the bars
    mean little (too few trials), shown in the title, the bars grey."""
    plt = pyplot()
    fig, ax = _axes(plt, ax, (8, 0.4 * len(importance) + 1.5))
    imp = importance.sort_values("importance")
    ax.barh(imp["param"], imp["importance"], color="0.7" if note else "C0")
    ax.set_xlabel("importance (Optuna's fANOVA, sums to 1)")
    ax.set_title("Hyperparameter importance for the objective over seeds"
                 + (f"\n({note})" if note else ""), fontsize=11)
    fig.tight_layout()
    return fig


# -- helpers --------------------------------------------------------------------------------------
def _per_method(df: pd.DataFrame, methods: Sequence[str] | None, ax: Any
                ) -> tuple[Any, Any, list[str], str, bool]:
    """A figure and axes (or the given axes' figure), the methods to draw (default: the frame's,
    in order), the frame's metric and whether it is drawn on a linear scale (a count)."""
    fig, ax = _axes(pyplot(), ax, (7, 4.5))
    methods = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    metric = _metric(df)
    return fig, ax, methods, metric, is_count(metric)


def _axes(plt: Any, ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


def _metric(df: pd.DataFrame) -> str:
    """What the frame's final_mse holds (its ``metric`` column; "mse" for older frames)."""
    if "metric" in df.columns and df["metric"].notna().any():
        return str(df["metric"].dropna().iloc[0])
    return "mse"


def _label(method: Any) -> str:
    return {"gan": "GAN", "l2": "Lagaris (l2)", "l1": "l1", "huber": "huber"}.get(method,
                                                                                   str(method))


def _finite_cap(values: np.ndarray) -> float:
    """Where to draw infinite values: a decade above the largest finite one."""
    finite = values[np.isfinite(values)]
    return float(finite.max() * 10) if finite.size else 1.0


def _short(v: Any) -> str:
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return str(v)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _scale(values: pd.Series, domain: pd.Series) -> tuple[list[float], list[tuple[float, str]]]:
    """Values mapped to [0, 1] over the domain's range; tick positions and labels."""
    if _is_numeric(domain):
        d = domain.astype(float)
        lo, hi = float(d.min()), float(d.max())
        log = lo > 0 and hi / lo >= 10
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        a, b = f(lo), f(hi)
        span = b - a if b > a else 1.0
        pos = [(f(float(v)) - a) / span if np.isfinite(v) else 1.0 for v in values]
        return pos, [(0.0, f"{lo:.3g}"), (1.0, f"{hi:.3g}")]
    cats = sorted({str(v) for v in domain}, key=str)
    step = 1.0 / max(1, len(cats) - 1)
    where = {c: i * step if len(cats) > 1 else 0.5 for i, c in enumerate(cats)}
    return [where[str(v)] for v in values], [(where[c], c) for c in cats]
