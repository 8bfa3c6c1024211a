"""What a person would check after `script/demo`: Milo heard, acted, answered and looked."""

from __future__ import annotations

import re
import socket
import wave

from conftest import installed_ha_version, loopback_sockets
from milo_demo.playback import RequestResult
from milo_demo.run import DemoRun
from milo_demo.scenario import BUDDY

from custom_components.milo.answers import RECORDED_LABEL, SURF_DOWN

# Common English function words: an English answer of a few words uses at least one.
ENGLISH_WORDS = {
    "a", "an", "the", "is", "are", "was", "i", "you", "it", "to", "of", "and", "in", "on",
    "for", "that", "this", "what", "my", "your", "be", "with", "not", "no", "do", "can",
    "just", "so", "at", "me", "today", "tomorrow", "turned", "light", "but", "if", "off",
}  # fmt: skip


def _by_kind(run: DemoRun) -> dict[str, RequestResult]:
    return {r.kind: r for r in run.results}


def test_every_request_ran_without_pipeline_errors(demo_run: DemoRun) -> None:
    assert [r.kind for r in demo_run.results] == ["device", "weather", "surf", "small_talk"]
    for result in demo_run.results:
        assert not result.error, f"{result.kind}: {result.error}"
        types = [e["type"] for e in result.events]
        for stage in ("run-start", "stt-end", "intent-end", "run-end"):
            assert stage in types, f"{result.kind}: no {stage} in {types}"


def test_transcripts_contain_the_key_words(demo_run: DemoRun) -> None:
    for result in demo_run.results:
        words = set(re.findall(r"[a-z']+", result.transcript.lower()))
        missing = [k for k in result.spoken.request.keywords if k not in words]
        assert not missing, f"{result.kind}: {missing} not in {result.transcript!r}"


def test_the_desk_lamp_really_turned_on(demo_run: DemoRun) -> None:
    device = _by_kind(demo_run)["device"]
    assert device.light_before == "off"
    assert device.light_after == "on"


def test_answers_are_non_empty_english(demo_run: DemoRun) -> None:
    for result in demo_run.results:
        answer = result.answer.strip()
        assert answer, f"{result.kind}: empty answer"
        letters = [c for c in answer if c.isalpha()]
        assert sum(c.isascii() for c in letters) >= 0.95 * len(letters), answer
        words = set(re.findall(r"[a-z]+", answer.lower()))  # "that's": "that", "s"
        assert words & ENGLISH_WORDS, f"{result.kind}: not English? {answer!r}"


def test_surf_answer_quotes_the_recorded_forecast_as_recorded(demo_run: DemoRun) -> None:
    """No internet: surf comes from the local stand-in's recorded forecast (East Strand is
    gnarly today, 1.1 / 0.9 / 0.8 m at 9am / 2pm / 6pm, fixtures/README.md), and Milo says
    first that it is recorded, not live."""
    answer = _by_kind(demo_run)["surf"].answer
    assert answer.startswith(RECORDED_LABEL), answer
    assert "gnarly" in answer.lower(), answer
    assert re.search(r"(?<![\d.])(1\.1|0\.9|0\.8)(?![\d])", answer), answer


def test_surf_sensors_say_recorded(demo_run: DemoRun) -> None:
    """HA fetched from the stand-in, and the sensors' attribution labels the data."""
    surf = demo_run.surf
    assert surf["source"] == "recorded"
    assert "marine 200" in surf["stand_in_requests"], surf
    assert "forecast 200" in surf["stand_in_requests"], surf
    assert surf["sensor"] in ("gnarly", "mid", "trash"), surf
    assert surf["attribution"].startswith("RECORDED forecast, not live"), surf


def test_surf_without_a_forecast_says_so(demo_run: DemoRun) -> None:
    """The offline path: no stand-in, no forecast, and Milo says so (no wave figures)."""
    answer = demo_run.surf["offline_answer"]
    assert answer.startswith(SURF_DOWN), answer
    assert not re.search(r"\d+(\.\d+)?\s*(m|ft|feet|metres|meters)\b", answer), answer


def test_answer_audio_reached_the_satellite(demo_run: DemoRun) -> None:
    for result in demo_run.results:
        assert result.audio_file is not None, f"{result.kind}: no audio at the satellite"
        with wave.open(str(result.audio_file), "rb") as wav_file:
            frames = wav_file.getnframes()
            seconds = frames / wav_file.getframerate()
            pcm = wav_file.readframes(frames)
        assert seconds > 0.3, f"{result.kind}: {seconds:.2f} s of audio"
        assert any(pcm[i] for i in range(1, len(pcm), 2)), f"{result.kind}: silent audio"
        assert result.timings.first_audio is not None
        assert result.timings.first_audio > 0


def test_the_head_turned_toward_the_face(demo_run: DemoRun) -> None:
    """The face sits left of centre and high in the camera frame (pan right is positive)."""
    head = demo_run.head
    assert float(head["faces_in_view"]) >= 1, head
    assert float(head["head_pan"]) < -2.0, head
    assert float(head["head_tilt"]) > 0.5, head


def test_the_enrolled_buddy_is_recognised(demo_run: DemoRun) -> None:
    """The demo enrolled the face through HA's esphome action; dlib must name it."""
    assert demo_run.head["person_in_view"] == BUDDY, demo_run.head


def test_nothing_left_running(demo_run: DemoRun) -> None:
    assert demo_run.leftovers == []
    port = int(demo_run.info["url"].rsplit(":", 1)[1])
    with loopback_sockets(), socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "HA's port still answers"


def test_the_release_that_ran_is_the_environments(demo_run: DemoRun, ha_venv: str) -> None:
    """The hass process was the one from `ha_venv` (the pinned or the newest release)."""
    assert demo_run.info["ha_version"] == installed_ha_version(ha_venv)
