"""Closed-loop tracking on synthetic video: a real face moving along a known path.

The simulated head must converge on the face, stay inside its limits and not oscillate.
Settling time and overshoot are measured in simulated frames, never wall-clock time.
"""

from __future__ import annotations

import itertools

from milo_satellite.head.config import HeadConfig
from milo_satellite.head.motion import Pose

from .sim import Sample, Simulation

SETTLED_DEG = 2.0


def config(**tracking: float) -> HeadConfig:
    return HeadConfig.from_dict({"tracking": tracking} if tracking else {})


def error(sample: Sample) -> float:
    assert sample.face is not None
    return sample.actual.distance(sample.face)


def settling_frame(samples: list[Sample]) -> int:
    """First frame after which the head stays within SETTLED_DEG of the face."""
    for index in range(len(samples)):
        if all(error(s) <= SETTLED_DEG for s in samples[index:]):
            return index
    return len(samples)


def reversals(values: list[float], ignore: float = 0.05) -> int:
    """How often the direction of motion changes (steps below `ignore` degrees don't count)."""
    signs = [
        1 if b - a > ignore else -1 for a, b in itertools.pairwise(values) if abs(b - a) > ignore
    ]
    return sum(1 for a, b in itertools.pairwise(signs) if a != b)


def assert_followed(samples: list[Sample]) -> None:
    """Never lost the face once found (a track survives the odd missed detection)."""
    found = next(i for i, s in enumerate(samples) if s.followed)
    assert found <= 5, f"took {found} frames to find the face"
    assert all(s.followed for s in samples[found:]), "the face was lost on the way"
    detected = sum(s.detected for s in samples) / len(samples)
    assert detected >= 0.9, f"detected in only {detected:.0%} of frames"


def assert_inside_limits_and_rate(sim: Simulation) -> None:
    pan, tilt = sim.config.servos.pan, sim.config.servos.tilt
    previous = None
    for command in sim.servos.commands:
        assert pan.min <= command.pose.pan <= pan.max
        assert tilt.min <= command.pose.tilt <= tilt.max
        if previous is not None:
            dt = command.time - previous.time
            assert abs(command.pose.pan - previous.pose.pan) <= pan.max_speed * dt + 1e-6
            assert abs(command.pose.tilt - previous.pose.tilt) <= tilt.max_speed * dt + 1e-6
        previous = command


async def test_step_converges_fast_without_overshoot() -> None:
    sim = Simulation(config())
    face = Pose(18.0, 6.0)
    await sim.run(2.0, lambda _t: face)

    assert_followed(sim.samples)
    settle = settling_frame(sim.samples)
    assert settle <= 15, f"settled after {settle} frames"
    overshoot_pan = max(s.actual.pan for s in sim.samples) - face.pan
    overshoot_tilt = max(s.actual.tilt for s in sim.samples) - face.tilt
    assert overshoot_pan <= 1.0, overshoot_pan
    assert overshoot_tilt <= 1.0, overshoot_tilt
    settled = sim.samples[settle:]
    assert reversals([s.commanded.pan for s in settled]) == 0
    assert reversals([s.commanded.tilt for s in settled]) == 0
    assert_inside_limits_and_rate(sim)


async def test_follows_a_face_moving_along_a_path() -> None:
    sim = Simulation(config())
    start, end, duration = Pose(-20.0, 0.0), Pose(25.0, 8.0), 3.0

    def path(t: float) -> Pose:
        share = min(1.0, t / duration)
        return Pose(
            start.pan + (end.pan - start.pan) * share,
            start.tilt + (end.tilt - start.tilt) * share,
        )

    await sim.run(duration + 1.5, path)

    moving = [s for s in sim.samples if 0.7 <= s.time <= duration]
    lag = max(error(s) for s in moving)
    assert lag <= 4.0, f"fell {lag:.1f} degrees behind a face moving at 15 deg/s"
    assert_followed(sim.samples)
    after = [s for s in sim.samples if s.time >= duration]
    settle = settling_frame(after)
    assert settle <= 15, f"settled {settle} frames after the face stopped"
    assert reversals([s.commanded.pan for s in after[settle:]]) == 0
    assert_inside_limits_and_rate(sim)


async def test_no_windup_behind_the_end_stop() -> None:
    """A face beyond the limit pins the head at the stop; when it comes back, so does the head.

    With an integrator (or a smoothed target allowed past the limit) the head would stay
    at the stop for a while after the face came back into range.
    """
    sim = Simulation(config())
    limit = sim.config.servos.pan.max
    beyond = limit + 15.0  # still in view (15 degrees off-centre) with the head at the stop
    await sim.run(3.0, lambda t: Pose(min(beyond, 15.0 + 40.0 * t), 0.0))
    deadband = sim.config.tracking.deadband
    assert limit - deadband <= sim.samples[-1].actual.pan <= limit

    mark = len(sim.samples)
    start = sim.clock.now
    back = limit - 25.0

    def returning_face(t: float) -> Pose:
        return Pose(max(back, beyond - 40.0 * (t - start)), 0.0)

    await sim.run(2.0, returning_face)
    returning = sim.samples[mark:]
    assert_followed(returning)
    crossed = next(i for i, s in enumerate(returning) if s.face.pan < limit - deadband)
    moved = next(i for i, s in enumerate(returning) if s.commanded.pan < limit - deadband)
    assert moved - crossed <= 3, f"the head started back {moved - crossed} frames late"
    stopped = next(i for i, s in enumerate(returning) if s.face.pan == back)
    assert settling_frame(returning[stopped:]) <= 15
    assert_inside_limits_and_rate(sim)


