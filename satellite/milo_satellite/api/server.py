"""An ESPHome native API server: a Python program that HA adopts like an ESPHome device.

It is generic: a device is an `APIServer` plus entities and user-defined actions made in
code. Milo's satellite is one such device (see `milo_satellite.device`); tests and the
head's ESPHome servo backend use another, a simulated servo board::

    from milo_satellite.api import APIServer, DeviceIdentity, NumberEntity, ButtonEntity
    from milo_satellite.api import UserAction, ArgType

    server = APIServer(DeviceIdentity(name="milo-head", mac="02:00:00:00:00:01"),
                       encryption_key="<base64 32 bytes>")      # None: plaintext
    pan = NumberEntity("pan", "Pan", on_set=set_pan, min_value=-80, max_value=80)
    server.add_entity(pan)
    server.add_entity(ButtonEntity("center", "Centre", on_press=centre))
    server.add_action(UserAction("look_at", (("pan", ArgType.FLOAT),
                                             ("tilt", ArgType.FLOAT)), look_at))
    await server.start("127.0.0.1", 0)      # port 0: any free port, see `server.port`
    pan.set(12.5)                           # pushes the new state to subscribed clients
    ...
    await server.stop()

Handlers get the converted value (`on_set(12.5)`, `look_at(pan=1.0, tilt=2.0)`) and may
be coroutines. Extra protocol messages (the voice assistant's) are routed with
`server.add_message_handler(MessageClass, handler)`; `handler(connection, message)` is
called in order, from the read loop, so it must not block.

Several clients may be connected at once; each gets the full protocol. One that
misbehaves is disconnected without disturbing the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import time
from typing import TypeVar

from .. import __version__
from .actions import ActionError, UserAction
from .connection import ClientConnection, MessageHandler
from .entities import CameraEntity, CommandError, Entity, call_handler
from .frames import MAX_NOISE_PAYLOAD, NoiseFramer, PlaintextFramer, decode_psk
from .messages import Message, pb

_LOGGER = logging.getLogger(__name__)

API_VERSION = (1, 14)
CLOCK_TOLERANCE_S = 30.0  # a Pi has no real-time clock: warn when NTP has not set it
# HA, the ESPHome dashboard, a few `esphome logs`: plenty. When all are taken, the oldest
# connection that has not said hello yet makes room, so HA always gets in.
MAX_CONNECTIONS = 8
CAMERA_CHUNK = min(MAX_NOISE_PAYLOAD - 64, 32 * 1024)
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class DeviceIdentity:
    """Who the device says it is (DeviceInfoResponse, hello, zeroconf)."""

    name: str
    mac: str
    friendly_name: str = ""
    model: str = "Milo"
    manufacturer: str = "Milo project"
    project_name: str = ""  # ESPHome's "vendor.model"; HA shows its parts as such
    project_version: str = __version__
    suggested_area: str = ""


@dataclass(frozen=True)
class ClockCheck:
    """HA's answer to our time request: its clock and time zone, compared with ours."""

    timezone: str  # POSIX TZ string, e.g. "GMT0BST,M3.5.0/1,M10.5.0"
    offset_s: float  # HA's clock minus ours


