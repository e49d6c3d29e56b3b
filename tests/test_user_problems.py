"""Users' own problems through the whole stack (issue 12), written into a temporary folder outside
the package: a logistic equation given as f(t, y) (reference by solve_ivp), a second-order ODE as
a Problem subclass (with and without a known solution), a 2-D point cloud from a .npy file. Each
trains, sweeps (``--smoke-test``: Ray's workers import it, one of them only from the copy Ray
shipped), is reported by ``python -m analysis report``, and bad input is one line before Ray."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_core import Config, ProblemError, make_problem, register_problem, train
from gan_core.problems import PROBLEMS, registry

LOGISTIC = '''
from gan_core import ODE


class Logistic(ODE):
    """x' = x (1 - x) on [0, 4], x(0) = 0.5: the sigmoid 1 / (1 + e^-t)."""

    interval = (0.0, 4.0)
    y0 = 0.5

    def f(self, t, y):
        return y * (1 - y)


def narrow(trial, method="gan"):
    """The user's own search space: G's learning rate and width only."""
    trial.suggest_float("G.lr", 1e-3, 1e-2, log=True)
    trial.suggest_categorical("G.width", (20, 40))
'''

# x'' + 2 b x' + x = 0, x(0) = 1, x'(0) = 0 on [0, 2 pi]: the full Problem API
OSCILLATOR = '''
import numpy as np

from gan_core import Problem
from gan_core.problems.base import decay


class DampedNoReference(Problem):
    """x'' + 2 b x' + x = 0, x(0) = 1, x'(0) = 0, b = 0.1: no reference, judged by its residual."""

    bounds = ((0.0, 2 * np.pi),)
    order = 2
    b = 0.1
    constants = {"b": "damping"}

    def solution(self, N, coords):
        (t,) = coords
        g = decay(t)
        return 1.0 + g * g * N

    def equation(self, u, coords):
        return u.dd(), -(2 * self.b * u.d() + u.value)


class Damped(DampedNoReference):
    """The same with its solution e^-bt (cos wt + b/w sin wt), w = sqrt(1 - b^2)."""

    def reference(self, X):
        t, w = X[:, :1], np.sqrt(1 - self.b ** 2)
        return np.exp(-self.b * t) * (np.cos(w * t) + self.b / w * np.sin(w * t))


class WrongShape(DampedNoReference):
    def equation(self, u, coords):
        return u.dd()[..., 0], u.value[..., 0]   # (seeds, n): the channel axis dropped
'''

BAD = '''
from gan_core import ODE


class NotAProblem:
    pass


class FlatF(ODE):
    interval = (0.0, 1.0)
    y0 = (1.0, 0.0)

    def f(self, t, y):
        return y[..., :1]   # one component of two
