"""A run's microphone audio on its own: kept until HA is ready, ended by Milo's end of
speech (real speech, real MicroVad) or left to HA."""

from __future__ import annotations

from satellite_helpers import Speech, silence

from milo_satellite.voice.audio import MIC_CHUNK_BYTES
from milo_satellite.voice.end_of_speech import EndOfSpeechMode
from milo_satellite.voice.request_audio import MAX_BUFFER_BYTES, RequestAudio


def _feed(audio: RequestAudio, pcm: bytes) -> bytes:
    return b"".join(audio.feed(pcm[i : i + 1024]) for i in range(0, len(pcm), 1024))


def test_kept_until_ha_is_ready_then_passed_on() -> None:
    audio = RequestAudio(EndOfSpeechMode.HOME_ASSISTANT, prefix=b"\x01\x00" * 10)
    assert audio.waiting
    assert audio.open
    said = bytes(range(256)) * 500  # 128 000 bytes: 4 s, more than is kept
    assert _feed(audio, said) == b""
    kept = audio.start_streaming()
    assert all(len(chunk) <= MIC_CHUNK_BYTES for chunk in kept)
    assert b"".join(kept) == said[-MAX_BUFFER_BYTES:]  # the last 3 s
    assert audio.streaming
    assert not audio.waiting
    assert audio.feed(b"\x02\x00" * 8) == b"\x02\x00" * 8  # HA decides: as it comes
    assert not audio.finished
    assert audio.close()
    assert not audio.open
    assert not audio.close()  # only the first close ends anything


def test_a_short_request_is_all_kept() -> None:
    audio = RequestAudio(EndOfSpeechMode.HOME_ASSISTANT, prefix=b"name")
    assert _feed(audio, b"ab" * 100) == b""
    assert b"".join(audio.start_streaming()) == b"name" + b"ab" * 100


def test_milo_hears_the_end_of_the_request(speech: Speech) -> None:
    audio = RequestAudio(EndOfSpeechMode.BALANCED)
    audio.start_streaming()
    _feed(audio, silence(0.3) + speech.question)
    assert not audio.finished
    _feed(audio, silence(1.5))
    assert audio.finished
    assert audio.detector is not None
    assert 0 < audio.detector.seconds < len(speech.question) / 32000 + 1.8
