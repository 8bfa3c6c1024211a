"""Music ducking (voice/ducking.py): the gain's ramps, when it ducks, and a whole
satellite (SatelliteApp) whose music drops under a wake-word run and an announcement and
comes back, seen through the real aioesphomeapi client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
import numpy as np
import pytest
from satellite_helpers import FakeHA, Speech, eventually, send, subscribe, wav_samples, write_wav

from milo_satellite.app import SatelliteApp
from milo_satellite.config import load_config
from milo_satellite.settings import ConfigError
from milo_satellite.voice.audio import PIPE_BYTES, CommandSink, PcmFormat
from milo_satellite.voice.ducking import DOWN_S, UP_S, Ducker, mixes
from milo_satellite.voice.satellite import Phase

RATE = 22050
FMT = PcmFormat(rate=RATE, channels=1)
LEVEL = 0.2
AMPLITUDE = 8000


def tone(seconds: float, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (AMPLITUDE * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def gains(pcm: bytes | np.ndarray, window_s: float = 0.05) -> np.ndarray:
    """The level of each window of a played tone, as a share of the tone's own."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes) else pcm
    size = int(window_s * RATE)
    windows = samples[: len(samples) // size * size].astype(float).reshape(-1, size)
    return np.sqrt(np.mean(windows**2, axis=1)) / (AMPLITUDE / np.sqrt(2))


def test_the_gain_ramps_down_then_back_up() -> None:
    ducker = Ducker(LEVEL, FMT)
    assert ducker.apply(tone(0.5)) == tone(0.5)  # not ducked: untouched
    ducker.ducked = True
    down = gains(b"".join(ducker.apply(tone(0.1)) for _ in range(10)))
    assert down[0] > 0.9  # no jump
    assert np.all(np.diff(down) < 0.1)  # 50 ms apart, never more than a small step
    reached = np.flatnonzero(np.isclose(down, LEVEL, atol=0.01))[0] * 0.05
    assert DOWN_S * 0.5 < reached < DOWN_S * 1.5  # a quick duck
    ducker.ducked = False
    up = gains(b"".join(ducker.apply(tone(0.1)) for _ in range(20)))
    assert np.all(np.abs(np.diff(up)) < 0.1)
    reached = np.flatnonzero(np.isclose(up, 1.0, atol=0.01))[0] * 0.05
    assert UP_S * 0.5 < reached < UP_S * 1.5  # a gentler return
    assert ducker.gain == 1.0


def test_stereo_frames_get_one_gain() -> None:
    ducker = Ducker(0.5, PcmFormat(rate=RATE, channels=2))
    ducker.ducked = True
    ducker.gain = 0.5
    left_right = np.array([1000, -2000] * 100, dtype="<i2").tobytes()
    out = np.frombuffer(ducker.apply(left_right), dtype="<i2")
    assert list(out[:4]) == [500, -1000, 500, -1000]


def test_ducks_while_anything_keeps_milo_busy() -> None:
    """Overlapping reasons (a run, then a timer ringing over it): the music stays down
    until the last one ends; music that is not playing takes the new gain at once."""
    busy: set[str] = set()
    playing = [False]
    listeners: list[object] = []
    ducker = Ducker(LEVEL, FMT)
    ducker.follow(lambda: bool(busy), lambda: playing[0], [listeners.append])
    (changed,) = listeners

    def set_busy(reason: str, on: bool) -> None:
        (busy.add if on else busy.discard)(reason)
        changed()  # type: ignore[operator]

    set_busy("run", True)
    assert ducker.ducked
    assert ducker.gain == LEVEL  # no music playing: no ramp to hear
    playing[0] = True
    set_busy("timer", True)
    set_busy("run", False)
    assert ducker.ducked  # the timer still rings
    set_busy("timer", False)
    assert not ducker.ducked
    assert ducker.gain == LEVEL  # music plays: it ramps back as it is written


@pytest.mark.parametrize("level", [-0.1, 1.5])
def test_a_bad_level_is_refused(tmp_path: Path, level: float) -> None:
    with pytest.raises(ValueError, match="0-1"):
        Ducker(level, FMT)
    path = tmp_path / "satellite.yaml"
    path.write_text(f"audio: {{duck_volume: {level}}}\n")
    with pytest.raises(ConfigError, match=r"audio.duck_volume must be 0-1"):
        load_config(["--config", str(path)])


@pytest.mark.parametrize(
    ("command", "mixing"),
    [
        ("aplay -q -D plughw:1,0 -r 22050 -c 1 -f S16_LE -t raw", False),
        ("aplay -q -Dhw:CARD=Device,DEV=0 -t raw", False),
        ("aplay --device=plughw:CARD=Device -t raw", False),
        ("aplay -q -D default:CARD=Device -r 22050 -c 1 -f S16_LE -t raw", True),
        ("aplay -q -r 22050 -c 1 -f S16_LE -t raw", True),  # the default device
        ("pacat --device=milo_aec_sink --rate=22050 --channels=1 --format=s16le --raw", True),
    ],
)
def test_which_sound_commands_mix(command: str, mixing: bool) -> None:
    """A raw ALSA device takes one stream: the satellite warns when music would be ducked
    on one (Milo's voice would fail while music plays)."""
    assert mixes(command) is mixing


async def test_the_speaker_command_is_not_seconds_behind() -> None:
    """What is written to the player command (aplay) is soon heard: the pipe and asyncio
    take 0.19 s of audio before a write waits, not the 3 s they held by default, which
    the duck (and a volume change, a pause) waited behind. A command that never reads
    shows how much they take."""
    stream = await CommandSink("sleep 30", FMT).open("media")
    accepted = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            while True:
                await stream.write(bytes(4096))
                accepted += 4096
    stream.abort()
    await stream.close()  # reaps the killed command
    assert 0 < accepted <= PIPE_BYTES + 4096


# -- a whole satellite, through the real aioesphomeapi client -----------------------------


@pytest.fixture
async def app(tmp_path: Path, speech: Speech) -> AsyncIterator[SatelliteApp]:
    """milo-satellite --simulate with music ducked to 0.2; the microphone says "Okay Nabu"
    once HA listens; a 12 s tone in a media folder."""
    media = tmp_path / "media"
    media.mkdir()
    write_wav(media / "song.wav", tone(12.0), RATE)
    mic = write_wav(tmp_path / "mic.wav", bytes(16000) + speech.wake_word, 16000)
    path = tmp_path / "satellite.yaml"
    path.write_text(
        "head: false\nzeroconf: false\nhost: 127.0.0.1\n"
        f"state_file: {tmp_path / 'state.json'}\n"
        f"audio: {{duck_volume: {LEVEL}, media_dirs: ['{media}']}}\n"
    )
    config = load_config(
        [
            *("--config", str(path), "--simulate", "--mic-file", str(mic)),
            *("--sound-dir", str(tmp_path / "sound")),
        ]
    )
    config.api_port = 0  # any free port (the file refuses 0)
    milo = SatelliteApp(config)
    await milo.start()
    yield milo
    await milo.stop()


def played(app: SatelliteApp, label: str) -> list[Path]:
    return sorted(Path(app.config.sound_dir).glob(f"*-{label}.wav"))


async def test_music_ducks_under_a_run_and_comes_back(app: SatelliteApp, tmp_path: Path) -> None:
    """Music plays; the wake word is heard: the music drops to 0.2 (not stopped) while the
    chime plays and Milo listens; the user turns the volume down to 0.5 meanwhile; after
    the run the music comes back, smoothly, to the user's new volume."""
    client = APIClient("127.0.0.1", app.server.port, None, client_info="pytest")
    await client.connect(login=True)
    try:
        entities, _ = await client.list_entities_services()
        player_key = next(e.key for e in entities if e.object_id == "media_player")
        client.media_player_command(player_key, media_url=str(tmp_path / "media" / "song.wav"))
        await eventually(lambda: app.music.played_s.get("media", 0) > 1.0)
        subscribe(client, ha := FakeHA())  # HA listens: the microphone says the wake word
        await eventually(lambda: app.voice.phase is Phase.LISTENING, within=20)
        await eventually(lambda: played(app, "wake"))  # the chime, on Milo's own stream
        assert app.ducker is not None
        await eventually(lambda: app.ducker is not None and app.ducker.gain == LEVEL)
        client.media_player_command(player_key, volume=0.5)
        await eventually(lambda: app.music.volume == 0.5)
        heard_at = app.music.played_s["media"]
        await eventually(lambda: app.music.played_s["media"] > heard_at + 1.0)
        send(client, Ev.VOICE_ASSISTANT_RUN_END)
        await eventually(lambda: app.voice.phase is Phase.IDLE)
        ended_at = app.music.played_s["media"]
        await eventually(lambda: app.music.outcome.get("media") == "done", within=20)
    finally:
        await client.disconnect()
    assert ha.starts  # a real run
    (song,) = played(app, "media")  # never interrupted: one clip, played to the end
    level = gains(wav_samples(song))
    assert len(level) == 12 / 0.05
    second = lambda s: level[int(s / 0.05)]  # noqa: E731
    assert second(0.5) == pytest.approx(1.0, abs=0.02)
    assert second(heard_at + 0.5) == pytest.approx(LEVEL * 0.5, abs=0.02)  # ducked, volume 0.5
    assert second(ended_at + UP_S + 0.3) == pytest.approx(0.5, abs=0.02)  # back: the new volume
    assert level[-1] == pytest.approx(0.5, abs=0.02)
    assert np.all(np.abs(np.diff(level)) < 0.2)  # ramps, no jumps


async def test_music_ducks_under_an_announcement(app: SatelliteApp, tmp_path: Path) -> None:
    client = APIClient("127.0.0.1", app.server.port, None, client_info="pytest")
    await client.connect(login=True)
    try:
        entities, _ = await client.list_entities_services()
        player_key = next(e.key for e in entities if e.object_id == "media_player")
        song = str(tmp_path / "media" / "song.wav")
        client.media_player_command(player_key, media_url=song)
        await eventually(lambda: app.music.played_s.get("media", 0) > 1.0)
        started = app.music.played_s["media"]
        write_wav(tmp_path / "media" / "news.wav", bytes(RATE * 2 * 2), RATE)  # 2 s
        client.media_player_command(
            player_key, media_url=str(tmp_path / "media" / "news.wav"), announcement=True
        )
        await eventually(lambda: played(app, "announcement"))
        await eventually(lambda: app.player.outcome.get("announcement") == "done", within=10)
        ended = app.music.played_s["media"]
        await eventually(lambda: app.music.outcome.get("media") == "done", within=20)
    finally:
        await client.disconnect()
    level = gains(wav_samples(played(app, "media")[0]))
    assert level[int((started + 1.0) / 0.05)] == pytest.approx(LEVEL, abs=0.02)
    assert level[int((ended + UP_S + 0.3) / 0.05)] == pytest.approx(1.0, abs=0.02)


async def test_ha_sets_the_level_and_it_is_kept(app: SatelliteApp) -> None:
    """number.milo_ducked_music_volume: HA sees the configured 20 %, sets 50 %, and a
    restarted satellite comes back with 50 %."""
    client = APIClient("127.0.0.1", app.server.port, None, client_info="pytest")
    await client.connect(login=True)
    try:
        entities, _ = await client.list_entities_services()
        (number,) = (e for e in entities if e.object_id == "duck_volume")
        assert (number.min_value, number.max_value, number.unit_of_measurement) == (0, 100, "%")
        states: dict[int, float] = {}
        client.subscribe_states(lambda s: states.__setitem__(s.key, getattr(s, "state", None)))
        await eventually(lambda: states.get(number.key) == LEVEL * 100)
        client.number_command(number.key, 50.0)
        await eventually(lambda: states.get(number.key) == 50.0)
    finally:
        await client.disconnect()
    assert app.ducker is not None
    assert app.ducker.level == 0.5
    restarted = SatelliteApp(app.config)  # not started: restoring is enough
    assert restarted.ducker is not None
    assert restarted.ducker.level == 0.5
    assert restarted.ducker.entity.value == 50.0
