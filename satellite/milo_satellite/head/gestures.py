"""Head gestures as keyframes relative to where the head is when they start.

"dance" is the original Milo's head-bang (to the Troggs, naturally): down on every beat,
up between, at the tempo of the beat Milo drops (voice/beat.py), so the short gesture and
the long dance (`dance_keyframes`, tricks.py) look the same. Keyframes only say where to
go and how long to take; the motion limiter still enforces limits and speed, so a gesture
near an end stop is just smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

from ..voice.beat import BPM


@dataclass(frozen=True)
class Keyframe:
    pan: float  # offset from the start pose, degrees
    tilt: float
    seconds: float  # time to reach it (and stay until the next one)


# A down target goes out this early so the nod lands on the beat: the 35 degrees from up
# to down take 0.15 s at the servos' default 240 degrees per second.
LEAD_S = 0.12
# A gesture cut short (the beat stopped) glides back to its start pose for this long
# before tracking or idle get the head again: 25 degrees at 240 degrees per second, and
# some to spare.
RETURN_S = 0.3
_DOWN, _UP, _SWAY = -25.0, 10.0, 8.0
SHORT_DANCE_S = 4.0  # the "dance" gesture: two bars


def dance_keyframes(bpm: float, seconds: float) -> list[Keyframe]:
    """Head-bang for `seconds` (whole beats) at `bpm`, swaying left and right on alternate
    beats, ending back at the start pose exactly when the last beat ends."""
    if not (math.isfinite(bpm) and 30.0 <= bpm <= 300.0):
        raise ValueError(f"a dance's tempo must be 30 to 300 bpm, not {bpm}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a dance must last a positive number of seconds, not {seconds}")
    half = 30.0 / bpm
    lead = min(LEAD_S, half / 2)
    frames: list[Keyframe] = []
    for beat in range(max(1, round(seconds * bpm / 60.0))):
        sway = _SWAY if beat % 2 else -_SWAY
        # The first down starts with the beat (it cannot be early); later ones lead it.
        frames += [Keyframe(sway, _DOWN, half - (lead if not beat else 0.0))]
        frames += [Keyframe(sway, _UP, half)]
    return [*frames, Keyframe(0.0, 0.0, lead)]


_NOD = [Keyframe(0, -15, 0.2), Keyframe(0, 5, 0.2), Keyframe(0, -15, 0.2), Keyframe(0, 0, 0.25)]
_SHAKE = [
    Keyframe(-20, 0, 0.2),
    Keyframe(20, 0, 0.3),
    Keyframe(-20, 0, 0.3),
    Keyframe(20, 0, 0.3),
    Keyframe(0, 0, 0.2),
]

GESTURES: dict[str, list[Keyframe]] = {
    "nod": _NOD,
    "shake": _SHAKE,
    "dance": dance_keyframes(BPM, SHORT_DANCE_S),
}


def gesture_keyframes(name: str) -> list[Keyframe]:
    """The keyframes of gesture `name`; ValueError for unknown names."""
    try:
        return GESTURES[name]
    except KeyError:
        known = ", ".join(GESTURES)
        raise ValueError(f"Unknown gesture {name!r}; choose one of {known}") from None
