"""Bad input fails before Ray starts, in one line naming the value and the fix (exit status 2), and
creates nothing: unknown names, out-of-range numbers, empty search ranges, a --resume of a folder
that holds no sweep, more GPUs/CPUs than this machine has, an --address or an MLflow server where
nothing answers, a store that cannot be written. (tests/test_sweeps.py has the basic options.)"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from sweeps import preflight
from sweeps.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()  # nothing listens here: bound once, then released

WIDE = ["sho", "--study", "sho_wide"]  # the 17-parameter sho study: G's shape and rate too
BAD = [
    # unknown names
    (["sho", "--set", "G.activation=sine"], ["G.activation", "'sine'", "expected one of", "tanh"]),
    ([*WIDE, "--search", "G.activation=tanh,sine"], ["G.activation", "'sine'", "tanh"]),
    (["sho", "--set", "G.colour=red"], ["G.colour"]),
    ([*WIDE, "--search", "D.colour=1:2"], ["D.colour", "not searched", "G.lr"]),
    (["sho", "--method", "gan", "--set", "method=l2"], ["method", "--method"]),
    # out-of-range numbers
    (["sho", "--set", "G.lr=-1"], ["G.lr", "-1", "> 0"]),
    (["sho", "--set", "seeds=0"], ["seeds", "0"]),
    (["sho", "--max-failed-trials", "-1"], ["--max-failed-trials", "-1", ">= 0"]),
    (["sho", "--max-failures", "-2"], ["--max-failures", "-2", ">= 0"]),
    ([*WIDE, "--search", "G.lr=0:1e-2"], ["G.lr=0:1e-2", "log scale", "LOW must be > 0"]),
    (["sho", "--search", "D.lr=-1e-3:1e-3"], ["D.lr", "LOW must be > 0"]),
    ([*WIDE, "--search", "G.width=0,16"], ["G.width", "0"]),
    # empty search ranges
    ([*WIDE, "--search", "G.lr=1e-2:1e-3"], ["G.lr=1e-2:1e-3", "empty range", "LOW <= HIGH"]),
    ([*WIDE, "--search", "G.activation="], ["G.activation", "no choices", "tanh"]),
    (["sho", "--search", "lr_end=1e-3:1e-6"], ["lr_end", "empty range"]),
    ([*WIDE, "--search", "G.lr"], ["G.lr", "KEY=VALUE"]),
    # more CPUs per trial than this machine has (no local Ray could ever run a trial)
    (["sho", "--cpus-per-trial", "100000"], ["--cpus-per-trial 100000", "CPUs", "--address"]),
    # nothing answers at --address
    (["sho", "--address", f"127.0.0.1:{PORT}"],
     [f"--address 127.0.0.1:{PORT}", "nothing answers there", "ray start --head"]),
    (["sho", "--address", f"ray://127.0.0.1:{PORT}"], ["nothing answers there"]),
    (["sho", "--address", "no-such-host.invalid:6379"], ["no-such-host.invalid", "nothing answers"]),
    (["sho", "--address", "6379"], ["--address 6379", "HOST:6379"]),
    # no MLflow server at --tracking-uri
    (["sho", "--tracking-uri", f"http://127.0.0.1:{PORT}"],
     [f"http://127.0.0.1:{PORT}", "no MLflow server answers there", "mlflow server"]),
    # not a database Optuna can use; a storage URI that holds no sweep
    (["sho", "--optuna-storage", "redis://cache:6379"],
     ["--optuna-storage redis://cache:6379", "sqlite:///PATH", "postgresql://"]),
    (["sho", "--resume", "file:///nonexistent/sho-gan-1"],
     ["--resume file:///nonexistent/sho-gan-1", "not a gansweep experiment folder"]),
]


def _one_line_before_ray(argv: list[str], words: list[str], capsys) -> str:
    import ray

    t0 = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gansweep: error:") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert not ray.is_initialized()
    assert time.monotonic() - t0 < 20  # fast: the only wait is a 5 s connect timeout at most
    return err


@pytest.mark.parametrize("argv,words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_before_ray(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line_before_ray(argv, words, capsys)
    assert list(tmp_path.iterdir()) == []  # no store created either


@pytest.mark.parametrize("have,ask,words", [
    (0, "1", ["--gpus-per-trial 1", "no GPU", "--gpus-per-trial 0"]),
    (0, "0.5", ["--gpus-per-trial 0.5", "no GPU"]),
    (1, "2", ["--gpus-per-trial 2", "1 GPUs", "--address"]),
])
def test_more_gpus_than_this_machine_has(have, ask, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(preflight, "_local_gpus", lambda: have)  # whatever this machine has
    _one_line_before_ray(["sho", "--gpus-per-trial", ask], words, capsys)


def test_resume_of_a_folder_without_a_sweep(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    _one_line_before_ray(["sho", "--resume", str(tmp_path / "empty")],
                         [str(tmp_path / "empty"), "not a gansweep experiment folder"], capsys)
    _one_line_before_ray(["sho", "--resume", "--storage-path", str(tmp_path / "empty")],
                         ["no sho sweep to resume", "--storage-path"], capsys)
    assert main(["relog", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a gansweep experiment folder" in err


def test_a_bad_mlflow_tracking_uri_variable_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgres2://db/mlflow")
    _one_line_before_ray(["sho"], ["MLFLOW_TRACKING_URI=postgres2://db/mlflow", "sqlite:///PATH"],
                         capsys)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'missing' / 'm.db'}")
    _one_line_before_ray(["sho"], ["does not exist"], capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_be_written(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "junk.db").write_text("not a database " * 100)
    for uri, words in [
        (f"sqlite:///{tmp_path / 'missing' / 'm.db'}", ["does not exist", "create it"]),
        (f"sqlite:///{tmp_path / 'file' / 'm.db'}", ["is not a folder"]),
        (f"sqlite:///{tmp_path / 'junk.db'}", ["cannot write the store", "not a database"]),
        (f"file://{tmp_path / 'file' / 'runs'}", ["is not a folder"]),
    ]:
        _one_line_before_ray(["sho", "--tracking-uri", uri], [uri, *words], capsys)
    for url, words in [  # Optuna's sqlite storage, checked the same way
        (f"sqlite:///{tmp_path / 'missing' / 'o.db'}", ["does not exist", "create it"]),
        (f"sqlite:///{tmp_path / 'junk.db'}", ["cannot write the store", "not a database"]),
    ]:
        _one_line_before_ray(["sho", "--optuna-storage", url],
                             [f"--optuna-storage {url}", *words], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "junk.db"]


def test_a_search_space_written_with_an_empty_range(capsys, tmp_path, monkeypatch):
    from sweeps import cli

    def broken(trial, method="gan"):  # as someone might write it in sweeps/spaces.py
        trial.suggest_float("G.lr", 1e-2, 1e-3, log=True)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "study_for", lambda problem: broken)
    _one_line_before_ray(["sho"], ["sho search space", "broken", "low <= high",
                                   "fix its range"], capsys)


def test_set_pins_a_searched_key_and_search_narrows_a_range(tmp_path, monkeypatch):
    from sweeps.cli import plan

    monkeypatch.chdir(tmp_path)
    p = plan([*WIDE, "--set", "G.activation=tanh", "--set", "D.betas=(0.9, 0.99)",
              "--search", "G.lr=2e-3:4e-3", "--search", "G.width=20,40"])
    dists = p.space().distributions()
    assert "G.activation" not in dists and "D.beta1" not in dists  # pinned: not searched
    assert (dists["G.lr"].low, dists["G.lr"].high, dists["G.lr"].log) == (2e-3, 4e-3, True)
    assert dists["G.width"].choices == (20, 40)
    assert p.fixed["G.activation"] == "tanh" and list(p.fixed["D.betas"]) == [0.9, 0.99]
