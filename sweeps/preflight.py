"""Checks of the world outside the options, made before Ray starts: are the MLflow store and the
Optuna storage reachable and writable, does anything answer at ``--address``, does this machine have
the GPUs asked for.

Each raises ``UsageError`` with one line naming the value and the fix (exit status 2). None of them
creates anything: a sweep that cannot run leaves no store behind.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from gan_core.errors import first_line

from .errors import UsageError

TIMEOUT_S = 5.0


def tracking(uri: str) -> None:
    """The MLflow store at `uri` answers (servers) or can be written (sqlite, file stores)."""
    if uri.startswith(("http://", "https://")):
        _server(uri)
    elif uri.startswith("sqlite:///"):
        _sqlite(Path(uri[len("sqlite:///"):]), f"--tracking-uri {uri}")
    elif uri.startswith("file:"):
        _folder(Path(urlparse(uri).path), f"--tracking-uri {uri}", create_ok=True)


def database(url: str, option: str) -> None:
    """A sqlite database at `url` can be written (or created); server databases (postgresql,
    mysql) are left to their driver, at the sweep's start."""
    if url.startswith("sqlite:///"):
        _sqlite(Path(url[len("sqlite:///"):]), f"{option} {url}")


def _server(uri: str) -> None:
    import requests

    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search"
    try:  # one plain request: MLflow's client would retry for minutes before it gave up
        r = requests.get(url, params={"max_results": 1}, timeout=TIMEOUT_S,
                         auth=_auth())
    except requests.RequestException as e:
        raise UsageError(f"--tracking-uri {uri}: no MLflow server answers there "
                         f"({_reason(e)}): start it (mlflow server --host ... --port ...) or "
                         "fix the URI") from None
    if r.status_code in (401, 403):
        raise UsageError(f"--tracking-uri {uri}: the server refuses us (HTTP {r.status_code}): "
                         "set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or "
                         "MLFLOW_TRACKING_TOKEN")
    if r.status_code >= 400:
        raise UsageError(f"--tracking-uri {uri}: not an MLflow tracking server (HTTP "
                         f"{r.status_code} from {url}): check the host, port and path")


def _auth() -> tuple[str, str] | None:
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), \
        os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return (user, password) if user and password else None


def _sqlite(path: Path, said: str) -> None:
    """`said`: the option and its value, as the error names them."""
    if path.exists():
        if path.is_dir():
            raise UsageError(f"{said}: {path} is a folder: give a .db file")
        try:  # a write lock, released at once: fails on a read-only file or a non-database
            con = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=TIMEOUT_S)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
                con.rollback()
            finally:
                con.close()
        except sqlite3.Error as e:
            raise UsageError(f"{said}: cannot write the store ({e}): fix its "
                             "permissions or choose another file") from None
        return
    _folder(path.parent, said, create_ok=False)


def _folder(folder: Path, said: str, create_ok: bool) -> None:
    """`folder` exists (or, if `create_ok`, can be created under an existing parent) and we can
    create files in it -- tried for real: permission bits say nothing for root or ACLs."""
    probe = folder
    while create_ok and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.exists():
        raise UsageError(f"{said}: folder {folder} does not exist: create it or choose another "
                         "path")
    if not probe.is_dir():
        raise UsageError(f"{said}: {probe} is not a folder: choose another path")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise UsageError(f"{said}: cannot write in {probe} ({e.strerror}): fix its "
                         "permissions or choose another path") from None


def address(value: str | None) -> None:
    """Something listens at ``--address`` HOST:PORT (``auto`` is left to Ray: it finds a local
    cluster from its own files, and fails at once when there is none)."""
    if value is None or value == "auto" or value.startswith("local"):
        return
    target = value.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    example = "auto, HOST:6379 (ray start --head) or ray://HOST:10001 (Ray Client)"
    if not host or not port.isdigit():
        raise UsageError(f"--address {value}: expected {example}")
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT_S):
            pass
    except OSError as e:
        raise UsageError(f"--address {value}: nothing answers there ({_reason(e)}): start the "
                         f"cluster first (ray start --head --port {port}), or fix the address"
                         ) from None


def gpus(gpus_per_trial: float, cpus_per_trial: float) -> None:
    """A local Ray gets this machine's GPUs and CPUs: fail now if one trial can never fit."""
    if gpus_per_trial > 0:
        have = _local_gpus()
        if have < min(gpus_per_trial, 1) or (gpus_per_trial > 1 and have < gpus_per_trial):
            raise UsageError(
                f"--gpus-per-trial {gpus_per_trial:g}, but this machine has "
                f"{'no GPU' if not have else f'{have} GPUs'} (CUDA devices visible to torch): "
                "use --gpus-per-trial 0 (trials run on the CPU), or --address a Ray cluster "
                "with GPU workers")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cpus and cpus_per_trial > cpus:
        raise UsageError(f"--cpus-per-trial {cpus_per_trial:g}, but this machine has {cpus} "
                         f"CPUs: use --cpus-per-trial {cpus} or less, or --address a cluster")


def _local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _reason(e: BaseException) -> str:
    text = str(getattr(e, "strerror", None) or e)
    for known in ("Connection refused", "timed out", "Name or service not known",
                  "No route to host", "Temporary failure in name resolution"):
        if known.lower() in text.lower():
            return known.lower()
    return first_line(e)
