"""Small talk starts before the turn ends: the model on milo-stt's speculative transcript.

A real HA with Milo's agent and the scripted chat server (it counts the requests it gets);
the end-to-end test adds the real milo-stt behind HA's Wyoming integration. The satellite
is HA's own assist satellite entity on a device, its pipeline select naming HA's preferred
pipeline, which asks Milo's agent; its audio is not simulated: the tests set its state,
"listening" while a request is being heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from datetime import timedelta
import logging
import time
from typing import Any

from homeassistant.components import conversation, stt
from homeassistant.components.assist_pipeline import (
    OPTION_PREFERRED,
    PipelineEvent,
    PipelineRun,
    PipelineStage,
)
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.components.assist_satellite import (
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
)
from homeassistant.components.conversation import HOME_ASSISTANT_AGENT
from homeassistant.components.conversation.chat_log import DATA_CHAT_LOGS
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import chat_session, entity_registry as er
from homeassistant.helpers.chat_session import DATA_CHAT_SESSION
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    async_fire_time_changed,
    mock_config_flow,
    mock_integration,
    mock_platform,
    setup_test_component_platform,
)

from custom_components.milo.client import StreamEvent
from custom_components.milo.speculation import KeptStream, ModelRequest
from custom_components.milo.stt_speculation import SttSpeculation, parse_event

from .conftest import FakeCloud
from .test_conversation import AGENT, ask, kitchen_light, speech  # noqa: F401 - a fixture
from .test_stt_names import add_wyoming, espeak, milo_stt  # noqa: F401 - a fixture

SATELLITE = "assist_satellite.sat"
PIPELINE_SELECT = "select.sat_assistant"
REAL_TIME_LIMIT = 60.0
POLL_SECONDS = 0.05


class SimulatedSatellite(AssistSatelliteEntity):
    """A voice satellite's assist satellite entity, as HA's ESPHome integration makes one
    (device "Sat", a pipeline select), without audio: no pipeline runs here."""

    _attr_name = "Sat"
    _attr_unique_id = "sat"
    _attr_pipeline_entity_id = PIPELINE_SELECT
    _attr_device_info = DeviceInfo(identifiers={("test", "sat")}, name="Sat")

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """No runs: the tests set the state."""

    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        return AssistSatelliteConfiguration(
            available_wake_words=[], active_wake_words=[], max_active_wake_words=0
        )

    async def async_set_configuration(self, config: AssistSatelliteConfiguration) -> None:
        raise NotImplementedError  # nothing to configure


@pytest.fixture
async def satellite(hass: HomeAssistant) -> AsyncIterator[str]:
    """A voice satellite's device and its assist satellite entity, whose pipeline asks
    Milo's agent; yields the device id."""
    assert await async_setup_component(hass, "homeassistant", {})

    async def forward(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, ["assist_satellite"])
        return True

    mock_integration(hass, MockModule("test", async_setup_entry=forward))
    mock_platform(hass, "test.config_flow")  # HA imports it for every entry
    setup_test_component_platform(
        hass, "assist_satellite", [SimulatedSatellite()], from_config_entry=True
    )
    with mock_config_flow("test", ConfigFlow):  # HA sets up entries of known flows only
        owner = MockConfigEntry(domain="test")
        owner.add_to_hass(hass)
        assert await hass.config_entries.async_setup(owner.entry_id)
        await hass.async_block_till_done()
        hass.states.async_set(PIPELINE_SELECT, OPTION_PREFERRED)
        await async_update_pipeline(hass, async_get_pipeline(hass), conversation_engine=AGENT)
        entity = er.async_get(hass).async_get(SATELLITE)
        assert entity is not None
        assert entity.device_id is not None
        yield entity.device_id


async def first_turn(hass: HomeAssistant, cloud: FakeCloud, device_id: str) -> str:
    """A turn from the satellite, so Milo knows its conversation; its id."""
    cloud.reply("Hi. Try to keep up.")
    result = await ask(hass, "How is your day going?", device_id=device_id)
    assert result.conversation_id
    return result.conversation_id


async def speculate(
    hass: HomeAssistant, entry: MockConfigEntry, cloud: FakeCloud, text: str
) -> bool:
    """What Milo does with a speculative transcript from milo-stt while the satellite
    listens; whether that started a model call."""
    asked = len(cloud.chat_requests())
    await SttSpeculation(hass, entry)._async_speculate("session-1", text)
    return await wait_for(hass, lambda: len(cloud.chat_requests()) > asked, 0.5)


