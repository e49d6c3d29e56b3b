"""Resources without real hardware: fake GPUs declared to Ray (fractional allocation, CPU fallback,
a clear error when the cluster has too few), and a real 2-node Ray cluster on this machine."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sweeps.cli import main

ROOT = Path(__file__).resolve().parents[1]


# -- fake GPUs -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_gpu_ray():
    import ray

    # 2 "GPUs" and 4 logical CPUs: Ray schedules by these numbers; nothing here touches CUDA
    ray.init(address="local", num_cpus=4, num_gpus=2, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def _store(tmp: Path) -> list[str]:
    return ["--storage-path", str(tmp / "ray"), "--tracking-uri", f"sqlite:///{tmp / 'm.db'}",
            "--summary-json", str(tmp / "s.json"), "--no-baseline"]


def test_half_gpu_trials_share_gpus_four_at_a_time(fake_gpu_ray, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    import faults
    import sweeps

    # each trial waits at a gate until 4 are in at once (or all 8 have started): trials on the
    # fast path finish in a second, so without it whether 4 overlap would depend on the load
    gate = tmp_path / "gate"
    gate.mkdir()
    s, _ = sweeps.sweep("exp", smoke_test=True, trials=8, iterations=200, eval_every=100,
                        gpus_per_trial=0.5, storage_path=str(tmp_path / "ray"),
                        tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
                        summary_json=str(tmp_path / "s.json"), baseline=False,
                        trainable=faults.gated(gate, width=4, total=8))
    assert "4 at a time" in capsys.readouterr().out
    m = s["mlflow"]
    runs = [r for r in MlflowClient(m["tracking_uri"]).search_runs([m["experiment_id"]])
            if "trial_id" in r.data.tags]
    assert len(runs) == 8
    # every trial was given one of the two GPUs, and trained on the CPU (no CUDA here)
    assert {r.data.tags["gpu_ids"] for r in runs} == {"0", "1"}
    assert {r.data.tags["device"] for r in runs} == {"cpu"}
    # at most 4 at once (2 GPUs / 0.5), and 4 did run together
    inside = [int(n) for n in (gate / "running.log").read_text().split()]
    assert len(inside) == 8 and max(inside) == 4


def test_more_gpus_than_the_cluster_has_is_a_clear_error(fake_gpu_ray, tmp_path, capsys):
    assert main(["exp", "--smoke-test", "--gpus-per-trial", "3", *_store(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gansweep: error: --gpus-per-trial 3.0") and "\n" not in err
    assert "GPUs per node: [2.0]" in err


def test_gpus_on_a_cluster_without_gpus_fail_at_start(monkeypatch):
    from sweeps import driver
    from sweeps.cli import plan

    cpu_nodes = [{"Alive": True, "Resources": {"CPU": 2.0}},
                 {"Alive": True, "Resources": {"CPU": 4.0}}]
    monkeypatch.setattr(driver.ray, "nodes", lambda: cpu_nodes)
    with pytest.raises(driver.SweepError, match=r"--gpus-per-trial 0.5, but the Ray cluster at "
                                               r"auto has no GPUs: use --gpus-per-trial 0"):
        driver._check_resources(plan(["sho", "--gpus-per-trial", "0.5", "--address", "auto"]))
    with pytest.raises(driver.SweepError, match=r"CPUs per node: \[2.0, 4.0\]"):
        driver._check_resources(plan(["sho", "--cpus-per-trial", "8"]))
    assert driver._check_resources(plan(["sho", "--cpus-per-trial", "2"])) == 3  # 1 + 2 slots


# -- a 2-node cluster on this machine -----------------------------------------------------------------
def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(token: str) -> dict[str, str]:
    """This test cluster's own auth token, for its nodes and every process that joins it."""
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


def _ray_start(args: list[str], temp: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`ray start --block` in its own session, so the test can stop exactly this node."""
    p = _ports(6)
    cmd = [shutil.which("ray") or "ray", "start", "--block", "--num-cpus", "1",
           "--temp-dir", temp, "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
           "--node-manager-port", str(p[0]), "--object-manager-port", str(p[1]),
           "--dashboard-agent-listen-port", str(p[2]), "--dashboard-agent-grpc-port", str(p[3]),
           "--metrics-export-port", str(p[4]), "--runtime-env-agent-port", str(p[5]), *args]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM this node's process group (ray start and the processes it launched), then KILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            time.sleep(1)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of that group still alive
    except ProcessLookupError:
        pass


def _wait_nodes(address: str, n: int, env: dict[str, str], timeout: float = 120) -> None:
    code = (f"import ray; ray.init(address={address!r}, log_to_driver=False); "
            "print(sum(x['Alive'] for x in ray.nodes()))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env=env)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise AssertionError(f"the cluster at {address} never had {n} nodes: {out.stderr[-2000:]}")


def test_two_node_cluster_runs_trials_on_both_nodes(tmp_path):
    from mlflow.tracking import MlflowClient

    temp = tempfile.mkdtemp(prefix="gsray", dir="/tmp")  # short: Ray's socket paths must be
    (gcs_port,) = _ports(1)
    address = f"127.0.0.1:{gcs_port}"
    env = _env(secrets.token_hex(32))
    head = _ray_start(["--head", "--port", str(gcs_port), "--include-dashboard", "false"], temp,
                      tmp_path / "head.log", env)
    worker = None
    try:
        _wait_nodes(address, 1, env)
        worker = _ray_start(["--address", address], temp, tmp_path / "worker.log", env)
        _wait_nodes(address, 2, env)
        # 1 CPU per node, 2 trials at a time: Ray has to place them on both nodes. Trials last a
        # few seconds, longer than starting a second actor (else Tune reuses the first for all)
        proc = subprocess.run(
            [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--smoke-test", "--trials",
             "4", "--iterations", "1000", "--eval-every", "100", "--address", address,
             *_store(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        # on a cluster every trial is in flight: the two that do not fit wait as pending trials
        # (what an autoscaler reads to add nodes), instead of being held back by the driver
        assert "up to 4 at a time (2 fit on the cluster now" in proc.stdout
        s = json.loads((tmp_path / "s.json").read_text())
        m = s["mlflow"]
        runs = [r for r in MlflowClient(m["tracking_uri"]).search_runs([m["experiment_id"]])
                if "trial_id" in r.data.tags]
        assert len(runs) == 4
        assert len({r.data.tags["node_id"] for r in runs}) == 2  # both nodes ran trials
    finally:
        for node in (worker, head):
            if node is not None:
                _stop(node)
        shutil.rmtree(temp, ignore_errors=True)
