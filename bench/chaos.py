"""Chaos: a sweep on a 2-node local Ray cluster while its parts are killed, then the accounting.

    python bench/chaos.py                          # 50 trials, the faults below, temporary stores
    python bench/chaos.py --trials 12 --worker-kills 2 --mlflow-down 15 --node-down 10

The cluster is real: ``ray start --head`` and a second ``ray start --address`` on this machine (one
CPU each), each started and stopped by its process id (``tests/faults.py``: ``RayNode``), and so is
the MLflow store, a ``mlflow server`` on a free port with a sqlite backend (``MlflowServer``). The
driver is ``python -m sweeps run sho --address ...`` in a process of its own. At seeded random
points of the sweep (by trials finished, so a loaded machine does not move them) it then:

- SIGKILLs a trial's worker process ``--worker-kills`` times, while it trains between two
  checkpoints (``Chaos.kill_worker`` says how that is known; the pid must belong to our nodes);
- stops the MLflow server for ``--mlflow-down`` seconds, then starts it again on the same store;
- stops the second node (SIGKILL of its raylet and workers, as a lost machine) and starts it
  again ``--node-down`` seconds later;
- SIGKILLs the driver once, and runs the same command with ``--resume <its Tune folder>``.

One loop polls the state and fires each fault when its moment comes, without waiting on any
part: the faults overlap as they fall. At the end it checks, and prints as a table: exactly
``--trials`` trials in Tune, as many COMPLETE trials in the Optuna study, as many MLflow child
runs, none RUNNING, with Tune's trial ids and Tune's per-seed final values; every trial's last
iteration its budget or an ASHA rung (its stop); each killed worker was running the trial it was
aimed at, which went on in another process; and every trial that was killed (its results came
from more than one worker process, or Tune counted a failure) trained again here, in-process and
never killed, to the iteration it reached: its per-seed values equal, bit for bit. Exits 1 if
any check fails.

Everything it starts, it stops, by process id: at the end, on an error, on Ctrl-C, SIGTERM or
SIGHUP (the ``finally`` in ``main``); its children get SIGTERM if it is SIGKILLed itself
(``faults.orphan_ends``); and every process of a run carries ``GANSWEEP_CHAOS=<its folder>`` in
its environment, so the clean-up finds any that left its session. A whole run takes about as
long as the sweep: no test runs it (``tests/test_chaos.py`` checks its schedule and its
clean-up on SIGTERM); the fault tests in ``tests/test_reliability*.py`` cover each mechanism.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout; the fault helpers

import faults  # noqa: E402  (tests/faults.py: RayNode, MlflowServer, the helpers)

PROBLEM = "sho"
MARK = "GANSWEEP_CHAOS"  # in every process of a run: its folder


@dataclass
class Plan:
    """What to run and what to break, all fixed by the seed."""

    trials: int = 50
    seeds: int = 2
    iterations: int = 2000  # ASHA's rungs at 250 and 750; ~5 s of training for a full trial
    eval_every: int = 10
    worker_kills: int = 5
    mlflow_down: float = 60.0  # seconds the MLflow server is away
    node_down: float = 30.0  # seconds the second node is away
    seed: int = 0
    max_concurrent: int = 3  # two trials run (one CPU per node), one waits

    def grace(self) -> int:
        """ASHA's first rung, and the trials' checkpoint interval: the driver's rule on the fixed
        values of the sweep the CLI plans from these options (a curriculum moves it)."""
        from sweeps.cli import plan
        from sweeps.driver import _grace

        return _grace(plan([PROBLEM, "--trials", str(self.trials), "--seeds", str(self.seeds),
                            "--iterations", str(self.iterations), "--eval-every",
                            str(self.eval_every), "--seed", str(self.seed)]).fixed)

    def rungs(self) -> set[int]:
        """The iterations ASHA stops trials at (grace, 3 grace, ... below the budget)."""
        grace = self.grace()
        return {grace * 3 ** i for i in range(10) if grace * 3 ** i < self.iterations}

    def schedule(self) -> list[tuple[int, str]]:
        """(trials finished, event), in order. The outages (MLflow, the second node, the driver)
        take a minute or so each, and the sweep must go on past them (a sweep that ends while
        MLflow is down exits 1, asking for `gansweep relog`: docs/guarantees.md): they get
        windows of their own in the first 45% of the trials; the kills, which take no time,
        windows in the first 80%. Window order and the point in each are seeded random."""
        rng = random.Random(self.seed)

        def spread(kinds: list[str], hi: float) -> list[tuple[int, str]]:
            rng.shuffle(kinds)
            width = (max(2.0, hi * self.trials) - 1) / len(kinds)
            return [(1 + math.floor(i * width + rng.random() * width), kind)
                    for i, kind in enumerate(kinds)]

        events = spread(["mlflow", "node", "driver"], 0.45)
        if self.worker_kills:
            events += spread(["worker"] * self.worker_kills, 0.8)
        return sorted(events)


@dataclass
class Chaos:
    """The running sweep, its cluster and stores, and what was done to them.

    ``run()`` is one loop that polls the state (trials finished, Tune's rows and pids, the parts
    that are coming back) every 0.2 s and never waits on any one part: a fault fires once its
    count of finished trials has come and its moment is there (a worker past a checkpoint, a
    driver with a finished and a running trial), a restart is launched when it is due, and a
    launched part is noted back once it answers. The faults overlap as they fall."""

    plan: Plan
    out: Path
    head: Any = None
    node: Any = None
    server: Any = None
    driver: subprocess.Popen | None = None
    drivers: int = 0
    env: dict[str, str] = field(default_factory=dict)  # the cluster's (its token, the path)
    log: list[dict[str, Any]] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # worker pids already SIGKILLed
    node_ray_id: str | None = None  # the second node's, once its trials reported it
    due: list[tuple[float, Any]] = field(default_factory=list)  # (when, part): to launch again
    coming: list[tuple[float, Any]] = field(default_factory=list)  # (deadline, part) launched
    t0: float = field(default_factory=time.monotonic)

    # -- the parts -------------------------------------------------------------------------------
    def start(self) -> None:
        """The cluster, the MLflow server and the driver. Every process of the run carries
        ``MARK`` in its environment (the nodes pass theirs to what they spawn), which is how
        ``stop()`` makes sure none is left."""
        os.environ[MARK] = str(self.out)
        self.env = env = faults.RayNode.cluster_env()
        self.head = faults.RayNode(self.out / "head", cpus=1, env=env)
        self.node = faults.RayNode(self.out / "node", cpus=1, address=self.head.address, env=env)
        self.server = faults.MlflowServer(self.out)
        self.server.launch()  # the server comes up while the head does
        self.head.start()
        self.node.start()
        while not self.server.ready():
            time.sleep(0.5)
        self._drive()

    def stop(self) -> list[int]:
        """Stop everything this run started, by process id: the driver, both nodes (with their
        workers), the MLflow server; then any process still carrying ``MARK`` (none, unless
        something escaped its session). Returns the pids of those stragglers."""
        if self.driver is not None and self.driver.poll() is None:
            faults.kill_tree(self.driver.pid)
            self.driver.wait(timeout=60)
        for part in (self.node, self.head):
            if part is not None:
                part.remove()
        if self.server is not None:
            self.server.stop()
        left = faults.marked(MARK, str(self.out))
        for pid in left:
            faults.kill_tree(pid)
        return left

    def command(self) -> list[str]:
        p = self.plan
        return [sys.executable, "-m", "sweeps", "run", PROBLEM, "--address", self.head.address,
                "--trials", str(p.trials), "--seeds", str(p.seeds), "--iterations",
                str(p.iterations), "--eval-every", str(p.eval_every), "--seed", str(p.seed),
                "--max-concurrent", str(p.max_concurrent), "--max-failures", "5",
                # the sweep alone: no baseline, confirmation or finalists' race after it
                "--time-budget", "0", "--no-baseline", "--confirm-seeds", "0", "--finalists", "0",
                "--tracking-uri", self.server.uri, "--storage-path", str(self.out / "ray"),
                "--optuna-storage", f"sqlite:///{self.out / 'optuna.db'}",
                "--summary-json", str(self.out / "summary.json")]

    def _drive(self, resume: str | None = None) -> None:
        self.drivers += 1
        cmd = self.command() + (["--resume", resume] if resume else [])
        with (self.out / f"driver-{self.drivers}.log").open("w") as log:
            self.driver = subprocess.Popen(cmd, cwd=self.out, env={**os.environ, **self.env},
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True,
                                           preexec_fn=faults.orphan_ends)

    # -- what the sweep has done so far ------------------------------------------------------------
    def exp_dir(self) -> Path | None:
        found = sorted((self.out / "ray").glob("*/gansweep.json"))
        return found[-1].parent if found else None

    def finished(self) -> int:
        """Trials the Optuna study holds as COMPLETE (read-only; 0 before it exists)."""
        path = self.out / "optuna.db"
        if not path.exists():
            return 0
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'"
                                   ).fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:  # not created yet, or locked by a writer: ask again later
            return 0

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Trial id -> its complete result rows so far (Tune's result.json)."""
        exp = self.exp_dir()
        if exp is None:
            return {}
        return {d.name[len("trial_"):]: _rows(d / "result.json")
                for d in exp.glob("trial_*") if (d / "result.json").exists()}

    def note(self, kind: str, **info: Any) -> None:
        self.log.append({"event": kind, "at_s": round(time.monotonic() - self.t0, 1),
                         "finished": self.finished(), **info})
        print(f"[{self.log[-1]['at_s']:7.1f} s] {kind}: "
              + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)

    def up(self, part: Any) -> bool:
        """Whether `part` is running and was noted back (not stopped, nor still coming up)."""
        return part.proc is not None and all(p is not part for _, p in self.due + self.coming)

    # -- the faults: each returns False while its moment has not come (tried again) -------------
    def kill_worker(self) -> bool:
        """SIGKILL a worker while it trains a trial, between two of its checkpoints, where Tune
        retries the trial (a worker that dies while Tune hands it to the next trial, or at a
        rung where ASHA stops the trial, is another case: see docs/guarantees.md).

        Tune's rows lag the worker (the driver writes them as it gets to them), so the worker's
        place is taken from what the worker itself writes: trial X's newest checkpoint row is at
        iteration c, a later row says Tune kept X going past c, the newest checkpoint folder on
        disk is still c's (the worker has not reached the next one, c + grace), and that next
        one is neither a rung nor the budget (where X may stop); the pid is the one in X's last
        row, a process of one of our nodes whose working folder is still X's."""
        ours = set(self.head.pids()) | set(self.node.pids())
        grace, stops = self.plan.grace(), self.plan.rungs() | {self.plan.iterations}
        exp = self.exp_dir()
        for trial, rows in self.rows().items():
            saved = [r for r in rows if r.get("checkpoint_dir_name")]
            if not saved or rows[-1]["iteration"] <= saved[-1]["iteration"]:
                continue
            c, pid = saved[-1]["iteration"], rows[-1]["pid"]
            on_disk = sorted(p.name for p in (exp / f"trial_{trial}").glob("checkpoint_*"))
            if (on_disk[-1:] != [saved[-1]["checkpoint_dir_name"]] or c + grace in stops
                    or c + grace > self.plan.iterations or pid not in ours
                    or pid in self.killed or not _cwd(pid).endswith(f"trial_{trial}")):
                continue
            os.kill(pid, signal.SIGKILL)
            self.killed.add(pid)
            self.note("worker SIGKILLed", trial=trial, pid=pid,
                      between=f"iterations {c} and {c + grace}")
            return True
        return False

    def mlflow_outage(self) -> bool:
        """Stop the MLflow server; it is launched again (same store) `mlflow_down` seconds
        later."""
        self.server.stop()
        self.note("MLflow server stopped", seconds=self.plan.mlflow_down)
        self.due.append((time.monotonic() + self.plan.mlflow_down, self.server))
        return True

    def node_outage(self) -> bool:
        """SIGKILL the second node (raylet, workers: a lost machine); a new one joins the head
        `node_down` seconds later."""
        node_id = self._node_id()
        running = sorted(t for t, rows in self.rows().items()
                         if rows and rows[-1].get("node_id") == node_id
                         and rows[-1]["iteration"] < self.plan.iterations)
        self.node.stop()
        self.note("second node stopped", trials_there=running)
        self.due.append((time.monotonic() + self.plan.node_down, self.node))
        return True

    def kill_driver(self) -> bool:
        """SIGKILL the driver once Tune's saved state has a finished trial and a running one
        (and MLflow answers: the resumed driver checks its stores before it starts), then run
        the same command with --resume."""
        exp = self.exp_dir()
        state = faults.saved_state(exp) if exp else {}
        if not self.up(self.server) or not {"TERMINATED", "RUNNING"} <= set(state.values()):
            return False
        faults.kill_tree(self.driver.pid)  # the driver only: the cluster stays up
        self.driver.wait(timeout=60)
        self.note("driver SIGKILLed", running=sorted(t for t, v in state.items()
                                                     if v == "RUNNING"))
        self._drive(resume=str(exp))
        self.note("driver resumed", command=f"the same with --resume {exp}")
        return True

    def _node_id(self) -> str | None:
        """The second node's Ray id, as the rows its processes reported say (remembered: after
        a driver kill none of its processes may be running a trial)."""
        ours = set(self.node.pids())
        for rows in self.rows().values():
            if rows and rows[-1].get("pid") in ours:
                self.node_ray_id = rows[-1].get("node_id")
        return self.node_ray_id

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, patience: float = 3600, restart_patience: float = 240) -> None:
        """The schedule's faults, each at its count of finished trials once its moment has come,
        the restarts when due, then the sweep to its end; fail if it ends before every fault
        was done and every part was back."""
        do = {"worker": self.kill_worker, "mlflow": self.mlflow_outage,
              "node": self.node_outage, "driver": self.kill_driver}
        said = {self.server: "MLflow server started again", self.node: "second node started again"}
        events = self.plan.schedule()
        deadline = time.monotonic() + patience
        while events or self.due or self.coming or self.driver.poll() is None:
            now = time.monotonic()
            finished = self.finished()
            for event in [e for e in events if e[0] <= finished]:
                if do[event[1]]():
                    events.remove(event)
            for when, part in [d for d in self.due if d[0] <= now]:
                part.launch()
                self.due.remove((when, part))
                self.coming.append((now + restart_patience, part))
            for limit, part in list(self.coming):
                if part.ready():  # raises if it exited
                    self.coming.remove((limit, part))
                    self.note(said[part])
                elif now > limit:
                    raise RuntimeError(f"{part.name} not back in {restart_patience:.0f} s: "
                                       + _tail(part.log))
            self._node_id()
            code = self.driver.poll()
            if code not in (None, 0):
                raise RuntimeError(f"the driver exited with {code}: "
                                   + _tail(self.out / f"driver-{self.drivers}.log"))
            if code == 0 and events:
                raise RuntimeError(f"the sweep ended before its faults {events}: give its trials "
                                   "more iterations (or the sweep more trials)")
            if now > deadline:
                raise RuntimeError(f"not done after {patience:.0f} s; faults left: {events}")
            time.sleep(0.2)


