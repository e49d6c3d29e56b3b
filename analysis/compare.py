"""Seed notebook 000 as one command: GAN vs Lagaris on x' = -x, 10 seeds each, same network and
budget, ending with the comparison table and the log-MSE histogram.

    python -m analysis compare                              # exp, gan vs l2, 10 seeds, the preset
    python -m analysis compare --iterations 500 --methods gan,l2,l1,huber
    python -m analysis compare --tracking-uri sqlite:///mlflow.db   # also an MLflow run
    MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db python -m analysis compare   # the same

Every method trains the *GAN preset's* config with only the method changed: the same generator,
seeds, points, iterations and learning-rate schedule (the notebook's 9:1 G:D vs 10 Lagaris steps
kept the G-step count equal; here both take g_iters G steps per iteration). Each method's seeds are
trained at once by ``gan_core.train``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gan_core import Config, Result, make_problem, train
from gan_core.presets import preset
from sweeps.metrics import failure_ci, rate_text

from . import plots as P
from .solutions import predict, results_curves, results_frame
from .tables import compare_methods, failure_rules, with_failures

EXTRAPOLATE_TO = 10.0  # the notebook extrapolated t in [0, 10] out to t = 100: 10x the interval


@dataclass
class Comparison:
    """Everything one comparison produced: Results, final states, frames and the table."""

    results: dict[str, Result]
    states: dict[str, dict[str, Any]]
    frame: pd.DataFrame  # tidy (method-as-trial, seed) frame, as analysis.load_sweep gives
    curves: pd.DataFrame  # per-seed MSE and G / D losses over iterations
    table: pd.DataFrame  # compare_methods(frame)
    figures: dict[str, Path] = field(default_factory=dict)

    def best_worst(self, method: str = "gan") -> tuple[int, int]:
        """Seed indices of the method's best and worst final MSE (non-finite counts as worst)."""
        mse = np.where(np.isfinite(self.results[method].final_mse),
                       self.results[method].final_mse, np.inf)
        return int(np.argmin(mse)), int(np.argmax(mse))

    def extrapolation(self, method: str = "gan", factor: float = EXTRAPOLATE_TO
                      ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, float]:
        """(t, {label: prediction (n, n_out)}, reference (n, n_out), training end) for the
        method's best and worst seeds on [t0, t0 + factor * length] (1-D problems)."""
        r = self.results[method]
        problem = make_problem(r.config.problem, r.config.n_points)
        if problem.dim != 1:
            raise ValueError(f"extrapolation is drawn for 1-D problems; {problem.key} has "
                             f"{problem.dim} axes")
        lo, hi = problem.bounds[0]
        t = np.linspace(lo, lo + factor * (hi - lo), 1000)[:, None]
        pred = predict(r.config, self.states[method], t)
        best, worst = self.best_worst(method)
        labels = {f"{method} best seed {best}": pred[best], f"{method} worst seed {worst}": pred[worst]}
        return t[:, 0], labels, problem.reference(t), hi


def configs(problem: str = "exp", seeds: int = 10, iterations: int | None = None,
            methods: Sequence[str] = ("gan", "l2"), **overrides: Any) -> dict[str, Config]:
    """One config per method: the first method's preset, only the method changed for the rest."""
    extra = {"seeds": seeds, **({"iterations": iterations} if iterations else {}), **overrides}
    base = preset(problem, methods[0], **extra)
    return {m: base.replace(method=m) for m in methods}


def compare(cfgs: dict[str, Config], say: Any = print) -> Comparison:
    """Train every config (its seeds batched) and tabulate the methods side by side."""
    results, states = {}, {}
    for name, cfg in cfgs.items():
        keep: dict[str, Any] = {}

        def report(p: Any, keep: dict[str, Any] = keep) -> None:
            if p.done:  # the final weights, for extrapolation beyond the training interval
                keep["state"] = p.checkpoint()

        t0 = time.perf_counter()
        r = train(cfg, report=report)
        results[name], states[name] = r, keep["state"]
        say(f"{name:>6}: {cfg.seeds} seeds x {r.iterations} iterations in "
            f"{time.perf_counter() - t0:.1f}s; median MSE {r.median_mse:.2e}, worst "
            f"{r.worst_mse:.2e}, failure rate {rate_text(int(r.failed.sum()), len(r.failed))}")
    frame = results_frame(results, sweep="compare")
    return Comparison(results=results, states=states, frame=frame,
                      curves=results_curves(results, sweep="compare"),
                      table=compare_methods(frame))


