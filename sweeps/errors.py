"""The errors a sweep raises, and the option parser that turns argparse's into one line.

``UsageError``: a bad option, or a store/cluster/GPU it names that cannot work: printed as one line
(``gansweep: error: ...``), exit status 2, before Ray starts. ``SweepError``: the sweep could not run
or finish as asked once Ray was up (exit status 1). Both are what the Python API raises too.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(ValueError):
    """A bad option value, or a store/cluster/GPU it names that cannot work; the message names the
    value and the fix."""


class SweepError(RuntimeError):
    """The sweep cannot run or finish as asked (e.g. more GPUs per trial than any node has, more
    errored trials than --max-failed-trials allows, an MLflow store that stopped answering)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument raises UsageError (argparse prints usage + error; we want one
    line)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
