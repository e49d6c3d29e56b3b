"""analysis/: the loader (MLflow == Tune's folder), failure / outlier tables on hand-made frames with
known answers, the report command and the notebooks on one smoke sweep made once per session."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import (best_and_worst, best_configs, budget_ran, compare_methods, convergence,
                      early_stops, failure_rates, load_curves, load_sweep, param_importance,
                      with_failures, worst_outliers)

ROOT = Path(__file__).resolve().parents[1]
INF, NAN = math.inf, math.nan


# -- one smoke sweep per session ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def sweep(tmp_path_factory) -> dict:
    """`python sweeps/exp_sweep.py --smoke-test` (3 trials x 2 seeds x 30 iterations) into temp
    stores; its summary JSON says where MLflow and Tune put the results."""
    d = tmp_path_factory.mktemp("sweep").resolve()
    summary = d / "summary.json"
    # the store is named by MLflow's own variable, not --tracking-uri: the sweep logs there, and
    # the report and the notebooks below find it the same way
    store = f"sqlite:///{d / 'stores' / 'mlflow.db'}"
    (d / "stores").mkdir()
    cmd = [sys.executable, str(ROOT / "sweeps" / "exp_sweep.py"), "--smoke-test",
           "--storage-path", str(d / "ray"), "--summary-json", str(summary)]
    proc = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=400,
                          env={**os.environ, "MLFLOW_TRACKING_URI": store})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(summary.read_text())
    assert out["mlflow"]["tracking_uri"] == store and not (d / "mlflow.db").exists()
    return {"dir": d, "summary": out, "tracking_uri": out["mlflow"]["tracking_uri"],
            "experiment": out["mlflow"]["experiment_name"], "tune": out["ray_results"]}


@pytest.fixture(scope="session")
def frames(sweep) -> tuple[pd.DataFrame, pd.DataFrame]:
    from_mlflow = load_sweep(sweep["experiment"], tracking_uri=sweep["tracking_uri"])
    from_tune = load_sweep(sweep["tune"])
    return from_mlflow, from_tune


# -- loading ---------------------------------------------------------------------------------------
def test_loader_mlflow_and_tune_give_identical_frames(sweep, frames):
    from_mlflow, from_tune = frames
    pd.testing.assert_frame_equal(from_mlflow, from_tune)
    s = sweep["summary"]
    fixed_seeds = 2  # sweeps' SMOKE budget
    assert len(from_tune) == s["num_trials"] * fixed_seeds
    assert set(from_tune["seed"]) == {0, 1}
    assert (from_tune["failure_threshold"] == 1e-4).all()  # gan_core's Exp.failure_threshold
    assert set(from_tune["status"]) <= {"ok", "diverged", "early-stopped", "error"}
    # the loader's per-config median is the sweep's own eval/mse
    med = from_tune.groupby("trial_id")["final_mse"].median()
    for t in s["top"]:
        assert med[t["trial_id"]] == pytest.approx(t["median_mse"], rel=1e-12)
    assert from_tune.attrs["parent_run_id"] == from_mlflow.attrs["parent_run_id"] == \
        s["mlflow"]["parent_run_id"]


def test_curves_mlflow_and_tune_agree(sweep):
    a = load_curves(sweep["experiment"], tracking_uri=sweep["tracking_uri"])
    b = load_curves(sweep["tune"])
    pd.testing.assert_frame_equal(a, b)
    last = b.sort_values("iteration").groupby(["trial_id", "seed"])["mse"].last()
    f = load_sweep(sweep["tune"]).set_index(["trial_id", "seed"])["final_mse"]
    np.testing.assert_array_equal(last.sort_index().to_numpy(), f.sort_index().to_numpy())


def test_loader_names_what_is_missing(sweep):
    from analysis import SweepNotFound

    with pytest.raises(SweepNotFound, match="no MLflow experiment 'nope'.*gansweep-exp"):
        load_sweep("nope", tracking_uri=sweep["tracking_uri"])


# -- read-only: reading a sweep never creates a store ---------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reading_where_there_is_no_store_creates_none(tmp_path, monkeypatch, capsys):
    """The report and the loaders fail with one line and leave the folder as it was: MLflow's
    client would create an empty ~1 MB sqlite store (or a file store's folder) on opening it.
    The fix is named as the caller knows it: an option on the command line, an argument in
    Python."""
    from analysis import SweepNotFound, load_curves
    from analysis.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "notes.db").write_text("not a database")  # a stray file named like a store
    before = sorted(p.name for p in tmp_path.iterdir())
    stores = [None, f"sqlite:///{tmp_path / 'notes.db'}", f"file://{tmp_path / 'mlruns'}",
              f"http://127.0.0.1:{_free_port()}", "redis://cache:6379"]
    for uri in stores:
        argv = ["report", "gansweep-logistic"] + (["--tracking-uri", uri] if uri else [])
        assert main(argv) == 2, uri
        err = capsys.readouterr().err.strip()
        assert err.startswith("analysis: error: ") and "\n" not in err, err
        assert "--tracking-uri" in err and "tracking_uri=" not in err, err
        for load in (load_sweep, load_curves):
            with pytest.raises(SweepNotFound) as e:
                load("gansweep-logistic", tracking_uri=uri)
            assert "tracking_uri=" in str(e.value) and "--tracking-uri" not in str(e.value)
            assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "notes.db").read_text() == "not a database"


@pytest.mark.parametrize("name", ["failure_rates", "gan_vs_classical"])
def test_a_notebook_without_its_variables_creates_no_store(name, tmp_path, monkeypatch):
    """Run as a user opens it (from analysis/, no GANSWEEP_* or MLflow variable): its default
    store is mlflow.db in the folder above; there is none, so its loading cell fails naming
    tracking_uri (Python's words), and none is created. A copy of the checkout's notebook in a
    folder of its own, so that a store of the checkout's own root cannot answer."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    for key in list(os.environ):
        if key.startswith("GANSWEEP_") or key == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(key)
    for key, value in _env().items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    (tmp_path / "analysis").mkdir()
    nb = nbformat.read(ROOT / "analysis" / f"{name}.ipynb", as_version=4)
    loading = next(i for i, c in enumerate(nb.cells) if "load_sweep(SOURCE" in c.source)
    nb.cells = nb.cells[:loading + 1]  # up to the cell that opens the store
    with pytest.raises(CellExecutionError) as e:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path / "analysis")}}).execute()
    said = str(e.value)
    assert "SweepNotFound" in said and f"no MLflow store at sqlite:///{tmp_path / 'mlflow.db'}" \
        in said and "tracking_uri='sqlite:///PATH'" in said and "--tracking-uri" not in said
    assert [p.name for p in tmp_path.iterdir()] == ["analysis"]
    assert list((tmp_path / "analysis").iterdir()) == []


