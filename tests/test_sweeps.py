"""Sweeps, smoke size: the whole sweep end to end on a local Ray, read back from Tune and MLflow;
and every bad option fails in one line before Ray starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import OBJECTIVES, Space, objective
from sweeps.cli import main, plan
from sweeps.spaces import study_for, to_config

ROOT = Path(__file__).resolve().parents[1]


def _sweep(tmp: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python sweeps/sho_sweep.py --smoke-test` with its stores in `tmp` (a fresh Ray each)."""
    cmd = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--smoke-test",
           "--storage-path", str(tmp / "ray"), "--tracking-uri", f"sqlite:///{tmp / 'm.db'}",
           "--summary-json", str(tmp / "summary.json"), *extra]
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)


def test_smoke_sweep_end_to_end(tmp_path):
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    proc = _sweep(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Top configs" in proc.stdout and "Lagaris baseline" in proc.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in proc.stdout
    assert "[3/3]" in proc.stdout  # progress lines, not Ray's tables
    assert "Trial name" not in proc.stdout and "╭" not in proc.stdout

    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["num_trials"] == 3
    best = s["best"]
    for key in ("median_mse", "worst_mse", "failure_rate", "config"):
        assert key in best
    assert best["worst_mse"] >= best["median_mse"]
    assert s["baseline"]["method"] == "l2"

    # Tune: exactly 3 trials in the experiment folder
    tune_trials = ExperimentAnalysis(s["ray_results"]).trials
    assert len(tune_trials) == 3
    ids = {t.trial_id for t in tune_trials}

    # MLflow: 1 parent + 3 children, one per Tune trial, with metric histories and artifacts
    m = s["mlflow"]
    client = MlflowClient(m["tracking_uri"])
    runs = client.search_runs([m["experiment_id"]])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]
    assert [r.info.run_id for r in parents] == [m["parent_run_id"]]
    assert len(runs) == 4 and len(children) == 3
    assert {r.data.tags["trial_id"] for r in children} == ids
    steps = []
    for r in children:
        tags, params = r.data.tags, r.data.params
        assert tags["problem"] == "sho" and tags["method"] == "gan"
        assert tags["status"] in ("ok", "diverged", "early-stopped")
        assert tags["node_id"] and tags["hostname"] and tags["device"] == "cpu"
        assert {"G.lr", "G.width", "seeds", "iterations"} <= set(params)
        assert {"eval/mse", "eval/mse_worst", "eval/failure_rate", "train/g_loss",
                "train/d_loss", "eval/mse_seed_0", "eval/mse_seed_1"} <= set(r.data.metrics)
        history = client.get_metric_history(r.info.run_id, "eval/mse")
        steps.append([h.step for h in history])
        arts = {a.path for a in client.list_artifacts(r.info.run_id, "plots")}
        assert arts == {"plots/solution.png", "plots/curves.png"}
        assert [a.path for a in client.list_artifacts(r.info.run_id, "weights")] == \
            ["weights/state.pt"]
    assert max(len(x) for x in steps) == 3 and [10, 20, 30] in steps  # one row per report
    summary_files = {a.path for a in client.list_artifacts(m["parent_run_id"], "summary")}
    assert {"summary/summary.csv", "summary/summary.txt", "summary/summary.json"} <= summary_files
    assert "best/mse" in client.get_run(m["parent_run_id"]).data.metrics


BAD = [
    (["sho", "--trials", "0"], "--trials"),
    (["sho", "--seeds", "-1"], "--seeds"),
    (["sho", "--iterations", "zero"], "--iterations"),
    (["sho", "--method", "gam"], "--method"),
    (["sho", "--objective", "mean"], "--objective"),
    (["sho", "--max-concurrent", "0"], "--max-concurrent"),
    (["sho", "--cpus-per-trial", "0"], "--cpus-per-trial"),
    (["sho", "--gpus-per-trial", "-0.5"], "--gpus-per-trial"),
    (["sho", "--gpus-per-trial", "1.5"], "--gpus-per-trial"),
    (["sho", "--address", ""], "--address"),
    (["sho", "--tracking-uri", "postgres2://x"], "--tracking-uri"),
    (["sho", "--resume", "/nonexistent/sweep"], "--resume"),
    (["sho", "--summary-json", "/nonexistent/dir/s.json"], "--summary-json"),
    (["sho", "--seed", "-3"], "--seed"),
    (["shoo"], "problem"),
    (["sho", "--bogus"], "unrecognized"),
]


