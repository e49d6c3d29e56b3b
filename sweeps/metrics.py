"""The primary metric of a problem in words: its name, how to print it, and its failure rule.

Every per-seed number a sweep ranks on is the problem's primary metric (``Result.final_mse``,
``Progress.mse``: the name is historical): the MSE against the reference for equations (the
mean squared residual, "residual", for one without a reference), a distance or a count for
distribution problems (``PROBLEMS[key].metric``: w1, energy, label_energy, code_error,
modes_missed, classes_missed). The problem class says which, and in words (``metric_label``). The summary, the progress lines and
the analysis report name it with these helpers instead of saying "MSE".

    metric_of("digits")               # "classes_missed"
    label("classes_missed")           # "classes missed"
    fmt("classes_missed", 1.5)        # "1.5";  fmt("mse", 3e-9) -> "3.00e-09"
    failure_rule("digits", 2.0)       # "mode collapse: fewer than 8 of 10 classes covered ..."
    rate_text(0, 8)                   # "0% (95% CI 0-32%)": a failure rate and its Wilson interval
"""

from __future__ import annotations

import math

from gan_core import PROBLEMS
from gan_core.problems import METRIC_LABELS

# metrics that count something (modes, classes) or are a fraction of samples (code_error): they
# are often exactly 0, so they are compared and optimised as they are, never on a log scale
# (reverse_kl too: log M at worst, and a seed that captures every mode in balance is near 0)
COUNT_METRICS = ("modes_missed", "classes_missed", "code_error", "reverse_kl")
# shares of good samples (higher is better): where one breaks ties (spaces.tie_value), its
# complement (the share of bad samples) does
GOOD_SHARES = ("high_quality", "confident")


def metric_of(problem: str, chosen: str | None = None) -> str:
    """The primary metric of `problem`: `chosen` (a config's ``metric``) when set, else its
    class's ``metric``: "mse" for the built-in equations, "rel_mse" for a user's with a
    reference, "residual" for those without, else the distribution's own; "mse" for a name that
    resolves to nothing (a sweep read back after its problem's file is gone)."""
    if chosen:
        return chosen
    cls = PROBLEMS.get(problem)
    return cls.metric if cls is not None else "mse"


def tiebreak_of(problem: str) -> str | None:
    """The reported metric whose median breaks ties in the "failures" objective (the problem
    class's ``tiebreak``, e.g. high_quality for the mixtures); None: the primary metric's."""
    cls = PROBLEMS.get(problem)
    return getattr(cls, "tiebreak", None) if cls is not None else None


def label(metric: str) -> str:
    """The metric in words, for tables and sentences ("energy distance", "classes missed")."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def metric_label(problem: str) -> str:
    """The primary metric of `problem` in words, as its class says (``metric_label``)."""
    cls = PROBLEMS.get(problem)
    return cls.metric_label if cls is not None else label(metric_of(problem))


def problem_name(problem: str) -> str:
    """The short name of `problem` for folders, experiments and titles: its class's ``key``
    ("logistic" for "/path/my.py:Logistic"), else the text without folders and suffixes."""
    cls = PROBLEMS.get(problem)
    if cls is not None:
        return cls.key
    return problem.rsplit(":", 1)[-1].rsplit("/", 1)[-1].rsplit(".", 1)[0] or problem


def is_count(metric: str) -> bool:
    """True for counts and fractions (no log scale: they are often exactly 0)."""
    return metric in COUNT_METRICS


def fmt(metric: str, value: float) -> str:
    """A value of `metric` as short text: MSEs in scientific notation, counts plainly."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if not math.isfinite(value):
        return "inf"
    if metric in ("mse", "rel_mse"):
        return f"{value:.2e}"
    if is_count(metric):
        return f"{value:.3g}"
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def plural(count: int, noun: str) -> str:
    """ "1 trial", "17 trials": a count with its noun, for summary and report sentences."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


CONFIDENCE = 0.95  # of every failure-rate interval gansweep shows


def failure_ci(failed: int, seeds: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a failure rate of `failed` out of `seeds` (scipy's
    ``binomtest(...).proportion_ci(method="wilson")``): 0 of 8 failed is 0-32%, not a sure 0%.
    (nan, nan) when there are no seeds."""
    if seeds <= 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(failed), int(seeds)).proportion_ci(confidence_level=confidence,
                                                          method="wilson")
    return float(ci.low), float(ci.high)


def ci_text(failed: int, seeds: int) -> str:
    """A failure rate's interval in words: "95% CI 0-32%" ("-" without seeds)."""
    if seeds <= 0:
        return "-"
    low, high = failure_ci(failed, seeds)
    return f"{CONFIDENCE:.0%} CI {low * 100:.0f}-{high:.0%}"


def rate_text(failed: int, seeds: int) -> str:
    """A failure rate with its interval, in words: "0% (95% CI 0-32%)"."""
    if seeds <= 0:
        return "-"
    return f"{failed / seeds:.0%} ({ci_text(failed, seeds)})"


# a blow-up is a failure whether it reached inf or stopped at 8e33: the one rule
# (gan_core.config.failed_seeds) is "non-finite or above the threshold", and "diverged" names
# only the non-finite part of it
DIVERGED = "or non-finite (diverged: NaN/inf)"


def failure_rule(problem: str, threshold: float | None = None, metric: str | None = None) -> str:
    """When a seed of `problem` counts as failed, in words (threshold: the one in force, default
    the problem's for `metric`; metric: the primary one in force, default the problem's).
    Non-finite values (diverged seeds) always fail; so does any finite value above the
    threshold, however large."""
    cls = PROBLEMS.get(problem)
    metric = metric_of(problem, metric)
    if threshold is None or (isinstance(threshold, float) and math.isnan(threshold)):
        threshold = (cls.primary_metrics().get(metric, math.nan) if cls is not None
                     else math.nan)
    t = f"{threshold:g}"
    if metric == "classes_missed":
        from gan_core.problems.digits import N_CLASSES

        keep = N_CLASSES - math.floor(threshold)
        return (f"mode collapse: fewer than {keep} of {N_CLASSES} classes covered "
                f"(more than {t} missed), {DIVERGED}")
    if metric == "modes_missed" and hasattr(cls, "modes") and callable(cls.modes):
        n = len(cls.modes())
        keep = n - math.floor(threshold)
        return (f"mode collapse: fewer than {keep} of {n} modes covered (more than {t} missed), "
                f"{DIVERGED}")
    if metric == "modes_missed":  # a point cloud's labelled modes: their number is the file's
        return f"mode collapse: more than {t} of the labelled modes missed, {DIVERGED}"
    if metric == "reverse_kl":
        return (f"failed: reverse KL of the mode histogram above {t} (missing modes or samples "
                f"out of balance between them), {DIVERGED}")
    if metric == "code_error":
        return (f"failed: code error above {t} (more than {threshold:.0%} of samples on the "
                f"other moon than their code says), {DIVERGED}")
    if metric == "mse":
        return (f"failed: final MSE above {t} against the reference (the equation is not solved, "
                f"however large the value), {DIVERGED}")
    if metric == "rel_mse":
        return (f"failed: final relative MSE (MSE / the reference's mean square) above {t}, a "
                f"relative RMS error above {math.sqrt(threshold):.0%}, {DIVERGED}")
    if metric == "residual":
        return (f"failed: mean squared residual above {t} on the fine grid (no reference "
                f"solution; the equation is not solved), {DIVERGED}")
    return f"failed: {label(metric)} to held-out real samples above {t}, {DIVERGED}"
