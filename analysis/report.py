"""A sweep's self-contained HTML report (tables, figures as base64 PNG), logged to its parent run.

    python -m analysis report gansweep-sho --tracking-uri sqlite:///mlflow.db [--out DIR]
    python -m analysis report ray_results/sho-gan-20261123-201306

It answers "which config is best AND reliable, how often does the GAN fail, and how does it
compare with the classical loss?": best configs by median / p90 / worst seed, failure rates per
config under the problem's failure rule (for distribution problems: mode collapse, e.g. fewer than
8 of 10 digit classes covered), the worst outliers, GAN vs Lagaris (equations) or vs the VAE
(distributions) histograms, the best and worst runs, curves, parallel coordinates, failure rate by
hyperparameter and Optuna's parameter importances.

Every number is the problem's primary metric (the frame's ``metric``: MSE for equations, e.g. the
energy distance or classes missed for distributions), and the page names it.
"""

from __future__ import annotations

import base64
import html
import io
import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sweeps.metrics import failure_rule, fmt, is_count, label
from sweeps.summary import baseline_method

from . import plots as P
from .solutions import results_frame, trial_config, trial_result
from .tables import (CLASSICAL, best_configs, compare_methods, failure_rates, param_importance,
                     searched_params, with_failures, worst_outliers)

# every figure the report draws, by its HTML id (the tests look for each)
FIGURES = ("fig-hist", "fig-best-worst", "fig-convergence", "fig-loss-grid", "fig-parallel",
           "fig-failure-by-param", "fig-importance")
REPORT_FILE = "report.html"
ARTIFACT_DIR = "report"  # where the HTML goes on the sweep's parent MLflow run


@dataclass
class Report:
    """What ``build`` wrote: the HTML path, the sections that could not be drawn, the baseline."""

    path: Path
    errors: dict[str, str] = field(default_factory=dict)
    logged_to: str | None = None


