"""Servos on two GPIO pins via gpiozero's AngularServo.

Without help the pulses are timed in software, and a busy Pi makes the servos twitch
(jitter). Run the pigpio daemon (`sudo apt install pigpio && sudo systemctl enable --now
pigpiod`) and set `pin_factory: pigpio` for hardware-timed, jitter-free pulses; or use a
PCA9685 board, which times them itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..config import ServoConfig, ServosConfig
from ..errors import HeadError
from ..motion import Pose
from .base import ServoBackend

_FACTORIES = {
    "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
}


class GPIOServos(ServoBackend):
    """`pin_factory` (a gpiozero factory object) overrides the configured one (tests)."""

    def __init__(self, config: ServosConfig, pin_factory: Any = None):
        self._config = config
        self._factory = pin_factory
        self._servos: dict[str, Any] = {}

    async def start(self) -> None:
        try:
            from gpiozero import AngularServo  # noqa: PLC0415 - optional hardware library
        except ImportError as err:
            raise HeadError(
                "The gpio servo backend needs gpiozero: pip install 'milo-satellite[gpio]'"
            ) from err
        factory = self._factory or _named_factory(self._config.pin_factory)
        try:
            for name, axis in (("pan", self._config.pan), ("tilt", self._config.tilt)):
                self._servos[name] = AngularServo(
                    axis.pin,
                    initial_angle=None,  # detached until the first move
                    min_angle=0,
                    max_angle=180,
                    min_pulse_width=axis.min_pulse_us / 1e6,
                    max_pulse_width=axis.max_pulse_us / 1e6,
                    pin_factory=factory,
                )
        except Exception as err:
            await self.stop()
            raise HeadError(f"Could not set up the GPIO servos: {err}") from err

    async def move(self, pose: Pose) -> None:
        self._set("pan", self._config.pan, pose.pan)
        self._set("tilt", self._config.tilt, pose.tilt)

    def _set(self, name: str, axis: ServoConfig, angle: float) -> None:
        servo = self._servos.get(name)
        if servo is not None:
            servo.angle = axis.to_servo(angle)

    async def detach(self) -> None:
        for servo in self._servos.values():
            servo.detach()

    async def stop(self) -> None:
        for servo in self._servos.values():
            servo.close()
        self._servos = {}


def _named_factory(name: str) -> Any:
    """gpiozero's default for "", or the named pin library."""
    if not name:
        return None
    if name not in _FACTORIES:
        raise HeadError(f"head.servos.pin_factory must be one of {', '.join(_FACTORIES)}")
    module_name, class_name = _FACTORIES[name]
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)()
    except Exception as err:
        raise HeadError(f"gpiozero pin factory {name!r} is not usable: {err}") from err
