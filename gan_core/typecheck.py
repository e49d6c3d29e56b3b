"""Values against the types their fields declare, for ``Config``'s validation.

``matches(value, tp)`` and ``describe(tp)`` read a dataclass field's annotation (``int``,
``float``, ``bool``, ``str``, ``X | None``, ``tuple[float, float]``, ``dict[str, float]``,
``Literal[...]``, a nested config class), so a field is type-checked as soon as it is declared:
nothing to register. The rules are the ones a user expects of a config, stricter than Python's:

- ``bool`` is True or False (numpy's too), never 0 or 1: ``--set residual=0`` is a mistake;
- ``int`` is an integer, never a bool or 2.0;
- ``float`` is a *finite* number (an int is fine): NaN or inf is never a valid setting, and
  ``1e999`` typed on a command line reads as inf;
- ``tuple[...]`` is a tuple of that length (``Config.from_dict`` turns a list into one).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Literal, Mapping, Union

import numpy as np

_NUMBER = (int, float, np.integer, np.floating)
_BOOL = (bool, np.bool_)


def matches(value: Any, tp: Any) -> bool:
    """`value` is of the declared type `tp` by the rules above."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, _BOOL)
    if tp is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, _BOOL)
    if tp is float:
        return isinstance(value, _NUMBER) and not isinstance(value, _BOOL) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(value, tuple) and all(matches(v, args[0]) for v in value)
        return (isinstance(value, tuple) and len(value) == len(args)
                and all(matches(v, a) for v, a in zip(value, args)))
    if origin in (dict, Mapping):
        return isinstance(value, Mapping) and all(matches(k, args[0]) and matches(v, args[1])
                                                  for k, v in value.items())
    return isinstance(value, tp)  # a class: a nested config (NetConfig)


@cache
def describe(tp: Any) -> str:
    """What `tp` allows, in words: "a finite number or None"; raises TypeError for an
    annotation these rules do not cover (a developer's mistake, caught at import)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return f"one of {', '.join(map(repr, args))}"
    words = {type(None): "None", bool: "True or False", int: "an integer",
             float: "a finite number", str: "a string"}
    if tp in words:
        return words[tp]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple, each item {describe(args[0])}"
        if len(set(args)) == 1:
            return f"a tuple of {len(args)} items, each {describe(args[0])}"
        return f"a tuple ({', '.join(describe(a) for a in args)})"
    if origin in (dict, Mapping):
        return f"a dict, each key {describe(args[0])} and each value {describe(args[1])}"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a {tp.__name__}"
    raise TypeError(f"gan_core.typecheck has no rule for the annotation {tp!r}: use one of "
                    "bool, int, float, str, X | None, tuple[...], dict[K, V], Literal[...] or a "
                    "config dataclass")


@cache
def field_types(cls: type) -> dict[str, Any]:
    """The declared type of each field of the dataclass `cls`, resolved (and each one checked
    to have a rule, so an unsupported annotation fails when the class is first checked)."""
    hints = typing.get_type_hints(cls)
    out = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    for tp in out.values():
        describe(tp)
    return out