# -- the accounting ------------------------------------------------------------------------------------
def account(chaos: Chaos) -> dict[str, Any]:
    """Every check of the outcome, from Tune's folder, the Optuna study and the MLflow server."""
    import numpy as np
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState
    from ray.tune import ExperimentAnalysis

    plan, exp = chaos.plan, chaos.exp_dir()
    summary = json.loads((chaos.out / "summary.json").read_text())
    trials = {t.trial_id: t for t in ExperimentAnalysis(str(exp)).trials}
    study = optuna.load_study(study_name=summary["sweep"], storage=summary["optuna"]["storage"])
    m = summary["mlflow"]
    client = MlflowClient(m["tracking_uri"])
    runs = client.search_runs([m["experiment_id"]],
                              f"tags.`mlflow.parentRunId` = '{m['parent_run_id']}'",
                              max_results=50000)
    by_trial = {r.data.tags.get("trial_id"): r for r in runs}
    seeds = range(plan.seeds)

    def per_seed(result: dict[str, Any]) -> list[float] | None:  # None: no report
        values = [result.get(f"eval/mse_seed_{k}") for k in seeds]
        return None if None in values else [float(v) for v in values]

    rungs = plan.rungs()  # a trial stops at its budget or at one of these (ASHA)
    last = {t: trials[t].last_result.get("iteration") for t in trials}
    mlflow_equal = sum(
        t in by_trial and [_mlflow_value(by_trial[t].data.metrics.get(f"eval/mse_seed_{k}"))
                           for k in seeds] == per_seed(trials[t].last_result) for t in trials)

    # the trials whose results came from more than one worker process, or that Tune retried
    killed, workers = {}, {}
    for t, trial in trials.items():
        rows = _rows(Path(trial.path, "result.json"))
        workers[t] = pids = list(dict.fromkeys(r["pid"] for r in rows))
        if len(pids) > 1 or trial.num_failures:
            again = rows[[r["pid"] for r in rows].index(pids[-1])]["iteration"] if len(pids) > 1 \
                else None
            got = per_seed(trial.last_result)
            rerun = _unkilled(trial.config, last[t]) if got else None
            killed[t] = {"attempts": len(pids), "failures": trial.num_failures,
                         "hit_by": _hits(chaos.log, t), "resumed_at": again,
                         "iteration": last[t], "sweep": got, "rerun": rerun,
                         "equal": got is not None and bool(np.array_equal(got, rerun))}
    # each worker SIGKILLed was the one running the trial it was aimed at: a later row of that
    # trial comes from another process
    aimed = [(e["trial"], e["pid"]) for e in chaos.log if e["event"] == "worker SIGKILLed"]
    hit = sum(pid in workers.get(t, []) and workers[t].index(pid) < len(workers[t]) - 1
              for t, pid in aimed)
    return {
        "tune_trials": len(trials),
        "tune_status": _count(t.status for t in trials.values()),
        "optuna_complete": sum(s.state == TrialState.COMPLETE for s in study.trials),
        "optuna_states": _count(s.state.name for s in study.trials),
        "mlflow_runs": len(runs),
        "mlflow_status": _count(r.info.status for r in runs),
        "mlflow_running": sum(r.info.status == "RUNNING" for r in runs),
        "same_ids": sorted(by_trial) == sorted(trials),
        "mlflow_values_equal": mlflow_equal,
        "iterations": _count(last.values()),
        "budget_or_rung": sum(v == plan.iterations or v in rungs for v in last.values()),
        "rungs": sorted(rungs),
        "killed": killed,
        "worker_kills": len(aimed),
        "worker_kills_hit": hit,
        "summary_trials": summary["num_trials"],
    }


