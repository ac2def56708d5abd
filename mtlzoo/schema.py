"""Config primitives: one field's spec (:class:`Field`), value checks and :func:`check_fields`.

A leaf module (no mtlzoo imports but :mod:`mtlzoo.errors`): every room that validates its
own config section (encoders, data sources, weightings, aggregators, ...) uses it, and
:mod:`mtlzoo.config`, the composition root, assembles them.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from mtlzoo.errors import ConfigError

REQUIRED = object()
INT_LIMIT = 2**32 - 1  # every integer option (sizes, counts, steps, seeds) fits 32 bits


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field: its default (or REQUIRED), type and an optional check.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``, ``"ints"`` (a list of
    ints), ``"strs"``, ``"dict"`` or ``None`` (anything). ``check(value)`` returns
    an error text or None. ``optional=True`` also admits None. ``init_only=True`` marks a field
    that only initialises weights before training (a word-vector file): the saved weights of a
    trained run hold its effect, so reloading a run ignores it (:func:`mtlzoo.workdir.read_config`).
    """

    default: Any = REQUIRED
    type: Any = None
    check: Callable | None = None
    choices: tuple | None = None
    optional: bool = False
    init_only: bool = False


def positive(v):
    return None if v > 0 else f"must be > 0, got {v}"


def non_negative(v):
    return None if v >= 0 else f"must be >= 0, got {v}"


def at_most(limit):
    """A check: ``v <= limit``."""

    def check(v):
        return None if v <= limit else f"must be at most {limit}, got {v}"

    return check


def in_range(lo, hi):
    """A check: ``lo <= v <= hi``."""

    def check(v):
        return None if lo <= v <= hi else f"must be in [{lo}, {hi}], got {v}"

    return check


def fraction(v):
    return None if 0 <= v < 1 else f"must be in [0, 1), got {v}"


def all_positive(v):
    return None if all(x > 0 for x in v) else f"every entry must be > 0, got {list(v)}"


def _type_error(value, typ):
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    def is_finite(x):
        try:
            return math.isfinite(x)
        except OverflowError:  # an int beyond the float range
            return False

    ok = {
        int: lambda x: is_int(x) and abs(x) <= INT_LIMIT,
        float: lambda x: (is_int(x) or isinstance(x, float)) and is_finite(x),
        str: lambda x: isinstance(x, str),
        bool: lambda x: isinstance(x, bool),
        "ints": lambda x: isinstance(x, (list, tuple)) and all(is_int(i) and abs(i) <= INT_LIMIT for i in x),
        "strs": lambda x: isinstance(x, (list, tuple)) and all(isinstance(i, str) for i in x),
        "dict": lambda x: hasattr(x, "items"),
        None: lambda x: True,
    }[typ](value)
    if ok:
        return None
    names = {
        int: f"an integer of at most {INT_LIMIT} in magnitude",
        float: "a finite number",
        str: "a string",
        bool: "true or false",
        "ints": "a list of integers",
        "strs": "a list of strings",
        "dict": "a mapping",
    }
    return f"must be {names[typ]}, got {value!r}"


def check_fields(cfg, schema, field):
    """Validates mapping ``cfg`` against ``schema`` (name -> Field); returns a resolved dict.

    Raises ConfigError for an unknown key, a missing required key, a wrong type, a
    value outside ``choices`` or one that fails ``check``.
    """
    cfg = {} if cfg is None else dict(cfg)
    for key in cfg:
        if key not in schema:
            raise ConfigError(f"{field}.{key}", f"unknown field; known fields: {', '.join(sorted(schema))}")
    out = {}
    for key, spec in schema.items():
        name = f"{field}.{key}"
        if key not in cfg:
            if spec.default is REQUIRED:
                raise ConfigError(name, "missing required field")
            value = spec.default
        else:
            value = cfg[key]
        if value is None and (spec.optional or spec.default is None):
            out[key] = None
            continue
        if value is REQUIRED:
            raise ConfigError(name, "missing required field")
        err = _type_error(value, spec.type)
        if err is None and spec.choices is not None and value not in spec.choices:
            err = f"{value!r} is not one of {', '.join(map(str, spec.choices))}"
        if err is None and spec.check is not None:
            err = spec.check(value)
        if err:
            raise ConfigError(name, err)
        if isinstance(value, (list, tuple)):
            value = list(value)
        elif hasattr(value, "to_dict"):
            value = value.to_dict()
        out[key] = value
    return out
