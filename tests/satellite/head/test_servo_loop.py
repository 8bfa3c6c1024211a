"""ServoLoop: what reaches the (simulated) servos, and when."""

from __future__ import annotations

import asyncio

import pytest

from milo_satellite.head.arbiter import MotionArbiter
from milo_satellite.head.config import HeadConfig
from milo_satellite.head.servo_loop import MIN_MOVE_DEG, ServoLoop
from milo_satellite.head.servos import SimulatedServos
from milo_satellite.head.stats import HeadStats

from .sim import Clock

CONFIG = HeadConfig()


def rig() -> tuple[Clock, MotionArbiter, SimulatedServos, ServoLoop, list[None], HeadStats]:
    clock = Clock()
    arbiter = MotionArbiter(CONFIG, clock)
    arbiter.tracking = False
    servos = SimulatedServos(CONFIG.servos, clock)
    moved: list[None] = []
    stats = HeadStats()
    loop = ServoLoop(servos, arbiter, lambda: moved.append(None), clock, stats)
    return clock, arbiter, servos, loop, moved, stats


def test_changes_too_small_to_show_are_not_sent() -> None:
    async def scenario() -> None:
        clock, arbiter, servos, loop, moved, _ = rig()
        await loop.step()
        assert len(servos.commands) == 1  # the first command is always sent
        arbiter.look_at(MIN_MOVE_DEG / 2, 0.0)
        clock.now += 0.02
        await loop.step()
        assert len(servos.commands) == 1
        arbiter.look_at(MIN_MOVE_DEG * 2, 0.0)
        clock.now += 0.02
        await loop.step()
        assert len(servos.commands) == 2
        assert len(moved) == 2

    asyncio.run(scenario())


def test_after_a_detach_the_next_command_is_sent() -> None:
    async def scenario() -> None:
        clock, _, servos, loop, _, _ = rig()
        await loop.step()
        await loop.detach()
        assert not servos.attached
        clock.now += 0.02
        await loop.step()  # the same pose, but the servos are limp
        assert servos.attached
        assert len(servos.commands) == 2

    asyncio.run(scenario())


def test_latency_is_timed_from_capture_to_command() -> None:
    async def scenario() -> None:
        clock, arbiter, _, loop, _, stats = rig()
        clock.now = 1.0
        loop.steered(captured_at=0.95)
        arbiter.look_at(20.0, 0.0)
        clock.now += 0.02
        await loop.step()
        assert list(stats.latency_ms) == pytest.approx([70.0])

    asyncio.run(scenario())


def test_the_loop_wakes_at_once_and_stays_still_asleep() -> None:
    async def scenario() -> None:
        _, arbiter, servos, loop, _, _ = rig()
        arbiter.sleep(True)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.1)
        assert servos.commands == []
        arbiter.sleep(False)
        await asyncio.sleep(0.01)  # less than a 50 Hz tick after the wake-up
        assert servos.commands
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
