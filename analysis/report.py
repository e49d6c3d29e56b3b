"""A sweep's self-contained HTML report (tables, figures as base64 PNG), logged to its parent run.

    python -m analysis report gansweep-sho --tracking-uri sqlite:///mlflow.db [--out DIR]
    python -m analysis report ray_results/sho-gan-20261123-201306

It answers "which config is best AND reliable, how often does the GAN fail, and how does it
compare with the classical loss?": best configs by median / p90 / worst seed, failure rates per
config (each with its 95% Wilson interval) under the problem's failure rule (for distribution
problems: mode collapse, e.g. fewer than 8 of 10 digit classes covered), the trials stopped early,
the worst outliers, GAN vs Lagaris (equations) or vs the VAE (distributions) on equal budgets
(histograms and the ECDF of the per-seed metric per method; the baseline is the one the sweep
logged, trained here only for a sweep that logged none), the best and worst runs, curves,
parallel coordinates, failure rate by hyperparameter and Optuna's parameter importances.

``build`` runs the sections of ``SECTIONS`` in order, each a function of one ``_Sweep`` (the
frame and what every section reads from it).

Failure rates, the worst outliers and the best and worst runs are over the seeds of trials that
ran their full budget (``sweeps.status``): the seeds of trials that ASHA or the time budget
stopped early are counted in their own section, never as failures.

Every number is the problem's primary metric (the frame's ``metric``: MSE for equations, e.g. the
energy distance or classes missed for distributions), and the page names it.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from sweeps.metrics import CONFIDENCE, ci_text, fmt, is_count, label, plural, rate_text
from sweeps.status import DIVERGED, EARLY_STOPPED, ERROR, OK
from sweeps.summary import baseline_method

from . import plots as P
from .loading import logged_baseline, logged_confirmation, store_exists
from .page import IMG, Page, document, img, rounded, table
from .solutions import baseline_frame, results_frame, trial_config, trial_result
from .tables import (CLASSICAL, best_and_worst, best_configs, budget_ran, compare_methods,
                     early_stops, failure_rates, failure_rules, full_budget, NothingToExplain,
                     param_importance, searched_params, with_failures, worst_outliers)

# every figure the report draws, by its HTML id (the tests look for each)
FIGURES = ("fig-hist", "fig-ecdf", "fig-best-worst", "fig-convergence", "fig-loss-grid",
           "fig-parallel", "fig-failure-by-param", "fig-importance")
_NOT_COUNTED = ("early_stopped", "errored")  # per-config columns that are 0 for full-budget rows
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

    The GAN-vs-baseline section uses the baseline the sweep logged (Lagaris or the VAE on the
    best trial's networks, every seed's value: ``loading.logged_baseline``); only for a sweep that
    logged none, and with `baseline`, does the report train one itself.
    A section that fails is reported in the page and in ``Report.errors``; the rest still renders.
    """
    sweep = _Sweep.of(df, curves, baseline, say)
    page = Page(say)
    for title, key, draw in SECTIONS:
        page.section(title(sweep) if callable(title) else title, key, lambda: draw(sweep))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    path.write_text(document(f"gansweep report: {', '.join(map(str, df['sweep'].unique()))}",
                          page.parts))
    # every figure also as a file beside the page (fig-ecdf.png, ...), to reuse without the HTML
    for fig_id, data in IMG.findall("".join(page.parts)):
        (out / f"{fig_id}.png").write_bytes(base64.b64decode(data))
    return Report(path=path, errors=page.errors)


