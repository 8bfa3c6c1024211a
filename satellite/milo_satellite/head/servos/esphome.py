"""Servos on an ESPHome board (esphome/milo-head.yaml), driven with the aioesphomeapi client.

Handy when the servos sit in the head and the Pi does not (or the Pi's pins are taken).
The board exposes two numbers, `pan` and `tilt`, in servo degrees from the middle
(-90..90), so all calibration (centre trim, inversion) stays in the satellite config;
and a `detach` action for sleep. A board that is offline or reboots is reconnected in the
background; moves made meanwhile are dropped, and the newest pose is sent on reconnect.
"""

from __future__ import annotations

import asyncio
import logging

from aioesphomeapi import APIClient, APIConnectionError, EntityInfo, NumberInfo, UserService

from ..config import ServosConfig
from ..errors import HeadError
from ..motion import Pose
from .base import ServoBackend

_LOGGER = logging.getLogger(__name__)

CLIENT_INFO = "milo-satellite head"
_RETRY_MIN_S = 1.0
_RETRY_MAX_S = 30.0


class ESPHomeServos(ServoBackend):
    """A native-API client to the servo board."""

    def __init__(self, config: ServosConfig):
        self._config = config
        self._client: APIClient | None = None
        self._keys: dict[str, int] = {}
        self._detach_action: UserService | None = None
        self._last: Pose | None = None
        self._connector: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._stopping = False
        self._connector = asyncio.create_task(self._connect_loop(), name="milo-head-esphome")

    async def stop(self) -> None:
        self._stopping = True
        if self._connector is not None:
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        client, self._client = self._client, None
        self.connected.clear()
        if client is not None:
            await client.disconnect()

    async def move(self, pose: Pose) -> None:
        self._last = pose
        client = self._client
        if client is None:
            return
        client.number_command(self._keys["pan"], self._config.pan.to_servo(pose.pan) - 90)
        client.number_command(self._keys["tilt"], self._config.tilt.to_servo(pose.tilt) - 90)

    async def detach(self) -> None:
        client, action = self._client, self._detach_action
        if client is None or action is None:
            return
        try:
            await client.execute_service(action, {})
        except APIConnectionError as err:
            _LOGGER.warning("Could not detach the board's servos: %s", err)

    async def _connect_loop(self) -> None:
        delay = _RETRY_MIN_S
        warned = False
        while not self._stopping:
            try:
                await self._connect()
            except (APIConnectionError, OSError, TimeoutError, HeadError) as err:
                if not warned:
                    _LOGGER.warning(
                        "Servo board %s:%s not reachable (%s); retrying",
                        self._config.host,
                        self._config.port,
                        err,
                    )
                    warned = True
                await asyncio.sleep(delay)
                delay = min(_RETRY_MAX_S, delay * 2)
                continue
            _LOGGER.info("Connected to servo board %s", self._config.host)
            return

    async def _connect(self) -> None:
        client = APIClient(
            self._config.host,
            self._config.port,
            None,
            client_info=CLIENT_INFO,
            noise_psk=self._config.encryption_key or None,
        )
        await client.connect(on_stop=self._on_stop, login=True)
        try:
            entities, services = await client.list_entities_services()
            self._keys = _servo_keys(entities)
        except BaseException:
            await client.disconnect()
            raise
        self._detach_action = next((s for s in services if s.name == "detach"), None)
        self._client = client
        self.connected.set()
        if self._last is not None:
            await self.move(self._last)

    async def _on_stop(self, expected_disconnect: bool) -> None:
        self._client = None
        self.connected.clear()
        if not self._stopping:
            _LOGGER.warning("Lost the servo board connection; reconnecting")
            self._connector = asyncio.create_task(self._connect_loop())


def _servo_keys(entities: list[EntityInfo]) -> dict[str, int]:
    numbers = {e.object_id: e.key for e in entities if isinstance(e, NumberInfo)}
    missing = {"pan", "tilt"} - set(numbers)
    if missing:
        raise HeadError(
            f"The board has no number(s) {', '.join(sorted(missing))}; flash esphome/milo-head.yaml"
        )
    return {"pan": numbers["pan"], "tilt": numbers["tilt"]}
