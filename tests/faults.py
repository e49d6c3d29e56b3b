"""Fault injection for the reliability tests: a Tune trainable that wraps the product's
``sweeps.trainable.train_trial`` and is handed to the sweep (``sweeps.sweep(..., trainable=...)``);
the product's trial code knows nothing of it.

``trainable(spec_path)`` reads the JSON file at `spec_path` when each trial attempt starts (so a
test can change it between sweeps); every key is optional:

    {"log": "/abs/events.jsonl",
     "raise":   [{"trials": [0], "at": 20, "attempts": 99}],
     "diverge": [{"trials": [1], "seeds": [1], "at": 10}]}

- ``log``: one JSON line per event -- ``start`` (trial, pid, attempt, the iteration it resumes
  from) and ``report`` (trial, pid, attempt, iteration) -- so a test can find a trial's worker pid
  and see exactly which iterations ran in which attempt.
- ``raise`` (a rule or a list of rules): trial number ``i`` (trials are numbered from 0 in the
  order they first start) raises ``InjectedFault`` at its first evaluation at or after iteration
  ``at`` (before reporting it), on its first ``attempts`` starts (a retry is a start); later
  starts run normally. It wraps the trainable's ``send`` (Tune's report).
- ``diverge``: those trials start (passed as the trainable's ``state``) from gan_core's own state
  at iteration ``at`` with NaN in the generator weights of ``seeds``: the seeds diverge exactly as
  they would by themselves.

Ray's workers unpickle the trainable by value (``register_pickle_by_value`` below): they need not
find this test module on their path.

The real components the faults hit, each started and stopped by process id, never by name:
``MlflowServer`` (a real ``mlflow server`` on a free port with a sqlite store) and ``RayNode`` (a
``ray start --block`` node, the head or one joining it, with everything it spawned).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ray.cloudpickle


class InjectedFault(RuntimeError):
    """The exception a ``raise`` fault throws inside a trial."""


class _Stop(Exception):
    pass


def trainable(spec_path: str | Path) -> Callable[..., None]:
    """A Tune function trainable: ``train_trial`` with the faults of the file at `spec_path`."""
    spec_path = str(spec_path)

    def faulty_trial(config: dict[str, Any], objective_kind: str = "median",
                     checkpoint_every: int = 500) -> None:
        from ray import tune

        from gan_core import Config
        from sweeps.spaces import to_config
        from sweeps.trainable import resume_state, train_trial

        state = resume_state()
        fault = _Trial(spec_path, tune.get_context().get_trial_id(),
                       state["iteration"] if state else 0)
        if state is None:
            state = fault.start_state(Config.from_dict({**to_config(config), "device": "cpu"}))
        train_trial(config, objective_kind, checkpoint_every, state=state,
                    send=fault.wrap(tune.report))

    return faulty_trial


def events(log: str | Path) -> list[dict[str, Any]]:
    """The events a sweep's trials logged, in order."""
    path = Path(log)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # the line a worker is writing right now
            continue
    return out


