"""milo-stt's speculative transcription: same transcripts, started before audio-stop, and
published to subscribers as soon as they are known."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
import logging

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event

from milo_services.common.audio import pcm_to_float, resample
from milo_services.stt.__main__ import build_info
from milo_services.stt.biasing import Vocabulary
from milo_services.stt.handler import KEEP_SILENCE, SttHandler
from milo_services.stt.speculation_feed import (
    DROPPED_EVENT,
    MAX_BACKLOG,
    SPECULATIVE_EVENT,
    SUBSCRIBE_EVENT,
    SUBSCRIBED_EVENT,
    SpeculationFeed,
    dropped,
)
from milo_services.stt.speech_tracker import FRAME_SECONDS, SpeechTracker
from milo_services.stt.transcriber import Transcriber
from tests.services.helpers import Speech, ThreadedServer, read_until, wer

RATE = 16_000
NOISE_DBFS = -50.0


def to_16k(speech: Speech) -> np.ndarray:
    return resample(pcm_to_float(speech.pcm, speech.width, speech.channels), speech.rate, RATE)


def as_speech(text: str, audio: np.ndarray) -> Speech:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return Speech(text=text, pcm=pcm, rate=RATE)


def padded(speech: Speech, silence: float = 0.8, noise_dbfs: float | None = None) -> Speech:
    """Speech as Home Assistant streams it: a little lead-in, the speech, then the silence
    its voice activity detection waits for; optionally with a microphone's hiss."""
    audio = np.concatenate(
        [np.zeros(RATE // 4, np.float32), to_16k(speech), np.zeros(round(silence * RATE))]
    )
    if noise_dbfs is not None:
        rng = np.random.default_rng(len(speech.text))
        audio = audio + rng.normal(0.0, 10 ** (noise_dbfs / 20), audio.size)
    return as_speech(speech.text, audio.astype(np.float32))


def events(speech: Speech, chunk_ms: int = 20) -> Iterator[Event]:
    """16-bit mono chunks of `chunk_ms`, like Home Assistant's pipeline sends."""
    step = 2 * RATE * chunk_ms // 1000
    yield AudioStart(rate=RATE, width=2, channels=1).event()
    for offset in range(0, len(speech.pcm), step):
        yield AudioChunk(
            rate=RATE, width=2, channels=1, audio=speech.pcm[offset : offset + step]
        ).event()
    yield AudioStop().event()


@pytest.fixture(scope="module")
def servers(transcriber: Transcriber) -> Iterator[dict[bool, ThreadedServer]]:
    factory = partial(
        SttHandler,
        info=build_info(transcriber),
        transcriber=transcriber,
        vocabulary=Vocabulary(transcriber.count_tokens),
    )
    with (
        ThreadedServer(partial(factory, speculate=True)) as on,
        ThreadedServer(partial(factory, speculate=False)) as off,
    ):
        yield {True: on, False: off}


async def transcribe(server: ThreadedServer, speech: Speech) -> str:
    async with server.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for event in events(speech):
            await client.write_event(event)
        return Transcript.from_event((await read_until(client, "transcript"))[-1]).text


def speculative_replies(caplog: pytest.LogCaptureFixture) -> int:
    return sum("speculatively" in record.getMessage() for record in caplog.records)


def test_tracker_finds_the_end_of_speech(piper_speech: list[Speech], espeak_speech: list[Speech]):
    for speech in (*piper_speech, *espeak_speech):
        audio = to_16k(padded(speech))
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        tracker = SpeechTracker()
        tracker.feed(audio, RATE)
        assert tracker.speech_end is not None
        # Never before the last clearly audible sound; its fading tail may count too.
        assert loud[-1] / RATE <= tracker.speech_end <= loud[-1] / RATE + 0.2
        assert tracker.trailing_silence == pytest.approx(
            audio.size / RATE - tracker.speech_end, abs=FRAME_SECONDS
        )


def test_tracker_decisions_do_not_depend_on_chunking(piper_speech: list[Speech]):
    """Each frame is judged by what came before it: speech end while streaming == at the end."""
    audio = to_16k(padded(piper_speech[1], noise_dbfs=NOISE_DBFS))
    whole = SpeechTracker()
    whole.feed(audio, RATE)
    for size in (160, 333, 1024, 4800):
        pieces = SpeechTracker()
        for offset in range(0, audio.size, size):
            pieces.feed(audio[offset : offset + size], RATE)
        assert pieces.speech_end == pytest.approx(whole.speech_end)


def test_tracker_hears_no_speech_in_noise_or_silence():
    rng = np.random.default_rng(1)
    for audio in (np.zeros(RATE * 2, np.float32), rng.normal(0, 0.003, RATE * 2)):
        tracker = SpeechTracker()
        tracker.feed(audio.astype(np.float32), RATE)
        assert tracker.speech_end is None
        assert tracker.trailing_silence == 0.0


@pytest.mark.parametrize("noise_dbfs", [None, NOISE_DBFS], ids=["clean", "hiss"])
async def test_speculative_transcripts_are_the_same(
    servers: dict[bool, ThreadedServer],
    piper_speech: list[Speech],
    espeak_speech: list[Speech],
    noise_dbfs: float | None,
    caplog: pytest.LogCaptureFixture,
):
    """Every request is answered from its speculation, with the text it gets without one."""
    caplog.set_level(logging.INFO, logger="milo_services.stt.handler")
    corpus = [padded(speech, noise_dbfs=noise_dbfs) for speech in (*piper_speech, *espeak_speech)]
    speculated = [await transcribe(servers[True], speech) for speech in corpus]
    assert speculative_replies(caplog) == len(corpus)
    plain = [await transcribe(servers[False], speech) for speech in corpus]
    assert speculated == plain
    assert np.mean([wer(s.text, text) for s, text in zip(corpus, plain, strict=True)]) <= 0.3


async def test_speech_after_a_pause_replaces_the_speculation(
    servers: dict[bool, ThreadedServer],
    piper_speech: list[Speech],
    caplog: pytest.LogCaptureFixture,
):
    """A pause long enough to speculate on, then more speech: the transcript has it all."""
    caplog.set_level(logging.DEBUG, logger="milo_services.stt.handler")
    first, second = padded(piper_speech[0], silence=0.6), padded(piper_speech[4])
    both = Speech(f"{first.text} {second.text}", first.pcm + second.pcm, rate=RATE)
    text = await transcribe(servers[True], both)
    assert any("Speech resumed" in record.getMessage() for record in caplog.records)
    assert wer(both.text, text) <= 0.2, text
    assert text == await transcribe(servers[False], both)


async def test_short_silence_does_not_speculate(
    servers: dict[bool, ThreadedServer],
    piper_speech: list[Speech],
    caplog: pytest.LogCaptureFixture,
):
    """Audio that stops before `KEEP_SILENCE` of quiet is transcribed after audio-stop."""
    caplog.set_level(logging.INFO, logger="milo_services.stt.handler")
    speech = padded(piper_speech[2], silence=KEEP_SILENCE / 4)
    text = await transcribe(servers[True], speech)
    assert speculative_replies(caplog) == 0
    assert wer(speech.text, text) <= 0.2, text


def test_speculation_flag():
    from milo_services.stt.__main__ import get_parser

    assert get_parser().parse_args([]).speculation is True
    assert get_parser().parse_args(["--no-speculation"]).speculation is False


@pytest.fixture(scope="module")
def feed_server(transcriber: Transcriber) -> Iterator[ThreadedServer]:
    """A milo-stt that publishes its speculative transcripts, as `milo-stt` runs."""
    factory = partial(
        SttHandler,
        info=build_info(transcriber),
        transcriber=transcriber,
        vocabulary=Vocabulary(transcriber.count_tokens),
        feed=SpeculationFeed(),
    )
    with ThreadedServer(factory) as server:
        yield server


async def subscribe(server: ThreadedServer) -> AsyncTcpClient:
    client = server.client()
    await client.connect()
    await client.write_event(Event(SUBSCRIBE_EVENT))
    assert (await read_until(client, SUBSCRIBED_EVENT, "error"))[-1].type == SUBSCRIBED_EVENT
    return client


async def test_subscribers_hear_the_transcript_before_audio_stop(
    feed_server: ThreadedServer, piper_speech: list[Speech]
):
    """The words reach a subscriber while the client still waits for silence, and they are
    the request's transcript; a used speculation is never dropped."""
    subscriber = await subscribe(feed_server)
    *audio, stop = events(padded(piper_speech[0]))
    async with feed_server.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for event in audio:
            await client.write_event(event)
        published = (await read_until(subscriber, SPECULATIVE_EVENT))[-1]
        await client.write_event(stop)
        transcript = Transcript.from_event((await read_until(client, "transcript"))[-1])
    assert published.data["text"] == transcript.text
    assert wer(piper_speech[0].text, transcript.text) <= 0.2
    session = published.data["stt_session"]
    assert isinstance(session, str)
    assert session
    # Nothing more for that request: the next event is the next request's.
    async with feed_server.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for event in events(padded(piper_speech[2], silence=0.0)):
            await client.write_event(event)
        await read_until(client, "transcript")
    await subscriber.write_event(Event("ping"))
    after = await read_until(subscriber, "pong")
    assert all(event.data.get("stt_session") != session for event in after)
    await subscriber.disconnect()


async def test_speech_after_the_pause_drops_the_published_words(
    feed_server: ThreadedServer, piper_speech: list[Speech]
):
    subscriber = await subscribe(feed_server)
    first, second = padded(piper_speech[0], silence=0.6), padded(piper_speech[4])
    first_audio = list(events(first))[:-1]
    second_audio = list(events(second))[1:]
    async with feed_server.client() as client:
        await client.write_event(Transcribe(language="en").event())
        for event in first_audio:
            await client.write_event(event)
        early = (await read_until(subscriber, SPECULATIVE_EVENT))[-1]
        *more, stop = second_audio
        for event in more:
            await client.write_event(event)
        gone = (await read_until(subscriber, DROPPED_EVENT))[-1]
        late = (await read_until(subscriber, SPECULATIVE_EVENT))[-1]
        await client.write_event(stop)
        transcript = Transcript.from_event((await read_until(client, "transcript"))[-1])
    assert gone.data == {"stt_session": early.data["stt_session"]}
    assert late.data == {"text": transcript.text, "stt_session": early.data["stt_session"]}
    assert early.data["text"] != transcript.text
    await subscriber.disconnect()


async def test_subscribing_errors_are_coded(
    feed_server: ThreadedServer, servers: dict[bool, ThreadedServer]
):
    subscriber = await subscribe(feed_server)
    await subscriber.write_event(Event(SUBSCRIBE_EVENT))
    error = Error.from_event((await read_until(subscriber, "error"))[-1])
    assert error.code == "bad-event"
    assert "subscribed" in error.text
    await subscriber.disconnect()
    async with servers[True].client() as client:  # no feed
        await client.write_event(Event(SUBSCRIBE_EVENT))
        error = Error.from_event((await read_until(client, "error"))[-1])
    assert error.code == "not-supported"


async def test_a_subscriber_that_does_not_read_is_dropped():
    """Publishing never waits: a stuck subscriber is disconnected, the others keep theirs."""
    feed = SpeculationFeed()
    stuck: list[bool] = []
    reading = feed.subscribe(overflow=lambda: pytest.fail("it was read"))
    feed.subscribe(overflow=lambda: stuck.append(True))
    for index in range(MAX_BACKLOG + 5):
        feed.publish(dropped(str(index)))
        reading.queue.get_nowait()
    assert stuck == [True]
