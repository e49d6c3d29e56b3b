"""Users' equations, nobody's tuning: the default sweep of every problem in examples/zoo.

    python bench/zoo.py                                   # all of them, 480 s each (~1.5 h)
    python bench/zoo.py --problems lotka_volterra,pendulum --time-budget 240
    python bench/zoo.py --out zoo.md                      # the Markdown table into a file too
                                        # (rows in zoo.json: a rerun sweeps only what is missing)
    python bench/zoo.py --start-only                      # the family's start alone (~15 min)

Each problem is swept as a user would (``gansweep run examples/zoo/<file>.py:<Class>``, the
default options but the time budget, stores in a temporary folder), one after the other on this
machine. The sweep trains its start (the family's preset: the first trial) and its pick again on
the same fresh seeds at its end (``search_gain`` in its summary); the table shows both there:
median and worst relative MSE (MSE / the reference's mean square), the failure rate (a relative
RMS error above 5%) with its 95% Wilson interval, the sweep's wall time, and whether the pick meets
the bar: median relative MSE <= 1e-3 with at most a quarter of the fresh seeds failed.

``--start-only`` trains only each problem's start (the family's preset) on the sweeps'
confirmation seeds (replicas 4000-4007), two problems at a time, one thread each: what a user gets
before any search, in minutes rather than hours.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "examples" / "zoo"
BAR_MEDIAN, BAR_FAILED = 1e-3, 0.25  # the pick's median relative MSE, its share of failed seeds


def meets_bar(part: dict[str, Any]) -> bool:
    """A run's part of a summary (median, failure rate) meets the bar."""
    return part["median_mse"] <= BAR_MEDIAN and part["failure_rate"] <= BAR_FAILED


def problems(names: str | None = None) -> list[str]:
    """`file.py:Class` references of the zoo's problems (those `names` lists: file stems)."""
    out = []
    for f in sorted(ZOO.glob("*.py")):
        if names and f.stem not in names.split(","):
            continue
        cls = re.search(r"^class (\w+)", f.read_text(), re.M)
        if cls:
            out.append(f"{f}:{cls[1]}")
    return out


def sweep(problem: str, time_budget: float, folder: Path, extra: list[str]) -> dict[str, Any]:
    """The default sweep of `problem` with its stores in `folder`; its summary, with the wall
    time and the exit status."""
    summary = folder / "summary.json"
    cmd = [sys.executable, "-m", "sweeps", "run", problem, "--time-budget", str(time_budget),
           "--storage-path", str(folder / "ray"), "--tracking-uri", str(folder / "mlflow.db"),
           "--summary-json", str(summary), *extra]
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(  # this checkout's gansweep, installed or not
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    out = json.loads(summary.read_text()) if summary.exists() else {}
    (folder / "sweep.log").write_text(proc.stdout + proc.stderr)
    return {"summary": out, "wall": wall, "returncode": proc.returncode,
            "error": (proc.stderr.strip().splitlines() or [""])[-1]}


def start_only(problem: str, seeds: int = 8) -> dict[str, Any]:
    """The family's start of `problem` on `seeds` fresh replicas (base seed 4000, as the sweeps'
    confirmation), as a table row (start = pick: no search)."""
    import torch

    from gan_core import train
    from gan_core.presets import preset
    from sweeps.summary import CONFIRM_SEED_OFFSET, TRIAL_SEED_OFFSET, result_part

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    result = train(preset(problem, "gan", seeds=seeds, seed=TRIAL_SEED_OFFSET + CONFIRM_SEED_OFFSET))
    part = result_part(result)
    return {"problem": problem.rsplit(":", 1)[1], "metric": result.metric, "trials": 0,
            "start": part, "pick": part, "start_is_pick": True, "median_ratio": 1.0,
            "wall": time.perf_counter() - t0, "bar": meets_bar(part)}


def row(problem: str, run: dict[str, Any]) -> dict[str, Any]:
    """One line of the table from a sweep's summary."""
    s = run["summary"]
    name = problem.rsplit(":", 1)[1]
    gain = s.get("search_gain")
    if not gain:
        return {"problem": name, "error": run["error"] or "no summary", "wall": run["wall"]}
    start, pick = gain["start"], gain["pick"]
    return {"problem": name, "metric": s["metric"], "trials": s["num_trials"],
            "start": start, "pick": pick, "start_is_pick": gain["start_is_pick"],
            "median_ratio": gain["median_ratio"], "wall": run["wall"], "bar": meets_bar(pick)}


def _part(p: dict[str, Any]) -> str:
    n = len(p["seeds"])
    failed = round(p["failure_rate"] * n)
    low, high = p["failure_rate_ci"]
    return (f"{p['median_mse']:.1e} | {p['worst_mse']:.1e} | {failed}/{n} "
            f"({low * 100:.0f}-{high * 100:.0f}%)")


def table(rows: list[dict[str, Any]], time_budget: float, seeds: int,
          what: str | None = None) -> str:
    """The Markdown table: start and pick on the same fresh seeds, per problem (`what` they are,
    default a sweep's of `time_budget` seconds)."""
    head = ("| problem | trials | start: median | worst | failed (95% CI) | pick: median | worst "
            "| failed (95% CI) | gain | wall | bar met |\n|" + "---|" * 11)
    what = what or f"Default sweep per problem ({time_budget:.0f} s of trials), start and pick"
    lines = [f"{what} on the same {seeds} fresh seeds; relative MSE (MSE / the reference's mean "
             "square), failed = relative RMS error above 5%", "", head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['problem']} | - | {r['error']} |" + " |" * 8
                         + f" {r['wall']:.0f} s | no |")
            continue
        gain = "start = pick" if r["start_is_pick"] else f"{r['median_ratio']:.2g}x"
        lines.append(f"| {r['problem']} | {r['trials']} | {_part(r['start'])} | {_part(r['pick'])} "
                     f"| {gain} | {r['wall']:.0f} s | {'yes' if r['bar'] else 'no'} |")
    met = sum(1 for r in rows if r.get("bar"))
    lines += ["", f"Bar (pick's median <= {BAR_MEDIAN:g}, at most {BAR_FAILED:.0%} of its seeds "
              f"failed) met on {met} of {len(rows)} problems."]
    return "\n".join(lines)