@dataclass
class _Sweep:
    """What every section reads: the frame with per-seed failures, the seeds that count, the trials
    stopped early, the metric and its name, the baseline's method, the best config."""

    df: pd.DataFrame
    curves: pd.DataFrame
    train_baseline: bool
    say: Callable[[str], Any]
    f: pd.DataFrame  # with_failures(df)
    full: pd.DataFrame  # the seeds failure rates and the worst runs are taken over
    stops: pd.DataFrame  # early_stops(df)
    metric: str  # what final_mse holds: mse, energy, classes_missed, ...
    name: str  # the metric in words
    base_method: str | None  # Lagaris for equations, the VAE for distributions, none for InfoGAN
    best: pd.DataFrame  # best_configs(by="median", n=1)
    best_id: str | None
    params: list[str]

    @classmethod
    def of(cls, df: pd.DataFrame, curves: pd.DataFrame, train_baseline: bool,
           say: Callable[[str], Any]) -> _Sweep:
        f = with_failures(df)
        metric = P._metric(df)  # noqa: SLF001
        best = best_configs(df, by="median", n=1)
        return cls(df=df, curves=curves, train_baseline=train_baseline, say=say, f=f,
                   full=f[f["full_budget"]], stops=early_stops(df), metric=metric,
                   name=label(metric),
                   base_method=baseline_method(str(df["problem"].iloc[0])) if len(df) else None,
                   best=best, best_id=best.loc[0, "trial_id"] if len(best) else None,
                   params=searched_params(df))

    @property
    def dist(self) -> bool:
        """A data distribution (its baseline is the VAE), not an equation."""
        return self.metric not in ("mse", "rel_mse", "residual")

    @property
    def collapse(self) -> bool:
        """Modes or classes missed: the failure is a mode collapse."""
        return is_count(self.metric) and self.metric != "code_error"


# -- the answer first ---------------------------------------------------------------------------------
def _overview(s: _Sweep) -> list[str]:
    df, name, metric = s.df, s.name, s.metric
    counts = df.groupby("trial_id")["status"].first().value_counts().to_dict()
    rows = {
        "sweep": ", ".join(map(str, df["sweep"].unique())),
        "problem / method": ", ".join(f"{p} / {m}" for p, m in
                                      df[["problem", "method"]].drop_duplicates().values),
        "trials": f"{df['trial_id'].nunique()} ({', '.join(f'{v} {k}' for k, v in counts.items())})",
        "seeds per trial": ", ".join(map(str, sorted(df.groupby("trial_id").size().unique()))),
        "seeds failed": _failed_text(s.full),
        "stopped early": _stopped_text(s.stops),
        "metric": f"{name} ({metric}; lower is better)",
        "failure rule": "; ".join(failure_rules(s.f)),
        "source": f"{df.attrs.get('source', '?')}: {df.attrs.get('path') or ''}",
        "MLflow": f"{df.attrs.get('tracking_uri', '-')} parent run "
                  f"{df.attrs.get('parent_run_id', '-')}",
    }
    if s.best_id is not None:
        b = s.best.iloc[0]
        rate = ("" if pd.isna(b["failure_rate"]) else
                f", failure rate {rate_text(int(b['failed']), int(b['seeds']))}")
        rows["best config (median)"] = (
            f"trial {s.best_id} ({_ran(df[df['trial_id'] == s.best_id].iloc[0])}): median {name} "
            f"{fmt(metric, b['median_mse'])}, p90 {fmt(metric, b['p90_mse'])}, worst "
            f"{fmt(metric, b['worst_mse'])}{rate}")
    conf = logged_confirmation(df)
    if conf is not None:
        rows["best config on fresh seeds"] = _fresh_text(conf.values, conf.failure_rate, name,
                                                         metric)
    return [table(pd.DataFrame({"": list(rows), "value": list(rows.values())}),
                   index=False, header=False, kind="kv")]


def _fresh_text(values: list[float], failure_rate: float, name: str, metric: str) -> str:
    """The overview's line on the best config trained again on seeds no trial used, as a
    sentence; a median or worst that is inf (diverged seeds) said in words."""
    n = len(values)
    seeds = pd.Series(values, dtype=float)
    diverged = int((~seeds.map(math.isfinite)).sum())
    rate = rate_text(round(failure_rate * n), n)
    head = (f"Trained again on {plural(n, 'fresh seed')}, which no trial used, so the figure is "
            "free of the selection: ")
    if diverged == n:
        return head + f"every seed diverged (failure rate {rate})."
    worst = (f"worst {fmt(metric, seeds.max())}" if diverged == 0 else
             f"{diverged} of {n} diverged")
    median = (f"median {name} {fmt(metric, seeds.median())}" if math.isfinite(seeds.median())
              else f"no finite median {name} (half or more diverged)")
    return head + f"{median}, {worst}, failure rate {rate}."


def _best_tables(s: _Sweep) -> list[str]:
    out: list[str] = []
    for by, what in (("median", "median seed"), ("p90", "90th-percentile seed"),
                     ("worst", "worst seed"), ("failure_rate", "failure rate")):
        t = best_configs(s.df, by=by, n=5)
        out += [f"<h3>by {what}</h3>", table(_named(rounded(t[_cols(t, s.params)]), s.metric))]
    return out


