"""``--set KEY=VALUE`` and ``--search KEY=RANGE``: change a study's space from the command line.

``--set G.activation=tanh`` fixes a Config field for every trial; a field the study searches is
then pinned (taken out of the search). ``--search G.lr=1e-4:1e-2`` narrows or moves a searched
float/int range (its log scale is kept), ``--search G.activation=tanh,sin`` replaces a
categorical's choices. Every value goes through ``gan_core.Config`` before Ray starts, so an
unknown activation, a negative learning rate or an empty range fail in one line.
"""

from __future__ import annotations

from typing import Any

import optuna

from gan_core import Config, ConfigError
from gan_core.config import parse_value

from .errors import UsageError
from .spaces import Space, Study


def split(item: str, option: str) -> tuple[str, str]:
    if "=" not in item or not item.split("=", 1)[0].strip():
        raise UsageError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} "
                         + ("G.lr=0.003" if option == "--set" else "G.lr=1e-4:1e-2"))
    key, text = item.split("=", 1)
    return key.strip(), text.strip()


def search_range(key: str, text: str, dist: optuna.distributions.BaseDistribution,
                 fixed: dict[str, Any]) -> list[Any]:
    """The new range of searched `key`: [low, high] for numbers, the choices for categoricals."""
    flag = f"--search {key}={text}"
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        if ":" in text:
            raise UsageError(f"{flag}: {key} is a choice, not a range: give values separated "
                             f"by commas, e.g. --search {key}={','.join(map(str, dist.choices))}")
        choices = [parse_value(c.strip()) for c in text.split(",") if c.strip()]
        if not choices:
            raise UsageError(f"{flag}: no choices (an empty search space): give one or more, "
                             f"e.g. --search {key}={','.join(map(str, dist.choices))}")
        for c in choices:
            _check(key, c, fixed, flag)
        return choices
    parts = text.split(":")
    example = f"--search {key}={_fmt(dist.low)}:{_fmt(dist.high)}"
    if len(parts) != 2:
        raise UsageError(f"{flag}: expected LOW:HIGH, e.g. {example}")
    integer = isinstance(dist, optuna.distributions.IntDistribution)
    try:
        low, high = (int(p) if integer else float(p) for p in parts)
    except ValueError:
        raise UsageError(f"{flag}: LOW and HIGH must be {'integers' if integer else 'numbers'}, "
                         f"e.g. {example}") from None
    if low > high:
        raise UsageError(f"{flag}: empty range (LOW {_fmt(low)} > HIGH {_fmt(high)}): give "
                         f"LOW <= HIGH, e.g. {example}")
    if dist.log and low <= 0:
        raise UsageError(f"{flag}: {key} is searched on a log scale, so LOW must be > 0, "
                         f"e.g. {example}")
    for v in (low, high):
        _check(key, v, fixed, flag)
    return [low, high]


def _check(key: str, value: Any, fixed: dict[str, Any], flag: str) -> None:
    """Config's own check of one value (unknown activation, lr <= 0, ...)."""
    from .spaces import to_config

    try:
        Config.from_dict(to_config({**fixed, key: value}))
    except ConfigError as e:
        raise UsageError(f"{flag}: {e}") from None


def _fmt(v: float) -> str:
    return f"{v:g}"


class CustomSpace(Space):
    """A study with some keys pinned (``--set``) and some ranges replaced (``--search``).

    Picklable like ``Space`` (Tune saves it for ``--resume``)."""

    def __init__(self, study: Study, method: str, fixed: dict[str, Any], pinned: list[str],
                 ranges: dict[str, list[Any]]) -> None:
        super().__init__(study, method, fixed)
        self.pinned, self.ranges = list(pinned), dict(ranges)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return super().__call__(_Trial(trial, self))  # type: ignore[arg-type]

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trial = optuna.create_study().ask()
        self.study(_Trial(trial, self), self.method)  # type: ignore[arg-type]
        return dict(trial.distributions)


class _Trial:
    """An optuna.Trial seen through the overrides: pinned keys are not suggested (the fixed
    value stands), replaced ranges are suggested over the new range."""

    def __init__(self, trial: optuna.Trial, space: CustomSpace) -> None:
        self._trial, self._space = trial, space

    def suggest_float(self, name: str, low: float, high: float, **kw: Any) -> Any:
        if name in self._space.pinned:
            return self._space.fixed.get(name)  # unused by studies: the fixed dict carries it
        low, high = self._space.ranges.get(name, (low, high))
        return self._trial.suggest_float(name, low, high, **kw)

    def suggest_int(self, name: str, low: int, high: int, **kw: Any) -> Any:
        if name in self._space.pinned:
            return self._space.fixed.get(name)
        low, high = self._space.ranges.get(name, (low, high))
        return self._trial.suggest_int(name, low, high, **kw)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        if name in self._space.pinned:
            return self._space.fixed.get(name)
        return self._trial.suggest_categorical(name, self._space.ranges.get(name, choices))

    def __getattr__(self, name: str) -> Any:  # params, distributions, number, ...
        return getattr(self._trial, name)
