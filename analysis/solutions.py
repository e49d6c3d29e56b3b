"""Back from a sweep's rows to gan_core: a trial's weights, its Result, predictions anywhere.

    state = trial_state(df, "5ffaccb9")          # weights/state.pt from MLflow, or Tune's checkpoint
    result = trial_result(df, "5ffaccb9")        # gan_core.Result: per-seed prediction vs reference
    x = predict(result.config, state, t_ext)     # (seeds, n, n_out), e.g. beyond the training interval

and the other way, ``results_frame({name: Result})``: Results trained in Python as the same tidy
(trial, seed) frame the loader gives (``analysis.loading``), plus their per-seed curves.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from gan_core import BatchedMLP, Config, Jet, Result, make_problem, train
from gan_core.tasks import DETask

from .loading import FRAME_COLUMNS, LoggedBaseline, TrialRecord, curves, frame

STATE_FILE = "state.pt"  # what sweeps.trainable saves in every checkpoint
WEIGHTS_ARTIFACT = "weights/state.pt"  # where sweeps.tracking logs it on each trial's MLflow run


# -- from the sweep frame to weights and Results -----------------------------------------------------
def trial_config(df: pd.DataFrame, trial_id: str) -> Config:
    """The gan_core Config of a trial, rebuilt from its row's config columns."""
    row = _trial_row(df, trial_id)
    params = {k: row[k] for k in row.index if k not in FRAME_COLUMNS or k in ("problem", "method")}
    params = {("seed" if k == "base_seed" else k): _plain(v) for k, v in params.items()}
    params = {k: v for k, v in params.items() if not _missing(v)}
    if np.isfinite(row.get("failure_threshold", np.nan)):
        params["failure_threshold"] = float(row["failure_threshold"])
    return Config.from_dict({**_fold_betas(params), "device": "cpu"})


def trial_state(df: pd.DataFrame, trial_id: str) -> dict[str, Any]:
    """The trial's last saved gan_core state (weights, optimisers, curves), from where the frame
    was loaded: Tune's newest checkpoint folder, or the MLflow run's ``weights/state.pt``."""
    row = _trial_row(df, trial_id)
    src = df.attrs.get("source")
    if src == "tune":
        storage = Path(df.attrs["storage"])
        trial_dir = storage / row["sweep"] / f"trial_{trial_id}"
        checkpoints = sorted(trial_dir.glob(f"checkpoint_*/{STATE_FILE}"))
        if not checkpoints:
            raise FileNotFoundError(f"trial {trial_id}: no checkpoint with {STATE_FILE} in "
                                    f"{trial_dir} (Tune keeps the newest two)")
        return _load(checkpoints[-1])
    if src == "mlflow":
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        client = MlflowClient(df.attrs["tracking_uri"])
        runs = client.search_runs(
            [df.attrs["experiment_id"]],
            filter_string=f"tags.trial_id = '{trial_id}' and tags.`gansweep.sweep` = '{row['sweep']}'",
            max_results=1)
        if not runs:
            raise LookupError(f"trial {trial_id}: no MLflow run tagged with it in experiment "
                              f"{df.attrs['experiment_id']}")
        with tempfile.TemporaryDirectory() as d:
            try:
                path = client.download_artifacts(runs[0].info.run_id, WEIGHTS_ARTIFACT, d)
            except Exception as e:  # noqa: BLE001 -- mlflow raises store-specific types
                raise FileNotFoundError(f"trial {trial_id}: run {runs[0].info.run_id} has no "
                                        f"{WEIGHTS_ARTIFACT} artifact ({e})") from None
            return _load(Path(path))
    raise ValueError("this frame does not say where it was loaded from (df.attrs['source']); "
                     "load it with analysis.load_sweep")


def trial_result(df: pd.DataFrame, trial_id: str, state: dict[str, Any] | None = None) -> Result:
    """The trial's gan_core Result at its last checkpoint (predictions, per-seed curves)."""
    state = state if state is not None else trial_state(df, trial_id)
    cfg = trial_config(df, trial_id)
    # train() with no iterations left only evaluates, as sweeps.tracking does for its plots
    return train(cfg.replace(iterations=max(1, int(state["iteration"]))), state=state)