def _failures_title(s: _Sweep) -> str:
    return ("Failure (mode collapse) rate per config" if s.collapse else
            "Failure rate per config")


def _failures(s: _Sweep) -> list[str]:
    df = s.df
    per_method = failure_rates(df, by="method")
    per_config = failure_rates(df)
    info = df.groupby("trial_id", sort=True)[
        [c for c in ("status", "iteration") if c in df.columns] + s.params].first()
    # a config that stopped early has no failure rate: it is listed under "Stopped early"
    per_config = (per_config[per_config["seeds"] > 0].drop(columns=list(_NOT_COUNTED))
                  .merge(info.reset_index(), on="trial_id", how="left")
                  .sort_values(["failure_rate", "median_mse"], kind="stable"))
    what = "mode collapse" if s.collapse else "failure"
    rules = "".join(f"<li>{html.escape(r)}</li>" for r in failure_rules(s.f))
    shown = ({"failure_rate": "mode collapse rate", "failed": "collapsed",
              "failure_rate_low": "mode collapse rate_low",
              "failure_rate_high": "mode collapse rate_high"} if s.collapse else {})
    text = [f"<p>Failure rule, per problem:</p><ul class='rule'>{rules}</ul>"
            f"<p>The {what} rate of a config is the fraction of its seeds that meet this "
            f"rule, with its {CONFIDENCE:.0%} Wilson interval (the _low and _high columns: with "
            "a few seeds a rate is uncertain; 0 of 8 failed is 0-32%, not a sure 0%); the "
            f"{s.name} columns are over the config's seeds. Only trials that ran their full budget "
            f"({html.escape(_budgets(s.full))}) are counted, a diverged trial among them (its "
            "seeds fail); the seeds of trials stopped early by ASHA or the time budget are counted "
            "in the early_stopped column and listed under 'Stopped early', never as failures.</p>"]
    if per_config.empty:
        text.append("<p>No trial ran its full budget: there is no failure rate to give.</p>")
    return text + ["<h3>per config</h3>",
                   table(_named(rounded(per_config.head(30)), s.metric).rename(columns=shown)),
                   "<h3>per method</h3>",
                   table(_named(rounded(per_method), s.metric).rename(columns=shown))]


def _stopped(s: _Sweep) -> list[str]:
    if s.stops.empty:
        return ["<p>Every trial ran its full budget.</p>"]
    return [f"<p>Trials that ASHA or the sweep's time budget stopped before their budget (or "
            f"that errored), latest stop first. Their median and worst {s.name} are from the "
            "iteration they reached, so they are not failure rates and are not counted in "
            "any; diverged counts the seeds already diverged there.</p>",
            table(_named(rounded(s.stops), s.metric))]


def _outliers(s: _Sweep) -> list[str]:
    w = worst_outliers(s.df, n=10)
    out = [f"<p>Seeds furthest above their own config's median final {s.name}, among trials "
           "that ran their full budget: the 'worst GAN' whose siblings, with the same config, "
           "did fine.</p>", table(_named(rounded(w), s.metric))]
    if not s.stops.empty:
        # per-seed "failed" is left out here: these seeds are not judged
        apart = worst_outliers(s.df, n=5, budget="stopped").drop(
            columns=["failed", "seed_status"], errors="ignore")
        out += ["<h3>among trials stopped early (listed apart, not counted)</h3>",
                "<p>Their numbers are from the iteration they reached.</p>",
                table(_named(rounded(apart), s.metric))]
    return out


# -- GAN vs the baseline ----------------------------------------------------------------------------
def _versus_title(s: _Sweep) -> str:
    return "GAN vs VAE" if s.dist else "GAN vs classical losses"


