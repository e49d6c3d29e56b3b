"""No bad value ends in a traceback: every field of Config and of its nets (enumerated from
dataclasses.fields, so a field added later is walked with the rest) is given bad values through
every way in -- ``--set`` and ``--search`` of the sweep CLI (its planning, everything before Ray
starts), ``python -m gan_core``, and ``Config(...)`` / ``Config.from_dict`` in Python. Each input
ends as one line (exit status 2 on the command line, ConfigError in Python) or is accepted, and a
value of another type than the field declares (a string for a number, NaN, a bool for an
integer, 0 for a bool) is never accepted.

The walk runs in-process (a few thousand inputs in seconds); one subprocess per entry point checks
the real command's exit status and stderr."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import traceback
import typing
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from gan_core import Config, ConfigError, NetConfig
from gan_core.config import parse_value
from sweeps.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = "sho"  # its study searches nets, betas one at a time, g_iters, flags and lr_gamma

# what a user might type: the list and its neighbours
TEXTS = ["abc", "nan", "inf", "-inf", "1e999", "", "[1,2]", "(0.5,)", "(1e999, 0.9)", "{}",
         "True", "False", "None", "0", "-1", "1.5"]
# ... and what Python code might pass (numpy scalars, objects of no config type)
VALUES = [parse_value(t) for t in TEXTS] + [
    float("nan"), float("inf"), np.float32("nan"), np.float64(1e-3), np.int64(3), np.bool_(True),
    [0.5, 0.9], object(), b"x"]


def keys() -> dict[str, Any]:
    """Every settable key and its declared type: the fields of Config and, for each net, of
    NetConfig (G.width, D.lr, ...), plus the flat aliases the CLI and the studies use (a problem
    constant, G.beta1 / G.beta2)."""
    out: dict[str, Any] = {}
    top, net = typing.get_type_hints(Config), typing.get_type_hints(NetConfig)
    for f in dataclasses.fields(Config):
        if top[f.name] is NetConfig:
            for g in dataclasses.fields(NetConfig):
                out[f"{f.name}.{g.name}"] = net[g.name]
            for beta in ("beta1", "beta2"):
                out[f"{f.name}.{beta}"] = float
        out[f.name] = top[f.name]
    out["problem.v0"] = float  # problem_args through its flat key
    return out


def _wrong(tp: Any) -> list[Any]:
    """Values of another kind than `tp` allows: a config must refuse each one. Written out per
    kind here, apart from gan_core's own rules; a type this list does not know gets object()."""
    nan, inf = float("nan"), float("inf")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if type(None) in args:  # X | None: what X refuses, None aside
        return _wrong(next(a for a in args if a is not type(None)))[:-1]
    kinds = {
        bool: [0, 1, -1, 1.5, "abc", "", "True", [1, 2], {}],
        int: [1.5, 2.0, True, False, nan, inf, "abc", "", "1", [1, 2], {}],
        float: [True, False, nan, inf, -inf, np.float32("nan"), "abc", "", "0.1", [1, 2], {}],
        str: [0, -1, 1.5, True, [1, 2], {}],
    }
    if tp in kinds:
        return kinds[tp] + [object(), None]
    if origin is tuple:
        return ["abc", 0, 1.5, True, (0.5,), (inf, 0.9), (nan, 0.9), ("a", "b"), [1, 2, 3],
                object(), None]
    if origin is dict or tp is NetConfig:
        return ["abc", 0, 1.5, True, [1, 2], object(), None]
    return [object(), None]


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 -- numpy's elementwise comparisons
        return False


def _outcome(call: Callable[[], Any], errors: tuple[type, ...]) -> tuple[str, str]:
    """("rejected", the one line) | ("accepted", "") | ("traceback", what went wrong)."""
    try:
        call()
    except errors as e:
        text = str(e)
        return ("rejected", text) if text and "\n" not in text else ("traceback", repr(text))
    except Exception:  # noqa: BLE001 -- what the walk is looking for
        return "traceback", traceback.format_exc(limit=3)
    return "accepted", ""


