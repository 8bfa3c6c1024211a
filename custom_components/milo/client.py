"""A small client for OpenAI-compatible chat servers (milo-llm, Ollama, llama.cpp, vLLM).

Written against the wire format rather than the `openai` package, so the integration
needs no requirements and uses Home Assistant's shared aiohttp session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import json
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from .const import CHAT_TIMEOUT, CONNECT_TIMEOUT, LOGGER

# A dead host fails fast; a slow model on a Pi may take its time before the first token.
CHAT_TIMEOUTS = aiohttp.ClientTimeout(
    total=CHAT_TIMEOUT, sock_connect=CONNECT_TIMEOUT, sock_read=CHAT_TIMEOUT
)
# Bound what one streamed event may hold, so a broken server cannot make us buffer forever.
MAX_EVENT_BYTES = 1 << 20
# Where servers report a model's context window in its /models entry: milo-llm and
# OpenRouter say `context_length`, vLLM `max_model_len`. Ollama and llama.cpp's server
# report none (llama.cpp's `meta.n_ctx_train` is the training size, not the server's).
CONTEXT_LENGTH_FIELDS = ("context_length", "max_model_len")


class LLMError(Exception):
    """The chat server could not give an answer."""


class LLMConnectionError(LLMError):
    """The server is unreachable or timed out."""


class LLMAuthError(LLMError):
    """The server rejected the API key."""


class LLMResponseError(LLMError):
    """The server answered with something that is not a usable response."""


@dataclass(slots=True)
class ToolCallRequest:
    """A complete tool call from the model; `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """Return the arguments, raising ValueError when they are not a JSON object."""
        if not self.arguments.strip():
            return {}
        value = json.loads(self.arguments)
        if not isinstance(value, dict):
            raise ValueError("tool arguments are not a JSON object")  # noqa: TRY004
        if not self.name:
            raise ValueError("tool call without a name")
        return value


@dataclass(frozen=True, slots=True)
class Usage:
    """The server's own count of a request's prompt (the only exact count there is)."""

    prompt_tokens: int
    cached_tokens: int


@dataclass(slots=True)
class StreamEvent:
    """One piece of a streamed answer: text, the finished tool calls, or the usage."""

    content: str | None = None
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage | None = None


class OpenAICompatibleClient:
    """Talk to `/models` and `/chat/completions` of an OpenAI-compatible base URL."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str | None):
        """Remember where and how to connect."""
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Context windows the server reported, by model id; None until a /models answer.
        self._context_lengths: dict[str, int | None] | None = None
        # The models milo-llm serves (its cards say `owned_by: milo`), known likewise.
        self._milo_models: set[str] = set()

    async def async_list_models(self) -> list[str]:
        """Return the model ids the server offers, noting the context windows they report."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                async with self._session.get(
                    f"{self.base_url}/models", headers=self._headers
                ) as resp:
                    _raise_for_status(resp)
                    body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientConnectionError) as err:
            raise LLMConnectionError(str(err) or type(err).__name__) from err
        except (aiohttp.ClientError, ValueError) as err:
            raise LLMResponseError(f"invalid /models response: {err}") from err
        try:
            cards = {str(card["id"]): card for card in body["data"]}
        except (KeyError, TypeError) as err:
            raise LLMResponseError("the /models response has no data list") from err
        self._context_lengths = {model: _context_length(card) for model, card in cards.items()}
        self._milo_models = {m for m, card in cards.items() if card.get("owned_by") == "milo"}
        return list(cards)

    def keeps_conversations(self, model: str) -> bool:
        """Whether `model` is milo-llm's, which keeps each conversation's state for its next
        request (False until a /models answer said so)."""
        return model in self._milo_models

    async def async_context_length(self, model: str) -> int | None:
        """The context window the server reports for `model`, None if it reports none.

        Known after the first successful model list (setup's connection test does one);
        asked again while unknown, so a server that was down at setup is still read.
        """
        if self._context_lengths is None:
            try:
                await self.async_list_models()
            except LLMError as err:
                LOGGER.debug("Cannot read the context size from %s: %s", self.base_url, err)
                return None
        assert self._context_lengths is not None
        return self._context_lengths.get(model)

    async def async_stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one chat completion: text as it comes, tool calls once complete.

        `response_format` is OpenAI's (`{"type": "json_schema", ...}`): milo-llm, llama.cpp,
        Ollama and vLLM hold the answer to the schema with a grammar.
        """
        payload: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            # The server's token count, for the debug log's prompt size and cache hits.
            "stream_options": {"include_usage": True},
        }
        if tools:
            payload["tools"] = tools
        if temperature is not None:
            payload["temperature"] = temperature
        if max_tokens:
            payload["max_tokens"] = max_tokens
        if response_format:
            payload["response_format"] = response_format
        calls: dict[int, ToolCallRequest] = {}
        try:
            async with self._session.post(
                f"{self.base_url}/chat/completions",
                json=payload,
                headers=self._headers,
                timeout=CHAT_TIMEOUTS,
            ) as resp:
                _raise_for_status(resp)
                async for chunk in _sse_chunks(resp):
                    if text := _merge_chunk(chunk, calls):
                        yield StreamEvent(content=text)
                    if usage := _usage(chunk):
                        yield StreamEvent(usage=usage)
        except (TimeoutError, aiohttp.ClientConnectionError) as err:
            raise LLMConnectionError(str(err) or type(err).__name__) from err
        except aiohttp.ClientError as err:
            raise LLMResponseError(str(err)) from err
        if calls:
            yield StreamEvent(tool_calls=[calls[index] for index in sorted(calls)])


def _raise_for_status(resp: aiohttp.ClientResponse) -> None:
    if resp.status in (401, 403):
        raise LLMAuthError(f"HTTP {resp.status}")
    if resp.status >= 400:
        raise LLMResponseError(f"HTTP {resp.status} from {resp.url.path}")


async def _sse_chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON objects of a server-sent-event stream until `[DONE]`."""
    data_lines: list[str] = []
    size = 0
    while True:
        try:
            raw = await resp.content.readline()
        except (ValueError, LineTooLong) as err:  # longer than aiohttp's line buffer
            raise LLMResponseError("stream line too long") from err
        if not raw:
            break
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.startswith("data:"):
            size += len(line)
            if size > MAX_EVENT_BYTES:
                raise LLMResponseError("stream event too large")
            data_lines.append(line[5:].lstrip())
            continue
        if line or not data_lines:
            continue  # comments, event names, keep-alives
        data = "\n".join(data_lines)
        data_lines, size = [], 0
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as err:
            raise LLMResponseError("stream event is not JSON") from err
        if isinstance(chunk, dict):
            if "error" in chunk:
                raise LLMResponseError(f"server error: {chunk['error']}")
            yield chunk
    if data_lines and (data := "\n".join(data_lines)) != "[DONE]":
        LOGGER.debug("Stream ended inside an event: %s", data[:200])


def _context_length(card: dict[str, Any]) -> int | None:
    """A model card's context window, from the first field that holds a positive number."""
    for name in CONTEXT_LENGTH_FIELDS:
        value = card.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _usage(chunk: dict[str, Any]) -> Usage | None:
    usage = chunk.get("usage")
    if not isinstance(usage, dict) or not isinstance(usage.get("prompt_tokens"), int):
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(usage["prompt_tokens"], cached if isinstance(cached, int) else 0)


def _merge_chunk(chunk: dict[str, Any], calls: dict[int, ToolCallRequest]) -> str:
    """Fold a chunk's tool-call deltas into `calls`; return its text delta."""
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta") or choices[0].get("message") or {}
    for position, call in enumerate(delta.get("tool_calls") or []):
        index = call.get("index", position)
        function = call.get("function") or {}
        current = calls.setdefault(index, ToolCallRequest(id="", name="", arguments=""))
        current.id = call.get("id") or current.id
        # OpenAI names the function in the first piece only; llama_cpp.server repeats it in
        # every piece (with the id): a repeat is not more of the name.
        name = function.get("name") or ""
        if name != current.name:
            current.name += name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some servers send an object, not a string
            arguments = json.dumps(arguments)
        current.arguments += arguments or ""
    content = delta.get("content")
    return content if isinstance(content, str) else ""
