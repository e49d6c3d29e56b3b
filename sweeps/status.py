"""How a trial ended, and which endings count as the full budget: the one definition the sweep's
progress lines, summary and MLflow ``status`` tag and the analysis tables all use.

| status | how the trial ended | full budget |
|---|---|---|
| ok | ran all its ``iterations`` | yes |
| diverged | every seed went NaN/inf (or was abandoned by residual monitoring), so the trial ended early | yes: a diverged or abandoned seed stays so (gan_core freezes it), so its result at the full budget is known; its seeds are failures |
| early-stopped | stopped before its ``iterations`` by ASHA or the sweep's time budget (or still running) | no: its numbers come from fewer iterations; never a failure of the method |
| error | crashed after its retries | no |

Failure rates, the worst run and the worst outliers are taken over the seeds of full-budget trials,
so that they compare like with like; the others are counted apart.
"""

from __future__ import annotations

from typing import Any, Mapping

OK, DIVERGED, EARLY_STOPPED, ERROR = "ok", "diverged", "early-stopped", "error"
STATUSES = (OK, DIVERGED, EARLY_STOPPED, ERROR)
FULL_BUDGET = (OK, DIVERGED)  # trials whose result at their whole budget is known


def classify(last: Mapping[str, Any], iterations: int | None, error: bool = False,
             seeds: int | None = None) -> str:
    """The status of a trial from its last report, its config's ``iterations`` and whether it
    errored. ``seeds`` lets a report without ``run_status`` (MLflow keeps only numbers) be read as
    diverged when ``eval/diverged`` counts every seed."""
    if error:
        return ERROR
    if last.get("run_status") == DIVERGED or (seeds is not None and all_diverged(last, seeds)):
        return DIVERGED
    if int(last.get("iteration", 0)) < int(iterations or 0):
        return EARLY_STOPPED
    return OK


def all_diverged(report: Mapping[str, Any], seeds: int) -> bool:
    """Every seed had diverged (NaN/inf) or been abandoned by residual monitoring by this report
    (its ``eval/diverged`` and ``eval/abandoned`` counts): gan_core then ends the run, nothing
    being left to train. The trainable reports it as ``run_status``, which ``classify`` reads
    first."""
    if "eval/diverged" not in report:
        return False
    gone = int(report["eval/diverged"]) + int(report.get("eval/abandoned", 0))
    return gone == int(seeds)


def full_budget(status: str) -> bool:
    """True when a trial with this status counts in failure rates (``FULL_BUDGET``)."""
    return status in FULL_BUDGET
