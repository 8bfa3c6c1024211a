"""Unit tests of the shared pieces: the guarded reader, PCM conversion, text splitting."""

from __future__ import annotations

import asyncio
import contextlib
import json

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from wyoming.event import Event, async_write_event

from milo_services.common.audio import check_format, pcm_to_float, resample
from milo_services.common.protocol import EventLimits, ProtocolError, ReadTimeouts, read_event
from milo_services.stt.biasing import build_prompt, merge_phrases
from milo_services.tts.sentences import (
    MAX_SENTENCE_CHARS,
    SentenceSplitter,
    split_long,
    split_sentences,
)

LIMITS = EventLimits(max_data_bytes=1000, max_payload_bytes=5000)


def reader_with(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


class _Collect(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data.extend(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def wire(event: Event) -> bytes:
    """The bytes the real wyoming library writes for an event."""
    transport = _Collect()
    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader())
    writer = asyncio.StreamWriter(transport, protocol, None, asyncio.get_running_loop())
    await async_write_event(event, writer)
    return bytes(transport.data)


async def test_reads_what_the_wyoming_library_writes():
    event = Event(type="audio-chunk", data={"rate": 16000, "ünï": "cödé"}, payload=b"\x01\x02")
    read = await read_event(reader_with(await wire(event) * 2), LIMITS)
    assert read is not None
    assert (read.type, read.data, read.payload) == (event.type, event.data, event.payload)


async def test_inline_data_and_eof():
    line = json.dumps({"type": "describe", "data": {"a": 1}}).encode() + b"\n"
    read = await read_event(reader_with(line), LIMITS)
    assert read is not None
    assert read.data == {"a": 1}
    assert await read_event(reader_with(b""), LIMITS) is None
    assert await read_event(reader_with(b'{"type": "desc'), LIMITS) is None  # cut off


async def test_truncated_payload_is_a_disconnect_not_an_event():
    line = json.dumps({"type": "audio-chunk", "payload_length": 100}).encode() + b"\n"
    assert await read_event(reader_with(line + b"x" * 10), LIMITS) is None


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"type": "x", "data_length": 1001}, "too-large"),
        ({"type": "x", "payload_length": 5001}, "too-large"),
        ({"type": "x", "payload_length": True}, "bad-header"),
        ({"type": "x", "payload_length": 1.5}, "bad-header"),
        ({"type": "x", "data": [1]}, "bad-header"),
        ({"type": 7}, "bad-header"),
    ],
)
async def test_bad_headers(header: dict[str, object], code: str):
    with pytest.raises(ProtocolError) as err:
        await read_event(reader_with(json.dumps(header).encode() + b"\n"), LIMITS)
    assert err.value.code == code


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "x", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
        b'{"type": "x", "data": {"n": ' + b"1" * 4301 + b"}}\n",
        b'{"type": "x"}\xff\n',
    ],
    ids=["deep", "huge-int", "bad-utf8"],
)
async def test_json_python_refuses_is_bad_json(line: bytes):
    reader = asyncio.StreamReader(limit=1024 * 1024)
    reader.feed_data(line)
    reader.feed_eof()
    with pytest.raises(ProtocolError) as err:
        await read_event(reader, LIMITS)
    assert err.value.code == "bad-json"


async def test_a_started_event_must_arrive_in_time():
    reader = asyncio.StreamReader()
    reader.feed_data(b'{"type": "describe", "data_length": 10}\n{"a"')  # then nothing
    with pytest.raises(ProtocolError) as err:
        await read_event(reader, LIMITS, ReadTimeouts(frame=0.2, idle=60))
    assert err.value.code == "read-timeout"


async def test_idle_connections_close_unless_a_request_is_in_progress():
    reader = asyncio.StreamReader()
    with pytest.raises(ProtocolError) as err:
        await read_event(reader, LIMITS, ReadTimeouts(frame=60, idle=0.2))
    assert err.value.code == "idle-timeout"

    busy = [True, True, False]  # answering for two idle periods, then done
    with pytest.raises(ProtocolError):
        await read_event(reader, LIMITS, ReadTimeouts(frame=60, idle=0.1), lambda: busy.pop(0))
    assert busy == []

    reader.feed_data(b'{"type": "ping"}\n')  # an event read in pieces resumes intact
    event = await read_event(reader, LIMITS, ReadTimeouts(frame=1, idle=1))
    assert event is not None
    assert event.type == "ping"


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_crash_the_reader(data: bytes):
    async def attempt() -> None:
        with contextlib.suppress(ProtocolError):
            await read_event(reader_with(data), LIMITS)

    asyncio.run(attempt())


