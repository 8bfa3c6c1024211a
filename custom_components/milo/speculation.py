"""Small talk that starts before the turn ends: the model runs on milo-stt's speculative
transcript while Home Assistant still waits for the silence that ends the turn.

milo-stt knows the words about a second before HA hands them to the agent (it publishes
them, `milo_services/stt/speculation_feed.py`; `stt_feed.py` listens). The agent that last
answered the satellite then works out the first model request it would make for those words,
on a copy of the conversation's chat log, and starts it here, keeping what streams back.
When the request arrives, the agent builds its model request as always and takes the kept
stream only if the request is the same: model, messages (history, notes, the date), tools,
temperature and token limit; only the note's time of day may say the minute the words
were heard instead, seconds earlier. So the answer is the one a request made now would get;
anything else (other words, a new conversation, another day) and the server is asked as
usual. The server serves real requests first: any other model request cancels
the speculation, and so does the end of its satellite's turn, or `MAX_AGE`.

The stream's tool calls are only kept: HA runs them when the agent reads them, as always.

The same slot reads conversations ahead (`read_ahead`): a turn answered without the model (a
device command, the weather, the line bank) would otherwise be read by the server at the
conversation's next model call, hundreds of tokens before its first word. Once the answer
has gone to speech, milo-llm is asked to read the conversation as the turn left it (one
token of answer, thrown away); it keeps that state, so the next call reads only its own
turn. Nothing takes it: any speculation or model request replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
import logging
from typing import Any

from .client import OpenAICompatibleClient, StreamEvent
from .notes import without_time

_LOGGER = logging.getLogger(__name__)

# A turn ends within HA's speech-to-text timeout; a speculation nobody took by then won't be.
MAX_AGE = 30.0
# A read-ahead waits this long after the turn, so the answer's speech is synthesised first.
READ_AHEAD_DELAY = 1.0
READ_AHEAD = "read-ahead"  # its session: no transcript is ever it


@dataclass(frozen=True)
class ModelRequest:
    """One chat completion request, as the agent sends it (compared whole)."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    temperature: float
    max_tokens: int

    def same_as(self, other: ModelRequest) -> bool:
        """Whether the two ask the same, but for the note's time of day (notes.py): the one
        part of a request that a speculation seconds earlier may say otherwise."""
        return (self.model, self.tools, self.temperature, self.max_tokens) == (
            other.model,
            other.tools,
            other.temperature,
            other.max_tokens,
        ) and _without_clock(self.messages) == _without_clock(other.messages)

    def send(self, client: OpenAICompatibleClient) -> AsyncIterator[StreamEvent]:
        return client.async_stream_chat(
            self.model,
            self.messages,
            tools=self.tools or None,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )


def _without_clock(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**message, "content": without_time(message["content"])}
        if isinstance(message.get("content"), str)
        else message
        for message in messages
    ]


class KeptStream:
    """A model stream read ahead into memory, replayed once, in order, to its taker.

    An error the stream ends with is raised to the taker at that point, as the server's
    own stream would raise it.
    """

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events: list[StreamEvent] = []
        self._error: Exception | None = None
        self._finished = False
        self._more = asyncio.Event()
        self._task = asyncio.create_task(self._read(events), name="milo speculative answer")

    async def _read(self, events: AsyncIterator[StreamEvent]) -> None:
        try:
            async for event in events:
                self._events.append(event)
                self._more.set()
        except Exception as err:  # the taker gets it, as it would from the server
            self._error = err
        finally:
            self._finished = True
            self._more.set()

    async def replay(self) -> AsyncGenerator[StreamEvent]:
        """The events so far, then the rest as they come; closing it stops the model."""
        index = 0
        try:
            while True:
                while index < len(self._events):
                    yield self._events[index]
                    index += 1
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    return
                self._more.clear()
                await self._more.wait()
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._task.cancel()


@dataclass
class _Speculation:
    stt_session: str
    device_id: str
    request: ModelRequest
    kept: KeptStream
    expiry: asyncio.TimerHandle


class Speculations:
    """A Milo entry's speculative model call (one at a time), and which conversation each
    satellite device was last answered in."""

    def __init__(self) -> None:
        self._current: _Speculation | None = None
        # The agents (subentry ids) whose "Start answers early" switch is off.
        self.agents_off: set[str] = set()
        self._last_conversations: dict[str, str] = {}
        self._read_ahead: asyncio.TimerHandle | None = None

    def last_conversation(self, device_id: str) -> str | None:
        """The conversation an agent of the entry last answered the device in."""
        return self._last_conversations.get(device_id)

    def turn_ended(self, device_id: str | None, conversation_id: str) -> None:
        """An agent answered the device: its next turn goes on in the same conversation
        while HA keeps it; a speculation for it that was not taken is spent."""
        if device_id is None:
            return
        self._last_conversations[device_id] = conversation_id
        if self._current is not None and self._current.device_id == device_id:
            self._cancel("its turn ended without it")

    def start(
        self,
        stt_session: str,
        device_id: str,
        request: ModelRequest,
        client: OpenAICompatibleClient,
    ) -> None:
        """Start `request` for the turn of `stt_session`, replacing any speculation."""
        self._cancel("a newer transcript came")
        self._stop_reading_ahead()
        loop = asyncio.get_running_loop()
        kept = KeptStream(request.send(client))
        expiry = loop.call_later(MAX_AGE, self.drop, stt_session)
        self._current = _Speculation(stt_session, device_id, request, kept, expiry)
        _LOGGER.debug("Speculative model call started for %s", stt_session)

    def read_ahead(self, request: ModelRequest, client: OpenAICompatibleClient) -> None:
        """Have the server read `request`'s conversation, `READ_AHEAD_DELAY` from now,
        unless a speculation or a model request comes first (see the module's doc)."""
        self._stop_reading_ahead()
        loop = asyncio.get_running_loop()
        self._read_ahead = loop.call_later(
            READ_AHEAD_DELAY, self._start_reading_ahead, request, client
        )

    def _start_reading_ahead(self, request: ModelRequest, client: OpenAICompatibleClient) -> None:
        self._read_ahead = None
        current = self._current
        # Another satellite's speculation goes first; an earlier read-ahead is done with.
        if current is None or current.stt_session == READ_AHEAD:
            self.start(READ_AHEAD, "", request, client)

    def _stop_reading_ahead(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead.cancel()
            self._read_ahead = None

    def drop(self, stt_session: str) -> None:
        """The speaker went on (or time ran out): that transcript's call is of no use."""
        if self._current is not None and self._current.stt_session == stt_session:
            self._cancel("its transcript was dropped")

    def take(
        self, request: ModelRequest
    ) -> tuple[AsyncGenerator[StreamEvent], ModelRequest] | None:
        """The kept stream, and the request it answers (its clock seconds earlier), when
        `request` is the speculation's; else None (and the speculation is cancelled: the
        server is needed for this request now)."""
        self._stop_reading_ahead()
        current = self._current
        if current is None:
            return None
        if not current.request.same_as(request):
            self._cancel("a different model request came")
            return None
        self._current = None
        current.expiry.cancel()
        _LOGGER.debug("Using the speculative model call of %s", current.stt_session)
        return current.kept.replay(), current.request

    def cancel(self) -> None:
        """Stop everything (the entry unloads)."""
        self._cancel("Milo is unloading")
        self._stop_reading_ahead()
        self._last_conversations.clear()

    def _cancel(self, why: str) -> None:
        if self._current is None:
            return
        _LOGGER.debug("Speculative model call of %s cancelled: %s", self._current.stt_session, why)
        self._current.kept.cancel()
        self._current.expiry.cancel()
        self._current = None
