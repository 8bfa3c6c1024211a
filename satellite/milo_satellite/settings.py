"""One way to read a YAML mapping into a settings dataclass, used by every config section.

The dataclass's type hints are the schema: `bool`, `int` (also "0x40"), `float` (finite),
`str`, `Literal[...]` choices, `X | None`, `list[X]`, `dict[str, X]` and nested settings
dataclasses. Defaults come from the instance given, so an empty section keeps them. A key
the dataclass does not have, or a value of the wrong kind, is refused with its full YAML
path (`head.servos.pan.min`), so a typo never silently does nothing. A field whose
metadata says `from_file: False` is set by the program only; `kind` words the error.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import math
import types
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigError(Exception):
    """The configuration is invalid; the message names the option."""


def load_settings(base: T, data: Any, path: str = "", error: type[ConfigError] = ConfigError) -> T:
    """`base` (a settings dataclass instance) with the values of the mapping `data`."""
    if not isinstance(data, Mapping):
        raise error(f"{path or 'config'} must be a mapping, got {data!r}")
    hints = get_type_hints(type(base))
    fields = {f.name: f for f in dataclasses.fields(base) if f.metadata.get("from_file", True)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            raise error(f"unknown option {where}")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            values[key] = load_settings(current, value, where, error)
        else:
            values[key] = _convert(value, hints[key], where, field.metadata.get("kind"), error)
    return dataclasses.replace(base, **values)


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _convert(value: Any, hint: Any, where: str, kind: str | None, error: type[ConfigError]) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if str(value) not in args:
            raise error(f"{where} must be one of {', '.join(args)}, got {value!r}")
        return str(value)
    if origin is list:
        if not isinstance(value, list):
            raise error(f"{where} must be a list, got {value!r}")
        return [_convert(v, args[0], f"{where}[{i}]", kind, error) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise error(f"{where} must be a mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{where}.{k}", kind, error) for k, v in value.items()}
    if hint is Any:
        return value
    try:
        return _scalar(value, hint)
    except (TypeError, ValueError):
        raise error(f"{where} must be {kind or _KINDS[hint]}, got {value!r}") from None


def _scalar(value: Any, hint: type) -> Any:
    """`value` as a `hint` (bool, int, float or str); TypeError/ValueError if it is not."""
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if isinstance(value, bool):  # YAML's yes/true is never a number or a name
        raise TypeError
    if hint is int:
        if isinstance(value, str):
            return int(value, 0)  # "0x40" for an I2C address
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if hint is float:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return number
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):  # a camera index may be written as 0
        raise TypeError
    return str(value)
