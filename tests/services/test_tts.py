"""milo-tts through the real wyoming client and the embedded joe voice."""

from __future__ import annotations

import asyncio
from pathlib import Path
import shutil

import numpy as np
import onnx
import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from milo_services import __version__
from milo_services.common.audio import pcm_to_float, resample
from milo_services.stt.transcriber import Transcriber
from milo_services.tts.engine import (
    CONTEXT_FRAMES,
    FIRST_CHUNK_FRAMES,
    FLOW_CONTEXT_FRAMES,
    HEADROOM,
    PiperEngine,
    RenderSpeed,
    chunk_bounds,
    chunk_seconds,
)
from milo_services.tts.synthesizer import Synthesizer
from milo_services.tts.voice import embedded_voice, find_voice
from tests.services.helpers import Speech, ThreadedServer, read_until, wer

SENTENCES = [
    "The surf at Portrush East Strand is about three feet.",
    "It is clean and glassy this morning!",
    "Grab your board before the wind picks up.",
]
REPLY = " ".join(SENTENCES)


def audio_of(events: list[Event]) -> Speech:
    """Check the audio framing and return the PCM: one audio-start, chunks in its format."""
    starts = [AudioStart.from_event(e) for e in events if AudioStart.is_type(e.type)]
    assert len(starts) == 1, [e.type for e in events]
    start = starts[0]
    assert (start.rate, start.width, start.channels) == (22050, 2, 1)
    types = [e.type for e in events]
    assert types.index("audio-start") < types.index("audio-stop")
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    for chunk in chunks:
        assert (chunk.rate, chunk.width, chunk.channels) == (22050, 2, 1)
        assert len(chunk.audio) % 2 == 0
    first_chunk = types.index("audio-chunk") if chunks else types.index("audio-stop")
    assert types.index("audio-start") < first_chunk <= types.index("audio-stop")
    return Speech(text="", pcm=b"".join(chunk.audio for chunk in chunks), rate=start.rate)


def assert_plausible_speech(speech: Speech, text: str) -> None:
    words = len(text.split())
    assert 1.5 <= words / speech.seconds <= 5.0, (words, speech.seconds)  # people speak ~2.5/s
    samples = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32) / 32768
    assert np.sqrt(np.mean(samples**2)) > 0.03  # audible, not silence
    assert np.mean(np.abs(samples) > 0.999) < 0.001  # not clipped to pieces


async def hear(transcriber: Transcriber, speech: Speech) -> str:
    """What whisper hears in the speech, told the surf spot's names."""
    audio = resample(pcm_to_float(speech.pcm, 2, 1), speech.rate, 16000)
    return await transcriber.transcribe(
        audio, prompt=transcriber.prompt_for(["Portrush", "East Strand"])
    )


async def synthesize(server: ThreadedServer, text: str) -> Speech:
    async with server.client() as client:
        await client.write_event(Synthesize(text=text).event())
        return audio_of(await read_until(client, "audio-stop"))


async def test_describe_advertises_streaming_and_the_embedded_voice(tts_server: ThreadedServer):
    async with tts_server.client() as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[-1])
    program = info.tts[0]
    assert program.name == "milo-tts"
    assert program.supports_synthesize_streaming
    assert program.version == __version__
    assert program.installed
    assert "piper" in program.attribution.url
    voice = program.voices[0]
    assert voice.name == "en_US-joe-medium"
    assert voice.languages == ["en_US"]


async def test_synthesize_speaks_the_text(tts_server: ThreadedServer, transcriber: Transcriber):
    speech = await synthesize(tts_server, REPLY)
    assert_plausible_speech(speech, REPLY)
    heard = await hear(transcriber, speech)
    assert wer(REPLY, heard) <= 0.2, heard


async def test_empty_text_gives_an_empty_audio_stream(tts_server: ThreadedServer):
    speech = await synthesize(tts_server, "   ")
    assert speech.pcm == b""


async def test_unknown_voice_name_falls_back_to_the_loaded_voice(tts_server: ThreadedServer):
    async with tts_server.client() as client:
        voice = SynthesizeVoice(name="en_GB-alba-medium", speaker="nobody")
        await client.write_event(Synthesize(text="Hello there.", voice=voice).event())
        assert audio_of(await read_until(client, "audio-stop")).seconds > 0.3


