"""The driver is SIGKILLed mid-sweep (by its pid; its local Ray goes with it, as with a lost
machine), then `--resume` finishes the sweep: exactly the requested trials, those finished before
the kill kept and not run again, the Optuna search continuing from its history (its study read by
`optuna.load_study` from its own storage, after the kill and after the resume), and exactly one
MLflow run per trial with none left RUNNING. Tune's storage is a `file://` URI, as a bucket would be
(`--storage-path s3://...`): the sweep is found, restored and summarised through pyarrow's
filesystem, not as a local path."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import faults

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 5


def test_resume_after_the_driver_is_sigkilled_keeps_every_finished_trial(tmp_path):
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState
    from ray.tune import ExperimentAnalysis

    from sweeps import SweepSpec
    from sweeps.cli import plan

    env = dict(os.environ)
    # Tune saves its state at least 10 s apart ("auto"); the trials after the start stop at ASHA's
    # first rung within seconds, so the moment the kill waits for may never be on disk: saved at
    # each step of Tune's loop here (for the killed driver only; the resume runs as users run it)
    killed_env = {**env, "TUNE_GLOBAL_CHECKPOINT_S": "0"}
    storage = f"file://{tmp_path / 'ray'}"  # a URI, as s3://bucket/prefix would be
    stores = ["--storage-path", storage, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
              "--summary-json", str(tmp_path / "s.json"), "--no-baseline"]
    sweep = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py")]
    driver = subprocess.Popen(
        [*sweep, "--trials", str(TRIALS), "--seeds", "1", "--iterations", "300", "--eval-every",
         "30", "--time-budget", "0", *stores], cwd=tmp_path, env=killed_env,
        stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own group: its Ray can be cleaned up without a name
    try:
        # kill once Tune's saved state has a finished trial and a running one: truly mid-sweep
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            state = faults.saved_state(tmp_path / "ray")
            if {"TERMINATED", "RUNNING"} <= set(state.values()):
                break
            time.sleep(0.2)
        assert {"TERMINATED", "RUNNING"} <= set(state.values()), \
            (tmp_path / "killed.log").read_text()[-3000:]
        os.kill(driver.pid, signal.SIGKILL)  # the fault: the driver, by its pid
        driver.wait(timeout=30)
    finally:
        try:  # then the local Ray it started (same process group), as a lost machine would
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not (tmp_path / "s.json").exists()  # it really died before the end
    exp_dir = next((tmp_path / "ray").iterdir())
    # what Tune had saved as finished at the kill, and their results
    done = {t for t, status in faults.saved_state(tmp_path / "ray").items()
            if status == "TERMINATED"}
    kept = {t: (exp_dir / f"trial_{t}" / "result.json").read_bytes() for t in done}
    # the interrupted sweep's study, from its own storage: its finished trials are there
    spec = SweepSpec.load(f"{storage}/{exp_dir.name}")
    assert spec.optuna_storage == f"sqlite:///{tmp_path / 'optuna.db'}"  # beside m.db
    study = optuna.load_study(study_name=exp_dir.name, storage=spec.optuna_storage)
    assert sum(st.state == TrialState.COMPLETE for st in study.trials) >= len(done)
    # a bare --resume finds the sweep under the URI storage (pyarrow lists it; Tune can restore)
    assert plan(["sho", "--resume", *stores]).resume == f"{storage}/{exp_dir.name}"

    resumed = subprocess.run([*sweep, "--resume", f"{storage}/{exp_dir.name}", *stores],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resuming sweep {exp_dir.name}" in resumed.stdout

    # exactly the requested trials, all finished
    s = json.loads((tmp_path / "s.json").read_text())
    trials = {t.trial_id: t for t in ExperimentAnalysis(str(exp_dir)).trials}
    assert s["num_trials"] == TRIALS and len(trials) == TRIALS
    assert all(t.status == "TERMINATED" for t in trials.values())
    # the trials finished before the kill were kept, not run again (a rerun appends reports)
    assert done
    for t, before in kept.items():
        assert (exp_dir / f"trial_{t}" / "result.json").read_bytes() == before
    # the search continued from its history: the study (loaded from its storage, as
    # optuna-dashboard reads it) holds every trial with its result, and no proposal was repeated
    # (a search restarted from scratch re-proposes its seeded sequence); a proposal Tune never
    # recorded before the kill is marked FAIL, so nothing is left RUNNING
    assert s["optuna"] == {"storage": spec.optuna_storage, "study_name": exp_dir.name}
    study = optuna.load_study(study_name=exp_dir.name, storage=spec.optuna_storage)
    complete = [st for st in study.trials if st.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS and all(st.value is not None for st in complete)
    assert {st.state for st in study.trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    searched = sorted(complete[0].params)
    configs = {tuple(t.config[k] for k in searched) for t in trials.values()}
    assert len(configs) == TRIALS
    assert configs == {tuple(st.params[k] for k in searched) for st in complete}
    assert sorted(st.value for st in complete) == \
        sorted(t.last_result["objective"] for t in trials.values())
    # the summary is in the sweep's folder under the URI storage, as it is on the parent run
    assert json.loads((exp_dir / "summary" / "summary.json").read_text())["num_trials"] == TRIALS

    # MLflow: one parent, one run per trial, nothing left RUNNING, no report logged twice; the
    # runs URL opens the sweep's view of the table, which the resumed driver saved
    m = s["mlflow"]
    client = MlflowClient(m["tracking_uri"])
    assert m["runs_url"].endswith(f"&viewStateShareKey={m['parent_run_id']}")
    assert f"mlflow.sharedViewState.{m['parent_run_id']}" in \
        client.get_experiment(m["experiment_id"]).tags
    runs = client.search_runs([m["experiment_id"]])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]
    assert len(runs) == TRIALS + 1 and len(children) == TRIALS
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(trials)
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in children:
        if r.data.tags["trial_id"] in done:
            steps = [h.step for h in client.get_metric_history(r.info.run_id, "objective")]
            assert len(steps) == len(set(steps))

    # gansweep relog copies the sweep from its URI into the store MLflow's variable names
    other = f"sqlite:///{tmp_path / 'other.db'}"
    copied = subprocess.run([sys.executable, "-m", "sweeps", "relog", f"{storage}/{exp_dir.name}"],
                            cwd=tmp_path, env={**env, "MLFLOW_TRACKING_URI": other},
                            capture_output=True, text=True, timeout=300)
    assert copied.returncode == 0, copied.stdout[-3000:] + copied.stderr[-3000:]
    assert f"relogged {TRIALS} trials of {exp_dir.name} into {other}" in copied.stdout
    client = MlflowClient(other)
    runs = client.search_runs([client.get_experiment_by_name(m["experiment_name"]).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == TRIALS + 1
    assert client.list_artifacts(parents[0].info.run_id, "summary")
    # the copy has its own view of the runs table, naming its own parent's sweep
    tags = client.get_experiment_by_name(m["experiment_name"]).tags
    view = json.loads(tags[f"mlflow.sharedViewState.{parents[0].info.run_id}"])
    assert exp_dir.name in json.loads(view["state"])["searchFilter"]
    assert SweepSpec.load(f"{storage}/{exp_dir.name}").relog_parents == \
        {other: parents[0].info.run_id}  # remembered: a second relog adds no parent


def test_a_driver_killed_while_mlflow_was_down_loses_no_run(tmp_path):
    """The MLflow server goes away, a trial ends (the driver can only note it, in its memory),
    then the driver is SIGKILLed; the server comes back and --resume finishes the sweep. What
    the killed driver could not write died with it, so the resumed one checks every trial
    against Tune's folder: one run per trial, none RUNNING, each with Tune's per-seed values
    and every report."""
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    server = faults.MlflowServer(tmp_path)
    server.start()
    stores = ["--storage-path", str(tmp_path / "ray"), "--tracking-uri", server.uri,
              "--summary-json", str(tmp_path / "s.json"), "--no-baseline", "--confirm-seeds", "0",
              "--finalists", "0"]  # the sweep alone: no race of finalists after it
    sweep = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py")]
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}  # fail fast while it is down
    # Tune saves its state at least 10 s apart ("auto"), sooner only after a trial's checkpoint;
    # the trials after the start stop at ASHA's first rung within a second or two, so a state
    # with one trial ended and the next running may never be saved: here it is saved at each
    # step of Tune's loop, so the moments the kill waits for are on disk while they last
    killed_env = {**env, "TUNE_GLOBAL_CHECKPOINT_S": "0"}
    driver = subprocess.Popen(
        [*sweep, "--trials", str(TRIALS), "--seeds", "1", "--iterations", "300", "--eval-every",
         "30", "--time-budget", "0", "--max-concurrent", "1", *stores], cwd=tmp_path,
        env=killed_env,
        stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        log = tmp_path / "killed.log"

        def wait_for(ready: Callable[[list[str]], bool]) -> None:
            """Until `ready(statuses in Tune's saved state)` while a trial runs."""
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and driver.poll() is None:
                state = list(faults.saved_state(tmp_path / "ray").values())
                if "RUNNING" in state and ready(state):
                    return
                time.sleep(0.2)
            raise AssertionError(log.read_text()[-3000:])

        def ended_in_outage() -> int:
            """The count of the first progress line after the driver found MLflow gone (a
            trial that ended while its end could not be written), else 0."""
            text = log.read_text()
            ends = re.findall(r"^\[\s*(\d+)/", text.partition("stopped answering")[2], re.M)
            return int(ends[0]) if ends else 0

        wait_for(lambda state: "TERMINATED" in state)
        server.stop()  # the outage: the next trial's end cannot be written
        # that trial ended, and Tune saved it as ended: the resumed driver will not run it again
        wait_for(lambda state: 0 < ended_in_outage() <= state.count("TERMINATED"))
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # its local Ray, as a lost machine
        except ProcessLookupError:
            pass
    server.start()  # back, same store
    try:
        exp_dir = next((tmp_path / "ray").iterdir())
        resumed = subprocess.run([*sweep, "--resume", str(exp_dir), *stores], cwd=tmp_path,
                                 env=env, capture_output=True, text=True, timeout=400)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        s = json.loads((tmp_path / "s.json").read_text())
        trials = {t.trial_id: t for t in ExperimentAnalysis(str(exp_dir)).trials}
        m = s["mlflow"]
        client = MlflowClient(server.uri)
        runs = client.search_runs([m["experiment_id"]],
                                  f"tags.`mlflow.parentRunId` = '{m['parent_run_id']}'")
        assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(trials)
        assert len(runs) == TRIALS and all(r.info.status == "FINISHED" for r in runs)
        for r in runs:
            trial = trials[r.data.tags["trial_id"]]
            assert r.data.metrics["eval/mse_seed_0"] == trial.last_result["eval/mse_seed_0"]
            steps = [h.step for h in client.get_metric_history(r.info.run_id, "objective")]
            reported = Path(trial.path, "result.json").read_text().splitlines()
            assert sorted(steps) == sorted({json.loads(x)["iteration"] for x in reported})
    finally:
        server.stop()


def _space(trial):  # module level: the searcher's state is pickled
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)


def test_a_trial_optuna_closed_after_tunes_last_save_runs_on_after_resume(tmp_path):
    """The narrow window of the kill above, made certain: the driver dies after Optuna was told a
    trial's result (the study is written at once) but before Tune saved its own state. Tune's
    restored state has that trial running, runs it on, and reports its results again: Tune's own
    OptunaSearch stops the resumed sweep with Optuna's UpdateFinishedTrialError (as CI once saw);
    the sweep's StudySearch keeps the study's result and goes on with the other trials."""
    import optuna
    import pytest
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState
    from ray.tune.search.optuna import OptunaSearch

    from sweeps.searcher import StudySearch

    def searcher(cls, name):
        return cls(space=_space, metric="objective", mode="min", study_name=name,
                   storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}"))

    def crashed(cls, name):
        """A searcher as `--resume` restores it after the crash."""
        s = searcher(cls, name)
        s.suggest("a")
        s.suggest("b")
        s.on_trial_result("a", {"objective": 1.0, "training_iteration": 1})
        (tmp_path / name).mkdir()
        s.save_to_dir(str(tmp_path / name))  # Tune's last save before the kill
        s.on_trial_complete("a", {"objective": 0.5, "training_iteration": 2})  # then the kill
        restored = searcher(cls, name)
        restored.restore_from_dir(str(tmp_path / name))
        return restored

    with pytest.raises(UpdateFinishedTrialError):  # the failure StudySearch is there for
        crashed(OptunaSearch, "tune").on_trial_result(
            "a", {"objective": 0.7, "training_iteration": 2})

    s = crashed(StudySearch, "gansweep")
    assert s.told_before_restore == {"a"}
    s.on_trial_result("a", {"objective": 0.7, "training_iteration": 2})
    s.on_trial_complete("a", {"objective": 0.4, "training_iteration": 3})
    s.on_trial_result("b", {"objective": 2.0, "training_iteration": 1})
    s.on_trial_complete("b", {"objective": 1.5, "training_iteration": 1})
    assert s.suggest("c")["lr"] > 0  # the search goes on
    study = optuna.load_study(study_name="gansweep", storage=f"sqlite:///{tmp_path / 'o.db'}")
    a, b, c = study.trials
    assert (a.state, a.value, a.intermediate_values) == (TrialState.COMPLETE, 0.5, {1: 1.0})
    assert (b.state, b.value, b.intermediate_values) == (TrialState.COMPLETE, 1.5, {1: 2.0})
    assert c.state == TrialState.RUNNING