class APIServer:
    """Accepts clients, answers the core protocol, routes commands to entities."""

    def __init__(
        self,
        identity: DeviceIdentity,
        *,
        encryption_key: str | None = None,
        voice_assistant_feature_flags: int = 0,
    ) -> None:
        self.identity = identity
        self._psk = decode_psk(encryption_key) if encryption_key else None
        self.voice_assistant_feature_flags = voice_assistant_feature_flags
        self.entities: dict[int, Entity] = {}
        self.actions: dict[int, UserAction] = {}
        self.clients: set[ClientConnection] = set()
        self.clock: ClockCheck | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], ClientConnection] = {}
        self._client_listeners: list[Callable[[ClientConnection, bool], None]] = []
        self._handlers: dict[type[Message], MessageHandler] = {
            pb.HelloRequest: self._on_hello,
            # No passwords (the key does that); clients before 2026 wait for this answer.
            pb.AuthenticationRequest: lambda c, _m: c.send(pb.AuthenticationResponse()),
            pb.DisconnectRequest: self._on_disconnect,
            pb.DisconnectResponse: lambda c, _m: c.close(),
            pb.PingRequest: lambda c, _m: c.send(pb.PingResponse()),
            pb.PingResponse: lambda _c, _m: None,
            pb.DeviceInfoRequest: lambda c, _m: c.send(self.device_info()),
            pb.ListEntitiesRequest: self._on_list_entities,
            pb.SubscribeStatesRequest: self._on_subscribe_states,
            pb.SubscribeHomeassistantServicesRequest: self._on_subscribe_ha_actions,
            pb.GetTimeRequest: self._on_get_time,
            pb.GetTimeResponse: self._on_time,
            pb.CameraImageRequest: self._on_camera_image,
            pb.ExecuteServiceRequest: self._on_execute_action,
            pb.NoiseEncryptionSetKeyRequest: self._on_set_key,
        }

    @property
    def encrypted(self) -> bool:
        """Whether clients must use the Noise key."""
        return self._psk is not None

    # -- building the device ------------------------------------------------------------

    def add_entity(self, entity: Entity) -> Entity:
        """Register an entity (before start); HA's commands for it reach it."""
        if entity.key in self.entities:
            raise ValueError(f"duplicate entity key for {entity.object_id!r}")
        self.entities[entity.key] = entity
        entity.attach(self._broadcast_state)
        if entity.command_type is not None:
            self._handlers.setdefault(entity.command_type, self._on_command)
        return entity

    def add_action(self, action: UserAction) -> UserAction:
        """Register a user-defined action (before start)."""
        if action.key in self.actions:
            raise ValueError(f"duplicate action {action.name!r}")
        self.actions[action.key] = action
        return action

    def add_message_handler(
        self, msg_type: type[M], handler: Callable[[ClientConnection, M], None]
    ) -> None:
        """Handle messages of `msg_type` with `handler(connection, message)`."""
        self._handlers[msg_type] = handler

    def add_client_listener(
        self, listener: Callable[[ClientConnection, bool], None]
    ) -> Callable[[], None]:
        """`listener(connection, connected)` after hello and when a client leaves."""
        self._client_listeners.append(listener)
        return lambda: self._client_listeners.remove(listener)

    def handler_for(self, msg: Message) -> MessageHandler | None:
        """The handler of a received message; None to ignore it."""
        return self._handlers.get(type(msg))

    # -- running ------------------------------------------------------------------------

    async def start(self, host: str = "0.0.0.0", port: int = 6053) -> None:
        """Listen for clients on host:port (port 0: any free port)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        _LOGGER.info(
            "ESPHome API (%s) listening on %s:%d",
            "encrypted" if self.encrypted else "plaintext",
            host,
            self.port,
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Say goodbye to every client, close them and stop listening."""
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.send(pb.DisconnectRequest())
            client.close()
        for task in list(self._connections):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._make_room():
            peer = writer.get_extra_info("peername")
            _LOGGER.warning("Refusing %s: already %d connections", peer, MAX_CONNECTIONS)
            writer.close()
            return
        framer = (
            NoiseFramer(self._psk, self.identity.name, self.identity.mac)
            if self._psk is not None
            else PlaintextFramer()
        )
        client = ClientConnection(self.handler_for, reader, writer, framer)
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = client
        _LOGGER.debug("%s connected", client.peer)
        try:
            await client.run()
        except asyncio.CancelledError:
            # Only stop() cancels a connection, and this task is the connection's top level:
            # ending it normally keeps Python 3.11's start_server from logging the
            # cancellation as an error at every shutdown.
            _LOGGER.debug("%s closed at shutdown", client.peer)
        finally:
            if task is not None:
                self._connections.pop(task, None)
            if client in self.clients:
                self.clients.discard(client)
                _LOGGER.info("%r disconnected", client)
                for listener in list(self._client_listeners):
                    listener(client, False)

    def _make_room(self) -> bool:
        """Whether a new connection fits, closing the oldest one without hello if need be."""
        open_ = [c for c in self._connections.values() if not c.closed.is_set()]
        if len(open_) < MAX_CONNECTIONS:
            return True
        strangers = [c for c in open_ if not c.said_hello]
        if not strangers:
            return False
        oldest = min(strangers, key=lambda c: c.connected_at)
        _LOGGER.warning("%d connections: closing %s, it never said hello", len(open_), oldest.peer)
        oldest.close()
        return True

    # -- what clients are told ----------------------------------------------------------

    def device_info(self) -> Message:
        """The DeviceInfoResponse that HA identifies and adopts the device by."""
        ident = self.identity
        return pb.DeviceInfoResponse(
            name=ident.name,
            friendly_name=ident.friendly_name or ident.name,
            mac_address=ident.mac,
            esphome_version=__version__,
            compilation_time="",
            model=ident.model,
            manufacturer=ident.manufacturer,
            project_name=ident.project_name or f"{ident.manufacturer}.{ident.model}",
            project_version=ident.project_version,
            suggested_area=ident.suggested_area,
            voice_assistant_feature_flags=self.voice_assistant_feature_flags,
            # False: the key lives in the config file; HA must not try to provision one.
            api_encryption_supported=False,
        )

    def _broadcast_state(self, msg: Message) -> None:
        for client in list(self.clients):
            if client.wants_states:
                client.send(msg)

    def fire_ha_event(self, event: str, data: dict[str, str]) -> None:
        """Fire `event` (it must start with "esphome.") on HA's event bus."""
        if not event.startswith("esphome."):
            raise ValueError("HA only accepts device events named esphome.*")
        msg = pb.HomeassistantActionRequest(service=event, is_event=True)
        for key, value in data.items():
            msg.data.append(pb.HomeassistantServiceMap(key=key, value=value))
        for client in list(self.clients):
            if client.wants_ha_actions:
                client.send(msg)

    # -- core handlers ------------------------------------------------------------------

    def _on_hello(self, client: ClientConnection, msg: pb.HelloRequest) -> None:
        if not client.hello(msg.client_info):
            return
        client.send(
            pb.HelloResponse(
                api_version_major=API_VERSION[0],
                api_version_minor=API_VERSION[1],
                server_info=f"milo-satellite {__version__}",
                name=self.identity.name,
            )
        )
        self.clients.add(client)
        _LOGGER.info(
            "%r connected (API %d.%d)", client, msg.api_version_major, msg.api_version_minor
        )
        for listener in list(self._client_listeners):
            listener(client, True)

    def _on_disconnect(self, client: ClientConnection, _msg: pb.DisconnectRequest) -> None:
        client.send(pb.DisconnectResponse())
        client.close()

    def _on_list_entities(self, client: ClientConnection, _msg: pb.ListEntitiesRequest) -> None:
        client.send(
            *(entity.info() for entity in self.entities.values()),
            *(action.info() for action in self.actions.values()),
            pb.ListEntitiesDoneResponse(),
        )

    def _on_subscribe_states(
        self, client: ClientConnection, _msg: pb.SubscribeStatesRequest
    ) -> None:
        client.subscribe_states()
        states = [s for e in self.entities.values() if (s := e.state()) is not None]
        if states:
            client.send(*states)
        # Like an ESPHome device with `time: platform: homeassistant`: HA is fully
        # connected now (it subscribes last), so ask for its clock.
        client.send(pb.GetTimeRequest())

    def _on_subscribe_ha_actions(
        self, client: ClientConnection, _msg: pb.SubscribeHomeassistantServicesRequest
    ) -> None:
        client.subscribe_ha_actions()

    def _on_set_key(self, client: ClientConnection, _msg: pb.NoiseEncryptionSetKeyRequest) -> None:
        _LOGGER.warning("%r tried to set the API key; set encryption_key in the config", client)
        client.send(pb.NoiseEncryptionSetKeyResponse(success=False))

    def _on_get_time(self, client: ClientConnection, _msg: pb.GetTimeRequest) -> None:
        client.send(pb.GetTimeResponse(epoch_seconds=int(time.time())))

    def _on_time(self, client: ClientConnection, msg: pb.GetTimeResponse) -> None:
        """HA's time: we do not set the system clock (NTP's job), but say when it is off."""
        self.clock = ClockCheck(msg.timezone, msg.epoch_seconds - time.time())
        if abs(self.clock.offset_s) > CLOCK_TOLERANCE_S:
            _LOGGER.warning(
                "This clock is %.0f s off %r's; log times will be wrong. "
                "Enable NTP: sudo timedatectl set-ntp true",
                -self.clock.offset_s,
                client,
            )
        else:
            _LOGGER.debug("Clock matches %r's (time zone %s)", client, msg.timezone)

    def _on_command(self, client: ClientConnection, msg: Message) -> None:
        """A command for one of the entities: a SwitchCommandRequest, a NumberCommandRequest..."""
        entity = self.entities.get(msg.key)
        if entity is None or not isinstance(msg, entity.command_type or ()):
            _LOGGER.warning("%r: %s for unknown key %d", client, type(msg).__name__, msg.key)
            return
        client.spawn(self._run_command(entity, msg), f"{entity.object_id} command")

    async def _run_command(self, entity: Entity, msg: Message) -> None:
        try:
            await entity.command(msg)
        except (CommandError, ValueError) as err:
            _LOGGER.warning("Command refused: %s", err)
            entity.publish()  # tell HA the state did not change
        except Exception:
            _LOGGER.exception("Command for %s failed", entity.object_id)
            entity.publish()

    def _on_camera_image(self, client: ClientConnection, _msg: pb.CameraImageRequest) -> None:
        for entity in self.entities.values():
            if isinstance(entity, CameraEntity):
                client.spawn(self._send_snapshot(client, entity), f"{entity.object_id} image")

    async def _send_snapshot(self, client: ClientConnection, camera: CameraEntity) -> None:
        image = await camera.snapshot()
        if not image:
            _LOGGER.debug("%s: no frame to send", camera.object_id)
            return
        chunks = [image[i : i + CAMERA_CHUNK] for i in range(0, len(image), CAMERA_CHUNK)]
        client.send(
            *(
                pb.CameraImageResponse(key=camera.key, data=chunk, done=i == len(chunks) - 1)
                for i, chunk in enumerate(chunks)
            )
        )

    def _on_execute_action(self, client: ClientConnection, msg: pb.ExecuteServiceRequest) -> None:
        action = self.actions.get(msg.key)
        if action is None:
            _LOGGER.warning("%r: unknown action key %d", client, msg.key)
            self._action_result(client, msg.call_id, "unknown action")
            return
        client.spawn(self._run_action(client, action, msg), f"action {action.name}")

    async def _run_action(
        self, client: ClientConnection, action: UserAction, msg: pb.ExecuteServiceRequest
    ) -> None:
        error = ""
        try:
            await call_handler(action.handler, **action.arguments(msg))
        except (ActionError, ValueError) as err:
            error = str(err)
        except Exception as err:  # the caller in HA gets the message, we keep serving
            _LOGGER.exception("Action %s failed", action.name)
            error = str(err) or type(err).__name__
        else:
            _LOGGER.info("Action %s done", action.name)
        if error:
            _LOGGER.warning("Action %s failed: %s", action.name, error)
        self._action_result(client, msg.call_id, error)

    @staticmethod
    def _action_result(client: ClientConnection, call_id: int, error: str) -> None:
        if call_id:
            client.send(
                pb.ExecuteServiceResponse(call_id=call_id, success=not error, error_message=error)
            )