# -- failure rates and outliers on hand-made frames -----------------------------------------------
def _frame(mses: dict[str, list[float]], method: str = "gan", problem: str = "exp") -> pd.DataFrame:
    rows = [{"trial_id": t, "seed": k, "problem": problem, "method": method, "final_mse": m}
            for t, ms in mses.items() for k, m in enumerate(ms)]
    return pd.DataFrame(rows)


def test_failure_rates_known_answers():
    # the seed notebook's ten GAN runs; exp's threshold is 1e-4, so only the 2.97 run failed
    notebook = [2.4e-12, 5.9e-15, 8.5e-13, 2.968, 6.3e-13, 6.3e-10, 4.0e-12, 6.7e-5, 1.5e-14,
                7.9e-16]
    df = _frame({"nb": notebook, "none": [1e-8] * 4, "all": [1.0, 2.0, 5.0, 1e3],
                 "bad": [NAN, INF, 1e-9, 1e-9]})
    r = failure_rates(df).set_index("trial_id")
    assert r.loc["nb", "failed"] == 1 and r.loc["nb", "failure_rate"] == pytest.approx(0.1)
    assert r.loc["none", "failure_rate"] == 0.0 and r.loc["none", "outliers"] == 0
    assert r.loc["all", "failure_rate"] == 1.0
    assert r.loc["bad", "failed"] == 2 and r.loc["bad", "diverged"] == 2  # NaN and inf
    assert r.loc["bad", "worst_mse"] == INF and r.loc["bad", "median_mse"] == INF
    # outliers: > 100x the config's median
    # median 1.6e-12: 6.3e-10, 6.7e-5 and 2.97 are all more than 100x above it
    assert r.loc["nb", "outliers"] == 3
    assert r.loc["all", "outliers"] == 1  # 1e3 > 100 x median 3.5
    assert r.loc["bad", "outliers"] == 0  # median inf: nothing stands out from it
    # p90 takes the higher neighbour (as the sweeps' objective): of 10 seeds, position 8.1 -> 10th
    assert r.loc["nb", "p90_mse"] == 2.968
    by_method = failure_rates(df, by="method")
    assert by_method.loc[0, "seeds"] == 22 and by_method.loc[0, "failed"] == 1 + 0 + 4 + 2
    # every rate with its 95% Wilson interval: 0 of 4 is [0, z^2/(4+z^2)] = [0, 49%], not 0%;
    # 4 of 4 mirrors it; 1 of 10 (the notebook's worst GAN) is 1.8%-40%
    z2 = 1.959963984540054 ** 2
    assert (r.loc["none", "failure_rate_low"], r.loc["none", "failure_rate_high"]) == \
        (0.0, pytest.approx(z2 / (4 + z2)))
    assert (r.loc["all", "failure_rate_low"], r.loc["all", "failure_rate_high"]) == \
        (pytest.approx(4 / (4 + z2)), 1.0)
    assert r.loc["nb", ["failure_rate_low", "failure_rate_high"]].tolist() == \
        pytest.approx([0.01788, 0.40415], abs=1e-5)
    assert (by_method["failure_rate_low"] < by_method["failure_rate"]).all()


