"""Session fixtures for the services suite: each model is loaded once and served by a real
ServiceServer on a free port; the tests talk to it with the real `wyoming` client."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from piper import PiperVoice, SynthesisConfig
import pytest

from milo_services.stt.__main__ import (
    build_info as build_stt_info,
    get_parser as stt_parser,
    load_transcriber,
)
from milo_services.stt.biasing import Vocabulary
from milo_services.stt.handler import SttHandler
from milo_services.stt.transcriber import Transcriber
from milo_services.tts.__main__ import (
    build_info as build_tts_info,
    get_parser as tts_parser,
    load_synthesizer,
)
from milo_services.tts.handler import TtsHandler
from milo_services.tts.synthesizer import Synthesizer
from milo_services.tts.voice import embedded_voice
from tests.services.helpers import Speech, ThreadedServer, espeak

# What people say to Milo. Piper (the joe voice) and espeak-ng read them.
COMMANDS = [
    "Turn on the kitchen lights.",
    "What is the surf like at Portrush East Strand today?",
    "Set a timer for ten minutes.",
    "Is it going to rain in Portrush this afternoon?",
    "Play some music in the living room.",
    "How big are the waves at West Strand right now?",
]


@pytest.fixture(scope="session")
def transcriber() -> Iterator[Transcriber]:
    transcriber = load_transcriber(stt_parser().parse_args([]))
    yield transcriber
    transcriber.close()


@pytest.fixture(scope="session")
def stt_server(transcriber: Transcriber) -> Iterator[ThreadedServer]:
    factory = partial(
        SttHandler,
        info=build_stt_info(transcriber),
        transcriber=transcriber,
        vocabulary=Vocabulary(transcriber.count_tokens),
    )
    with ThreadedServer(factory) as server:
        yield server


@pytest.fixture(scope="session")
def synthesizer() -> Iterator[Synthesizer]:
    synthesizer = load_synthesizer(tts_parser().parse_args([]))
    yield synthesizer
    synthesizer.close()


@pytest.fixture(scope="session")
def tts_server(synthesizer: Synthesizer) -> Iterator[ThreadedServer]:
    factory = partial(TtsHandler, info=build_tts_info(synthesizer.engine), synthesizer=synthesizer)
    with ThreadedServer(factory) as server:
        yield server


@pytest.fixture(scope="session")
def piper_speech() -> list[Speech]:
    """The commands read by the stock piper library (not milo-tts) with the joe voice,
    without generator noise so every run hears the same audio."""
    files = embedded_voice()
    voice = PiperVoice.load(files.model, files.config)
    still = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    speech = []
    for text in COMMANDS:
        chunks = list(voice.synthesize(text, still))
        pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
        speech.append(Speech(text=text, pcm=pcm, rate=chunks[0].sample_rate))
    return speech


@pytest.fixture(scope="session")
def espeak_speech() -> list[Speech]:
    return [espeak(text) for text in COMMANDS]
