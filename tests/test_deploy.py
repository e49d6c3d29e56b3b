"""What a cluster runs: cluster.yaml is valid for Ray's own launcher schema and says what the sweep
needs (a head Ray places no trial on, nodes installing the lock with Ray's dashboard and job API),
and the lock (constraints.txt) pins every dependency at a version pyproject.toml allows."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cluster() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema_and_runs_the_sweep_as_documented():
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _cluster()
    validate_config(prepare_config(copy.deepcopy(config)))  # as `ray up` checks it
    typo = {**copy.deepcopy(config), "max_wokers": 4}
    with pytest.raises(jsonschema.ValidationError):  # the check is real: a typo fails it
        validate_config(prepare_config(typo))

    nodes = config["available_node_types"]
    head = nodes[config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # trials never land on the driver's node
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert workers and all(n["max_workers"] > n["min_workers"] for n in workers)  # room to scale
    setup = " ".join(config["setup_commands"])
    assert "-c constraints.txt" in setup and '".[cluster]"' in setup


def test_the_lock_pins_every_dependency_within_pyprojects_ranges():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    extras = project["optional-dependencies"]
    needed = [Requirement(r) for r in
              project["dependencies"] + extras["cluster"] + extras["screens"]]
    for req in needed:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), f"{req} excludes the locked {pins[name]}"
    # the cluster extra brings Ray's dashboard and job API (ray[default]) on every node
    cluster = [Requirement(r) for r in project["optional-dependencies"]["cluster"]]
    assert any(r.name == "ray" and "default" in r.extras for r in cluster)
    # what ray[default] needs beyond ray[tune] is in the lock too
    assert {"aiohttp-cors", "py-spy", "opencensus", "grpcio"} <= set(pins)
    # and what the screens extra's playwright and optuna-dashboard pull in
    assert {"greenlet", "bottle"} <= set(pins)
