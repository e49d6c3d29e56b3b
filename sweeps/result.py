"""What a sweep returns (``sweeps.sweep``, ``driver.run``): its own module, so that the API and the
driver both import it and neither imports the other to get it."""

from __future__ import annotations

from typing import Any, NamedTuple


class SweepResult(NamedTuple):
    """What a sweep returns: its summary (the dict ``--summary-json`` writes) and Tune's
    ResultGrid."""

    summary: dict[str, Any]
    grid: Any  # ray.tune.ResultGrid (not imported here: importing sweeps starts no Ray)