def build(df: pd.DataFrame, curves: pd.DataFrame, out: str | Path, baseline: bool = True,
          say: Callable[[str], Any] = print) -> Report:
    """Write ``out/report.html`` for the sweep frame `df` and its `curves` (``load_curves``).

    baseline: when the frame holds no classical-loss runs, train Lagaris (l2) on the best config's
    network with the same seeds and iterations (the sweeps log only its aggregates).
    A section that fails is reported in the page and in ``Report.errors``; the rest still renders.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    errors: dict[str, str] = {}

    def section(title: str, key: str, fn: Callable[[], list[str]]) -> None:
        say(f"report: {title}")
        parts.append(f"<h2>{html.escape(title)}</h2>")
        try:
            parts.extend(fn())
        except Exception as e:  # noqa: BLE001 -- one broken section must not lose the others
            errors[key] = f"{type(e).__name__}: {e}"
            parts.append(f"<p class='error'>Could not draw this section: "
                         f"{html.escape(errors[key])}</p>"
                         f"<pre>{html.escape(traceback.format_exc(limit=3))}</pre>")

    f = with_failures(df)
    metric = P._metric(df)  # noqa: SLF001 -- what final_mse holds: mse, energy, classes_missed
    name = label(metric)
    dist = metric != "mse"
    # the non-GAN baseline: Lagaris for equations, the VAE for distributions, none for InfoGAN
    base_method = baseline_method(str(df["problem"].iloc[0])) if len(df) else None
    best = best_configs(df, by="median", n=1)
    best_id = best.loc[0, "trial_id"] if len(best) else None
    params = searched_params(df)

    # -- the answer first ---------------------------------------------------------------------------
    def overview() -> list[str]:
        counts = df.groupby("trial_id")["status"].first().value_counts().to_dict()
        rows = {
            "sweep": ", ".join(map(str, df["sweep"].unique())),
            "problem / method": ", ".join(f"{p} / {m}" for p, m in
                                          df[["problem", "method"]].drop_duplicates().values),
            "trials": f"{df['trial_id'].nunique()} ({', '.join(f'{v} {k}' for k, v in counts.items())})",
            "seeds per trial": ", ".join(map(str, sorted(df.groupby("trial_id").size().unique()))),
            "seeds failed": f"{int(f['failed'].sum())} of {len(f)} ({f['failed'].mean():.0%}); "
                            f"{int(f['diverged'].sum())} diverged; {int(f['outlier'].sum())} "
                            f"outliers (> 100x their config's median)",
            "metric": f"{name} ({metric}; lower is better)",
            "failure rule": "; ".join(_rules(f)),
            "source": f"{df.attrs.get('source', '?')}: {df.attrs.get('path') or ''}",
            "MLflow": f"{df.attrs.get('tracking_uri', '-')} parent run "
                      f"{df.attrs.get('parent_run_id', '-')}",
        }
        if best_id is not None:
            b = best.iloc[0]
            rows["best config (median)"] = (
                f"trial {best_id}: median {name} {fmt(metric, b['median_mse'])}, "
                f"p90 {fmt(metric, b['p90_mse'])}, worst {fmt(metric, b['worst_mse'])}, "
                f"failure rate {b['failure_rate']:.0%}")
        return [_table(pd.DataFrame({"": list(rows), "value": list(rows.values())}),
                       index=False, header=False)]

    section("Overview", "overview", overview)

    def best_tables() -> list[str]:
        out_: list[str] = []
        for by, what in (("median", "median seed"), ("p90", "90th-percentile seed"),
                         ("worst", "worst seed"), ("failure_rate", "failure rate")):
            t = best_configs(df, by=by, n=5)
            out_ += [f"<h3>by {what}</h3>", _table(_named(_round(t[_cols(t, params)]), metric))]
        return out_

    section("Best configs (trials that ran their whole budget)", "best", best_tables)

    collapse = is_count(metric) and metric != "code_error"  # modes / classes missed

    def failures() -> list[str]:
        per_method = failure_rates(df, by="method")
        per_config = failure_rates(df)
        info = df.groupby("trial_id", sort=True)[
            [c for c in ("status", "iteration") if c in df.columns] + params].first()
        per_config = (per_config.merge(info.reset_index(), on="trial_id", how="left")
                      .sort_values(["failure_rate", "median_mse"], kind="stable"))
        what = "mode collapse" if collapse else "failure"
        rules = "".join(f"<li>{html.escape(r)}</li>" for r in _rules(f))
        shown = {"failure_rate": "mode collapse rate", "failed": "collapsed"} if collapse else {}
        return [f"<p>Failure rule, per problem:</p><ul class='rule'>{rules}</ul>"
                f"<p>The {what} rate of a config is the fraction of its seeds that meet this "
                f"rule; the {name} columns are over the config's seeds.</p>",
                "<h3>per config</h3>",
                _table(_named(_round(per_config.head(30)), metric).rename(columns=shown)),
                "<h3>per method</h3>",
                _table(_named(_round(per_method), metric).rename(columns=shown))]

    section("Failure (mode collapse) rate per config" if collapse else
            "Failure rate per config", "failures", failures)

    def outliers() -> list[str]:
        w = worst_outliers(df, n=10)
        return [f"<p>Seeds furthest above their own config's median final {name}: the 'worst GAN' "
                "whose siblings, with the same config, did fine.</p>",
                _table(_named(_round(w), metric))]

    section("Worst outliers", "outliers", outliers)

    # -- GAN vs classical --------------------------------------------------------------------------
    def versus() -> list[str]:
        both = df
        note = ""
        if base_method is None:
            return ["<p>No baseline for this problem: its metric is about the code D's head "
                    "recovers, which only an InfoGAN has.</p>"]
        baselines = ("vae",) if dist else CLASSICAL
        if baseline and not df["method"].isin(baselines).any() and best_id is not None:
            # the baseline has no D: one G step per iteration (g_iters / d_iters are GAN ratios);
            # the VAE's encoder takes D's network
            cfg = trial_config(df, best_id).replace(method=base_method, g_iters=1, d_iters=1)
            who = "the VAE" if dist else "the Lagaris (l2)"
            say(f"report: training {who} baseline on trial {best_id}'s network "
                f"({cfg.seeds} seeds x {cfg.iterations} iterations)")
            from gan_core import train

            r = train(cfg)
            base = results_frame({f"{best_id}-{base_method}": r}, sweep="baseline")
            gan = df[df["trial_id"] == best_id]
            both = pd.concat([gan, base[[c for c in base.columns if c in gan.columns]]],
                             ignore_index=True)
            note = (f"<p>GAN: the best config (trial {best_id}); "
                    + ("VAE: the same generator as its decoder and D's network as its encoder, "
                       if dist else "Lagaris: the same generator, ")
                    + f"seeds and iterations with the {base_method} loss, trained by this report "
                    f"(the sweep logs only the baseline's aggregates).</p>")
        table = compare_methods(both, baseline=base_method)
        fig = P.hist_log_mse(both)
        return [note, _table(_named(_round(table), metric)), _img("fig-hist", fig)]

    section("GAN vs VAE" if dist else "GAN vs classical losses", "versus", versus)

    def best_worst() -> list[str]:
        ranked = f.assign(_m=f["final_mse"].fillna(np.inf)).sort_values("_m", kind="stable")
        lo, hi = ranked.iloc[0], ranked.iloc[-1]
        results = {t: trial_result(df, t) for t in dict.fromkeys([lo["trial_id"], hi["trial_id"]])}
        fig = P.plot_best_worst([("best", results[lo["trial_id"]], int(lo["seed"])),
                                 ("worst", results[hi["trial_id"]], int(hi["seed"]))])
        return [f"<p>Best seed: trial {lo['trial_id']} seed {lo['seed']}; worst: trial "
                f"{hi['trial_id']} seed {hi['seed']} (weights from the trials' last "
                f"checkpoints).</p>", _img("fig-best-worst", fig)]

    section("Best and worst runs", "best-worst", best_worst)

    def convergence() -> list[str]:
        c = curves[curves["trial_id"] == best_id] if best_id is not None else curves
        thr = float(f["failure_threshold"].iloc[0])
        fig = P.plot_convergence(c, threshold=thr, metric=metric)
        return [f"<p>{name[0].upper() + name[1:]} over iterations of the best config (trial {best_id}): median and "
                "10-90% band over its seeds.</p>", _img("fig-convergence", fig)]

    section("Convergence", "convergence", convergence)

    def loss_grid() -> list[str]:
        fig = P.plot_loss_grid(curves, by=["trial_id"], metric=metric)
        return ["<p>Per trial, the median over seeds of the G loss (solid) and D loss (dashed); "
                f"panels sorted by the trial's median final {name}.</p>",
                _img("fig-loss-grid", fig)]

    section("Loss curves", "loss-grid", loss_grid)

    section("Top configs in parallel coordinates", "parallel",
            lambda: [_img("fig-parallel", P.plot_parallel(df, top=10))])
    section("Failure rate by hyperparameter", "failure-by-param",
            lambda: [_img("fig-failure-by-param", P.plot_failure_by_param(df))])

    def importance() -> list[str]:
        imp = param_importance(df, objective="median")
        on = f"each config's median final {name}" if is_count(metric) else \
            f"log10 of each config's median final {name}"
        return [f"<p>fANOVA (Optuna's evaluator) on {on} over seeds (the sweeps' objective); trials that ran their whole budget, or all trials when fewer than two "
                "did.</p>", _table(_round(imp), index=False),
                _img("fig-importance", P.plot_importance(imp))]

    section("Hyperparameter importance", "importance", importance)

    title = f"gansweep report: {', '.join(map(str, df['sweep'].unique()))}"
    page = _page(title, parts)
    path = out / REPORT_FILE
    path.write_text(page)
    return Report(path=path, errors=errors)


def log_to_mlflow(report: Report, df: pd.DataFrame) -> str | None:
    """Log the HTML as an artifact of the sweep's parent MLflow run; returns the run id."""
    uri, parent = df.attrs.get("tracking_uri"), df.attrs.get("parent_run_id")
    if not uri or not parent:
        return None
    from mlflow.tracking import MlflowClient

    MlflowClient(uri).log_artifact(parent, str(report.path), ARTIFACT_DIR)
    report.logged_to = parent
    return parent