def _versus(s: _Sweep) -> list[str]:
    """Every method's seeds on equal budgets: the log-metric histograms, the ECDFs, a table."""
    if s.base_method is None:
        return ["<p>No baseline for this problem: its metric is about the code D's head "
                "recovers, which only an InfoGAN has.</p>"]
    both, note = _with_baseline(s)
    if both.empty:
        return ["<p>No trial ran its full budget and no baseline was trained: nothing to "
                "compare on equal budgets.</p>"]
    # `both` holds only seeds of equal budgets now: count them all
    compared = compare_methods(both, baseline=s.base_method, budget="all")
    thr = s.f["failure_threshold"].iloc[0]
    return [note, table(_named(rounded(compared), s.metric)),
            img("fig-hist", P.hist_log_mse(both)),
            f"<p>The ECDF of each method's seeds: the fraction that ended at or below every value "
            f"of the {s.name}. At the failure threshold ({thr:g}, dotted) it is one minus the "
            "failure rate; anywhere else, the failure rate that threshold would give. A curve "
            "that stays below 1 has seeds that diverged.</p>",
            img("fig-ecdf", P.plot_ecdf(both))]


def _with_baseline(s: _Sweep) -> tuple[pd.DataFrame, str]:
    """The seeds to compare, and a note saying which: the sweep's methods over full-budget
    trials; else (a sweep of one method) its best trial beside the baseline the sweep logged on
    that trial's networks; else, with ``train_baseline``, one trained here on equal budgets."""
    df = s.df
    both = df[full_budget(df)]
    note = ("<p>Every method's seeds of the trials that ran their full budget; the "
            "iterations column lists the budgets they ran.</p>")
    baselines = ("vae",) if s.dist else CLASSICAL
    if df["method"].isin(baselines).any() or s.best_id is None:
        return both, note
    logged = logged_baseline(df)
    if logged is not None and logged.method == s.base_method and \
            logged.trial_id in set(df["trial_id"]):
        gan = df[df["trial_id"] == logged.trial_id]
        base = baseline_frame(df, logged)
        ran = int(budget_ran(gan).iloc[0])
        s.say(f"report: the {logged.method} baseline the sweep logged on trial "
              f"{logged.trial_id}'s network ({len(logged.values)} seeds x "
              f"{logged.iterations} iterations): nothing to train")
        return _pair(gan, base), (
            f"<p>The baseline the sweep trained and logged (read back, not trained again): "
            f"{logged.method} on the networks of trial {logged.trial_id} "
            f"({html.escape(_ran(gan.iloc[0]))}), {len(logged.values)} seeds x "
            f"{logged.iterations} iterations"
            + (" (equal budgets)." if ran == logged.iterations else
               f"; the GAN trial's result stands for {ran} iterations.") + "</p>")
    if not s.train_baseline:
        return both, note
    # equal budgets: the baseline trains as many iterations as the best GAN trial's result
    # stands for (its config's, unless no trial ran its full budget). It has no D: one G step per
    # iteration (g_iters / d_iters are GAN ratios); the VAE's encoder takes D's network
    gan = df[df["trial_id"] == s.best_id]
    iterations = int(budget_ran(gan).iloc[0])
    cfg = trial_config(df, s.best_id).replace(method=s.base_method, g_iters=1, d_iters=1,
                                              iterations=iterations)
    who = "the VAE" if s.dist else "the Lagaris (l2)"
    s.say(f"report: training {who} baseline on trial {s.best_id}'s network "
          f"({cfg.seeds} seeds x {cfg.iterations} iterations, the GAN's budget): the sweep "
          "logged none")
    from gan_core import train

    base = results_frame({f"{s.best_id}-{s.base_method}": train(cfg)}, sweep="baseline")
    return _pair(gan, base), (
        f"<p>Equal budgets: both sides ran {cfg.seeds} seeds x {iterations} "
        f"iterations. GAN: the best config (trial {s.best_id}, "
        f"{html.escape(_ran(gan.iloc[0]))}); "
        + ("VAE: the same generator as its decoder and D's network as its encoder, "
           if s.dist else "Lagaris: the same generator, ")
        + f"seeds and iterations with the {s.base_method} loss, trained by this report "
        f"(the sweep logged no baseline).</p>")


