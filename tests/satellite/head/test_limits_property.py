"""Property: no sequence of commands or detections drives a servo past its limits or rate.

Hypothesis throws arbitrary sequences at the real Head logic (manual look_at/pan/tilt with
any floats, detections anywhere and of any size, switches, attention changes, time steps
of any length) and at the motion limiter directly (arbitrary targets and speeds, which is
what gestures and look-around produce). Every command the simulated servos receive must
be inside the calibrated limits and no faster than each axis' max_speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np

from milo_satellite.head.camera import Frame, NoCamera
from milo_satellite.head.config import HeadConfig
from milo_satellite.head.detect import Box
from milo_satellite.head.errors import HeadError
from milo_satellite.head.head import Head
from milo_satellite.head.motion import MotionLimiter, Pose
from milo_satellite.head.servos import SimulatedServos

CONFIG = HeadConfig.from_dict(
    {
        "servos": {
            "pan": {"min": -70, "max": 50, "max_speed": 120},
            "tilt": {"min": -20, "max": 35, "max_speed": 60, "invert": True},
        },
        "tracking": {"hold_s": 0.2, "look_around_after_s": 0.5, "manual_hold_s": 0.3},
    }
)
IMAGE = np.zeros((480, 640, 3), np.uint8)

anything = st.floats(allow_nan=True, allow_infinity=True)
angles = st.floats(-1e6, 1e6) | anything
boxes = st.builds(
    Box,
    st.floats(-2000, 2000),
    st.floats(-2000, 2000),
    st.floats(1, 3000),
    st.floats(1, 3000),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.floats(0, 2.0)),
        st.tuples(st.just("look_at"), angles, angles),
        st.tuples(st.just("pan"), angles),
        st.tuples(st.just("tilt"), angles),
        st.tuples(st.just("center")),
        st.tuples(st.just("faces"), st.lists(boxes, max_size=3)),
        st.tuples(st.just("tracking"), st.booleans()),
        st.tuples(st.just("look_around"), st.booleans()),
        st.tuples(st.just("attention"), st.sampled_from(["idle", "listening", "speaking"])),
        st.tuples(st.just("sleep"), st.booleans()),
    ),
    max_size=40,
)


def assert_commands_safe(servos: SimulatedServos) -> None:
    pan, tilt = CONFIG.servos.pan, CONFIG.servos.tilt
    for command in servos.commands:
        assert pan.min <= command.pose.pan <= pan.max, command
        assert tilt.min <= command.pose.tilt <= tilt.max, command
    for a, b in itertools.pairwise(servos.commands):
        dt = b.time - a.time
        assert abs(b.pose.pan - a.pose.pan) <= pan.max_speed * dt + 1e-9, (a, b)
        assert abs(b.pose.tilt - a.pose.tilt) <= tilt.max_speed * dt + 1e-9, (a, b)


async def _play(ops: list[tuple]) -> SimulatedServos:  # noqa: PLR0912 - one branch per op
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    servos = SimulatedServos(CONFIG.servos, clock)
    head = Head(CONFIG, NoCamera(), servos, encoder_factory=None, clock=clock)
    frame_index = 0
    for op, *args in ops:
        with contextlib.suppress(HeadError):  # e.g. non-finite angles, moving while asleep
            if op == "wait":
                end = now[0] + args[0]
                while now[0] < end:
                    now[0] = min(end, now[0] + 0.02)
                    if not head.state.asleep:
                        await head._servo_loop.step()
            elif op == "look_at":
                await head.look_at(*args)
            elif op == "pan":
                await head.set_pan(args[0])
            elif op == "tilt":
                await head.set_tilt(args[0])
            elif op == "center":
                await head.centre()
            elif op == "faces":
                frame_index += 1
                head._observe(args[0], now[0], Frame(IMAGE, now[0], frame_index))
            elif op == "tracking":
                head.set_tracking(args[0])
            elif op == "look_around":
                head.set_look_around(args[0])
            elif op == "attention":
                head.set_attention(args[0])
            elif op == "sleep":
                await head.set_sleep(args[0])
        if not head.state.asleep:
            await head._servo_loop.step()  # a command takes effect at once...
        now[0] += 0.001  # ...and time always moves on
    return servos


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_head_never_exceeds_limits_or_rate(ops: list[tuple]) -> None:
    servos = asyncio.run(_play(ops))
    assert_commands_safe(servos)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(angles, angles, st.floats(0, 5.0), st.none() | anything),
        max_size=60,
    )
)
def test_motion_limiter_clamps_any_target(steps: list[tuple]) -> None:
    """Whatever a gesture or look-around asks for, at whatever speed."""
    pan, tilt = CONFIG.servos.pan, CONFIG.servos.tilt
    now = 0.0
    limiter = MotionLimiter(pan, tilt, now, start=Pose(1e9, -1e9))
    previous = limiter.pose
    assert pan.min <= previous.pan <= pan.max
    assert tilt.min <= previous.tilt <= tilt.max
    for target_pan, target_tilt, dt, speed in steps:
        now += dt
        pose = limiter.step(Pose(target_pan, target_tilt), now, speed)
        assert pan.min <= pose.pan <= pan.max
        assert tilt.min <= pose.tilt <= tilt.max
        assert abs(pose.pan - previous.pan) <= pan.max_speed * dt + 1e-9
        assert abs(pose.tilt - previous.tilt) <= tilt.max_speed * dt + 1e-9
        previous = pose
