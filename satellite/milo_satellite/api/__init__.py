"""The ESPHome native API, server side (see `server` for how to build a device)."""

from .actions import ArgType, UserAction
from .connection import ClientConnection
from .entities import (
    BinarySensorEntity,
    ButtonEntity,
    CameraEntity,
    CommandError,
    Entity,
    EventEntity,
    LightEntity,
    LightState,
    MediaFormat,
    MediaPlayerCommand,
    MediaPlayerEntity,
    MediaPlayerState,
    NumberEntity,
    SelectEntity,
    SensorEntity,
    SwitchEntity,
    TextSensorEntity,
)
from .server import APIServer, DeviceIdentity

__all__ = [
    "APIServer",
    "ArgType",
    "BinarySensorEntity",
    "ButtonEntity",
    "CameraEntity",
    "ClientConnection",
    "CommandError",
    "DeviceIdentity",
    "Entity",
    "EventEntity",
    "LightEntity",
    "LightState",
    "MediaFormat",
    "MediaPlayerCommand",
    "MediaPlayerEntity",
    "MediaPlayerState",
    "NumberEntity",
    "SelectEntity",
    "SensorEntity",
    "SwitchEntity",
    "TextSensorEntity",
    "UserAction",
]
