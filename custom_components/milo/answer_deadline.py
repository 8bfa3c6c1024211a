"""The model path's time budget: silence has a limit.

A small model on a CPU can read a long prompt (the Assist tools) for many seconds before its
first word: a misheard question took 7.6 s in the pipeline benchmark, in silence. So the
model gets until a deadline to start its answer. A stream that has not started by then is
closed, which closes the connection, and milo-llm stops a generation whose client went away.
A tool round that is running then is let finish, but no model round follows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from .const import LOGGER
from .speech_stream import Delta


class AnswerDeadline:
    """Until when the model may stay silent, over all rounds of one answer."""

    def __init__(self, seconds: float) -> None:
        """Start the clock now; 0 seconds is no limit."""
        loop = asyncio.get_running_loop()
        self._at = loop.time() + seconds if seconds > 0 else None
        self._seconds = seconds
        self.started = False  # spoken content has come

    @property
    def passed(self) -> bool:
        """Whether the time is up with nothing said."""
        return (
            not self.started
            and self._at is not None
            and asyncio.get_running_loop().time() >= self._at
        )

    async def watch(self, deltas: AsyncIterator[Delta]) -> AsyncGenerator[Delta]:
        """The deltas until the deadline, or all of them once speech or a tool call came.

        At the deadline the stream is closed and this ends: check `passed` after it.
        """
        # Until speech or a tool call comes: a tool round, once asked for, is let finish.
        limited = self._at is not None and not self.started
        try:
            while True:
                try:
                    if limited:
                        assert self._at is not None
                        async with asyncio.timeout_at(self._at):
                            delta = await anext(deltas)
                    else:
                        delta = await anext(deltas)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    LOGGER.debug("The model said nothing within %s s: stopping it", self._seconds)
                    return
                content = delta.get("content")
                if isinstance(content, str) and content.strip():
                    self.started, limited = True, False
                if delta.get("tool_calls"):
                    limited = False
                yield delta
        finally:
            if isinstance(deltas, AsyncGenerator):
                await deltas.aclose()
