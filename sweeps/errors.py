"""The error a bad option raises: printed as one line (``gansweep: error: ...``), exit status 2,
before Ray starts. Shared by the option parser, the overrides and the preflight checks."""


class UsageError(Exception):
    """A bad option value, or a store/cluster/GPU it names that cannot work; the message names the
    value and the fix."""
