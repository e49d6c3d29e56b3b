"""The Python API: ``sweeps.sweep(problem, **options)``, the same sweep as ``gansweep run``.

    import sweeps

    summary, grid = sweeps.sweep("sho", trials=8, seeds=4, objective="worst",
                                 set={"G.activation": "tanh"}, search={"G.lr": (1e-3, 1e-2)})
    summary["best"]["config"]            # as the CLI prints and logs it
    grid.get_dataframe()                 # Tune's ResultGrid: every trial's last report

The keywords are the CLI's options with underscores (``--max-concurrent`` -> ``max_concurrent``,
``--no-baseline`` -> ``baseline=False``, ``--resume`` -> ``resume=True`` or a path); ``set`` and
``search`` also take dicts. Bad options raise ``UsageError`` (one line) before Ray starts; a sweep
that cannot finish raises ``SweepError``. It starts a local Ray in this process unless one is
already up or ``address`` names a cluster, and shuts down only a Ray it started: it runs in a
notebook as it does in a script.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .result import SweepResult


def sweep(problem: str, *, callbacks: Sequence[Any] = (), trainable: Callable | None = None,
          **options: Any) -> SweepResult:
    """Run (or, with ``resume=``, finish) a sweep of `problem` and return its summary and Tune's
    ResultGrid; `options` are ``gansweep run``'s (``sweeps.options.Options``).

    callbacks: more Tune callbacks (bench/load.py measures memory with one). trainable: the Tune
    function trainable, default ``sweeps.trainable.train_trial`` (the reliability tests inject
    faults through a wrapper of it)."""
    from .cli import build, check

    spec = build(problem, **options)
    check(spec)
    from .driver import run  # imports ray: only after the options are known good

    return run(spec, callbacks=callbacks, trainable=trainable)
