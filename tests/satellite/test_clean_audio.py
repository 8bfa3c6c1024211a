"""Noise suppression on the microphone: WebRTC's real processing, switched from HA.

The speech is piper's; the noise is a seeded pink noise (a fan). What is measured is the
level of the noise alone against the raw microphone's, never the time it takes.
"""

from __future__ import annotations

from pathlib import Path

from aioesphomeapi import APIClient, SwitchState
import numpy as np
import pytest
from satellite_helpers import FakeHA, Milo, Speech, eventually, make_milo, silence, subscribe

from milo_satellite.preferences import Preferences
from milo_satellite.voice.audio import MIC_CHUNK_BYTES, MIC_RATE
from milo_satellite.voice.clean_audio import DEFAULT_ON, FRAME_BYTES, CleanAudio

NOISE_LEVEL = 600.0  # RMS, about 25 dB under piper's speech


def fan_noise(seconds: float, seed: int = 7) -> np.ndarray:
    """Pink noise: what a fan or a computer sounds like to a microphone."""
    count = int(seconds * MIC_RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(count))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, count)
    return noise * NOISE_LEVEL / np.sqrt(np.mean(noise**2))


def with_noise(pcm: bytes, noise: np.ndarray) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) + noise[: len(pcm) // 2]
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(pcm, dtype="<i2").astype(np.float64) ** 2)))


def stream(clean: CleanAudio, pcm: bytes) -> bytes:
    return b"".join(
        clean.process(pcm[i : i + MIC_CHUNK_BYTES]) for i in range(0, len(pcm), MIC_CHUNK_BYTES)
    )


def test_noise_is_suppressed_and_speech_kept(speech: Speech) -> None:
    lead = 2 * MIC_RATE * 2  # two seconds of the fan alone, then the question over it
    raw = with_noise(silence(2.0) + speech.question, fan_noise(2.0 + len(speech.question) / 32000))
    cleaned = stream(CleanAudio(noise_suppression=2, enabled=True), raw)
    assert abs(len(cleaned) - len(raw)) < FRAME_BYTES  # 10 ms frames: the rest waits
    noise_only = slice(lead // 2, lead)  # once WebRTC has heard the room for a second
    assert rms(cleaned[noise_only]) < rms(raw[noise_only]) / 3  # over 9.5 dB quieter
    assert rms(cleaned[lead:]) > rms(raw[lead:]) / 2  # the question loses under 6 dB


def test_off_passes_the_microphone_through_untouched(speech: Speech) -> None:
    clean = CleanAudio(enabled=False)
    assert stream(clean, speech.question) == speech.question
    clean.enabled = True
    assert stream(clean, speech.question) != speech.question


@pytest.mark.parametrize(
    ("noise_suppression", "auto_gain_dbfs"), [(-1, 0), (5, 0), (2, -1), (2, 32)]
)
def test_out_of_range_settings_are_refused(noise_suppression: int, auto_gain_dbfs: int) -> None:
    with pytest.raises(ValueError, match="must be 0-"):
        CleanAudio(noise_suppression, auto_gain_dbfs)


async def test_ha_switches_it_and_hears_the_cleaned_microphone(
    milo: Milo, client: APIClient, speech: Speech
) -> None:
    """The wake word still fires in the noise, and what HA hears of the gap between the
    wake word and the question is quieter than the fan; off, it is the fan as it is."""
    entities, _ = await client.list_entities_services()
    key = {e.object_id: e.key for e in entities}
    states: dict[int, object] = {}
    client.subscribe_states(lambda s: states.__setitem__(s.key, s))
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    gap = 0.6
    said = silence(1.5) + speech.wake_word + silence(gap) + speech.question + silence(2.0)
    noisy = with_noise(said, fan_noise(len(said) / 32000))
    heard_gap = slice(int(0.1 * 32000), int(0.4 * 32000))  # after the wake word, before speech

    client.switch_command(key["clean_audio"], True)
    await eventually(lambda: milo.voice.clean_audio.enabled)
    milo.mic.say(noisy)
    await eventually(lambda: len(ha.starts) == 1, within=20)
    await eventually(lambda: len(ha.audio) > gap * 32000)
    assert rms(bytes(ha.audio[heard_gap])) < NOISE_LEVEL / 3

    client.switch_command(key["clean_audio"], False)
    await eventually(lambda: not milo.voice.clean_audio.enabled)
    await eventually(lambda: _switch(states.get(key["clean_audio"])) is False)
    milo.voice.set_muted(True)  # ends the first run
    milo.voice.set_muted(False)
    ha.audio.clear()
    milo.mic.say(noisy)
    await eventually(lambda: len(ha.starts) == 2, within=20)
    await eventually(lambda: len(ha.audio) > gap * 32000)
    assert rms(bytes(ha.audio[heard_gap])) > NOISE_LEVEL * 0.7


def _switch(state: object) -> bool | None:
    return state.state if isinstance(state, SwitchState) else None


async def test_the_choice_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = await make_milo(tmp_path / "a", preferences=Preferences(state))
    client = APIClient("127.0.0.1", first.server.port, None)
    await client.connect(login=True)
    try:
        entities, _ = await client.list_entities_services()
        key = {e.object_id: e.key for e in entities}
        client.switch_command(key["clean_audio"], not DEFAULT_ON)
        await eventually(lambda: Preferences(state).get("clean_audio") is (not DEFAULT_ON))
    finally:
        await client.disconnect()
        await first.close()
    second = await make_milo(tmp_path / "b", preferences=Preferences(state))
    try:
        assert second.voice.clean_audio.enabled is not DEFAULT_ON
        assert second.device.clean_audio.value is not DEFAULT_ON  # what HA's switch shows
    finally:
        await second.close()
