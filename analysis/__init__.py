"""analysis: a sweep as one tidy pandas DataFrame, then failure rates, outliers, GAN vs classical.

    from analysis import load_sweep, failure_rates, worst_outliers
    df = load_sweep("gansweep-sho", tracking_uri="sqlite:///mlflow.db")   # or a Tune folder
    failure_rates(df, by="method"); worst_outliers(df)

    python -m analysis report gansweep-sho --tracking-uri sqlite:///mlflow.db --out report/
    python -m analysis compare            # the seed notebook: GAN vs Lagaris on exp, 10 seeds each
"""

from .loading import (CURVE_COLUMNS, FRAME_COLUMNS, SweepNotFound, load_curves, load_sweep,
                      seed_status)
from .tables import (OUTLIER_FACTOR, best_and_worst, best_configs, budget_ran, compare_methods,
                     config_objective, convergence, early_stops, failure_rates, failure_rules,
                     full_budget,
                     param_importance, searched_params, with_failures, worst_outliers)

__all__ = ["CURVE_COLUMNS", "FRAME_COLUMNS", "OUTLIER_FACTOR", "SweepNotFound", "best_and_worst",
           "best_configs", "budget_ran", "compare_methods", "config_objective", "convergence",
           "early_stops", "failure_rates", "failure_rules", "full_budget", "load_curves", "load_sweep",
           "param_importance", "searched_params", "seed_status", "with_failures",
           "worst_outliers"]
