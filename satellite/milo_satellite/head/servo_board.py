"""A simulated esphome/milo-head.yaml board, served with the satellite's own ESPHome API server.

Same entities and actions as the firmware (numbers `pan` and `tilt` in servo degrees from
the middle, the `center` button, the actions `look_at(pan, tilt)` and `detach`), so the
`esphome` servo backend can be tried and tested end to end without an ESP32::

    python -m milo_satellite.head.servo_board --port 6054 [--encryption-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import time

from ..api import APIServer, ArgType, ButtonEntity, DeviceIdentity, NumberEntity, UserAction

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardWrite:
    """One servo write as the firmware would do it (level -1..1 = degrees / 90)."""

    time: float
    servo: str
    degrees: float


class SimulatedServoBoard:
    """The board's entities on an APIServer; records every write and the attach state."""

    def __init__(self, name: str = "milo-head", encryption_key: str | None = None) -> None:
        self.server = APIServer(
            DeviceIdentity(name=name, mac="02:00:00:00:6d:68", model="Milo head (simulated)"),
            encryption_key=encryption_key,
        )
        self.writes: list[BoardWrite] = []
        self.attached = {"pan": False, "tilt": False}
        self.numbers = {
            servo: NumberEntity(
                servo,
                servo.capitalize(),
                self._writer(servo),
                min_value=-90.0,
                max_value=90.0,
                step=0.1,
                unit="°",
                state=0.0,
            )
            for servo in ("pan", "tilt")
        }
        for number in self.numbers.values():
            self.server.add_entity(number)
        self.server.add_entity(ButtonEntity("center", "Center", self._centre))
        self.server.add_action(
            UserAction("look_at", (("pan", ArgType.FLOAT), ("tilt", ArgType.FLOAT)), self._look_at)
        )
        self.server.add_action(UserAction("detach", (), self._detach))

    def _writer(self, servo: str) -> Callable[[float], None]:
        def write(degrees: float) -> None:
            self.attached[servo] = True
            self.writes.append(BoardWrite(time.monotonic(), servo, degrees))

        return write

    async def _set(self, servo: str, degrees: float) -> None:
        """Like `number.set` in the firmware: runs the set_action, then publishes."""
        value = max(-90.0, min(90.0, degrees))
        self._writer(servo)(value)
        self.numbers[servo].set(value)

    async def _centre(self) -> None:
        await self._set("pan", 0.0)
        await self._set("tilt", 0.0)

    async def _look_at(self, pan: float, tilt: float) -> None:
        await self._set("pan", pan)
        await self._set("tilt", tilt)

    async def _detach(self) -> None:
        self.attached = {"pan": False, "tilt": False}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await self.server.start(host, port)

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def port(self) -> int:
        return self.server.port


async def _serve(args: argparse.Namespace) -> None:
    board = SimulatedServoBoard(args.name, args.encryption_key)
    await board.start(args.host, args.port)
    _LOGGER.info("Simulated servo board %s on %s:%d", args.name, args.host, board.port)
    try:
        await asyncio.Event().wait()
    finally:
        await board.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=6054)
    parser.add_argument("--name", default="milo-head")
    parser.add_argument("--encryption-key", default=None, help="base64 noise PSK (32 bytes)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