def test_a_seed_that_blew_up_is_as_failed_as_a_nan_and_the_rule_is_said():
    """gan_core's one rule (non-finite or above the threshold) in every count: a seed at MSE 8e33
    is failed; "diverged" is only the non-finite part of the rule, and the tables and plots say
    which part each failed seed broke."""
    from analysis import failure_rules
    from analysis.plots import hist_log_mse, plot_ecdf, pyplot

    df = pd.concat([_frame({"g": [1e-12, 8e33, INF, 2e-12]}),
                    _frame({"l": [1e-9, 1e-9, 2e-9, 5e-3]}, method="l2")], ignore_index=True)
    c = compare_methods(df).set_index("method")
    assert c.loc["gan", ["failed", "diverged", "above_threshold"]].tolist() == [2, 1, 1]
    assert c.loc["gan", "failure_rate"] == 0.5 and c.loc["l2", "above_threshold"] == 1
    for table in (c, failure_rates(df).set_index("trial_id")):
        assert (table["failed"] == table["diverged"] + table["above_threshold"]
                + table["abandoned"]).all()
    (rule,) = failure_rules(df)
    assert rule.startswith("exp: failed: final MSE above 0.0001") and "non-finite" in rule
    for plot in (hist_log_mse, plot_ecdf):
        fig = plot(df)
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(t.startswith("GAN (4 seeds") and "2 failed (1 diverged)" in t
                   for t in legend), legend
        assert any(t.startswith("Lagaris (l2) (4 seeds") and "1 failed (0 diverged)" in t
                   for t in legend), legend
        assert any("failed: above it or non-finite" in t for t in legend), legend
        pyplot().close(fig)


def test_outlier_ratio_and_nan_inf_seeds():
    df = _frame({"a": [1e-12, 2e-12, 3e-12, INF], "z": [0.0, 0.0, 0.0, 1e-20],
                 "n": [NAN, NAN, NAN, NAN]})
    f = with_failures(df).set_index(["trial_id", "seed"])
    assert f.loc[("a", 3), "outlier"] and f.loc[("a", 3), "ratio"] == INF
    assert not f.loc[("a", 0), "outlier"]
    assert f.loc[("z", 0), "ratio"] == 1.0 and f.loc[("z", 3), "outlier"]  # median 0
    assert f.loc[("n", 0), "failed"] and not f.loc[("n", 0), "outlier"]
    worst = worst_outliers(df, n=2)
    assert list(zip(worst["trial_id"], worst["seed"])) in ([("a", 3), ("z", 3)],
                                                           [("z", 3), ("a", 3)])
    assert worst["outlier"].all()


def test_thresholds_come_from_the_problem_class_unless_given():
    from gan_core import PROBLEMS

    df = pd.concat([_frame({"p": [5e-5]}, problem="pos"), _frame({"b": [5e-3]}, problem="burgers")])
    f = with_failures(df).set_index("trial_id")
    assert f.loc["p", "failure_threshold"] == PROBLEMS["pos"].failure_threshold
    assert f.loc["p", "failed"] and not f.loc["b", "failed"]
    own = df.assign(failure_threshold=[1e-3, 1e-3])
    assert not with_failures(own).set_index("trial_id").loc["p", "failed"]


def test_best_configs_and_method_comparison():
    gan = _frame({"g1": [1e-12, 1e-12, 1e-12, 3.0], "g2": [1e-9, 1e-9, 2e-9, 2e-9]})
    lag = _frame({"l": [1e-8, 2e-8, 3e-8, 4e-8]}, method="l2")
    df = pd.concat([gan, lag], ignore_index=True)
    assert best_configs(df, by="median").loc[0, "trial_id"] == "g1"
    assert best_configs(df, by="worst").loc[0, "trial_id"] == "g2"
    assert best_configs(df, by="p90").loc[0, "trial_id"] == "g2"
    c = compare_methods(df).set_index("method")
    assert c.loc["gan", "failure_rate"] == pytest.approx(1 / 8)
    assert c.loc["l2", "failure_rate"] == 0.0 and c.loc["l2", "vs_baseline"] == 1.0
    assert c.loc["gan", "vs_baseline"] < 1  # the GAN's median beats Lagaris, its worst does not
    assert list(c.index) == ["gan", "l2"]


