"""Head gestures as keyframes relative to where the head is when they start.

"dance" is the original Milo's head-bang (to the Troggs, naturally). Keyframes only say
where to go and how long to take; the motion limiter still enforces limits and speed,
so a gesture near an end stop is just smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

from .motion import Pose


@dataclass(frozen=True)
class Keyframe:
    pan: float  # offset from the start pose, degrees
    tilt: float
    seconds: float  # time to reach it (and stay until the next one)


_NOD = [Keyframe(0, -15, 0.2), Keyframe(0, 5, 0.2), Keyframe(0, -15, 0.2), Keyframe(0, 0, 0.25)]
_SHAKE = [
    Keyframe(-20, 0, 0.2),
    Keyframe(20, 0, 0.3),
    Keyframe(-20, 0, 0.3),
    Keyframe(20, 0, 0.3),
    Keyframe(0, 0, 0.2),
]
# Head-bang at ~2.2 beats per second, with a little sway on every other beat.
_BANG = [Keyframe(sway, tilt, 0.225) for _ in range(4) for sway in (-8, 8) for tilt in (-25, 10)]
_DANCE = [*_BANG, Keyframe(0, 0, 0.3)]

GESTURES: dict[str, list[Keyframe]] = {"nod": _NOD, "shake": _SHAKE, "dance": _DANCE}


def gesture_poses(name: str, start: Pose) -> list[tuple[Pose, float]]:
    """(absolute pose, seconds) steps of gesture `name`; ValueError for unknown names."""
    try:
        keyframes = GESTURES[name]
    except KeyError:
        known = ", ".join(GESTURES)
        raise ValueError(f"Unknown gesture {name!r}; choose one of {known}") from None
    return [(Pose(start.pan + k.pan, start.tilt + k.tilt), k.seconds) for k in keyframes]