def predict(config: Config, state: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    """The trial solution of every seed at points X (n, dim): (seeds, n, n_out), e.g. beyond the
    training interval (the seed notebook's extrapolation to t = 100)."""
    problem = make_problem(config.problem, config.n_points, **config.problem_args)
    dtype = getattr(torch, config.dtype)
    task = DETask(problem, config, torch.device("cpu"), dtype)  # the trial solution as trained
    G = BatchedMLP(config.seeds, problem.dim, problem.n_out, config.G, config.seed, stream=0)
    G = G.to("cpu", dtype)
    G.load_state_dict({k: v.to("cpu") for k, v in state["G"].items()})
    X_t = torch.as_tensor(np.asarray(X, dtype=float).reshape(len(X), -1), dtype=dtype)
    with torch.no_grad():
        coords = Jet.coordinates(X_t.expand(config.seeds, *X_t.shape), order=0)
        return task.solution(G(problem.net_input(coords)), coords).value.numpy()


# -- from Results to the tidy frame -------------------------------------------------------------------
def results_frame(results: Mapping[str, Result], sweep: str = "python") -> pd.DataFrame:
    """Results trained in Python as the loader's (trial, seed) frame: one trial per entry."""
    return frame(_record(name, r, sweep) for name, r in results.items())


def results_curves(results: Mapping[str, Result], sweep: str = "python") -> pd.DataFrame:
    """Their curves in the loader's curve schema, with each seed's own G and D losses."""
    rows = []
    for name, r in results.items():
        c = r.curves
        for e, it in enumerate(c["iteration"]):
            for k in range(r.config.seeds):
                rows.append({"sweep": sweep, "trial_id": name, "seed": k, "iteration": int(it),
                             "mse": float(c[f"eval/{r.metric}"][e, k]),
                             "g_loss": float(c["train/g_loss"][e, k]),
                             "d_loss": float(c["train/d_loss"][e, k])})
    base = curves([])
    return pd.DataFrame(rows, columns=base.columns).astype(base.dtypes.to_dict())


def baseline_frame(df: pd.DataFrame, logged: LoggedBaseline) -> pd.DataFrame:
    """The baseline a sweep logged (``loading.logged_baseline``) as the same (trial, seed) rows
    as the sweep's trials: the config of the trial it trained on with its method, one G step per
    iteration and its budget, every seed's logged value as the final one. Nothing is trained."""
    cfg = trial_config(df, logged.trial_id).replace(method=logged.method, g_iters=1, d_iters=1,
                                                    iterations=logged.iterations)
    params = cfg.to_dict()
    params.pop("device", None)
    key = f"eval/{df['metric'].iloc[0]}_seed_"
    report = {"iteration": logged.iterations,
              **{f"{key}{k}": v for k, v in enumerate(logged.values)}}
    return frame([TrialRecord(sweep="baseline", trial_id=f"{logged.trial_id}-{logged.method}",
                              params=params, reports=[report], node="logged")])


def _record(name: str, r: Result, sweep: str) -> TrialRecord:
    params = r.config.to_dict()
    params.pop("device", None)
    if r.failure_threshold is not None:
        params["failure_threshold"] = r.failure_threshold
    reports = []
    key = f"eval/{r.metric}_seed_"  # as the sweeps' trainable names per-seed values
    for e, it in enumerate(r.curves["iteration"]):
        rep = {"iteration": int(it), **{f"{key}{k}": float(m)
                                         for k, m in enumerate(r.curves[f"eval/{r.metric}"][e])}}
        reports.append(rep)
    if reports:
        reports[-1]["train/seconds"] = r.wall_time
        reports[-1].update({f"{key}{k}": float(m) for k, m in enumerate(r.final_mse)})
    return TrialRecord(sweep=sweep, trial_id=name, params=params, reports=reports,
                       status=r.status, node="local")


# -- helpers --------------------------------------------------------------------------------------
def _trial_row(df: pd.DataFrame, trial_id: str) -> pd.Series:
    rows = df[df["trial_id"] == trial_id]
    if rows.empty:
        raise KeyError(f"no trial {trial_id!r} in the frame; trials: "
                       f"{', '.join(sorted(df['trial_id'].unique())[:20])}")
    return rows.iloc[0]


def _fold_betas(params: dict[str, Any]) -> dict[str, Any]:
    """Searched ``X.beta1`` keys back into ``X.betas`` (the sweeps' own conversion)."""
    from sweeps.spaces import to_config

    return to_config(params)


def _load(path: Path) -> dict[str, Any]:
    # our own file (written by sweeps.trainable), so weights_only=False is safe
    return torch.load(path, map_location="cpu", weights_only=False)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():  # an int column that pandas widened (a NaN in
        return int(v)  # it: a key some trials lack); Config takes an int for a float too
    if isinstance(v, tuple):
        return list(v)
    return v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))
