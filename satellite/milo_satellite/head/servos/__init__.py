"""Servo backends: the hardware end of the head. Chosen by `head.servos.backend`."""

from __future__ import annotations

from ..config import ServosConfig
from .base import ServoBackend
from .simulated import SimulatedServos

__all__ = ["ServoBackend", "SimulatedServos", "build_servos"]


def build_servos(config: ServosConfig) -> ServoBackend:
    """The configured backend; hardware libraries are imported only when chosen."""
    if config.backend == "pca9685":
        from .pca9685 import PCA9685Servos  # noqa: PLC0415 - imports its hardware library

        return PCA9685Servos(config)
    if config.backend == "gpio":
        from .gpio import GPIOServos  # noqa: PLC0415 - imports its hardware library

        return GPIOServos(config)
    if config.backend == "esphome":
        from .esphome import ESPHomeServos  # noqa: PLC0415 - imports its hardware library

        return ESPHomeServos(config)
    return SimulatedServos(config)
