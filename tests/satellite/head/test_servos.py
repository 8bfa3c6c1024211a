"""Servo backends against their real libraries, with only the hardware faked.

- PCA9685: the real adafruit-circuitpython-servokit stack writing to a fake I2C bus that
  keeps the chip's registers, so the test reads back the real PWM values.
- GPIO: the real gpiozero AngularServo on gpiozero's own mock PWM pins.
- ESPHome: the real aioesphomeapi client against the satellite's ESPHome API server
  acting as the milo-head.yaml board (encrypted, as the firmware is).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
import sys

from aioesphomeapi import APIClient, APIConnectionError
import pytest

from milo_satellite.head.config import HeadConfig, ServosConfig
from milo_satellite.head.errors import HeadError
from milo_satellite.head.motion import Pose
from milo_satellite.head.servo_board import SimulatedServoBoard
from milo_satellite.head.servos import SimulatedServos, build_servos
from milo_satellite.head.servos.esphome import ESPHomeServos
from milo_satellite.head.servos.gpio import GPIOServos
from milo_satellite.head.servos.pca9685 import PCA9685Servos

PCA_ADDRESS = 0x40
PERIOD_US = 20_000  # 50 Hz


class FakeI2C:
    """A bus with one PCA9685: 256 auto-incrementing registers, like the chip."""

    def __init__(self) -> None:
        self.registers = bytearray(256)

    def try_lock(self) -> bool:
        return True

    def unlock(self) -> None:
        pass

    def _check(self, address: int) -> None:
        if address != PCA_ADDRESS:
            raise OSError(121, "Remote I/O error")

    def writeto(self, address: int, buffer: bytes, *, start: int = 0, end: int | None = None):
        self._check(address)
        data = bytes(buffer[start:end])
        if data:
            register = data[0]
            self.registers[register : register + len(data) - 1] = data[1:]

    def readfrom_into(self, address: int, buffer, *, start: int = 0, end: int | None = None):
        self._check(address)

    def writeto_then_readfrom(
        self, address, out_buffer, in_buffer, *, out_start=0, out_end=None, in_start=0, in_end=None
    ):
        self._check(address)
        register = out_buffer[out_start]
        end = len(in_buffer) if in_end is None else in_end
        count = end - in_start
        in_buffer[in_start:end] = self.registers[register : register + count]

    def pulse_us(self, channel: int) -> float:
        """The pulse width the chip is generating on `channel` (0: off)."""
        base = 0x06 + 4 * channel
        on = int.from_bytes(self.registers[base : base + 2], "little")
        off = int.from_bytes(self.registers[base + 2 : base + 4], "little")
        if off & 0x1000:
            return 0.0
        return (off - on) / 4096 * PERIOD_US


def servos_config(**options) -> ServosConfig:
    return HeadConfig.from_dict({"servos": options}).servos


async def test_pca9685_writes_calibrated_pulses() -> None:
    bus = FakeI2C()
    config = servos_config(
        backend="pca9685", pan={"center": 95.0}, tilt={"invert": True, "channel": 3}
    )
    servos = PCA9685Servos(config, i2c_factory=lambda: bus)
    await servos.start()
    await servos.move(Pose(0.0, 0.0))
    # 500..2500 us over 0..180 degrees: 95 degrees = 1555.6 us, 90 degrees = 1500 us.
    assert bus.pulse_us(0) == pytest.approx(1555.6, abs=10)
    assert bus.pulse_us(3) == pytest.approx(1500, abs=10)
    await servos.move(Pose(-40.0, 20.0))  # tilt inverted: up is a smaller servo angle
    assert bus.pulse_us(0) == pytest.approx(500 + 55 / 180 * 2000, abs=10)
    assert bus.pulse_us(3) == pytest.approx(500 + 70 / 180 * 2000, abs=10)
    await servos.detach()
    assert bus.pulse_us(0) == 0.0
    assert bus.pulse_us(3) == 0.0
    await servos.move(Pose(0.0, 0.0))  # a move re-attaches
    assert bus.pulse_us(0) > 0


async def test_pca9685_missing_board_is_a_clear_error() -> None:
    config = servos_config(backend="pca9685", i2c_address=0x41)
    servos = PCA9685Servos(config, i2c_factory=FakeI2C)
    with pytest.raises(HeadError, match="No PCA9685 answered at I2C address 0x41"):
        await servos.start()


async def test_gpio_angular_servo_pulses() -> None:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    factory = MockFactory(pin_class=MockPWMPin)
    config = servos_config(backend="gpio", pan={"pin": 12}, tilt={"pin": 13, "min": -45.0})
    servos = GPIOServos(config, pin_factory=factory)
    await servos.start()
    pan_pin, tilt_pin = factory.pin(12), factory.pin(13)
    assert pan_pin.state == 0  # detached until the first move: no twitch at start-up
    await servos.move(Pose(0.0, -45.0))
    assert pan_pin.frequency == pytest.approx(50)
    assert pan_pin.state * PERIOD_US == pytest.approx(1500, abs=5)
    assert tilt_pin.state * PERIOD_US == pytest.approx(500 + 45 / 180 * 2000, abs=5)
    await servos.detach()
    assert pan_pin.state == 0
    await servos.stop()


async def test_gpio_unknown_pin_factory_is_a_clear_error() -> None:
    with pytest.raises(HeadError, match="pin_factory must be one of"):
        await GPIOServos(servos_config(backend="gpio", pin_factory="nonsense")).start()


def test_backend_is_chosen_by_config() -> None:
    assert isinstance(build_servos(servos_config()), SimulatedServos)
    assert isinstance(build_servos(servos_config(backend="gpio")), GPIOServos)
    assert isinstance(build_servos(servos_config(backend="pca9685")), PCA9685Servos)
    board = servos_config(backend="esphome", host="milo-head.local")
    assert isinstance(build_servos(board), ESPHomeServos)
    with pytest.raises(HeadError, match="host is required"):
        servos_config(backend="esphome")


KEY = base64.b64encode(bytes(range(32))).decode()


async def _wait_for(condition, limit_s: float = 30.0) -> None:
    """Poll: the board's state changes arrive from another connection."""
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_esphome_board_over_the_real_api_client() -> None:
    board = SimulatedServoBoard(encryption_key=KEY)
    await board.start()
    config = servos_config(
        backend="esphome",
        host="127.0.0.1",
        port=board.port,
        encryption_key=KEY,
        pan={"center": 100.0},
        tilt={"invert": True},
    )
    servos = ESPHomeServos(config)
    try:
        await servos.start()
        await asyncio.wait_for(servos.connected.wait(), 10)
        await servos.move(Pose(20.0, 10.0))
        await _wait_for(lambda: len(board.writes) >= 2)
        # Servo degrees from the middle: pan 100 + 20 - 90 = 30; tilt inverted 90 - 10 - 90.
        assert board.numbers["pan"].value == pytest.approx(30.0)
        assert board.numbers["tilt"].value == pytest.approx(-10.0)
        assert board.attached == {"pan": True, "tilt": True}

        await servos.detach()
        await _wait_for(lambda: not any(board.attached.values()))
    finally:
        await servos.stop()
        await board.stop()