async def test_lost_face_hold_then_ease_to_centre() -> None:
    cfg = config(hold_s=1.0, center_speed=30.0)
    sim = Simulation(cfg)
    await sim.run(1.5, lambda _t: Pose(20.0, 5.0))
    where = sim.samples[-1].commanded
    lost_at = sim.clock.now
    await sim.run(4.0, lambda _t: None)

    after = [s for s in sim.samples if s.time >= lost_at]
    lost_for = cfg.tracking.lost_after_s
    holding = [s for s in after if s.time < lost_at + lost_for + cfg.tracking.hold_s - 0.05]
    assert all(s.commanded == where for s in holding), "moved while it should hold"
    easing = [c for c in sim.servos.commands if c.time >= holding[-1].time]
    for a, b in itertools.pairwise(easing):
        speed = abs(b.pose.pan - a.pose.pan) / (b.time - a.time)
        assert speed <= cfg.tracking.center_speed + 1e-6, "eased back too fast"
    assert sim.samples[-1].commanded == Pose(0.0, 0.0)
    assert reversals([c.pose.pan for c in easing]) == 0


async def test_look_around_only_when_switched_on_and_idle() -> None:
    cfg = config(hold_s=0.5, look_around_after_s=1.0, look_around_speed=20.0)
    sim = Simulation(cfg)
    # Tracking off: the glances are random, and at some of them the detector takes a patch
    # of the room's coffee picture for a face, which tracking rightly turns to at full speed.
    sim.head.set_tracking(False)
    await sim.run(1.0, lambda _t: None)
    assert sim.samples[-1].commanded == Pose(0.0, 0.0)  # switch off: stays centred

    sim.head.set_look_around(True)
    sim.head.set_attention("listening")  # someone is talking: no wandering off
    await sim.run(1.5, lambda _t: None)
    assert sim.samples[-1].commanded == Pose(0.0, 0.0)

    sim.head.set_attention("idle")
    mark = sim.clock.now
    await sim.run(6.0, lambda _t: None)
    glances = [c for c in sim.servos.commands if c.time >= mark]
    assert glances, "never looked around"
    pan, tilt = cfg.servos.pan, cfg.servos.tilt
    for command in glances:
        assert pan.min * 0.6 <= command.pose.pan <= pan.max * 0.6
        assert tilt.min * 0.3 <= command.pose.tilt <= tilt.max * 0.6
    for a, b in itertools.pairwise(glances):
        step = max(abs(b.pose.pan - a.pose.pan), abs(b.pose.tilt - a.pose.tilt))
        assert step <= cfg.tracking.look_around_speed * (b.time - a.time) + 1e-6


async def test_looks_at_the_talker_even_with_tracking_off() -> None:
    sim = Simulation(config())
    sim.head.set_tracking(False)
    face = Pose(15.0, 5.0)
    await sim.run(1.0, lambda _t: face)
    assert sim.samples[-1].commanded == Pose(0.0, 0.0)  # tracking off, nobody talking

    sim.head.set_attention("speaking")
    await sim.run(1.5, lambda _t: face)
    assert error(sim.samples[-1]) <= SETTLED_DEG
    assert_inside_limits_and_rate(sim)


async def test_manual_pose_holds_then_tracking_takes_over() -> None:
    """HA's look_at wins for `manual_hold_s`, then tracking resumes; with tracking off it stays."""
    cfg = config(manual_hold_s=1.0)
    sim = Simulation(cfg)
    face, manual = Pose(15.0, 5.0), Pose(-5.0, 0.0)  # the face stays in view (20 deg off)
    await sim.run(1.0, lambda _t: face)
    asked = sim.clock.now
    await sim.head.look_at(manual.pan, manual.tilt)
    await sim.run(2.5, lambda _t: face)

    after = [s for s in sim.samples if s.time >= asked]
    holding = [s for s in after if s.time < asked + cfg.tracking.manual_hold_s - 0.05]
    reached = next(i for i, s in enumerate(holding) if s.commanded == manual)
    assert reached <= 6, "took too long to get to the manual pose"
    assert all(s.commanded == manual for s in holding[reached:]), "left the manual pose early"
    assert error(sim.samples[-1]) <= SETTLED_DEG, "tracking did not take over again"

    sim.head.set_tracking(False)
    await sim.head.look_at(manual.pan, manual.tilt)
    await sim.run(3.0, lambda _t: face)
    assert sim.samples[-1].commanded == manual  # tracking off: the manual pose stays
    assert_inside_limits_and_rate(sim)
