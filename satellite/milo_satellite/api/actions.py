"""User-defined actions: HA shows each one as the service `esphome.<device>_<name>`.

An action declares typed arguments; HA sends them positionally in an
ExecuteServiceRequest and waits for the ExecuteServiceResponse (support type STATUS), so
an error raised by the handler reaches the user who called the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import enum
from typing import Any

from .entities import fnv1_hash
from .messages import Message, pb


class ArgType(enum.Enum):
    """Argument types and the ExecuteServiceArgument field that carries each."""

    BOOL = (pb.SERVICE_ARG_TYPE_BOOL, "bool_")
    INT = (pb.SERVICE_ARG_TYPE_INT, "int_")
    FLOAT = (pb.SERVICE_ARG_TYPE_FLOAT, "float_")
    STRING = (pb.SERVICE_ARG_TYPE_STRING, "string_")

    def __init__(self, wire: pb.ServiceArgType.ValueType, field: str) -> None:
        self.wire = wire
        self.field = field


class ActionError(Exception):
    """The request does not fit the action's arguments."""


@dataclass(frozen=True)
class UserAction:
    """A user-defined action HA calls as `esphome.<device>_<name>`, with typed fields."""

    name: str
    args: tuple[tuple[str, ArgType], ...]
    handler: Callable[..., Awaitable[None]]
    description: str = ""

    @property
    def key(self) -> int:
        """ESPHome's key for the action: a hash of its name, stable across restarts."""
        return fnv1_hash(f"action.{self.name}")

    def info(self) -> Message:
        """The ListEntitiesServicesResponse that announces it to HA."""
        msg = pb.ListEntitiesServicesResponse(
            name=self.name,
            key=self.key,
            supports_response=pb.SUPPORTS_RESPONSE_STATUS,
            description=self.description,
        )
        for arg_name, arg_type in self.args:
            msg.args.append(pb.ListEntitiesServicesArgument(name=arg_name, type=arg_type.wire))
        return msg

    def arguments(self, request: pb.ExecuteServiceRequest) -> dict[str, Any]:
        """The handler's keyword arguments from an ExecuteServiceRequest."""
        if len(request.args) != len(self.args):
            raise ActionError(
                f"{self.name} takes {len(self.args)} arguments, got {len(request.args)}"
            )
        values: dict[str, Any] = {}
        for (arg_name, arg_type), wire_arg in zip(self.args, request.args, strict=True):
            value = getattr(wire_arg, arg_type.field)
            if arg_type is ArgType.INT and not value:
                value = wire_arg.legacy_int  # clients older than API 1.3
            values[arg_name] = value
        return values