def _rules(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rules = spec.get(kind) or []
    return [rules] if isinstance(rules, dict) else rules


def _log(spec: dict[str, Any], event: dict[str, Any]) -> None:
    if spec.get("log"):
        # one short line per write with O_APPEND: lines from concurrent workers never interleave
        with open(spec["log"], "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")


class _Trial:
    """The faults of one trial attempt."""

    def __init__(self, spec_path: str, trial_id: str, resumed_from: int) -> None:
        self.spec = json.loads(Path(spec_path).read_text())
        self.trial_id = trial_id
        self.index = self.attempt = 0
        if not self.spec.get("log"):
            return
        # number this trial and count its starts under a lock: concurrent trials start together
        with open(f"{self.spec['log']}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            order = [e["trial"] for e in events(self.spec["log"]) if e["event"] == "start"]
            first = list(dict.fromkeys(order))
            self.index = first.index(trial_id) if trial_id in first else len(first)
            self.attempt = order.count(trial_id)
            _log(self.spec, {"event": "start", "trial": trial_id, "index": self.index,
                             "pid": os.getpid(), "attempt": self.attempt, "from": resumed_from})

    def start_state(self, cfg: Any) -> dict[str, Any] | None:
        """A poisoned gan_core state for a ``diverge`` trial's first start; else None."""
        if self.attempt > 0:
            return None
        d = next((r for r in _rules(self.spec, "diverge") if self.index in r["trials"]), None)
        if d is None:
            return None
        import torch

        from gan_core import train

        state: dict[str, Any] = {}

        def grab(p: Any) -> None:
            if p.iteration >= d["at"]:
                state.update(p.checkpoint())
                raise _Stop

        try:
            train(cfg, report=grab)
        except _Stop:
            pass
        for w in state["G"].values():
            if w.dim() and w.shape[0] == cfg.seeds:  # batched weights: (seeds, ...)
                for k in d["seeds"]:
                    w[k] = torch.nan
        _log(self.spec, {"event": "poisoned", "trial": self.trial_id, "seeds": d["seeds"],
                         "iteration": state["iteration"]})
        return state

    def wrap(self, send: Callable[..., None]) -> Callable[..., None]:
        """`send` (Tune's report) that first logs the report and raises when a fault is due."""

        def faulty_send(metrics: dict[str, Any], **kw: Any) -> None:
            iteration = metrics["iteration"]
            _log(self.spec, {"event": "report", "trial": self.trial_id, "index": self.index,
                             "pid": os.getpid(), "attempt": self.attempt,
                             "iteration": iteration})
            for r in _rules(self.spec, "raise"):
                if self.index in r["trials"] and self.attempt < r["attempts"] \
                        and iteration >= r["at"]:
                    raise InjectedFault(f"injected fault: trial {self.trial_id} attempt "
                                        f"{self.attempt} at iteration {iteration}")
            send(metrics, **kw)

        return faulty_send


def gated(folder: str | Path, width: int, total: int, patience: float = 300.0
          ) -> Callable[..., None]:
    """A Tune function trainable: ``train_trial`` behind a gate that holds each trial until
    `width` trials are in at once (or every one of the sweep's `total` has started, or `patience`
    seconds passed), so a test sees the concurrency Ray allows whatever the trials' speed. Each
    trial writes <trial_id>.start / .end in `folder`, and at the gate one line with the number
    of trials in at that moment to running.log."""
    folder = str(folder)

    def gated_trial(config: dict[str, Any], objective_kind: str = "median",
                    checkpoint_every: int = 500) -> None:
        from ray import tune

        from sweeps.trainable import train_trial

        d, tid = Path(folder), tune.get_context().get_trial_id()
        (d / f"{tid}.start").touch()

        def inside() -> int:
            return len({p.stem for p in d.glob("*.start")} - {p.stem for p in d.glob("*.end")})

        deadline = time.monotonic() + patience
        while (inside() < width and len(list(d.glob("*.start"))) < total
               and time.monotonic() < deadline):
            time.sleep(0.05)
        with (d / "running.log").open("a") as f:
            f.write(f"{inside()}\n")
        try:
            train_trial(config, objective_kind, checkpoint_every)
        finally:
            (d / f"{tid}.end").touch()

    return gated_trial


def saved_state(folder: Path) -> dict[str, str]:
    """Trial id -> status in the newest experiment state Tune has written: in `folder` (a
    sweep's Tune folder) or in the one sweep under it (a storage path). Tune saves it every so
    often, so it is what a driver killed now would be resumed from."""
    folder = Path(folder)
    files = sorted(folder.glob("experiment_state-*.json")) or \
        sorted(folder.glob("*/experiment_state-*.json"))
    if not files:
        return {}
    try:
        data = json.loads(files[-1].read_text())
    except (OSError, ValueError):  # caught mid-write: ask again later
        return {}
    return {json.loads(t[0])["trial_id"]: json.loads(t[0])["status"] for t in data["trial_data"]}


def free_port() -> int:
    """A port nothing listens on now (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(root: int) -> list[int]:
    """`root` and every live process below it (by parent id) or in its session: what a process
    started with ``start_new_session`` spawned, wherever it was reparented."""
    parents: dict[int, int] = {}
    sessions: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(d.name)], sessions[int(d.name)] = int(fields[1]), int(fields[3])
    out = {root} if root in parents else set()
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in out and (ppid in out or sessions[pid] == root):
                out.add(pid)
                changed = True
    return sorted(out)


def kill_tree(root: int, sig: int = signal.SIGKILL) -> list[int]:
    """Signal `root` and everything under it (``tree``); returns the pids signalled."""
    pids = tree(root)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def marked(name: str, value: str) -> list[int]:
    """The live processes (but this one) whose environment has ``name=value``: what a run that
    put a mark in its environment started, however far it went from its session."""
    want = f"{name}={value}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if want in (d / "environ").read_bytes().split(b"\0"):
                out.append(int(d.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return out


def orphan_ends() -> None:
    """For ``Popen(preexec_fn=...)``: the child gets SIGTERM when the process that started it
    dies, SIGKILL included, where no ``finally`` runs (Linux's PR_SET_PDEATHSIG). ``ray start
    --block`` and ``mlflow server`` stop everything they spawned on SIGTERM."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class Service:
    """A process in a session of its own, with its log in `folder`: ``launch()`` starts it and
    returns at once, ``ready()`` says whether it answers yet (and raises if it has exited), so a
    caller can wait for it in a loop of its own; ``start()`` launches and waits. ``stop()``
    SIGKILLs it and everything it spawned (``kill_tree``), as a lost machine goes: by process
    id, never by name."""

    name = "service"

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}-{self.starts}.log"

    def launch(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.folder, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=orphan_ends)

    def ready(self) -> bool:
        if self.proc is None:
            return False
        if self.answers():
            return True
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: "
                               + self.log.read_text()[-3000:])
        return False

    def start(self, patience: float = 180) -> None:
        self.launch()
        deadline = time.monotonic() + patience
        while not self.ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer in {patience:.0f} s: "
                                   + self.log.read_text()[-3000:])
            time.sleep(0.5)

    def pids(self) -> list[int]:
        """Its processes now (``tree`` of the one launched)."""
        return tree(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []

    def stop(self) -> None:
        if self.proc is None:
            return
        kill_tree(self.proc.pid)
        self.proc.wait(timeout=60)
        self.proc = None


class MlflowServer(Service):
    """A real `mlflow server` on a free port with a sqlite store in `folder`; started again, it
    serves the same store."""

    name = "mlflow"

    def __init__(self, folder: Path) -> None:
        # without MLflow's job runner (a GenAI feature: eight huey processes a sweep never uses)
        super().__init__(folder, env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
                str(self.port), "--workers", "1", "--backend-store-uri",
                f"sqlite:///{self.folder / 'server.db'}", "--artifacts-destination",
                str(self.folder / "artifacts")]

    def answers(self) -> bool:
        from sweeps.tracking import reachable

        return reachable(self.uri)


class RayNode(Service):
    """One node of a local multi-node Ray cluster: ``ray start --block``, the head
    (``address=None``) or a node joining ``address``; ``stop()`` takes its GCS, raylet and trial
    workers with it. Its workers import this checkout (``PYTHONPATH`` in ``cluster_env``)."""

    name = "node"

    def __init__(self, folder: Path, cpus: int, address: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        # a loaded machine: a raylet may take over Ray's default 30 s to register
        super().__init__(folder, env={**os.environ, "RAY_raylet_start_wait_time_s": "180",
                                      **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"})
        self.cpus, self.head_address = cpus, address
        self.port = free_port() if address is None else None
        self.address = f"127.0.0.1:{self.port}" if address is None else address
        # Ray's own folder (sockets, session logs), not the shared /tmp/ray, where other
        # clusters' `address="auto"` would find this one; short: a socket path has ~107 bytes
        self.temp = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))

    @staticmethod
    def cluster_env() -> dict[str, str]:
        """The environment every process of one cluster shares (its nodes and its drivers): a
        token of its own (Ray 2.60 authenticates by token; none is read from or written to
        ~/.ray) and this checkout on the path."""
        import uuid

        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
                "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               "--num-cpus", str(self.cpus), "--num-gpus", "0", "--node-ip-address", "127.0.0.1",
               "--disable-usage-stats", "--temp-dir", str(self.temp),
               # ports of our own, not Ray's defaults: other clusters may run on this machine
               "--dashboard-agent-listen-port", str(free_port()),
               "--metrics-export-port", str(free_port()),
               "--runtime-env-agent-port", str(free_port())]
        if self.head_address is None:
            return cmd + ["--head", "--port", str(self.port), "--include-dashboard", "false"]
        return cmd + ["--address", self.head_address]

    def answers(self) -> bool:
        return "Ray runtime started" in self.log.read_text()

    def remove(self) -> None:
        """Stop it and delete Ray's folder of it (its logs are gone with it)."""
        import shutil

        self.stop()
        shutil.rmtree(self.temp, ignore_errors=True)


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