# -- like with like: trials stopped early are not failures ------------------------------------------
def _budgeted(trials: dict[str, tuple[str, int, list[float]]], iterations: int = 2000,
              problem: str = "sho") -> pd.DataFrame:
    """A sweep-like frame: trial -> (status, iteration reached, per-seed final MSE)."""
    rows = [{"trial_id": t, "seed": k, "problem": problem, "method": "gan", "status": status,
             "iteration": it, "iterations": iterations, "final_mse": m, "G.lr": 1e-3 * (i + 1)}
            for i, (t, (status, it, ms)) in enumerate(trials.items()) for k, m in enumerate(ms)]
    return pd.DataFrame(rows)


def test_a_sweep_whose_only_failures_were_stopped_early_has_no_failed_seed():
    # sho fails above 1e-4: every seed above it belongs to a trial ASHA stopped at 300 or 900
    df = _budgeted({"full1": ("ok", 2000, [1e-10, 2e-10, 3e-10, 4e-10]),
                    "full2": ("ok", 2000, [1e-9, 2e-9, 1e-9, 3e-9]),
                    "asha1": ("early-stopped", 300, [8.2, 1.0, 0.5, 2e-3]),
                    "asha2": ("early-stopped", 900, [1e-2, 5e-3, 1e-6, 1e-3])})
    assert with_failures(df)["failed"].sum() == 7  # per seed, at the iteration reached
    m = failure_rates(df, by="method").iloc[0]
    assert (m["seeds"], m["failed"], m["failure_rate"], m["early_stopped"]) == (8, 0, 0.0, 8)
    assert m["worst_mse"] == 3e-9  # over the full-budget seeds only
    per = failure_rates(df).set_index("trial_id")
    assert per.loc["asha1", "seeds"] == 0 and math.isnan(per.loc["asha1", "failure_rate"])
    assert per.loc["asha1", "early_stopped"] == 4 and per.loc["full1", "early_stopped"] == 0
    # the old count, every seed at whatever iteration it reached, is still there on request
    everything = failure_rates(df, by="method", budget="all").iloc[0]
    assert (everything["seeds"], everything["failed"]) == (16, 7)
    # the trials stopped early, latest stop first, with their numbers where they stopped
    stops = early_stops(df)
    assert list(stops["trial_id"]) == ["asha2", "asha1"]
    assert list(stops["iteration"]) == [900, 300] and list(stops["seeds"]) == [4, 4]
    assert stops.set_index("trial_id").loc["asha1", "worst_mse"] == 8.2
    # a sweep where every trial stopped early: no failed seed, no failure rate, N early stops
    none = failure_rates(df[df["status"] == "early-stopped"], by="method").iloc[0]
    assert (none["seeds"], none["failed"], none["early_stopped"]) == (0, 0, 8)
    assert math.isnan(none["failure_rate"])


def test_a_diverged_trial_ended_early_but_its_seeds_are_failures():
    df = _budgeted({"ok": ("ok", 2000, [1e-9, 1e-9]),
                    "div": ("diverged", 500, [INF, NAN]),  # every seed: the trial ended at 500
                    "asha": ("early-stopped", 500, [INF, 1e-6])})  # one seed diverged, then ASHA
    per = failure_rates(df).set_index("trial_id")
    assert per.loc["div", "seeds"] == 2 and per.loc["div", "failure_rate"] == 1.0
    assert per.loc["div", "diverged"] == 2 and per.loc["div", "early_stopped"] == 0
    assert per.loc["asha", "seeds"] == 0 and per.loc["asha", "early_stopped"] == 2
    m = failure_rates(df, by="method").iloc[0]
    assert (m["seeds"], m["failed"], m["diverged"], m["early_stopped"]) == (4, 2, 2, 2)
    stops = early_stops(df)
    assert list(stops["trial_id"]) == ["asha"] and stops.loc[0, "diverged"] == 1
    # the diverged trial's result stands for its whole budget; the early stop's for 500
    assert list(budget_ran(df).groupby(df["trial_id"]).first().sort_index()) == [500, 2000, 2000]
    assert list(compare_methods(df)["iterations"]) == ["2000"]


