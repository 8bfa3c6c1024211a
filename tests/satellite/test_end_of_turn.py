"""The integration's verdict on the words (the `end_of_turn` action), with the real
aioesphomeapi client in Home Assistant's place.

The integration judges milo-stt's speculative transcript of a pause; when it is a whole
request it calls `esphome.<node>_end_of_turn`, and the satellite ends the turn after the
rule's shorter silence instead of the full one. Audio is fed in measured amounts, so
what ended the turn is known: the verdict, or the silence alone.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    subscribe,
)

from milo_satellite.voice.end_of_speech import (
    RULES,
    TRANSCRIBED_AFTER_S,
    EndOfSpeech,
    EndOfSpeechMode,
    EndOfSpeechRule,
)
from milo_satellite.voice.satellite import Phase

BALANCED = RULES[EndOfSpeechMode.BALANCED]


def between(rule: EndOfSpeechRule) -> float:
    """A pause longer than the silence after a whole request, shorter than the full one."""
    return (rule.complete_silence_s + rule.unfinished_silence_s) / 2


@dataclass(frozen=True)
class Phrases:
    wake_word: bytes
    whole: bytes  # "Turn on the desk lamp."
    part: bytes  # "Turn on the,"


@pytest.fixture(scope="session")
def phrases(tmp_path_factory: pytest.TempPathFactory) -> Phrases:
    folder = tmp_path_factory.mktemp("end-of-turn")

    return Phrases(
        piper_phrase("Okay Nabu.", folder / "wake.wav"),
        piper_phrase("Turn on the desk lamp.", folder / "whole.wav"),
        piper_phrase("Turn on the,", folder / "part.wav"),
    )


async def _ask(
    milo: Milo,
    client: APIClient,
    phrases: Phrases,
    words: bytes,
    pause_s: float,
    *,
    ha: FakeHA | None = None,
) -> FakeHA:
    """Wake Milo and say `words`, then `pause_s` of silence, all of it heard and streamed."""
    if ha is None:
        ha = FakeHA()
        subscribe(client, ha)
        await eventually(lambda: milo.voice.connected)
    ha.audio.clear()
    milo.mic.say(silence(1.5) + phrases.wake_word + silence(0.4) + words + silence(pause_s))
    await eventually(lambda: words in ha.audio, within=30)
    await eventually(milo.mic.queue.empty)  # the last chunk is fed when it leaves the queue
    return ha


async def _end_of_turn(client: APIClient, text: str) -> None:
    """What the integration does when it judges `text` a whole request."""
    _, actions = await client.list_entities_services()
    [action] = [a for a in actions if a.name == "end_of_turn"]
    result = await client.execute_service(action, {"text": text}, return_response=False)
    assert result is not None
    assert result.success


async def _silence_then_idle(milo: Milo, client: APIClient, seconds: float) -> None:
    milo.mic.say(silence(seconds))
    await eventually(milo.mic.queue.empty)
    await caught_up(client)


@pytest.mark.parametrize("mode", ["fast", "balanced"])
async def test_a_whole_request_ends_after_the_shorter_silence(
    milo: Milo, client: APIClient, phrases: Phrases, mode: str
) -> None:
    """The verdict comes 0.3 s into the pause: the turn ends once the pause reaches the
    rule's `complete_silence_s`, well before the full second, with a graceful end."""
    milo.voice.set_end_of_speech(mode)
    rule = RULES[EndOfSpeechMode(mode)]
    ha = await _ask(milo, client, phrases, phrases.whole, pause_s=0.3)
    await _end_of_turn(client, "Turn on the desk lamp.")
    await caught_up(client)
    assert ha.stops == []  # not yet: 0.3 s is shorter than complete_silence_s
    assert milo.voice.phase is Phase.LISTENING
    await _silence_then_idle(milo, client, between(rule) - 0.3)
    await eventually(lambda: ha.stops == [False])  # end=True, not an abort
    assert milo.voice.phase is Phase.THINKING
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: milo.voice.phase is Phase.IDLE)


async def test_a_verdict_that_comes_late_ends_the_turn_at_once(
    milo: Milo, client: APIClient, phrases: Phrases
) -> None:
    """The pause is already longer than complete_silence_s when the verdict comes."""
    ha = await _ask(milo, client, phrases, phrases.whole, pause_s=between(BALANCED))
    assert ha.stops == []
    await _end_of_turn(client, "Turn on the desk lamp.")
    await eventually(lambda: ha.stops == [False])