def _pair(gan: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """The GAN trial's seeds and the baseline's, in the GAN frame's columns."""
    return pd.concat([gan, base[[c for c in base.columns if c in gan.columns]]],
                     ignore_index=True)


# -- runs and curves ----------------------------------------------------------------------------------
def _best_worst(s: _Sweep) -> list[str]:
    # like with like: among seeds that ran their full budget (all seeds when none did)
    budget, among = (("full", "the seeds of trials that ran their full budget") if len(s.full)
                     else ("all", "all seeds: no trial ran its full budget"))
    ends = best_and_worst(s.df, budget)
    lo, hi = ends.loc["best"], ends.loc["worst"]
    results = {t: trial_result(s.df, t) for t in dict.fromkeys([lo["trial_id"], hi["trial_id"]])}
    fig = P.plot_best_worst([("best", results[lo["trial_id"]], int(lo["seed"])),
                             ("worst", results[hi["trial_id"]], int(hi["seed"]))])
    name, metric = s.name, s.metric
    text = (f"<p>Among {among}: best seed: trial {lo['trial_id']} seed {lo['seed']} "
            f"({name} {fmt(metric, lo['final_mse'])}, {_ran(lo)}); worst: trial "
            f"{hi['trial_id']} seed {hi['seed']} ({name} {fmt(metric, hi['final_mse'])}, "
            f"{_ran(hi)}). Weights from the trials' last checkpoints.</p>")
    if len(s.full) and len(s.full) < len(s.f):
        w = best_and_worst(s.df, "stopped").loc["worst"]
        text += (f"<p>Not counted: the worst seed of a trial that did not run its full "
                 f"budget is trial {w['trial_id']} seed {w['seed']} ({name} "
                 f"{fmt(metric, w['final_mse'])}, {_ran(w)}).</p>")
    return [text, img("fig-best-worst", fig)]


def _convergence(s: _Sweep) -> list[str]:
    c = s.curves[s.curves["trial_id"] == s.best_id] if s.best_id is not None else s.curves
    thr = float(s.f["failure_threshold"].iloc[0])
    fig = P.plot_convergence(c, threshold=thr, metric=s.metric)
    return [f"<p>{s.name[0].upper() + s.name[1:]} over iterations of the best config (trial "
            f"{s.best_id}): median and 10-90% band over its seeds.</p>",
            img("fig-convergence", fig)]


def _loss_grid(s: _Sweep) -> list[str]:
    fig = P.plot_loss_grid(s.curves, by=["trial_id"], metric=s.metric)
    return ["<p>Per trial, the median over seeds of the G loss (solid) and D loss (dashed); "
            f"panels sorted by the trial's median final {s.name}.</p>",
            img("fig-loss-grid", fig)]


# -- hyperparameters ------------------------------------------------------------------------------------
def _parallel(s: _Sweep) -> list[str]:
    return [img("fig-parallel", P.plot_parallel(s.df, top=10))]


def _failure_by_param(s: _Sweep) -> list[str]:
    return ["<p>Over the seeds of trials that ran their full budget.</p>",
            img("fig-failure-by-param", P.plot_failure_by_param(s.df))]


MIN_IMPORTANCE_TRIALS = 5  # full-budget trials below which fANOVA's importances mean nothing


def _importance(s: _Sweep) -> list[str]:
    try:
        imp = param_importance(s.df, objective="median")
    except NothingToExplain as e:  # a result, not a fault of the report
        return [f"<p class='warn'>No importances: {html.escape(str(e))}.</p>"]
    on = f"each config's median final {s.name}" if is_count(s.metric) else \
        f"log10 of each config's median final {s.name}"
    full = s.full["trial_id"].nunique()
    text = (f"<p>fANOVA (Optuna's evaluator) on {on} over seeds (the sweeps' objective); "
            "trials that ran their full budget, or all trials when fewer than two did.</p>")
    if full >= MIN_IMPORTANCE_TRIALS:
        return [text, table(rounded(imp), index=False),
                img("fig-importance", P.plot_importance(imp))]
    used = full if full >= 2 else s.df["trial_id"].nunique()
    return [text + f"<p class='warn'>Not meaningful here: {plural(full, 'trial')} ran the full "
            f"budget (importances need {MIN_IMPORTANCE_TRIALS} or more), so these bars fit "
            f"{plural(used, 'config')}"
            + (", some of them stopped early at different budgets" if full < 2 else "")
            + ". On that few points fANOVA's forest fits almost any split of the importance; "
            "run more trials before reading it.</p>",
            img("fig-importance", P.plot_importance(
                imp, note=f"not meaningful: {plural(used, 'config')}"))]


# the report, in order: (title, or a function of the sweep giving it; key; the section)
SECTIONS: tuple[tuple[Any, str, Callable[[_Sweep], list[str]]], ...] = (
    ("Overview", "overview", _overview),
    ("Best configs (trials that ran their full budget)", "best", _best_tables),
    (_failures_title, "failures", _failures),
    ("Stopped early (not counted as failures)", "stopped", _stopped),
    ("Worst outliers", "outliers", _outliers),
    (_versus_title, "versus", _versus),
    ("Best and worst runs", "best-worst", _best_worst),
    ("Convergence", "convergence", _convergence),
    ("Loss curves", "loss-grid", _loss_grid),
    ("Top configs in parallel coordinates", "parallel", _parallel),
    ("Failure rate by hyperparameter", "failure-by-param", _failure_by_param),
    ("Hyperparameter importance", "importance", _importance),
)


def log_to_mlflow(report: Report, df: pd.DataFrame) -> str | None:
    """Log the HTML as an artifact of the sweep's parent MLflow run; returns the run id."""
    uri, parent = df.attrs.get("tracking_uri"), df.attrs.get("parent_run_id")
    if not uri or not parent or not store_exists(uri):  # e.g. a smoke test's temporary store:
        return None  # never create one
    from mlflow.tracking import MlflowClient

    MlflowClient(uri).log_artifact(parent, str(report.path), ARTIFACT_DIR)
    report.logged_to = parent
    return parent


def _ran(row: pd.Series) -> str:
    """The budget a seed's row ran, in words: "ran all 2000 iterations", "stopped early at
    iteration 300 of 2000", "diverged at iteration 500 of 2000", "errored at iteration 40"."""
    it = int(row["iteration"]) if "iteration" in row and pd.notna(row["iteration"]) else None
    of = (f" of {int(row['iterations'])}" if "iterations" in row and pd.notna(row["iterations"])
          else "")
    status = row.get("status", OK)
    if it is None:
        return status
    if status == OK:
        return f"ran all {it} iterations"
    what = {EARLY_STOPPED: "stopped early", DIVERGED: "diverged", ERROR: "errored"}
    return f"{what.get(status, status)} at iteration {it}{of}"


def _budgets(full: pd.DataFrame) -> str:
    """The iterations full-budget trials ran, e.g. "2000 iterations"."""
    ran = sorted({int(v) for v in budget_ran(full).dropna()})
    return f"{', '.join(map(str, ran))} iterations" if ran else "their configs' iterations"


def _failed_text(full: pd.DataFrame) -> str:
    """The overview's failure line: over the seeds of trials that ran their full budget."""
    if full.empty:
        return "no trial ran its full budget: no failure rate (see 'Stopped early')"
    trials = full.groupby("trial_id").ngroups
    failed = int(full["failed"].sum())
    return (f"{failed} of {len(full)} seeds of the {trials} trials that ran their full budget "
            f"({failed / len(full):.0%}, {ci_text(failed, len(full))}); "
            f"of them {int(full['diverged'].sum())} diverged (non-finite) and "
            f"{int(full['above_threshold'].sum())} finite above the threshold; "
            f"{int(full['outlier'].sum())} outliers (> 100x their config's median)"
            + _monitoring_text(full))


def _monitoring_text(full: pd.DataFrame) -> str:
    """Residual monitoring's part of the failure line: restarts and abandoned seeds, if any."""
    restarts = int(full["restarts"].sum()) if "restarts" in full.columns else 0
    abandoned = int(full["abandoned"].sum()) if "abandoned" in full.columns else 0
    if not restarts and not abandoned:
        return ""
    return (f"; residual monitoring restarted seeds {restarts} times and abandoned "
            f"{abandoned} (counted as failed)")


def _stopped_text(stops: pd.DataFrame) -> str:
    """The overview's line on the trials that did not run their full budget."""
    if stops.empty:
        return "none: every trial ran its full budget"
    parts = []
    early = stops[stops["status"] == EARLY_STOPPED]
    if len(early):
        at = early["iteration"].value_counts().sort_index()
        parts.append(f"{int(early['seeds'].sum())} seeds of {plural(len(early), 'trial')} "
                     "stopped by ASHA or the time budget, at iteration "
                     + ", ".join(f"{it} ({plural(n, 'trial')})" for it, n in at.items()))
    errored = stops[stops["status"] == ERROR]
    if len(errored):
        parts.append(f"{int(errored['seeds'].sum())} seeds of "
                     f"{plural(len(errored), 'errored trial')}")
    return "; ".join(parts) + ": not counted as failures (see 'Stopped early')"


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
