"""Clean audio (WebRTC noise suppression on Milo's microphone) through Home Assistant's
own ESPHome integration.

Milo hears "Okay Nabu, what time is it?" over a fan (pink noise). HA's Assist pipeline
(milo-stt, Milo's agent, milo-tts) runs twice: with `switch.milo_clean_audio` off, then
turned on from HA. HA's own debug recording (`assist_pipeline: debug_recording_dir`)
keeps the audio its speech-to-text got: between the wake word and the question, the fan
is there as it is with the switch off, and much quieter with it on.
"""

from __future__ import annotations

from pathlib import Path
import wave

from homeassistant.components.assist_pipeline.const import CONF_DEBUG_RECORDING_DIR
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import FakeCloud, Reply
from .test_esphome_satellite import (  # noqa: F401 - fixtures
    Satellite,
    _piper_say,
    _record_states,
    _state,
    _unmute_after_first_playing,
    _until,
    milo_entry,
    milo_pipeline,
    muted_config,
    no_errors_in_the_log,
    photo,
    satellite,
    wyoming_ports,
    zeroconf_flag,
)

NOISE_RMS = 600.0  # a fan about 25 dB under piper's speech
GAP_S = 0.8  # between the wake word and the question: the fan alone


def _pink_noise(count: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(7).standard_normal(count))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, count)
    return noise * NOISE_RMS / np.sqrt(np.mean(noise**2))


def _samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
        return np.frombuffer(pcm, dtype="<i2").astype(float), wav.getframerate()


@pytest.fixture
def satellite_config(tmp_path: Path) -> str:
    """The test unmutes Milo after the microphone's first playing."""
    return muted_config(tmp_path)


@pytest.fixture
def mic_wav(tmp_path: Path) -> Path:
    """The wake word, a pause, a question and a second of the fan after it, all over it."""
    wake, rate = _samples(_piper_say("Okay Nabu.", tmp_path / "wake.wav"))
    question, _ = _samples(_piper_say("What time is it?", tmp_path / "question.wav"))
    said = np.concatenate(
        [np.zeros(rate), wake, np.zeros(int(GAP_S * rate)), question, np.zeros(rate)]
    )
    path = tmp_path / "mic.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        noisy = said + _pink_noise(len(said))
        wav.writeframes(np.clip(noisy, -32768, 32767).astype("<i2").tobytes())
    return path


@pytest.fixture
async def recordings(hass: HomeAssistant, tmp_path: Path) -> Path:
    """HA's Assist pipeline saves the audio of every run here (set up before ESPHome)."""
    folder = tmp_path / "recordings"
    config = {"assist_pipeline": {CONF_DEBUG_RECORDING_DIR: str(folder)}}
    assert await async_setup_component(hass, "homeassistant", {})  # conversation needs it
    assert await async_setup_component(hass, "assist_pipeline", config)
    return folder


def _gap_rms(recording: Path) -> float:
    """RMS of what HA heard between the wake word and the question (its first 0.4 s)."""
    samples, rate = _samples(recording)
    return float(np.sqrt(np.mean(samples[int(0.05 * rate) : int(0.45 * rate)] ** 2)))


async def test_clean_audio_switched_on_from_home_assistant(
    hass: HomeAssistant,
    *,
    recordings: Path,  # first: assist_pipeline set up before ESPHome
    milo_pipeline: FakeCloud,  # noqa: F811 - the imported fixture
    milo_entry: MockConfigEntry,  # noqa: F811 - the imported fixture
    satellite: Satellite,  # noqa: F811 - the imported fixture
    mic_wav: Path,
    tmp_path: Path,
) -> None:
    milo_pipeline.default = Reply(text="Time you got a quieter fan.")
    entity_id = "assist_satellite.milo_assist_satellite"

    def runs() -> list[Path]:
        return sorted(recordings.rglob("01_stt-*.wav"))

    async def one_run(count: int) -> None:
        states = _record_states(hass, entity_id)
        satellite.speak()
        await _until(lambda: len(runs()) == count, within=60)
        await _until(lambda: "responding" in states, within=120)
        await _until(lambda: _state(hass, entity_id) == "idle", within=60)

    await _unmute_after_first_playing(hass, tmp_path, mic_wav)
    await _until(lambda: _state(hass, "switch.milo_clean_audio") == "off")
    await one_run(1)
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.milo_clean_audio"}, blocking=True
    )
    await _until(lambda: _state(hass, "switch.milo_clean_audio") == "on")
    await one_run(2)
    off, on = (_gap_rms(path) for path in runs())
    assert off > NOISE_RMS * 0.5  # the fan, as the microphone heard it
    assert on < off / 3  # suppressed before HA got it
