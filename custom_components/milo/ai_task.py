"""Milo's AI task entity: automations ask Milo's brain for text or JSON (`ai_task.generate_data`).

It talks to the conversation agent's chat server, in Milo's voice unless a task's
instructions ask otherwise. A task with a structure sends it as a JSON schema
(`response_format`), so a server with grammars (milo-llm, llama.cpp, Ollama, vLLM) can only
write JSON that fits; the answer is still checked against the structure, because a server
without them may write anything.
"""

from __future__ import annotations

import json
from typing import Any, override

from homeassistant.components import ai_task, conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import slugify
import probatio

from . import persona
from .client import LLMAuthError, LLMConnectionError, LLMError
from .const import (
    CONF_MAX_TOKENS,
    CONF_PERSONA_NAME,
    CONF_SARCASM,
    CONF_TEMPERATURE,
    DEFAULT_AI_TASK_MAX_TOKENS,
    DEFAULT_NAME,
    DEFAULT_SARCASM,
    DEFAULT_TEMPERATURE,
    DOMAIN,
    LOGGER,
    SUBENTRY_AI_TASK,
)
from .data import MiloConfigEntry
from .entity import subentry_device

# One request at a time per entity is the server's business, not Home Assistant's.
PARALLEL_UPDATES = 0
# How much of a bad answer an error message quotes.
QUOTED_CHARS = 200

TASK_INSTRUCTIONS = (
    "This is a task from a Home Assistant automation, not a chat, and you have no tools: "
    "use only the facts it gives you. Where its instructions ask for another length, "
    "tone or format, follow them instead of the style above."
)
JSON_INSTRUCTIONS = "Answer with only a JSON object that fits this JSON schema: {schema}"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one AI task entity per AI task subentry."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_AI_TASK:
            async_add_entities(
                [MiloTaskEntity(entry, subentry)], config_subentry_id=subentry.subentry_id
            )


class MiloTaskEntity(ai_task.AITaskEntity):
    """Generates text or structured data with Milo's model, in Milo's voice."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_supported_features = ai_task.AITaskEntityFeature.GENERATE_DATA

    def __init__(self, entry: MiloConfigEntry, subentry: ConfigSubentry) -> None:
        """Set up the task entity from its subentry."""
        self.entry = entry
        self.options = subentry.data
        self._attr_unique_id = subentry.subentry_id
        self._attr_device_info = subentry_device(entry, subentry)

    @override
    async def _async_generate_data(
        self, task: ai_task.GenDataTask, chat_log: conversation.ChatLog
    ) -> ai_task.GenDataTaskResult:
        """Ask the model once; return its text, or its JSON checked against the structure."""
        if task.llm_api is not None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="ai_task_tools")
        schema = (
            probatio.to_openapi(
                task.structure,
                custom_serializer=llm.selector_serializer,
                openapi_version="3.1.0",
            )
            if task.structure
            else None
        )
        text = (await self._async_ask(task, schema)).strip()
        LOGGER.debug("AI task %r answered: %s", task.name, text)
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=self.entity_id, content=text)
        )
        if not text:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="ai_task_empty")
        data: Any = text if task.structure is None else _structured(text, task.structure)
        return ai_task.GenDataTaskResult(conversation_id=chat_log.conversation_id, data=data)

    async def _async_ask(self, task: ai_task.GenDataTask, schema: dict[str, Any] | None) -> str:
        """The model's whole answer to the task."""
        runtime = self.entry.runtime_data
        system = persona.system_prompt(
            str(self.options.get(CONF_PERSONA_NAME) or DEFAULT_NAME),
            int(self.options.get(CONF_SARCASM, DEFAULT_SARCASM)),
            TASK_INSTRUCTIONS,
        )
        response_format = None
        if schema is not None:
            # In the prompt too: a server without grammars only has the prompt to go by.
            system += "\n" + JSON_INSTRUCTIONS.format(schema=json.dumps(schema))
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": slugify(task.name) or "task", "schema": schema},
            }
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": task.instructions},
        ]
        pieces: list[str] = []
        try:
            async for event in runtime.client.async_stream_chat(
                runtime.model,
                messages,
                temperature=float(self.options.get(CONF_TEMPERATURE, DEFAULT_TEMPERATURE)),
                max_tokens=int(self.options.get(CONF_MAX_TOKENS, DEFAULT_AI_TASK_MAX_TOKENS)),
                response_format=response_format,
            ):
                pieces.append(event.content or "")
        except LLMAuthError as err:
            self.entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except LLMError as err:
            LOGGER.warning(
                "AI task %r: the model at %s failed: %s", task.name, runtime.client.base_url, err
            )
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="ai_task_unreachable"
                if isinstance(err, LLMConnectionError)
                else "ai_task_failed",
                translation_placeholders={"url": runtime.client.base_url, "error": str(err)},
            ) from err
        return "".join(pieces)


def _structured(text: str, structure: probatio.Schema) -> Any:
    """The answer's JSON, checked (and coerced) by the task's structure."""
    try:
        data = json.loads(text)
    except ValueError as err:
        LOGGER.warning("The model's answer is not JSON (%s): %s", err, text)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="ai_task_invalid_json",
            translation_placeholders={"error": str(err), "answer": text[:QUOTED_CHARS]},
        ) from err
    try:
        return structure(data)
    except probatio.Invalid as err:
        LOGGER.warning("The model's JSON does not fit the structure (%s): %s", err, text)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="ai_task_wrong_structure",
            translation_placeholders={"error": str(err), "answer": text[:QUOTED_CHARS]},
        ) from err