# -- HTML --------------------------------------------------------------------------------------------
def _img(fig_id: str, fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    P.pyplot().close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img id='{fig_id}' alt='{fig_id}' src='data:image/png;base64,{data}'>"


def _table(t: pd.DataFrame, index: bool = False, header: bool = True) -> str:
    return t.to_html(index=index, header=header, border=0, classes="t", na_rep="-",
                     escape=True)


def _round(t: pd.DataFrame) -> pd.DataFrame:
    """Floats as short strings: MSEs in scientific notation, rates as percentages."""
    out = t.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            if "rate" in c:
                out[c] = out[c].map(lambda v: "-" if pd.isna(v) else f"{v:.0%}")
            else:
                out[c] = out[c].map(_num)
    return out


def _num(v: float) -> str:
    if pd.isna(v):
        return "-"
    if not math.isfinite(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"


def _rules(f: pd.DataFrame) -> list[str]:
    """The failure rule of each (problem, threshold in force) of the frame, in words."""
    pairs = f[["problem", "failure_threshold"]].drop_duplicates().itertuples(index=False)
    return [f"{p}: {failure_rule(p, t)}" for p, t in pairs]


def _named(t: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Columns named for the metric they hold (median_mse -> "median classes missed"); an
    equation's tables keep their MSE names."""
    if metric == "mse":
        return t
    name = label(metric)
    names = {"final_mse": f"final {name}", "config_median": f"config median {name}",
             "median_log10_mse": f"median log10 {name}",
             **{f"{q}_mse": f"{q} {name}" for q in ("median", "p90", "worst", "best")}}
    return t.rename(columns=names)


def _cols(t: pd.DataFrame, params: list[str]) -> list[str]:
    head = ["trial_id", "status", "iteration", "seeds", "median_mse", "p90_mse", "worst_mse",
            "failure_rate", "outliers"]
    return [c for c in head if c in t.columns] + [p for p in params if p in t.columns]


def _page(title: str, parts: list[str]) -> str:
    style = """
    body { font-family: sans-serif; margin: 2em; max-width: 1400px; }
    table.t { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1em; }
    table.t td, table.t th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
    img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
    .error { color: #b00; font-weight: bold; }
    pre { font-size: 11px; background: #f6f6f6; padding: 0.5em; }
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Generated {stamp} by <code>python -m analysis report</code>.</p>"
            + "\n".join(parts) + "</body></html>\n")


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