def sine(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


@pytest.mark.parametrize("src_rate", [8000, 22050, 44100, 48000])
def test_resample_keeps_pitch_and_length(src_rate: int):
    out = resample(sine(440, src_rate), src_rate, 16000)
    assert abs(out.size - 16000) <= 1
    assert abs(dominant_frequency(out, 16000) - 440) < 5
    assert 0.45 < np.max(np.abs(out[100:-100])) < 0.55


def test_downsampling_removes_what_16k_cannot_carry():
    """A 12 kHz tone at 48 kHz must not fold back into the speech band as a 4 kHz one."""
    out = resample(sine(12000, 48000), 48000, 16000)
    assert np.sqrt(np.mean(out[200:-200] ** 2)) < 0.01


@pytest.mark.parametrize(
    ("width", "dtype", "scale", "offset"),
    [(1, "u1", 128, 128), (2, "<i2", 32768, 0), (4, "<i4", 2**31, 0)],
)
def test_pcm_widths_and_channels(width: int, dtype: str, scale: int, offset: int):
    left, right = 0.5, -0.25
    frames = np.array([[left, right]] * 10)
    raw = (frames * scale + offset).astype(dtype).tobytes()
    mono = pcm_to_float(raw + b"\x00", width, 2)  # a trailing partial frame is ignored
    assert mono.dtype == np.float32
    assert mono.size == 10
    np.testing.assert_allclose(mono, (left + right) / 2, atol=2 / 128)


def test_24_bit_pcm():
    values = np.array([0, 2**22, -(2**22), 2**23 - 1, -(2**23)])
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in values)
    np.testing.assert_allclose(pcm_to_float(raw, 3, 1), values / 2**23, atol=1e-6)


@pytest.mark.parametrize(
    ("rate", "width", "channels"), [(0, 2, 1), (16000, 0, 1), (16000, 2, 99), (16000.0, 2, 1)]
)
def test_impossible_formats_are_rejected(rate: object, width: object, channels: object):
    with pytest.raises(ValueError, match="audio"):
        check_format(rate, width, channels)


def test_sentences_complete_only_when_followed_by_space():
    splitter = SentenceSplitter()
    assert splitter.add("Hello Dr. Smith, the surf is up.") == []
    assert splitter.add(" Grab the board!") == ["Hello Dr. Smith, the surf is up."]
    assert splitter.add(' He said "go." Then') == ["Grab the board!", 'He said "go."']
    assert splitter.add(" left") == []
    assert splitter.finish() == "Then left"
    assert splitter.finish() == ""


def test_sentences_other_boundaries():
    assert split_sentences("It is 3.5 m high. J. R. R. Tolkien wrote it.") == [
        "It is 3.5 m high.",
        "J. R. R. Tolkien wrote it.",
    ]
    assert split_sentences("- lights on\n\n- heating off") == ["- lights on", "- heating off"]
    assert split_sentences("好的。我们走吧！") == ["好的。", "我们走吧！"]  # noqa: RUF001
    assert split_sentences("Wait... what?! Okay") == ["Wait...", "what?!", "Okay"]


def test_long_sentences_are_cut_at_clauses_then_spaces_then_hard():
    clauses = "the tide is turning, " * 40
    pieces = split_sentences(clauses)
    assert all(len(piece) <= MAX_SENTENCE_CHARS and piece.endswith(",") for piece in pieces)
    assert " ".join(pieces) == clauses.strip()
    words = split_sentences("surf " * 200)
    assert all(len(piece) <= MAX_SENTENCE_CHARS for piece in words)
    assert " ".join(words).split() == ["surf"] * 200  # cut between words, none lost
    assert [len(piece) for piece in split_long("x" * 1000, 400)] == [400, 400, 200]
    phonemes = list("h\u0259lo\u028a, w\u025c\u02d0ld ") * 50  # the voice's phonemes, the same way
    assert all(len(piece) <= 100 and piece[-1] in ", " for piece in split_long(phonemes, 100)[:-1])


def test_streamed_text_without_an_end_is_held_back_only_so_far():
    splitter = SentenceSplitter()
    spoken = [s for _ in range(2000) for s in splitter.add("Mr. ")]  # never a sentence end
    assert spoken
    assert all(len(sentence) <= MAX_SENTENCE_CHARS for sentence in spoken)
    assert len(splitter.finish()) <= MAX_SENTENCE_CHARS
    flood = split_sentences("." * 100_000 + "!" * 100_000)  # one run, scanned once
    assert all(len(piece) <= MAX_SENTENCE_CHARS for piece in flood)


def test_biasing_prompt_order_and_budget():
    phrases = merge_phrases(["Portrush", " east  strand "], ["East Strand", "Milo", 7], None)
    assert phrases == ["Portrush", "east strand", "Milo"]
    assert build_prompt(phrases, len) == "Portrush, east strand, Milo."
    assert build_prompt(phrases, len, max_tokens=24) == "Portrush, east strand."
    assert build_prompt([], len) is None
