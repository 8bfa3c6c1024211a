"""What the head needs from a pair of servos."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..motion import Pose


class ServoBackend(ABC):
    """Receives poses already limited by `MotionLimiter`; maps them to its hardware.

    `move` must not block the event loop for long (hardware I/O goes to a thread) and must
    not raise for a transient hardware fault: it logs and the next move tries again.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open the hardware (no movement yet)."""

    @abstractmethod
    async def move(self, pose: Pose) -> None:
        """Drive both servos to `pose` (head degrees); re-attaches after `detach`."""

    @abstractmethod
    async def detach(self) -> None:
        """Stop the pulses so the servos go limp and quiet (sleep)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release the hardware."""