def test_the_worst_run_is_a_full_budget_seed_even_when_an_early_stop_is_worse():
    # full_a's seed 3 is 20000x its siblings after 2000 iterations; asha's seed 0 has a larger
    # MSE and a larger ratio, but only after 300 iterations
    df = _budgeted({"full_a": ("ok", 2000, [1e-10, 1e-10, 1e-10, 2e-6]),
                    "full_b": ("ok", 2000, [1e-9, 2e-9, 3e-9, 4e-9]),
                    "asha": ("early-stopped", 300, [1e3, 1e-6, 1e-6, 1e-6])})
    w = worst_outliers(df, n=2)
    assert (w.loc[0, "trial_id"], w.loc[0, "seed"]) == ("full_a", 3) and w.loc[0, "outlier"]
    assert (w.loc[0, "status"], w.loc[0, "iteration"]) == ("ok", 2000)  # the budget it ran
    assert "asha" not in set(w["trial_id"])
    apart = worst_outliers(df, n=1, budget="stopped")
    assert (apart.loc[0, "trial_id"], apart.loc[0, "seed"], apart.loc[0, "iteration"]) == \
        ("asha", 0, 300)
    assert worst_outliers(df, n=1, budget="all").loc[0, "trial_id"] == "asha"
    ends = best_and_worst(df)
    assert (ends.loc["worst", "trial_id"], ends.loc["worst", "seed"]) == ("full_a", 3)
    assert (ends.loc["best", "trial_id"], ends.loc["best", "seed"]) == ("full_a", 0)
    assert best_and_worst(df, "all").loc["worst", "trial_id"] == "asha"
    assert best_and_worst(df[df["status"] == "ok"].iloc[:0]).empty


def test_budget_and_status_errors_name_the_value_and_the_fix():
    df = _budgeted({"a": ("ok", 2000, [1e-9])})
    with pytest.raises(ValueError, match=r"status 'done' in the frame: expected one of ok, "
                                         r"diverged, early-stopped, error"):
        failure_rates(df.assign(status="done"))
    with pytest.raises(ValueError, match=r"budget = 'stopped': expected one of full, all"):
        failure_rates(df, budget="stopped")
    with pytest.raises(ValueError, match=r"budget = 'half': expected one of full, stopped, all"):
        worst_outliers(df, budget="half")


def test_report_counts_early_stops_apart(tmp_path):
    from analysis.report import build

    df = _budgeted({"full1": ("ok", 2000, [1e-10, 2e-10, 3e-10, 4e-10]),
                    "full2": ("ok", 2000, [1e-9, 2e-9, 1e-9, 3e-9]),
                    "asha1": ("early-stopped", 300, [8.2, 1.0, 0.5, 2e-3]),
                    "asha2": ("early-stopped", 900, [1e-2, 5e-3, 1e-6, 1e-3]),
                    "asha3": ("early-stopped", 300, [1.0, 1.0, 1.0, 1.0])})
    df = df.assign(sweep="handmade")
    curves = pd.DataFrame({"sweep": "handmade", "trial_id": "full1", "seed": [0, 1, 0, 1],
                           "iteration": [1000, 1000, 2000, 2000], "mse": [1e-6, 1e-6, 1e-10, 2e-10],
                           "g_loss": 0.7, "d_loss": 0.7})
    rep = build(df, curves, tmp_path, baseline=False, say=lambda _: None)
    # a hand-made frame has no checkpoints to draw the best and worst runs from
    assert set(rep.errors) == {"best-worst"}
    page = rep.path.read_text()
    assert "0 of 8 seeds of the 2 trials that ran their full budget (0%, 95% CI 0-32%)" in page
    # each config's rate with its Wilson interval (0 of 4: 0-49%); the per-seed ECDF drawn
    assert "failure_rate_low" in page and "<td>49%</td>" in page and "id='fig-ecdf'" in page
    assert ("12 seeds of 3 trials stopped by ASHA or the time budget, at iteration 300 "
            "(2 trials), 900 (1 trial): not counted as failures") in page
    assert "<h2>Stopped early (not counted as failures)</h2>" in page
    assert "11 of 20" not in page  # the old count: every seed above 1e-4, whatever its budget


