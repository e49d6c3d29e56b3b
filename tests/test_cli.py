"""The one-config CLI: per-seed table, plots, and one-line errors for bad values."""

import subprocess
import sys


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "gan_core", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_cli_trains_prints_the_table_and_saves_plots(tmp_path):
    out = tmp_path / "plots"
    p = _run("exp", "--seeds", "3", "--iterations", "40", "--set", "eval_every=20",
             "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    header = next(i for i, l in enumerate(lines) if l.split()[:3] == ["seed", "final", "MSE"])
    rows = [l.split() for l in lines[header + 1:header + 4]]
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert all(float(r[1]) >= 0 for r in rows)
    assert "median MSE" in p.stdout and "it     40/40" in p.stdout
    for name in ("exp_gan_solution.png", "exp_gan_curves.png"):
        assert (out / name).stat().st_size > 10_000


def test_cli_bad_value_is_one_line_naming_the_field(tmp_path):
    p = _run("sho", "--set", "G.lr=-1", "--out", str(tmp_path), cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip() == "error: G.lr = -1 is invalid: expected a finite number > 0"
    p = _run("sho", "--set", "G.activaton=tanh", cwd=tmp_path)
    assert p.returncode == 2 and "unknown key 'G.activaton'" in p.stderr
    assert not list(tmp_path.glob("**/*.png"))  # nothing ran
