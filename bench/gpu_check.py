"""GPU check: gan_core's trial path on a CUDA GPU, against its CPU path, and a sweep on the GPU.

    python bench/gpu_check.py                  # on a machine with a CUDA GPU: under 8 minutes
    python bench/gpu_check.py --quick          # K = 8 and 64, shorter budgets: ~3 minutes
    python bench/gpu_check.py --json gpu.json

1. CUDA graphs against eager: short runs on the GPU with the steps replayed as CUDA graphs
   (fast_path "auto") and eager (fast_path "reference"), with instance noise, soft labels and
   spectral norm (random numbers drawn inside the captured steps): the same losses and MSE at
   every iteration to round-off, and the path each run reports.
2. Throughput at K = 8, 64, 512 on the issue's exp and sho configs and the DEQGAN paper's sho at
   100 points: the CPU fast path (one thread), the GPU eager and the GPU with CUDA graphs, in
   trial-epochs per wall second (a GPU's time is wall time; the CPU side is also given per core
   second).
3. A 4-trial smoke sweep, ``python sweeps/sho_sweep.py --smoke-test --trials 4
   --gpus-per-trial 0.25``: every trial's MLflow run has device cuda and its GPU ids as tags.

Exit status 0 when every check passed, 1 when one failed, 2 when there is no CUDA GPU here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install
sys.path.insert(0, str(ROOT / "bench"))

from gan_core import Config, NetConfig, train  # noqa: E402
from gan_core.presets import preset  # noqa: E402
from throughput import CONFIGS, time_core  # noqa: E402


def check_graphs(iterations: int = 12) -> dict:
    """Graphed and eager GPU runs of the same configs: every iteration's losses and MSE."""
    configs = {
        "exp: sn, noise, soft labels, conditional D, 3:2":
            Config(problem="exp", seeds=4, iterations=iterations, eval_every=1,
                   spectral_norm=True, instance_noise=True, soft_labels=0.2, conditional_d=True,
                   g_iters=3, d_iters=2, device="cuda"),
        "sho: the paper's (residual, sn, noise, g_first)":
            preset("sho", source="paper", seeds=4, iterations=iterations, eval_every=1,
                   n_points=100, device="cuda"),
        "moons: data batches drawn inside G's step":
            Config(problem="moons", seeds=4, iterations=iterations, eval_every=iterations,
                   G=NetConfig(width=64, depth=2, activation="relu"),
                   D=NetConfig(width=64, depth=2, activation="leaky_relu"), device="cuda"),
    }
    out = {}
    for name, cfg in configs.items():
        graphed, eager = train(cfg), train(cfg.replace(fast_path="reference"))
        worst = max(float(np.max(np.abs(graphed.curves[k] - eager.curves[k])
                                 / np.maximum(np.abs(eager.curves[k]), 1e-12)))
                    for k in ("train/g_loss", "train/d_loss", f"eval/{graphed.metric}"))
        ok = graphed.fast_path == "cuda graphs" and worst < 1e-3
        out[name] = {"graphed_path": graphed.fast_path, "eager_path": eager.fast_path,
                     "max_relative_difference": worst, "ok": ok}
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: graphed path {graphed.fast_path!r}, "
              f"largest relative difference to eager {worst:.1e}", flush=True)
    return out


def throughput(seeds: list[int], budget: float) -> list[dict]:
    """Trial-epochs per second: CPU fast path, GPU eager, GPU graphs."""
    rows = []
    for name in ("exp", "sho", "sho-paper-100"):
        cfg = CONFIGS[name][0]()
        for K in seeds:
            warmup = 5
            cpu = time_core(cfg, K, warmup, budget, None, "auto")
            sides = {"cpu": cpu}
            for side, path in (("gpu eager", "reference"), ("gpu graphs", "auto")):
                sides[side] = time_core(cfg.replace(device="cuda"), K, warmup, budget, None, path)
            row = {"config": name, "seeds": K, "cpu_path": cpu.path,
                   "cpu_per_core_second": cpu.rate(K),
                   **{f"{side}_per_second": K * t.iterations / t.wall
                      for side, t in sides.items()},
                   "gpu_graphs_path": sides["gpu graphs"].path}
            rows.append(row)
            print(f"  {name:<14} K={K:<4} cpu {row['cpu_per_second']:9.0f}  gpu eager "
                  f"{row['gpu eager_per_second']:9.0f}  gpu graphs "
                  f"{row['gpu graphs_per_second']:9.0f}  ({row['gpu_graphs_path']})", flush=True)
    return rows


def smoke_sweep() -> dict:
    """A 4-trial smoke sweep on the GPU; what its MLflow runs say about where they ran."""
    import mlflow

    tmp = Path(tempfile.mkdtemp(prefix="gansweep-gpu-"))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cmd = [sys.executable, str(ROOT / "sweeps" / "sho_sweep.py"), "--smoke-test", "--trials", "4",
           "--gpus-per-trial", "0.25", "--no-baseline", "--tracking-uri", uri,
           "--storage-path", str(tmp / "ray_results"), "--summary-json", str(tmp / "summary.json")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=ROOT)
    wall = time.perf_counter() - t0
    out: dict = {"command": " ".join(cmd[1:]), "returncode": proc.returncode, "wall_s": wall}
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-2000:]
        out["ok"] = False
        print(f"  FAIL smoke sweep exited {proc.returncode}:\n{proc.stderr[-2000:]}", flush=True)
        return out
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["gansweep-sho"])  # the sweep's and its trials'
    trials = runs[runs["tags.trial_id"].notna()] if "tags.trial_id" in runs else runs.iloc[:0]
    tags = [{k: r.get(f"tags.{k}") for k in ("trial_id", "device", "gpu_ids", "fast_path")}
            for _, r in trials.iterrows()]
    out["runs"] = tags
    out["ok"] = (len(tags) == 4 and all(t["device"] == "cuda" and t["gpu_ids"] for t in tags))
    for t in tags:
        print(f"  trial {t['trial_id']}: device {t['device']}, gpu_ids {t['gpu_ids']!r}, "
              f"fast_path {t['fast_path']!r}", flush=True)
    print(f"  {'ok  ' if out['ok'] else 'FAIL'} smoke sweep: {len(tags)} trial runs in "
          f"{wall:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="K = 8, 64 and shorter budgets")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds timed per config and side (default 2, 1 quick)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing measured (run this on a machine with one)")
        return 2
    torch.set_num_threads(1)
    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
    print(f"torch {report['torch']} on {report['gpu']}\n1. CUDA graphs against eager", flush=True)
    t0 = time.perf_counter()
    report["graphs"] = check_graphs()
    print("2. trial-epochs per second (CPU: one thread; GPU: wall)", flush=True)
    seeds = [8, 64] if args.quick else [8, 64, 512]
    report["throughput"] = throughput(seeds, args.budget or (1.0 if args.quick else 2.0))
    print("3. a 4-trial smoke sweep with --gpus-per-trial 0.25", flush=True)
    report["sweep"] = smoke_sweep()
    report["wall_s"] = time.perf_counter() - t0
    ok = all(v["ok"] for v in report["graphs"].values()) and report["sweep"]["ok"]
    print(f"{'all checks passed' if ok else 'a check FAILED'} in {report['wall_s']:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
