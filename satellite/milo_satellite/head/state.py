"""What the head shows the outside world (the satellite turns it into entities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Attention = Literal["idle", "listening", "speaking"]
ATTENTION_MODES: tuple[Attention, ...] = get_args(Attention)
STRANGER = "stranger"


@dataclass(frozen=True)
class HeadState:
    """A snapshot; a new one is published whenever something visible changes."""

    pan: float  # degrees, current commanded pose
    tilt: float
    tracking: bool
    look_around: bool
    asleep: bool
    person: str  # "" (nobody or not yet known), "stranger", or the buddy's name
    face_count: int
    present: bool
    camera: bool = True  # the camera switch: off, no frame is read or recognised
