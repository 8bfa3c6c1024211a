"""Servos on a PCA9685 16-channel PWM board (Adafruit servo HAT/bonnet) over I2C.

The PCA9685 times the pulses in hardware, so there is no jitter whatever the Pi's CPU is
doing. I2C writes take about a millisecond; they run on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from typing import Any

from ..config import ServoConfig, ServosConfig
from ..errors import HeadError
from ..motion import Pose
from .base import ServoBackend

_LOGGER = logging.getLogger(__name__)


class PCA9685Servos(ServoBackend):
    """`i2c_factory` is for tests (a fake bus); by default the Pi's I2C bus is used."""

    def __init__(self, config: ServosConfig, i2c_factory: Callable[[], Any] | None = None):
        self._config = config
        self._i2c_factory = i2c_factory
        self._kit: Any = None

    async def start(self) -> None:
        try:
            from adafruit_servokit import ServoKit  # noqa: PLC0415 - optional hardware library
        except ImportError as err:
            raise HeadError(
                "The pca9685 servo backend needs adafruit-circuitpython-servokit: "
                "pip install 'milo-satellite[pca9685]'"
            ) from err
        config = self._config
        try:
            i2c = self._i2c_factory() if self._i2c_factory else None
            self._kit = await asyncio.to_thread(
                ServoKit, channels=config.pwm_channels, i2c=i2c, address=config.i2c_address
            )
        except (OSError, ValueError, RuntimeError, NotImplementedError) as err:
            raise HeadError(
                f"No PCA9685 answered at I2C address {config.i2c_address:#04x} ({err}); check "
                "the wiring and that I2C is enabled (raspi-config)"
            ) from err
        for axis in (config.pan, config.tilt):
            servo = self._kit.servo[axis.channel]
            servo.actuation_range = 180
            servo.set_pulse_width_range(axis.min_pulse_us, axis.max_pulse_us)

    async def move(self, pose: Pose) -> None:
        await self._write(
            (self._config.pan, self._config.pan.to_servo(pose.pan)),
            (self._config.tilt, self._config.tilt.to_servo(pose.tilt)),
        )

    async def detach(self) -> None:
        await self._write((self._config.pan, None), (self._config.tilt, None))

    async def _write(self, *writes: tuple[ServoConfig, float | None]) -> None:
        if self._kit is None:
            return

        def write() -> None:
            for axis, angle in writes:
                self._kit.servo[axis.channel].angle = angle  # None: no pulses (limp)

        try:
            await asyncio.to_thread(write)
        except OSError as err:  # a loose cable: log, the next move tries again
            _LOGGER.warning("I2C write to the PCA9685 failed: %s", err)
