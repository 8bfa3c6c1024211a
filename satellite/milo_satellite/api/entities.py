"""The generic entity model of an ESPHome device: what HA lists, shows and commands.

Each entity knows how to describe itself (`info`: the ListEntities response), what its
current state looks like (`state`: the state response, None when it has none), and how
to carry out a command from HA (`command`). An entity keeps the state HA sees; the code
that owns it calls `set(...)` and the server pushes the change to every subscribed client.

Keys are derived from the object id with ESPHome's own FNV-1 hash, so they never change
between runs and HA's entity ids stay put.

Command handlers may be plain functions or coroutines; an exception raised by one is
logged and the entity keeps its old state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import inspect
import re
from typing import Any, ClassVar, Generic, TypeVar

from .messages import Message, pb

T = TypeVar("T")
Handler = Callable[[T], Awaitable[None] | None]
Publish = Callable[[Message], None]

_OBJECT_ID = re.compile(r"^[a-z0-9_]{1,64}$")


def fnv1_hash(text: str) -> int:
    """ESPHome's 32-bit FNV-1 hash; it turns object ids into entity keys."""
    value = 2166136261
    for byte in text.encode():
        value = (value * 16777619) & 0xFFFFFFFF
        value ^= byte
    return value


async def call_handler(handler: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a plain or async handler and return its result."""
    result = handler(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


class CommandError(Exception):
    """A command HA sent cannot be carried out (bad value, unsupported)."""


class Entity:
    """One entity. Subclasses set `info_type` and fill in the platform specifics."""

    info_type: ClassVar[type[Message]]
    command_type: ClassVar[type[Message] | None] = None

    def __init__(
        self,
        object_id: str,
        name: str,
        *,
        icon: str = "",
        category: pb.EntityCategory.ValueType = pb.ENTITY_CATEGORY_NONE,
        disabled_by_default: bool = False,
    ) -> None:
        if not _OBJECT_ID.match(object_id):
            raise ValueError(f"object id {object_id!r} must be 1-64 of [a-z0-9_]")
        self.object_id = object_id
        self.name = name
        self.key = fnv1_hash(object_id)
        self.icon = icon
        self.category = category
        self.disabled_by_default = disabled_by_default
        self._publishers: list[Publish] = []

    def attach(self, publish: Publish) -> None:
        """Called by the server: `publish` sends a state message to subscribed clients."""
        self._publishers.append(publish)

    def info(self) -> Message:
        """The ListEntities response that announces this entity to HA."""
        msg = self.info_type(
            object_id=self.object_id,
            key=self.key,
            name=self.name,
            disabled_by_default=self.disabled_by_default,
            entity_category=self.category,
        )
        if self.icon:
            msg.icon = self.icon
        self._fill_info(msg)
        return msg

    def _fill_info(self, msg: Message) -> None:
        """Platform-specific fields of the ListEntities response (of `info_type`)."""

    def state(self) -> Message | None:
        """The state message for HA; None while the entity has no state."""
        return None

    async def command(self, msg: Message) -> None:
        """Carry out a command from HA (of `command_type`); an entity that takes none
        refuses it."""
        raise CommandError(f"{self.object_id} takes no commands")

    def publish(self, msg: Message | None = None) -> None:
        """Send the state (or `msg`) to every client subscribed to states."""
        msg = msg if msg is not None else self.state()
        if msg is None:
            return
        for publish in self._publishers:
            publish(msg)


class _ValueEntity(Entity, Generic[T]):
    """An entity whose state is one value, `None` while unknown."""

    def __init__(self, object_id: str, name: str, *, state: T | None = None, **kw: Any) -> None:
        super().__init__(object_id, name, **kw)
        self.value: T | None = state

    def set(self, value: T | None) -> None:
        """Change the state; clients hear about it only if it really changed."""
        if value == self.value:
            return
        self.value = value
        self.publish()


class SwitchEntity(_ValueEntity[bool]):
    """An on/off switch; `on_set` carries out HA's turn_on and turn_off."""

    info_type = pb.ListEntitiesSwitchResponse
    command_type = pb.SwitchCommandRequest

    def __init__(
        self, object_id: str, name: str, on_set: Handler[bool], *, state: bool = False, **kw: Any
    ) -> None:
        super().__init__(object_id, name, state=state, **kw)
        self._on_set = on_set

    def state(self) -> Message:
        """The switch's state for HA."""
        return pb.SwitchStateResponse(key=self.key, state=bool(self.value))

    async def command(self, msg: pb.SwitchCommandRequest) -> None:
        """HA turned the switch on or off."""
        await call_handler(self._on_set, bool(msg.state))
        self.set(bool(msg.state))


class NumberEntity(_ValueEntity[float]):
    """A number in [min, max] by `step`; `on_set` carries out HA's set_value."""

    info_type = pb.ListEntitiesNumberResponse
    command_type = pb.NumberCommandRequest

    def __init__(
        self,
        object_id: str,
        name: str,
        on_set: Handler[float],
        *,
        min_value: float,
        max_value: float,
        step: float = 1.0,
        unit: str = "",
        mode: pb.NumberMode.ValueType = pb.NUMBER_MODE_SLIDER,
        state: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, state=state, **kw)
        self._on_set = on_set
        self.min_value, self.max_value, self.step = min_value, max_value, step
        self.unit, self.mode = unit, mode

    def _fill_info(self, msg: pb.ListEntitiesNumberResponse) -> None:
        msg.min_value, msg.max_value, msg.step = self.min_value, self.max_value, self.step
        msg.unit_of_measurement, msg.mode = self.unit, self.mode

    def state(self) -> Message:
        """The number for HA, missing until it is known."""
        if self.value is None:
            return pb.NumberStateResponse(key=self.key, missing_state=True)
        return pb.NumberStateResponse(key=self.key, state=self.value)

    async def command(self, msg: pb.NumberCommandRequest) -> None:
        """HA set a value; one outside the range is refused."""
        value = float(msg.state)
        if not self.min_value <= value <= self.max_value:
            raise CommandError(
                f"{self.object_id}: {value} is outside {self.min_value}..{self.max_value}"
            )
        await call_handler(self._on_set, value)
        self.set(value)


class SelectEntity(_ValueEntity[str]):
    """One of fixed options; `on_select` carries out HA's select_option."""

    info_type = pb.ListEntitiesSelectResponse
    command_type = pb.SelectCommandRequest

    def __init__(
        self,
        object_id: str,
        name: str,
        options: Sequence[str],
        on_select: Handler[str],
        *,
        state: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, state=state, **kw)
        self.options = list(options)
        self._on_select = on_select

    def _fill_info(self, msg: pb.ListEntitiesSelectResponse) -> None:
        msg.options.extend(self.options)

    def state(self) -> Message:
        """The chosen option for HA, missing until one is."""
        if self.value is None:
            return pb.SelectStateResponse(key=self.key, missing_state=True)
        return pb.SelectStateResponse(key=self.key, state=self.value)

    async def command(self, msg: pb.SelectCommandRequest) -> None:
        """HA chose an option; one not offered is refused."""
        if msg.state not in self.options:
            raise CommandError(f"{self.object_id}: {msg.state!r} is not one of {self.options}")
        await call_handler(self._on_select, msg.state)
        self.set(msg.state)


class ButtonEntity(Entity):
    """A button; `on_press` runs when HA presses it."""

    info_type = pb.ListEntitiesButtonResponse
    command_type = pb.ButtonCommandRequest

    def __init__(
        self, object_id: str, name: str, on_press: Callable[[], Awaitable[None] | None], **kw: Any
    ) -> None:
        super().__init__(object_id, name, **kw)
        self._on_press = on_press

    async def command(self, msg: pb.ButtonCommandRequest) -> None:
        """HA pressed the button."""
        await call_handler(self._on_press)


class SensorEntity(_ValueEntity[float]):
    """A read-only number with a unit (HA's sensor)."""

    info_type = pb.ListEntitiesSensorResponse

    def __init__(
        self,
        object_id: str,
        name: str,
        *,
        unit: str = "",
        accuracy_decimals: int = 0,
        state_class: pb.SensorStateClass.ValueType = pb.STATE_CLASS_MEASUREMENT,
        device_class: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, **kw)
        self.unit, self.accuracy_decimals = unit, accuracy_decimals
        self.state_class, self.device_class = state_class, device_class

    def _fill_info(self, msg: pb.ListEntitiesSensorResponse) -> None:
        msg.unit_of_measurement, msg.accuracy_decimals = self.unit, self.accuracy_decimals
        msg.state_class, msg.device_class = self.state_class, self.device_class

    def state(self) -> Message:
        """The reading for HA, missing until there is one."""
        if self.value is None:
            return pb.SensorStateResponse(key=self.key, missing_state=True)
        return pb.SensorStateResponse(key=self.key, state=self.value)


class TextSensorEntity(_ValueEntity[str]):
    """A read-only string (HA shows it as a sensor)."""

    info_type = pb.ListEntitiesTextSensorResponse

    def state(self) -> Message:
        """The text for HA, missing until there is one."""
        if self.value is None:
            return pb.TextSensorStateResponse(key=self.key, missing_state=True)
        return pb.TextSensorStateResponse(key=self.key, state=self.value)


class BinarySensorEntity(_ValueEntity[bool]):
    """A read-only on/off with a device class (HA's binary_sensor)."""

    info_type = pb.ListEntitiesBinarySensorResponse

    def __init__(self, object_id: str, name: str, *, device_class: str = "", **kw: Any) -> None:
        super().__init__(object_id, name, **kw)
        self.device_class = device_class

    def _fill_info(self, msg: pb.ListEntitiesBinarySensorResponse) -> None:
        msg.device_class = self.device_class

    def state(self) -> Message:
        """The on/off for HA, missing until it is known."""
        if self.value is None:
            return pb.BinarySensorStateResponse(key=self.key, missing_state=True)
        return pb.BinarySensorStateResponse(key=self.key, state=self.value)


class CameraEntity(Entity):
    """Snapshots on request; `snapshot` returns JPEG bytes or None when there is no frame."""

    info_type = pb.ListEntitiesCameraResponse

    def __init__(
        self,
        object_id: str,
        name: str,
        snapshot: Callable[[], Awaitable[bytes | None]],
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, **kw)
        self.snapshot = snapshot


class EventEntity(Entity):
    """Fires events (no state); HA keeps the last one with its time."""

    info_type = pb.ListEntitiesEventResponse

    def __init__(
        self,
        object_id: str,
        name: str,
        event_types: Sequence[str],
        *,
        device_class: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, **kw)
        self.event_types = list(event_types)
        self.device_class = device_class

    def _fill_info(self, msg: pb.ListEntitiesEventResponse) -> None:
        msg.event_types.extend(self.event_types)
        msg.device_class = self.device_class

    def fire(self, event_type: str) -> None:
        """Fire one of the entity's event types; HA's event entity records it."""
        if event_type not in self.event_types:
            raise ValueError(f"{self.object_id}: unknown event type {event_type!r}")
        self.publish(pb.EventResponse(key=self.key, event_type=event_type))


@dataclass(frozen=True)
class LightState:
    """What a light shows: on or off, brightness, colour and effect."""

    on: bool = False
    brightness: float = 1.0
    rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    effect: str = ""


class LightEntity(_ValueEntity[LightState]):
    """An RGB light with named effects; `on_command` gets the state HA asked for."""

    info_type = pb.ListEntitiesLightResponse
    command_type = pb.LightCommandRequest
    NO_EFFECT = "None"

    def __init__(
        self,
        object_id: str,
        name: str,
        on_command: Callable[[LightState], Any],
        *,
        effects: Sequence[str] = (),
        state: LightState | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, state=state or LightState(), **kw)
        self.effects = [self.NO_EFFECT, *effects]
        self._on_command = on_command

    def _fill_info(self, msg: pb.ListEntitiesLightResponse) -> None:
        msg.supported_color_modes.append(pb.COLOR_MODE_RGB)
        msg.effects.extend(self.effects)

    def state(self) -> Message:
        """The light's state for HA."""
        light = self.value or LightState()
        red, green, blue = light.rgb
        return pb.LightStateResponse(
            key=self.key,
            state=light.on,
            brightness=light.brightness,
            color_mode=pb.COLOR_MODE_RGB,
            color_brightness=1.0,
            red=red,
            green=green,
            blue=blue,
            effect=light.effect or self.NO_EFFECT,
        )

    async def command(self, msg: pb.LightCommandRequest) -> None:
        """HA changed the light: only the fields it sent change."""
        light = self.value or LightState()
        changes: dict[str, Any] = {}
        if msg.has_state:
            changes["on"] = msg.state
        if msg.has_brightness:
            changes["brightness"] = min(1.0, max(0.0, msg.brightness))
        if msg.has_rgb:
            changes["rgb"] = (msg.red, msg.green, msg.blue)
        if msg.has_effect:
            if msg.effect not in self.effects:
                raise CommandError(f"{self.object_id}: unknown effect {msg.effect!r}")
            changes["effect"] = "" if msg.effect == self.NO_EFFECT else msg.effect
        wanted = LightState(**{**light.__dict__, **changes})
        # The handler may adjust the request (an effect brings its colour) by returning it.
        adjusted = await call_handler(self._on_command, wanted)
        self.set(adjusted if isinstance(adjusted, LightState) else wanted)


@dataclass(frozen=True)
class MediaFormat:
    """A format the player wants HA to convert media to (HA's ffmpeg proxy does it)."""

    format: str
    sample_rate: int = 0
    num_channels: int = 0
    sample_bytes: int = 0
    announcement: bool = False


@dataclass(frozen=True)
class MediaPlayerCommand:
    """What HA asked of the player: a command, a volume, a URL to play (maybe several)."""

    command: int | None = None
    volume: float | None = None
    url: str | None = None
    announcement: bool = False


@dataclass(frozen=True)
class MediaPlayerState:
    """The speaker as HA's media player shows it: state, volume and mute."""

    state: pb.MediaPlayerState.ValueType = pb.MEDIA_PLAYER_STATE_IDLE
    volume: float = 1.0
    muted: bool = False


class MediaPlayerEntity(_ValueEntity[MediaPlayerState]):
    """The speaker as HA's media player; `on_command` carries out play, pause, volume and
    announcements."""

    info_type = pb.ListEntitiesMediaPlayerResponse
    command_type = pb.MediaPlayerCommandRequest

    def __init__(
        self,
        object_id: str,
        name: str,
        on_command: Handler[MediaPlayerCommand],
        *,
        formats: Sequence[MediaFormat],
        feature_flags: int,
        supports_pause: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(object_id, name, state=MediaPlayerState(), **kw)
        self.formats = list(formats)
        self.feature_flags = feature_flags
        self.supports_pause = supports_pause
        self._on_command = on_command

    def _fill_info(self, msg: pb.ListEntitiesMediaPlayerResponse) -> None:
        msg.supports_pause = self.supports_pause
        msg.feature_flags = self.feature_flags
        for fmt in self.formats:
            msg.supported_formats.append(
                pb.MediaPlayerSupportedFormat(
                    format=fmt.format,
                    sample_rate=fmt.sample_rate,
                    num_channels=fmt.num_channels,
                    sample_bytes=fmt.sample_bytes,
                    purpose=(
                        pb.MEDIA_PLAYER_FORMAT_PURPOSE_ANNOUNCEMENT
                        if fmt.announcement
                        else pb.MEDIA_PLAYER_FORMAT_PURPOSE_DEFAULT
                    ),
                )
            )

    def state(self) -> Message:
        """The player's state for HA."""
        current = self.value or MediaPlayerState()
        return pb.MediaPlayerStateResponse(
            key=self.key, state=current.state, volume=current.volume, muted=current.muted
        )

    async def command(self, msg: pb.MediaPlayerCommandRequest) -> None:
        """HA sent a media player command."""
        await call_handler(
            self._on_command,
            MediaPlayerCommand(
                command=msg.command if msg.has_command else None,
                volume=msg.volume if msg.has_volume else None,
                url=msg.media_url if msg.has_media_url else None,
                announcement=msg.has_announcement and msg.announcement,
            ),
        )