async def test_streaming_speaks_each_sentence_as_soon_as_it_is_complete(
    tts_server: ThreadedServer,
):
    """Audio for the first sentence arrives while the rest of the text is still unsent,
    and Home Assistant's compatibility `synthesize` copy isn't spoken a second time."""
    async with tts_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="The surf at Portrush ").event())
        await client.write_event(SynthesizeChunk(text="East Strand is about three feet. ").event())
        first = await read_until(client, "audio-chunk")  # nothing else has been sent yet
        assert [e.type for e in first] == ["audio-start", "audio-chunk"]
        for word in SENTENCES[1].split():  # word by word, like an LLM
            await client.write_event(SynthesizeChunk(text=word + " ").event())
        await client.write_event(SynthesizeChunk(text=SENTENCES[2]).event())
        await client.write_event(Synthesize(text=REPLY).event())  # HA's compatibility copy
        await client.write_event(SynthesizeStop().event())
        events = first + await read_until(client, "synthesize-stopped")
    types = [e.type for e in events]
    assert types[-2:] == ["audio-stop", "synthesize-stopped"]
    streamed = audio_of(events)
    whole = await synthesize(tts_server, REPLY)
    assert abs(streamed.seconds - whole.seconds) < 0.25 * whole.seconds  # spoken once
    assert_plausible_speech(streamed, REPLY)


async def test_stream_without_text_still_ends(tts_server: ThreadedServer):
    async with tts_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert [e.type for e in events] == ["synthesize-stopped"]


async def test_streams_and_requests_back_to_back_on_one_connection(tts_server: ThreadedServer):
    async with tts_server.client() as client:
        for _ in range(2):
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="Cowabunga, dude.").event())
            await client.write_event(SynthesizeStop().event())
            events = await read_until(client, "synthesize-stopped")
            assert audio_of(events).seconds > 0.4
            await client.write_event(Synthesize(text="Surf's up.").event())
            assert audio_of(await read_until(client, "audio-stop")).seconds > 0.3


FRAME_SECONDS = 256 / 22050  # a frame of joe's prior
FAST_HOST = RenderSpeed(flow=1e-4, vocoder=5e-4)  # this project's 2-core CI VM, roughly
SLOW_HOST = RenderSpeed(flow=4e-4, vocoder=2e-3)  # 4x slower: a small board or a busy server


def test_a_fast_host_starts_with_a_short_first_chunk():
    assert chunk_bounds(566, FAST_HOST, FRAME_SECONDS) == [
        (0, FIRST_CHUNK_FRAMES),
        (24, 120),
        (120, 376),
        (376, 566),
    ]
    assert chunk_bounds(FIRST_CHUNK_FRAMES, FAST_HOST, FRAME_SECONDS) == [(0, FIRST_CHUNK_FRAMES)]
    assert chunk_bounds(0, FAST_HOST, FRAME_SECONDS) == []


@pytest.mark.parametrize("frames", [60, 200, 566, 1000, 1500])
@pytest.mark.parametrize("speed", [FAST_HOST, SLOW_HOST])
def test_every_chunk_is_ready_before_the_audio_sent_ahead_of_it_has_played(
    speed: RenderSpeed, frames: int
):
    bounds = chunk_bounds(frames, speed, FRAME_SECONDS)
    assert [start for start, _ in bounds] == [0] + [end for _, end in bounds[:-1]]
    assert bounds[-1][1] == frames
    first_end = bounds[0][1]
    buffered = first_end * FRAME_SECONDS  # playback starts when the first chunk is sent
    for start, end in bounds[1:]:
        work = chunk_seconds(frames, first_end, start, end, speed)
        assert work * HEADROOM <= buffered, (start, end, work, buffered)
        buffered += (end - start) * FRAME_SECONDS - work


def test_a_slow_host_waits_a_little_longer_for_its_first_audio_than_a_fast_one():
    fast, slow = (chunk_bounds(1000, speed, FRAME_SECONDS) for speed in (FAST_HOST, SLOW_HOST))
    assert fast[0] == (0, FIRST_CHUNK_FRAMES)
    assert FIRST_CHUNK_FRAMES < slow[0][1] <= 4 * FIRST_CHUNK_FRAMES
    # Slower than real time, most of the sentence must be rendered before it starts.
    too_slow = RenderSpeed(flow=1e-3, vocoder=2 * FRAME_SECONDS)
    assert chunk_bounds(1000, too_slow, FRAME_SECONDS)[0][1] > 700
    assert chunk_bounds(30, too_slow, FRAME_SECONDS) == [(0, 30)]
    with pytest.raises(ValueError, match="positive"):
        RenderSpeed(flow=0.0, vocoder=1e-3)


