"""Name mode ("Milo" heard through VAD + milo-stt) and spoken fillers (milo-tts).

Both talk to the real Wyoming services of this repository, started as subprocesses with
their embedded models (whisper tiny.en, piper joe).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import logging
from pathlib import Path
import socket
import subprocess
import sys

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
import pytest
from satellite_helpers import (
    SINK_FORMAT,
    Milo,
    Speech,
    eventually,
    make_milo,
    piper_say,
    silence,
)
from test_satellite_voice import FakeHA, subscribe

from milo_satellite.voice.audio import read_wav_as_mic_pcm
from milo_satellite.voice.fillers import Fillers
from milo_satellite.voice.wakeword import mentions_name, transcribe

pytestmark = pytest.mark.slow


def _service(module: str, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / f"{module}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--uri", uri], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def _ready(uri: str) -> None:
    host, port = uri.removeprefix("tcp://").split(":")
    for _ in range(600):
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await asyncio.sleep(0.2)
        else:
            writer.close()
            return
    raise AssertionError(f"{uri} never came up")


@pytest.fixture(scope="module")
def stt_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _service("milo_services.stt", tmp_path_factory.mktemp("stt"))


@pytest.fixture(scope="module")
def tts_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _service("milo_services.tts", tmp_path_factory.mktemp("tts"))


@pytest.fixture(scope="module")
def name_speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("names")
    return {
        key: read_wav_as_mic_pcm(piper_say(text, folder / f"{key}.wav"))
        for key, text in {
            "called": "Milo, what is the surf like today?",
            "other": "What time is the bin collection tomorrow?",
        }.items()
    }


@pytest.fixture
async def named_milo(tmp_path: Path, stt_uri: str) -> AsyncIterator[Milo]:
    await _ready(stt_uri)
    await transcribe(stt_uri, silence(1.0), "en")  # the model loads on first use
    milo = await make_milo(tmp_path, wake_word="milo", stt_uri=stt_uri)
    yield milo
    await milo.close()


async def test_name_mode_hears_milo_and_not_others(
    named_milo: Milo, name_speech: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="milo_satellite.voice.wakeword")
    client = APIClient("127.0.0.1", named_milo.server.port, None)
    await client.connect(login=True)
    try:
        ha = FakeHA()
        subscribe(client, ha)
        await eventually(lambda: named_milo.voice.connected)

        named_milo.mic.say(silence(0.5) + name_speech["other"] + silence(1.5))
        await asyncio.sleep(3.0)  # long enough for the VAD and the transcription
        await eventually(named_milo.mic.queue.empty)
        assert ha.starts == []

        named_milo.mic.say(silence(0.5) + name_speech["called"] + silence(1.5))
        try:
            # Generous: whisper shares two cores with everything else in CI.
            await eventually(lambda: ha.starts, within=180)
        except AssertionError:
            heard = [r.getMessage() for r in caplog.records if "heard" in r.getMessage()]
            raise AssertionError(f"no run started; name mode heard: {heard}") from None
        assert ha.starts[0][2] == "Milo"
        # The question came with the name, so HA gets the whole utterance.
        await eventually(lambda: name_speech["called"][8000:16000] in ha.audio)
    finally:
        await client.disconnect()


def test_fuzzy_name_matching() -> None:
    for heard in ("Milo, what's up", "Hi Mylo", "my low, the surf?", "Meelo!", "Milo's back"):
        assert mentions_name(heard, ["milo"]), heard
    for heard in ("mild weather", "a pillow", "my love", "kilo of milk", "hello"):
        assert not mentions_name(heard, ["milo"]), heard


async def test_spoken_filler_while_thinking(tmp_path: Path, tts_uri: str, speech: Speech) -> None:
    """The fillers are rendered by milo-tts once Milo is up, then one fills the wait."""
    await _ready(tts_uri)
    fillers = Fillers(tts_uri, ["Processing. Try not to touch anything."], SINK_FORMAT)
    assert fillers.pick() is None  # nothing rendered before the start
    milo = await make_milo(tmp_path, thinking="filler", fillers=fillers)
    client = APIClient("127.0.0.1", milo.server.port, None)
    await client.connect(login=True)
    try:
        await eventually(lambda: fillers.ready, within=120)
        assert len(fillers.ready[0]) > SINK_FORMAT.bytes_per_second  # over a second of speech
        ha = FakeHA()
        subscribe(client, ha)
        await eventually(lambda: milo.voice.connected)
        milo.mic.say(speech.wake_word + silence(0.5))
        await eventually(lambda: ha.starts)
        client.send_voice_assistant_event(Ev.VOICE_ASSISTANT_STT_END, {"text": "why"})
        await eventually(lambda: any(p.name.endswith("filler.wav") for p in milo.played()))
    finally:
        await client.disconnect()
        await milo.close()
