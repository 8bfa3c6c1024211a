"""StatePublisher: every visible change at once, a moving head's pose at a bounded rate."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from milo_satellite.head.publisher import STATE_INTERVAL_S, StatePublisher
from milo_satellite.head.state import HeadState

from .sim import Clock

STILL = HeadState(
    pan=0.0,
    tilt=0.0,
    tracking=True,
    look_around=False,
    asleep=False,
    person="",
    face_count=0,
    present=False,
)


class Board:
    """A head state the test changes, its publisher, and what the listener got."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.current = STILL
        self.publisher = StatePublisher(lambda: self.current, self.clock)
        self.sent: list[HeadState] = []
        self.publisher.listeners.add(self.sent.append)

    def show(self, **changes: object) -> None:
        self.current = replace(self.current, **changes)  # type: ignore[arg-type]
        self.publisher.publish()


async def test_changes_go_out_at_once_and_moves_at_most_every_interval() -> None:
    board = Board()
    board.show()
    assert board.sent == []  # nothing changed since it was made

    board.show(pan=10.0)
    assert board.sent == [board.current]  # the first move: nothing was published for long

    board.clock.now = STATE_INTERVAL_S / 4
    board.show(pan=12.0)
    board.show(pan=14.0)  # too soon: one deferred publish for both moves
    assert len(board.sent) == 1

    board.clock.now = STATE_INTERVAL_S / 2
    board.show(person="Eileen", face_count=1, present=True)  # not just the pose: at once
    assert board.sent[-1] == board.current

    board.clock.now = STATE_INTERVAL_S * 2
    board.current = replace(board.current, pan=16.0)
    await asyncio.sleep(STATE_INTERVAL_S * 1.5)  # the deferred one fires, with the newest pose
    assert board.sent[-1].pan == 16.0
    assert len(board.sent) == 3
    board.publisher.close()


async def test_a_closed_publisher_sends_nothing_late() -> None:
    board = Board()
    board.show(pan=5.0)
    board.show(pan=6.0)  # deferred...
    board.publisher.close()  # ...and cancelled by stop()
    await asyncio.sleep(STATE_INTERVAL_S * 1.5)
    assert [s.pan for s in board.sent] == [5.0]