'''


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    """A folder outside the package with the user's files."""
    d = tmp_path_factory.mktemp("my_problems")
    (d / "logistic.py").write_text(LOGISTIC)
    (d / "oscillator.py").write_text(OSCILLATOR)
    (d / "bad.py").write_text(BAD)
    rng = np.random.default_rng(1)
    blobs = np.concatenate([rng.normal(size=(600, 2)) * [0.5, 0.2],
                            rng.normal(size=(600, 2)) * 0.2 + [1.5, 1.0]])
    np.save(d / "cloud.npy", blobs)
    bad = blobs.copy()
    bad[7, 1] = np.nan
    np.save(d / "nan.npy", bad)
    np.save(d / "flat.npy", blobs[:, 0])
    return d


# -- training from Python --------------------------------------------------------------------------
def test_logistic_from_its_right_hand_side_trains_against_solve_ivp(user_dir):
    name = f"{user_dir / 'logistic.py'}:Logistic"
    p = make_problem(name)
    t = p.grid()[:, 0]
    # a user's equation is judged relative to its solution's size (MSE / mean square of the
    # reference), and fails above a 5% relative RMS error
    assert p.order == 1 and p.n_out == 1 and p.metric == "rel_mse"
    assert p.failure_threshold == pytest.approx(0.05 ** 2)
    # the reference is solve_ivp's, to its tight tolerance: the sigmoid
    assert np.abs(p.reference(p.grid())[:, 0] - 1 / (1 + np.exp(-t))).max() < 1e-8
    from gan_core.presets import preset

    result = train(preset(name, "gan", seeds=4, iterations=1000))
    assert result.metric == "rel_mse" and result.median_mse < 1e-5, result.final_mse
    mse = np.mean((result.prediction - result.reference) ** 2, axis=(1, 2))  # the absolute MSE
    assert np.allclose(result.final_mse, mse / np.mean(result.reference ** 2), rtol=1e-6)
    assert result.failure_rate <= 0.25


def test_a_second_order_problem_subclass_trains_from_its_class(user_dir):
    sys.path.insert(0, str(user_dir))
    try:
        import oscillator
    finally:
        sys.path.remove(str(user_dir))
    # the class itself: registered, and the config keeps a name other processes resolve
    cfg = Config.from_dict({"problem": oscillator.Damped, "method": "l2", "seeds": 2,
                            "iterations": 600, "G.activation": "sin", "G.lr": 0.01,
                            "n_points": 60})
    assert cfg.problem == "oscillator:Damped" and "oscillator:Damped" in PROBLEMS
    result = train(cfg)
    assert result.metric == "rel_mse" and result.median_mse < 1e-3, result.final_mse
    # the problem API: what every layer asks
    cls = PROBLEMS[cfg.problem]
    assert (cls.family, cls.baseline_method, cls.plot, cls.key) == ("de", "l2", "solution",
                                                                    "damped")


def test_without_a_reference_the_metric_is_the_residual_on_a_fine_grid(user_dir):
    name = f"{user_dir / 'oscillator.py'}:DampedNoReference"
    cls = PROBLEMS[name]
    assert cls.metric == "residual" and "no reference" in cls.metric_label
    result = train(Config.from_dict({"problem": name, "method": "l2", "seeds": 2,
                                     "iterations": 300, "n_points": 40, "G.activation": "sin",
                                     "G.lr": 0.01}))
    assert result.metric == "residual" and "eval/residual" in result.curves
    assert result.grid.shape == (160, 1)  # 4x the training grid
    assert np.isnan(result.reference).all() and np.isfinite(result.final_mse).all()
    from gan_core.plots import plot_solutions

    fig = plot_solutions(result)
    assert "no reference" in fig.axes[0].get_title()
    from sweeps.metrics import failure_rule, label

    assert "no reference" in label("residual") and "residual" in failure_rule(name)


def test_a_point_cloud_from_a_npy_file_is_a_distribution_problem(user_dir):
    name = str(user_dir / "cloud.npy")
    p = make_problem(name)
    assert (p.family, p.metric, p.data_dim, p.baseline_method) == ("dist", "energy", 2, "vae")
    data, _, held, _ = p.datasets(np.random.default_rng(0), np.random.default_rng(1), False)
    assert len(data) + len(held) == 1200 and len(held) == 240  # 20% held out, never trained on
    assert not {tuple(x) for x in held} & {tuple(x) for x in data}
    from gan_core.presets import preset

    result = train(preset(name, "gan", seeds=2, iterations=300))  # the moons nets
    assert result.metric == "energy" and np.isfinite(result.final_mse).all()
    assert result.median_mse < 0.3  # two blobs, not noise (noise: ~1)


def test_registered_names_and_entry_points_resolve(user_dir, tmp_path, monkeypatch):
    cls = PROBLEMS[f"{user_dir / 'logistic.py'}:Logistic"]
    assert register_problem(cls, "my_logistic") == "my_logistic"
    assert Config(problem="my_logistic").problem == "my_logistic"
    with pytest.raises(ProblemError, match="built-in"):
        register_problem(cls, "sho")
    # a package that registers a problem by entry point, found through importlib.metadata
    dist = tmp_path / "mypkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\nsho_pkg = gan_core.problems.odes:SHO\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert PROBLEMS["sho_pkg"].key == "sho" and "sho_pkg" in registry.known()


def test_a_module_reference_is_imported_and_shipped_to_workers(user_dir, tmp_path, monkeypatch):
    pkg = tmp_path / "mylab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "equations.py").write_text(LOGISTIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert PROBLEMS["mylab.equations:Logistic"].key == "logistic"
    assert registry.shipped_folder("mylab.equations:Logistic") == str(pkg)
    from sweeps import cli, driver

    spec = cli.plan(["mylab.equations:Logistic", "--smoke-test"])  # gansweep run pkg.module:Class
    assert spec.problem == "mylab.equations:Logistic"
    assert driver._runtime_env(spec) == {"py_modules": [str(pkg)]}
    assert registry.shipped_folder(f"{user_dir / 'logistic.py'}:Logistic") == str(user_dir)
    assert registry.shipped_folder("sho") is None
    assert registry.shipped_folder("gan_core.problems.odes:SHO") is None  # gansweep's own


def test_a_missing_file_is_found_where_ray_shipped_its_folder(user_dir, tmp_path, monkeypatch):
    shipped = tmp_path / "ray_session" / user_dir.name
    shipped.mkdir(parents=True)
    (shipped / "logistic.py").write_text(LOGISTIC)
    monkeypatch.syspath_prepend(str(tmp_path / "ray_session"))
    gone = Path("/nonexistent/cluster/head") / user_dir.name / "logistic.py"
    assert registry.find_file(gone) == shipped / "logistic.py"
    assert PROBLEMS[f"{gone}:Logistic"].key == "logistic"


# -- search spaces -----------------------------------------------------------------------------
def test_the_search_space_is_the_familys_unless_the_user_gives_one(user_dir, tmp_path,
                                                                   monkeypatch):
    from gan_core.problems.registry import lookup
    from sweeps.cli import build, plan
    from sweeps.errors import UsageError

    monkeypatch.chdir(tmp_path)
    ref = f"{user_dir / 'logistic.py'}:Logistic"
    generic = plan([ref, "--search", "G.lr=1e-3:1e-2"]).space().distributions()
    assert "D.lr" in generic and (generic["G.lr"].low, generic["G.lr"].high) == (1e-3, 1e-2)
    cloud = plan([str(user_dir / "cloud.npy")]).searched()
    assert "G.activation" in cloud and "lr_gamma" not in cloud  # the distribution family's
    # Python: the class itself and the user's study function, saved by reference for --resume
    module = __import__(lookup(ref).__module__)
    spec = build(module.Logistic, study=module.narrow, smoke_test=True)
    assert spec.problem == ref and spec.study == f"{user_dir / 'logistic.py'}:narrow"
    assert spec.searched() == ["G.lr", "G.width"]
    assert plan([ref, "--study", spec.study]).searched() == ["G.lr", "G.width"]

    def local(trial, method="gan"):
        trial.suggest_float("G.lr", 1e-3, 1e-2)
    with pytest.raises(UsageError, match="top level"):
        build(ref, study=local)


def test_python_m_gan_core_trains_a_file_reference(user_dir, tmp_path, capsys):
    from gan_core.__main__ import main

    assert main([str(user_dir / "cloud.npy"), "--seeds", "2", "--iterations", "20", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert "energy" in capsys.readouterr().out and (tmp_path / "cloud_gan_solution.png").exists()


# -- bad input: one line before Ray starts ----------------------------------------------------------
@pytest.mark.parametrize("ref, message", [
    ("nowhere.py:Logistic", "does not exist"),
    ("logistic.py:Logistc", "has no 'Logistc'; the problems it defines: Logistic"),
    ("bad.py:NotAProblem", "not a problem"),
    ("bad.py:FlatF", "FlatF.f returned (1, 5, 1) for y of shape (1, 5, 2)"),
    ("oscillator.py:WrongShape", "WrongShape.equation returned lhs (1, 5) and rhs (1, 5)"),
    ("nan.npy", "1 of 1200 points hold NaN or inf (the first is row 7)"),
    ("flat.npy", "expected a 2-D array of points (n, d), got shape (1200,)"),
    ("missing.npy", "does not exist"),
])
def test_bad_input_is_one_line_before_ray(user_dir, capsys, ref, message):
    import ray

    from sweeps.cli import main

    assert main(["run", str(user_dir / ref), "--smoke-test"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not ray.is_initialized()


# -- swept and reported ---------------------------------------------------------------------------
def _sweep(args: list[str], tmp: Path) -> dict:
    import json

    from sweeps.cli import main

    out = tmp / "summary.json"
    assert main(["run", *args, "--smoke-test", "--summary-json", str(out)]) == 0
    return json.loads(out.read_text())


def _children(s: dict) -> list:
    from mlflow.tracking import MlflowClient

    m = s["mlflow"]
    runs = MlflowClient(m["tracking_uri"]).search_runs([m["experiment_id"]])
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == m["parent_run_id"]]


def _report(s: dict, tmp: Path) -> str:
    from analysis.__main__ import main

    m = s["mlflow"]
    assert main(["report", m["experiment_name"], "--tracking-uri", m["tracking_uri"],
                 "--out", str(tmp / "report"), "--no-baseline", "--no-mlflow"]) == 0
    return (tmp / "report" / "report.html").read_text()


@pytest.mark.parametrize("ref, metric, baseline", [
    ("oscillator.py:DampedNoReference", "residual", "l2"),
    ("cloud.npy", "energy", "vae"),
])
def test_a_users_problem_is_swept_logged_and_reported(user_dir, tmp_path, ref, metric,
                                                      baseline):
    name = str(user_dir / ref)
    s = _sweep([name], tmp_path)
    assert s["problem"] == name and s["metric"] == metric and s["num_trials"] == 3
    assert s["baseline"]["method"] == baseline and math.isfinite(s["baseline"]["median_mse"])
    assert s["mlflow"]["experiment_name"] == f"gansweep-{PROBLEMS[name].key}"
    children = _children(s)
    assert len(children) == 3
    for r in children:  # every run names the problem; the workers reported its metric
        assert r.data.tags["problem"] == name and r.data.params["problem"] == name
        assert f"eval/{metric}" in r.data.metrics
    html = _report(s, tmp_path)
    assert PROBLEMS[name].metric_label in html


def test_ray_workers_import_the_problem_from_the_folder_the_sweep_shipped(user_dir, tmp_path):
    """The cluster case on one machine: Ray starts with the sweep's runtime environment (the
    file's folder as py_modules), then the folder is moved away, so the workers can only import
    the copy Ray shipped."""
    import shutil

    import ray

    from sweeps import cli, driver

    folder = tmp_path / "lab"
    shutil.copytree(user_dir, folder)
    spec = cli.plan([f"{folder / 'logistic.py'}:Logistic", "--smoke-test"])
    env = driver._runtime_env(spec)
    assert env == {"py_modules": [str(folder)]}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env=env)
    try:
        folder.rename(tmp_path / "moved")
        summary = driver.run(spec).summary
    finally:
        ray.shutdown()
        (tmp_path / "moved").rename(folder)
    assert summary["metric"] == "rel_mse" and summary["num_trials"] == 3
    assert all(t["status"] in ("ok", "early-stopped") for t in summary["top"])
    children = _children(summary)
    assert {r.data.tags["problem"] for r in children} == {spec.problem}
    assert "relative MSE" in _report(summary, tmp_path)
