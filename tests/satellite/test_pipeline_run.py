"""A pipeline run's edges, with the real aioesphomeapi client playing HA's part: HA
refusing to start, and an answer whose run never ends (the happy paths, errors and
timeouts are in test_satellite_voice.py)."""

from __future__ import annotations

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
from satellite_helpers import FakeHA, Milo, Speech, eventually, send, subscribe, wav_samples

from milo_satellite.voice.phase import Phase


class RefusingHA(FakeHA):
    """HA whose pipeline cannot start (aioesphomeapi answers with an error)."""

    async def handle_start(
        self, conversation_id: str, flags: int, _settings: object, wake_word: str | None
    ) -> int | None:
        await super().handle_start(conversation_id, flags, _settings, wake_word)
        return None


async def _wake(milo: Milo, client: APIClient, ha: FakeHA, speech: Speech) -> None:
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    milo.mic.say(wav_samples(speech.utterance_wav).tobytes())
    await eventually(lambda: ha.starts)


async def test_ha_refusing_to_start_plays_the_error_sound(
    milo: Milo, client: APIClient, speech: Speech
) -> None:
    ha = RefusingHA()
    await _wake(milo, client, ha, speech)
    await eventually(lambda: any(p.name.endswith("error.wav") for p in milo.played()))
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    assert ha.audio == b""  # nothing was streamed to a pipeline that is not there


async def test_an_answer_whose_run_never_ends(
    milo: Milo, client: APIClient, speech: Speech
) -> None:
    """After the answer, RUN_END may take END_GRACE_S: then Milo tells HA it is over."""
    ha = FakeHA()
    await _wake(milo, client, ha, speech)
    await eventually(lambda: speech.question in ha.audio)
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="surf")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=speech.answer_wav.as_uri())
    await eventually(lambda: ha.finished == [False])  # a file URL is refused, and said so
    assert milo.voice.phase is Phase.SPEAKING
    await eventually(lambda: milo.voice.phase is Phase.IDLE, within=15)
    await eventually(lambda: ha.stops)  # HA was told this run is over (over TCP: a moment later)
    assert not any(p.name.endswith("error.wav") for p in milo.played())  # it was answered