async def test_esphome_board_reconnects_and_resends_the_pose() -> None:
    board = SimulatedServoBoard(encryption_key=KEY)
    await board.start()
    port = board.port
    config = servos_config(backend="esphome", host="127.0.0.1", port=port, encryption_key=KEY)
    servos = ESPHomeServos(config)
    await servos.start()
    try:
        await asyncio.wait_for(servos.connected.wait(), 10)
        await board.stop()  # the board reboots
        await _wait_for(lambda: not servos.connected.is_set())
        await servos.move(Pose(-30.0, 5.0))  # dropped while offline, remembered
        board = SimulatedServoBoard(encryption_key=KEY)
        await board.start(port=port)
        await asyncio.wait_for(servos.connected.wait(), 15)
        await _wait_for(lambda: board.numbers["pan"].value == pytest.approx(-30.0))
    finally:
        await servos.stop()
        await board.stop()


async def test_esphome_wrong_key_never_connects_and_says_so(caplog) -> None:
    board = SimulatedServoBoard(encryption_key=KEY)
    await board.start()
    wrong = base64.b64encode(bytes(32)).decode()
    config = servos_config(backend="esphome", host="127.0.0.1", port=board.port)
    servos = ESPHomeServos(replace(config, encryption_key=wrong))
    await servos.start()
    try:
        await asyncio.sleep(1.0)
        assert not servos.connected.is_set()
        await servos.move(Pose(10.0, 0.0))  # no error: dropped while not connected
        assert board.writes == []
        assert "not reachable" in caplog.text
    finally:
        await servos.stop()
        await board.stop()


async def test_simulated_servos_obey_end_stops_and_speed() -> None:
    now = [0.0]
    servos = SimulatedServos(servos_config(simulated_speed=100.0), lambda: now[0])
    await servos.move(Pose(500.0, -500.0))
    now[0] = 0.5
    assert servos.actual == Pose(50.0, -30.0)  # 100 deg/s; tilt stopped at its -30 end stop
    now[0] = 5.0
    assert servos.actual == Pose(80.0, -30.0)
    await servos.detach()
    await servos.move(Pose(0.0, 0.0))
    assert servos.attached


async def test_servo_board_command_line(unused_tcp_port: int) -> None:
    """`python -m milo_satellite.head.servo_board` serves the milo-head.yaml entities."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "milo_satellite.head.servo_board",
        "--host",
        "127.0.0.1",
        "--port",
        str(unused_tcp_port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = APIClient("127.0.0.1", unused_tcp_port, None)
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    await client.connect(login=True)
                    break
                except APIConnectionError:
                    await asyncio.sleep(0.2)
        entities, services = await client.list_entities_services()
        assert {e.object_id for e in entities} == {"pan", "tilt", "center"}
        assert {s.name for s in services} == {"look_at", "detach"}
        await client.disconnect()
    finally:
        process.terminate()
        await process.wait()
