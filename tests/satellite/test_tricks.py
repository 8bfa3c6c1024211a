"""Milo's tricks on the satellite: the synthesised beat, the dance's schedule, and the
drop_beat / dance actions over the real API, waiting for quiet and stopping with the beat.

The beat is measured as a listener would: its length, the tempo of its kicks, its level.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
import wave

from aioesphomeapi import APIClient
import numpy as np
import pytest
from satellite_helpers import (
    SINK_FORMAT,
    FakeHA,
    Milo,
    Speech,
    eventually,
    subscribe,
    wav_samples,
)

from milo_satellite.api import MediaPlayerCommand
from milo_satellite.head.gestures import LEAD_S, dance_keyframes
from milo_satellite.tricks import BEAT_LABEL, Tricks
from milo_satellite.voice.audio import FolderSink, PcmFormat
from milo_satellite.voice.beat import BPM, PEAK, Beat
from milo_satellite.voice.media import MEDIA_LABEL, MediaController
from milo_satellite.voice.player import AudioPlayer

# -- the beat -------------------------------------------------------------------------


def _samples(beat: Beat, fmt: PcmFormat = SINK_FORMAT) -> np.ndarray:
    return np.frombuffer(beat.render(fmt), dtype="<i2").reshape(-1, fmt.channels)[:, 0]


def _kick_onsets(samples: np.ndarray, rate: int) -> np.ndarray:
    """Seconds at which the bass (below 100 Hz: the kick drum) hits hard."""
    spectrum = np.fft.rfft(samples.astype(float))
    spectrum[np.fft.rfftfreq(len(samples), 1 / rate) > 100] = 0
    bass = np.abs(np.fft.irfft(spectrum, len(samples)))
    hop = rate // 100  # 10 ms
    envelope = bass[: len(bass) // hop * hop].reshape(-1, hop).max(axis=1)
    loud = envelope > 0.8 * envelope.max()
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return np.concatenate([[0] if loud[0] else [], starts]) * hop / rate


@pytest.mark.parametrize(("seconds", "bars"), [(10, 5), (15, 8), (20, 10), (1, 1), (0.2 + 1, 1)])
def test_the_beat_lasts_whole_bars_near_what_was_asked(seconds: float, bars: int) -> None:
    beat = Beat.lasting(seconds)
    assert beat.bars == bars
    assert beat.seconds == bars * 4 * 60 / BPM
    fmt = PcmFormat(rate=16000, channels=2)
    assert len(beat.render(fmt)) == round(beat.seconds * fmt.rate) * fmt.frame_bytes


@pytest.mark.parametrize("bpm", [110.0, BPM, 130.0])
def test_the_kick_keeps_the_tempo(bpm: float) -> None:
    beat = Beat(bpm, bars=4)
    onsets = _kick_onsets(_samples(beat), SINK_FORMAT.rate)
    assert len(onsets) == 16  # one kick on every beat, the softer offbeat kick not counted
    slope, _start = np.polyfit(np.arange(len(onsets)), onsets, 1)
    assert 60 / slope == pytest.approx(bpm, abs=0.5)
    assert np.abs(np.diff(onsets) - 60 / bpm).max() <= 0.021  # two 10 ms hops


def test_the_beat_is_loud_but_never_clips() -> None:
    samples = _samples(Beat(bars=2)).astype(float)
    assert np.abs(samples).max() == round(PEAK * 32767)  # -6 dBFS, the player sets the volume
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(samples**2)) / 32767)
    assert -30 < rms_dbfs < -10
    assert np.abs(samples[-5:]).max() < 200  # faded out: no click when it ends
    assert np.array_equal(_samples(Beat(bars=2)), _samples(Beat(bars=2)))  # the same every time


def test_stereo_has_the_beat_on_both_sides() -> None:
    fmt = PcmFormat(rate=22050, channels=2)
    frames = np.frombuffer(Beat(bars=1).render(fmt), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])


@pytest.mark.parametrize("seconds", [0.0, 0.5, 61.0, float("nan"), float("inf")])
def test_a_beat_too_short_or_long_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        Beat.lasting(seconds)


@pytest.mark.parametrize(("bpm", "bars"), [(20.0, 4), (500.0, 4), (float("nan"), 4), (BPM, 0)])
def test_a_beat_out_of_range_is_refused(bpm: float, bars: int) -> None:
    with pytest.raises(ValueError, match=r"bpm|bar"):
        Beat(bpm, bars)


# -- the dance's schedule ------------------------------------------------------------------


@pytest.mark.parametrize("beat", [Beat.lasting(10), Beat.lasting(15), Beat(110.0, 6)])
def test_the_dance_banging_in_time_with_the_beat(beat: Beat) -> None:
    """Down on every beat (led by LEAD_S so the nod lands on it), up between, and back to
    the start exactly when the beat ends."""
    frames = dance_keyframes(beat.bpm, beat.seconds)
    starts = np.cumsum([0.0] + [k.seconds for k in frames[:-1]])
    downs = [at for at, k in zip(starts, frames, strict=True) if k.tilt < 0]
    beats = beat.bars * 4
    assert len(downs) == beats
    expected = [0.0] + [n * beat.beat_s - LEAD_S for n in range(1, beats)]
    assert np.allclose(downs, expected)
    assert sum(k.seconds for k in frames) == pytest.approx(beat.seconds)
    assert (frames[-1].pan, frames[-1].tilt) == (0.0, 0.0)
    assert {k.pan for k in frames[:-1]} == {-8.0, 8.0}  # a sway on alternate beats


@pytest.mark.parametrize(("bpm", "seconds"), [(0.0, 10.0), (BPM, 0.0), (BPM, float("nan"))])
def test_a_dance_out_of_range_is_refused(bpm: float, seconds: float) -> None:
    with pytest.raises(ValueError, match=r"tempo|seconds"):
        dance_keyframes(bpm, seconds)


# -- the actions, over the real API --------------------------------------------------------


def _actions(actions: list) -> dict[str, object]:
    return {a.name: a for a in actions}


def _seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def test_drop_beat_and_dance_actions(milo: Milo, client: APIClient) -> None:
    """drop_beat plays the beat; dance plays it and dances at its tempo for as long."""
    _entities, listed = await client.list_entities_services()
    action = _actions(listed)
    result = await client.execute_service(
        action["drop_beat"], {"seconds": 2.0}, return_response=False
    )
    assert result is not None
    assert result.success
    await eventually(lambda: list(milo.sound_dir.glob("*-beat.wav")))
    (beat,) = milo.sound_dir.glob("*-beat.wav")
    await eventually(lambda: _seconds(beat) == 2.0)
    assert np.abs(wav_samples(beat)).max() > 10000
    assert not [c for c in milo.head.calls if c[0] == "dance"]

    result = await client.execute_service(action["dance"], {"seconds": 4.0}, return_response=False)
    assert result is not None
    assert result.success
    await eventually(lambda: ("dance", (BPM, 4.0)) in milo.head.calls)
    await eventually(lambda: len(list(milo.sound_dir.glob("*-beat.wav"))) == 2)


async def test_dance_refuses_a_sleeping_head_and_silly_lengths(
    milo: Milo, client: APIClient
) -> None:
    _entities, listed = await client.list_entities_services()
    action = _actions(listed)
    await milo.head.set_sleep(True)
    result = await client.execute_service(action["dance"], {"seconds": 4.0}, return_response=False)
    assert result is not None
    assert not result.success
    assert "asleep" in result.error_message
    await milo.head.set_sleep(False)
    result = await client.execute_service(
        action["drop_beat"], {"seconds": 600.0}, return_response=False
    )
    assert result is not None
    assert not result.success
    assert "seconds" in result.error_message
    await asyncio.sleep(0.3)
    assert not list(milo.sound_dir.glob("*-beat.wav"))


async def test_the_wake_word_stops_the_dance(milo: Milo, client: APIClient, speech: Speech) -> None:
    """Heard by the real wake word model while the beat plays, "Okay Nabu" starts a new
    request: the beat stops at once, and with it the dance."""
    _entities, listed = await client.list_entities_services()
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    milo.voice.player.sink.realtime = True  # type: ignore[attr-defined] # a real speaker's pace
    result = await client.execute_service(
        _actions(listed)["dance"], {"seconds": 10.0}, return_response=False
    )
    assert result is not None
    assert result.success
    await eventually(lambda: ("dance", (BPM, 10.0)) in milo.head.calls)
    milo.mic.say(speech.wake_word)
    await eventually(lambda: ha.starts)
    await eventually(lambda: ("danced", None) in milo.head.calls)
    (beat,) = milo.sound_dir.glob("*-beat.wav")
    assert _seconds(beat) < 8.0  # cut short: the dance's beat lasts 10 s


# -- waiting for quiet, stopping with the beat -----------------------------------------------


class DancingHead:
    """Records the dance and how it ended, as the real head would be told."""

    def __init__(self) -> None:
        self.state = type("State", (), {"asleep": False})()
        self.danced: list[tuple[float, float]] = []
        self.cut_short = asyncio.Event()

    async def dance(self, bpm: float, seconds: float) -> None:
        self.danced.append((bpm, seconds))
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cut_short.set()
            raise


class Quiet:
    """Whether Milo is talking, and the listeners told when that changes."""

    def __init__(self) -> None:
        self.now = False
        self.listeners: list[Callable[[], None]] = []

    def set(self, now: bool) -> None:
        self.now = now
        for cb in self.listeners:
            cb()


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[tuple[Tricks, Quiet, DancingHead, Path]]:
    """Tricks on a speaker that plays in real time, with Milo still talking."""
    player = AudioPlayer(FolderSink(tmp_path, SINK_FORMAT, realtime=True))
    quiet, head = Quiet(), DancingHead()
    tricks = Tricks(player, lambda: quiet.now, quiet.listeners.append, head)
    yield tricks, quiet, head, tmp_path
    player.stop()
    await player.close()


async def test_the_dance_waits_for_the_answer_then_stops_with_the_beat(
    stage: tuple[Tricks, Quiet, DancingHead, Path],
) -> None:
    """Asked while Milo answers, the dance starts when the answer ends; stopping the
    speaker (the wake word, an announcement, HA's media player) stops the dance too."""
    tricks, quiet, head, folder = stage
    await tricks.dance(10.0)
    await asyncio.sleep(0.3)
    assert not head.danced
    assert not list(folder.glob("*-beat.wav"))
    quiet.set(True)
    await eventually(lambda: head.danced == [(BPM, 10.0)])
    await eventually(lambda: tricks.player.played_s.get(BEAT_LABEL, 0.0) > 0.5)
    tricks.player.stop()
    await asyncio.wait_for(head.cut_short.wait(), 5)
    (beat,) = folder.glob("*-beat.wav")
    assert 0.5 < _seconds(beat) < 8.0  # cut short: the beat lasts 10 s


async def test_a_new_trick_replaces_the_old_one(
    stage: tuple[Tricks, Quiet, DancingHead, Path],
) -> None:
    tricks, quiet, head, folder = stage
    quiet.set(True)
    await tricks.dance(10.0)
    await eventually(lambda: head.danced)
    await asyncio.sleep(0.3)
    await tricks.drop_beat(2.0)
    await asyncio.wait_for(head.cut_short.wait(), 5)
    await eventually(lambda: len(list(folder.glob("*-beat.wav"))) == 2)
    assert len(head.danced) == 1  # the beat alone now


async def test_music_cut_off_by_the_beat_resumes_after_it(tmp_path: Path) -> None:
    """A trick cuts music short like Milo's answers do; the music then goes on."""
    music = tmp_path / "media" / "music.wav"
    music.parent.mkdir()
    with wave.open(str(music), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SINK_FORMAT.rate)
        wav.writeframes(np.full(3 * SINK_FORMAT.rate, 3000, dtype="<i2").tobytes())
    player = AudioPlayer(FolderSink(tmp_path / "sound", SINK_FORMAT), media_dirs=[music.parent])
    media = MediaController(player)
    tricks = Tricks(player, lambda: True, lambda _cb: None, None)
    try:
        await media.command(MediaPlayerCommand(url=str(music)))
        await eventually(lambda: player.played_s.get(MEDIA_LABEL, 0.0) > 0.5)
        await tricks.drop_beat(1.0)
        await eventually(lambda: len(list((tmp_path / "sound").glob("*-media.wav"))) == 2, 15)
        first, second = sorted((tmp_path / "sound").glob("*.wav"))[0::2]
        (beat,) = (tmp_path / "sound").glob("*-beat.wav")
        assert first.name < beat.name < second.name
        await eventually(lambda: not player.playing, 10)
        assert _seconds(first) + _seconds(second) == pytest.approx(3.0, abs=0.1)
    finally:
        player.stop()
        await player.close()