async def test_ignored_while_the_user_speaks(
    milo: Milo, client: APIClient, phrases: Phrases
) -> None:
    """A verdict that comes while the user is still speaking is about fewer words than
    are being said (it cannot be about a pause milo-stt transcribed): ignored, the turn
    ends after the full silence."""
    ha = await _ask(milo, client, phrases, phrases.whole, pause_s=0.0)
    await _end_of_turn(client, "Turn on the desk lamp.")
    await _silence_then_idle(milo, client, between(BALANCED))
    assert ha.stops == []
    assert milo.voice.phase is Phase.LISTENING
    await _silence_then_idle(milo, client, BALANCED.unfinished_silence_s)
    await eventually(lambda: ha.stops == [False])


async def test_ignored_when_home_assistant_decides(
    milo: Milo, client: APIClient, phrases: Phrases
) -> None:
    """With "home assistant" only HA's own detector ends the turn, as before."""
    milo.voice.set_end_of_speech("home assistant")
    ha = await _ask(milo, client, phrases, phrases.whole, pause_s=0.4)
    await _end_of_turn(client, "Turn on the desk lamp.")
    await _silence_then_idle(milo, client, BALANCED.unfinished_silence_s + 0.2)
    assert ha.stops == []
    assert milo.voice.phase is Phase.LISTENING
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_END)
    await eventually(lambda: milo.voice.phase is Phase.THINKING)
    assert ha.stops == []


async def test_a_late_verdict_changes_nothing_after_its_run(
    milo: Milo, client: APIClient, phrases: Phrases
) -> None:
    """A verdict for a run that is over (Milo already thinking, or idle again) does
    nothing, and the next run waits out its pauses as usual."""
    ha = await _ask(
        milo, client, phrases, phrases.whole, pause_s=BALANCED.unfinished_silence_s + 0.1
    )
    await eventually(lambda: ha.stops == [False])  # the full second ended it
    await _end_of_turn(client, "Turn on the desk lamp.")
    assert milo.voice.phase is Phase.THINKING
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    await _end_of_turn(client, "Turn on the desk lamp.")
    assert milo.voice.phase is Phase.IDLE
    # The next request, with a pause the verdict never came for, is not cut.
    await _ask(milo, client, phrases, phrases.whole, between(BALANCED), ha=ha)
    await caught_up(client)
    assert ha.stops == [False]
    assert len(ha.starts) == 2
    assert milo.voice.phase is Phase.LISTENING


def test_the_detector_takes_a_verdict_only_in_a_transcribed_pause(phrases: Phrases) -> None:
    """The detector on its own: no verdict before any speech, none in the first moments of
    a pause (milo-stt has not transcribed it yet), one after; speech resuming drops it."""
    detector = EndOfSpeech(BALANCED)
    detector.feed(silence(0.5))
    assert not detector.judge_words_complete()  # nothing said yet
    detector.feed(phrases.whole + silence(TRANSCRIBED_AFTER_S - 0.1))
    assert not detector.judge_words_complete()
    detector.feed(silence(0.15))
    assert detector.judge_words_complete()
    assert not detector.finished
    detector.feed(phrases.part)  # the user went on
    assert not detector.words_complete
    detector.feed(silence(between(BALANCED)))
    assert not detector.finished  # the verdict was about the earlier pause
    assert detector.judge_words_complete()
    assert detector.finished  # the pause is long enough already
    assert detector.finished_at is not None


def test_balanced_ends_a_whole_request_after_its_silence(phrases: Phrases) -> None:
    """Measured in audio fed, not the clock: with the verdict the turn ends
    `complete_silence_s` after the last word, not `unfinished_silence_s`."""
    detector = EndOfSpeech(BALANCED)
    spoken = silence(0.3) + phrases.whole
    detector.feed(spoken + silence(0.3))
    assert detector.judge_words_complete()
    detector.feed(silence(2.0))
    assert detector.finished_at is not None
    waited = detector.finished_at - len(spoken) / 32000
    assert BALANCED.complete_silence_s <= waited < BALANCED.complete_silence_s + 0.05
