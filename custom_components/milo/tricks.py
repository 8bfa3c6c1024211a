"""Milo's party tricks from the original robot: dance, drop a beat, disco biscuits.

The satellite puts on the show: its `dance` and `drop_beat` actions play a beat it
synthesises on its speaker (no music file, nobody's copyright) once Milo's answer has been
said, and for a dance the head bangs in time (docs/satellite.md). Here Milo says its line
and asks for the show. With no Milo satellite on the agent, or one that refuses (asleep,
gone), Milo says so in character instead of promising a dance that never comes.
"""

from __future__ import annotations

from typing import TypeIs, get_args

from homeassistant.exceptions import HomeAssistantError

from . import persona
from .const import LOGGER
from .fast_path import Kind, Trick
from .satellite_device import Satellite

TRICKS: frozenset[str] = frozenset(get_args(Trick))
# A dance of 10-20 s is a show; the beat alone is a taster. The satellite rounds both to
# whole bars of its beat.
DANCE_SECONDS = 15.0
BEAT_SECONDS = 8.0
# The satellite action behind each trick that has one, and how long it plays.
_SHOWS: dict[str, tuple[str, float]] = {
    "dance": ("dance", DANCE_SECONDS),
    "beat": ("drop_beat", BEAT_SECONDS),
}


def is_trick(kind: Kind) -> TypeIs[Trick]:
    """Whether the fast path's `kind` is one of the tricks."""
    return kind in TRICKS


async def async_trick(
    trick: Trick, satellite: Satellite | None, sarcasm: int, persona_name: str
) -> str:
    """Start `trick` on the `satellite` (if it has a show) and return Milo's line for it."""
    if show := _SHOWS.get(trick):
        action, seconds = show
        try:
            started = satellite is not None and await satellite.async_trick(action, seconds)
        except HomeAssistantError as err:
            LOGGER.warning("The satellite would not %s: %s", action, err)
            started = False
        if not started:
            return persona.trick_line("no_dance", sarcasm, persona_name)
    return persona.trick_line(trick, sarcasm, persona_name)
