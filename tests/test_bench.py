"""Smoke tests of the throughput benchmark: it runs every side and reports usable figures.

Not timing tests: the machine may be shared, so only finiteness, positivity and consistency are
checked.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_paths_bench_trains_every_path_and_compares_them():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "paths.py"), "--iterations", "20",
                           "--sets", "2", "--seeds", "2", "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "sho preset, 20 iterations" in lines[0] and "over 2 seed sets" in lines[0]
    rows = {line.split()[0]: line for line in lines[2:6]}
    # each path ran as itself, 4 seeds each, a p-value against the first (fused)
    assert rows["fused"].rstrip().endswith("fused")
    assert "native (bench/paths.py" in rows["native"]
    assert "reference (fast_path = 'reference')" in rows["reference"]
    assert "reference (dtype float64" in rows["float64"]
    for name in ("native", "reference", "float64"):
        fields = rows[name].split()
        assert fields[1] == "4" and 0.0 <= float(fields[5]) <= 1.0, rows[name]


def test_paths_bench_refuses_an_unknown_path_before_training():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "paths.py"), "--paths",
                           "fused,fast"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--paths: unknown fast" in proc.stderr


def test_screens_without_a_browser_stops_in_one_line_naming_the_fix(tmp_path):
    # bench/screens.py drives headless Chromium; the tests never start a browser, only check
    # that a missing one is said (and fixed) before any sweep or server starts
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "screens.py"), "--chromium",
                           str(tmp_path / "no-chromium"), "--out", str(tmp_path / "shots")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"screens: no Chromium at {tmp_path / 'no-chromium'}: apt-get install -y chromium, or "
        "pass --chromium PATH"]
    assert not (tmp_path / "shots").exists()


def test_toy_bench_sets_the_preset_and_a_pick_beside_the_published_rows(tmp_path):
    from gan_core.presets import preset

    pick = preset("ring8", pack=2).to_dict()  # a sweep's pick, as its summary JSON holds it
    summary = tmp_path / "ring8.json"
    summary.write_text(json.dumps({"best": {"config": pick}}))
    out = tmp_path / "toy.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "toy.py"), "--problems", "ring8",
                           "--seeds", "2", "--iterations", "20", "--pick", f"ring8={summary}",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "PacGAN2 (PacGAN Table 1)" in proc.stdout and "7.9 +- 0.1" in proc.stdout
    assert "target (issue 24)" in proc.stdout and "reproduce: python bench/toy.py" in proc.stdout
    rows = json.loads(out.read_text())["problems"]["ring8"]
    assert [r["row"] for r in rows] == ["preset", "sweep's pick"]
    assert rows[1]["per_seed"]["config"]["pack"] == 2 and rows[0]["per_seed"]["config"]["pack"] == 1
    for r in rows:  # fresh seeds: the bench's own base seed, 2 replicas, 20 iterations
        assert r["seeds"] == 2 and r["per_seed"]["config"]["seed"] == 2024
        assert r["per_seed"]["config"]["iterations"] == 20
        assert 0 <= r["modes"] <= 8 and 0 <= r["hq"] <= 100 and r["kl"] >= 0
        assert 0 <= r["missing_any_ci"][0] <= r["missing_any"] / 2 <= r["missing_any_ci"][1] <= 1


def test_zoo_table_reads_a_sweeps_summary_and_says_where_the_bar_is_met():
    """bench/zoo.py's rows from the summary a sweep writes (search_gain: the start and the pick
    on the same fresh seeds): the bar is the pick's median <= 1e-3 with at most a quarter of its
    seeds failed; a sweep without a summary is a row with its error, never a crash."""
    sys.path.insert(0, str(ROOT / "bench"))
    import zoo

    refs = zoo.problems()
    assert len(refs) >= 8 and all(":" in r and Path(r.split(":")[0]).exists() for r in refs)

    def part(median, seeds):
        failed = sum(v > 2.5e-3 for v in seeds)
        return {"median_mse": median, "worst_mse": max(seeds), "failure_rate": failed / len(seeds),
                "failure_rate_ci": [0.0, 0.5], "seeds": seeds}

    good = part(2e-4, [1e-4] * 6 + [1.0] * 2)  # 2 of 8 failed: a quarter, still met
    bad = part(2e-4, [1e-4] * 5 + [1.0] * 3)   # 3 of 8: not met
    runs = {"A": {"search_gain": {"start": bad, "pick": good, "start_is_pick": False,
                                  "median_ratio": 1.0}, "metric": "rel_mse", "num_trials": 6},
            "B": {"search_gain": {"start": bad, "pick": bad, "start_is_pick": True,
                                  "median_ratio": 1.0}, "metric": "rel_mse", "num_trials": 5}}
    rows = [zoo.row(f"x.py:{k}", {"summary": s, "wall": 900.0, "error": ""})
            for k, s in runs.items()]
    rows.append(zoo.row("x.py:C", {"summary": {}, "wall": 3.0, "error": "gansweep: error: boom"}))
    assert [r.get("bar") for r in rows] == [True, False, None]
    text = zoo.table(rows, 480, 8)
    assert "| A | 6 | 2.0e-04 | 1.0e+00 | 3/8" in text and "| 2/8 (0-50%) | 1x | 900 s | yes |" in text
    assert "| B | 5 |" in text and "start = pick" in text and "gansweep: error: boom" in text
    assert text.rstrip().endswith("met on 1 of 3 problems.")


def test_around_moves_each_searched_parameter_one_step_inside_its_range_and_trains_them(tmp_path):
    """bench/around.py: each searched key one step from the start (sweeps.spaces.step, tested
    with the sweep's neighbours), then the fixed fields asked for; the start and the variants
    trained on the same fresh seeds, in the table as ratios."""
    sys.path.insert(0, str(ROOT / "bench"))
    import around

    start, todo = around.plan("exp", "gan", None, ["G.lr", "G.residual"], 3.0, [],
                              ["n_points=20"])
    assert sorted(k for k, _ in todo) == ["G.lr", "G.lr", "G.residual", "n_points"]
    assert todo[-1] == ("n_points", 20)
    out = tmp_path / "around.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "around.py"), "exp",
                           "--only", "G.residual", "--iterations", "30", "--seeds", "2",
                           "--seed-base", "77", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "2 fresh seeds (base 77)" in text and "| (start) |" in text
    assert "| G.residual | False (start True) |" in text or \
        "| G.residual | True (start False) |" in text
    assert "Best median ratio per parameter" in text


def test_search_bench_names_a_problem_file_absolutely(tmp_path, monkeypatch):
    """bench/search.py runs each sweep in its own folder: a problem file given relative to where
    it was started is made absolute (a registered name or a package reference stays as it is)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import search

    monkeypatch.chdir(ROOT)
    assert search.absolute("examples/zoo/poisson_source.py:PoissonSource") == \
        f"{ROOT / 'examples' / 'zoo' / 'poisson_source.py'}:PoissonSource"
    assert search.absolute("sho") == "sho"
    assert search.absolute("my_pkg.module:Class") == "my_pkg.module:Class"
    (tmp_path / "cloud.npy").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert search.absolute("cloud.npy") == str(tmp_path / "cloud.npy")


@pytest.mark.parametrize("args, said", [
    (["--seeds", "0,x"], "--seeds '0,x': give integers"),
    (["--problem", "no_such_problem"], "problem = 'no_such_problem' is unknown"),
    (["--schemes", "gansweep,grid"], "--schemes: grid unknown"),
])
def test_search_bench_says_a_wrong_value_before_any_sweep(args, said, capsys):
    """bench/search.py checks its values first: a one-line usage error naming the value, and no
    sweep started (each would spend its whole budget before the mistake showed)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import search

    with pytest.raises(SystemExit) as e:
        search.main(args)
    err = capsys.readouterr()
    assert e.value.code == 2 and said in err.err and "Traceback" not in err.err
    assert "sweeping" not in err.out


def test_search_bench_keeps_the_rows_measured_when_a_later_sweep_fails(tmp_path, monkeypatch,
                                                                       capsys):
    """A sweep that fails after others have been measured: their rows are printed and written
    (table and JSON), the error said in one line, the exit status 1."""
    sys.path.insert(0, str(ROOT / "bench"))
    import search

    def measure(problem, scheme, seed, budget):
        if seed == 1:
            raise RuntimeError(f"{scheme} seed {seed}: the sweep's own error")
        return {"scheme": scheme, "seed": seed, "pick": 1e-7, "pick_worst": 2e-7, "start": 1e-6,
                "gain": 10.0, "start_is_pick": False, "trials": 40,
                "decided_per_core_hour": 300.0, "curve": [4e-7, 2e-7, 1e-7], "wall": 250.0}

    monkeypatch.setattr(search, "measure", measure)
    out = tmp_path / "search.md"
    assert search.main(["--seeds", "0,1", "--schemes", "gansweep", "--out", str(out)]) == 1
    said = capsys.readouterr()
    assert "| gansweep | 1.00e-07 |" in said.out and "| gansweep | 1.00e-07 |" in out.read_text()
    assert [r["seed"] for r in json.loads(out.with_suffix(".json").read_text())] == [0]
    assert said.err.strip() == "error: gansweep seed 1: the sweep's own error"
