"""--resume: the driver is killed mid-sweep (and its local Ray with it); the resumed sweep ends with
exactly the requested trials in Tune, and exactly one MLflow run per trial under one parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_resume_after_the_driver_is_killed(tmp_path):
    from mlflow.tracking import MlflowClient
    from ray.tune import ExperimentAnalysis

    common = ["--storage-path", str(tmp_path / "ray"), "--tracking-uri",
              f"sqlite:///{tmp_path / 'm.db'}", "--summary-json", str(tmp_path / "s.json")]
    cmd = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--smoke-test", "--trials", "4",
           "--iterations", "600", "--eval-every", "50", "--no-baseline", *common]
    # own session: killing its process group kills the driver and the Ray it started, nothing else
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        # kill once Tune's saved state has a finished trial and a running one: truly mid-sweep
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if {"TERMINATED", "RUNNING"} <= _saved_statuses(tmp_path / "ray"):
                break
            time.sleep(0.5)
        assert {"TERMINATED", "RUNNING"} <= _saved_statuses(tmp_path / "ray"), \
            (tmp_path / "killed.log").read_text()[-3000:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # already gone
            pass
        proc.wait(timeout=30)
        log.close()
    assert not (tmp_path / "s.json").exists()  # it really died before the end

    resumed = subprocess.run([sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--resume",
                              "--no-baseline", *common],
                             cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming sweep" in resumed.stdout
    # the finished trials are restored, not run again: counting resumes at 2 or later
    counts = [int(x[1:].split("/")[0]) for x in resumed.stdout.splitlines() if x.startswith("[")]
    assert counts and min(counts) >= 2 and max(counts) == 4, resumed.stdout[-3000:]

    s = json.loads((tmp_path / "s.json").read_text())
    assert s["num_trials"] == 4
    tune_ids = {t.trial_id for t in ExperimentAnalysis(s["ray_results"]).trials}
    assert len(tune_ids) == 4

    m = s["mlflow"]
    runs = MlflowClient(m["tracking_uri"]).search_runs([m["experiment_id"]])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]
    assert len(runs) == 5 and len(children) == 4  # one parent, one run per trial: no duplicates
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(tune_ids)
    assert all(r.info.status == "FINISHED" for r in runs)


def _saved_statuses(storage: Path) -> set[str]:
    """Trial statuses in the newest experiment state Tune has written under `storage`."""
    files = sorted(storage.glob("*/experiment_state-*.json"))
    if not files:
        return set()
    try:
        data = json.loads(files[-1].read_text())
    except (OSError, ValueError):  # caught mid-write: try again later
        return set()
    return {json.loads(t[0])["status"] for t in data["trial_data"]}
