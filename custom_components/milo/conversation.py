"""Milo's conversation agents: HA's own agent first, then the fast path, then Milo's
device commands, then the model."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
import copy
import dataclasses
from pathlib import Path
from typing import Any, Literal, TypeAlias, override

from homeassistant.components import conversation
from homeassistant.components.conversation.default_agent import DefaultAgent
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API, CONF_PROMPT, MATCH_ALL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent, llm
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.json import json_dumps
from homeassistant.util import dt as dt_util

from . import history, local_commands, persona
from .answer_deadline import AnswerDeadline
from .answers import (
    Facts,
    async_notes_facts,
    async_surf_facts,
    async_weather_facts,
    keep_remark,
)
from .budget import (
    DATE_TIME_TOKENS,
    Budget,
    PromptTooLargeError,
    fit,
    message_tokens,
    tools_tokens,
)
from .client import LLMAuthError, LLMConnectionError, LLMError, StreamEvent
from .const import (
    CONF_CONTEXT_SIZE,
    CONF_MAX_HISTORY,
    CONF_MAX_TOKENS,
    CONF_PERSONA_NAME,
    CONF_SARCASM,
    CONF_SATELLITE_DEVICE,
    CONF_TEMPERATURE,
    CONF_TIME_BUDGET,
    CONF_WEATHER_ENTITY,
    DEFAULT_CONTEXT_SIZE,
    DEFAULT_MAX_HISTORY,
    DEFAULT_MAX_TOKENS,
    DEFAULT_NAME,
    DEFAULT_SARCASM,
    DEFAULT_TEMPERATURE,
    DEFAULT_TIME_BUDGET,
    DOMAIN,
    LOGGER,
    MAX_TOOL_ROUNDS,
    SUBENTRY_CONVERSATION,
)
from .data import MiloConfigEntry
from .device_matcher import match
from .entity import subentry_device
from .exposed_names import async_home_names, async_place_names
from .fast_path import FastIntent, asks_notes, recognise
from .guards import DANGER_TURNS, REPEAT_TURNS, AnswerGuard, is_identity_question
from .line_bank import LineBankError
from .notes import (
    SentNotes,
    ahead_of_question,
    fresh_note,
    moment_now,
    split_moment,
    with_note,
)
from .origin import async_origin
from .sentences import heard
from .speculation import ModelRequest
from .speech_stream import spaced_sentences
from .spoken import SpokenFilter
from .tools import MiloAPI, ToolContext, format_tool
from .tricks import async_trick, is_trick
from .weather_report import home_weather_entity

# Greetings are Milo's to answer, in its own voice, and the weather: its fast path says
# more than HA's one-line answer (when a weather entity is exposed to Assist).
LOCAL_INTENTS_SKIPPED = {"HassRespond", "HassNevermind", "HassGetWeather"}
# The tools that look up surf and weather, and the fast-path kind of each.
FORECAST_TOOLS: dict[str, Literal["surf", "weather"]] = {
    "get_surf_forecast": "surf",
    "get_weather": "weather",
}
# A remark after the facts is a sentence or two.
REMARK_TOKENS = 40


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one conversation entity per conversation subentry."""
    try:
        lines = await hass.async_add_executor_job(persona.load_lines, Path(hass.config.config_dir))
    except LineBankError as err:
        LOGGER.error("Milo speaks its shipped lines only; yours cannot be used: %s", err)
    else:
        persona.use_lines(lines)
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_CONVERSATION:
            async_add_entities(
                [MiloConversationEntity(entry, subentry)],
                config_subentry_id=subentry.subentry_id,
            )