async def wait_for(hass: HomeAssistant, done: Callable[[], bool], seconds: float) -> bool:
    """Real-time polling, in steps of sleep (the tests' clocks are frozen)."""
    for _ in range(round(seconds / POLL_SECONDS)):
        if done():
            return True
        await hass.async_add_executor_job(time.sleep, POLL_SECONDS)
    return done()


def history(hass: HomeAssistant, conversation_id: str) -> list[tuple[str, str]]:
    return [
        (content.role, (content.content or "").strip())
        for content in hass.data[DATA_CHAT_LOGS][conversation_id].content[1:]
    ]


async def test_the_speculative_answer_is_used_when_the_words_match(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    cloud.reply("Plotting, mostly. And you?")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    assert len(cloud.chat_requests()) == 2  # started before the turn ended
    hass.states.async_set(SATELLITE, "processing")
    result = await ask(hass, "What are you up to today?", conversation_id, satellite)
    assert speech(result) == "Plotting, mostly. And you?"
    assert len(cloud.chat_requests()) == 2  # and the server was not asked again
    assert history(hass, conversation_id) == [
        ("user", "How is your day going?"),
        ("assistant", "Hi. Try to keep up."),
        ("user", "What are you up to today?"),
        ("assistant", "Plotting, mostly. And you?"),
    ]


async def test_a_wrong_guess_is_discarded_and_leaves_no_trace(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    before = history(hass, conversation_id)
    cloud.reply("A guess nobody hears.")
    cloud.reply("Cats are small tigers with day jobs.")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to")
    assert history(hass, conversation_id) == before  # the speculation is on a copy
    hass.states.async_set(SATELLITE, "processing")
    result = await ask(hass, "Tell me about cats.", conversation_id, satellite)
    assert speech(result) == "Cats are small tigers with day jobs."
    speculative, real = cloud.chat_requests()[1:]
    assert speculative["messages"][-1]["content"].endswith("What are you up to")
    assert real["messages"][-1]["content"].endswith("Tell me about cats.")
    # The next turn's prompt holds the real turns only.
    cloud.reply("Still here.")
    await ask(hass, "Are you still there?", conversation_id, satellite)
    sent = str(cloud.chat_requests()[-1]["messages"])
    assert "What are you up to" not in sent
    assert "A guess nobody hears" not in sent


async def test_words_milo_stt_dropped_are_not_used(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    """The speaker went on: even the same words later are asked afresh."""
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    cloud.reply("Too early.")
    cloud.reply("On time.")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    entry.runtime_data.speculations.drop("session-1")
    hass.states.async_set(SATELLITE, "processing")
    result = await ask(hass, "What are you up to today?", conversation_id, satellite)
    assert speech(result) == "On time."
    assert len(cloud.chat_requests()) == 3


@pytest.mark.usefixtures("kitchen_light")
@pytest.mark.parametrize(
    "text",
    [
        "Turn on the kitchen light.",  # HA's own intent
        "What's the surf like at East Strand?",  # the fast path
        "What's your name?",  # the line bank
        "How do I disarm the alarm?",  # safety: plain advice from the bank
    ],
)
async def test_no_speculation_where_the_model_does_not_answer(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str, text: str
) -> None:
    entry = await setup_entry()
    await first_turn(hass, cloud, satellite)
    hass.states.async_set(SATELLITE, "listening")
    assert not await speculate(hass, entry, cloud, text)
    assert len(cloud.chat_requests()) == 1


async def test_the_agents_switch_turns_it_off(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.milo_start_answers_early"}, blocking=True
    )
    hass.states.async_set(SATELLITE, "listening")
    assert not await speculate(hass, entry, cloud, "What are you up to today?")
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.milo_start_answers_early"}, blocking=True
    )
    cloud.reply("Plotting.")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    hass.states.async_set(SATELLITE, "processing")
    assert speech(await ask(hass, "What are you up to today?", conversation_id, satellite)) == (
        "Plotting."
    )
    assert len(cloud.chat_requests()) == 2


async def test_a_first_request_is_guessed_in_a_new_conversation(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    """A satellite Milo never answered (HA just started): the agent is its pipeline's, and
    the real request, in the conversation HA starts for it, takes the speculation."""
    entry = await setup_entry()
    cloud.reply("Plotting, mostly. And you?")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    hass.states.async_set(SATELLITE, "processing")
    result = await ask(hass, "What are you up to today?", None, satellite)
    assert speech(result) == "Plotting, mostly. And you?"
    assert len(cloud.chat_requests()) == 1  # the speculative call, taken


async def test_after_ha_drops_the_conversation_the_guess_is_a_new_one(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    """HA drops a conversation minutes after its last turn (helpers/chat_session.py): the
    satellite's next request starts a new one, and so does the guess."""
    entry = await setup_entry()
    conversation_id = await first_turn(hass, cloud, satellite)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    assert conversation_id not in hass.data[DATA_CHAT_SESSION]
    cloud.reply("Plotting, mostly. And you?")
    hass.states.async_set(SATELLITE, "listening")
    assert await speculate(hass, entry, cloud, "What are you up to today?")
    assert "Try to keep up" not in str(cloud.chat_requests()[-1]["messages"])
    hass.states.async_set(SATELLITE, "processing")
    result = await ask(hass, "What are you up to today?", conversation_id, satellite)
    assert result.conversation_id != conversation_id  # HA started a new one
    assert speech(result) == "Plotting, mostly. And you?"
    assert len(cloud.chat_requests()) == 2  # the speculative call, taken


@contextlib.asynccontextmanager
async def pipeline_run(hass: HomeAssistant, conversation_id: str) -> AsyncIterator[None]:
    """The satellite's pipeline run, started in `conversation_id` (HA's own PipelineRun,
    which records its run-start event for the debug view), then ended."""
    run = PipelineRun(
        hass,
        context=Context(),
        pipeline=async_get_pipeline(hass),
        start_stage=PipelineStage.STT,
        end_stage=PipelineStage.TTS,
        event_callback=lambda _event: None,
    )
    run.start(conversation_id, None, SATELLITE)
    try:
        yield
    finally:
        await run.end()


async def test_the_guess_goes_to_the_conversation_of_the_satellites_run(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    """HA's satellite entity picks the run's conversation; the guess follows the run's
    record of it, not the conversation Milo last answered there."""
    entry = await setup_entry()
    await first_turn(hass, cloud, satellite)  # conversation A: "Try to keep up."
    cloud.reply("Better than yours.")
    other = (await ask(hass, "How is your evening?", None)).conversation_id  # no device
    hass.states.async_set(SATELLITE, "listening")
    cloud.reply("Plotting, mostly.")
    async with pipeline_run(hass, other):
        assert await speculate(hass, entry, cloud, "What are you up to today?")
    guessed = str(cloud.chat_requests()[-1]["messages"])
    assert "Better than yours." in guessed
    assert "Try to keep up" not in guessed


async def test_no_guess_for_the_reply_to_a_start_conversation(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    """assist_satellite.start_conversation opens a conversation with the satellite's own
    words and sends its prompt with the run alone: a guess could never be the request."""
    entry = await setup_entry()
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=SATELLITE, content="Need a laugh?")
        )
    hass.states.async_set(SATELLITE, "listening")
    async with pipeline_run(hass, session.conversation_id):
        assert not await speculate(hass, entry, cloud, "Do you like being a robot?")
    assert cloud.chat_requests() == []


async def test_the_agent_is_the_one_of_the_pipeline_the_select_names(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    entry = await setup_entry()
    preferred = async_get_pipeline(hass)
    await async_update_pipeline(hass, preferred, conversation_engine=HOME_ASSISTANT_AGENT)
    milo = preferred.to_json()
    del milo["id"]
    await hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_create_item(
        {**milo, "name": "Milo's", "conversation_engine": AGENT}
    )
    hass.states.async_set(SATELLITE, "listening")
    assert not await speculate(hass, entry, cloud, "What are you up to today?")  # HA's agent
    hass.states.async_set(PIPELINE_SELECT, "Milo's")
    cloud.reply("Plotting.")
    assert await speculate(hass, entry, cloud, "What are you up to today?")


async def test_no_guess_without_one_listening_satellite_asking_milo(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, satellite: str
) -> None:
    entry = await setup_entry()
    await first_turn(hass, cloud, satellite)
    hass.states.async_set(SATELLITE, "listening")
    hass.states.async_set("assist_satellite.other", "listening")
    assert not await speculate(hass, entry, cloud, "What are you up to today?")  # two
    hass.states.async_remove("assist_satellite.other")
    await async_update_pipeline(
        hass, async_get_pipeline(hass), conversation_engine=HOME_ASSISTANT_AGENT
    )
    # Not Milo's any more: even the conversation Milo answered it in is no guess.
    assert not await speculate(hass, entry, cloud, "What are you up to today?")
    assert len(cloud.chat_requests()) == 1


@pytest.mark.slow
async def test_milo_stt_transcript_starts_the_answer_before_the_turn_ends(  # noqa: PLR0917
    hass: HomeAssistant,
    milo_stt: int,  # noqa: F811
    setup_entry,
    cloud: FakeCloud,
    satellite: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The whole way: HA's Wyoming STT streams speech to the real milo-stt and waits in
    the pause; milo-stt publishes the words; Milo starts the model; HA's turn then uses it."""
    caplog.set_level(logging.DEBUG, logger="custom_components.milo")
    _wyoming, stt_entity = await add_wyoming(hass, milo_stt)
    await setup_entry()
    assert await wait_for(hass, lambda: "Following milo-stt" in caplog.text, REAL_TIME_LIMIT)
    conversation_id = await first_turn(hass, cloud, satellite)
    cloud.reply("Plotting, mostly.")
    hass.states.async_set(SATELLITE, "listening")
    pcm = await hass.async_add_executor_job(espeak, "What are you up to today?")

    async def microphone() -> AsyncIterator[bytes]:
        """The speech, then silence until Milo has started (HA waiting for the end)."""
        silence = bytes(3200)
        for start in range(0, len(pcm), 3200):
            yield pcm[start : start + 3200]
        for _ in range(10):
            yield silence
        assert await wait_for(hass, lambda: len(cloud.chat_requests()) == 2, REAL_TIME_LIMIT)

    heard = await stt.async_get_speech_to_text_entity(hass, stt_entity).async_process_audio_stream(  # type: ignore[union-attr]
        stt.SpeechMetadata(
            language="en",
            format=stt.AudioFormats.WAV,
            codec=stt.AudioCodecs.PCM,
            bit_rate=stt.AudioBitRates.BITRATE_16,
            sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
            channel=stt.AudioChannels.CHANNEL_MONO,
        ),
        microphone(),
    )
    hass.states.async_set(SATELLITE, "processing")
    assert heard.text
    result = await ask(hass, heard.text, conversation_id, satellite)
    assert speech(result) == "Plotting, mostly."
    assert len(cloud.chat_requests()) == 2
    assert "Using the speculative model call" in caplog.text


def request(question: str, clock: str = "12:00:01") -> ModelRequest:
    note = f"(Current time is {clock}. Today's date is 2026-06-01.)\n{question}"
    messages = [{"role": "system", "content": "Be Milo."}, {"role": "user", "content": note}]
    return ModelRequest("milo", messages, [], 0.7, 120)


def test_requests_are_the_same_but_for_the_clock_seconds_earlier() -> None:
    assert request("Hi?").same_as(request("Hi?", clock="12:00:03"))
    assert not request("Hi?").same_as(request("Hi!"))
    other_day = request("Hi?")
    other_day.messages[-1]["content"] = other_day.messages[-1]["content"].replace("06-01", "06-02")
    assert not request("Hi?").same_as(other_day)
    assert not request("Hi?").same_as(ModelRequest("milo", request("Hi?").messages, [], 0.7, 60))


async def test_a_kept_stream_replays_everything_and_its_error() -> None:
    async def stream() -> AsyncIterator[StreamEvent]:
        yield StreamEvent(content="Hi.")
        await asyncio.sleep(0)
        yield StreamEvent(content=" Bye.")
        raise ConnectionError("gone")

    kept = KeptStream(stream())
    await asyncio.sleep(0.01)  # read ahead before anyone asks
    seen: list[str] = []

    async def read() -> None:
        async for event in kept.replay():
            seen.append(event.content or "")

    with pytest.raises(ConnectionError, match="gone"):
        await read()
    assert seen == ["Hi.", " Bye."]


@pytest.mark.parametrize(
    ("data", "with_text", "error"),
    [
        ({"text": "Hi", "stt_session": ""}, True, "stt_session"),
        ({"text": "Hi"}, True, "stt_session"),
        ({"stt_session": "a"}, True, "text"),
        ({"text": "  ", "stt_session": "a"}, True, "text"),
        ({"text": "x" * 1001, "stt_session": "a"}, True, "text"),
        ({"stt_session": 3}, False, "stt_session"),
    ],
)
def test_malformed_events_are_refused_with_what_is_wrong(
    data: dict[str, Any], with_text: bool, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        parse_event(data, with_text=with_text)
    assert parse_event({"text": "Hi", "stt_session": "a"}, with_text=True) == ("a", "Hi")
