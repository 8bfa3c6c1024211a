"""Milo decides when the user has finished (the "End of speech" select), with the real
aioesphomeapi client in Home Assistant's place.

The microphone hears real synthesised speech (piper). Milo must end the request itself
with VoiceAssistantAudio(end=True), which aioesphomeapi hands to HA as a graceful stop
(handle_stop(abort=False)), never in the middle of a hesitation; with "home assistant"
nothing changes: HA's own voice activity detection ends the turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import subprocess

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
import pytest
from satellite_helpers import (
    FakeHA,
    Milo,
    caught_up,
    eventually,
    piper_phrase,
    send,
    silence,
    spoken_part,
    subscribe,
)

from milo_satellite.voice.end_of_speech import RULES, EndOfSpeech, EndOfSpeechMode
from milo_satellite.voice.satellite import Phase


@dataclass(frozen=True)
class Request:
    wake_word: bytes
    first: bytes  # "Turn on the," (sounds unfinished)
    rest: bytes  # "desk lamp."


@pytest.fixture(scope="session")
def request_speech(tmp_path_factory: pytest.TempPathFactory) -> Request:
    folder = tmp_path_factory.mktemp("request")

    return Request(
        piper_phrase("Okay Nabu.", folder / "wake.wav"),
        piper_phrase("Turn on the,", folder / "first.wav"),
        piper_phrase("desk lamp.", folder / "rest.wav"),
    )


def ask(milo: Milo, speech: Request, pause_s: float) -> None:
    milo.mic.say(
        silence(0.5)
        + speech.wake_word
        + silence(0.4)
        + speech.first
        + silence(pause_s)
        + speech.rest
        + silence(3.0)
    )


@pytest.mark.parametrize("mode", ["fast", "balanced"])
async def test_milo_ends_the_request_after_the_last_word(
    milo: Milo, client: APIClient, request_speech: Request, mode: str
) -> None:
    """A hesitation of 0.8 s after "Turn on the," is not the end; the silence after
    "desk lamp." is: HA gets the whole request, then a graceful end of the audio."""
    milo.voice.set_end_of_speech(mode)
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    ask(milo, request_speech, pause_s=0.8)
    await eventually(lambda: ha.stops, within=30)
    assert ha.stops == [False]  # end=True, not an abort
    assert request_speech.first in ha.audio
    assert request_speech.rest in ha.audio  # not cut in the pause
    assert milo.voice.phase is Phase.THINKING  # without waiting for HA
    # HA's own end of speech arriving as well changes nothing.
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_END)
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="turn on the desk lamp")
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    assert ha.stops == [False]


async def test_home_assistant_decides_when_told_to(
    milo: Milo, client: APIClient, request_speech: Request
) -> None:
    """With "home assistant" Milo streams until HA's STT_VAD_END, as before the select."""
    milo.voice.set_end_of_speech("home assistant")
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    ask(milo, request_speech, pause_s=0.4)
    await eventually(lambda: request_speech.rest in ha.audio, within=30)
    await eventually(lambda: len(ha.audio) > len(request_speech.rest) + 2 * 32000)  # silence too
    assert ha.stops == []
    assert milo.voice.phase is Phase.LISTENING
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_END)
    await eventually(lambda: milo.voice.phase is Phase.THINKING)
    assert ha.stops == []  # HA ended it; Milo just stops streaming
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: milo.voice.phase is Phase.IDLE)


async def test_ha_ending_first_is_still_fine(
    milo: Milo, client: APIClient, request_speech: Request
) -> None:
    """HA's STT_VAD_END before Milo has decided: streaming stops, nothing is sent after."""
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    ask(milo, request_speech, pause_s=0.8)
    await eventually(lambda: request_speech.first in ha.audio, within=30)
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_END)
    await eventually(lambda: milo.voice.phase is Phase.THINKING)
    await caught_up(client)  # audio sent before the phase changed may still be on its way
    streamed = len(ha.audio)
    milo.mic.say(silence(2.0))
    await eventually(milo.mic.queue.empty)
    assert len(ha.audio) == streamed
    assert ha.stops == []


def test_the_end_comes_after_the_last_word_not_in_the_pause(request_speech: Request) -> None:
    """The detector on its own: every setting waits out the hesitation, and HA is sent the
    whole request with the pause shortened (so HA's own detector does not end it there)."""
    pause = silence(0.8)
    audio = silence(0.3) + request_speech.first + pause + request_speech.rest
    for mode in (EndOfSpeechMode.FAST, EndOfSpeechMode.BALANCED):
        detector = EndOfSpeech(RULES[mode])
        heard = audio + silence(0.2)
        sent = detector.feed(heard)
        assert not detector.finished
        assert request_speech.first in sent
        assert request_speech.rest in sent
        assert len(heard) - len(sent) >= len(silence(0.35))  # the pause reached HA as < 0.45 s
        detector.feed(silence(2.0))
        assert detector.finished
        assert detector.finished_at is not None
        assert detector.finished_at > len(audio) / 32000
        assert detector.feed(silence(1.0)) == b""  # nothing after the end


def _espeak(text: str, folder: Path) -> bytes:
    """espeak-ng's voice (its statements fall clearly in pitch), without its own silence."""
    wav = folder / "espeak.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), text], check=True, timeout=60
    )
    return spoken_part(wav)


@pytest.mark.parametrize(
    ("text", "sounds_finished"),
    [("Turn off the kitchen lights.", True), ("Turn on the,", False)],
)
def test_fast_ends_a_finished_statement_sooner(
    tmp_path: Path, text: str, sounds_finished: bool
) -> None:
    """`fast` ends a statement whose voice fell after the short silence, and waits the full
    one after a phrase that stops mid-way; `balanced` always waits the full one. (Seconds
    of audio fed, not of the clock.)"""
    audio = silence(0.3) + _espeak(text, tmp_path)
    spoken = len(audio) / 32000
    fast = RULES[EndOfSpeechMode.FAST]
    for mode, wait in (
        (EndOfSpeechMode.FAST, fast.finished_silence_s if sounds_finished else None),
        (EndOfSpeechMode.BALANCED, None),
    ):
        detector = EndOfSpeech(RULES[mode])
        detector.feed(audio + silence(2.0))
        assert detector.finished_at is not None
        waited = detector.finished_at - spoken
        expected = wait if wait is not None else RULES[mode].unfinished_silence_s
        assert expected <= waited < expected + 0.05, (mode, waited)
        if mode == EndOfSpeechMode.FAST:
            assert detector.sounded_finished is sounds_finished


def test_a_silent_turn_ends_at_the_hard_maximum() -> None:
    """Nothing said: Milo never ends a turn on silence alone, only at max_s."""
    detector = EndOfSpeech(RULES[EndOfSpeechMode.FAST])
    assert detector.feed(silence(5.0)) == silence(5.0)  # all of it: HA's detector judges too
    assert not detector.finished
    detector.feed(silence(RULES[EndOfSpeechMode.FAST].max_s))
    assert detector.finished
    assert detector.sounded_finished is None