@pytest.mark.parametrize("argv,word", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_option_is_one_line_before_ray(argv, word, capsys, tmp_path, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gansweep: error:") and "\n" not in err and word in err
    assert not ray.is_initialized()
    assert list(tmp_path.iterdir()) == []  # no store created either


def test_bad_option_from_the_script_exits_2():
    proc = subprocess.run([sys.executable, str(ROOT / "sweeps" / "exp_sweep.py"), "--trials", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--trials" in proc.stderr


def test_options_resolve_to_absolute_stores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = plan(["sho", "--tracking-uri", "sqlite:///rel.db", "--storage-path", "rel_results"])
    assert p.tracking_uri == f"sqlite:///{tmp_path / 'rel.db'}"
    assert p.storage_path == str(tmp_path / "rel_results")
    d = plan(["sho"])
    assert d.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert d.storage_path == str(tmp_path / "ray_results")


def test_spaces_start_from_the_preset_and_fold_betas():
    p = plan(["sho"])
    space = Space(study_for("sho"), "gan", p.fixed)
    start = space.start_point()
    assert start["G.width"] == p.fixed["G.width"] and start["G.lr"] == p.fixed["G.lr"]
    assert "D.lr" in space.distributions() and "D.lr" not in Space(
        study_for("sho"), "l2", p.fixed).distributions()  # no D for classical losses
    # the first trial (the start point through the space) is exactly the preset config
    import optuna

    from gan_core import Config

    trial = optuna.trial.FixedTrial(start)
    first = Config.from_dict(to_config({**space(trial), **trial.params}))
    assert first == Config.from_dict({**p.fixed, "device": "cpu"})
    cfg = to_config({"G.beta1": 0.5, "G.betas": [0.9, 0.99], "D.beta1": 0.9})
    assert cfg["G.betas"] == [0.5, 0.99] and cfg["D.betas"] == [0.9, 0.999]


def test_objective_is_finite_and_ordered():
    import numpy as np

    mse = np.array([1e-8, 1e-6, np.inf, 1e-7])
    assert objective(mse, 0.25, "median") == pytest.approx(np.log10(np.median(mse)))
    assert objective(mse, 0.25, "worst") == 3.0  # a diverged seed caps, never inf
    assert objective(mse, 0.25, "p90") == 3.0
    assert objective(mse, 0.25, "failure_rate") == 0.25
    assert set(OBJECTIVES) == {"median", "p90", "worst", "failure_rate"}


def test_summary_ranks_full_runs_first_and_finds_the_worst_outlier():
    import math

    import pandas as pd

    from sweeps import summary as S

    df = pd.DataFrame([
        # an early-stopped trial with a good early number must not beat full runs
        {"trial_id": "a", "status": "early-stopped", "iteration": 300, "median_mse": 1e-9,
         "worst_mse": 1e-9, "failure_rate": 0.0, "objective": -9.0, "train_seconds": 1.0,
         "G.lr": 0.01, "seed_0": 1e-9, "seed_1": 1e-9, "config": {"seeds": 2}},
        {"trial_id": "b", "status": "ok", "iteration": 2000, "median_mse": 1e-7,
         "worst_mse": 2.97, "failure_rate": 0.5, "objective": -7.0, "train_seconds": 5.0,
         "G.lr": 0.003, "seed_0": 1e-12, "seed_1": 2.97, "config": {"seeds": 2}},
        {"trial_id": "c", "status": "ok", "iteration": 2000, "median_mse": 1e-8,
         "worst_mse": 2e-8, "failure_rate": 0.0, "objective": -8.0, "train_seconds": 5.0,
         "G.lr": 0.005, "seed_0": 1e-8, "seed_1": 2e-8, "config": {"seeds": 2}},
    ])
    s = S.summarize(df, ["G.lr"])
    assert [t["trial_id"] for t in s["top"]] == ["c", "b", "a"]
    assert s["best"]["trial_id"] == "c" and s["best"]["params"] == {"G.lr": 0.005}
    o = s["worst_outlier"]
    assert (o["trial_id"], o["seed"], o["mse"]) == ("b", 1, 2.97)
    assert math.isclose(o["ratio"], 2.97 / 1e-7)
    assert s["training_seconds"] == 11.0 and s["status_counts"] == {"ok": 2, "early-stopped": 1}
    text = S.table(s)
    assert "Best: c" in text and "Worst outlier: trial b seed 1" in text