def test_the_report_page_fits_its_window_and_says_when_importances_mean_nothing(tmp_path):
    """What a browser needs to keep the page at the window's width: every table in a box that
    scrolls sideways, cells that never wrap a value, no fixed width; the overview left-aligned.
    And with 2 full-budget trials the importances come with a warning, not as a 3-digit table."""
    import re

    from analysis.report import MIN_IMPORTANCE_TRIALS, build

    trials = {f"full{i}": ("ok", 2000, [10.0 ** -(i + 8)] * 2) for i in range(2)}
    trials.update({f"asha{i}": ("early-stopped", 300, [1e-3 * (i + 1)] * 2) for i in range(3)})
    df = _budgeted(trials).assign(sweep="sho-gan-20261203-093404", **{"D.lr": 0.002})
    df["G.width"] = [20, 20, 40, 40, 20, 20, 64, 64, 40, 40]
    curves = pd.DataFrame({"sweep": df["sweep"].iloc[0], "trial_id": "full1", "seed": [0, 1],
                           "iteration": 2000, "mse": 1e-9, "g_loss": 0.7, "d_loss": 0.7})
    page = build(df, curves, tmp_path, baseline=False, say=lambda _: None).path.read_text()
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    body = page.split("</style>", 1)[1]
    tables = re.findall(r"(.{0,30})<table[^>]*class=\"([^\"]+)\"", body, flags=re.S)
    assert len(tables) >= 10 and all(before.endswith("<div class='box'>") for before, _ in tables)
    assert re.search(r"\.box \{[^}]*max-width: 100%;[^}]*overflow-x: auto;", style)
    assert re.search(r"table\.t td, table\.t th \{[^}]*white-space: nowrap;", style)
    # no width fixed anywhere (a table or a box wider than the window widens the page); the
    # body's max-width is a cap, not a width
    assert not re.search(r"(?<![-\w])width[:=]", page) and "min-width" not in page
    # the overview: names and sentences, left-aligned, the only "kv" table
    kinds = [cls.split()[-1] for _, cls in tables]  # pandas adds its own "dataframe" class
    assert kinds.count("kv") == 1 and kinds[0] == "kv" and set(kinds) == {"kv", "t"}
    assert re.search(r"table\.kv td \{[^}]*text-align: left;", style)
    # importances: 2 full-budget trials, fewer than the threshold: the warning, grey bars, no table
    assert MIN_IMPORTANCE_TRIALS > 2
    section = body.split("<h2>Hyperparameter importance</h2>", 1)[1]
    assert ("Not meaningful here: 2 trials ran the full budget (importances need "
            f"{MIN_IMPORTANCE_TRIALS} or more), so these bars fit 2 configs") in section
    assert "<table" not in section and "id='fig-importance'" in section


def test_convergence_band_keeps_diverged_seeds():
    curves = pd.DataFrame({"trial_id": "t", "seed": [0, 1, 2, 0, 1, 2],
                           "iteration": [10, 10, 10, 20, 20, 20],
                           "mse": [1.0, 2.0, 3.0, 1e-3, INF, 1e-2]})
    c = convergence(curves, q=(0.1, 0.9)).set_index("iteration")
    assert c.loc[10, "median"] == 2.0 and c.loc[10, "p10"] == 1.0 and c.loc[10, "p90"] == 3.0
    assert c.loc[20, "median"] == 1e-2 and c.loc[20, "p90"] == INF


def test_param_importance_uses_optuna_and_sums_to_one():
    rng = np.random.default_rng(0)
    rows = []
    for t in range(12):
        lr, width = float(10 ** rng.uniform(-4, -2)), int(rng.choice([10, 20, 40]))
        for k in range(3):  # the MSE depends on lr only
            rows.append({"trial_id": f"t{t}", "seed": k, "problem": "exp", "method": "gan",
                         "final_mse": lr ** 4 * (1 + 0.01 * k), "G.lr": lr, "G.width": width})
    imp = param_importance(pd.DataFrame(rows)).set_index("param")["importance"]
    assert imp.sum() == pytest.approx(1.0)
    assert imp["G.lr"] > imp["G.width"]


def test_param_importance_with_every_config_alike_is_nothing_to_explain():
    """Configs that all reach the same objective leave importances nothing to share out: a
    NothingToExplain (a ValueError) naming the value, which the report shows as a note."""
    from analysis.tables import NothingToExplain

    rows = [{"trial_id": f"t{t}", "seed": k, "problem": "digits", "method": "gan",
             "final_mse": 9.5, "G.lr": 10.0 ** -t} for t in range(1, 4) for k in range(2)]
    with pytest.raises(NothingToExplain, match=r"same median objective \(9.5\)"):
        param_importance(pd.DataFrame(rows), objective="median")


def test_param_importance_on_the_sweep(frames):
    _, df = frames
    imp = param_importance(df, complete_only=False)
    assert len(imp) >= 1 and imp["importance"].sum() == pytest.approx(1.0)


# -- report and notebooks on the smoke sweep ---------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # the checkout first: an older editable install may not know analysis/ is a package yet
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    env.update(extra)
    return env