def per_seed_table(c: Comparison) -> pd.DataFrame:
    """The notebook's printout: one row per seed, one column of final MSE per method."""
    f = with_failures(c.frame)
    return f.pivot(index="seed", columns="method", values="final_mse")[list(c.results)]


def run(problem: str = "exp", seeds: int = 10, iterations: int | None = None,
        methods: Sequence[str] = ("gan", "l2"), out: str | Path = "gansweep_runs/compare",
        tracking_uri: str | None = None, experiment_name: str = "gansweep-compare") -> Comparison:
    """The command: train, print the per-seed and the comparison tables, save the figures
    (histogram last, as in the notebook), and log it all to MLflow when a tracking URI is given."""
    cfgs = configs(problem, seeds, iterations, methods)
    base = next(iter(cfgs.values()))
    print(f"compare on {problem}: {', '.join(methods)}; {seeds} seeds x {base.iterations} "
          f"iterations each; G {base.G.width}x{base.G.depth} {base.G.activation}, "
          f"lr {base.G.lr:g}, decay {base.lr_decay} {base.lr_gamma:g}")
    c = compare(cfgs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gan = methods[0]
    best, worst = c.best_worst(gan)
    figs = {"best_worst": P.plot_best_worst([("best", c.results[gan], best),
                                             ("worst", c.results[gan], worst)]),
            "loss_grid": P.plot_loss_grid(c.curves[c.curves["trial_id"] == gan], by=["seed"]),
            "convergence": P.plot_convergence(c.curves, by="trial_id",
                                              threshold=c.results[gan].failure_threshold)}
    if make_problem(problem).dim == 1:
        figs["extrapolation"] = P.plot_extrapolation(*c.extrapolation(gan))
    figs["histogram"] = P.hist_log_mse(c.frame, methods=list(methods))
    for name, fig in figs.items():
        c.figures[name] = out / f"{problem}_{name}.png"
        fig.savefig(c.figures[name], dpi=100)
        P.pyplot().close(fig)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3e}".format):
        print("\nfinal MSE per seed\n" + per_seed_table(c).to_string())
        cols = ["method", "seeds", "failed", "diverged", "above_threshold", "failure_rate",
                "failure_rate_low", "failure_rate_high", "outliers", "median_mse", "p90_mse",
                "worst_mse", "best_mse", "vs_baseline"]
        print("\n" + c.table[[k for k in cols if k in c.table.columns]].to_string(index=False))
    print("\n".join(f"failure rule, {rule}" for rule in failure_rules(c.frame)))
    print(f"\nfigures in {out.resolve()}: " + ", ".join(p.name for p in c.figures.values()))
    print(f"histogram: {c.figures['histogram'].resolve()}")
    if tracking_uri:
        run_id = _log(c, tracking_uri, experiment_name, problem)
        print(f"MLflow: {tracking_uri} experiment {experiment_name!r}, run {run_id}")
    return c


def _log(c: Comparison, tracking_uri: str, experiment_name: str, problem: str) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment_name)
    run = client.create_run(exp_id, run_name=f"{problem}-{'-vs-'.join(c.results)}",
                            tags={"kind": "compare", "problem": problem})
    rid = run.info.run_id
    now = int(time.time() * 1000)
    first = next(iter(c.results.values())).config
    params = [Param(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in first.to_dict().items()
              if k != "method"]
    params.append(Param("methods", ",".join(c.results)))
    metrics = []
    for m, r in c.results.items():
        low, high = failure_ci(int(r.failed.sum()), len(r.failed))
        for name, v in (("mse", r.median_mse), ("mse_worst", r.worst_mse),
                        ("failure_rate", r.failure_rate), ("failure_rate_ci_low", low),
                        ("failure_rate_ci_high", high)):
            metrics.append(Metric(f"{m}/{name}", _finite(v), now, 0))
        metrics += [Metric(f"{m}/mse_seed_{k}", _finite(v), now, 0)
                    for k, v in enumerate(r.final_mse)]
    client.log_batch(rid, metrics=metrics, params=params)
    for path in c.figures.values():
        client.log_artifact(rid, str(path), "plots")
    client.set_terminated(rid)
    return rid


def _finite(v: float) -> float:
    return float(v) if math.isfinite(v) else 1e300
