"""bench/chaos.py without its whole run (a sweep's length; its table is in docs/guarantees.md): the
schedule of its faults, and that it leaves no process behind when it is stopped."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faults

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import chaos  # noqa: E402


def test_the_schedule_is_seeded_and_leaves_the_sweep_room_to_recover():
    plan = chaos.Plan()
    events = plan.schedule()
    assert events == chaos.Plan().schedule() != chaos.Plan(seed=1).schedule()
    kinds = [kind for _, kind in events]
    assert sorted(kinds) == ["driver", "mlflow", "node"] + ["worker"] * plan.worker_kills
    assert [n for n, _ in events] == sorted(n for n, _ in events)
    for n, kind in events:  # the outages early enough for the sweep to go on past them
        assert 1 <= n <= (0.45 if kind != "worker" else 0.8) * plan.trials, (n, kind)
    assert plan.rungs() == {250, 750} and plan.grace() == 250


def test_sigterm_stops_every_process_of_the_run(tmp_path):
    """SIGTERM once the cluster, the MLflow server and the driver are up: chaos.py exits through
    its clean-up, and no process carrying the run's mark is left (nodes, their workers, the
    server, the driver)."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "chaos.py"), "--trials", "4",
                             "--worker-kills", "0", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        driver_log = out / "driver-1.log"
        while not (driver_log.exists() and "sweep " in driver_log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.5)
        assert len(faults.marked(chaos.MARK, str(out))) > 10  # two nodes, a server, a driver
        proc.send_signal(signal.SIGTERM)
        stdout = proc.communicate(timeout=120)[0]
        assert proc.returncode == 128 + signal.SIGTERM, stdout
        assert f"chaos: stopped every process it started in {out}\n" in stdout
        assert faults.marked(chaos.MARK, str(out)) == []
    finally:
        for pid in [proc.pid, *faults.marked(chaos.MARK, str(out))]:
            faults.kill_tree(pid)
        proc.wait(timeout=60)
