"""Pure DataFrame -> DataFrame functions over the tidy (trial, seed) frame of ``analysis.loading``.

Definitions used throughout (docs/metrics.md, applied per seed):
- a seed *failed* when its final MSE is non-finite (inf: diverged; NaN: never evaluated) or above
  its ``failure_threshold`` (the problem class's ``failure_threshold`` unless the config set one):
  gan_core's one rule (``gan_core.config.failed_seeds``), because either way the run did not
  solve the problem. A seed that blew up to 8e33 failed as a NaN did; the tables split the failed
  seeds into ``diverged`` (non-finite), ``above_threshold`` (finite, however large) and
  ``abandoned`` (given up by residual monitoring), and ``failure_rules`` says the rule in words;
- a seed is an *outlier* when its final MSE is more than ``OUTLIER_FACTOR`` (100) times the median
  final MSE of its config's seeds: the "worst GAN" whose siblings, with the same config, did fine.
  Nothing is an outlier of a config whose median is itself non-finite;
- aggregates over seeds treat NaN as +inf (a missing result is never a good one); p90 takes the
  higher neighbour (with 4 seeds the p90 is the worst seed), as the sweeps' objective does;
- failure rates, the worst outliers and the method comparison count, by default
  (``budget="full"``), only the seeds of trials that ran their *full budget*
  (``sweeps.status.FULL_BUDGET``: ok, or diverged: a diverged seed stays diverged). Seeds of
  trials that ASHA or the time budget stopped early (and of errored trials) have numbers from
  fewer iterations: they are counted apart (``early_stopped``, ``errored``, ``early_stops``),
  never as failures. A frame without a ``status`` column ran its full budget.

A *config* is one trial (``sweep``, ``trial_id``): the sweeps give every trial its own config.
Hand-made frames need only ``trial_id``, ``seed``, ``problem``, ``method`` and ``final_mse``.

"MSE" and the ``*_mse`` columns stand for the problem's primary metric (``metric`` column): the
MSE for equations, e.g. the energy distance or the classes missed for distribution problems, whose
failure threshold is their mode-collapse rule (digits: more than 2 of 10 classes missed).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan_core.config import failed_seeds
from sweeps.metrics import failure_ci, failure_rule
from sweeps.status import EARLY_STOPPED, ERROR, FULL_BUDGET, STATUSES

from .loading import FRAME_COLUMNS, problem_threshold

OUTLIER_FACTOR = 100.0
CLASSICAL = ("l2", "l1", "huber")  # residual losses a GAN must beat; l2 is Lagaris
# which seeds a table takes: of trials that ran their full budget, of those that did not, or all
BUDGETS = ("full", "stopped", "all")
# columns that describe a seed's outcome, never a hyperparameter
_NOT_PARAMS = set(FRAME_COLUMNS) | {"failed", "diverged", "above_threshold", "abandoned", "outlier",
                                    "config_median", "ratio",
                                    "full_budget", "base_seed", "seeds", "iterations",
                                    "eval_every", "dtype"}


# -- per seed ---------------------------------------------------------------------------------------
def config_keys(df: pd.DataFrame) -> list[str]:
    """The columns that identify a config: (sweep, trial_id), or trial_id alone."""
    return [c for c in ("sweep", "trial_id") if c in df.columns]


def full_budget(df: pd.DataFrame) -> pd.Series:
    """Per row: did its trial run its full budget (status ok or diverged, ``sweeps.status``)?
    True everywhere for a frame without a ``status`` column (hand-made, or Python-trained)."""
    if "status" not in df.columns:
        return pd.Series(True, index=df.index)
    unknown = sorted({str(v) for v in df["status"] if v not in STATUSES})
    if unknown:
        raise ValueError(f"status {unknown[0]!r} in the frame: expected one of "
                         f"{', '.join(STATUSES)} (sweeps.status); drop the status column if every "
                         "trial ran its full budget")
    return df["status"].isin(FULL_BUDGET)


def budget_ran(df: pd.DataFrame) -> pd.Series:
    """Per row: the iterations its result stands for: the config's ``iterations`` for a trial that
    ran its full budget (a diverged one too: it would still be diverged there), else the
    ``iteration`` its trial reached. NaN where the frame has neither column."""
    reached = (df["iteration"].astype(float) if "iteration" in df.columns
               else pd.Series(np.nan, index=df.index))
    if "iterations" not in df.columns:
        return reached
    return df["iterations"].astype(float).where(full_budget(df), reached)


def with_failures(df: pd.DataFrame, outlier_factor: float = OUTLIER_FACTOR) -> pd.DataFrame:
    """A copy with per-seed columns: failed (gan_core's rule: non-finite or above the threshold),
    and of the failed, which part of the rule: diverged (non-finite MSE, not abandoned),
    above_threshold (finite, above the threshold: 8e33 too) or abandoned (by residual
    monitoring); config_median,
    ratio (final MSE / config median), outlier (ratio > outlier_factor) and full_budget.

    failed, diverged and outlier describe the seed at the iteration its trial reached; the
    tables count them only where full_budget holds (see ``failure_rates``)."""
    out = df.copy()
    out["full_budget"] = full_budget(out)
    mse = _as_inf(out["final_mse"])
    if "failure_threshold" in out.columns:
        threshold = out["failure_threshold"].astype(float)
    else:
        threshold = out["problem"].map(problem_threshold).astype(float)
    missing = threshold.isna()
    if missing.any():  # e.g. a frame that only names the problem for some rows
        threshold[missing] = out.loc[missing, "problem"].map(problem_threshold)
    out["failure_threshold"] = threshold
    # a seed residual monitoring abandoned reads +inf too: failed, but not diverged
    out["abandoned"] = (out["seed_status"] == "abandoned" if "seed_status" in out.columns
                        else pd.Series(False, index=out.index))
    out["diverged"] = ~np.isfinite(mse) & ~out["abandoned"]
    out["failed"] = failed_seeds(mse.to_numpy(), threshold.to_numpy())  # gan_core's rule
    out["above_threshold"] = out["failed"] & np.isfinite(mse)
    keys = config_keys(out)
    median = mse.groupby([out[k] for k in keys]).transform("median") if keys else \
        pd.Series(np.median(mse), index=out.index)
    out["config_median"] = median
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.isfinite(median), mse / median.where(median > 0, 0.0), np.nan)
        ratio = np.where((mse == 0) & (median == 0), 1.0, ratio)  # 0/0: as good as its siblings
    out["ratio"] = ratio
    out["outlier"] = np.isfinite(median) & (mse > outlier_factor * median)
    return out


def failure_rules(df: pd.DataFrame) -> list[str]:
    """The failure rule in force for each (problem, threshold, primary metric) of the frame, in
    words (``sweeps.metrics.failure_rule``): what the ``failed`` counts of every table mean."""
    f = with_failures(df)
    cols = ["problem", "failure_threshold"] + (["metric"] if "metric" in f else [])
    rows = f[cols].drop_duplicates().itertuples(index=False)
    return [f"{r[0]}: {failure_rule(r[0], r[1], *(m for m in r[2:] if isinstance(m, str)))}"
            for r in rows]


# -- per config and per method ----------------------------------------------------------------------
def failure_rates(df: pd.DataFrame, by: str | Sequence[str] | None = None,
                  outlier_factor: float = OUTLIER_FACTOR, budget: str = "full") -> pd.DataFrame:
    """Per group (default: per config; ``by="method"`` per method): seeds, failed, failure_rate
    with its 95% Wilson interval (failure_rate_low, failure_rate_high: 0 of 8 failed is 0-32%,
    ``sweeps.metrics.failure_ci``), the failed split by the rule's parts (diverged: non-finite;
    above_threshold: finite but above the threshold, 8e33 too), abandoned and restarts (residual
    monitoring: a
    failure rate never hides them), outliers, outlier_rate and the MSE over seeds
    (median, p90, worst, best), then early_stopped and errored: the group's seeds of trials
    stopped early / that errored.

    budget="full" (default): every column but the last two is over the seeds of trials that ran
    their full budget, so a group with none has seeds 0 and NaN rates; "all": over every seed,
    each at the iteration its trial reached. Outliers are always judged against their own
    config's median, whatever the grouping.
    """
    counted = _in_budget(df, budget, ("full", "all"))
    f = with_failures(df, outlier_factor)
    keys = _keys(f, by)
    # uncounted seeds: False flags and a NaN MSE, which the aggregates skip
    restarts = f["restarts"] if "restarts" in f.columns else pd.Series(0, index=f.index)
    g = f.assign(_n=counted, _failed=f["failed"] & counted, _diverged=f["diverged"] & counted,
                 _above=f["above_threshold"] & counted,
                 _abandoned=f["abandoned"] & counted, _restarts=restarts.where(counted, 0),
                 _outlier=f["outlier"] & counted,
                 _mse=_as_inf(f["final_mse"]).where(counted),
                 _stopped=_status_is(f, EARLY_STOPPED), _errored=_status_is(f, ERROR)
                 ).groupby(keys, sort=True, dropna=False)
    seeds = g["_n"].sum().astype("int64")
    failed = g["_failed"].sum().astype("int64")
    ci = [failure_ci(k, n) for k, n in zip(failed, seeds)]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "seeds": seeds,
            "failed": failed,
            "failure_rate": failed / seeds.where(seeds > 0),
            "failure_rate_low": [lo for lo, _ in ci],
            "failure_rate_high": [hi for _, hi in ci],
            "diverged": g["_diverged"].sum().astype("int64"),
            "above_threshold": g["_above"].sum().astype("int64"),
            # residual monitoring: seeds given up (among the failed) and restarts of any seed
            "abandoned": g["_abandoned"].sum().astype("int64"),
            "restarts": g["_restarts"].sum().astype("int64"),
            "outliers": g["_outlier"].sum().astype("int64"),
            "outlier_rate": g["_outlier"].sum() / seeds.where(seeds > 0),
            "median_mse": g["_mse"].median(),
            "p90_mse": g["_mse"].quantile(0.9, interpolation="higher"),
            "worst_mse": g["_mse"].max(),
            "best_mse": g["_mse"].min(),
            "early_stopped": g["_stopped"].sum().astype("int64"),
            "errored": g["_errored"].sum().astype("int64"),
        })
    return out.astype({"failure_rate": float, "failure_rate_low": float,
                       "failure_rate_high": float, "outlier_rate": float}).reset_index()


def worst_outliers(df: pd.DataFrame, n: int = 5, outlier_factor: float = OUTLIER_FACTOR,
                   budget: str = "full") -> pd.DataFrame:
    """The n seeds furthest above their own config's median (largest ratio first), with the
    iteration their trial reached and their config's searched parameters; ``outlier`` says
    whether the ratio passes outlier_factor. Seeds of configs whose median is non-finite have no
    ratio and come last.

    budget: "full" (default) seeds of trials that ran their full budget, "stopped" those of the
    others (ASHA, the time budget, errors), "all" both."""
    keep = _in_budget(df, budget, BUDGETS)
    f = with_failures(df, outlier_factor)[keep]
    cols = [*config_keys(f), "seed", "problem", "method", "final_mse", "config_median", "ratio",
            "outlier", "failed"]
    cols += [c for c in ("status", "iteration", "iterations", "seed_status") if c in f.columns]
    cols += searched_params(df)
    order = f.assign(_r=f["ratio"].fillna(-np.inf)).sort_values(
        ["_r", "final_mse"], ascending=False, kind="stable", na_position="last")
    return order[cols].head(n).reset_index(drop=True)


def best_and_worst(df: pd.DataFrame, budget: str = "full") -> pd.DataFrame:
    """The best and the worst seed (lowest and highest final MSE, NaN as +inf), rows "best" and
    "worst" of the per-seed frame ``with_failures`` gives, among `budget`'s seeds ("full" by
    default: the worst run is a run of the whole budget, not a trial ASHA cut short; "stopped",
    "all"). Empty when there are none."""
    keep = _in_budget(df, budget, BUDGETS)
    f = with_failures(df)[keep]
    ranked = f.assign(_m=_as_inf(f["final_mse"])).sort_values("_m", kind="stable")
    if ranked.empty:
        return ranked.drop(columns="_m")
    return ranked.iloc[[0, -1]].drop(columns="_m").set_axis(["best", "worst"])


def early_stops(df: pd.DataFrame) -> pd.DataFrame:
    """The trials that did not run their full budget (ASHA or the time budget stopped them, or
    they errored), one row each, latest stop first: status, the iteration reached (and the
    config's iterations), seeds, how many had diverged by then, the median and worst MSE there,
    and the searched parameters. These numbers are from a smaller budget: not failure rates."""
    f = with_failures(df)
    stopped = f[~f["full_budget"]].assign(_mse=lambda x: _as_inf(x["final_mse"]))
    keys = config_keys(f)
    cols = [*keys, "status", "iteration", "iterations", "seeds", "diverged", "median_mse",
            "worst_mse", *searched_params(df)]
    if stopped.empty:
        return pd.DataFrame(columns=cols)
    g = stopped.groupby(keys, sort=True)
    info = [c for c in ("status", "iteration", "iterations", *searched_params(df))
            if c in stopped.columns]
    out = g[info].first().assign(
        seeds=g.size(), diverged=g["diverged"].sum().astype("int64"),
        median_mse=g["_mse"].median(), worst_mse=g["_mse"].max()).reset_index()
    order = [(c, up) for c, up in (("iteration", False), ("median_mse", True)) if c in out.columns]
    out = out.sort_values([c for c, _ in order], ascending=[up for _, up in order], kind="stable")
    return out[[c for c in cols if c in out.columns]].reset_index(drop=True)


def best_configs(df: pd.DataFrame, by: str = "median", n: int = 5, complete_only: bool = True
                 ) -> pd.DataFrame:
    """Configs ranked by the median, p90 or worst seed's MSE (or failure_rate), ties by median.

    complete_only: rank only trials that ran their full budget (an early-stopped trial's MSE is
    from fewer iterations); ignored when no trial did, and then every config is ranked at the
    iteration it reached (the ``iteration`` column says which).
    """
    column = {"median": "median_mse", "p90": "p90_mse", "worst": "worst_mse",
              "failure_rate": "failure_rate"}
    if by not in column:
        raise ValueError(f"by = {by!r}: expected one of {', '.join(column)}")
    full = full_budget(df)
    complete_only = complete_only and bool(full.any())
    rates = failure_rates(df, budget="full" if complete_only else "all")
    keys = config_keys(df)
    extra = [c for c in ("status", "iteration", "method") if c in df.columns]
    info = df.groupby(keys, sort=True)[extra + searched_params(df)].first().reset_index()
    table = rates.merge(info, on=keys, how="left")
    if complete_only:
        table = table[table["seeds"] > 0]
    table = table.sort_values([column[by], "median_mse"], kind="stable")
    return table.head(n).reset_index(drop=True)


def compare_methods(df: pd.DataFrame, baseline: str = "l2",
                    outlier_factor: float = OUTLIER_FACTOR, budget: str = "full") -> pd.DataFrame:
    """GAN vs classical losses: one row per method with its seeds pooled over configs.

    median_log10_mse is the centre of the log-MSE histogram; vs_baseline = median MSE / the
    baseline method's median (below 1: better than Lagaris). budget: as ``failure_rates``
    (default: seeds of full-budget trials only). ``iterations`` lists the iterations the counted
    seeds ran, so a comparison on unequal budgets shows.
    """
    rates = failure_rates(df, by="method", outlier_factor=outlier_factor, budget=budget)
    counted = _in_budget(df, budget, ("full", "all"))
    mse = _as_inf(df["final_mse"])
    with np.errstate(divide="ignore"):
        log = np.log10(mse.where((mse > 0) & counted, np.nan))
    rates["median_log10_mse"] = log.groupby(df["method"]).median().reindex(rates["method"]).values
    ran = budget_ran(df)
    if ran.notna().any():
        rates["iterations"] = (ran[counted].groupby(df.loc[counted, "method"])
                               .agg(lambda s: ",".join(str(int(v)) for v in sorted(set(s))))
                               .reindex(rates["method"]).values)
    base = rates.loc[rates["method"] == baseline, "median_mse"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rates["vs_baseline"] = (rates["median_mse"] / float(base.iloc[0])
                                if len(base) else np.nan)
    order = {m: i for i, m in enumerate(["gan", "gan_lhs_rhs", "wgan_gp", *CLASSICAL])}
    return (rates.assign(_o=rates["method"].map(order).fillna(99))
            .sort_values(["_o", "method"]).drop(columns="_o").reset_index(drop=True))


# -- hyperparameters ---------------------------------------------------------------------------------
def searched_params(df: pd.DataFrame) -> list[str]:
    """Config columns that take more than one value across configs (what the sweep searched)."""
    params = [c for c in df.columns if c not in _NOT_PARAMS and c not in ("_mse", "_r")]
    if not params:
        return []
    per_config = df.groupby(config_keys(df), sort=False)[params].first() if config_keys(df) \
        else df[params]
    return [c for c in params if per_config[c].astype(str).nunique() > 1]


def config_objective(df: pd.DataFrame, kind: str = "median") -> pd.DataFrame:
    """Per config, the seed-aggregated objective the sweeps minimise (``sweeps.spaces.objective``:
    log10 of the median / p90 / worst MSE or distance, the value itself for counts such as
    classes_missed, capped for non-finite values, or the failure rate)."""
    from sweeps.metrics import metric_of
    from sweeps.spaces import objective  # the sweeps' own definition, so the two agree

    f = with_failures(df)
    rows = []
    for key, g in f.groupby(config_keys(f), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        metric = (str(g["metric"].iloc[0]) if "metric" in g.columns
                  else metric_of(str(g["problem"].iloc[0])))
        value = objective(_as_inf(g["final_mse"]).to_numpy(), float(g["failed"].mean()), kind,
                          metric)
        rows.append({**dict(zip(config_keys(f), key)), "objective": value})
    return pd.DataFrame(rows)


class NothingToExplain(ValueError):
    """Every config reached the same objective: importances have no variance to share out."""


def param_importance(df: pd.DataFrame, objective: str = "median",
                     params: Sequence[str] | None = None, evaluator: Any = None,
                     distributions: dict[str, Any] | None = None,
                     complete_only: bool = True) -> pd.DataFrame:
    """How much each searched parameter explains the seed-aggregated objective, by Optuna's
    importance evaluators (default fANOVA, seeded): a frame of (param, importance), summing to 1.

    complete_only: use only trials that ran their full budget, unless fewer than 2 did.

    distributions: Optuna distributions per parameter (e.g. the sweep space's); inferred from the
    values when not given (numbers: their range, log scale when positive and spanning >= 10x;
    everything else categorical).
    """
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    data = df
    if complete_only:
        complete = df[full_budget(df)]
        if complete.groupby(config_keys(df)).ngroups >= 2:
            data = complete
    params = list(params) if params is not None else searched_params(data)
    values = config_objective(data, objective)
    per_config = data.groupby(config_keys(data), sort=True)[params].first().reset_index()
    table = values.merge(per_config, on=config_keys(data))
    if len(table) < 2 or not params:
        raise ValueError(f"parameter importance needs at least 2 configs and 1 searched parameter; "
                         f"got {len(table)} configs and parameters {params}")
    if table["objective"].nunique() < 2:
        raise NothingToExplain(f"every config has the same {objective} objective "
                         f"({table['objective'].iloc[0]:g}): nothing for importance to explain")
    dists = dict(distributions or {})
    for p in params:
        dists.setdefault(p, _distribution(table[p]))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    for _, row in table.iterrows():
        study.add_trial(optuna.trial.create_trial(
            params={p: _optuna_value(row[p], dists[p]) for p in params},
            distributions={p: dists[p] for p in params}, value=float(row["objective"])))
    importances = get_param_importances(
        study, evaluator=evaluator or FanovaImportanceEvaluator(seed=0), params=params)
    return pd.DataFrame({"param": list(importances), "importance": list(importances.values())})


# -- curves -----------------------------------------------------------------------------------------
def convergence(curves: pd.DataFrame, by: str | Sequence[str] | None = None,
                q: tuple[float, float] = (0.1, 0.9), value: str = "mse") -> pd.DataFrame:
    """Median and a percentile band of `value` over seeds at each iteration (per group `by`).

    Non-finite values (diverged seeds) are kept: they push the median and the upper band to inf
    rather than vanishing. Band ends take the lower / higher neighbour (never interpolate with inf).
    """
    keys = ([] if by is None else [by] if isinstance(by, str) else list(by)) + ["iteration"]
    v = _as_inf(curves[value])
    g = v.groupby([curves[k] for k in keys], sort=True)
    out = pd.DataFrame({
        "median": g.median(),
        f"p{round(q[0] * 100)}": g.quantile(q[0], interpolation="lower"),
        f"p{round(q[1] * 100)}": g.quantile(q[1], interpolation="higher"),
        "n": g.size(),
    })
    return out.reset_index()


# -- helpers ----------------------------------------------------------------------------------------
def _keys(df: pd.DataFrame, by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        keys = config_keys(df)
        if not keys:
            raise ValueError("the frame has no trial_id column: pass by=... to group by")
        return keys
    return [by] if isinstance(by, str) else list(by)


def _in_budget(df: pd.DataFrame, budget: str, allowed: Sequence[str]) -> pd.Series:
    """Per row: is it one of the seeds `budget` ("full", "stopped", "all") takes?"""
    if budget not in allowed:
        raise ValueError(f"budget = {budget!r}: expected one of {', '.join(allowed)}")
    full = full_budget(df)
    return {"full": full, "stopped": ~full, "all": full | True}[budget]


def _status_is(df: pd.DataFrame, status: str) -> pd.Series:
    return df["status"].eq(status) if "status" in df.columns else pd.Series(False, index=df.index)


def _as_inf(s: pd.Series) -> pd.Series:
    """MSE with NaN as +inf: a missing or undefined result counts as the worst."""
    return s.astype(float).fillna(math.inf)


def _distribution(values: pd.Series) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    vals = list(values)
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)) and np.isfinite(v) for v in vals)
    if numeric:
        lo, hi = float(min(vals)), float(max(vals))
        if all(float(v).is_integer() for v in vals) and all(
                isinstance(v, (int, np.integer)) for v in vals):
            return IntDistribution(int(lo), int(hi))
        return FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 10)
    return CategoricalDistribution(sorted({_choice(v) for v in vals}, key=str))


def _choice(v: Any) -> Any:
    """Optuna choices must be None, bool, int, float or str: tuples (betas) become strings."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return str(v)


def _optuna_value(v: Any, dist: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return _choice(v)
    if isinstance(dist, IntDistribution):
        return int(v)
    return float(v)
