"""Listen to milo-stt's speculative transcripts and start the model on them (speculation.py).

Every milo-stt that HA's Wyoming integration has set up (as for the names, stt_names.py)
gets a connection that sends `milo-subscribe`, then receives `milo-speculative` (the words,
0.22 s into a pause) and `milo-speculative-dropped` (the speaker went on). A connection that
fails is tried again every `RETRY_SECONDS` while the Wyoming entry is loaded.

The words also go to end_of_turn.py, which tells a Milo satellite when they are a whole
request, so that it ends the turn sooner.

Where the words will arrive, when milo-stt cannot say which satellite is speaking: exactly
one assist satellite must be listening, and the agent of its pipeline (its pipeline select,
or HA's preferred pipeline, as the satellite picks it) must be one of this entry's. The
conversation is the one the satellite's pipeline run started in (its run-start event, which
HA keeps for its debug view); without that record, the one Milo last answered the satellite
in, while HA keeps it (it drops one 5 to 10 minutes after its last turn:
helpers/chat_session.py), else a new one, as HA starts for a satellite's first request. A
conversation HA's `start_conversation` opened with the satellite's own words gets no model
call: the prompt that comes with them reaches only the real request, so the guess could
never be the same. Anything else: no guess. A guess that turns out wrong costs a model
call the server stops at once (speculation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.assist_pipeline import (
    OPTION_PREFERRED,
    PipelineEventType,
    PipelineNotFound,
)
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_get_pipeline,
    async_get_pipelines,
)
from homeassistant.components.assist_satellite.const import DATA_COMPONENT as SATELLITES
from homeassistant.components.conversation.chat_log import DATA_CHAT_LOGS
from homeassistant.config_entries import SIGNAL_CONFIG_ENTRY_CHANGED, ConfigEntry, ConfigEntryChange
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Context, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.ulid import ulid_now

from . import end_of_turn
from .const import LOGGER
from .conversation import MiloConversationEntity
from .data import MiloConfigEntry
from .stt_names import WYOMING, async_milo_stt_addresses

SUBSCRIBE_EVENT = "milo-subscribe"
SUBSCRIBED_EVENT = "milo-subscribed"
SPECULATIVE_EVENT = "milo-speculative"
DROPPED_EVENT = "milo-speculative-dropped"
RETRY_SECONDS = 10.0
# milo-stt closes connections that send nothing for its idle timeout (60 s by default).
PING_SECONDS = 20.0
ANSWER_TIMEOUT = 10.0
# Longer than any request Milo answers with the model; milo-stt's are far shorter.
MAX_TEXT_CHARS = 1000
SATELLITE_DOMAIN = "assist_satellite"
LISTENING = "listening"


def parse_event(data: dict[str, object] | None, *, with_text: bool) -> tuple[str, str]:
    """The session and text of a speculative event (text "" without one); ValueError with
    what is wrong when it is malformed."""
    data = data or {}
    session = data.get("stt_session")
    if not isinstance(session, str) or not session:
        raise ValueError(f"stt_session must be a non-empty string, got {session!r}")
    if not with_text:
        return session, ""
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text must be 1 to {MAX_TEXT_CHARS} characters, got {text!r:.60}")
    return session, text


class SttSpeculation:
    """Follows every milo-stt's speculative transcripts for one Milo entry."""

    def __init__(self, hass: HomeAssistant, entry: MiloConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self._following: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._stopped = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow the milo-stt set up now and later; returns the stop callback."""
        unsubscribe = [
            async_dispatcher_connect(
                self.hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._async_entry_changed
            ),
            # HA does not unload entries when it stops: the connections end here.
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop),
        ]
        self._async_follow_all()

        @callback
        def stop() -> None:
            for undo in unsubscribe:
                undo()
            self._async_stop()

        return stop

    @callback
    def _async_stop(self, _event: Event[Any] | None = None) -> None:
        self._stopped = True
        for task in self._following.values():
            task.cancel()
        self._following.clear()
        self.entry.runtime_data.speculations.cancel()

    @callback
    def _async_entry_changed(self, _change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain == WYOMING:
            self._async_follow_all()

    @callback
    def _async_follow_all(self) -> None:
        if self._stopped:
            return
        for address in async_milo_stt_addresses(self.hass):
            task = self._following.get(address)
            if task is None or task.done():
                # Not one of HA's background tasks: those are awaited by whoever waits for
                # HA to be idle, and these run until milo-stt or Milo goes.
                self._following[address] = self.hass.loop.create_task(
                    self._async_follow(*address), name=f"milo follows milo-stt {address}"
                )

    async def _async_follow(self, host: str, port: int) -> None:
        """Stay subscribed while milo-stt is set up in HA."""
        while (host, port) in async_milo_stt_addresses(self.hass):
            try:
                await self._async_subscribed(host, port)
            except (OSError, TimeoutError, ValueError) as err:
                LOGGER.debug("Not following milo-stt at %s:%s: %s", host, port, err)
            await asyncio.sleep(RETRY_SECONDS)

    async def _async_subscribed(self, host: str, port: int) -> None:
        # Imported here, as in stt_names: the wyoming package comes with HA's Wyoming
        # integration, which is set up whenever there is a milo-stt to follow.
        from wyoming.client import AsyncTcpClient  # noqa: PLC0415
        from wyoming.error import Error  # noqa: PLC0415
        from wyoming.event import Event as WyomingEvent  # noqa: PLC0415

        async with AsyncTcpClient(host, port) as client:
            await client.write_event(WyomingEvent(SUBSCRIBE_EVENT))
            async with asyncio.timeout(ANSWER_TIMEOUT):
                answer = await client.read_event()
            if answer is None:
                raise ConnectionError("milo-stt closed the connection without an answer")
            if answer.type != SUBSCRIBED_EVENT:
                refusal = Error.from_event(answer).text if Error.is_type(answer.type) else ""
                raise ValueError(refusal or f"milo-stt answered {answer.type!r}")
            LOGGER.debug("Following milo-stt's speculative transcripts at %s:%s", host, port)
            pinging = asyncio.create_task(self._async_ping(client))
            try:
                while (event := await client.read_event()) is not None:
                    if Error.is_type(event.type):
                        raise ValueError(Error.from_event(event).text)
                    self._async_on_event(event.type, event.data)
            finally:
                pinging.cancel()
            raise ConnectionError("milo-stt closed the connection")

    @staticmethod
    async def _async_ping(client: object) -> None:
        from wyoming.event import Event as WyomingEvent  # noqa: PLC0415

        with contextlib.suppress(OSError):
            while True:
                await asyncio.sleep(PING_SECONDS)
                await client.write_event(WyomingEvent("ping"))  # type: ignore[attr-defined]

    @callback
    def _async_on_event(self, event_type: str, data: dict[str, object] | None) -> None:
        if event_type not in (SPECULATIVE_EVENT, DROPPED_EVENT):
            return  # pong, and whatever a newer milo-stt adds
        try:
            session, text = parse_event(data, with_text=event_type == SPECULATIVE_EVENT)
        except ValueError as err:
            LOGGER.warning("milo-stt sent a malformed %s event: %s", event_type, err)
            return
        if event_type == DROPPED_EVENT:
            self.entry.runtime_data.speculations.drop(session)
            return
        self.entry.async_create_background_task(
            self.hass, self._async_end_turn(text), "milo judges the end of the turn"
        )
        self.entry.async_create_background_task(
            self.hass, self._async_speculate(session, text), "milo speculates"
        )

    def _turn(self, text: str) -> _Turn | None:
        """`text` as the one listening satellite's message to this entry's agent of its
        pipeline, in the conversation it will arrive in; None when Milo cannot tell."""
        satellite = _listening_satellite(self.hass)
        device_id = _device_of(self.hass, satellite) if satellite else None
        agent = self._pipeline_agent(satellite) if satellite else None
        if satellite is None or device_id is None or agent is None:
            LOGGER.debug("Nothing to do with %r: no one listening satellite with Milo", text)
            return None
        # The run's own conversation, else the satellite goes on in its last one;
        # `trial_chat_log` starts a new log, as HA does, once HA has dropped it.
        conversation_id = (
            _run_conversation(self.hass, satellite)
            or self.entry.runtime_data.speculations.last_conversation(device_id)
            or ulid_now()  # or the new one HA starts for a first request
        )
        return _Turn(agent, satellite, device_id, conversation_id, text)

    def _pipeline_agent(self, satellite: str) -> MiloConversationEntity | None:
        """This entry's agent that the satellite's pipeline asks, if it asks one."""
        engine = _pipeline_engine(self.hass, satellite)
        agent = conversation.async_get_agent(self.hass, engine) if engine else None
        if isinstance(agent, MiloConversationEntity) and agent.entry is self.entry:
            return agent
        return None

    async def _async_end_turn(self, text: str) -> None:
        """Tell the listening Milo satellite when `text` is a whole request (end_of_turn.py)."""
        if (turn := self._turn(text)) is not None:
            await end_of_turn.async_judge(
                self.hass, turn.agent, turn.user_input(self.hass), turn.trial_chat_log(self.hass)
            )

    async def _async_speculate(self, session: str, text: str) -> None:
        """Start the model on `text` for the one listening satellite, if Milo answers it."""
        if (turn := self._turn(text)) is None:
            return
        agent = turn.agent
        speculations = self.entry.runtime_data.speculations
        if agent.subentry.subentry_id in speculations.agents_off:
            LOGGER.debug("Not speculating on %r: %s starts answers late", text, agent.entity_id)
            return
        if turn.started_by_satellite(self.hass):
            LOGGER.debug("Not speculating on %r: a start_conversation's reply", text)
            return
        request = await agent.async_speculative_request(
            turn.user_input(self.hass), turn.trial_chat_log(self.hass)
        )
        if request is None:
            LOGGER.debug("Not speculating on %r: Milo answers it without the model", text)
            return
        if _listening_satellite(self.hass) != turn.satellite:
            LOGGER.debug("Not speculating on %r: the turn ended meanwhile", text)
            return
        speculations.start(session, turn.device_id, request, self.entry.runtime_data.client)


@dataclasses.dataclass(frozen=True, slots=True)
class _Turn:
    """Speculative words as the listening satellite's message to Milo's agent."""

    agent: MiloConversationEntity
    satellite: str  # its assist satellite entity
    device_id: str
    conversation_id: str
    text: str

    def user_input(self, hass: HomeAssistant) -> conversation.ConversationInput:
        return conversation.ConversationInput(
            text=self.text,
            context=Context(),
            conversation_id=self.conversation_id,
            device_id=self.device_id,
            satellite_id=self.satellite,
            language=hass.config.language,
            agent_id=self.agent.entity_id,
        )

    def _kept_chat_log(self, hass: HomeAssistant) -> conversation.ChatLog | None:
        """The conversation's chat log as HA keeps it, None once HA has dropped it."""
        return hass.data.get(DATA_CHAT_LOGS, {}).get(self.conversation_id)

    def started_by_satellite(self, hass: HomeAssistant) -> bool:
        """Whether the conversation's newest words are the satellite's own, a message HA's
        `start_conversation` said before listening (its prompt is the run's, unseen here)."""
        kept = self._kept_chat_log(hass)
        newest = kept.content[-1] if kept is not None and kept.content else None
        return isinstance(newest, conversation.AssistantContent) and (
            newest.agent_id == self.satellite
        )

    def trial_chat_log(self, hass: HomeAssistant) -> conversation.ChatLog:
        """A copy of the conversation's chat log (a new one if HA has none) with the
        words asked: the speculation works on it, never on the log HA keeps."""
        kept = self._kept_chat_log(hass)
        trial = (
            dataclasses.replace(kept, content=kept.content.copy(), delta_listener=None)
            if kept is not None
            else conversation.ChatLog(hass, self.conversation_id)
        )
        trial.content.append(conversation.UserContent(content=self.text))
        return trial


def _listening_satellite(hass: HomeAssistant) -> str | None:
    """The one assist satellite listening to a request now, if exactly one is."""
    listening = [
        state.entity_id
        for state in hass.states.async_all(SATELLITE_DOMAIN)
        if state.state == LISTENING
    ]
    return listening[0] if len(listening) == 1 else None


def _run_conversation(hass: HomeAssistant, satellite: str) -> str | None:
    """The conversation of the satellite's pipeline run now, from the run-start event HA
    keeps for its debug view (assist_pipeline's `pipeline_debug`); None without one."""
    data = hass.data.get(KEY_ASSIST_PIPELINE)
    newest: tuple[str, str] | None = None
    for runs in getattr(data, "pipeline_debug", {}).values():
        for run in runs.values():
            events = run.events
            if not events or events[0].type != PipelineEventType.RUN_START:
                continue
            started = events[0].data or {}
            if started.get("satellite_id") != satellite or any(
                event.type == PipelineEventType.RUN_END for event in events
            ):
                continue
            if (conversation_id := started.get("conversation_id")) and (
                newest is None or run.timestamp > newest[0]
            ):
                newest = (run.timestamp, conversation_id)
    return newest[1] if newest else None


def _device_of(hass: HomeAssistant, entity_id: str) -> str | None:
    entry = er.async_get(hass).async_get(entity_id)
    return entry.device_id if entry else None


def _pipeline_engine(hass: HomeAssistant, satellite: str) -> str | None:
    """The conversation agent of the pipeline the satellite runs, found as the satellite
    finds its pipeline (AssistSatelliteEntity._resolve_pipeline): the one its pipeline
    select names, else HA's preferred pipeline."""
    component = hass.data.get(SATELLITES)
    entity = component.get_entity(satellite) if component else None
    if entity is None:
        return None
    pipeline_id = None
    if (select := entity.pipeline_entity_id) is not None:
        if (chosen := hass.states.get(select)) is None:
            return None  # HA refuses to run then
        if chosen.state != OPTION_PREFERRED:
            pipeline_id = next(
                (p.id for p in async_get_pipelines(hass) if p.name == chosen.state), None
            )
    try:
        return async_get_pipeline(hass, pipeline_id).conversation_engine
    except PipelineNotFound:
        return None
