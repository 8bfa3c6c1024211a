"""What the voice satellite is doing, one word for the status light, the head and HA."""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    """What Milo is doing; the status light and the head follow it."""

    IDLE = "searching"  # waiting for its name
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
