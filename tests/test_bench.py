"""Smoke tests of the throughput benchmark: it runs every side and reports usable figures.

Not timing tests: the machine may be shared, so only finiteness, positivity and consistency are
checked.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(tmp_path, *args):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "throughput.py"), *args,
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out.read_text())


def test_throughput_quick_reports_every_side(tmp_path):
    stdout, data = _bench(tmp_path, "--quick", "--configs", "exp", "sho", "sho-paper-100",
                          "--seeds", "1", "2", "--iterations", "2", "--warmup", "1")
    assert "naive" in stdout and "reference" in stdout and "% FLOP limit" in stdout
    rows = data["rows"]
    assert {(r["config"], r["seeds"]) for r in rows} == {
        (c, k) for c in ("exp", "sho", "sho-paper-100") for k in (1, 2)}
    assert data["sgemm_peak_gflops"] > 0
    for r in rows:
        for key in ("naive_rate", "reference_rate", "fast_rate", "fast_vs_naive",
                    "flops_per_trial_epoch", "flop_share"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["fast_vs_naive"] == r["fast_rate"] / r["naive_rate"]
        assert r["flop_share"] == r["fast_rate"] / r["flop_limit_rate"]
        assert min(r["iterations"].values()) >= 2, r
        assert r["fast_path"] == "fused"  # exp and sho with gan: the fused steps
    # the paper's sho nets carry more FLOPs per trial-epoch than the issue's
    flops = {r["config"]: r["flops_per_trial_epoch"] for r in rows}
    assert flops["sho-paper-100"] > flops["exp"]


def test_sweep_mode_times_trials_with_the_build(tmp_path):
    stdout, data = _bench(tmp_path, "--sweep", "--quick", "--budget", "0.2")
    assert "building the kernels from a cold cache" in stdout
    # the build also amortised over a default sweep, and the trials' share of the FLOP limit
    assert "without the build" in stdout and "of a default sho sweep" in stdout
    assert "% of the FLOP limit; at 100%" in stdout
    assert data["build_s"] > 0 and len(data["rows"]) == 2
    for r in data["rows"]:
        assert r["trial_epochs"] == 8 * 20  # K = 8, 20 iterations
        for key in ("fast_rate", "naive_rate", "reference_rate"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