class MiloConversationEntity(conversation.ConversationEntity):
    """A sarcastic but friendly conversation agent."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_supports_streaming = True

    def __init__(self, entry: MiloConfigEntry, subentry: ConfigSubentry) -> None:
        """Set up the agent from its subentry."""
        self.entry = entry
        self.subentry = subentry
        self.options: Mapping[str, Any] = subentry.data
        self._attr_unique_id = subentry.subentry_id
        self._attr_device_info = subentry_device(entry, subentry)
        if self.options.get(CONF_LLM_HASS_API):
            self._attr_supported_features = conversation.ConversationEntityFeature.CONTROL
        # A prompt too big for the model is a setup problem: say so once, not every turn.
        self._warned_prompt_size = False
        self._notes = SentNotes()

    @property
    @override
    def supported_languages(self) -> list[str] | Literal["*"]:
        """Milo answers in whatever language the model speaks."""
        return MATCH_ALL

    @property
    def _persona_name(self) -> str:
        return str(self.options.get(CONF_PERSONA_NAME) or DEFAULT_NAME)

    @property
    def _sarcasm(self) -> int:
        return int(self.options.get(CONF_SARCASM, DEFAULT_SARCASM))

    @override
    async def _async_handle_message(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
    ) -> conversation.ConversationResult:
        """Answer one message."""
        try:
            context, budget, hass_apis = await self._async_prepare(user_input, chat_log)
        except conversation.ConverseError as err:
            return err.as_conversation_result()

        # HA's own agent first, so Milo never does worse than HA alone (but it has no notes:
        # its fuzzy matching takes "what's in my notes about the lamp" for the lamp's state),
        # after a question about one device, read from its state: HA's fuzzy matching started
        # a vacuum asked "is it docked?". Then Milo's word rules, which stand back for
        # anything about the home; then commands in words HA's agent missed; then the model.
        # (async_speculative_request guesses this routing before the turn ends.)
        own_device_id = context.satellite.device_id if context.satellite else None
        if not (
            llm.LLM_API_ASSIST in hass_apis
            and not asks_notes(user_input.text)
            and (
                await self._async_device_command(
                    user_input, chat_log, own_device_id, questions_only=True
                )
                or await self._async_local_intent(user_input, chat_log)
            )
        ):
            fast = self._fast_intent(user_input, chat_log, context, own_device_id)
            if fast is not None:
                await self._async_fast_path(user_input, chat_log, context, fast, budget)
            elif not (
                llm.LLM_API_ASSIST in hass_apis
                and await self._async_device_command(user_input, chat_log, own_device_id)
            ):
                await self._async_run_model(chat_log, context, budget)
        self.entry.runtime_data.speculations.turn_ended(
            user_input.device_id, chat_log.conversation_id
        )
        self._read_ahead(chat_log, context, budget)
        return conversation.async_get_result_from_chat_log(user_input, chat_log)

    def _read_ahead(
        self, chat_log: conversation.ChatLog, context: ToolContext, budget: Budget
    ) -> None:
        """Have milo-llm read the conversation as this turn left it, so that its next model
        call reads only its own turn (speculation.py): small talk after the weather read
        100-440 tokens of turns the model never saw (pipeline benchmark, run 21). With no
        tools (small talk's): the next request begins with these messages to the letter."""
        runtime = self.entry.runtime_data
        if not (self._answered(chat_log) and runtime.client.keeps_conversations(runtime.model)):
            return
        messages, _tools = self._messages(chat_log, context, [], budget, ahead=True)
        request = dataclasses.replace(self._model_request(messages, [], budget), max_tokens=1)
        runtime.speculations.read_ahead(request, runtime.client)

    async def async_speculative_request(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> ModelRequest | None:
        """The first model request this message would make, worked out on `chat_log`, a
        copy with the message asked, before the turn ends (speculation.py); None when Milo
        would, or might, answer without the model."""
        try:
            context, budget, hass_apis = await self._async_prepare(user_input, chat_log)
        except conversation.ConverseError:
            return None
        if await self._async_handles_whole(user_input, chat_log, context, hass_apis):
            return None
        # As _async_run_model: the line bank answers who Milo is, and safety.
        asked = _latest_questions(chat_log, DANGER_TURNS)
        if not asked or is_identity_question(asked[-1]) or persona.is_about_safety(asked):
            return None
        voice = persona.voice_note(asked, self._persona_name, self._sarcasm, _said_lately(chat_log))
        notes = copy.deepcopy(self._notes)  # the speculation's, not the agent's
        messages, tools = self._messages(
            chat_log, context, _offered_tools(chat_log), budget, voice, notes=notes
        )
        return self._model_request(messages, tools, budget)

    async def async_handles_whole(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> bool:
        """Whether this message, asked on `chat_log` (a copy), is a request Milo answers
        whole without the model (end_of_turn.py asks before the turn ends)."""
        try:
            context, _budget, hass_apis = await self._async_prepare(user_input, chat_log)
        except conversation.ConverseError:
            return False
        return await self._async_handles_whole(
            user_input, chat_log, context, hass_apis, whole_names=True
        )

    async def _async_handles_whole(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        context: ToolContext,
        hass_apis: list[str],
        *,
        whole_names: bool = False,
    ) -> bool:
        """HA's intents recognise it, Milo's device commands (`whole_names`: naming a
        device in full) or word rules take it (recognition only; nothing is run)."""
        own_device_id = context.satellite.device_id if context.satellite else None
        if llm.LLM_API_ASSIST in hass_apis and (
            await _home_assistant_recognises(self.hass, user_input)
            or _names_device(self.hass, user_input.text, own_device_id, whole_names=whole_names)
        ):
            return True
        return self._fast_intent(user_input, chat_log, context, own_device_id) is not None

    async def _async_prepare(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> tuple[ToolContext, Budget, list[str]]:
        """Where the message came from, the token budget and the chat log's instructions
        and tools (HA's `async_provide_llm_data`, which raises ConverseError), and the
        agent's HA APIs."""
        # The Milo that heard it moves its head and says who is talking; its room goes
        # in the note too (HA's intents already prefer that room's devices).
        origin = async_origin(
            self.hass,
            device_id=user_input.device_id,
            satellite_id=user_input.satellite_id,
            fallback=self.options.get(CONF_SATELLITE_DEVICE),
        )
        satellite = origin.satellite
        buddy = persona.buddy_prompt(satellite.person_in_view()) if satellite else ""
        context = ToolContext(
            coordinator=self.entry.runtime_data.surf,
            weather_entity=self.options.get(CONF_WEATHER_ENTITY) or home_weather_entity(self.hass),
            satellite=satellite,
            situation=" ".join(part for part in (origin.area_note(), buddy) if part),
            area=origin.area,
        )
        hass_apis = list(self.options.get(CONF_LLM_HASS_API) or [])
        budget = await self._async_budget()
        system = persona.system_prompt(
            self._persona_name, self._sarcasm, self.options.get(CONF_PROMPT, "")
        )
        # What the system prompt and the message take besides the tools, so the tools
        # chosen leave room for them; history gets what is left (see _messages).
        extra = user_input.extra_system_prompt or chat_log.extra_system_prompt or ""
        fixed = (
            message_tokens({"content": f"{system}\n{extra}\n{context.situation}"})
            + DATE_TIME_TOKENS
            + message_tokens({"content": user_input.text})
        )
        await chat_log.async_provide_llm_data(
            user_input.as_llm_context(DOMAIN),
            MiloAPI(self.hass, hass_apis, context, user_input.text, budget.prompt - fixed),
            system,
            user_input.extra_system_prompt,
        )
        return context, budget, hass_apis

    def _fast_intent(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        context: ToolContext,
        own_device_id: str | None,
    ) -> FastIntent | None:
        """What Milo's word rules answer without the model, if anything."""
        home = async_home_names(
            self.hass, persona_name=self._persona_name, own_device_id=own_device_id
        )
        return recognise(
            user_input.text,
            [s.name for s in self._spots(context)],
            home,
            previous=_previous_forecast(chat_log) or _previous_line(chat_log, self._persona_name),
        )

    async def _async_budget(self) -> Budget:
        """The agent's context size if set, else what the server reports, else the default."""
        runtime = self.entry.runtime_data
        context = (
            self.options.get(CONF_CONTEXT_SIZE)
            or await runtime.client.async_context_length(runtime.model)
            or DEFAULT_CONTEXT_SIZE
        )
        return Budget.for_context(
            int(context), int(self.options.get(CONF_MAX_TOKENS, DEFAULT_MAX_TOKENS))
        )

    async def _async_local_intent(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> bool:
        """Let HA's own agent answer what it can, as it would on its own.

        Its whole path: sentence triggers, intents, and the gazetteer that matches wordings
        and near-miss names no sentence template has (the pipeline's "prefer local" path
        skips that). It works on a copy of the chat log, so a sentence it declines leaves no
        trace; one it handles keeps its tool call and result, and Milo says its answer.
        """
        agent = conversation.async_get_agent(self.hass, conversation.HOME_ASSISTANT_AGENT)
        if not isinstance(agent, conversation.ConversationEntity):
            return False
        trial = dataclasses.replace(chat_log, content=chat_log.content.copy(), delta_listener=None)
        try:
            response = (await agent._async_handle_message(user_input, trial)).response
        except intent.IntentError as err:
            # A sentence of an intent whose integration isn't loaded ("what's the weather
            # like" without the weather integration): not HA's to answer here.
            LOGGER.debug("Home Assistant's agent could not handle %r: %s", user_input.text, err)
            return False
        # Its tool calls and results; its last line is what it said, which Milo says below.
        steps = [
            content
            for content in trial.content[len(chat_log.content) :]
            if isinstance(content, conversation.ToolResultContent)
            or (isinstance(content, conversation.AssistantContent) and content.tool_calls)
        ]
        ran = {
            call.tool_name
            for step in steps
            if isinstance(step, conversation.AssistantContent)
            for call in step.tool_calls or ()
        }
        if _declined(response) or ran & LOCAL_INTENTS_SKIPPED:
            return False
        for step in steps:
            chat_log.async_add_assistant_content_without_tools(step)
        speech = response.speech.get("plain", {}).get("speech") or "Done."
        await self._async_say(chat_log, persona.command_answer(speech, self._sarcasm))
        return True

    async def _async_device_command(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        own_device_id: str | None,
        *,
        questions_only: bool = False,
    ) -> bool:
        """Do or answer what names an exposed device (see local_commands), recorded as HA's
        agent records its intents; False when it names none."""
        handled = await local_commands.async_handle(
            self.hass, user_input, own_device_id, questions_only=questions_only
        )
        if handled is None:
            return False
        self._record_tool_run(
            chat_log,
            handled.tool_name,
            handled.args,
            llm.ToolResult(data={"speech": handled.speech}, error=handled.error),
        )
        await self._async_say(chat_log, persona.command_answer(handled.speech, self._sarcasm))
        return True

    def _record_tool_run(
        self,
        chat_log: conversation.ChatLog,
        tool_name: str,
        args: dict[str, Any],
        result: llm.ToolResult,
    ) -> None:
        """A tool Milo ran itself, in the chat log as HA's own agent records its intents (so
        a follow-up and the model see what was done)."""
        call = llm.ToolInput(tool_name=tool_name, tool_args=args, external=True)
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=self.entity_id, tool_calls=[call])
        )
        chat_log.async_add_assistant_content_without_tools(
            conversation.ToolResultContent(
                agent_id=self.entity_id, tool_call_id=call.id, tool_name=tool_name, result=result
            )
        )

    @staticmethod
    def _spots(context: ToolContext) -> list[Any]:
        return list(context.coordinator.spots.values()) if context.coordinator else []

    async def _async_say(self, chat_log: conversation.ChatLog, text: str) -> None:
        """Add a line of our own, through the delta stream so streaming TTS speaks it too."""

        async def line() -> AsyncGenerator[_Delta]:
            yield {"role": "assistant", "content": text}

        await self._async_add(chat_log, line())

    async def _async_fast_path(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        context: ToolContext,
        fast: FastIntent,
        budget: Budget,
    ) -> None:
        """Answer surf, weather and the easter eggs without trusting the model with tools."""
        if is_trick(fast.kind):
            line = await async_trick(
                fast.kind, context.satellite, self._sarcasm, self._persona_name
            )
            await self._async_say(chat_log, line)
            return
        if fast.kind == "milk":
            await self._async_say(chat_log, persona.milk_line(self._sarcasm, self._persona_name))
            return
        if fast.kind == "troggs":
            await self._async_say(chat_log, persona.troggs_line(self._sarcasm, self._persona_name))
            return
        if fast.kind == "see":
            camera = context.satellite
            line = persona.sight_answer(
                camera.camera_on() if camera else None,
                camera.person_in_view() if camera else "",
                self._sarcasm,
                self._persona_name,
                _said_lately(chat_log, turns=None),
            )
            await self._async_say(chat_log, line)
            return
        if fast.kind in ("bored", "favourite", "favourite_why", "be_friends"):
            line = persona.own_answer(
                fast.kind,
                fast.topic,
                self._sarcasm,
                self._persona_name,
                _said_lately(chat_log, turns=None),
            )
            await self._async_say(chat_log, line)
            return
        if fast.kind in ("joke", "comeback", "greeting", "goodbye"):
            # No line twice in one conversation.
            line = persona.bank_answer(
                fast.kind,
                _latest_questions(chat_log, 2),
                self._persona_name,
                self._sarcasm,
                _said_lately(chat_log, turns=None),
            )
            await self._async_say(chat_log, line)
            return
        args: dict[str, Any] = {"day": fast.day}
        said = _said_lately(chat_log)  # before this turn's tool run joins the log
        if fast.kind == "surf":
            tool_name = "get_surf_forecast"
            args["spot"] = fast.spot
            facts = await async_surf_facts(
                context.coordinator, fast.spot, fast.day, self._sarcasm, said
            )
        elif fast.kind == "notes":
            tool_name = "search_notes"
            args = {"query": fast.topic}
            facts = await async_notes_facts(self.hass, str(fast.topic))
        else:
            tool_name = "get_weather"
            facts = await async_weather_facts(
                self.hass, context.weather_entity, fast.day, self._sarcasm, said
            )
        self._record_tool_run(
            chat_log, tool_name, args, llm.ToolResult(data=facts.data, error=not facts.available)
        )
        if not facts.available or self._sarcasm == 0 or fast.kind == "notes":
            # Unavailable: a tiny model drops "unavailable" too often, so the template says
            # it, in character. Sarcasm 0: the plain facts are the whole answer. Notes: the
            # user's own words need no remark.
            await self._async_say(chat_log, facts.answer)
            return
        await self._async_add(
            chat_log, self._facts_then_remark(user_input.text, facts, context, budget, said)
        )

    async def _facts_then_remark(
        self,
        question: str,
        facts: Facts,
        context: ToolContext,
        budget: Budget,
        said: set[tuple[str, ...]],
    ) -> AsyncGenerator[_Delta]:
        """The facts line at once, so its audio starts now; then the model's remark, saying
        nothing Milo `said` in the latest turns again."""
        yield {"role": "assistant", "content": facts.said}
        system = persona.remark_prompt(self._persona_name, self._sarcasm)
        if context.situation:
            system += " " + context.situation
        request = {"role": "user", "content": f"Question: {question}\nYou said: {facts.line}"}
        budget = dataclasses.replace(budget, reply=min(budget.reply, REMARK_TOKENS))
        remarked = False
        try:
            messages, _tools = fit({"role": "system", "content": system}, [], [[request]], budget)
            remark = self._model_deltas(messages, [], budget)
            async for delta in keep_remark(
                remark,
                facts,
                system,
                question,
                persona_name=self._persona_name,
                situation=context.situation,
                said_before=said,
            ):
                remarked = True
                yield delta
        except (LLMError, PromptTooLargeError) as err:
            self._note_llm_error(err)
            # Only a server that cannot be reached is "offline"; one that answered with an
            # error gets the line for the facts, unless a remark was already said.
            if isinstance(err, LLMConnectionError):
                # After a sentence of remark the stream broke: a space between them.
                yield {"content": f"{' ' if remarked else ''}{persona.OFFLINE_SENTENCE}"}
            elif not remarked and facts.quip:
                yield {"content": facts.quip}

    async def _async_run_model(
        self, chat_log: conversation.ChatLog, context: ToolContext, budget: Budget
    ) -> None:
        """Let the model answer, running its tool calls for a bounded number of rounds.

        Asked who it is, Milo answers from its line bank: the tiny model names itself
        Lara or Alex. So it does about safety, locks and alarms, for the turns after such
        a question too: plain advice, never a joke or a made-up lock state. Otherwise the
        bank's lines nearest to the question go with it as examples of the voice, the
        answer passes the guards (guards.py), and when nothing of it is left, the bank's
        nearest line is said: never silence. Nor a long one: a model that has not started
        its answer within the agent's time budget is stopped with a line saying so.
        """
        asked = _latest_questions(chat_log, DANGER_TURNS)
        question = asked[-1] if asked else ""
        said = _said_lately(chat_log)
        name, sarcasm = self._persona_name, self._sarcasm
        if is_identity_question(question):
            await self._async_say(chat_log, persona.identity_answer(asked, name, sarcasm, said))
            return
        if persona.is_about_safety(asked):
            await self._async_say(chat_log, persona.safety_answer(asked, name, said))
            return
        voice = persona.voice_note(asked, name, sarcasm, said)
        guard = AnswerGuard(
            name,
            said_before=said,
            prompt=f"{_system_prompt(chat_log)}\n{context.situation}",
            question=question,
        )
        offered = _offered_tools(chat_log)
        deadline = AnswerDeadline(float(self.options.get(CONF_TIME_BUDGET, DEFAULT_TIME_BUDGET)))
        try:
            for _round in range(MAX_TOOL_ROUNDS):
                messages, tools = self._messages(chat_log, context, offered, budget, voice)
                model = self._model_deltas(
                    messages, tools, budget, guard, conversation_id=chat_log.conversation_id
                )
                await self._async_add(chat_log, deadline.watch(model))
                if deadline.passed:
                    if chat_log.unresponded_tool_results:
                        LOGGER.debug("Out of time after a tool round: no more model rounds")
                    await self._async_say(chat_log, persona.too_slow_answer(sarcasm, name, said))
                    return
                if not chat_log.unresponded_tool_results:
                    break
                guard.allow(_tool_results_of_question(chat_log))
            else:
                LOGGER.debug("Tool loop limit of %s rounds reached", MAX_TOOL_ROUNDS)
                await self._async_say(chat_log, persona.LOOP_LIMIT_LINE)
                return
        except (LLMError, PromptTooLargeError) as err:
            self._note_llm_error(err)
            await self._async_say(chat_log, persona.offline_answer(sarcasm))
            return
        if not self._answered(chat_log):
            await self._async_say(chat_log, persona.fallback_line(asked, name, sarcasm, said))

    def _model_deltas(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        budget: Budget,
        guard: AnswerGuard | None = None,
        *,
        conversation_id: str | None = None,
    ) -> AsyncGenerator[_Delta]:
        """One model response as chat log deltas (HA runs the tool calls); the answer
        may be one started before the turn ended, in `conversation_id` (its notes)."""
        runtime = self.entry.runtime_data
        estimate = sum(map(message_tokens, messages)) + tools_tokens(tools)
        LOGGER.debug(
            "Prompt of about %d tokens (%d allowed): %d messages, tools %s",
            estimate,
            budget.prompt,
            len(messages),
            [tool["function"]["name"] for tool in tools],
        )
        request = self._model_request(messages, tools, budget)
        # Started before the turn ended on the same words, if it is this very request.
        taken = runtime.speculations.take(request)
        if taken is None:
            events = request.send(runtime.client)
        else:
            events, speculated = taken
            if conversation_id:
                # What the model read: its clock said seconds earlier than this request's.
                self._notes.sent_instead(conversation_id, speculated.messages[-1]["content"])
        return _to_deltas(events, estimate, allow_tools=bool(tools), guard=guard)

    async def _async_add(
        self, chat_log: conversation.ChatLog, deltas: AsyncIterator[_Delta]
    ) -> None:
        """Stream deltas into the chat log, where streaming TTS speaks them as they come."""
        spaced = spaced_sentences(deltas)
        async for _content in chat_log.async_add_delta_content_stream(self.entity_id, spaced):
            pass

    def _model_request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], budget: Budget
    ) -> ModelRequest:
        return ModelRequest(
            self.entry.runtime_data.model,
            messages,
            tools,
            float(self.options.get(CONF_TEMPERATURE, DEFAULT_TEMPERATURE)),
            budget.reply,
        )

    def _messages(
        self,
        chat_log: conversation.ChatLog,
        context: ToolContext,
        tools: list[dict[str, Any]],
        budget: Budget,
        voice: str = "",
        *,
        notes: SentNotes | None = None,
        ahead: bool = False,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The chat log as OpenAI messages and the tools, trimmed to max history and budget.

        Built so that a server caching prompt prefixes reads only the newest turn: what
        changes every message rides with the questions (see notes.py), and the tools go out
        in a fixed order. That includes `voice`, the bank's example lines for this question.
        `ahead`: the conversation as the next question's request will begin, every turn
        finished, and the next question's message as far as its note can be foreseen
        (what milo-llm reads ahead, `_read_ahead`).
        """
        messages = [_to_message(content) for content in chat_log.content]
        system, rest = messages[0], messages[1:]
        system["content"], moment = split_moment(system["content"])
        users = [i for i, message in enumerate(rest) if message["role"] == "user"]
        fresh = fresh_note(context.situation, moment, voice)
        for index in users:
            question = rest[index]["content"]
            note = (notes or self._notes).note(
                chat_log.conversation_id,
                index,
                question,
                fresh if index == users[-1] and not ahead else "",
            )
            rest[index] = {**rest[index], "content": with_note(question, note)}
        max_history = int(self.options.get(CONF_MAX_HISTORY, DEFAULT_MAX_HISTORY))
        rounds = history.rounds(rest)
        if ahead:  # the next question's turn, its note begun, is the newest
            opening = ahead_of_question(context.situation, moment and moment_now(dt_util.now()))
            newest = [{"role": "user", "content": opening}] if opening else []
            turns = [turn for turn in history.recent([*rounds, newest], max_history) if turn]
        else:
            turns = history.recent(rounds, max_history)
        messages, kept = fit(system, tools, turns, budget)
        # Relevance picked them (fit drops the least relevant); a fixed order sends the
        # same set of tools as the same prompt text every time.
        return messages, sorted(kept, key=lambda tool: str(tool["function"]["name"]))

    @staticmethod
    def _answered(chat_log: conversation.ChatLog) -> bool:
        last = chat_log.content[-1]
        return isinstance(last, conversation.AssistantContent) and bool(last.content)

    def _note_llm_error(self, err: LLMError | PromptTooLargeError) -> None:
        if isinstance(err, PromptTooLargeError):
            log = LOGGER.debug if self._warned_prompt_size else LOGGER.warning
            self._warned_prompt_size = True
            log(
                "Not asking the model: %s. Raise the context size (milo-llm --n-ctx, or the "
                "agent's Context size override), lower Max tokens per answer or Max history, "
                "or shorten the extra instructions",
                err,
            )
            return
        LOGGER.warning("The model at %s failed: %s", self.entry.runtime_data.client.base_url, err)
        if isinstance(err, LLMAuthError):
            self.entry.async_start_reauth(self.hass)


def _declined(response: intent.IntentResponse) -> bool:
    """Whether HA's agent matched nothing it could act on, as HA's "prefer local" path
    judges: an intent that matched and then failed is still HA's to answer."""
    return response.response_type is intent.IntentResponseType.ERROR and (
        response.error_code
        not in (
            intent.IntentResponseErrorCode.FAILED_TO_HANDLE,
            intent.IntentResponseErrorCode.UNKNOWN,
        )
    )


def _latest_questions(chat_log: conversation.ChatLog, count: int) -> list[str]:
    """What the user said in the latest `count` turns, the newest last."""
    said = [c.content for c in chat_log.content if isinstance(c, conversation.UserContent)]
    return said[-count:]


def _previous_forecast(chat_log: conversation.ChatLog) -> FastIntent | None:
    """The surf or weather the previous turn looked up (by its tool call), for a follow-up
    such as "And tomorrow?"; None when it looked up neither."""
    users = [
        i for i, item in enumerate(chat_log.content) if isinstance(item, conversation.UserContent)
    ]
    if len(users) < 2:
        return None
    for item in reversed(chat_log.content[users[-2] : users[-1]]):
        if not isinstance(item, conversation.AssistantContent):
            continue
        for call in reversed(item.tool_calls or ()):
            kind = FORECAST_TOOLS.get(call.tool_name)
            day = call.tool_args.get("day")
            if kind is not None:
                spot = call.tool_args.get("spot")
                return FastIntent(
                    kind,
                    "tomorrow" if day == "tomorrow" else "today",
                    spot if isinstance(spot, str) else None,
                )
    return None


def _previous_line(chat_log: conversation.ChatLog, persona_name: str) -> FastIntent | None:
    """A joke or a favourite, when Milo's previous answer was one of the bank's (for
    "Another one!" or "Why them?")."""
    answers = [
        c.content
        for c in chat_log.content
        if isinstance(c, conversation.AssistantContent) and c.content
    ]
    if not answers:
        return None
    if persona.is_line("joke", answers[-1], persona_name):
        return FastIntent("joke")
    if subject := persona.favourite_said(answers[-1], persona_name):
        return FastIntent("favourite", topic=subject)
    return None


async def _home_assistant_recognises(
    hass: HomeAssistant, user_input: conversation.ConversationInput
) -> bool:
    """Whether HA's own agent may answer it: an intent it recognises, all names matched,
    but those Milo answers itself (recognition only; nothing is run)."""
    agent = conversation.async_get_agent(hass, conversation.HOME_ASSISTANT_AGENT)
    if not isinstance(agent, DefaultAgent):
        return False
    result = await agent.async_recognize_intent(user_input)
    # A sentence with names that match nothing is answered "no such device": declined.
    return (
        result is not None
        and not result.unmatched_entities
        and result.intent.name not in LOCAL_INTENTS_SKIPPED
    )


def _names_device(
    hass: HomeAssistant, text: str, own_device_id: str | None, *, whole_names: bool = False
) -> bool:
    """Whether Milo's device commands take it (local_commands), recognition only;
    `whole_names`: naming a device in full (device_matcher.match)."""
    devices = local_commands.async_devices(hass, own_device_id)
    places = async_place_names(hass)
    return match(text, devices, places, whole_names=whole_names) is not None


def _offered_tools(chat_log: conversation.ChatLog) -> list[dict[str, Any]]:
    """The chat log's tools in the server's format."""
    api = chat_log.llm_api
    return [format_tool(tool, api.custom_serializer) for tool in api.tools] if api else []


def _system_prompt(chat_log: conversation.ChatLog) -> str:
    """The instructions the model was given, as HA assembled them."""
    first = chat_log.content[0]
    return first.content if isinstance(first, conversation.SystemContent) else ""


def _tool_results_of_question(chat_log: conversation.ChatLog) -> str:
    """What the tools found for the newest question, as the model reads it."""
    results: list[str] = []
    for content in reversed(chat_log.content):
        if isinstance(content, conversation.UserContent):
            break
        if isinstance(content, conversation.ToolResultContent):
            results.append(json_dumps(content.tool_result))
    return "\n".join(results)


def _said_lately(
    chat_log: conversation.ChatLog, turns: int | None = REPEAT_TURNS
) -> set[tuple[str, ...]]:
    """The sentences Milo said in the latest `turns` (None: all) before the newest question."""
    content = chat_log.content
    users = [i for i, item in enumerate(content) if isinstance(item, conversation.UserContent)]
    if not users:
        return set()
    start = users[-1 - turns] if turns is not None and len(users) > turns else 0
    return {
        sentence
        for item in content[start : users[-1]]
        if isinstance(item, conversation.AssistantContent) and item.content
        for sentence in heard(item.content)
    }


def _to_message(content: conversation.Content) -> dict[str, Any]:
    """A chat log entry as an OpenAI chat message."""
    if isinstance(content, conversation.ToolResultContent):
        return {
            "role": "tool",
            "tool_call_id": content.tool_call_id,
            "content": json_dumps(content.result.data),
        }
    if isinstance(content, conversation.AssistantContent):
        message: dict[str, Any] = {"role": "assistant", "content": content.content or ""}
        if content.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.tool_name, "arguments": json_dumps(call.tool_args)},
                }
                for call in content.tool_calls
            ]
        return message
    return {"role": content.role, "content": content.content}


