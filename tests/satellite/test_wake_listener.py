"""The wake listener on its own: real microWakeWord models hear real speech (piper)."""

from __future__ import annotations

import pytest
from satellite_helpers import Speech, silence

from milo_satellite.voice.wake_listener import WakeListener
from milo_satellite.voice.wakeword import NAME_MODE, available_models


def _listener(**options: str) -> tuple[WakeListener, list[tuple[str, bytes]]]:
    heard: list[tuple[str, bytes]] = []
    listener = WakeListener(
        available_models(),
        lambda *wake: heard.append(wake),
        **{"wake_word": "okay_nabu", **options},
    )
    return listener, heard


def _say(hear: object, pcm: bytes, chunk: int = 1024) -> list[object]:
    """What `hear(chunk)` returns for each microphone-sized chunk of `pcm`."""
    return [hear(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)]  # type: ignore[operator]


def test_the_wake_word_is_heard_once(speech: Speech) -> None:
    listener, heard = _listener()
    _say(listener.hear_wake, silence(0.5) + speech.wake_word + silence(0.5))
    assert heard == [("Okay Nabu", b"")]


def test_another_model_does_not_hear_it(speech: Speech) -> None:
    listener, heard = _listener(wake_word="hey_jarvis")
    _say(listener.hear_wake, silence(0.5) + speech.wake_word + silence(0.5))
    assert heard == []


def test_the_stop_word_is_the_wake_word_unless_set(speech: Speech) -> None:
    said = silence(0.5) + speech.wake_word + silence(0.5)
    listener, heard = _listener()
    assert any(_say(listener.hear_stop, said))
    listener, heard = _listener(stop_word="hey_jarvis")
    assert not any(_say(listener.hear_stop, said))
    assert heard == []  # the stop word never starts a run


def test_name_mode_has_no_stop_word_and_needs_an_stt(speech: Speech) -> None:
    listener, _ = _listener()
    with pytest.raises(ValueError, match=r"needs voice\.stt_uri"):
        listener.select(NAME_MODE)
    with pytest.raises(ValueError, match="unknown wake word 'hey_milo'"):
        listener.select("hey_milo")
    assert listener.wake_word == "okay_nabu"  # a refused choice changes nothing
    listener, _ = _listener(stt_uri="tcp://127.0.0.1:1")
    listener.select(NAME_MODE)
    assert not any(_say(listener.hear_stop, speech.wake_word + silence(0.5)))
    listener.close()


def test_the_configuration_ha_shows() -> None:
    listener, _ = _listener(stt_uri="tcp://127.0.0.1:1", wake_word="alexa")
    config = listener.configuration()
    assert [w.id for w in config.available_wake_words] == [  # type: ignore[attr-defined]
        "alexa",
        "hey_jarvis",
        "hey_mycroft",
        "okay_nabu",
        NAME_MODE,
    ]
    assert list(config.active_wake_words) == ["alexa"]  # type: ignore[attr-defined]
    assert listener.options() == [*available_models(), NAME_MODE]