def _unkilled(config: dict[str, Any], iteration: int) -> list[float]:
    """The trial's config trained here, never killed, up to `iteration`: its per-seed values."""
    import torch

    from gan_core import Config, train
    from sweeps.spaces import to_config

    class _Reached(Exception):
        pass

    got: list[float] = []

    def report(p: Any) -> None:
        if p.iteration >= iteration:
            got.extend(float(m) for m in p.mse)
            raise _Reached

    torch.set_num_threads(1)  # as the trial ran (one CPU)
    torch.set_default_dtype(torch.float32)
    try:
        train(Config.from_dict({**to_config(config), "device": "cpu"}), report=report)
    except _Reached:
        pass
    return got


def ok(a: dict[str, Any], plan: Plan, chaos: Chaos) -> dict[str, bool]:
    """Each promise, True when kept."""
    n = plan.trials
    kinds = [e["event"] for e in chaos.log]
    return {
        f"exactly {n} trials in Tune, all TERMINATED": a["tune_trials"] == n
        and a["tune_status"] == {"TERMINATED": n},
        f"{n} COMPLETE trials in the Optuna study, none RUNNING":
            a["optuna_complete"] == n and "RUNNING" not in a["optuna_states"],
        f"{n} MLflow child runs, none RUNNING, Tune's trial ids": a["mlflow_runs"] == n
        and a["mlflow_running"] == 0 and a["same_ids"],
        "every run's per-seed values in MLflow equal Tune's": a["mlflow_values_equal"] == n,
        "every trial's last iteration its budget or an ASHA rung": a["budget_or_rung"] == n,
        "each worker SIGKILLed was running its trial, which went on in another":
            a["worker_kills_hit"] == a["worker_kills"] == plan.worker_kills,
        "every killed trial's per-seed result equals an unkilled run":
            bool(a["killed"]) and all(k["equal"] for k in a["killed"].values()),
        "the summary counts every trial": a["summary_trials"] == n,
        f"faults: {plan.worker_kills} worker kills, driver killed and resumed, node and MLflow "
        "stopped and started": kinds.count("worker SIGKILLed") == plan.worker_kills
        and "driver resumed" in kinds and "second node started again" in kinds
        and "MLflow server started again" in kinds,
    }


