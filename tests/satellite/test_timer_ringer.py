"""HA's timers and the alarm, on their own: HA's messages in, rings out of the speaker
(a folder sink)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from satellite_helpers import SINK_FORMAT, eventually

from milo_satellite.api.messages import pb
from milo_satellite.voice.audio import FolderSink
from milo_satellite.voice.player import AudioPlayer
from milo_satellite.voice.sounds import render_tone
from milo_satellite.voice.timer_ringer import TimerRinger


def _event(kind: int, timer_id: str = "t1", left: int = 60) -> object:
    return pb.VoiceAssistantTimerEventResponse(
        event_type=kind, timer_id=timer_id, name="tea", total_seconds=60, seconds_left=left
    )


def _rings(folder: Path) -> int:
    return len(list(folder.glob("*timer.wav")))


def _ringer(tmp_path: Path, ring_s: float = 300.0) -> tuple[TimerRinger, list[bool], AudioPlayer]:
    player = AudioPlayer(FolderSink(tmp_path, SINK_FORMAT, realtime=False))
    changes: list[bool] = []

    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(coro)

    ringer = TimerRinger(
        player,
        render_tone("timer", SINK_FORMAT),
        ring_s=ring_s,
        on_change=lambda: changes.append(ringer.ringing),
        spawn=spawn,
    )
    return ringer, changes, player


async def test_running_timers_are_kept_until_cancelled(tmp_path: Path) -> None:
    ringer, changes, _ = _ringer(tmp_path)
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_STARTED))
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_UPDATED, left=30))
    assert ringer.timers["t1"].seconds_left == 30
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_CANCELLED))
    assert ringer.timers == {}
    assert not ringer.ringing
    assert changes == []


async def test_a_finished_timer_rings_until_stopped(tmp_path: Path) -> None:
    ringer, changes, player = _ringer(tmp_path)
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_STARTED))
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_FINISHED, left=0))
    assert ringer.ringing
    assert "t1" not in ringer.timers
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_FINISHED, "t2", left=0))
    await eventually(lambda: _rings(tmp_path) >= 2)  # one alarm for both
    ringer.stop()
    assert not ringer.ringing
    await eventually(lambda: changes == [True, False])
    await player.close()


async def test_the_alarm_gives_up_after_ring_s(tmp_path: Path) -> None:
    ringer, changes, player = _ringer(tmp_path, ring_s=0.1)
    ringer.on_timer_event(_event(pb.VOICE_ASSISTANT_TIMER_FINISHED, left=0))
    await eventually(lambda: changes == [True, False])
    assert not ringer.ringing
    assert _rings(tmp_path) == 1
    await player.close()
