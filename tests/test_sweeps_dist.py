"""Sweeps of distribution problems (issue 5): a smoke sweep of moons and one of digits on one local
Ray for the module, read back from MLflow (the problem's metric names, per-seed sample / digit
figures, the VAE baseline) and through the analysis report (mode-collapse rate per config); the
objective on count metrics; the studies and the summary text."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sweeps.metrics import failure_rule, label, metric_of
from sweeps.spaces import Space, objective, study_for, to_config

# tiny: 2 trials x 2 seeds x 20 iterations, a report every 10 (ASHA's first rung)
TINY = {"trials": 2, "seeds": 2, "iterations": 20, "eval_every": 10, "time_budget": 0}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray for the module, shared by its smoke sweeps."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run(problem: str, tmp, **options) -> dict:
    """A tiny sweep through the Python API (sweeps.sweep), as a notebook would run it."""
    import sweeps

    s, grid = sweeps.sweep(problem, **TINY, storage_path=str(tmp / "ray"),
                           tracking_uri=f"sqlite:///{tmp / 'm.db'}",
                           summary_json=str(tmp / "s.json"), **options)
    assert json.loads((tmp / "s.json").read_text())["metric"] == s["metric"]
    # Tune's ResultGrid: one result per trial, the same trials as the summary
    assert len(grid) == s["num_trials"] and grid.experiment_path == s["ray_results"]
    assert {r.metrics["trial_id"] for r in grid} >= {t["trial_id"] for t in s["top"]}
    return s


@pytest.fixture(scope="module")
def moons(local_ray, tmp_path_factory):
    return _run("moons", tmp_path_factory.mktemp("moons"))


@pytest.fixture(scope="module")
def digits(local_ray, tmp_path_factory):
    return _run("digits", tmp_path_factory.mktemp("digits"), baseline=False)


def _children(s: dict) -> list:
    from mlflow.tracking import MlflowClient

    m = s["mlflow"]
    runs = MlflowClient(m["tracking_uri"]).search_runs([m["experiment_id"]])
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]


def _artifacts(s: dict, run_id: str, folder: str) -> set[str]:
    from mlflow.tracking import MlflowClient

    return {a.path for a in MlflowClient(s["mlflow"]["tracking_uri"]).list_artifacts(run_id, folder)}


# -- the sweeps end to end -------------------------------------------------------------------------------
def test_moons_sweep_logs_the_energy_distance_scatter_plots_and_the_vae_baseline(moons):
    from mlflow.tracking import MlflowClient

    s = moons
    assert s["problem"] == "moons" and s["metric"] == "energy" and s["num_trials"] == 2
    assert s["baseline"]["method"] == "vae" and math.isfinite(s["baseline"]["median_mse"])
    children = _children(s)
    assert len(children) == 2
    for r in children:
        metrics = set(r.data.metrics)
        assert {"eval/energy", "eval/energy_worst", "eval/energy_seed_0", "eval/energy_seed_1",
                "eval/failure_rate", "objective"} <= metrics
        assert not any(k.startswith("eval/mse") for k in metrics)  # no MSE for a distribution
        # the objective (distributions' default, "failures"): the failure rate, ties broken by
        # the median energy distance, e / (1 + e) over the 2 seeds
        e = r.data.metrics["eval/energy"]
        assert r.data.metrics["objective"] == pytest.approx(
            r.data.metrics["eval/failure_rate"] + e / (1 + e) / 2, abs=1e-6)
        assert _artifacts(s, r.info.run_id, "plots") == {"plots/samples.png", "plots/curves.png"}
        assert _artifacts(s, r.info.run_id, "weights") == {"weights/state.pt"}
    parent = s["mlflow"]["parent_run_id"]
    pm = MlflowClient(s["mlflow"]["tracking_uri"]).get_run(parent).data.metrics
    assert {"best/energy", "best/energy_worst", "baseline/energy"} <= set(pm)
    # the VAE's every seed, by the problem's metric name (the report reads these)
    assert [pm[f"baseline/energy_seed_{k}"] for k in range(2)] == \
        pytest.approx(s["baseline"]["seeds"])
    assert "baseline/baseline_vae_samples.png" in _artifacts(s, parent, "baseline")
    text = (_artifact_text(s, parent, "summary/summary.txt"))
    assert "median energy distance" in text and "VAE baseline" in text and "MSE" not in text


def _artifact_text(s: dict, run_id: str, path: str) -> str:
    import tempfile
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as d:
        local = MlflowClient(s["mlflow"]["tracking_uri"]).download_artifacts(run_id, path, d)
        return Path(local).read_text()


def test_digits_sweep_logs_classes_missed_and_digit_grids(digits):
    s = digits
    assert s["metric"] == "classes_missed" and "baseline" not in s
    for r in _children(s):
        m = r.data.metrics
        assert {"eval/classes_missed", "eval/classes_missed_worst", "eval/classes_missed_seed_0",
                "eval/classes_missed_seed_1", "eval/classes_covered", "eval/frechet"} <= set(m)
        # the distributions' default objective, "failures": the failure rate plus the median as
        # it is (a count, not its log) squeezed below one seed's worth (2 seeds here)
        median = m["eval/classes_missed"]
        assert m["objective"] == pytest.approx(m["eval/failure_rate"] + median / (1 + median) / 2)
        assert _artifacts(s, r.info.run_id, "plots") == {"plots/digits.png", "plots/curves.png"}


def test_loader_and_report_on_the_digits_sweep(digits, tmp_path):
    from analysis import load_curves, load_sweep
    from analysis.report import FIGURES, build

    m = digits["mlflow"]
    df = load_sweep(m["experiment_name"], tracking_uri=m["tracking_uri"])
    assert (df["metric"] == "classes_missed").all() and len(df) == 2 * 2
    assert (df["failure_threshold"] == 2.0).all()
    one = _children(digits)[0]
    row = df[(df["trial_id"] == one.data.tags["trial_id"]) & (df["seed"] == 1)].iloc[0]
    assert row["final_mse"] == one.data.metrics["eval/classes_missed_seed_1"]
    curves = load_curves(m["experiment_name"], tracking_uri=m["tracking_uri"])
    assert set(curves["iteration"]) <= {10, 20} and curves["mse"].between(0, 10).all()

    rep = build(df, curves, tmp_path, baseline=True, say=lambda _: None)
    assert rep.errors == {}, rep.errors
    page = rep.path.read_text()
    assert "Failure (mode collapse) rate per config" in page
    assert "mode collapse: fewer than 8 of 10 classes covered (more than 2 missed)" in page
    assert "median classes missed" in page and "GAN vs VAE" in page
    # every figure; the importances' only when the configs' objectives differ (2 trials of 20
    # iterations may both miss the same classes: then the section says so, without an error)
    assert all(f"id='{fig}'" in page for fig in FIGURES if fig != "fig-importance")
    assert ("id='fig-importance'" in page) != ("No importances: every config has the same" in page)


# -- the objective, the studies, the words ------------------------------------------------------------
def test_objective_takes_counts_as_they_are_and_distances_as_log10():
    zeros = np.array([0.0, 0.0, 1.0, 0.0])
    assert objective(zeros, 0.0, "median", "classes_missed") == 0.0  # not log10(0) = -inf / -300
    assert objective(zeros, 0.0, "worst", "modes_missed") == 1.0
    assert objective(np.array([0.0, 0.2]), 0.5, "p90", "code_error") == 0.2
    assert objective(np.array([1.0, np.inf]), 0.5, "worst", "classes_missed") == 1e3  # diverged
    assert objective(np.array([1e-3, 1e-2, 1e-1]), 0.0, "median", "energy") == pytest.approx(-2.0)
    assert objective(np.array([1e-3, 1e-2, 1e-1]), 0.0, "median") == pytest.approx(-2.0)  # mse
    assert objective(zeros, 0.25, "failure_rate", "classes_missed") == 0.25


def test_failures_objective_counts_a_collapsed_seed_whatever_the_median():
    from sweeps.cli import plan
    from sweeps.spaces import objective_name, tie_value

    # ring8, 4 seeds: one collapsed (5 modes missed) leaves the median at 0 modes missed,
    # but costs a quarter here; the tie-break (1 - median high-quality share) stays below that
    one_down = objective(np.array([0.0, 0.0, 0.0, 5.0]), 0.25, "failures", "modes_missed",
                         tie_value({"eval/high_quality": 0.99}, "high_quality"))
    all_up = objective(np.zeros(4), 0.0, "failures", "modes_missed",
                       tie_value({"eval/high_quality": 0.0}, "high_quality"))  # all blurred
    assert objective(np.array([0.0, 0.0, 0.0, 5.0]), 0.25, "median", "modes_missed") == 0.0
    assert 0.25 < one_down < 0.26 and all_up == pytest.approx(0.5 / 4) and all_up < one_down
    sharp = objective(np.zeros(4), 0.0, "failures", "modes_missed",
                      tie_value({"eval/high_quality": 0.97}, "high_quality"))
    assert sharp < all_up  # among equal failure rates, sharper samples rank first
    # no tie-break metric: the primary's median; a diverged median stays below the next failure
    assert objective(np.array([0.01, 0.03]), 0.0, "failures", "energy") == \
        pytest.approx(0.02 / 1.02 / 2)
    assert objective(np.array([np.inf, np.inf]), 0.5, "failures", "energy") < 1.0
    assert tie_value({}, "high_quality") is None and tie_value({"eval/x": 1.0}, None) is None
    assert objective_name("failures", "modes_missed", "high_quality") == \
        "failure rate over seeds, ties by the median 1 - high-quality share"
    # the default objective: failures for distributions, the median for equations
    assert plan(["ring8"]).objective == plan(["moons"]).objective == "failures"
    assert plan(["sho"]).objective == "median" and plan(["ring8", "--objective",
                                                         "median"]).objective == "median"
    # the mixtures' default sweeps are their own size: a preset trial is minutes, not seconds
    ring, grid = plan(["ring8"]), plan(["grid25"])
    assert (ring.trials, ring.fixed["seeds"], ring.time_budget) == (16, 4, 1800)
    assert (grid.trials, grid.fixed["seeds"], grid.time_budget) == (12, 4, 2700)
    assert plan(["ring8", "--trials", "5"]).trials == 5  # the options still win
    # a seed that covers every class ranks before one that misses one: order kept
    assert objective(np.array([0.0]), 0, "median", "classes_missed") < \
        objective(np.array([1.0]), 0, "median", "classes_missed")


@pytest.mark.parametrize("problem", ["moons", "moons_cgan", "digits", "ring8", "grid25", "gauss1d",
                                     "gauss2d"])
@pytest.mark.parametrize("method", ["gan", "wgan_gp", "vae"])
def test_distribution_studies_start_at_the_preset_and_suggest_valid_configs(problem, method):
    import optuna

    from gan_core import Config
    from sweeps.cli import plan

    p = plan([problem, "--method", method])
    space = Space(study_for(problem), method, p.fixed)
    dists = space.distributions()
    start = space.start_point()
    assert start, f"the {problem} preset lies outside its study"
    trial = optuna.trial.FixedTrial(start)
    first = Config.from_dict(to_config({**space(trial), **trial.params}))
    assert first == Config.from_dict({**p.fixed, "device": "cpu"})  # trial 1 is the preset
    if "G.activation" in dists:
        assert "sin" not in dists["G.activation"].choices  # a sampler, not an oscillator
    if method == "vae":  # the encoder sits in D's slot; no G:D ratio
        assert {"kl_weight", "D.width", "D.lr"} <= set(dists) and "d_iters" not in dists
    else:
        assert "d_iters" in dists and ("gp_weight" in dists) == (method == "wgan_gp")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        t = study.ask()
        Config.from_dict(to_config({**space(t), **t.params}))  # every suggestion is a valid config


def test_metric_words_and_summary_text():
    from sweeps import summary as S

    assert [metric_of(p) for p in ("sho", "moons", "ring8", "digits")] == \
        ["mse", "energy", "modes_missed", "classes_missed"]
    assert label("energy") == "energy distance" and label("mse") == "MSE"
    assert failure_rule("ring8") == ("mode collapse: fewer than 7 of 8 modes covered (more than "
                                     "1 missed), or non-finite (diverged: NaN/inf)")
    assert failure_rule("ring8", metric="reverse_kl").startswith(
        "failed: reverse KL of the mode histogram above 0.1")
    assert failure_rule("grid25", metric="energy") == (
        "failed: energy distance to held-out real samples above 0.03, or non-finite (diverged: NaN/inf)")
    assert metric_of("ring8", "reverse_kl") == "reverse_kl" and metric_of("ring8", None) == \
        "modes_missed"
    assert S.baseline_method("moons") == "vae" and S.baseline_method("sho") == "l2"
    assert S.baseline_method("moons_infogan") is None  # no VAE counterpart of a recovered code
    row = {"trial_id": "a", "status": "ok", "iteration": 20, "median_mse": 0.0, "worst_mse": 3.0,
           "failure_rate": 0.5, "params": {}}
    text = S.table({"metric": "classes_missed", "num_trials": 1, "status_counts": {"ok": 1},
                    "top": [row], "best": {**row, "config": {"seeds": 2}},
                    "baseline": {"method": "vae", "median_mse": 1.0, "worst_mse": 2.0,
                                 "failure_rate": 0.0}})
    assert "median classes missed" in text and "MSE" not in text
    assert "Best: a  median classes missed 0 over 2 seeds, worst 3" in text
    assert "VAE baseline (vae on the best config's networks): median classes missed 1" in text
