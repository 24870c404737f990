"""The key-and-type check every settings dataclass shares (``TrainConfig``, ``ModelConfig``,
``DecodeConfig``, ``StrategyConfig``, ``AdaptConfig``): their ``from_dict`` build from a
mapping (a dict or an OmegaConf node) through :func:`checked_fields`, whose errors are one
line naming ``<section>.<key>``."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from asrtl.errors import UserError

WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def checked_fields(cls: type, d: Any, section: str) -> dict[str, Any]:
    """Keyword arguments for the settings dataclass ``cls`` from the mapping ``d`` (a dict or
    an OmegaConf node), each value checked against its field's type hint: ``bool``, ``int``,
    ``float`` (an int is taken), ``int`` (an integral float is taken), ``str``,
    ``tuple[X, ...]`` or ``tuple[X, Y]`` (from a list), ``X | None``, a union, or a nested
    settings dataclass (built by its ``from_dict(value, section)``).

    Raises:
        ValueError: ``d`` not a mapping, an unknown key or a value of the wrong type, as one
            line naming ``<section>.<key>``.
    """
    if not isinstance(d, Mapping):
        raise UserError(f"{section} must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown:
        raise UserError(f"unknown {section} setting(s) "
                        f"{', '.join(f'{section}.{k}' for k in unknown)}; known: "
                        f"{', '.join(known)}")
    return {str(k): _checked(f"{section}.{k}", v, hints[str(k)]) for k, v in d.items()}


def checked(key: str, value: Any, hint: Any) -> Any:
    """``value`` of setting ``key`` checked against the type hint ``hint`` (as a settings
    dataclass's field is: an int for a float is taken, an integral float for an int).

    Raises:
        ValueError: one line naming ``key``, what it expects and what it got.
    """
    return _checked(key, value, hint)


def _checked(key: str, value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own message
            return _checked(key, value, options[0])
        for option in options:
            try:
                return _checked(key, value, option)
            except ValueError:
                pass
        raise UserError(f"{key}: expected {_describe(hint)}, got {value!r}")
    if origin is tuple:
        fixed = not (len(args) == 2 and args[1] is Ellipsis)
        if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)
                or fixed and len(value) != len(args)):
            raise UserError(f"{key}: expected {_describe(hint)}, got {value!r}")
        return tuple(_checked(f"{key}[{i}]", v, args[i] if fixed else args[0])
                     for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return hint.from_dict(value, key)
    if hint is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # 10.0 steps: 10
    ok = (isinstance(value, bool) if hint is bool else
          isinstance(value, int) and not isinstance(value, bool) if hint is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) if hint is float
          else isinstance(value, hint))
    if not ok:
        raise UserError(f"{key}: expected {_describe(hint)}, got {value!r}")
    return float(value) if hint is float else value


def _describe(hint: Any) -> str:
    """A type hint in words: ``a list of str``, ``float or null``..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list [{', '.join(_describe(a) for a in args)}]"
    if dataclasses.is_dataclass(hint):
        return f"a mapping ({', '.join(f.name for f in dataclasses.fields(hint))})"
    return WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    return {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}.get(
        hint, _describe(hint))
