"""The status light: what Milo is doing, shown in colour (the original's red/green LEDs).

The light entity's effect follows the voice phase (Searching, Listening, Thinking,
Speaking, plus Muted); HA can switch it off, dim it, or pick an effect until the next
phase change. With `status_light.red_pin`/`green_pin` set, two real LEDs on GPIO show
the red and green parts of the colour, as on the original robot; Muted pulses the red LED,
so a mute (the switch or the mute button) never looks like the dim red of waiting.
"""

from __future__ import annotations

import logging
from typing import Any

from .api import LightEntity, LightState

_LOGGER = logging.getLogger(__name__)

# effect -> (red, green, blue)
COLOURS: dict[str, tuple[float, float, float]] = {
    "Searching": (1.0, 0.0, 0.0),
    "Listening": (0.0, 1.0, 0.0),
    "Thinking": (1.0, 0.7, 0.0),
    "Speaking": (0.0, 1.0, 0.4),
    "Muted": (1.0, 0.0, 0.3),
}
IDLE_BRIGHTNESS = 0.3  # waiting for the wake word should not light up the room
MUTED_PULSE_S = 1.0  # each way: a slow breathing red


class StatusLight:
    def __init__(self, red_pin: int | None = None, green_pin: int | None = None) -> None:
        self.entity = LightEntity(
            "status_light",
            "Status light",
            self._on_command,
            effects=list(COLOURS),
            state=LightState(on=True),
            icon="mdi:led-on",
        )
        self._leds: tuple[Any, Any] | None = None
        self._driven: LightState | None = None  # so a repeated Muted keeps its pulse going
        if red_pin is not None and green_pin is not None:
            from gpiozero import PWMLED  # noqa: PLC0415 - only on a Pi with LEDs wired

            self._leds = (PWMLED(red_pin), PWMLED(green_pin))

    def show(self, effect: str) -> None:
        """Show a phase (one of COLOURS); keeps HA's on/off choice."""
        current = self.entity.value or LightState()
        brightness = IDLE_BRIGHTNESS if effect == "Searching" else 1.0
        wanted = LightState(
            on=current.on, brightness=brightness, rgb=COLOURS[effect], effect=effect
        )
        self.entity.set(wanted)
        self._drive(wanted)

    def _on_command(self, wanted: LightState) -> LightState:
        previous = self.entity.value or LightState()
        if wanted.effect in COLOURS and wanted.effect != previous.effect:
            wanted = LightState(wanted.on, wanted.brightness, COLOURS[wanted.effect], wanted.effect)
        self._drive(wanted)
        return wanted

    def _drive(self, state: LightState) -> None:
        if self._leds is None or state == self._driven:
            return
        self._driven = state
        red, green = self._leds
        level = state.brightness if state.on else 0.0
        green.value = state.rgb[1] * level
        if state.on and state.effect == "Muted":
            red.pulse(fade_in_time=MUTED_PULSE_S, fade_out_time=MUTED_PULSE_S)
        else:
            red.value = state.rgb[0] * level  # also ends a pulse
