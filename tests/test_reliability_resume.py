"""The driver is SIGKILLed mid-sweep (by its pid; its local Ray goes with it, as with a lost
machine), then `--resume` finishes the sweep: exactly the requested trials, those finished before
the kill kept and not run again, the Optuna search continuing from its history, and exactly one
MLflow run per trial with none left RUNNING."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sweeps import faults

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 5


def test_resume_after_the_driver_is_sigkilled_keeps_every_finished_trial(tmp_path):
    import ray.cloudpickle as pickle
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    log = tmp_path / "events.jsonl"  # the trials log their starts (sweeps/faults.py, test-only)
    (tmp_path / "faults.json").write_text(json.dumps({"log": str(log)}))
    env = {**os.environ, faults.ENV: str(tmp_path / "faults.json")}
    stores = ["--storage-path", str(tmp_path / "ray"), "--tracking-uri",
              f"sqlite:///{tmp_path / 'm.db'}", "--summary-json", str(tmp_path / "s.json"),
              "--no-baseline"]
    sweep = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py")]
    driver = subprocess.Popen(
        [*sweep, "--trials", str(TRIALS), "--seeds", "1", "--iterations", "300", "--eval-every",
         "30", "--time-budget", "0", *stores], cwd=tmp_path, env=env,
        stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)  # its own group: its Ray can be cleaned up without a name
    try:
        # kill once Tune's saved state has a finished trial and a running one: truly mid-sweep
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            state = _saved_state(tmp_path / "ray")
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
    done = {t for t, status in _saved_state(tmp_path / "ray").items() if status == "TERMINATED"}
    kept = {t: (exp_dir / f"trial_{t}" / "result.json").read_bytes() for t in done}
    n_events = len(faults.events(log))

    resumed = subprocess.run([*sweep, "--resume", *stores], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resuming sweep {exp_dir.name}" in resumed.stdout

    # exactly the requested trials, all finished
    s = json.loads((tmp_path / "s.json").read_text())
    trials = {t.trial_id: t for t in ExperimentAnalysis(str(exp_dir)).trials}
    assert s["num_trials"] == TRIALS and len(trials) == TRIALS
    assert all(t.status == "TERMINATED" for t in trials.values())
    # the trials finished before the kill were kept, not run again
    restarted = {e["trial"] for e in faults.events(log)[n_events:] if e["event"] == "start"}
    assert done and not (restarted & done)
    for t, before in kept.items():
        assert (exp_dir / f"trial_{t}" / "result.json").read_bytes() == before
    # the search continued from its history: the study holds every trial with its result, and
    # no proposal was repeated (a search restarted from scratch re-proposes its seeded sequence)
    newest = sorted(exp_dir.glob("searcher-state-*.pkl"))[-1]
    study = pickle.loads(newest.read_bytes())["_ot_study"]
    assert len(study.trials) == TRIALS
    assert all(st.state.name == "COMPLETE" and st.value is not None for st in study.trials)
    searched = sorted(study.trials[0].params)
    configs = {tuple(t.config[k] for k in searched) for t in trials.values()}
    assert len(configs) == TRIALS
    assert configs == {tuple(st.params[k] for k in searched) for st in study.trials}
    assert sorted(st.value for st in study.trials) == \
        sorted(t.last_result["objective"] for t in trials.values())

    # MLflow: one parent, one run per trial, nothing left RUNNING, no report logged twice
    m = s["mlflow"]
    client = MlflowClient(m["tracking_uri"])
    runs = client.search_runs([m["experiment_id"]])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]
    assert len(runs) == TRIALS + 1 and len(children) == TRIALS
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(trials)
    assert all(r.info.status == "FINISHED" for r in runs)
    for r in children:
        if r.data.tags["trial_id"] in done:
            steps = [h.step for h in client.get_metric_history(r.info.run_id, "objective")]
            assert len(steps) == len(set(steps))


def _saved_state(storage: Path) -> dict[str, str]:
    """Trial id -> status in the newest experiment state Tune has written under `storage`."""
    files = sorted(storage.glob("*/experiment_state-*.json"))
    if not files:
        return {}
    try:
        data = json.loads(files[-1].read_text())
    except (OSError, ValueError):  # caught mid-write: try again later
        return {}
    return {json.loads(t[0])["trial_id"]: json.loads(t[0])["status"] for t in data["trial_data"]}
