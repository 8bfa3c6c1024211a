"""The one settings loader: type hints are the schema, errors name the YAML path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from milo_satellite.settings import ConfigError, load_settings


@dataclass(frozen=True)
class Inner:
    level: float = 1.0
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str = "milo"
    port: int = 6053
    on: bool = True
    pin: int | None = field(default=None, metadata={"kind": "a BCM pin number"})
    names: list[str] = field(default_factory=list)
    sounds: dict[str, str] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    internal: frozenset[str] = field(default=frozenset(), metadata={"from_file": False})


class OtherError(ConfigError):
    pass


def test_values_of_every_kind() -> None:
    loaded = load_settings(
        Outer(),
        {
            "name": 7,  # a number where a name goes: kept as its text
            "port": "0x17",
            "pin": 17,
            "names": ["milo", "buddy"],
            "sounds": {"wake": "ding.wav"},
            "inner": {"level": 2, "mode": "b"},
        },
    )
    assert loaded == Outer(
        name="7",
        port=0x17,
        pin=17,
        names=["milo", "buddy"],
        sounds={"wake": "ding.wav"},
        inner=Inner(level=2.0, mode="b"),
    )
    assert load_settings(Outer(pin=4), {"pin": None}).pin is None
    assert load_settings(Outer(), {}) == Outer()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prot": 1}, "unknown option prot"),
        ({"inner": {"levle": 1}}, "unknown option inner.levle"),
        ({"internal": ["x"]}, "unknown option internal"),
        ({"port": 1.5}, "port must be a whole number, got 1.5"),
        ({"port": True}, "port must be a whole number, got True"),
        ({"on": "yes"}, "on must be true or false, got 'yes'"),
        ({"pin": "GPIO17"}, "pin must be a BCM pin number, got 'GPIO17'"),
        ({"names": "milo"}, "names must be a list, got 'milo'"),
        ({"names": ["milo", ["x"]]}, r"names\[1\] must be a string"),
        ({"sounds": ["wake"]}, "sounds must be a mapping"),
        ({"inner": {"level": float("inf")}}, "inner.level must be a number"),
        ({"inner": {"mode": "c"}}, "inner.mode must be one of a, b, got 'c'"),
        ({"inner": 3}, "inner must be a mapping, got 3"),
    ],
)
def test_mistakes_name_their_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(Outer(), data)


def test_errors_of_the_callers_kind() -> None:
    with pytest.raises(OtherError, match=r"top\.inner\.mode"):
        load_settings(Outer(), {"inner": {"mode": "z"}}, "top", OtherError)
    with pytest.raises(ConfigError, match="config must be a mapping"):
        load_settings(Outer(), ["not", "a", "mapping"])
