"""The stub mypy reads for aioesphomeapi's api_pb2 describes the installed module.

aioesphomeapi builds its message classes at import time and ships no types, so
satellite/typings holds a stub written from the module (script/api_stubs.py). After an
upgrade that changed the protocol, this fails until the stub is written again.
"""

from __future__ import annotations

import ast
from pathlib import Path

from aioesphomeapi import api_pb2

STUB = Path(__file__).resolve().parents[2] / "satellite" / "typings" / "aioesphomeapi_pb2.pyi"
AGAIN = "the stub is out of date: run .venv/bin/python script/api_stubs.py"


def _stub() -> tuple[dict[str, set[str]], set[str]]:
    """Messages with their fields, and enum values, as the stub declares them."""
    messages: dict[str, set[str]] = {}
    values: set[str] = set()
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef) and any(
            ast.unparse(base) == "_message.Message" for base in node.bases
        ):
            messages[node.name] = {
                item.target.id.removesuffix("_FIELD_NUMBER").lower()
                for item in node.body
                if isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and item.target.id.endswith("_FIELD_NUMBER")
            }
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and ast.unparse(node.annotation).endswith(".ValueType")
        ):
            values.add(node.target.id)
    return messages, values


def test_the_stub_has_every_message_with_its_fields() -> None:
    messages, _values = _stub()
    installed = {
        name: {field.name for field in descriptor.fields}
        for name, descriptor in api_pb2.DESCRIPTOR.message_types_by_name.items()
    }
    assert len(installed) > 100  # the whole protocol, not a stub of a stub
    assert messages == installed, AGAIN


def test_the_stub_has_every_enum_value() -> None:
    _messages, values = _stub()
    installed = {
        value.name
        for enum in api_pb2.DESCRIPTOR.enum_types_by_name.values()
        for value in enum.values
    }
    assert values == installed, AGAIN