def _write(out: str | None, rows: list[dict[str, Any]], time_budget: float) -> str:
    """The table of `rows`; into `out` (and the rows into its .json) when given."""
    seeds = next((len(r["pick"]["seeds"]) for r in rows if "pick" in r), 0)
    text = table(rows, time_budget, seeds)
    if out:
        Path(out).write_text(text + "\n")
        Path(out).with_suffix(".json").write_text(json.dumps(rows, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", help="file stems in examples/zoo, comma-separated (default all)")
    p.add_argument("--time-budget", type=float, default=480.0, help="seconds of trials per sweep")
    p.add_argument("--out", help="also write the Markdown table, and the rows as JSON beside it, "
                   "after every problem; problems already in that JSON (but failed sweeps) are not swept again")
    p.add_argument("--again", action="store_true", help="with --out: sweep every problem again")
    p.add_argument("--keep", help="keep each sweep's stores and log under this folder")
    p.add_argument("--start-only", action="store_true",
                   help="train each problem's start on 8 fresh seeds, no sweep")
    p.add_argument("extra", nargs="*", help="more gansweep run options, after --")
    a = p.parse_args(argv)
    refs = problems(a.problems)
    if not refs:
        p.error(f"--problems {a.problems}: none of them is in {ZOO}")
    if a.start_only:
        from concurrent.futures import ProcessPoolExecutor

        print(f"training the start of {len(refs)} problems on 8 fresh seeds, 2 at a time ...",
              flush=True)
        with ProcessPoolExecutor(2) as pool:
            rows = list(pool.map(start_only, refs))
        text = table(rows, 0, 8, what="The family's start alone")
        print("\n" + text)
        if a.out:
            Path(a.out).write_text(text + "\n")
        return 0
    saved = Path(a.out).with_suffix(".json") if a.out else None
    done = {r["problem"]: r for r in json.loads(saved.read_text()) if "error" not in r} \
        if saved and saved.exists() and not a.again else {}  # a failed sweep is tried again
    rows = [done[n] for n in (ref.rsplit(":", 1)[1] for ref in refs) if n in done]
    if rows:
        print(f"kept from {saved}: {', '.join(r['problem'] for r in rows)} (--again sweeps them "
              "again)", flush=True)
    for ref in refs:
        if ref.rsplit(":", 1)[1] in done:
            continue
        print(f"sweeping {ref} ({a.time_budget:.0f} s) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="gansweep_zoo_") as tmp:
            folder = Path(a.keep) / Path(ref.split(":")[0]).stem if a.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            rows.append(row(ref, sweep(ref, a.time_budget, folder, a.extra)))
        r = rows[-1]
        print(f"  {r['problem']}: " + (r["error"] if "error" in r else
              f"start {r['start']['median_mse']:.1e}, pick {r['pick']['median_mse']:.1e} "
              f"({r['pick']['failure_rate']:.0%} failed), {r['wall']:.0f} s"), flush=True)
        if saved:
            _write(a.out, rows, a.time_budget)
    text = _write(a.out, rows, a.time_budget)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
