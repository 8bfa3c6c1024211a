"""milo-stt through the real wyoming client, the embedded whisper tiny.en and real speech."""

from __future__ import annotations

import asyncio

from wyoming.asr import Transcribe, Transcript
from wyoming.info import Describe, Info

from milo_services import __version__
from tests.services.helpers import (
    Speech,
    ThreadedServer,
    audio_events,
    normalize,
    read_until,
    sox,
    wer,
)


async def transcribe(server: ThreadedServer, speech: Speech, **request: object) -> str:
    async with server.client() as client:
        await client.write_event(Transcribe(**request).event())  # type: ignore[arg-type]
        for event in audio_events(speech):
            await client.write_event(event)
        events = await read_until(client, "transcript")
    return Transcript.from_event(events[-1]).text


async def test_describe_reports_model_languages_and_attribution(stt_server: ThreadedServer):
    async with stt_server.client() as client:
        await client.write_event(Describe().event())
        event = (await read_until(client, "info"))[-1]
    info = Info.from_event(event)
    assert [program.name for program in info.asr] == ["milo-stt"]
    program = info.asr[0]
    assert program.installed
    assert program.version == __version__
    assert "faster-whisper" in program.attribution.url
    assert [model.name for model in program.models] == ["tiny.en"]
    assert program.models[0].languages == ["en"]
    assert "openai/whisper" in program.models[0].attribution.url


NAMES = ["Portrush", "East Strand", "West Strand"]


async def mean_wer(server: ThreadedServer, speech: list[Speech], **request: object) -> float:
    hypotheses = [await transcribe(server, item, **request) for item in speech]
    errors = [wer(item.text, text) for item, text in zip(speech, hypotheses, strict=True)]
    print(list(zip(hypotheses, errors, strict=True)))  # shown when an assertion fails
    return sum(errors) / len(errors)


async def test_piper_speech_is_transcribed_accurately(
    stt_server: ThreadedServer, piper_speech: list[Speech]
):
    assert await mean_wer(stt_server, piper_speech) <= 0.2
    assert await mean_wer(stt_server, piper_speech, transcript_names=NAMES) <= 0.1


async def test_espeak_speech_is_transcribed(
    stt_server: ThreadedServer, espeak_speech: list[Speech]
):
    """A robotic formant voice, unlike anything whisper was trained on."""
    assert await mean_wer(stt_server, espeak_speech) <= 0.35
    assert await mean_wer(stt_server, espeak_speech, transcript_names=NAMES) <= 0.2


async def test_names_from_transcribe_bias_recognition(
    stt_server: ThreadedServer, piper_speech: list[Speech], espeak_speech: list[Speech]
):
    """wyoming 1.10 transcript_names/terms make local names come out spelled right."""
    for speech in (piper_speech[1], espeak_speech[1]):  # "...surf like at Portrush East Strand"
        text = await transcribe(
            stt_server, speech, transcript_names=NAMES, transcript_terms=["surf", "swell"]
        )
        assert "portrush east strand" in normalize(text), text
    text = await transcribe(stt_server, piper_speech[5], transcript_names=NAMES)
    assert "west strand" in normalize(text), text


async def test_hotwords_flag_biases_recognition(transcriber, espeak_speech: list[Speech]):
    from functools import partial

    from milo_services.stt.__main__ import build_info, split_hotwords
    from milo_services.stt.biasing import Vocabulary
    from milo_services.stt.handler import SttHandler

    hotwords = split_hotwords(["Portrush, East Strand", "West Strand"])
    assert hotwords == ["Portrush", "East Strand", "West Strand"]
    factory = partial(
        SttHandler,
        info=build_info(transcriber),
        transcriber=transcriber,
        vocabulary=Vocabulary(transcriber.count_tokens, hotwords),
    )
    with ThreadedServer(factory) as server:
        text = await transcribe(server, espeak_speech[5])  # "...waves at West Strand..."
        assert "west strand" in normalize(text), text
        text = await transcribe(server, espeak_speech[1])
        assert "portrush east strand" in normalize(text), text


async def test_any_rate_width_and_channel_count(
    stt_server: ThreadedServer, piper_speech: list[Speech]
):
    speech = piper_speech[4]  # "Play some music in the living room."
    for rate, bits, channels in [(48000, 32, 2), (8000, 8, 1), (44100, 24, 2), (16000, 16, 1)]:
        converted = sox(speech, rate=rate, bits=bits, channels=channels)
        assert (converted.rate, converted.width, converted.channels) == (rate, bits // 8, channels)
        text = await transcribe(stt_server, converted)
        assert wer(speech.text, text) <= 0.15, (rate, bits, channels, text)


async def test_format_change_mid_stream(stt_server: ThreadedServer, piper_speech: list[Speech]):
    """Chunks carry their own format; a switch mid-utterance is converted, not garbled."""
    first, second = piper_speech[0], sox(piper_speech[2], rate=48000, bits=16, channels=2)
    async with stt_server.client() as client:
        await client.write_event(Transcribe().event())
        events = list(audio_events(first))[:-1] + list(audio_events(second))[1:]
        for event in events:
            await client.write_event(event)
        text = Transcript.from_event((await read_until(client, "transcript"))[-1]).text
    assert wer(f"{first.text} {second.text}", text) <= 0.25, text


async def test_silence_and_empty_audio(stt_server: ThreadedServer):
    empty = Speech(text="", pcm=b"", rate=16000)
    assert await transcribe(stt_server, empty) == ""
    silence = Speech(text="", pcm=bytes(2 * 16000), rate=16000)
    assert len(normalize(await transcribe(stt_server, silence)).split()) <= 2


async def test_several_requests_on_one_connection(
    stt_server: ThreadedServer, piper_speech: list[Speech]
):
    async with stt_server.client() as client:
        for speech in (piper_speech[0], piper_speech[4]):
            await client.write_event(Transcribe().event())
            for event in audio_events(speech):
                await client.write_event(event)
            text = Transcript.from_event((await read_until(client, "transcript"))[-1]).text
            assert wer(speech.text, text) <= 0.2, text


async def test_eight_clients_at_once(stt_server: ThreadedServer, piper_speech: list[Speech]):
    """Every client gets the transcript of its own audio."""
    speeches = [piper_speech[i % len(piper_speech)] for i in range(8)]
    texts = await asyncio.gather(
        *(transcribe(stt_server, speech, transcript_names=NAMES) for speech in speeches)
    )
    for speech, text in zip(speeches, texts, strict=True):
        assert wer(speech.text, text) <= 0.35, (speech.text, text)
        closest = min(piper_speech, key=lambda other: wer(other.text, text))
        assert closest.text == speech.text, (speech.text, text)


async def test_transcription_does_not_block_other_clients(
    stt_server: ThreadedServer, piper_speech: list[Speech]
):
    """While one client's long recording is transcribed, another client is answered."""
    long = Speech(
        text=" ".join(s.text for s in piper_speech * 3),
        pcm=b"".join(s.pcm for s in piper_speech * 3),
        rate=piper_speech[0].rate,
    )
    finished: list[str] = []
    sent = asyncio.Event()

    async def slow() -> None:
        async with stt_server.client() as client:
            await client.write_event(Transcribe().event())
            for event in audio_events(long):
                await client.write_event(event)
            sent.set()
            await read_until(client, "transcript")
        finished.append("slow")

    async def quick() -> None:
        await sent.wait()
        async with stt_server.client() as client:
            await client.write_event(Describe().event())
            await read_until(client, "info")
        finished.append("quick")

    await asyncio.gather(slow(), quick())
    assert finished == ["quick", "slow"]