def test_report_command_writes_html_with_every_figure_and_logs_it(sweep, tmp_path):
    from mlflow.tracking import MlflowClient

    from analysis.report import FIGURES

    out = tmp_path / "report"
    # the store from MLflow's own variable (no --tracking-uri), as the sweeps read it
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "report", sweep["experiment"], "--out", str(out)],
        cwd=tmp_path, env=_env(MLFLOW_TRACKING_URI=sweep["tracking_uri"]), capture_output=True,
        text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    page = (out / "report.html").read_text()
    for fig in FIGURES:
        assert f"id='{fig}' alt='{fig}' src='data:image/png;base64," in page, fig
        assert (out / f"{fig}.png").stat().st_size > 0, fig
    assert "Could not draw" not in page
    assert "Worst outliers" in page and "GAN vs classical losses" in page
    # the sweep logged its Lagaris baseline: the report reads it back and trains nothing
    base = sweep["summary"]["baseline"]
    assert "report: training" not in proc.stdout and "nothing to train" in proc.stdout
    assert (f"The baseline the sweep trained and logged (read back, not trained again): l2 on "
            f"the networks of trial {sweep['summary']['best']['trial_id']}") in page
    assert f"{len(base['seeds'])} seeds x {base['iterations']} iterations" in page
    assert _confirmation_row(sweep) in page  # read back from the parent run
    parent = sweep["summary"]["mlflow"]["parent_run_id"]
    logged = [a.path for a in MlflowClient(sweep["tracking_uri"]).list_artifacts(parent, "report")]
    assert logged == ["report/report.html"]


def _confirmation_row(sweep: dict) -> str:
    """The report's overview row of the sweep's best config on fresh seeds, from its summary."""
    import html

    from sweeps.metrics import fmt, rate_text

    c = sweep["summary"]["confirm"]
    n = len(c["seeds"])
    if not all(math.isfinite(v) for v in c["seeds"]):
        return html.escape(f"Trained again on {n} fresh seeds, which no trial used")
    return html.escape(f"Trained again on {n} fresh seeds, which no trial used, so the figure is "
                       f"free of the selection: median MSE {fmt('mse', c['median_mse'])}, worst "
                       f"{fmt('mse', c['worst_mse'])}, failure rate "
                       f"{rate_text(round(c['failure_rate'] * n), n)}.")


def test_the_fresh_seeds_line_is_a_sentence_even_when_seeds_diverged():
    from analysis.report import _fresh_text  # the overview's line, on values that need words

    assert _fresh_text([1e-9, 3e-9], 0.0, "MSE", "mse") == (
        "Trained again on 2 fresh seeds, which no trial used, so the figure is free of the "
        "selection: median MSE 2.00e-09, worst 3.00e-09, failure rate 0% (95% CI 0-66%).")
    one = _fresh_text([1e-9, 2e-9, INF], 1 / 3, "MSE", "mse")
    assert one.endswith("median MSE 2.00e-09, 1 of 3 diverged, failure rate 33% (95% CI 6-79%).")
    half = _fresh_text([1e-9, INF], 0.5, "MSE", "mse")
    assert "no finite median MSE (half or more diverged), 1 of 2 diverged" in half
    every = _fresh_text([INF, INF], 1.0, "MSE", "mse")
    assert every.endswith("selection: every seed diverged (failure rate 100% (95% CI 34-100%)).")
    assert not any("inf" in t for t in (one, half, every))


@pytest.mark.parametrize("name", ["failure_rates", "gan_vs_classical"])
def test_notebook_executes(sweep, name, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    # the store: the notebook's own parameter, or MLflow's variable when that is unset
    store = {"failure_rates": "MLFLOW_TRACKING_URI",
             "gan_vs_classical": "GANSWEEP_TRACKING_URI"}[name]
    monkeypatch.delenv("GANSWEEP_TRACKING_URI", raising=False)
    for key, value in _env(GANSWEEP_SOURCE=sweep["experiment"], **{store: sweep["tracking_uri"]},
                           GANSWEEP_SEEDS="3", GANSWEEP_ITERATIONS="20").items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    nb = nbformat.read(ROOT / "analysis" / f"{name}.ipynb", as_version=4)
    # nbclient raises CellExecutionError on the first cell that errors
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "analysis")}}).execute()
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 4
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "exp: failed: final MSE above 0.0001" in printed and "non-finite (diverged" in printed


def test_tune_storage_folder_and_report_sections_from_tune(sweep, frames, tmp_path, monkeypatch):
    from analysis.report import FIGURES, build

    _, from_tune = frames
    storage = Path(sweep["tune"]).parent  # the --storage-path: the newest sweep in it
    pd.testing.assert_frame_equal(load_sweep(storage), from_tune)
    pd.testing.assert_frame_equal(load_sweep(storage, sweep="all"), from_tune)
    # the report from Tune's folder: weights come from Tune's checkpoints, and the baseline is
    # the one the sweep logged in its summary/summary.json: no training (gan_core.train fails
    # here unless it only evaluates a checkpoint)
    import gan_core

    def no_training(cfg, *args, **kwargs):
        raise AssertionError(f"the report trained {cfg.method}: it should read the logged one")

    monkeypatch.setattr(gan_core, "train", no_training)
    said: list[str] = []
    rep = build(from_tune, load_curves(sweep["tune"]), tmp_path, say=said.append)
    assert rep.errors == {}
    page = rep.path.read_text()
    assert all(f"id='{fig}'" in page for fig in FIGURES)
    base = sweep["summary"]["baseline"]
    assert (f"The baseline the sweep trained and logged (read back, not trained again): l2 on "
            f"the networks of trial {sweep['summary']['best']['trial_id']}") in page
    assert any("nothing to train" in line for line in said)
    assert f"{len(base['seeds'])} seeds x {base['iterations']} iterations" in page
    assert _confirmation_row(sweep) in page  # read back from summary.json
    # each figure is a file beside the page too, the ECDF among them
    assert {f"{fig}.png" for fig in FIGURES} <= {p.name for p in tmp_path.iterdir()}


