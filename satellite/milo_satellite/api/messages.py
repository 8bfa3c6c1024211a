"""The ESPHome native API's messages (`pb`) and their type numbers, both ways.

aioesphomeapi ships the protobuf classes and the number of each; this module only turns
that table around so the server can encode what it sends and decode what it receives.
`pb` is aioesphomeapi's `api_pb2`; mypy reads its classes from the stub that
script/api_stubs.py writes, since the module builds them at import time and ships none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aioesphomeapi import api_pb2
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from google.protobuf.message import DecodeError, Message

if TYPE_CHECKING:
    import aioesphomeapi_pb2 as pb
else:
    pb = api_pb2

_TYPE_OF: dict[type[Message], int] = {cls: num for num, cls in MESSAGE_TYPE_TO_PROTO.items()}


class UnknownMessageError(Exception):
    """A message type number the protocol does not define, or a payload that won't parse."""


def message_type(msg: Message) -> int:
    """The wire number of a protobuf message instance."""
    return _TYPE_OF[type(msg)]


def decode(msg_type: int, payload: bytes) -> Message:
    """Parse `payload` as the message `msg_type` names."""
    cls = MESSAGE_TYPE_TO_PROTO.get(msg_type)
    if cls is None:
        raise UnknownMessageError(f"unknown message type {msg_type}")
    msg = cls()
    try:
        msg.ParseFromString(payload)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise UnknownMessageError(f"malformed {cls.__name__}: {err}") from err
    return msg
