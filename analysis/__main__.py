"""``python -m analysis report|compare``.

    python -m analysis report gansweep-sho --tracking-uri sqlite:///mlflow.db --out report/
    python -m analysis report ray_results/exp-gan-20261123-201306      # Tune's folder works too
    python -m analysis compare                   # seed notebook 000: GAN vs Lagaris on exp, 10 seeds
    python -m analysis compare --iterations 500 --tracking-uri sqlite:///mlflow.db
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("report", help="HTML report of a sweep, logged to its parent MLflow run")
    r.add_argument("source", help="MLflow experiment name or id, or a Tune results folder")
    r.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else "
                                          "sqlite ./mlflow.db)")
    r.add_argument("--sweep", help="which sweep of the experiment / folder: parent run name or "
                                   "id, folder name (default: the newest)")
    r.add_argument("--out", help="folder for report.html (default: gansweep_runs/report-<sweep>)")
    r.add_argument("--no-baseline", action="store_true",
                   help="do not train a baseline when the sweep logged none (the one it logged "
                        "is always read)")
    r.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")

    c = sub.add_parser("compare", help="GAN vs Lagaris with the same network and budget "
                                       "(seed notebook 000)")
    c.add_argument("--problem", default="exp")
    c.add_argument("--seeds", type=int, default=10)
    c.add_argument("--iterations", type=int, help="default: the preset's")
    c.add_argument("--methods", default="gan,l2", help="comma-separated, first is the GAN")
    c.add_argument("--out", default="gansweep_runs/compare", help="folder for the figures")
    c.add_argument("--tracking-uri", help="also log the comparison to this MLflow store "
                                          "(default: $MLFLOW_TRACKING_URI if set, else no log)")
    c.add_argument("--experiment-name", default="gansweep-compare")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.command == "report":
        return _report(a)
    return _compare(a)


def _report(a: argparse.Namespace) -> int:
    from .loading import SweepNotFound, load_curves, load_sweep
    from .report import build, log_to_mlflow

    try:
        df = load_sweep(a.source, tracking_uri=a.tracking_uri, sweep=a.sweep)
        curves = load_curves(a.source, tracking_uri=a.tracking_uri, sweep=a.sweep)
    except SweepNotFound as e:
        print(f"analysis: error: {e.cli()}", file=sys.stderr)
        return 2
    if df.empty:
        print(f"analysis: error: sweep {df.attrs.get('sweep')} has no trials", file=sys.stderr)
        return 1
    sweep = df.attrs.get("sweep") or str(df["sweep"].iloc[0])
    out = Path(a.out or Path("gansweep_runs") / f"report-{sweep}").resolve()
    rep = build(df, curves, out, baseline=not a.no_baseline)
    if not a.no_mlflow:
        try:
            run = log_to_mlflow(rep, df)
            if run:
                print(f"report logged to MLflow run {run} ({df.attrs['tracking_uri']}), "
                      f"artifact report/report.html")
        except Exception as e:  # noqa: BLE001 -- the HTML on disk is still the result
            print(f"analysis: warning: could not log the report to MLflow: {e}", file=sys.stderr)
    print(f"report: {rep.path}")
    for key, err in rep.errors.items():
        print(f"analysis: section {key} failed: {err}", file=sys.stderr)
    return 1 if rep.errors else 0


def _compare(a: argparse.Namespace) -> int:
    from sweeps.spec import TRACKING_ENV

    from .compare import run
    from .loading import resolve_tracking_uri

    # MLflow's own variable names a store to log to, as --tracking-uri does; neither: no log
    store = a.tracking_uri or os.environ.get(TRACKING_ENV)
    run(problem=a.problem, seeds=a.seeds, iterations=a.iterations,
        methods=tuple(a.methods.split(",")), out=a.out,
        tracking_uri=resolve_tracking_uri(store) if store else None,
        experiment_name=a.experiment_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