@pytest.mark.parametrize("speed", [FAST_HOST, SLOW_HOST], ids=["fast host", "slow host"])
async def test_long_sentence_is_rendered_in_chunks_identical_to_the_whole(
    synthesizer: Synthesizer, speed: RenderSpeed
):
    engine = synthesizer.engine
    assert engine.streams_within_sentences
    assert engine.frame_seconds == FRAME_SECONDS
    phonemes = engine.phonemize("Milo watches the waves roll into the long sandy beach at dawn.")
    feed = engine.inputs(phonemes[0], None, None)
    prior, mask = engine.prior(feed)
    assert prior.shape[2] > FIRST_CHUNK_FRAMES + CONTEXT_FRAMES + FLOW_CONTEXT_FRAMES
    bounds = chunk_bounds(prior.shape[2], speed, FRAME_SECONDS)
    chunks = list(engine.chunks(prior, mask, feed, bounds))
    assert len(chunks) >= 3
    assert [len(chunk) for chunk in chunks] == [256 * (end - start) for start, end in bounds]
    whole = engine.vocode(engine.flow(prior, mask, feed), feed).reshape(-1)
    assert np.concatenate(chunks).shape == whole.shape
    assert np.max(np.abs(np.concatenate(chunks) - whole)) < 1e-4


async def test_a_voice_that_cannot_be_split_is_spoken_whole_sentence_at_a_time(
    tmp_path: Path, transcriber: Transcriber
):
    """An export without the usual flow names: no chunking, but the same words."""
    model = onnx.load(str(embedded_voice().model))
    for node in model.graph.node:
        node.name = node.name.replace("/flow/", "/renamed/")
    path = tmp_path / "odd-export.onnx"
    onnx.save(model, str(path))
    shutil.copy(embedded_voice().config, tmp_path / "odd-export.onnx.json")
    engine = PiperEngine(find_voice(str(path), []))
    assert not engine.streams_within_sentences
    text = SENTENCES[0]
    pieces = list(engine.render(engine.phonemize(text)[0], None, None))
    assert len(pieces) == 1
    speech = Speech(text=text, pcm=pieces[0], rate=engine.sample_rate)
    assert_plausible_speech(speech, text)
    heard = await hear(transcriber, speech)
    assert wer(text, heard) <= 0.2, heard


async def test_a_long_reply_does_not_block_other_clients(tts_server: ThreadedServer):
    """While one client's long text is synthesised, another client is answered."""
    long_text = " ".join([REPLY] * 6)
    finished: list[str] = []
    slow_started = asyncio.Event()

    async def slow() -> None:
        async with tts_server.client() as client:
            await client.write_event(Synthesize(text=long_text).event())
            await read_until(client, "audio-chunk")
            slow_started.set()
            await read_until(client, "audio-stop")
        finished.append("slow")

    async def quick() -> None:
        await slow_started.wait()
        async with tts_server.client() as client:
            await client.write_event(Describe().event())
            await read_until(client, "info")
            await client.write_event(Synthesize(text="Yes.").event())
            await read_until(client, "audio-stop")
        finished.append("quick")

    await asyncio.gather(slow(), quick())
    assert finished == ["quick", "slow"]


async def test_eight_clients_at_once(tts_server: ThreadedServer):
    texts = [f"Buddy number {n} is in the kitchen. Time to put the kettle on." for n in range(8)]

    async def streamed(text: str) -> Speech:
        async with tts_server.client() as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text=text).event())
            await client.write_event(SynthesizeStop().event())
            return audio_of(await read_until(client, "synthesize-stopped"))

    results = await asyncio.gather(
        *(
            (streamed(text) if n % 2 else synthesize(tts_server, text))
            for n, text in enumerate(texts)
        )
    )
    for text, speech in zip(texts, results, strict=True):
        assert_plausible_speech(speech, text)


def test_soft_limit_never_clips_and_leaves_normal_samples_alone():
    from milo_services.tts.engine import soft_limit

    audio = np.linspace(-3.0, 3.0, 6001, dtype=np.float32)
    limited = soft_limit(audio)
    assert np.all(np.abs(limited) <= 1.0)
    assert np.all(np.diff(limited) >= 0)  # order (the waveform's shape) is kept
    quiet = np.abs(audio) <= 0.85
    np.testing.assert_array_equal(limited[quiet], audio[quiet])


async def test_steps_towards_a_first_audio_jump_the_queue():
    import threading

    from milo_services.tts.synthesizer import LATER, URGENT, _PriorityWorker

    worker = _PriorityWorker()
    started, gate = threading.Event(), threading.Event()
    order: list[str] = []
    busy = asyncio.ensure_future(worker.run(LATER, lambda: (started.set(), gate.wait())))
    await asyncio.to_thread(started.wait)
    jobs = [
        asyncio.ensure_future(worker.run(LATER, order.append, "later 1")),
        asyncio.ensure_future(worker.run(LATER, order.append, "left")),
        asyncio.ensure_future(worker.run(LATER, order.append, "later 2")),
        asyncio.ensure_future(worker.run(URGENT, order.append, "urgent")),
    ]
    await asyncio.sleep(0)
    jobs[1].cancel()  # its client left: never run
    gate.set()
    await asyncio.gather(busy, jobs[0], jobs[2], jobs[3])
    assert order == ["urgent", "later 1", "later 2"]
    worker.close()