def walk(values: list[Any] | None = None) -> list[dict[str, Any]]:
    """One row per input: route, key, value, outcome, message. Routes: set, search (KEY=V:V and
    KEY=V), gan_core (python -m gan_core --set), from_dict, Config (the dataclasses' own
    constructors)."""
    from gan_core.__main__ import configure, parse
    from sweeps.cli import check, plan

    def sweep(argv: list[str]) -> Callable[[], None]:
        return lambda: check(plan(argv))

    rows = []
    for key, tp in keys().items():
        for text in TEXTS:
            item = f"{key}={text}"
            for route, argv in [("set", [PROBLEM, "--set", item]),
                                ("search", [PROBLEM, "--search", f"{key}={text}:{text}"]),
                                ("search", [PROBLEM, "--search", item])]:
                rows.append({"route": route, "key": key, "value": text, "argv": argv,
                             "type": tp, "parsed": parse_value(text),
                             "outcome": _outcome(sweep(argv), (UsageError,))})
            argv = [PROBLEM, "--set", item]
            rows.append({"route": "gan_core", "key": key, "value": text, "argv": argv, "type": tp,
                         "parsed": parse_value(text),
                         "outcome": _outcome(lambda: configure(parse(argv)), (ConfigError,))})
        net, _, sub = key.partition(".")
        for value in (VALUES if values is None else values) + _wrong(tp):
            rows.append({"route": "from_dict", "key": key, "value": value, "type": tp,
                         "parsed": value, "outcome": _outcome(
                             lambda: Config.from_dict({key: value}), (ConfigError,))})
            if net in ("G", "D") and sub in typing.get_type_hints(NetConfig):
                direct = lambda: Config(**{net: NetConfig(**{sub: value})})  # noqa: E731
            elif "." not in key:
                direct = lambda: Config(**{key: value})  # noqa: E731
            else:
                continue  # an alias: from_dict's alone
            rows.append({"route": "Config", "key": key, "value": value, "type": tp,
                         "parsed": value, "outcome": _outcome(direct, (ConfigError,))})
    return rows


def figures(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per route: inputs, rejected (one line), accepted, tracebacks."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        f = out.setdefault(r["route"], {"inputs": 0, "rejected": 0, "accepted": 0,
                                        "traceback": 0})
        f["inputs"] += 1
        f[r["outcome"][0]] += 1
    return out


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    import os

    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("walk"))  # the CLI resolves its default stores here
    try:
        yield walk()
    finally:
        os.chdir(here)


def test_every_field_every_bad_value_no_traceback(rows):
    bad = [r for r in rows if r["outcome"][0] == "traceback"]
    assert len(rows) > 3000 and {r["key"] for r in rows} >= {"G.lr", "D.betas", "iterations"}
    assert not bad, f"{len(bad)} of {len(rows)} inputs ended in a traceback, e.g. " + "; ".join(
        f"{r['route']} {r['key']}={r['value']!r}: {r['outcome'][1]}" for r in bad[:5])


def test_a_value_of_the_wrong_type_is_never_accepted(rows):
    wrong = [r for r in rows if r["route"] in ("set", "gan_core", "from_dict", "Config")
             and r["outcome"][0] == "accepted"
             and any(_same(r["parsed"], w) for w in _wrong(r["type"]))]
    assert not wrong, "accepted: " + "; ".join(
        f"{r['route']} {r['key']}={r['value']!r}" for r in wrong[:10])
    # ... and the messages name the field and the value
    for r in rows:
        route, (outcome, message) = r["route"], r["outcome"]
        if route in ("from_dict", "Config") and outcome == "rejected" \
                and r["key"] not in ("problem", "G", "D", "problem_args"):
            assert r["key"].split(".")[-1].replace("beta1", "betas").replace(
                "beta2", "betas") in message, (r["key"], message)


def test_rejected_command_lines_exit_2_with_one_line(rows, capsys, tmp_path, monkeypatch):
    """The walk's rejected command lines through the real entry points, in-process: for every
    key and route (the walk ran each of its inputs through the same planning as main), main
    exits 2 and prints nothing but the walk's own line, and creates nothing."""
    from gan_core.__main__ import main as gan_core_main
    from sweeps.cli import main as sweep_main

    monkeypatch.chdir(tmp_path)
    rejected = [r for r in rows if r["route"] in ("set", "search", "gan_core")
                and r["outcome"][0] == "rejected"]
    assert len(rejected) > 1000
    first = {}  # (route, key) -> its first rejected input: every field through main
    for r in rejected:
        first.setdefault((r["route"], r["key"]), r)
    assert {k for _, k in first} == {r["key"] for r in rows if r["route"] == "set"}
    for r in first.values():
        main, prefix = (gan_core_main, "error: ") if r["route"] == "gan_core" else \
            (sweep_main, "gansweep: error: ")
        assert main(list(r["argv"])) == 2, r["argv"]
        out = capsys.readouterr()
        assert out.err == f"{prefix}{r['outcome'][1]}\n" and not out.out, (r["argv"], out)
    assert list(tmp_path.iterdir()) == []  # and nothing was created


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "sweeps", "run", PROBLEM, "--set", "G.lr=abc"],
    [sys.executable, "-m", "gan_core", PROBLEM, "--set", "G.width=abc"],
])
def test_the_commands_themselves(command, tmp_path):
    import os

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stdout == "", done
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, done.stderr
    assert "'abc' is invalid: expected" in line
    assert list(tmp_path.iterdir()) == []