def table(a: dict[str, Any], checks: dict[str, bool], chaos: Chaos, wall: float) -> str:
    lines = ["| check | result | |", "|---|---|---|"]
    figures = [
        f"{a['tune_trials']} trials ({_text(a['tune_status'])})",
        f"{a['optuna_complete']} COMPLETE ({_text(a['optuna_states'])})",
        f"{a['mlflow_runs']} runs ({_text(a['mlflow_status'])}), same ids: {a['same_ids']}",
        f"{a['mlflow_values_equal']} of {a['tune_trials']}",
        f"{a['budget_or_rung']} of {a['tune_trials']}: iterations {_text(a['iterations'])} "
        f"(rungs {', '.join(map(str, a['rungs']))})",
        f"{a['worker_kills_hit']} of {a['worker_kills']}",
        f"{sum(k['equal'] for k in a['killed'].values())} of {len(a['killed'])} killed trials",
        f"{a['summary_trials']}",
        "; ".join(f"{e['event']} at {e['at_s']:.0f} s" for e in chaos.log),
    ]
    for (check, kept), fig in zip(checks.items(), figures):
        lines.append(f"| {check} | {fig} | {'ok' if kept else 'FAILED'} |")
    lines += ["", "| killed trial | hit by | worker processes | Tune failures | last process's "
              "first report | last iteration | per-seed final MSE, sweep | unkilled rerun | "
              "equal |", "|---|---|---|---|---|---|---|---|---|"]
    for t, k in sorted(a["killed"].items()):
        lines.append(f"| {t} | {k['hit_by']} | {k['attempts']} | {k['failures']} | "
                     f"{k['resumed_at'] if k['resumed_at'] is not None else '-'} | "
                     f"{k['iteration']} | {_mses(k['sweep'])} | {_mses(k['rerun'])} | "
                     f"{'yes' if k['equal'] else 'NO'} |")
    lines.append(f"\nwall time {wall:.0f} s; {len(chaos.log)} events; drivers run: "
                 f"{chaos.drivers}")
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------------------
def _rows(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a Tune result.json (the last one may be half written)."""
    out = []
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out


def _cwd(pid: int) -> str:
    """The working folder of process `pid` ('' if it is gone): Tune moves a trial's worker into
    the trial's own folder (``RAY_CHDIR_TO_TRIAL_DIR``)."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _hits(log: list[dict[str, Any]], trial: str) -> str:
    """The faults that named `trial`: its worker killed, on the stopped node, running when
    the driver was killed."""
    said = {"worker SIGKILLed": "worker kill", "second node stopped": "node stop",
            "driver SIGKILLed": "driver kill"}
    hits = [said[e["event"]] for e in log if e["event"] in said
            and trial in (e.get("trial"), *e.get("trials_there", ()), *e.get("running", ()))]
    return ", ".join(hits) or "-"


def _mlflow_value(v: float | None) -> float | None:
    return math.inf if v is not None and v >= sys.float_info.max else v


def _count(items: Any) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def _text(counts: dict[Any, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _mses(values: list[float] | None) -> str:
    return " ".join(f"{v:.6e}" for v in values) if values else "-"


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text()[-n:]
    except OSError:
        return ""


def _exit_on(sig: int, frame: Any) -> None:
    raise SystemExit(128 + sig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    plan = Plan()
    for name, value in vars(plan).items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    ap.add_argument("--out", help="folder for the stores and logs (default: a temporary one)")
    a = vars(ap.parse_args(argv))
    out = Path(a.pop("out") or tempfile.mkdtemp(prefix="gansweep_chaos_")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan(**a)
    print(f"chaos: {plan.trials} trials of {PROBLEM} x {plan.iterations} iterations, "
          f"{plan.seeds} seeds; events (trials finished, event): {plan.schedule()}; in {out}",
          flush=True)
    chaos = Chaos(plan, out)
    # SIGTERM and SIGHUP end the run as Ctrl-C does: through the finally below, which stops
    # every process it started
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    t0 = time.monotonic()
    try:
        chaos.start()
        chaos.run()
        wall = time.monotonic() - t0
        a = account(chaos)  # the MLflow server still up: its runs are part of the accounting
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # no second signal stops
            signal.signal(sig, signal.SIG_IGN)                       # the clean-up half way
        left = chaos.stop()
        print(f"chaos: stopped every process it started in {out}"
              + (f" ({len(left)} outside their sessions, killed: {left})" if left else ""),
              flush=True)
    checks = ok(a, plan, chaos)
    print(table(a, checks, chaos, wall))
    (out / "chaos.json").write_text(json.dumps({"plan": vars(plan), "events": chaos.log,
                                                "accounting": a, "checks": checks,
                                                "wall_seconds": wall}, indent=2, default=str))
    print(f"details: {out / 'chaos.json'}; logs: {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
