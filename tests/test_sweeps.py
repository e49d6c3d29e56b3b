"""Sweeps, smoke size: the whole sweep end to end on a local Ray, read back from Tune and MLflow;
and every bad option fails in one line before Ray starts."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import OBJECTIVES, Space, objective
from sweeps.cli import main, plan
from sweeps.spaces import study_for, to_config

ROOT = Path(__file__).resolve().parents[1]


def _sweep(tmp: Path, *extra: str, env: dict[str, str] | None = None, timeout: float = 300
           ) -> subprocess.CompletedProcess:
    """`python sweeps/sho_sweep.py --smoke-test` with its stores in `tmp` (a fresh Ray each)."""
    cmd = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--smoke-test",
           "--storage-path", str(tmp / "ray"), "--summary-json", str(tmp / "summary.json"), *extra]
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_smoke_sweep_end_to_end(tmp_path):
    import math

    import optuna
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    # the store comes from MLflow's own variable (a relative sqlite path: made absolute)
    (tmp_path / "stores").mkdir()
    proc = _sweep(tmp_path, env={"MLFLOW_TRACKING_URI": "sqlite:///stores/m.db"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Top configs" in proc.stdout and "Lagaris baseline" in proc.stdout
    uri = f"sqlite:///{tmp_path / 'stores' / 'm.db'}"
    assert f"mlflow ui --backend-store-uri {uri}" in proc.stdout
    assert "[3/3]" in proc.stdout  # progress lines, not Ray's tables
    assert "First trial: gansweep's preset" in proc.stdout
    assert "Best config on 8 fresh seeds" in proc.stdout  # at least 8 by default
    assert "Search gain" in proc.stdout
    assert "Trial name" not in proc.stdout and "╭" not in proc.stdout

    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["num_trials"] == 3
    # the work done, counted from the trials' own reports, and its rate on the summary line
    assert s["trial_epochs"] == sum(t["iteration"] for t in s["top"]) * 2
    assert f"{s['trial_epochs']:,} trial-epochs" in proc.stdout
    assert s["trial_epochs_per_slot_second"] > 0
    best = s["best"]
    for key in ("median_mse", "worst_mse", "failure_rate", "config"):
        assert key in best
    assert best["worst_mse"] >= best["median_mse"]
    assert s["baseline"]["method"] == "l2" and len(s["baseline"]["seeds"]) == 2
    assert s["mlflow"]["tracking_uri"] == uri
    # the MLflow UI: the experiment is a model-training one, and the printed URL opens its runs
    # in the UI's model-training view (MLflow 3 opens an experiment on its GenAI view otherwise)
    # with the sweep's saved view of the table (the UI's own default shows no param or metric)
    parent_id = s["mlflow"]["parent_run_id"]
    runs_url = (f"http://127.0.0.1:5000/#/experiments/{s['mlflow']['experiment_id']}/runs"
                f"?workflowType=machine_learning&viewStateShareKey={parent_id}")
    assert s["mlflow"]["runs_url"] == runs_url and runs_url in proc.stdout
    exp = MlflowClient(uri).get_experiment(s["mlflow"]["experiment_id"])
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(exp.tags[f"mlflow.sharedViewState.{parent_id}"])
    assert view["name"] == f"{s['sweep']}: trials" and view["createdAt"] > 0
    state = json.loads(view["state"])
    # Optuna's study, in its own sqlite file beside mlflow.db, named after the sweep
    assert s["optuna"] == {"storage": f"sqlite:///{tmp_path / 'stores' / 'optuna.db'}",
                           "study_name": s["sweep"]}
    assert f"optuna-dashboard {s['optuna']['storage']}" in proc.stdout
    study = optuna.load_study(study_name=s["sweep"], storage=s["optuna"]["storage"])
    assert len(study.trials) == 3 and study.best_value == min(t["objective"] for t in s["top"])
    assert study.metric_names == ["log10 median MSE over seeds"]  # not "Objective 0"

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
    # the view: this sweep's 4 runs (its filter, as MLflow's search reads it), grouped by sweep
    # (the trials listed, not nested under a collapsed parent), best objective first, with the
    # searched params and the eval metrics every trial has as its columns
    assert {r.info.run_id for r in client.search_runs(
        [m["experiment_id"]], filter_string=state["searchFilter"])} == \
        {r.info.run_id for r in runs}
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "gansweep.sweep"}]
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`objective`", True)
    from sweeps.spec import SweepSpec

    searched = SweepSpec.load(s["ray_results"]).searched()
    assert searched == ["G.beta1", "G.beta2", "lr_end", "D.width", "D.lr", "D.beta1",
                        "D.beta2"] and state["selectedColumns"] == (
        [f"metrics.`{k}`" for k in ("objective", "eval/mse", "eval/mse_worst",
                                    "eval/failure_rate")]
        + [f"params.`{k}`" for k in searched] + ["tags.`status`"])
    by_trial = {t.trial_id: t for t in tune_trials}
    steps = []
    for r in children:
        tags, params = r.data.tags, r.data.params
        assert tags["problem"] == "sho" and tags["method"] == "gan"
        assert tags["status"] in ("ok", "diverged", "early-stopped")
        assert tags["node_id"] and tags["hostname"] and tags["device"] == "cpu"
        assert {"G.lr", "G.width", "seeds", "iterations"} <= set(params)
        assert {"eval/mse", "eval/mse_worst", "eval/failure_rate", "train/g_loss",
                "train/d_loss", "eval/mse_seed_0", "eval/mse_seed_1"} <= set(r.data.metrics)
        # every config key a param (the loaders rebuild configs from them), every eval/train
        # value of the trial's reports a metric; and each column of the view is one of them
        trial = by_trial[tags["trial_id"]]
        assert len(params) == len(trial.config) and set(params) == set(trial.config)
        reported = {k for k, v in trial.last_result.items()
                    if (k.startswith(("eval/", "train/")) or k == "objective")
                    and isinstance(v, (int, float)) and not isinstance(v, bool)}
        assert len(r.data.metrics) == len(reported) and set(r.data.metrics) == reported
        for col in state["selectedColumns"]:
            kind, key = col.split(".", 1)
            assert key.strip("`") in {"metrics": r.data.metrics, "params": params,
                                      "tags": tags}[kind], col
        history = client.get_metric_history(r.info.run_id, "eval/mse")
        steps.append([h.step for h in history])
        arts = {a.path for a in client.list_artifacts(r.info.run_id, "plots")}
        assert arts == {"plots/solution.png", "plots/curves.png"}
        assert [a.path for a in client.list_artifacts(r.info.run_id, "weights")] == \
            ["weights/state.pt"]
        # the seeds as one table: its final and best MSE per row, as the metrics hold them
        # (read as a file: MlflowClient.load_table searches the fluent API's store, not its own)
        table = json.loads(Path(client.download_artifacts(r.info.run_id, "seeds.json",
                                                          str(tmp_path))).read_text())
        assert table["columns"] == ["seed", "final mse", "best mse", "status", "restarts"]
        assert [row[0] for row in table["data"]] == [0, 1]
        for k, final, _, status, _ in table["data"]:
            logged = r.data.metrics[f"eval/mse_seed_{k}"]
            assert (final == pytest.approx(logged) and status in ("ok", "failed", "collapsed")
                    if final is not None else logged >= 1e300 and status == "diverged")
        assert json.loads(tags["mlflow.loggedArtifacts"]) == [{"path": "seeds.json",
                                                               "type": "table"}]
    assert max(len(x) for x in steps) == 3 and [10, 20, 30] in steps  # one row per report
    summary_files = {a.path for a in client.list_artifacts(m["parent_run_id"], "summary")}
    assert {"summary/summary.csv", "summary/summary.txt", "summary/summary.json"} <= summary_files
    parent = client.get_run(m["parent_run_id"]).data
    assert "best/mse" in parent.metrics and parent.tags["baseline_method"] == "l2"
    assert parent.params["preset"] == "gansweep"
    # the baseline's every seed is logged (the report reads them instead of training it again)
    for k, v in enumerate(s["baseline"]["seeds"]):
        assert parent.metrics[f"baseline/mse_seed_{k}"] == pytest.approx(v if math.isfinite(v)
                                                                         else 1e300)
    assert parent.metrics["baseline/mse"] == pytest.approx(s["baseline"]["median_mse"])
    # the pick and the start on the same 8 fresh seeds (replicas none of the trials or a race
    # had), on the parent run, and what the search gained: the start's over the pick's
    conf, gain = s["confirm"], s["search_gain"]
    # (the trials on replicas from 3000, none a preset was chosen on; the confirmation 1000 on)
    assert s["best"]["config"]["seed"] == 3000
    assert conf["seed"] == 4000 and len(conf["seeds"]) == 8 and conf["iterations"] == 30
    assert gain["start_trial_id"] in ids
    assert gain["start_is_pick"] == (s["best"]["trial_id"] == gain["start_trial_id"])
    assert len(gain["start"]["seeds"]) == 8 and gain["pick"] == conf
    if not gain["start_is_pick"]:
        assert gain["start"]["seeds"] != conf["seeds"]
    assert gain["median_ratio"] == pytest.approx(gain["start"]["median_mse"]
                                                 / conf["median_mse"])
    assert parent.metrics["search_gain/median_ratio"] == pytest.approx(gain["median_ratio"])
    assert parent.metrics["start/mse"] == pytest.approx(gain["start"]["median_mse"])
    assert parent.metrics["search_gain/start_is_pick"] == float(gain["start_is_pick"])
    for k, v in enumerate(conf["seeds"]):
        assert parent.metrics[f"confirm/mse_seed_{k}"] == pytest.approx(v if math.isfinite(v)
                                                                        else 1e300)
    assert parent.metrics["confirm/mse"] == pytest.approx(conf["median_mse"])
    # every failure rate on the parent run comes with its 95% Wilson interval
    rated = ["baseline"] + [p for p, part in (("best", s["best"]), ("sweep", s["full_budget"]))
                            if part["failure_rate"] is not None]
    for p in rated:
        low, high = (parent.metrics[f"{p}/failure_rate_ci_{end}"] for end in ("low", "high"))
        assert low <= parent.metrics[f"{p}/failure_rate"] <= high and high - low > 0.3, p
    assert "95% CI" in proc.stdout


def test_the_finalists_race_on_the_same_fresh_seeds_and_the_start_stays_unless_beaten_there(tmp_path):
    """10 iterations (ASHA's first rung is the end: every trial runs its full budget), so all 3
    trials are finalists: the start and the 2 others, raced on the same 8 fresh seeds (at least 8
    whatever a trial's count; replicas the trials' base seed + 2000); a finalist replaces the
    start only if it beats it there (decide.beats_start), and the pick is the best of those."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    from gan_core import Config, train
    from sweeps.spaces import to_config

    proc = _sweep(tmp_path, "--iterations", "10", "--no-baseline")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((tmp_path / "summary.json").read_text())
    fin = s["finalists"]
    assert len(fin) == 3 and [f["start"] for f in fin] == [True, False, False]
    assert "Picked from 3 finalists raced on the same 8 fresh seeds" in proc.stdout
    for f in fin:
        race = f["race"]["seeds"]
        assert len(race) == 8 and f["race_median_mse"] == pytest.approx(np.median(race))
    start = np.array(fin[0]["race"]["seeds"])
    for f in fin[1:]:  # each challenger's p: its race seeds against the start's
        mine = np.array(f["race"]["seeds"])
        if np.isfinite(mine).all() and np.isfinite(start).all():
            assert f["race_p"] == pytest.approx(mannwhitneyu(mine, start,
                                                             alternative="less").pvalue)
    eligible = [fin[0], *(f for f in fin[1:] if f["beats_start"])]
    pick = min(eligible, key=lambda f: f["race_objective"])
    assert s["best"]["trial_id"] == pick["trial_id"] and s["picked_by"] == "finalists"
    assert ("the start stays: no finalist beat it on the race seeds" in proc.stdout) == \
        (len(eligible) == 1)
    # the race is the pick's config on other replicas: trained again here, the same values; the
    # summary's config has its searched X.beta1 / X.beta2 folded into X.betas, as the trainable
    # does, so it reads as it ran (no stale X.betas beside them)
    best = s["best"]["config"]
    assert best["seed"] == 3000  # the trials' replicas
    assert not {"G.beta1", "G.beta2", "D.beta1", "D.beta2"} & set(best)
    params = s["best"]["params"]
    for net in ("G", "D"):
        for i in (1, 2):
            if f"{net}.beta{i}" in params:
                assert best[f"{net}.betas"][i - 1] == params[f"{net}.beta{i}"]
    assert to_config(best) == best
    again = train(Config.from_dict({**best, "seed": 5000, "seeds": 8, "device": "cpu"}))
    np.testing.assert_allclose(again.final_mse, pick["race"]["seeds"], rtol=1e-6)
    gain = s["search_gain"]
    assert gain["start_trial_id"] == fin[0]["trial_id"]
    assert gain["start_is_pick"] == (pick["start"])
    assert ("Search gain: none, the start" in proc.stdout) == pick["start"]


def test_finalists_are_the_start_and_the_best_full_budget_trials_and_race_seeds_decide():
    import dataclasses

    import numpy as np
    import pandas as pd

    from gan_core import Config, train
    from sweeps import decide

    df = pd.DataFrame({"trial_id": list("abcde"), "objective": [-5, -9, -7, -8, -10.0],
                       "median_mse": [1e-5, 1e-9, 1e-7, 1e-8, 1e-10],
                       "status": ["ok", "ok", "ok", "diverged", "early-stopped"],
                       "G.lr": [0.02, 0.01, 0.03, 0.04, 0.05]})
    # the start first, then by the objective, never a trial stopped early (e)
    assert decide.finalists(df, "a", 3) == ["a", "b", "d"]
    assert decide.finalists(df, "e", 2) == ["b", "d"]  # a start stopped early is no finalist
    assert decide.start_trial(df, {"G.lr": 0.03}) == "c" and decide.start_trial(df, {}) is None
    race = train(Config(problem="exp", seeds=4, iterations=2, eval_every=1))
    race = dataclasses.replace(race, final_mse=np.array([1e-9, np.nan, *race.final_mse[2:]]))
    seeds = np.array([1e-9, np.inf, *race.final_mse[2:]])  # a seed without a value failed
    from sweeps.spaces import objective

    rate = float(np.mean(~np.isfinite(seeds) | (seeds > race.failure_threshold)))
    assert decide.race_score(race, "median") == objective(seeds, rate, "median")
    assert decide.race_score(race, "failure_rate") == pytest.approx(rate)
    assert decide.gain({"median_mse": 4e-11, "worst_mse": np.inf},
                       {"median_mse": 1e-11, "worst_mse": 1e-9}) == \
        {"median_ratio": pytest.approx(4.0), "worst_ratio": np.inf}


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
    (["moons", "--preset", "paper"], "--preset"),
    (["sho", "--confirm-seeds", "-1"], "--confirm-seeds"),
    (["sho", "--finalists", "-1"], "--finalists"),
    (["sho", "--sampler", "cmaes"], "--sampler"),
    (["sho", "--preset", "papr"], "--preset"),
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
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    p = plan(["sho", "--tracking-uri", "sqlite:///rel.db", "--storage-path", "rel_results"])
    assert p.tracking_uri == f"sqlite:///{tmp_path / 'rel.db'}"
    assert p.storage_path == str(tmp_path / "rel_results")
    assert p.optuna_storage == f"sqlite:///{tmp_path / 'optuna.db'}"  # beside the MLflow store
    d = plan(["sho"])
    assert d.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert d.storage_path == str(tmp_path / "ray_results")
    # MLflow's variable when no option is given; the option wins over it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert plan(["sho"]).tracking_uri == "http://mlflow.example:5000"
    assert plan(["sho"]).optuna_storage == f"sqlite:///{tmp_path / 'optuna.db'}"
    assert plan(["sho", "--tracking-uri", "x.db"]).tracking_uri == f"sqlite:///{tmp_path / 'x.db'}"
    assert plan(["sho", "--optuna-storage", "postgresql://db/optuna"]).optuna_storage == \
        "postgresql://db/optuna"


def test_the_python_api_takes_every_cli_option():
    """sweeps.sweep(problem, **options): the CLI's options, by their names with underscores."""
    from sweeps.cli import build, parser
    from sweeps.errors import UsageError
    from sweeps.options import DEFAULTS

    dests = {a.dest for a in parser()._actions if a.dest != "help"}
    assert dests == set(DEFAULTS) | {"problem"}
    # every option's default on the command line is the declaration's, and the spec's
    args = vars(parser().parse_args(["sho"]))
    assert {k: args[k] for k in DEFAULTS} == DEFAULTS
    assert plan(["sho"]).max_failures == DEFAULTS["max_failures"] == build("sho").max_failures
    with pytest.raises(UsageError, match="unknown option max_fialures: the options are trials"):
        build("sho", max_fialures=3)
    # dicts for --set/--search give the same spec as the command line
    cli = plan(["sho", "--study", "sho_wide", "--set", "G.activation=tanh",
                "--search", "G.lr=2e-3:4e-3",
                "--search", "G.width=20,40", "--no-baseline", "--seeds", "3"])
    api = build("sho", study="sho_wide", set={"G.activation": "tanh"},
                search={"G.lr": (2e-3, 4e-3), "G.width": [20, 40]},
                baseline=False, seeds=3)
    assert dataclasses.replace(api, argv=cli.argv) == cli


def test_a_spec_saves_and_loads_beside_tune_state(tmp_path):
    """SweepSpec.save/load round-trips, in a local folder and under a URI, and a sweep's own
    stores come back on resume with the resuming command's options."""
    from sweeps import SweepSpec

    spec = plan(["sho", "--study", "sho_wide", "--set", "G.activation=tanh", "--search",
                 "G.lr=2e-3:4e-3", "--storage-path", str(tmp_path),
                 "--tracking-uri", f"sqlite:///{tmp_path}/a.db"]
                ).started("sho-gan-1", "7", "abc")
    spec.save()
    assert SweepSpec.load(str(tmp_path / "sho-gan-1")) == spec
    uri = dataclasses.replace(spec, storage_path=f"file://{tmp_path}/bucket")
    uri.save()
    assert (tmp_path / "bucket" / "sho-gan-1" / "gansweep.json").is_file()
    assert SweepSpec.load(f"file://{tmp_path}/bucket/sho-gan-1") == uri
    again = dataclasses.replace(plan(["sho", "--summary-json", str(tmp_path / "s.json")]),
                                resume=str(tmp_path / "sho-gan-1")).resumed()
    assert (again.tracking_uri, again.pinned, again.parent_run_id) == \
        (spec.tracking_uri, ["G.activation"], "abc")
    assert again.summary_json == str(tmp_path / "s.json")


def test_spaces_start_from_the_preset_and_fold_betas():
    p = plan(["sho"])
    space = Space(study_for("sho"), "gan", p.fixed)
    start = space.start_point()
    assert start["D.width"] == p.fixed["D.width"] and start["lr_end"] == p.fixed["lr_end"]
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


def test_the_sweep_tries_the_start_then_its_neighbours_one_key_one_step_inside_the_space():
    """spaces.step: a log float times and over the factor, a linear one by its range's width over
    twice the factor, an int to its neighbours, a choice to the others, clipped to the range and
    never the value itself; the sweep's first points: the start, then each searched key moved one
    step (every key before any key's second step), inside the space, at most half the trials."""
    import optuna.distributions as d

    from sweeps.driver import first_points
    from sweeps.spaces import step

    assert step(d.FloatDistribution(1e-3, 0.1, log=True), 0.01, 3) == \
        pytest.approx([0.01 / 3, 0.03])
    assert step(d.FloatDistribution(1e-3, 0.1, log=True), 0.05, 3) == \
        pytest.approx([0.05 / 3, 0.1])  # clipped at the top
    assert step(d.FloatDistribution(1e-3, 0.1, log=True), 0.1, 3) == pytest.approx([0.1 / 3])
    assert step(d.FloatDistribution(0.0, 0.9), 0.45, 3) == pytest.approx([0.3, 0.6])
    assert step(d.IntDistribution(1, 3), 1, 3) == [2]
    assert step(d.CategoricalDistribution(("tanh", "sin", "relu")), "sin", 3) == ["tanh", "relu"]
    for argv in (["sho"], ["examples/zoo/lotka_volterra.py:LotkaVolterra"], ["exp"]):
        spec = plan([*argv, "--neighbours"])
        space, points = spec.space(), first_points(spec)
        start, dists = space.start_point(), space.distributions()
        assert points[0] == start and 1 < len(points) <= 1 + spec.trials // 2
        moved = [[k for k in start if p[k] != start[k]] for p in points[1:]]
        assert all(len(m) == 1 for m in moved)  # one key each
        assert len({(m[0], p[m[0]]) for m, p in zip(moved, points[1:])}) == len(moved)
        assert all(dists[m[0]]._contains(dists[m[0]].to_internal_repr(p[m[0]]))  # noqa: SLF001
                   for m, p in zip(moved, points[1:]))
        keys = [m[0] for m in moved]
        assert keys[:len(set(keys))] == list(dict.fromkeys(keys))  # every key, then the seconds
    short = plan(["sho", "--trials", "6", "--neighbours"])
    assert len(first_points(short)) == 1 + 3
    assert first_points(plan(["sho"])) == [plan(["sho"]).space().start_point()]  # the default


def test_preset_paper_starts_the_sweep_at_the_papers_config():
    """--preset paper: every trial's fixed config and the first trial are the DEQGAN paper's (its
    nets, points, problem constants and run length); another length keeps its total decay; a
    preset value outside the space is named with the --search that takes it in."""
    import optuna

    from gan_core import Config
    from gan_core.presets import preset

    paper = preset("sho", "gan", source="paper")
    p = plan(["sho", "--preset", "paper"])
    assert p.preset == "paper" and plan(["sho"]).preset == "gansweep"
    assert p.fixed["iterations"] == paper.iterations == 12000
    space = p.space()
    start = space.start_point()
    assert start and space.outside() is None
    trial = optuna.trial.FixedTrial(start)
    first = Config.from_dict(to_config({**space(trial), **trial.params}))
    assert first == paper.replace(seeds=p.fixed["seeds"], eval_every=p.fixed["eval_every"],
                                  seed=3000)  # the trials' replicas: none a preset was chosen on
    assert first.problem_args["v0"] == 1.0  # the paper's constants, not ours
    # 4000 iterations: the StepLR schedule rescaled, the same total decay as the paper's 12000
    short = Config.from_dict(plan(["sho", "--preset", "paper", "--iterations", "4000"]).fixed)
    assert short.iterations == 4000 and short.G == paper.G
    assert short.gamma ** (4000 / short.lr_step) == \
        pytest.approx(paper.gamma ** (12000 / paper.lr_step), rel=1e-9)
    assert paper.gamma == 0.9786  # the published StepLR factor, exactly
    # burgers: the paper's D.beta2 lies below the study's range; the named --search takes it in
    assert plan(["burgers", "--preset", "paper"]).space().outside() == \
        ("D.beta2", 0.185, "0.185:0.999")
    wide = plan(["burgers", "--preset", "paper", "--search", "D.beta2=0.185:0.999"]).space()
    assert wide.outside() is None and wide.start_point()["D.beta2"] == 0.185


def test_confirmation_trains_the_best_config_on_fresh_seeds():
    """The confirmation is the best config as it was (nets, schedule) on other replicas: new base
    seed, the count asked for, the best trial's budget; its values are not the trial's."""
    import numpy as np

    from gan_core import Config, train
    from sweeps import summary as S

    best = {**plan(["exp", "--seeds", "2", "--iterations", "60"]).fixed, "device": "cpu"}
    trial = train(Config.from_dict(best))
    conf = S.confirm(best, 3, iterations=40)
    assert (conf.config.seed, conf.config.seeds, conf.config.iterations) == (4000, 3, 40)
    assert conf.config.replace(seed=3000, seeds=2, iterations=60) == trial.config
    again = S.confirm(best, 2, iterations=60)
    assert not np.array_equal(again.final_mse, trial.final_mse)  # other replicas, same budget
    part = S.result_part(conf)
    assert part["seeds"] == [float(v) for v in conf.final_mse] and part["iterations"] == 40
    assert part["median_mse"] == conf.median_mse and part["worst_mse"] >= part["median_mse"]


def test_objective_is_finite_and_ordered():
    import numpy as np

    mse = np.array([1e-8, 1e-6, np.inf, 1e-7])
    assert objective(mse, 0.25, "median") == pytest.approx(np.log10(np.median(mse)))
    assert objective(mse, 0.25, "worst") == 3.0  # a diverged seed caps, never inf
    assert objective(mse, 0.25, "p90") == 3.0
    assert objective(mse, 0.25, "failure_rate") == 0.25
    assert set(OBJECTIVES) == {"median", "p90", "worst", "failure_rate", "failures"}


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
    assert s["trial_epochs"] == 2 * (300 + 2000 + 2000)  # seeds x iterations reached
    text = S.table(s)
    assert "Best: c" in text and "Worst outlier: trial b seed 1" in text


def test_trial_status_is_one_rule_and_diverged_counts_as_full_budget():
    from sweeps.status import FULL_BUDGET, classify, full_budget

    assert classify({"iteration": 2000}, 2000) == "ok"
    assert classify({"iteration": 300}, 2000) == "early-stopped"  # ASHA or the time budget
    assert classify({"iteration": 300, "run_status": "diverged"}, 2000) == "diverged"
    # MLflow keeps numbers only: every seed diverged reads as diverged too
    assert classify({"iteration": 300, "eval/diverged": 4}, 2000, seeds=4) == "diverged"
    assert classify({"iteration": 300, "eval/diverged": 3}, 2000, seeds=4) == "early-stopped"
    assert classify({"iteration": 2000}, 2000, error=True) == "error"
    assert FULL_BUDGET == ("ok", "diverged")
    assert [full_budget(x) for x in ("ok", "diverged", "early-stopped", "error")] == \
        [True, True, False, False]


def _trial(tid: str, status: str, iteration: int, seeds: list[float], threshold: float = 1e-4
           ) -> dict:
    """A row of summary.trials_frame: the metrics at the trial's last report."""
    import numpy as np

    arr = np.array(seeds)
    return {"trial_id": tid, "status": status, "iteration": iteration, "metric": "mse",
            "median_mse": float(np.median(arr)), "worst_mse": float(arr.max()),
            "failure_rate": float(np.mean(~np.isfinite(arr) | (arr > threshold))),
            "objective": float(np.log10(min(np.median(arr), 1e3))), "train_seconds": 1.0,
            "G.lr": 1e-3, **{f"seed_{k}": v for k, v in enumerate(seeds)},
            "config": {"seeds": len(seeds), "iterations": 2000}}


def test_failure_rate_intervals_on_known_counts():
    """Wilson's 95% score interval (scipy's binomtest(...).proportion_ci(method="wilson")):
    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    from sweeps.metrics import ci_text, failure_ci, rate_text

    z = 1.959963984540054

    def wilson(k: int, n: int) -> list[float]:
        p = k / n
        mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return [(mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)]

    # 0 of 8 failed is not 0%: up to 32% is as likely as not to be hidden by 8 seeds
    assert failure_ci(0, 8) == (0.0, pytest.approx(z * z / (8 + z * z)))
    assert failure_ci(0, 8)[1] == pytest.approx(0.3244, abs=1e-4)
    assert list(failure_ci(2, 10)) == pytest.approx(wilson(2, 10))
    assert list(failure_ci(2, 10)) == pytest.approx([0.0567, 0.5098], abs=1e-4)
    assert failure_ci(8, 8) == (pytest.approx(8 / (8 + z * z)), 1.0)
    assert all(math.isnan(v) for v in failure_ci(0, 0))  # no seeds: no interval
    assert ci_text(0, 8) == "95% CI 0-32%" and rate_text(2, 10) == "20% (95% CI 6-51%)"
    assert rate_text(0, 0) == "-"


def test_summary_counts_early_stops_apart_from_failures():
    import math

    import pandas as pd

    from sweeps import summary as S

    # every seed above 1e-4 belongs to a trial ASHA stopped early; asha2's seed 0 has the
    # largest ratio to its median, but the worst outlier is taken among full-budget trials
    df = pd.DataFrame([
        _trial("full1", "ok", 2000, [1e-10, 1e-10, 1e-10, 2e-6]),
        _trial("full2", "ok", 2000, [1e-9, 2e-9, 2e-9, 3e-9]),
        _trial("asha1", "early-stopped", 300, [8.2, 1.0, 0.5, 2e-3]),
        _trial("asha2", "early-stopped", 300, [1e3, 1e-6, 1e-6, 1e-6]),
        _trial("asha3", "early-stopped", 900, [1e-2, 5e-3, 1e-6, 1e-3]),
    ])
    s = S.summarize(df, ["G.lr"])
    # 0 of 8 seeds failed is not a sure 0%: the Wilson 95% interval is [0, z^2 / (8 + z^2)]
    z2 = 1.959963984540054 ** 2
    assert s["full_budget"] == {"trials": 2, "seeds": 8, "failed": 0, "failure_rate": 0.0,
                                "failure_rate_ci": [0.0, pytest.approx(z2 / (8 + z2))],
                                "restarts": 0, "abandoned": 0, "collapsed": 0}
    assert s["full_budget"]["failure_rate_ci"][1] == pytest.approx(0.3244, abs=1e-4)
    assert s["stopped_early"] == {"trials": 3, "seeds": 12, "at_iteration": {"300": 2, "900": 1}}
    rows = {t["trial_id"]: t for t in s["top"]}
    assert rows["asha1"]["failure_rate"] is None and rows["full1"]["failure_rate"] == 0.0
    o = s["worst_outlier"]
    assert (o["trial_id"], o["seed"], o["iteration"]) == ("full1", 3, 2000)
    text = S.table(s)
    assert ("Failed seeds: 0 of 8 in the 2 trials that ran their full budget "
            "(0%, 95% CI 0-32%)") in text
    assert ("Stopped early by ASHA or the time budget, not counted as failures: 3 trials "
            "(12 seeds), at iteration 300 (2 trials), 900 (1 trial)") in text
    assert "Worst outlier: trial full1 seed 3" in text and "(ran all 2000 iterations)" in text
    asha1 = next(line for line in text.splitlines() if line.startswith("asha1"))
    assert asha1.split()[1:5] == ["early-stopped", "7.50e-01", "8.20e+00", "-"]
    m = S.parent_metrics(s)
    assert m["sweep/failure_rate"] == 0.0 and m["sweep/early_stopped"] == 3
    assert m["sweep/failure_rate_ci_high"] == pytest.approx(0.3244, abs=1e-4)
    assert rows["full1"]["failure_rate_ci"] == [0.0, pytest.approx(z2 / (4 + z2))]  # 0 of 4
    assert rows["asha1"]["failure_rate_ci"] is None  # no failure rate, no interval
    # a diverged trial ended early too, but its seeds are failures of the method
    df = pd.concat([df, pd.DataFrame([_trial("div", "diverged", 500, [math.inf] * 4)])])
    s = S.summarize(df, ["G.lr"])
    # 4 of 12: Wilson's (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    p, n, z = 4 / 12, 12, 1.959963984540054
    mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert s["full_budget"] == {"trials": 3, "seeds": 12, "failed": 4, "failure_rate": 4 / 12,
                                "failure_rate_ci": [pytest.approx((mid - half) / (1 + z * z / n)),
                                                    pytest.approx((mid + half) / (1 + z * z / n))],
                                "restarts": 0, "abandoned": 0, "collapsed": 0}
    assert s["stopped_early"]["trials"] == 3 and s["worst_outlier"]["trial_id"] == "full1"
    assert s["best"]["trial_id"] == "full1" and S.budget(s["best"]) == 2000
    # no trial ran its full budget: no failure rate anywhere, and the baseline gets the best
    # trial's budget (equal budgets)
    s = S.summarize(df[df["status"] == "early-stopped"], ["G.lr"])
    assert s["full_budget"]["failure_rate"] is None and s["best"]["failure_rate"] is None
    assert S.budget(s["best"]) == s["best"]["iteration"] < 2000
    assert "no failure rate: stopped early at iteration" in S.table(s)
    assert S.parent_metrics(s)["sweep/failure_rate"] is None


def test_a_trial_whose_seeds_were_all_abandoned_ran_its_budget():
    from sweeps.status import all_diverged, classify

    # residual monitoring gave up on every seed at iteration 200 of 2000: nothing is left to
    # train, so the trial's result at its full budget is known, and its seeds are failures
    last = {"iteration": 200, "eval/diverged": 1, "eval/abandoned": 2}
    assert all_diverged(last, 3) and classify(last, 2000, seeds=3) == "diverged"
    assert classify({**last, "eval/abandoned": 1}, 2000, seeds=3) == "early-stopped"


def test_monitoring_restarts_reach_the_trials_the_summary_and_the_analysis(tmp_path):
    """A real sweep with residual monitoring on (`--set monitor=restart`) and a threshold every
    seed trips: each of the 3 seeds restarts once (monitor_restarts 1), and every table says so."""
    import sweeps
    from analysis import failure_rates, load_sweep
    from sweeps.summary import table

    monitor = {"monitor": "restart", "monitor_window": 10, "monitor_from": 0.2,
               "monitor_until": 0.3, "monitor_threshold": 1e-30, "monitor_restarts": 1}
    s, grid = sweeps.sweep("exp", trials=1, seeds=3, iterations=40, eval_every=10, set=monitor,
                           storage_path=str(tmp_path / "ray"),
                           tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
                           summary_json=str(tmp_path / "s.json"), baseline=False, time_budget=0)
    (result,) = list(grid)
    assert result.metrics["eval/restarts"] == 3
    assert [result.metrics[f"eval/restarts_seed_{k}"] for k in range(3)] == [1, 1, 1]
    assert s["full_budget"]["restarts"] == 3 and s["top"][0]["restarts"] == 3
    assert "Residual monitoring in those trials: 3 restarts, 0 seeds abandoned" in table(s)
    for df in (load_sweep(s["ray_results"]),
               load_sweep(s["mlflow"]["experiment_name"], tracking_uri=s["mlflow"]["tracking_uri"],
                          sweep=s["sweep"])):
        assert df["restarts"].tolist() == [1, 1, 1]
        assert failure_rates(df)["restarts"].tolist() == [3]


def test_a_finalist_replaces_the_start_only_past_the_noise_and_without_more_failures():
    """decide.beats_start on hand-made race seeds: lower on every seed is significant at 5% over
    3 finalists with 8 seeds; a lower median with the seeds interleaved is not; one more failed
    seed is never enough, however low the rest; a diverged seed counts as the worst."""
    from types import SimpleNamespace

    import numpy as np

    from sweeps.decide import beats_start

    def race(*values):
        return SimpleNamespace(final_mse=list(values), failure_threshold=1e-4)

    start = race(*[10.0 ** -e for e in (10, 10.2, 10.4, 10.6, 10.8, 11, 11.2, 11.4)])
    better = race(*[10.0 ** -e for e in (11.5, 11.6, 11.7, 11.8, 11.9, 12, 12.1, 12.2)])
    ok, p = beats_start(better, start, challengers=3)
    assert ok and p < 0.05 / 3
    mixed = race(*[10.0 ** -e for e in (10.1, 10.3, 10.9, 11.1, 11.3, 11.5, 11.6, 11.7)])
    ok, p = beats_start(mixed, start, challengers=3)
    assert not ok and p > 0.05 / 3  # its median is lower, but not past the noise
    assert np.median(mixed.final_mse) < np.median(start.final_mse)
    one_failed = race(*[10.0 ** -e for e in (3, 11.6, 11.7, 11.8, 11.9, 12, 12.1, 12.2)])
    ok, p = beats_start(one_failed, start, challengers=3)
    assert not ok and p < 0.05 / 3  # ranks alone would say yes: the failed seed says no
    diverged = race(float("nan"), *better.final_mse[1:])
    assert beats_start(diverged, start, challengers=1)[0] is False
    assert beats_start(start, start, challengers=1)[0] is False
    # a start that diverged on every seed loses to any finalist that did not (counts: 0 is a value)
    assert beats_start(race(*[0.0] * 8), race(*[float("inf")] * 8), challengers=3)[0] is True


def test_asha_never_stops_the_start_or_its_neighbours_but_counts_them_at_their_rungs():
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from sweeps.scheduler import StartFullASHA

    asha = StartFullASHA(time_attr="iteration", metric="objective", mode="min", max_t=800,
                         grace_period=100, reduction_factor=3, start={"G.lr": 0.02, "D.lr": 2e-3})
    trials = [SimpleNamespace(trial_id=f"t{i}", config={"G.lr": lr, "D.lr": 2e-3})
              for i, lr in enumerate([0.01, 0.03, 0.02, 0.04])]  # t2 is the start
    for t in trials:
        asha.on_trial_add(None, t)
    decide = {t.trial_id: asha.on_trial_result(None, t, {"iteration": 100, "objective": v})
              for t, v in zip(trials, [-9.0, -8.0, -1.0, -0.5])}
    # the first trial at a rung sets it; of the later ones only the top third goes on, but the
    # start (the worst but one here) runs on, and its value stays in the rung's record
    assert decide == {"t0": TrialScheduler.CONTINUE, "t1": TrialScheduler.STOP,
                      "t2": TrialScheduler.CONTINUE, "t3": TrialScheduler.STOP}
    assert asha.is_start({"G.lr": 0.02 * (1 + 1e-15), "D.lr": 2e-3, "other": 1})
    assert not StartFullASHA(start={}).is_start({"G.lr": 0.02})
    # the start's neighbours (`full`) run on too; the other trials meet the rung as before
    asha = StartFullASHA(time_attr="iteration", metric="objective", mode="min", max_t=800,
                         grace_period=100, reduction_factor=3, start={"G.lr": 0.02, "D.lr": 2e-3},
                         full=[{"G.lr": 0.04, "D.lr": 2e-3}])
    for t in trials:
        asha.on_trial_add(None, t)
    decide = {t.trial_id: asha.on_trial_result(None, t, {"iteration": 100, "objective": v})
              for t, v in zip(trials, [-9.0, -8.0, -1.0, -0.5])}
    assert decide == {"t0": TrialScheduler.CONTINUE, "t1": TrialScheduler.STOP,
                      "t2": TrialScheduler.CONTINUE, "t3": TrialScheduler.CONTINUE}
    assert asha.runs_full({"G.lr": 0.04, "D.lr": 2e-3}) and not asha.is_start({"G.lr": 0.04,
                                                                              "D.lr": 2e-3})


def test_the_time_budget_ends_a_default_sweep_not_its_trial_cap():
    """The main job ran all 48 trials of its old cap in 246 s of its 420 s budget: the default cap
    is now far above what a budget holds, while TPE's random start stays a dozen trials, and the
    progress lines show the elapsed time against the budget."""
    from sweeps.cli import plan
    from sweeps.driver import STARTUP_TRIALS, startup_trials
    from sweeps.progress import ProgressLines

    for problem in ("sho", "exp", "pos", "nlo"):
        spec = plan([problem])
        # ~5 s per trial-slot at the least (ASHA's first rung) on 2 slots: far below the cap
        assert spec.trials * 5 / 2 > spec.time_budget, problem
        assert startup_trials(spec) == STARTUP_TRIALS
    assert startup_trials(plan(["sho", "--trials", "8"])) == 2  # a small sweep: a quarter
    assert ProgressLines(400, budget_s=420)._head([]).endswith("0m00s of 7m00s")
    assert " of " not in ProgressLines(400)._head([])
