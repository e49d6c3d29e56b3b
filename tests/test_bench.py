"""Smoke test of the throughput benchmark: it runs both sides and reports usable figures.

Not a timing test: the machine may be shared, so only finiteness and positivity are checked.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_throughput_quick_reports_both_sides(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "throughput.py"), "--quick", "--seeds", "1", "2",
         "--iterations", "2", "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "gan_core" in proc.stdout and "naive" in proc.stdout
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert {(r["problem"], r["seeds"]) for r in rows} == {(p, k) for p in ("exp", "sho")
                                                          for k in (1, 2)}
    for r in rows:
        for key in ("naive_rate", "core_rate", "ratio"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["naive_iterations"] >= 2 and r["core_iterations"] >= 2, r
