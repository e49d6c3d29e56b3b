"""What a sweep shows in the MLflow UI: the runs URL it prints, and its saved view of the runs table.

MLflow 3.17's runs table shows no param or metric by default (only Created, Dataset, Duration,
Source and Models; the rest under "Show more columns"), nests a sweep's trials under its collapsed
parent run, and opens an experiment on its GenAI view. A saved view (an experiment tag the UI reads,
as its own "Views" button saves them) fixes all three for the sweep's URL.

    runs_url(uri, exp_id, view=parent_run_id)   # http://127.0.0.1:5000/#/experiments/1/runs?...
    save_view(uri, exp_id, parent_run_id, sweep, "mse", ["G.lr", ...])
"""

from __future__ import annotations

import json
import sys
import time

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from gan_core.errors import first_line

from .spaces import METRIC
from .tracking import SWEEP_TAG

UI = "http://127.0.0.1:5000"  # where `mlflow ui` listens by default
# MLflow 3's saved views of an experiment's runs table: experiment tags VIEW_TAG + <key>, listed
# under the table's "Views" button and opened by the URL parameter viewStateShareKey=<key>
VIEW_TAG = "mlflow.sharedViewState."


def runs_url(tracking_uri: str, exp_id: str, view: str | None = None) -> str:
    """The experiment's runs table in the MLflow UI (a server's own address, else `mlflow ui`'s
    default). MLflow 3's UI opens an experiment on its GenAI view (traces) unless told otherwise:
    ``workflowType=machine_learning`` is its "Model training" switch, kept for the session.
    view: the key of a saved view (``save_view``) the table opens with."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else UI
    shown = f"&viewStateShareKey={view}" if view else ""
    return f"{base}/#/experiments/{exp_id}/runs?workflowType=machine_learning{shown}"


def view_columns(metric: str, searched: list[str]) -> list[str]:
    """The runs table's columns a sweep's view shows, as the UI names them: the objective, the
    median, worst and failure rate over seeds, every searched param, the trial's status (the UI
    keeps metrics before params)."""
    metrics = [METRIC, f"eval/{metric}", f"eval/{metric}_worst", "eval/failure_rate"]
    return ([f"metrics.`{m}`" for m in metrics] + [f"params.`{p}`" for p in searched]
            + ["tags.`status`"])


def save_view(tracking_uri: str, exp_id: str, parent_run_id: str, sweep: str, metric: str,
              searched: list[str]) -> str:
    """Save the sweep's view of the runs table on its experiment; returns its key (for
    ``runs_url``).

    The UI's own default shows no param or metric (only Created, Dataset, Duration, Source and
    Models) and nests the trials under the collapsed parent run. The view shows this sweep's runs
    only, grouped by sweep (which lists the trials without a click), best objective first, with
    the columns of ``view_columns``. The UI says it is a shared view; "Override saved view" keeps
    it as the user's own default for the experiment."""
    key = parent_run_id  # one view per sweep, under "Views" by name
    columns = view_columns(metric, searched)
    # narrow enough for the metrics and a few params beside the UI's assistant panel, which
    # MLflow 3.17 opens on a browser's first visit
    widths = {c: 100 if c.startswith("metrics.") else 90 for c in columns}
    state = {"selectedColumns": columns, "columnOrder": columns,
             "columnWidths": widths,
             "searchFilter": f"tags.`{SWEEP_TAG}` = '{sweep}'",
             "orderByKey": f"metrics.`{METRIC}`", "orderByAsc": True,
             "groupBy": {"aggregateFunction": "min",
                         "groupByKeys": [{"mode": "tag", "groupByData": SWEEP_TAG}]}}
    ms = int(time.time() * 1000)
    compact = {"separators": (",", ":")}  # ~2 kB for sho's 17 params
    envelope = {"name": f"{sweep}: trials", "createdAt": ms, "updatedAt": ms,
                "state": json.dumps(state, **compact)}
    try:
        MlflowClient(tracking_uri).set_experiment_tag(exp_id, VIEW_TAG + key,
                                                      json.dumps(envelope, **compact))
    except MlflowException as e:  # e.g. an older server's limit on a tag's length
        print(f"gansweep: warning: the runs table's view was not saved ({first_line(e)}); the "
              "runs URL opens MLflow's own columns", file=sys.stderr, flush=True)
    return key