_Delta: TypeAlias = conversation.AssistantContentDeltaDict | conversation.ToolResultContentDeltaDict


async def _to_deltas(
    events: AsyncIterator[StreamEvent],
    estimate: int,
    *,
    allow_tools: bool,
    guard: AnswerGuard | None = None,
) -> AsyncGenerator[_Delta]:
    """Turn the client's stream into chat log deltas.

    Asides and a speaker label are not spoken (`SpokenFilter`), nor what the `guard`
    drops; once it has enough, the model is stopped. A tool call whose arguments are not a
    JSON object is not run: it is recorded as an external call with an error result, so
    the model sees what went wrong and can retry.
    """
    spoken = SpokenFilter()

    def said(text: str, *, end: bool = False) -> str:
        if guard is None:
            return text
        return guard.feed(text) + (guard.finish() if end else "")

    yield {"role": "assistant"}
    async for event in events:
        if event.usage:
            LOGGER.debug(
                "The server counted %d prompt tokens (estimated %d), %d of them cached",
                event.usage.prompt_tokens,
                estimate,
                event.usage.cached_tokens,
            )
        if event.content and (content := said(spoken.feed(event.content))):
            yield {"content": content}
        if guard is not None and guard.done:
            if isinstance(events, AsyncGenerator):
                await events.aclose()  # the answer is long enough: the model can stop
            return
        if not event.tool_calls or not allow_tools:
            continue
        if rest := said(spoken.flush(), end=True):
            yield {"content": rest}
        calls: list[llm.ToolInput] = []
        failures: list[conversation.ToolResultContentDeltaDict] = []
        for request in event.tool_calls:
            try:
                args = request.parsed_arguments()
            except ValueError as err:
                LOGGER.debug("Malformed tool call %s: %s", request, err)
                call = llm.ToolInput(request.name or "unknown", {}, external=True)
                failures.append(
                    {
                        "role": "tool_result",
                        "tool_call_id": call.id,
                        "tool_name": call.tool_name,
                        "result": llm.ToolResult(
                            data={"error": f"Invalid tool call arguments ({err}); "
                                  "send a JSON object matching the tool's parameters."},
                            error=True,
                        ),
                    }
                )  # fmt: skip
            else:
                # Our own ids: some servers reuse "call_0" in every response.
                call = llm.ToolInput(request.name, args)
            calls.append(call)
        yield {"tool_calls": calls}
        for failure in failures:
            yield failure
    if rest := said(spoken.flush(), end=True):
        yield {"content": rest}
