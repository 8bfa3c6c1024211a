"""The two speakers the benchmark compares, both on the same milo-llm, behind the recorder.

- Milo: the real agent in Home Assistant, asked through an Assist pipeline run from text,
  exactly as a satellite's transcript reaches it. Its times come from HA's own pipeline
  events: first text is the first streamed delta with content after intent-start.
- Baseline: the same model with a plain persona as its only system prompt, over the
  OpenAI-compatible API, keeping its own history; timed at the client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
import time
from typing import Any

import aiohttp
from milo_demo.playback import RUN_S, _finished_events, _new_run, known_runs

from custom_components.milo.client import OpenAICompatibleClient
from custom_components.milo.const import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE

from .stack import CharacterStack

BASELINE_PERSONA = "You are Milo, a sarcastic but friendly desk robot."


@dataclass
class Reply:
    """One answer, how long it took, and what the model was asked for it."""

    text: str
    first_text_s: float | None  # time to the first streamed text (None: nothing streamed)
    total_s: float
    conversation_id: str | None = None
    model_requests: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


class MiloAgent:
    """Milo's agent in HA, one pipeline run (intent stage only) per request."""

    name = "milo"

    def __init__(self, stack: CharacterStack) -> None:
        self.stack = stack

    async def ask(self, text: str, conversation_id: str | None) -> Reply:
        """Send one request in a conversation (None starts a new one)."""
        hass, pipeline_id = self.stack.hass, self.stack.pipeline_id
        assert hass.ws is not None
        seen = await known_runs(hass, pipeline_id)
        self.stack.recorder.take()
        await hass.ws.call(
            "assist_pipeline/run",
            start_stage="intent",
            end_stage="intent",
            input={"text": text},
            pipeline=pipeline_id,
            conversation_id=conversation_id,
            timeout=RUN_S,
        )
        async with asyncio.timeout(RUN_S):
            run_id = await _new_run(hass, pipeline_id, seen)
            events = await _finished_events(hass, pipeline_id, run_id)
        return self._reply(events)

    def _reply(self, events: list[dict[str, Any]]) -> Reply:
        requests = self.stack.recorder.take()
        start = next((e for e in events if e["type"] == "intent-start"), None)
        end = next((e for e in events if e["type"] == "intent-end"), None)
        if start is None or end is None:
            error = next((e["data"] for e in events if e["type"] == "error"), {"events": "?"})
            return Reply("", None, 0.0, error=str(error), model_requests=requests)
        first = next(
            (
                e
                for e in events
                if e["type"] == "intent-progress"
                and ((e.get("data") or {}).get("chat_log_delta") or {}).get("content")
            ),
            None,
        )
        output = end["data"]["intent_output"]
        return Reply(
            text=output["response"]["speech"].get("plain", {}).get("speech", ""),
            first_text_s=None if first is None else _ts(first) - _ts(start),
            total_s=_ts(end) - _ts(start),
            conversation_id=output.get("conversation_id"),
            model_requests=requests,
        )


class BaselineAgent:
    """The same model with only a plain persona: no Milo machinery at all."""

    name = "baseline"

    def __init__(self, stack: CharacterStack, session: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.client = OpenAICompatibleClient(session, stack.recorder.base_url, None)
        self.model = ""

    async def ask(self, history: list[dict[str, Any]], text: str) -> Reply:
        """Answer `text` after `history` (OpenAI messages, without the system prompt);
        the caller keeps the history."""
        if not self.model:
            self.model = (await self.client.async_list_models())[0]
        messages = [
            {"role": "system", "content": BASELINE_PERSONA},
            *history,
            {"role": "user", "content": text},
        ]
        self.stack.recorder.take()
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        async for event in self.client.async_stream_chat(
            self.model, messages, temperature=DEFAULT_TEMPERATURE, max_tokens=DEFAULT_MAX_TOKENS
        ):
            if event.content:
                if first is None:
                    first = time.perf_counter() - started
                pieces.append(event.content)
        return Reply(
            text="".join(pieces).strip(),
            first_text_s=first,
            total_s=time.perf_counter() - started,
            model_requests=self.stack.recorder.take(),
        )
