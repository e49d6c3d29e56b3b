"""gan_core's own error: a bad configuration value (also a problem that cannot be found or built:
``problems.ProblemError``). Its own module, so that the problems and the config both import it
and neither imports the other to get it."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field, the value and the fix."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """An exception's first non-empty line, at most `limit` characters (its type's name when it
    says nothing): what an error message quotes of the error behind it."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return (lines[0] if lines else type(e).__name__)[:limit]