def test_compare_same_network_and_budget(tmp_path, capsys):
    from analysis.compare import configs, run

    cfgs = configs("exp", seeds=3, iterations=20, methods=("gan", "l2", "huber"))
    gan = cfgs["gan"]
    for m, cfg in cfgs.items():  # only the method differs
        assert cfg.method == m and cfg.replace(method="gan") == gan
    c = run(problem="exp", seeds=2, iterations=20, out=tmp_path, methods=("gan", "l2"))
    assert list(c.table["method"]) == ["gan", "l2"]
    assert (c.table["seeds"] == 2).all() and c.frame["iteration"].eq(20).all()
    assert {p.name for p in tmp_path.iterdir()} >= {"exp_histogram.png", "exp_best_worst.png",
                                                   "exp_extrapolation.png"}
    out = capsys.readouterr().out
    assert "final MSE per seed" in out and "vs_baseline" in out
    # every failure rate with its Wilson interval: in the lines, the table
    assert "95% CI" in out and "failure_rate_high" in out
    t = c.table
    assert (t["failure_rate_low"] <= t["failure_rate"]).all()
    assert (t["failure_rate"] <= t["failure_rate_high"]).all()
    assert (t["failure_rate_high"] > t["failure_rate_low"]).all()
    t, preds, ref, end = c.extrapolation("gan")
    assert t.max() == pytest.approx(100.0) and end == pytest.approx(10.0)
    assert all(p.shape == ref.shape for p in preds.values())


@pytest.mark.parametrize("problem", ["sho_system", "burgers", "moons_cgan", "digits"])
def test_a_seed_is_drawn_one_way(problem):
    """The report's best / worst panels are gan_core's drawing of that seed (draw_seed), the one
    its per-trial figures use: the same lines, points and images."""
    from gan_core import train
    from gan_core.plots import draw_seed
    from gan_core.presets import preset

    from analysis.plots import plot_best_worst, pyplot

    r = train(preset(problem, "gan").replace(seeds=2, iterations=2, eval_every=1, device="cpu"))
    fig = plot_best_worst([("best", r, 0), ("worst", r, 1)])
    mine, ax = pyplot().subplots()
    draw_seed(ax, r, 1)
    assert _drawn(fig.axes[1]) == _drawn(ax) and _drawn(ax)
    assert "worst: gan seed 1" in fig.axes[1].get_title()
    pyplot().close(fig)
    pyplot().close(mine)


def _drawn(ax) -> list:  # noqa: ANN001
    """What an axes shows, as comparable numbers: each line's, point set's and image's data."""
    arrays = ([line.get_ydata() for line in ax.lines]
              + [c.get_offsets() for c in ax.collections]
              + [im.get_array() for im in ax.images]
              + [[p.get_height() for p in ax.patches]])
    return [(np.shape(a), float(np.nansum(np.asarray(a, dtype=float)))) for a in arrays]


# -- residual monitoring: restarts and abandoned seeds in every table -----------------------------
def test_abandoned_seeds_are_failed_not_diverged_and_restarts_are_summed():
    df = _frame({"a": [1e-9, INF, 1e-9], "b": [1e-9, 1e-9, INF]})
    df["seed_status"] = ["ok", "abandoned", "ok", "ok", "ok", "diverged"]
    df["restarts"] = [0, 2, 1, 0, 0, 0]
    rates = failure_rates(df).set_index("trial_id")
    assert rates.loc["a", ["failed", "diverged", "abandoned", "restarts"]].tolist() == [1, 0, 1, 3]
    assert rates.loc["b", ["failed", "diverged", "abandoned", "restarts"]].tolist() == [1, 1, 0, 0]
    by_method = failure_rates(df, by="method").iloc[0]
    assert (by_method["failed"], by_method["abandoned"], by_method["restarts"]) == (2, 1, 3)
    # a frame without the monitoring columns (older sweeps, hand-made frames) counts none
    plain = failure_rates(_frame({"a": [1e-9, INF]})).iloc[0]
    assert (plain["diverged"], plain["abandoned"], plain["restarts"]) == (1, 0, 0)
