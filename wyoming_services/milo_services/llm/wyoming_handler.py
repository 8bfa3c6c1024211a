"""The Wyoming side: a `handle` program that answers transcripts.

Home Assistant's Wyoming integration turns a `handle` program into a
conversation agent: it sends a `transcript` (with `conversation_id` in its
context) and waits for `handled`. Because we advertise
`supports_handled_streaming`, the answer also streams as `handled-start`,
`handled-chunk`s and `handled-stop`, with the full `handled` sent before the
stop for clients that only know the old event (wyoming 1.10 protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
import re
from typing import ClassVar
import uuid

from wyoming.asr import Transcript
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop
from wyoming.info import Attribution, HandleModel, HandleProgram, Info

from .. import __version__
from ..common.handler import EventError, ServiceHandler
from ..common.protocol import EventLimits
from .conversations import ConversationMemory
from .embedded import EMBEDDED_ATTRIBUTION, embedded_model_path
from .engine import ChatEngine, ModelUnavailableError
from .model import ContextOverflowError, GenerationRequest
from .prompt import PromptError

_LOGGER = logging.getLogger(__name__)

PROGRAM_NAME = "milo-llm"
DEFAULT_MAX_TOKENS = 80
"""About 60 words, 20 seconds of speech: enough for a desk robot, and it bounds a rambling
small model (the spoken text is cut back to the last full sentence)."""


def build_info(model_path: Path, model_id: str, model_name: str) -> Info:
    """The `info` answer to `describe`."""
    embedded = model_path == embedded_model_path()
    model_attribution = (
        Attribution(name=EMBEDDED_ATTRIBUTION[0], url=EMBEDDED_ATTRIBUTION[1])
        if embedded
        else Attribution(name=model_name, url=model_path.as_uri())
    )
    model = HandleModel(
        name=model_id,
        attribution=model_attribution,
        installed=True,
        description=f"{model_name} (GGUF)",
        version=None,
        # The embedded model speaks English; for another GGUF we can't tell, and an
        # empty list makes Home Assistant offer the agent for every language.
        languages=["en"] if embedded else [],
    )
    program = HandleProgram(
        name=PROGRAM_NAME,
        attribution=Attribution(name="llama.cpp", url="https://github.com/ggml-org/llama.cpp"),
        installed=True,
        description="Milo's brain: a local LLM with Milo's sarcastic but friendly persona",
        version=__version__,
        models=[model],
        supports_handled_streaming=True,
    )
    return Info(handle=[program])


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*(?=\s|$)")


def complete_sentences(text: str) -> str:
    """Cut an answer that hit the token limit back to its last full sentence.

    The streamed chunks already went out, but `handled` is what Home Assistant
    speaks, and a sentence broken off mid-word sounds like a crash.
    """
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].strip() if ends else text


class LlmEventHandler(ServiceHandler):
    """One Wyoming connection: answers each transcript with the model."""

    # Transcripts are small JSON; nobody should send this service audio.
    limits: ClassVar[EventLimits] = EventLimits(max_data_bytes=256 * 1024, max_payload_bytes=0)

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        info: Info,
        *,
        engine: ChatEngine,
        memory: ConversationMemory,
        system_prompt: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__(reader, writer, info)
        self._engine = engine
        self._memory = memory
        self._system_prompt = system_prompt
        self._max_tokens = max_tokens
        self._answering: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Answering happens in a task; count it, so a shutdown lets the answer finish."""
        return self._answering is not None and not self._answering.done()

    async def handle_request(self, event: Event) -> bool:
        if not Transcript.is_type(event.type):
            return await super().handle_request(event)
        transcript = Transcript.from_event(event)
        if not isinstance(transcript.text, str) or not transcript.text.strip():
            raise EventError("empty-transcript", "transcript has no text to answer")
        if transcript.context is not None and not isinstance(transcript.context, dict):
            raise EventError("bad-event", "transcript context must be an object")
        # Answer in a task so the read loop keeps running and notices a disconnect.
        self._answering = asyncio.create_task(self._answer(transcript, self._answering))
        return True

    async def disconnect(self) -> None:
        """The client is gone: stop generating for it."""
        if self._answering is not None and not self._answering.done():
            self._answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._answering

    async def _answer(self, transcript: Transcript, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # one answer at a time per connection, in order
            with contextlib.suppress(Exception):
                await previous
        context = dict(transcript.context or {})
        conversation_id = str(context.get("conversation_id") or uuid.uuid4().hex)
        context["conversation_id"] = conversation_id
        request = GenerationRequest(
            messages=[
                {"role": "system", "content": self._system_prompt},
                *self._memory.history(conversation_id),
                {"role": "user", "content": transcript.text.strip()},
            ],
            max_tokens=self._max_tokens,
        )
        try:
            pieces: list[str] = []
            async with self._engine.chat(request) as completion:
                # Start the stream with the first piece, so a request that fails
                # before it (prompt too long) gets a plain `error` event.
                async for piece in completion:
                    if not pieces:
                        await self.write_event(HandledStart(context=context).event())
                    pieces.append(piece)
                    await self.write_event(HandledChunk(text=piece).event())
            assert completion.result is not None
            if completion.result.finish_reason == "cancelled":  # only on shutdown
                await self._report("shutting-down", "the server is shutting down")
                return
            if not pieces:
                await self.write_event(HandledStart(context=context).event())
            text = "".join(pieces).strip()
            if completion.result.finish_reason == "length":
                text = complete_sentences(text)
            turns = [m for m in completion.result.messages if m["role"] != "system"]
            self._memory.remember(conversation_id, [*turns, {"role": "assistant", "content": text}])
            await self.write_event(Handled(text=text, context=context).event())
            await self.write_event(HandledStop().event())
        except ConnectionError:
            _LOGGER.debug("Client %s went away before the answer was sent", self.peer)
        except (ModelUnavailableError, ContextOverflowError, PromptError) as err:
            await self._report("cannot-answer", str(err))
        except Exception as err:
            _LOGGER.exception("Failed to answer %s", self.peer)
            await self._report("internal-error", f"{type(err).__name__}: {err}")

    async def _report(self, code: str, text: str) -> None:
        """An `error` event; the connection stays open for the next question."""
        with contextlib.suppress(ConnectionError):
            await self.write_event(Error(text=text, code=code).event())
